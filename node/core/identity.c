#include "node/core/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/log.h"
#include "api/xalloc.h"

int
identity_mkdirs (const char *dir, struct nxerr *err)
{
  char path[PATH_MAX];
  size_t n = strlen (dir);
  if (n == 0 || n >= sizeof path)
    return nxerr_set (err, EINVAL, "state dir path is empty or too long");
  memcpy (path, dir, n + 1);
  for (char *p = path + 1; *p; p++)
    {
      if (*p != '/')
        continue;
      *p = '\0';
      if (mkdir (path, 0700) < 0 && errno != EEXIST)
        return nxerr_sys (err, errno, "mkdir %s", path);
      *p = '/';
    }
  if (mkdir (path, 0700) < 0 && errno != EEXIST)
    return nxerr_sys (err, errno, "mkdir %s", path);
  return 0;
}

/* Read a seed file; refuse files others can read: a seed is a secret. */
static int
read_seed (const char *path, char *out, size_t cap, struct nxerr *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  ssize_t r;
  if (fd < 0)
    return errno == ENOENT ? 1 : nxerr_sys (err, errno, "open %s", path);
  if (fstat (fd, &st) < 0)
    return nxerr_sys (err, errno, "stat %s", path);
  if (!S_ISREG (st.st_mode) || (st.st_mode & 077) != 0)
    return nxerr_set (err, EPERM, "%s: must be a regular file of mode 0600", path);
  r = read (fd, out, cap - 1);
  if (r < 0)
    return nxerr_sys (err, errno, "read %s", path);
  out[r] = '\0';
  while (r > 0 && (out[r - 1] == '\n' || out[r - 1] == '\r' || out[r - 1] == ' '))
    out[--r] = '\0';
  return 0;
}

/* Write atomically: temp file 0600, fsync, rename. */
static int
write_seed (const char *path, const char *seed, struct nxerr *err)
{
  char tmp[PATH_MAX];
  int fd;
  size_t n = strlen (seed);
  snprintf (tmp, sizeof tmp, "%s.tmp", path);
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return nxerr_sys (err, errno, "create %s", tmp);
  if (write (fd, seed, n) != (ssize_t) n || write (fd, "\n", 1) != 1 || fsync (fd) < 0)
    {
      int e = errno;
      close (fd);
      unlink (tmp);
      return nxerr_sys (err, e, "write %s", tmp);
    }
  close (fd);
  if (rename (tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      return nxerr_sys (err, e, "rename %s", tmp);
    }
  return 0;
}

static int
load_or_create (struct nkey_pair *kp, const char *dir, const char *file, uint8_t prefix,
                bool ephemeral, struct nxerr *err)
{
  char path[PATH_MAX];
  char seed[128];
  int rc;
  if (ephemeral)
    return nkey_pair_generate (prefix, kp, err);
  snprintf (path, sizeof path, "%s/%s", dir, file);
  rc = read_seed (path, seed, sizeof seed, err);
  if (rc < 0)
    return -1;
  if (rc == 0)
    {
      rc = nkey_pair_from_seed (seed, kp, err);
      sodium_memzero (seed, sizeof seed);
      if (rc < 0)
        return nxerr_wrap (err, "%s", path);
      if (kp->prefix != prefix)
        return nxerr_set (err, EINVAL, "%s: seed is of the wrong key type", path);
      return 0;
    }
  if (nkey_pair_generate (prefix, kp, err) < 0)
    return -1;
  nkey_pair_seed_text (kp, seed);
  rc = write_seed (path, seed, err);
  sodium_memzero (seed, sizeof seed);
  if (rc == 0)
    log_info ("generated new %s identity %s in %s", prefix == NKEY_SERVER ? "node" : "xkey",
              kp->public_text, path);
  return rc;
}

int
identity_load (struct identity *id, const char *state_dir, bool ephemeral, struct nxerr *err)
{
  memset (id, 0, sizeof *id);
  if (!ephemeral && identity_mkdirs (state_dir, err) < 0)
    return -1;
  if (load_or_create (&id->server, state_dir, "node.nk", NKEY_SERVER, ephemeral, err) < 0)
    return nxerr_wrap (err, "node key");
  if (load_or_create (&id->xkey, state_dir, "node.xk", NKEY_CURVE, ephemeral, err) < 0)
    return nxerr_wrap (err, "node xkey");
  return 0;
}

void
identity_wipe (struct identity *id)
{
  nkey_pair_wipe (&id->server);
  nkey_pair_wipe (&id->xkey);
  xkey_cache_wipe (&id->xkey_peers);
}
