#include "node/sandbox/uidblock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/core/identity.h"

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

/* ---- one block ---- */

int
uidblock_lock (const struct uidblock_dir *d, uint32_t start, const char *who, int *fd,
               struct lockfile_holder *holder, struct nxerr *err)
{
  char name[16];
  snprintf (name, sizeof name, "%u", start);
  if (lockfile_lock (d->fd, d->path, name, who, fd, holder, err) < 0)
    return nxerr_wrap (err, "uids %u-%u", start, start + UIDBLOCK_SIZE - 1);
  return 0;
}

void
uidblock_give_back (const struct uidblock_dir *d, uint32_t start, int fd)
{
  struct stat st;
  if (fd < 0)
    return;
  if (fstat (fd, &st) == 0 && st.st_size == 0)
    {
      uidblock_unlock (d, start, fd); /* ours, empty: nobody's record */
      return;
    }
  close (fd); /* the lock goes with it */
}

void
uidblock_unlock (const struct uidblock_dir *d, uint32_t start, int fd)
{
  char name[16];
  snprintf (name, sizeof name, "%u", start);
  lockfile_unlock (d->fd, name, fd);
}
