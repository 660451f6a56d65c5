#include "agent/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/rootfs.h"
#include "api/xalloc.h"

/* Not every libc has the wrappers or constants yet. */
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* No tty: the agent has no controlling terminal to give (setsid), and a
 * terminal is the one device through which input can be injected. */
static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom" };
#define N_DEV (sizeof dev_nodes / sizeof dev_nodes[0])

static int
do_mount (const char *src, const char *dst, const char *type, unsigned long flags,
          const char *data, struct nxerr *err)
{
  if (mount (src, dst, type, flags, data) < 0)
    return nxerr_sys (err, errno, "mount %s on %s", type ? type : (src ? src : "(remount)"), dst);
  return 0;
}

/* mkdir -p, tolerating parts that exist; a read-only part that is missing
 * (EROFS) is an error. */
static int
mkdir_p (const char *path, mode_t mode, struct nxerr *err)
{
  char p[PATH_MAX];
  size_t n = strlen (path);
  if (n == 0 || n >= sizeof p)
    return nxerr_set (err, ENAMETOOLONG, "path too long: %s", path);
  memcpy (p, path, n + 1);
  for (char *s = p + 1;; s++)
    {
      if (*s == '/' || *s == '\0')
        {
          char c = *s;
          *s = '\0';
          if (mkdir (p, mode) < 0 && errno != EEXIST)
            return nxerr_sys (err, errno, "mkdir %s", p);
          *s = c;
          if (c == '\0')
            break;
        }
    }
  return 0;
}

/* Step 2: one system call makes every mount of the namespace read-only. */
static int
readonly_tree (struct nxerr *err)
{
  struct mount_attr attr;
  memset (&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_RDONLY;
  if (syscall (SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &attr, sizeof attr) < 0)
    return nxerr_sys (err, errno, "mount_setattr(/, recursive, read-only) (Linux >= 5.12)");
  return 0;
}

static int
mount_proc (struct nxerr *err)
{
  static const char *const opts[] = { "hidepid=invisible", "hidepid=2" };
  for (size_t i = 0; i < 2; i++)
    if (mount ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts[i]) == 0)
      return 0;
  return nxerr_sys (err, errno, "mount a new proc on /proc with hidepid");
}

/* Step 5. The host's device nodes are reached through O_PATH fds opened
 * before /dev was covered (fds[i], -1 when the host has none). */
static int
minimal_dev (const int *fds, struct nxerr *err)
{
  static const char *const links[][2] = { { "/proc/self/fd", "/dev/fd" },
                                          { "/proc/self/fd/0", "/dev/stdin" },
                                          { "/proc/self/fd/1", "/dev/stdout" },
                                          { "/proc/self/fd/2", "/dev/stderr" } };
  if (do_mount ("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k", err) < 0)
    return -1;
  for (size_t i = 0; i < N_DEV; i++)
    {
      char dst[64], src[64];
      int fd;
      if (fds[i] < 0)
        continue;
      snprintf (dst, sizeof dst, "/dev/%s", dev_nodes[i]);
      fd = open (dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd < 0)
        return nxerr_sys (err, errno, "create %s", dst);
      close (fd);
      snprintf (src, sizeof src, "/proc/self/fd/%d", fds[i]);
      if (do_mount (src, dst, NULL, MS_BIND, NULL, err) < 0)
        return -1;
    }
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlink (links[i][0], links[i][1]) < 0)
      return nxerr_sys (err, errno, "symlink %s", links[i][1]);
  if (mkdir ("/dev/shm", 01777) < 0)
    return nxerr_sys (err, errno, "mkdir in /dev");
  if (do_mount ("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777",
                err)
      < 0)
    return -1;
  return do_mount (NULL, "/dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
                   NULL, err);
}

/* Step 6. wd is an O_PATH fd of the working dir opened before anything was
 * covered. */
static int
state_dir_view (const char *state_dir, const char *workdir, int wd, struct nxerr *err)
{
  char src[64];
  if (mkdir_p (state_dir, 0755, err) < 0)
    {
      /* It exists on the host; EROFS means the path is not reachable here. */
      struct stat st;
      if (stat (state_dir, &st) < 0)
        return nxerr_wrap (err, "state dir");
      nxerr_clear (err);
    }
  if (do_mount ("tmpfs", state_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "mode=0755,size=64k", err)
      < 0)
    return -1;
  if (mkdir_p (workdir, 0755, err) < 0)
    return -1;
  /* Where a workload's minimal root is mounted (agent/rootfs.h). */
  {
    char point[PATH_MAX];
    snprintf (point, sizeof point, "%s%s", state_dir, ROOTFS_MOUNTPOINT);
    if (mkdir (point, 0755) < 0)
      return nxerr_sys (err, errno, "mkdir %s", point);
  }
  snprintf (src, sizeof src, "/proc/self/fd/%d", wd);
  if (do_mount (src, workdir, NULL, MS_BIND, NULL, err) < 0)
    return -1;
  /* The bind inherited the read-only flag of the tree: make this one
   * mount writable again, without devices or set-uid. */
  if (do_mount (NULL, workdir, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL, err) < 0)
    return -1;
  return do_mount (NULL, state_dir, NULL,
                   MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
                   err);
}

static int
open_workdir (const char *state_dir, const char *workdir, uid_t uid, struct nxerr *err)
{
  size_t sl = strlen (state_dir);
  struct stat st;
  int fd;
  if (state_dir[0] != '/' || strncmp (workdir, state_dir, sl) != 0 || workdir[sl] != '/'
      || strstr (workdir, "/..") != NULL)
    return nxerr_set (err, EINVAL, "working dir %s is not below the state dir %s", workdir,
                      state_dir);
  fd = open (workdir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return nxerr_sys (err, errno, "open working dir %s", workdir);
  if (fstat (fd, &st) < 0 || st.st_uid != uid || (st.st_mode & 0077) != 0)
    {
      close (fd);
      return nxerr_set (err, EPERM, "working dir %s must belong to uid %u with mode 0700",
                        workdir, (unsigned) uid);
    }
  return fd;
}

int
mounts_setup (const char *state_dir, const char *workdir, uid_t uid, struct nxerr *err)
{
  cleanup_close int wd = -1;
  int devfd[N_DEV];
  int rc = -1;
  for (size_t i = 0; i < N_DEV; i++)
    devfd[i] = -1;
  if (do_mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL, err) < 0)
    return -1;
  wd = open_workdir (state_dir, workdir, uid, err);
  if (wd < 0)
    return -1;
  for (size_t i = 0; i < N_DEV; i++)
    {
      char p[64];
      snprintf (p, sizeof p, "/dev/%s", dev_nodes[i]);
      devfd[i] = open (p, O_PATH | O_CLOEXEC);
    }
  if (readonly_tree (err) < 0 || mount_proc (err) < 0
      || do_mount ("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", err) < 0
      || minimal_dev (devfd, err) < 0 || state_dir_view (state_dir, workdir, wd, err) < 0)
    goto out;
  if (chdir ("/") < 0)
    {
      nxerr_sys (err, errno, "chdir /");
      goto out;
    }
  rc = 0;
out:
  for (size_t i = 0; i < N_DEV; i++)
    closep (&devfd[i]);
  return rc;
}
