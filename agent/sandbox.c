#include "agent/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/landlock.h"
#include "agent/mounts.h"
#include "agent/seccomp.h"
#include "agent/userns.h"
#include "api/log.h"
#include "api/xalloc.h"

#define SANDBOX_HOSTNAME "nexc"
/* The self-test's abstract socket (in the agent's net namespace, the
 * host's with network "host": named after the unique working dir). */
static char selftest_abstract[96];
#define SELFTEST_ABSTRACT selftest_abstract
#define DEFAULT_NOFILE 4096
/* oom_score_adj of every workload: under memory pressure, of its cgroup or
 * of the host, a workload dies before its agent and before the node. */
#define WORKLOAD_OOM_SCORE "500"

static const char *const tier_names[] = { [SANDBOX_NONE] = "none", [SANDBOX_PROCESS] = "process" };

int
sandbox_parse (const char *name, struct sandbox *out, struct nxerr *err)
{
  for (size_t i = 0; i < sizeof tier_names / sizeof tier_names[0]; i++)
    if (strcmp (name, tier_names[i]) == 0)
      {
        out->tier = (enum sandbox_tier) i;
        stem_init (&out->stem);
        return 0;
      }
  return nxerr_set (err, EINVAL, "unknown sandbox tier \"%s\" (known: none, process)", name);
}

const char *
sandbox_name (const struct sandbox *sb)
{
  return tier_names[sb->tier];
}

/* ---- setup, once, in the agent ---- */

static int
write_text (const char *path, const char *text)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  ssize_t n;
  if (fd < 0)
    return errno;
  n = write (fd, text, strlen (text));
  close (fd);
  return n == (ssize_t) strlen (text) ? 0 : (n < 0 ? errno : EIO);
}

static int
loopback_up (struct nxerr *err)
{
  struct ifreq ifr;
  int s = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return nxerr_sys (err, errno, "socket");
  memset (&ifr, 0, sizeof ifr);
  snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  if (ioctl (s, SIOCGIFFLAGS, &ifr) < 0
      || (ifr.ifr_flags |= IFF_UP | IFF_RUNNING, ioctl (s, SIOCSIFFLAGS, &ifr) < 0))
    {
      int e = errno;
      close (s);
      return nxerr_sys (err, e, "bring up the loopback interface");
    }
  close (s);
  return 0;
}

static int
read_cap_last (void)
{
  char buf[16] = "";
  int fd = open ("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd >= 0)
    {
      ssize_t n = read (fd, buf, sizeof buf - 1);
      close (fd);
      if (n > 0)
        return atoi (buf);
    }
  return CAP_LAST_CAP;
}

int
sandbox_setup (struct sandbox *sb, struct nxerr *err)
{
  struct rlimit no_core = { 0, 0 };
  int e;
  if (sb->tier == SANDBOX_NONE)
    return 0;
  if (getpid () != 1)
    return nxerr_set (err, EINVAL, "process tier: the agent must be pid 1 of a new pid namespace");
  if (sb->uid == 0 || sb->gid == 0 || sb->workdir[0] == '\0' || sb->state_dir[0] == '\0')
    return nxerr_set (err, EINVAL, "process tier: --uid, --gid, --workdir and --state-dir are "
                                   "required (uid and gid not 0)");
  sb->cap_last = read_cap_last ();
  if (mounts_setup (sb->state_dir, sb->workdir, sb->uid, err) < 0)
    return nxerr_wrap (err, "mounts");
  if (sethostname (SANDBOX_HOSTNAME, strlen (SANDBOX_HOSTNAME)) < 0)
    return nxerr_sys (err, errno, "sethostname");
  if (sb->net_none && loopback_up (err) < 0)
    return -1;
  if (seccomp_build (&sb->filter, &sb->filter_len, err) < 0)
    return -1;
  /* After the mounts: the helper's /proc/<pid> is this pid namespace's. */
  if (sb->userns && userns_make (sb->uid, sb->gid, &sb->userns_fd, err) < 0)
    return -1;
  sb->landlock_abi = landlock_probe ();
  sb->landlock_paths[0] = sb->workdir;
  sb->landlock_paths[1] = "/tmp";
  sb->landlock_paths[2] = "/dev";
  sb->landlock_paths[3] = "/proc";
  sb->landlock_paths[4] = NULL;
  /* The memory cgroup's OOM killer must pick the workload, not its
   * supervisor: the agent asks for -1000 (needs CAP_SYS_RESOURCE) and the
   * workload raises its own score to WORKLOAD_OOM_SCORE, which needs
   * nothing, so the order holds either way. */
  e = write_text ("/proc/self/oom_score_adj", "-1000");
  if (e != 0)
    log_debug ("oom_score_adj -1000: %s (the workload's %s keeps it first in line)",
               strerror (e), WORKLOAD_OOM_SCORE);
  if (prctl (PR_SET_DUMPABLE, 0) < 0 || setrlimit (RLIMIT_CORE, &no_core) < 0)
    return nxerr_sys (err, errno, "no core dumps");
  return 0;
}

int
sandbox_prepare (struct sandbox *sb, const Nexc__Agent__Deploy *d, struct nxerr *err)
{
  sb->rlimit_nproc = d->rlimit_nproc;
  sb->rlimit_nofile = d->rlimit_nofile ? d->rlimit_nofile : DEFAULT_NOFILE;
  if (sb->tier == SANDBOX_NONE)
    return 0;
  sb->host_ro = d->filesystem == NEXC__AGENT__DEPLOY__FILESYSTEM__HOST_RO;
  if (sb->host_ro)
    {
      rootfs_free (&sb->rootfs);
      return 0;
    }
  if (rootfs_plan (&sb->rootfs, sb->state_dir, sb->workdir, d->bind_ro, d->n_bind_ro, err) < 0)
    return nxerr_wrap (err, "minimal root");
  return 0;
}

int
sandbox_stem_start (struct sandbox *sb, struct nxerr *err)
{
  if (sb->tier != SANDBOX_PROCESS)
    return 0;
  sb->host_ro = false;
  if (rootfs_plan (&sb->rootfs, sb->state_dir, sb->workdir, NULL, 0, err) < 0)
    return nxerr_wrap (err, "minimal root");
  return stem_start (&sb->stem, sb, err);
}

bool
sandbox_stem_fits (struct sandbox *sb, const Nexc__Agent__Deploy *d)
{
  if (!stem_ready (&sb->stem))
    return false;
  if (d->filesystem == NEXC__AGENT__DEPLOY__FILESYSTEM__HOST_RO || d->n_bind_ro > 0)
    {
      stem_discard (&sb->stem);
      return false;
    }
  sb->rlimit_nproc = d->rlimit_nproc;
  sb->rlimit_nofile = d->rlimit_nofile ? d->rlimit_nofile : DEFAULT_NOFILE;
  return true;
}

/* ---- the workload's child, between fork and fexecve ---- */

static int
drop_bounding_and_ambient (const struct sandbox *sb, const char **what)
{
  *what = "prctl(PR_CAPBSET_DROP)";
  for (int cap = 0; cap <= sb->cap_last; cap++)
    if (prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
      return errno;
  *what = "prctl(PR_CAP_AMBIENT_CLEAR_ALL)";
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return errno;
  return 0;
}

static int
drop_capabilities (const struct sandbox *sb, const char **what)
{
  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2];
  int e;
  /* While still host root: the user namespace denies setgroups for good. */
  *what = "setgroups";
  if (setgroups (0, NULL) < 0)
    return errno;
  /* Entering the user namespace gives a full capability set and bounding
   * set in it (over nothing: every namespace but it is owned by the
   * host's), so what follows drops them there. Its mounts were built
   * before (rootfs_enter), by host root. */
  if (sb->userns_fd >= 0 && (e = userns_enter (sb->userns_fd, what)) != 0)
    return e;
  /* The bounding set needs CAP_SETPCAP: empty it while still root. */
  if ((e = drop_bounding_and_ambient (sb, what)) != 0)
    return e;
  *what = "setresgid";
  if (setresgid (sb->gid, sb->gid, sb->gid) < 0)
    return errno;
  /* Leaving uid 0 clears the permitted and effective sets (not in the user
   * namespace, where 0 is unmapped: the capset below does it there). */
  *what = "setresuid";
  if (setresuid (sb->uid, sb->uid, sb->uid) < 0)
    return errno;
  /* Permitted, effective and inheritable all empty. */
  memset (data, 0, sizeof data);
  *what = "capset";
  if (syscall (SYS_capset, &hdr, data) < 0)
    return errno;
  return 0;
}

/* soft = hard = v, never above the current hard limit (raising it needs
 * CAP_SYS_RESOURCE, which the node may not have). */
static int
set_limit (int resource, uint64_t v)
{
  struct rlimit cur, rl;
  if (getrlimit (resource, &cur) < 0)
    return errno;
  if (cur.rlim_max != RLIM_INFINITY && v > (uint64_t) cur.rlim_max)
    v = (uint64_t) cur.rlim_max;
  rl.rlim_cur = rl.rlim_max = (rlim_t) v;
  return setrlimit (resource, &rl) < 0 ? errno : 0;
}

int
sandbox_enter_limits (uint64_t nofile, uint64_t nproc, const char **what)
{
  int e;
  *what = "setrlimit(RLIMIT_NOFILE)";
  if ((e = set_limit (RLIMIT_NOFILE, nofile ? nofile : DEFAULT_NOFILE)) != 0)
    return e;
  /* Per uid, and the uid is this sandbox's alone: a pids limit that holds
   * even without the pids cgroup controller. */
  *what = "setrlimit(RLIMIT_NPROC)";
  if (nproc && (e = set_limit (RLIMIT_NPROC, nproc)) != 0)
    return e;
  return 0;
}

int
sandbox_enter_child (const struct sandbox *sb, const char **what)
{
  int e;
  *what = "sandbox";
  if (sb->tier == SANDBOX_NONE)
    return 0;
  if ((e = sandbox_enter_limits (sb->rlimit_nofile, sb->rlimit_nproc, what)) != 0)
    return e;
  return sandbox_enter_rest (sb, what);
}

int
sandbox_enter_rest (const struct sandbox *sb, const char **what)
{
  int e;
  *what = "oom_score_adj";
  if ((e = write_text ("/proc/self/oom_score_adj", WORKLOAD_OOM_SCORE)) != 0)
    return e;
  *what = "setrlimit(RLIMIT_CORE)";
  if ((e = set_limit (RLIMIT_CORE, 0)) != 0)
    return e;
  if (!sb->host_ro && (e = rootfs_enter (&sb->rootfs, what)) != 0)
    return e;
  if ((e = drop_capabilities (sb, what)) != 0)
    return e;
  *what = "prctl(PR_SET_NO_NEW_PRIVS)";
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return errno;
  *what = "chdir to the working dir";
  if (chdir (sb->workdir) < 0)
    return errno;
  if ((e = landlock_enter (sb->landlock_abi, sb->landlock_paths, what)) != 0)
    return e;
  *what = "seccomp";
  return seccomp_load_prog (sb->filter, sb->filter_len);
}

void
sandbox_cleanup (struct sandbox *sb)
{
  stem_discard (&sb->stem);
  seccomp_prog_free (sb->filter);
  sb->filter = NULL;
  if (sb->userns_fd >= 0)
    close (sb->userns_fd);
  sb->userns_fd = -1;
  rootfs_free (&sb->rootfs);
}

/* ---- self-test (nexc-node preflight) ---- */

static void
report (int fd, bool ok, const char *what, const char *detail)
{
  char line[512];
  int n = snprintf (line, sizeof line, "%s %s%s%s\n", ok ? "ok" : "fail", what,
                    detail && *detail ? ": " : "", detail ? detail : "");
  if (n > 0 && write (fd, line, (size_t) n) < 0)
    return;
}

/* "Key:\t<hex>" of /proc/self/status is all zeros. */
static bool
status_field (const char *status, const char *key, const char *want)
{
  const char *p = strstr (status, key);
  if (p == NULL)
    return false;
  p += strlen (key);
  while (*p == '\t' || *p == ' ')
    p++;
  return strncmp (p, want, strlen (want)) == 0;
}

static int
expect_errno (int fd, const char *what, int rc, int want)
{
  char d[128];
  if (rc == -1 && errno == want)
    {
      report (fd, true, what, strerror (want));
      return 0;
    }
  snprintf (d, sizeof d, "expected %s, got %s", strerror (want),
            rc == -1 ? strerror (errno) : "success");
  report (fd, false, what, d);
  return 1;
}

/* connect to the abstract UNIX socket name: 0 or -1 with errno. */
static int
abstract_connect (const char *name)
{
  struct sockaddr_un sa;
  int s = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;
  if (s < 0)
    return -1;
  memset (&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy (sa.sun_path + 1, name, strlen (name));
  rc = connect (s, (struct sockaddr *) &sa,
                (socklen_t) (offsetof (struct sockaddr_un, sun_path) + 1 + strlen (name)));
  close (s);
  return rc;
}

/* /proc/self/<file> holds exactly one line "id id 1". */
static bool
one_id_map (const char *file, unsigned id)
{
  char path[64], buf[256] = "";
  unsigned inside, outside, count;
  int fd, n, used = 0;
  snprintf (path, sizeof path, "/proc/self/%s", file);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  n = fd >= 0 ? (int) read (fd, buf, sizeof buf - 1) : -1;
  if (fd >= 0)
    close (fd);
  buf[n > 0 ? n : 0] = '\0';
  return sscanf (buf, " %u %u %u %n", &inside, &outside, &count, &used) == 3
         && buf[used] == '\0' && inside == id && outside == id && count == 1;
}

static void
verify_userns (const struct sandbox *sb, int fd, int *fails)
{
  char d[128], setgroups[16] = "";
  int sfd = open ("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
  if (sfd >= 0)
    {
      if (read (sfd, setgroups, sizeof setgroups - 1) < 0)
        setgroups[0] = '\0';
      close (sfd);
    }
  snprintf (d, sizeof d, "uid %u and gid %u map to themselves, nothing else", (unsigned) sb->uid,
            (unsigned) sb->gid);
  if (one_id_map ("uid_map", sb->uid) && one_id_map ("gid_map", sb->gid)
      && strncmp (setgroups, "deny", 4) == 0)
    report (fd, true, "user namespace", d);
  else
    *fails += (report (fd, false, "user namespace", "not a one-id map with setgroups denied"), 1);
}

/* In the child, inside the sandbox: check what a workload would see. */
static int
verify_inside (const struct sandbox *sb, int fd)
{
  char status[4096] = "", path[PATH_MAX + 16];
  int fails = 0, sfd, n;
  sfd = open ("/proc/self/status", O_RDONLY | O_CLOEXEC);
  n = sfd >= 0 ? (int) read (sfd, status, sizeof status - 1) : -1;
  if (sfd >= 0)
    close (sfd);
  status[n > 0 ? n : 0] = '\0';
  if (getuid () == sb->uid && geteuid () == sb->uid && getgid () == sb->gid
      && getgroups (0, NULL) == 0)
    report (fd, true, "unprivileged ids", NULL);
  else
    fails += (report (fd, false, "unprivileged ids", "uid/gid not dropped"), 1);
  if (status_field (status, "\nCapEff:", "0000000000000000")
      && status_field (status, "\nCapBnd:", "0000000000000000")
      && status_field (status, "\nCapPrm:", "0000000000000000")
      && status_field (status, "\nNoNewPrivs:", "1") && status_field (status, "\nSeccomp:", "2"))
    report (fd, true, "capabilities, no_new_privs, seccomp filter", NULL);
  else
    fails += (report (fd, false, "capabilities, no_new_privs, seccomp filter",
                      "not all in force (see /proc/self/status)"),
              1);
  fails += expect_errno (fd, "seccomp denies unshare(CLONE_NEWUSER)", unshare (CLONE_NEWUSER),
                         EPERM);
  {
    int ns = open ("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
    fails += expect_errno (fd, "seccomp denies setns", setns (ns, CLONE_NEWUSER), EPERM);
    if (ns >= 0)
      close (ns);
  }
  if (sb->userns)
    verify_userns (sb, fd, &fails);
  fails += expect_errno (fd, "seccomp denies mount", mount ("none", "/tmp", "tmpfs", 0, NULL),
                         EPERM);
  n = open ("/etc/.nexc-selftest", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  fails += expect_errno (fd, "host file system is read-only", n, EROFS);
  snprintf (path, sizeof path, "%s/node.nk", sb->state_dir);
  fails += expect_errno (fd, "node state dir is hidden", open (path, O_RDONLY | O_CLOEXEC), ENOENT);
  n = open (".nexc-selftest", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (n >= 0 && (close (n), unlink (".nexc-selftest")) == 0)
    report (fd, true, "working dir is writable", sb->workdir);
  else
    fails += (report (fd, false, "working dir is writable", strerror (errno)), 1);
  n = open ("/tmp/.nexc-selftest", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (n >= 0)
    {
      close (n);
      report (fd, true, "private /tmp is writable", NULL);
    }
  else
    fails += (report (fd, false, "private /tmp is writable", strerror (errno)), 1);
  fails += expect_errno (fd, "the agent cannot be signalled", kill (1, SIGTERM), EPERM);
  fails += expect_errno (fd, "minimal root: no host /usr", open ("/usr", O_PATH | O_CLOEXEC),
                         ENOENT);
  fails += expect_errno (fd, "minimal root: no host /etc/passwd",
                         open ("/etc/passwd", O_RDONLY | O_CLOEXEC), ENOENT);
  if (sb->landlock_abi >= 6)
    fails += expect_errno (fd, "landlock scopes abstract sockets (the agent's is out of reach)",
                           abstract_connect (SELFTEST_ABSTRACT), EPERM);
  else if (sb->landlock_abi > 0)
    report (fd, true, "landlock confines writes", "(no abstract socket scoping before ABI 6)");
  fails += expect_errno (fd, "seccomp default deny: add_key",
                         (int) syscall (SYS_add_key, 0, 0, 0, 0, 0), EPERM);
  fails += expect_errno (fd, "the agent's /proc entry is hidden",
                         open ("/proc/1/environ", O_RDONLY | O_CLOEXEC), ENOENT);
  return fails;
}

int
sandbox_selftest (struct sandbox *sb, int fd)
{
  const char *what = "sandbox";
  pid_t pid;
  int st, e, outside;
  report (fd, true, "namespaces and mount view", "pid 1 of a new pid namespace");
  snprintf (selftest_abstract, sizeof selftest_abstract, "nexc-selftest-%.64s",
            strrchr (sb->workdir, '/') ? strrchr (sb->workdir, '/') + 1 : sb->workdir);
  if (sb->landlock_abi >= 6)
    {
      /* Something outside the workload's domain to reach for. */
      struct sockaddr_un sa;
      int s = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      memset (&sa, 0, sizeof sa);
      sa.sun_family = AF_UNIX;
      memcpy (sa.sun_path + 1, SELFTEST_ABSTRACT, strlen (SELFTEST_ABSTRACT));
      if (s < 0
          || bind (s, (struct sockaddr *) &sa,
                   (socklen_t) (offsetof (struct sockaddr_un, sun_path) + 1
                                + strlen (SELFTEST_ABSTRACT)))
                 < 0
          || listen (s, 1) < 0)
        {
          report (fd, false, "abstract socket for the landlock check", strerror (errno));
          return 1;
        }
      /* Left open: the agent exits after the self-test. */
    }
  sb->rlimit_nproc = 16;
  sb->rlimit_nofile = 64;
  {
    struct nxerr err = { 0 };
    if (rootfs_plan (&sb->rootfs, sb->state_dir, sb->workdir, NULL, 0, &err) < 0)
      {
        report (fd, false, "minimal root", err.msg);
        return 1;
      }
  }
  /* A host directory outside the root, open from before: what a mount or
   * fd mistake would expose. The reads layer must keep it unreadable. */
  outside = open (sb->state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  pid = fork ();
  if (pid < 0)
    {
      report (fd, false, "fork", strerror (errno));
      return 1;
    }
  if (pid == 0)
    {
      int fails;
      e = sandbox_enter_child (sb, &what);
      if (e == 0)
        e = landlock_enter_reads (sb->landlock_abi, -1, &what);
      if (e != 0)
        {
          report (fd, false, what, strerror (e));
          _exit (100);
        }
      fails = verify_inside (sb, fd);
      if (sb->landlock_abi > 0)
        {
          int r = outside >= 0 ? openat (outside, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
          fails += expect_errno (fd, "landlock denies reads outside the root (an fd from before)",
                                 r, EACCES);
        }
      _exit (fails == 0 ? 0 : 1);
    }
  if (outside >= 0)
    close (outside);
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED (st) && WEXITSTATUS (st) == 0 ? 0 : 1;
}
