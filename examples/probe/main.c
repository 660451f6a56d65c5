/* probe: a workload that reports what its sandbox lets it see and do.
 *
 * MODE selects what it does (default "probe"):
 *   probe  print one "key=value" line per fact and attempt, then exit 0:
 *          its pid and parent, ids, hostname, working dir, visible
 *          processes and open fds, the seccomp/no_new_privs/capability
 *          state, and the errno name of each attempt that a sandbox must
 *          refuse: signalling the agent (pid 1), the node (NODE_PID) and
 *          another workload (OTHER_PID), reading their /proc/<pid>/environ,
 *          reading the node's keys (STATE_DIR/node.nk, node.xk), mount,
 *          ptrace, unshare, and writing to / and /var/tmp; and of what it
 *          must be allowed: writing to /tmp and to its working dir; and of
 *          a TCP connection to NATS_ADDR ("127.0.0.1:port") when given;
 *          the file system it sees (the names in /, /etc/passwd, /usr,
 *          /home, the DNS files, each of CHECK_PATHS and whether it can
 *          write there); system calls on no allow-list (add_key,
 *          lookup_dcookie, syslog, kexec_load, number 4095, clone3); and
 *          of a connection to the abstract UNIX socket ABSTRACT_SOCK; its
 *          user namespace (uid_map, gid_map, setgroups) and setns into
 *          it. "ok" stands for success. With HOLD_SECONDS it then sleeps
 *          that long, for a look from outside.
 *   spin   burn CPU for SECONDS seconds (default 2) and print
 *          "cpu_ratio=<cpu time / wall time>" (a CPU quota shows here);
 *   x32    call getpid through the x32 system call entry and print
 *          "x32=<result>" (a sandbox kills it first);
 *   hold   print its cgroup lines ("cgroup=<line>") and sleep SECONDS
 *          (default 30), so a test can look at it from outside. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *
result (int rc)
{
  if (rc >= 0)
    return "ok";
  return strerrorname_np (errno) ? strerrorname_np (errno) : "?";
}

static int
open_close (const char *path, int flags)
{
  int fd = open (path, flags | O_CLOEXEC, 0600);
  if (fd >= 0)
    close (fd);
  return fd;
}

static long
env_long (const char *name, long def)
{
  const char *s = getenv (name);
  return s && *s ? strtol (s, NULL, 10) : def;
}

/* "key:\tvalue" of /proc/self/status */
static void
print_status (const char *key, const char *name)
{
  char buf[4096], want[64];
  int fd = open ("/proc/self/status", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read (fd, buf, sizeof buf - 1) : -1;
  const char *p;
  if (fd >= 0)
    close (fd);
  buf[n > 0 ? n : 0] = '\0';
  snprintf (want, sizeof want, "\n%s:", key);
  p = strstr (buf, want);
  if (p == NULL)
    {
      printf ("%s=?\n", name);
      return;
    }
  p += strlen (want);
  while (*p == '\t' || *p == ' ')
    p++;
  printf ("%s=%.*s\n", name, (int) strcspn (p, "\n"), p);
}

static void
print_dir (const char *path, const char *name, int skip_fd)
{
  DIR *d = opendir (path);
  struct dirent *e;
  int n = 0;
  printf ("%s=", name);
  while (d && (e = readdir (d)) != NULL)
    {
      if (e->d_name[0] < '0' || e->d_name[0] > '9')
        continue;
      if (skip_fd && atoi (e->d_name) == dirfd (d))
        continue;
      printf ("%s%s", n++ ? "," : "", e->d_name);
    }
  printf ("\n");
  if (d)
    closedir (d);
}

static void
try_kill (const char *name, const char *pidvar)
{
  long pid = pidvar ? env_long (pidvar, 0) : 1;
  if (pid > 0)
    printf ("%s=%s\n", name, result (kill ((pid_t) pid, SIGTERM)));
}

/* Read <dir>/<file>, when dir is known. */
static void
try_open (const char *name, const char *dir, const char *file)
{
  char path[512];
  if (dir == NULL)
    return;
  snprintf (path, sizeof path, "%s/%s", dir, file);
  printf ("%s=%s\n", name, result (open_close (path, O_RDONLY)));
}

static const char *
proc_dir (const char *pidvar, char *buf, size_t cap)
{
  const char *pid = pidvar ? getenv (pidvar) : "1";
  if (pid == NULL)
    return NULL;
  snprintf (buf, cap, "/proc/%s", pid);
  return buf;
}

/* connect to "a.b.c.d:port" */
static int
tcp_connect (const char *addr)
{
  struct sockaddr_in sa;
  const char *colon = strchr (addr, ':');
  char ip[64];
  int fd, rc;
  if (colon == NULL || (size_t) (colon - addr) >= sizeof ip)
    {
      errno = EINVAL;
      return -1;
    }
  snprintf (ip, sizeof ip, "%.*s", (int) (colon - addr), addr);
  memset (&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons ((uint16_t) atoi (colon + 1));
  if (inet_pton (AF_INET, ip, &sa.sin_addr) != 1)
    {
      errno = EINVAL;
      return -1;
    }
  fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  rc = connect (fd, (struct sockaddr *) &sa, sizeof sa);
  close (fd);
  return rc;
}

/* socket(), closed again: 0 or -1 with errno. */
static int
socket_close (int domain, int type, int protocol)
{
  int fd = socket (domain, type | SOCK_CLOEXEC, protocol);
  if (fd < 0)
    return -1;
  close (fd);
  return 0;
}

static int
cmp_name (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* "root=a,b,c": the names in /, sorted. */
static void
print_root (void)
{
  char *names[64];
  size_t n = 0;
  DIR *d = opendir ("/");
  struct dirent *e;
  while (d && (e = readdir (d)) != NULL && n < 64)
    if (strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0)
      names[n++] = strdup (e->d_name);
  if (d)
    closedir (d);
  qsort (names, n, sizeof names[0], cmp_name);
  printf ("root=");
  for (size_t i = 0; i < n; i++)
    {
      printf ("%s%s", i ? "," : "", names[i]);
      free (names[i]);
    }
  printf ("\n");
}

/* For each path of CHECK_PATHS ("a,b"): "path:<p>=<open result>" and
 * "wpath:<p>=<result of creating a file in it, or of opening it for
 * writing>". */
static void
check_paths (void)
{
  const char *list = getenv ("CHECK_PATHS");
  char buf[1024], *save = NULL;
  if (list == NULL)
    return;
  snprintf (buf, sizeof buf, "%s", list);
  for (char *p = strtok_r (buf, ",", &save); p; p = strtok_r (NULL, ",", &save))
    {
      struct stat st;
      char f[1100];
      int rc = stat (p, &st);
      printf ("path:%s=%s\n", p, result (rc));
      if (rc == 0 && S_ISDIR (st.st_mode))
        {
          snprintf (f, sizeof f, "%s/.nexc-probe", p);
          printf ("wpath:%s=%s\n", p, result (open_close (f, O_WRONLY | O_CREAT)));
        }
      else if (rc == 0)
        printf ("wpath:%s=%s\n", p, result (open_close (p, O_WRONLY)));
    }
}

/* System calls that are on no allow-list; 4095 is no call at all. */
static void
try_unlisted (void)
{
  printf ("sys_add_key=%s\n", result ((int) syscall (SYS_add_key, "user", "k", "v", 1, 0)));
#ifdef SYS_lookup_dcookie
  printf ("sys_lookup_dcookie=%s\n", result ((int) syscall (SYS_lookup_dcookie, 0, NULL, 0)));
#endif
  printf ("sys_syslog=%s\n", result ((int) syscall (SYS_syslog, 3, NULL, 0)));
  printf ("sys_kexec_load=%s\n", result ((int) syscall (SYS_kexec_load, 0, 0, NULL, 0)));
  printf ("sys_4095=%s\n", result ((int) syscall (4095, 0, 0, 0)));
#ifdef SYS_clone3
  printf ("sys_clone3=%s\n", result ((int) syscall (SYS_clone3, NULL, 0)));
#endif
}

/* connect to the abstract UNIX socket ABSTRACT_SOCK names. */
static int
abstract_connect (const char *name)
{
  struct sockaddr_un sa;
  int s = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;
  if (s < 0)
    return -1;
  memset (&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf (sa.sun_path + 1, sizeof sa.sun_path - 1, "%s", name);
  rc = connect (s, (struct sockaddr *) &sa,
                (socklen_t) (offsetof (struct sockaddr_un, sun_path) + 1 + strlen (name)));
  close (s);
  return rc;
}

/* "name=a b c;d e f": the lines of an id map, blanks squeezed. */
static void
print_map (const char *path, const char *name)
{
  char buf[1024], out[1024];
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read (fd, buf, sizeof buf - 1) : -1;
  size_t o = 0;
  bool blank = true;
  if (fd >= 0)
    close (fd);
  buf[n > 0 ? n : 0] = '\0';
  for (const char *p = buf; *p && o < sizeof out - 2; p++)
    if (*p == ' ' || *p == '\t')
      {
        if (!blank)
          out[o++] = ' ';
        blank = true;
      }
    else if (*p == '\n')
      {
        if (o > 0 && out[o - 1] == ' ')
          o--;
        if (p[1])
          out[o++] = ';';
        blank = true;
      }
    else
      {
        out[o++] = *p;
        blank = false;
      }
  out[o] = '\0';
  printf ("%s=%s\n", name, n < 0 ? result (-1) : out);
}

/* setns into its own user namespace: EPERM when seccomp refuses, EINVAL
 * from the kernel otherwise. */
static int
try_setns_user (void)
{
  int fd = open ("/proc/self/ns/user", O_RDONLY | O_CLOEXEC), rc, e;
  if (fd < 0)
    return -1;
  rc = setns (fd, CLONE_NEWUSER);
  e = errno;
  close (fd);
  errno = e;
  return rc;
}

static int
probe (void)
{
  char host[256] = "", cwd[4096] = "", path[512], pbuf[64];
  const char *state = getenv ("STATE_DIR");
  printf ("pid=%d\nppid=%d\nuid=%u\ngid=%u\n", (int) getpid (), (int) getppid (),
          (unsigned) getuid (), (unsigned) getgid ());
  gethostname (host, sizeof host - 1);
  printf ("hostname=%s\n", host);
  printf ("cwd=%s\n", getcwd (cwd, sizeof cwd) ? cwd : "?");
  print_dir ("/proc", "procs", 0);
  print_dir ("/proc/self/fd", "fds", 1);
  /* Its own executable, through the magic link: a file outside its root. */
  printf ("read_exe=%s\n", result (open_close ("/proc/self/exe", O_RDONLY)));
  print_status ("Seccomp", "seccomp");
  print_status ("NoNewPrivs", "nnp");
  print_status ("CapEff", "capeff");
  print_status ("CapBnd", "capbnd");
  print_map ("/proc/self/uid_map", "uid_map");
  print_map ("/proc/self/gid_map", "gid_map");
  print_map ("/proc/self/setgroups", "setgroups");
  try_kill ("kill_agent", NULL);
  try_kill ("kill_node", "NODE_PID");
  try_kill ("kill_other", "OTHER_PID");
  try_open ("environ_agent", proc_dir (NULL, pbuf, sizeof pbuf), "environ");
  try_open ("environ_node", proc_dir ("NODE_PID", pbuf, sizeof pbuf), "environ");
  try_open ("environ_other", proc_dir ("OTHER_PID", pbuf, sizeof pbuf), "environ");
  try_open ("node_key", state, "node.nk");
  try_open ("node_xkey", state, "node.xk");
  printf ("mount=%s\n", result (mount ("none", "/tmp", "tmpfs", 0, NULL)));
  printf ("ptrace=%s\n", result ((int) ptrace (PTRACE_ATTACH, 1, NULL, NULL)));
  printf ("unshare_user=%s\n", result (unshare (CLONE_NEWUSER)));
  printf ("setns_user=%s\n", result (try_setns_user ()));
  printf ("unshare_mount=%s\n", result (unshare (CLONE_NEWNS)));
  printf ("write_root=%s\n", result (open_close ("/nexc-probe", O_WRONLY | O_CREAT)));
  snprintf (path, sizeof path, "/var/tmp/nexc-probe-%d", (int) getpid ());
  printf ("write_vartmp=%s\n", result (open_close (path, O_WRONLY | O_CREAT)));
  printf ("write_tmp=%s\n", result (open_close ("/tmp/nexc-probe", O_WRONLY | O_CREAT)));
  printf ("write_cwd=%s\n", result (open_close ("nexc-probe", O_WRONLY | O_CREAT)));
  if (getenv ("NATS_ADDR"))
    printf ("tcp_nats=%s\n", result (tcp_connect (getenv ("NATS_ADDR"))));
  /* No terminal: its own session (the agent's, pid 1 here), no /dev/tty,
   * TIOCSTI refused even on a descriptor that is no tty (ENOTTY unfiltered). */
  printf ("sid=%d\n", (int) getsid (0));
  printf ("dev_tty=%s\n", result (open_close ("/dev/tty", O_RDWR)));
  printf ("tiocsti=%s\n", result (ioctl (0, TIOCSTI, "x")));
  printf ("personality_aslr=%s\n", result (personality (ADDR_NO_RANDOMIZE) < 0 ? -1 : 0));
  printf ("socket_vsock=%s\n", result (socket_close (AF_VSOCK, SOCK_STREAM, 0)));
  printf ("socket_netlink_audit=%s\n", result (socket_close (AF_NETLINK, SOCK_RAW, NETLINK_AUDIT)));
  printf ("socket_netlink_route=%s\n", result (socket_close (AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)));
#ifdef SYS_modify_ldt
  printf ("modify_ldt=%s\n", result ((int) syscall (SYS_modify_ldt, 0, pbuf, sizeof pbuf)));
#endif
  printf ("mbind=%s\n", result ((int) syscall (SYS_mbind, 0, 0, 0, 0, 0, 0)));
  print_root ();
  printf ("etc_passwd=%s\n", result (open_close ("/etc/passwd", O_RDONLY)));
  printf ("usr=%s\n", result (open_close ("/usr", O_RDONLY | O_DIRECTORY)));
  printf ("home=%s\n", result (open_close ("/home", O_RDONLY | O_DIRECTORY)));
  printf ("etc_hosts=%s\n", result (open_close ("/etc/hosts", O_RDONLY)));
  printf ("etc_resolv=%s\n", result (open_close ("/etc/resolv.conf", O_RDONLY)));
  printf ("etc_nsswitch=%s\n", result (open_close ("/etc/nsswitch.conf", O_RDONLY)));
  printf ("write_etc=%s\n", result (open_close ("/etc/nexc-probe", O_WRONLY | O_CREAT)));
  check_paths ();
  if (getenv ("ABSTRACT_SOCK"))
    printf ("abstract_host=%s\n", result (abstract_connect (getenv ("ABSTRACT_SOCK"))));
  try_unlisted ();
  printf ("done=1\n");
  /* So a test can look at it from the host (its files, its namespaces). */
  if (env_long ("HOLD_SECONDS", 0) > 0)
    {
      fflush (stdout);
      sleep ((unsigned) env_long ("HOLD_SECONDS", 0));
    }
  return 0;
}

static double
seconds (clockid_t c)
{
  struct timespec ts;
  clock_gettime (c, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int
spin (void)
{
  double secs = (double) env_long ("SECONDS", 2);
  double w0 = seconds (CLOCK_MONOTONIC), c0 = seconds (CLOCK_PROCESS_CPUTIME_ID), w, c;
  volatile unsigned long x = 0;
  do
    for (int i = 0; i < 1000000; i++)
      x++;
  while (seconds (CLOCK_MONOTONIC) - w0 < secs);
  w = seconds (CLOCK_MONOTONIC) - w0;
  c = seconds (CLOCK_PROCESS_CPUTIME_ID) - c0;
  printf ("cpu=%.3f wall=%.3f\ncpu_ratio=%.3f\n", c, w, c / w);
  return 0;
}

static int
hold (void)
{
  char line[512];
  FILE *f = fopen ("/proc/self/cgroup", "re");
  while (f && fgets (line, sizeof line, f))
    printf ("cgroup=%s", line);
  if (f)
    fclose (f);
  printf ("holding=1\n");
  fflush (stdout);
  sleep ((unsigned) env_long ("SECONDS", 30));
  return 0;
}

int
main (void)
{
  const char *mode = getenv ("MODE");
  setvbuf (stdout, NULL, _IOLBF, 0);
  if (mode == NULL || strcmp (mode, "probe") == 0)
    return probe ();
  if (strcmp (mode, "spin") == 0)
    return spin ();
  if (strcmp (mode, "hold") == 0)
    return hold ();
  if (strcmp (mode, "x32") == 0)
    {
      /* getpid through the x32 entry: a sandbox kills the process. */
      printf ("x32_before=1\n");
      printf ("x32=%s\n", result ((int) syscall (0x40000000 | SYS_getpid)));
      return 0;
    }
  fprintf (stderr, "probe: unknown MODE \"%s\" (probe, spin, hold)\n", mode);
  return 2;
}
