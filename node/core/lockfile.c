#include "node/core/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_RETRIES 16
#define PID_LIMIT 4194304L /* PID_MAX_LIMIT on 64-bit Linux */

/* ---- the holder's words ---- */

static size_t
line_len (const char *p, const char *end)
{
  const char *nl = memchr (p, '\n', (size_t) (end - p));
  return (size_t) ((nl ? nl : end) - p);
}

void
lockfile_parse (const char *text, size_t len, struct lockfile_holder *h)
{
  const char *p = text, *end = text + (len < LOCKFILE_MAX ? len : LOCKFILE_MAX);
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
lockfile_holder_text (const struct lockfile_holder *h, char *out, size_t cap)
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

void
lockfile_read_holder (int fd, struct lockfile_holder *h)
{
  char buf[LOCKFILE_MAX];
  ssize_t n = pread (fd, buf, sizeof buf, 0);
  lockfile_parse (buf, n > 0 ? (size_t) n : 0, h);
}

/* For messages only: a failed write leaves the lock as good. */
void
lockfile_rewrite (int fd, const char *who)
{
  char buf[LOCKFILE_MAX];
  int n = snprintf (buf, sizeof buf, "node %.*s\npid %ld\n", LOCKFILE_WHO_MAX - 1, who,
                    (long) getpid ());
  if (ftruncate (fd, 0) == 0 && pwrite (fd, buf, (size_t) n, 0) < 0)
    (void) 0;
}

/* ---- the lock ---- */

static bool
same_file (const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static int
not_ours (const char *dir, const char *name, struct nxerr *err)
{
  return nxerr_set (err, EPERM, "%s/%s: not a regular file of uid %u", dir, name,
                    (unsigned) geteuid ());
}

/* Whatever sits at the name must be a plain file of ours before it is
 * opened: opening a device node or a fifo someone put there could block or
 * do something. */
static int
check_existing (int dirfd, const char *dir, const char *name, struct nxerr *err)
{
  struct stat st;
  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : nxerr_sys (err, errno, "%s/%s", dir, name);
  if (!S_ISREG (st.st_mode) || st.st_uid != geteuid ())
    return not_ours (dir, name, err);
  return 0;
}

int
lockfile_peek (int dirfd, const char *name, struct lockfile_holder *h)
{
  struct stat st;
  struct nxerr err = { 0 };
  int fd;
  memset (h, 0, sizeof *h);
  if (check_existing (dirfd, "", name, &err) < 0)
    return -1;
  fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_uid != geteuid ())
    {
      close (fd);
      return -1;
    }
  lockfile_read_holder (fd, h);
  close (fd);
  return 0;
}

static int
held_elsewhere (int fd, int e, const char *dir, const char *name,
                struct lockfile_holder *holder, struct nxerr *err)
{
  struct lockfile_holder h;
  char text[128];
  lockfile_read_holder (fd, &h);
  close (fd);
  if (e != EAGAIN && e != EACCES)
    return nxerr_sys (err, e, "lock %s/%s", dir, name);
  if (holder)
    *holder = h;
  lockfile_holder_text (&h, text, sizeof text);
  return nxerr_set (err, EAGAIN, "%s/%s: held by %s", dir, name, text);
}

/* One attempt: 0 locked, 1 the file was replaced under us (try again). */
static int
lock_once (int dirfd, const char *dir, const char *name, const char *who, int *fd_out,
           struct lockfile_holder *holder, struct nxerr *err)
{
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
  struct stat fst, pst;
  int fd;
  if (check_existing (dirfd, dir, name, err) < 0)
    return -1;
  fd = openat (dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
               0600);
  if (fd < 0)
    return nxerr_sys (err, errno, "%s/%s", dir, name);
  if (fstat (fd, &fst) < 0 || !S_ISREG (fst.st_mode) || fst.st_uid != geteuid ())
    {
      close (fd);
      return not_ours (dir, name, err);
    }
  if (fcntl (fd, F_OFD_SETLK, &fl) < 0)
    return held_elsewhere (fd, errno, dir, name, holder, err);
  /* The previous holder may have removed the file between our open and our
   * lock: then we hold a lock on nothing anybody else will see. */
  if (fstatat (dirfd, name, &pst, AT_SYMLINK_NOFOLLOW) < 0 || !same_file (&pst, &fst))
    {
      close (fd);
      return 1;
    }
  if (who != NULL)
    lockfile_rewrite (fd, who);
  *fd_out = fd;
  return 0;
}

int
lockfile_lock (int dirfd, const char *dir, const char *name, const char *who, int *fd,
               struct lockfile_holder *holder, struct nxerr *err)
{
  for (int i = 0; i < LOCK_RETRIES; i++)
    {
      int rc = lock_once (dirfd, dir, name, who, fd, holder, err);
      if (rc <= 0)
        return rc;
    }
  return nxerr_set (err, EBUSY, "%s/%s: replaced %d times while being locked", dir, name,
                    LOCK_RETRIES);
}

void
lockfile_unlock (int dirfd, const char *name, int fd)
{
  struct stat fst, pst;
  if (fd < 0)
    return;
  /* Remove the name only while it is still our file: someone may have
   * deleted it by hand and another process locked a new one. */
  if (dirfd >= 0 && fstat (fd, &fst) == 0 && fstatat (dirfd, name, &pst, AT_SYMLINK_NOFOLLOW) == 0
      && same_file (&fst, &pst))
    unlinkat (dirfd, name, 0);
  close (fd);
}
