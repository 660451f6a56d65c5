#include "node/sandbox/userns_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* What a trial's child reports: the step that failed (0: none) and its
 * errno. */
enum step {
  STEP_NONE = 0,
  STEP_IDS,
  STEP_UNSHARE,
  STEP_SETGROUPS,
  STEP_UIDMAP,
  STEP_GIDMAP,
  STEP_UNSHARE_ALL,
  STEP_PRIVATE,
  STEP_TMPFS,
  STEP_FORK,
  STEP_PROC,
};
struct result {
  int step, err;
};

static const char *const step_names[]
    = { "", "setresuid", "unshare(CLONE_NEWUSER)", "write /proc/<pid>/setgroups",
        "write uid_map", "write gid_map",
        "unshare(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWIPC|CLONE_NEWUTS)",
        "make / private in the new mount namespace", "mount a tmpfs", "fork into the pid namespace",
        "mount a new proc (hidepid=invisible) as pid 1" };

/* A sysctl's integer, or -1 when the file is not there. */
static long
sysctl_long (const char *path)
{
  char buf[32] = "";
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read (fd, buf, sizeof buf - 1) : -1;
  if (fd >= 0)
    close (fd);
  return n > 0 ? strtol (buf, NULL, 10) : -1;
}

static int
write_file (const char *path, const char *text)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC), e;
  ssize_t n;
  if (fd < 0)
    return errno;
  n = write (fd, text, strlen (text));
  e = n == (ssize_t) strlen (text) ? 0 : (n < 0 ? errno : EIO);
  close (fd);
  return e;
}

/* The setgroups "deny", uid and gid maps of pid ("self" or a number): one
 * id each. */
static struct result
write_maps (const char *pid, uid_t uid, gid_t gid)
{
  char path[64], line[64];
  struct result r = { 0, 0 };
  snprintf (path, sizeof path, "/proc/%s/setgroups", pid);
  if ((r.err = write_file (path, "deny")) != 0)
    return (struct result){ STEP_SETGROUPS, r.err };
  snprintf (path, sizeof path, "/proc/%s/uid_map", pid);
  snprintf (line, sizeof line, "%u %u 1\n", (unsigned) uid, (unsigned) uid);
  if ((r.err = write_file (path, line)) != 0)
    return (struct result){ STEP_UIDMAP, r.err };
  snprintf (path, sizeof path, "/proc/%s/gid_map", pid);
  snprintf (line, sizeof line, "%u %u 1\n", (unsigned) gid, (unsigned) gid);
  if ((r.err = write_file (path, line)) != 0)
    return (struct result){ STEP_GIDMAP, r.err };
  return r;
}

/* In the unprivileged trial's child: an ordinary uid, then everything
 * alone. */
static struct result
unprivileged_child (uid_t uid, gid_t gid)
{
  if (geteuid () == 0
      && (setgroups (0, NULL) < 0 || setresgid (gid, gid, gid) < 0
          || setresuid (uid, uid, uid) < 0))
    return (struct result){ STEP_IDS, errno };
  /* Changing ids made us undumpable, and /proc/self root's: our own maps
   * must be writable by us, as an ordinary process's are. */
  prctl (PR_SET_DUMPABLE, 1);
  if (unshare (CLONE_NEWUSER) < 0)
    return (struct result){ STEP_UNSHARE, errno };
  return write_maps ("self", uid, gid);
}

/* Fork a child; privileged: it unshares and waits while we map it;
 * otherwise it does it all itself. */
static struct result
trial (bool privileged, uid_t uid, gid_t gid)
{
  int up[2], down[2];
  struct result r = { STEP_UNSHARE, EIO };
  pid_t pid;
  char num[16];
  if (pipe2 (up, O_CLOEXEC) < 0)
    return (struct result){ STEP_UNSHARE, errno };
  if (pipe2 (down, O_CLOEXEC) < 0)
    {
      r.err = errno;
      close (up[0]);
      close (up[1]);
      return r;
    }
  pid = fork ();
  if (pid == 0)
    {
      char c;
      close (up[0]);
      close (down[1]); /* or our own copy would keep the read below waiting */
      if (privileged)
        r = unshare (CLONE_NEWUSER) < 0 ? (struct result){ STEP_UNSHARE, errno }
                                        : (struct result){ 0, 0 };
      else
        r = unprivileged_child (uid, gid);
      if (write (up[1], &r, sizeof r) == (ssize_t) sizeof r && privileged)
        while (read (down[0], &c, 1) < 0 && errno == EINTR)
          ;
      _exit (0);
    }
  close (up[1]);
  close (down[0]);
  if (pid < 0)
    r.err = errno;
  else if (read (up[0], &r, sizeof r) != (ssize_t) sizeof r)
    r = (struct result){ STEP_UNSHARE, EIO };
  else if (privileged && r.step == STEP_NONE)
    {
      snprintf (num, sizeof num, "%d", (int) pid);
      r = write_maps (num, uid, gid);
    }
  close (down[1]);
  close (up[0]);
  if (pid > 0)
    while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
      ;
  return r;
}

/* Why a trial failed, with the host setting that explains it when one
 * does. */
static void
explain (const struct result *r, bool privileged, char *why, size_t cap)
{
  long max = sysctl_long ("/proc/sys/user/max_user_namespaces");
  long debian = sysctl_long ("/proc/sys/kernel/unprivileged_userns_clone");
  long apparmor = sysctl_long ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  bool unsh = r->step == STEP_UNSHARE || r->step == STEP_UNSHARE_ALL;
  const char *hint = "";
  if (unsh && max == 0)
    hint = " (user.max_user_namespaces is 0)";
  else if (unsh && r->err == ENOSPC)
    hint = " (user.max_user_namespaces reached)";
  else if (unsh && r->err == EINVAL)
    hint = " (a kernel without CONFIG_USER_NS)";
  else if (!privileged && unsh && r->err == EPERM && debian == 0)
    hint = " (kernel.unprivileged_userns_clone is 0)";
  else if (!privileged && r->step >= STEP_SETGROUPS && apparmor == 1)
    hint = " (kernel.apparmor_restrict_unprivileged_userns is 1: an unconfined process's "
           "namespace confers no capability)";
  else if (unsh && r->err == EPERM)
    hint = " (a seccomp or LSM policy around the node forbids it, e.g. a container's)";
  else if (r->step == STEP_PROC && r->err == EPERM)
    hint = " (the host's /proc is not fully visible here: parts of it are covered by other "
           "mounts, as in a container)";
  snprintf (why, cap, "%s: %s%s", step_names[r->step], strerror (r->err), hint);
}

void
userns_probe (uid_t uid, struct userns_probe *out)
{
  struct result r;
  memset (out, 0, sizeof *out);
  if (geteuid () == 0)
    {
      r = trial (true, uid, (gid_t) uid);
      out->privileged = r.step == STEP_NONE;
      if (!out->privileged)
        explain (&r, true, out->privileged_why, sizeof out->privileged_why);
    }
  else
    snprintf (out->privileged_why, sizeof out->privileged_why,
              "needs root (euid %u): the node writes the maps from the parent namespace",
              (unsigned) geteuid ());
  if (geteuid () != 0)
    uid = geteuid ();
  r = trial (false, uid, geteuid () == 0 ? (gid_t) uid : getegid ());
  out->unprivileged = r.step == STEP_NONE;
  if (!out->unprivileged)
    explain (&r, false, out->unprivileged_why, sizeof out->unprivileged_why);
}

/* In the rootless trial's child (an ordinary uid): the namespaces of a
 * sandbox, then a proc mount from a child that is pid 1 of the new pid
 * namespace. */
static struct result
rootless_child (void)
{
  struct result r;
  int st = 0;
  pid_t pid;
  /* Our ids before the unshare: inside, until the maps are written, they
   * read as the overflow id, and mapping that is refused (EPERM). */
  uid_t uid = geteuid ();
  gid_t gid = getegid ();
  if (unshare (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
    return (struct result){ STEP_UNSHARE_ALL, errno };
  r = write_maps ("self", uid, gid);
  if (r.step != STEP_NONE)
    return r;
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return (struct result){ STEP_PRIVATE, errno };
  if (mount ("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=16k") < 0)
    return (struct result){ STEP_TMPFS, errno };
  pid = fork ();
  if (pid < 0)
    return (struct result){ STEP_FORK, errno };
  if (pid == 0)
    _exit (mount ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")
                   < 0
               ? (errno & 0x7f)
               : 0);
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED (st) || WEXITSTATUS (st) != 0)
    return (struct result){ STEP_PROC, WIFEXITED (st) ? WEXITSTATUS (st) : EINTR };
  return (struct result){ 0, 0 };
}

bool
userns_probe_rootless_ns (char *why, size_t cap)
{
  struct result r = { STEP_UNSHARE_ALL, EIO };
  int p[2];
  pid_t pid;
  if (geteuid () == 0)
    {
      snprintf (why, cap, "run as an ordinary user");
      return false;
    }
  if (pipe2 (p, O_CLOEXEC) < 0)
    r.err = errno;
  else if ((pid = fork ()) == 0)
    {
      close (p[0]);
      r = rootless_child ();
      _exit (write (p[1], &r, sizeof r) == (ssize_t) sizeof r ? 0 : 1);
    }
  else
    {
      close (p[1]);
      if (pid < 0)
        r.err = errno;
      else if (read (p[0], &r, sizeof r) != (ssize_t) sizeof r)
        r = (struct result){ STEP_UNSHARE_ALL, EIO };
      close (p[0]);
      if (pid > 0)
        while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
          ;
    }
  if (r.step == STEP_NONE)
    return true;
  explain (&r, false, why, cap);
  return false;
}
