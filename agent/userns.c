#include "agent/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Close *fd once: it reads -1 afterwards. */
static void
close_once (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

static int
write_file (const char *path, const char *text)
{
  ssize_t n;
  int fd, e;
  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  n = write (fd, text, strlen (text));
  e = n == (ssize_t) strlen (text) ? 0 : (n < 0 ? errno : EIO);
  close (fd);
  return e;
}

/* Write text to /proc/<pid>/<file>: 0 or an errno value. */
static int
write_proc (pid_t pid, const char *file, const char *text)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, file);
  return write_file (path, text);
}

/* The helper: a new user namespace, its result to up, then wait until the
 * agent closes down (or dies). */
static void
helper (int up, int down)
{
  int e = unshare (CLONE_NEWUSER) < 0 ? errno : 0;
  char c;
  if (write (up, &e, sizeof e) != (ssize_t) sizeof e)
    _exit (1);
  while (read (down, &c, 1) < 0 && errno == EINTR)
    ;
  _exit (0);
}

static int
map_helper (pid_t pid, uid_t uid, gid_t gid, int *fd, struct nxerr *err)
{
  char line[64], path[64];
  int e;
  /* Before gid_map: once a gid map exists, setgroups can no longer be
   * denied. */
  if ((e = write_proc (pid, "setgroups", "deny")) != 0)
    return nxerr_sys (err, e, "user namespace: write \"deny\" to /proc/%d/setgroups", (int) pid);
  snprintf (line, sizeof line, "%u %u 1\n", (unsigned) uid, (unsigned) uid);
  if ((e = write_proc (pid, "uid_map", line)) != 0)
    return nxerr_sys (err, e, "user namespace: write uid_map \"%u %u 1\"", (unsigned) uid,
                      (unsigned) uid);
  snprintf (line, sizeof line, "%u %u 1\n", (unsigned) gid, (unsigned) gid);
  if ((e = write_proc (pid, "gid_map", line)) != 0)
    return nxerr_sys (err, e, "user namespace: write gid_map \"%u %u 1\"", (unsigned) gid,
                      (unsigned) gid);
  snprintf (path, sizeof path, "/proc/%d/ns/user", (int) pid);
  *fd = open (path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    return nxerr_sys (err, errno, "user namespace: open %s", path);
  return 0;
}

int
userns_make (uid_t uid, gid_t gid, int *fd, struct nxerr *err)
{
  int up[2] = { -1, -1 }, down[2] = { -1, -1 }, e = 0, rc = -1;
  pid_t pid;
  *fd = -1;
  if (pipe2 (up, O_CLOEXEC) < 0 || pipe2 (down, O_CLOEXEC) < 0)
    {
      nxerr_sys (err, errno, "user namespace: pipe");
      goto out;
    }
  pid = fork ();
  if (pid < 0)
    {
      nxerr_sys (err, errno, "user namespace: fork");
      goto out;
    }
  if (pid == 0)
    {
      close (up[0]);
      close (down[1]);
      helper (up[1], down[0]);
    }
  close_once (&up[1]);
  close_once (&down[0]);
  if (read (up[0], &e, sizeof e) != (ssize_t) sizeof e)
    nxerr_set (err, EIO, "user namespace: the helper died");
  else if (e != 0)
    nxerr_sys (err, e, "user namespace: unshare(CLONE_NEWUSER)");
  else
    rc = map_helper (pid, uid, gid, fd, err);
  close_once (&down[1]); /* lets the helper go */
  while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
    ;
  /* The helper took pid 2 of the agent's pid namespace: hand it out again,
   * so the workload is pid 2 as it would be without (the proof suite's
   * "pid" row). The agent is the only process here, and single-threaded.
   * Without CONFIG_CHECKPOINT_RESTORE the file is absent: pid 3 then. */
  if (rc == 0 && pid == 2)
    (void) write_file ("/proc/sys/kernel/ns_last_pid", "1");
out:
  close_once (&up[0]);
  close_once (&up[1]);
  close_once (&down[0]);
  close_once (&down[1]);
  if (rc < 0)
    close_once (fd);
  return rc;
}

int
userns_enter (int fd, const char **what)
{
  *what = "setns(CLONE_NEWUSER)";
  return setns (fd, CLONE_NEWUSER) < 0 ? errno : 0;
}
