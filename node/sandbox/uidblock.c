#include "node/sandbox/uidblock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/core/identity.h"

#define LOCK_RETRIES 16
#define PID_LIMIT 4194304L /* PID_MAX_LIMIT on 64-bit Linux */

/* ---- the directory ---- */

/* Creation failed (rather than an existing dir being refused): the caller
 * may try the fallback. */
static bool
cannot_create (int code)
{
  return code == ENOENT || code == EROFS || code == EACCES || code == EPERM || code == ENOTDIR;
}

static int
open_dir (const char *path, struct uidblock_dir *d, bool *create_failed, struct nxerr *err)
{
  struct stat st;
  int fd;
  *create_failed = false;
  if (path[0] != '/' || strlen (path) >= sizeof d->path)
    return nxerr_set (err, EINVAL, "uid lock dir %s: must be an absolute path", path);
  if (identity_mkdirs (path, err) < 0)
    {
      *create_failed = cannot_create (err->code);
      return nxerr_wrap (err, "uid lock dir");
    }
  fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return nxerr_sys (err, errno, "uid lock dir %s", path);
  if (fstat (fd, &st) < 0 || st.st_uid != geteuid ())
    {
      close (fd);
      return nxerr_set (err, EPERM,
                        "uid lock dir %s: not owned by uid %u: refused (its owner could fake or "
                        "hold every lock)",
                        path, (unsigned) geteuid ());
    }
  /* Ours: nobody else may even open the lock files (a read lock taken by
   * anyone would keep every node from the block). */
  if ((st.st_mode & 077) && fchmod (fd, 0700) < 0)
    {
      int e = errno;
      close (fd);
      return nxerr_sys (err, e, "uid lock dir %s: chmod 0700", path);
    }
  d->fd = fd;
  snprintf (d->path, sizeof d->path, "%s", path);
  return 0;
}

int
uidblock_dir_open (const char *path, struct uidblock_dir *d, struct nxerr *err)
{
  struct nxerr first = { 0 };
  bool create_failed;
  memset (d, 0, sizeof *d);
  d->fd = -1;
  if (path)
    return open_dir (path, d, &create_failed, err);
  if (open_dir (UIDBLOCK_DIR, d, &create_failed, &first) == 0)
    return 0;
  if (!create_failed)
    {
      *err = first;
      return -1;
    }
  if (open_dir (UIDBLOCK_DIR_FALLBACK, d, &create_failed, err) < 0)
    return nxerr_wrap (err, "%s; fallback", first.msg);
  d->fallback = true;
  return 0;
}

void
uidblock_dir_close (struct uidblock_dir *d)
{
  if (d->fd >= 0)
    close (d->fd);
  d->fd = -1;
}

/* ---- the holder's words ---- */

static size_t
line_len (const char *p, const char *end)
{
  const char *nl = memchr (p, '\n', (size_t) (end - p));
  return (size_t) ((nl ? nl : end) - p);
}

void
uidblock_parse (const char *text, size_t len, struct uidblock_holder *h)
{
  const char *p = text, *end = text + (len < UIDBLOCK_FILE_MAX ? len : UIDBLOCK_FILE_MAX);
  memset (h, 0, sizeof *h);
  while (p < end)
    {
      size_t n = line_len (p, end);
      if (n > 5 && memcmp (p, "node ", 5) == 0 && h->node[0] == '\0')
        {
          size_t k = 0;
          /* Printable ASCII only: the text ends up in log lines. */
          while (k < n - 5 && k < sizeof h->node - 1 && p[5 + k] > ' ' && p[5 + k] < 0x7f)
            {
              h->node[k] = p[5 + k];
              k++;
            }
          h->node[k] = '\0';
        }
      else if (n > 4 && memcmp (p, "pid ", 4) == 0 && h->pid == 0)
        {
          long v = 0;
          size_t k;
          for (k = 4; k < n && k < 12 && p[k] >= '0' && p[k] <= '9'; k++)
            v = v * 10 + (p[k] - '0');
          h->pid = k == n && v > 0 && v <= PID_LIMIT ? v : 0;
        }
      p += n + 1;
    }
}

void
uidblock_holder_text (const struct uidblock_holder *h, char *out, size_t cap)
{
  if (h->node[0] && h->pid)
    snprintf (out, cap, "node %s (pid %ld)", h->node, h->pid);
  else if (h->node[0])
    snprintf (out, cap, "node %s", h->node);
  else if (h->pid)
    snprintf (out, cap, "pid %ld", h->pid);
  else
    snprintf (out, cap, "an unknown holder");
}

static void
read_holder (int fd, struct uidblock_holder *h)
{
  char buf[UIDBLOCK_FILE_MAX];
  ssize_t n = pread (fd, buf, sizeof buf, 0);
  uidblock_parse (buf, n > 0 ? (size_t) n : 0, h);
}

/* For messages only: a failed write leaves the lock as good. */
static void
write_holder (int fd, const char *who)
{
  char buf[UIDBLOCK_FILE_MAX];
  int n = snprintf (buf, sizeof buf, "node %.*s\npid %ld\n", UIDBLOCK_WHO_MAX - 1, who,
                    (long) getpid ());
  if (ftruncate (fd, 0) == 0 && pwrite (fd, buf, (size_t) n, 0) < 0)
    (void) 0;
}

/* ---- one block ---- */

static bool
same_file (const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Whatever sits at the name must be a plain file of ours before it is
 * opened: opening a device node or a fifo someone put there could block or
 * do something. */
static int
check_existing (const struct uidblock_dir *d, const char *name, struct nxerr *err)
{
  struct stat st;
  if (fstatat (d->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : nxerr_sys (err, errno, "%s/%s", d->path, name);
  if (!S_ISREG (st.st_mode) || st.st_uid != geteuid ())
    return nxerr_set (err, EPERM, "%s/%s: not a regular file of uid %u: block not usable",
                      d->path, name, (unsigned) geteuid ());
  return 0;
}

/* One attempt: 0 locked, 1 the file was replaced under us (try again). */
static int
lock_once (const struct uidblock_dir *d, const char *name, const char *who, int *fd_out,
           struct uidblock_holder *holder, struct nxerr *err)
{
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
  struct stat fst, pst;
  int fd;
  if (check_existing (d, name, err) < 0)
    return -1;
  fd = openat (d->fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
               0600);
  if (fd < 0)
    return nxerr_sys (err, errno, "%s/%s", d->path, name);
  if (fstat (fd, &fst) < 0 || !S_ISREG (fst.st_mode) || fst.st_uid != geteuid ())
    {
      close (fd);
      return nxerr_set (err, EPERM, "%s/%s: not a regular file of uid %u: block not usable",
                        d->path, name, (unsigned) geteuid ());
    }
  if (fcntl (fd, F_OFD_SETLK, &fl) < 0)
    {
      int e = errno;
      struct uidblock_holder h;
      char text[128];
      read_holder (fd, &h);
      close (fd);
      if (e != EAGAIN && e != EACCES)
        return nxerr_sys (err, e, "lock %s/%s", d->path, name);
      if (holder)
        *holder = h;
      uidblock_holder_text (&h, text, sizeof text);
      return nxerr_set (err, EAGAIN, "%s/%s: held by %s", d->path, name, text);
    }
  /* The previous holder may have removed the file between our open and our
   * lock: then we hold a lock on nothing anybody else will see. */
  if (fstatat (d->fd, name, &pst, AT_SYMLINK_NOFOLLOW) < 0 || !same_file (&pst, &fst))
    {
      close (fd);
      return 1;
    }
  write_holder (fd, who);
  *fd_out = fd;
  return 0;
}

int
uidblock_lock (const struct uidblock_dir *d, uint32_t start, const char *who, int *fd,
               struct uidblock_holder *holder, struct nxerr *err)
{
  char name[16];
  snprintf (name, sizeof name, "%u", start);
  for (int i = 0; i < LOCK_RETRIES; i++)
    {
      int rc = lock_once (d, name, who, fd, holder, err);
      if (rc <= 0)
        return rc;
    }
  return nxerr_set (err, EBUSY, "%s/%s: replaced %d times while being locked", d->path, name,
                    LOCK_RETRIES);
}

void
uidblock_unlock (const struct uidblock_dir *d, uint32_t start, int fd)
{
  struct stat fst, pst;
  char name[16];
  if (fd < 0)
    return;
  snprintf (name, sizeof name, "%u", start);
  /* Remove the name only while it is still our file: someone may have
   * deleted it by hand and another node locked a new one. */
  if (d->fd >= 0 && fstat (fd, &fst) == 0
      && fstatat (d->fd, name, &pst, AT_SYMLINK_NOFOLLOW) == 0 && same_file (&fst, &pst))
    unlinkat (d->fd, name, 0);
  close (fd);
}
