#include "bench/proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nats/nats.h>

#include "bench/bench.h"
#include "bench/client.h"
#include "cgsweep.h"

extern char **environ;

#define MAX_CHILDREN 64
#define NATS_READY_MS 10000
#define NODE_READY_MS 15000

static volatile pid_t children[MAX_CHILDREN];
static char tmpdir[256];

/* ---- cleanup ---------------------------------------------------------- */

static void
kill_children_now (void)
{
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i] > 0)
      kill (children[i], SIGKILL);
}

static int
rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) flag;
  (void) ftw;
  remove (path);
  return 0;
}

static void
atexit_cleanup (void)
{
  kill_children_now ();
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i] > 0)
      {
        waitpid (children[i], NULL, 0);
        children[i] = 0;
      }
  if (tmpdir[0] && getenv ("NEXC_BENCH_KEEP") == NULL)
    nftw (tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  cgsweep_run (); /* every node is dead by now */
}

static void
fatal_signal (int sig)
{
  kill_children_now ();
  signal (sig, SIG_DFL);
  raise (sig);
}

static void
install_cleanup (void)
{
  static int done;
  static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV };
  if (done++)
    return;
  atexit (atexit_cleanup);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    {
      struct sigaction sa;
      memset (&sa, 0, sizeof sa);
      sa.sa_handler = fatal_signal;
      sigemptyset (&sa.sa_mask);
      sa.sa_flags = SA_RESETHAND;
      sigaction (sigs[i], &sa, NULL);
    }
}

static void
track (pid_t pid, bool add)
{
  for (int i = 0; i < MAX_CHILDREN; i++)
    {
      if (add && children[i] == 0)
        {
          children[i] = pid;
          return;
        }
      if (!add && children[i] == pid)
        children[i] = 0;
    }
}

const char *
proc_tmpdir (void)
{
  if (tmpdir[0] == '\0')
    {
      install_cleanup ();
      const char *base = getenv ("TMPDIR");
      snprintf (tmpdir, sizeof tmpdir, "%s/nexc-bench-XXXXXX", base && *base ? base : "/tmp");
      if (mkdtemp (tmpdir) == NULL)
        {
          perror ("nexc-bench: mkdtemp");
          exit (1);
        }
    }
  return tmpdir;
}

/* ---- children ------------------------------------------------------- */

pid_t
proc_spawn (char *const argv[], const char *log_path, struct nxerr *err)
{
  static const char setpriv[] = "/usr/bin/setpriv";
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t all, none;
  char *wrapped[64];
  char *const *use = argv;
  pid_t pid;
  int r, n;

  install_cleanup ();
  if (access (setpriv, X_OK) == 0)
    {
      wrapped[0] = (char *) setpriv;
      wrapped[1] = (char *) "--pdeathsig";
      wrapped[2] = (char *) "KILL";
      wrapped[3] = (char *) "--";
      for (n = 0; argv[n] && n < 58; n++)
        wrapped[4 + n] = argv[n];
      wrapped[4 + n] = NULL;
      use = wrapped;
    }
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen (&fa, STDOUT_FILENO, log_path ? log_path : "/dev/null",
                                    O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2 (&fa, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_init (&attr);
  sigfillset (&all);
  sigemptyset (&none);
  posix_spawnattr_setsigdefault (&attr, &all);
  posix_spawnattr_setsigmask (&attr, &none);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  r = posix_spawnp (&pid, use[0], &fa, &attr, use, environ);
  posix_spawn_file_actions_destroy (&fa);
  posix_spawnattr_destroy (&attr);
  if (r != 0)
    {
      nxerr_sys (err, r, "start %s", argv[0]);
      return -1;
    }
  track (pid, true);
  return pid;
}

int
proc_wait (pid_t pid, int timeout_ms, int *status)
{
  uint64_t deadline = bench_now_ns () + (uint64_t) timeout_ms * 1000000ull;
  for (;;)
    {
      int st = 0;
      pid_t r = waitpid (pid, &st, WNOHANG);
      if (r == pid || (r < 0 && errno == ECHILD))
        {
          track (pid, false);
          if (status)
            *status = st;
          return 0;
        }
      if (bench_now_ns () >= deadline)
        return -1;
      bench_sleep_ms (5);
    }
}

void
proc_kill (pid_t pid)
{
  if (pid <= 0)
    return;
  kill (pid, SIGKILL);
  while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
    ;
  track (pid, false);
}

/* ---- nats-server ------------------------------------------------------ */

static int
free_port (void)
{
  struct sockaddr_in sa;
  socklen_t sl = sizeof sa;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;
  if (fd < 0)
    return -1;
  memset (&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (bind (fd, (struct sockaddr *) &sa, sizeof sa) == 0
      && getsockname (fd, (struct sockaddr *) &sa, &sl) == 0)
    port = ntohs (sa.sin_port);
  close (fd);
  return port;
}

static bool
port_open (int port)
{
  struct sockaddr_in sa;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok;
  if (fd < 0)
    return false;
  memset (&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons ((uint16_t) port);
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  ok = connect (fd, (struct sockaddr *) &sa, sizeof sa) == 0;
  close (fd);
  return ok;
}

int
nats_start (struct bench_nats *n, struct nxerr *err)
{
  memset (n, 0, sizeof *n);
  snprintf (n->store, sizeof n->store, "%s/js", proc_tmpdir ());
  snprintf (n->log, sizeof n->log, "%s/nats.log", proc_tmpdir ());
  for (int attempt = 0; attempt < 5; attempt++)
    {
      char port[16], mport[16];
      char *argv[] = { (char *) "nats-server", (char *) "-a", (char *) "127.0.0.1",
                       (char *) "-p", port, (char *) "-m", mport, (char *) "-js",
                       (char *) "-sd", n->store, NULL };
      uint64_t deadline;
      n->port = free_port ();
      do
        n->monitor_port = free_port ();
      while (n->monitor_port == n->port);
      snprintf (port, sizeof port, "%d", n->port);
      snprintf (mport, sizeof mport, "%d", n->monitor_port);
      n->pid = proc_spawn (argv, n->log, err);
      if (n->pid < 0)
        return -1;
      deadline = bench_now_ns () + NATS_READY_MS * 1000000ull;
      while (bench_now_ns () < deadline)
        {
          if (port_open (n->port))
            {
              snprintf (n->url, sizeof n->url, "nats://127.0.0.1:%d", n->port);
              return 0;
            }
          if (proc_wait (n->pid, 0, NULL) == 0)
            break; /* died: port taken, try another */
          bench_sleep_ms (5);
        }
      proc_kill (n->pid);
      n->pid = 0;
    }
  return nxerr_set (err, EIO, "nats-server did not start (see %s)", n->log);
}

void
nats_stop (struct bench_nats *n)
{
  if (n->pid > 0)
    {
      kill (n->pid, SIGTERM);
      if (proc_wait (n->pid, 5000, NULL) < 0)
        proc_kill (n->pid);
    }
  n->pid = 0;
}

/* ---- nexc-node -------------------------------------------------------- */

static int
write_file (const char *path, const char *data, struct nxerr *err)
{
  FILE *f = fopen (path, "we");
  if (f == NULL)
    return nxerr_sys (err, errno, "open %s", path);
  fputs (data, f);
  if (fclose (f) != 0)
    return nxerr_sys (err, errno, "write %s", path);
  return 0;
}

const char *
node_log_tail (const struct bench_node *nd, size_t max)
{
  static char tail[4096];
  FILE *f = fopen (nd->log, "re");
  long size;
  size_t n;
  tail[0] = '\0';
  if (max >= sizeof tail)
    max = sizeof tail - 1;
  if (f == NULL)
    return tail;
  fseek (f, 0, SEEK_END);
  size = ftell (f);
  fseek (f, size > (long) max ? size - (long) max : 0, SEEK_SET);
  n = fread (tail, 1, max, f);
  tail[n] = '\0';
  fclose (f);
  for (char *p = tail; *p; p++)
    if (*p == '\n')
      *p = ' ';
  return tail;
}

static int
ping_node (natsConnection *nc, struct bench_node *nd)
{
  natsMsg *m = NULL;
  json_t *root, *d;
  const char *id, *x;
  int rc = -1;
  if (natsConnection_Request (&m, nc, "$NEX.PING", "", 0, 200) != NATS_OK)
    return -1;
  root = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
  natsMsg_Destroy (m);
  d = json_object_get (root, "data");
  id = json_string_value (json_object_get (d, "node_id"));
  x = json_string_value (json_object_get (d, "target_xkey"));
  if (id && x)
    {
      snprintf (nd->node_id, sizeof nd->node_id, "%s", id);
      snprintf (nd->xkey, sizeof nd->xkey, "%s", x);
      cgsweep_remember (id, nd->pid);
      rc = 0;
    }
  json_decref (root);
  return rc;
}

int
node_start (struct bench *b, struct bench_node *nd, const char *config_json, bool wait_pool,
            struct nxerr *err)
{
  static int counter;
  char state[600];
  char *argv[16];
  natsConnection *nc = NULL;
  uint64_t deadline;
  int n = 0, rc = -1;

  memset (nd, 0, sizeof *nd);
  snprintf (nd->dir, sizeof nd->dir, "%s/node%d", proc_tmpdir (), ++counter);
  snprintf (nd->log, sizeof nd->log, "%s/node.log", nd->dir);
  snprintf (nd->config, sizeof nd->config, "%s/node.json", nd->dir);
  snprintf (state, sizeof state, "%s/state", nd->dir);
  if (mkdir (nd->dir, 0700) < 0 || mkdir (state, 0700) < 0)
    return nxerr_sys (err, errno, "mkdir %s", state);
  if (write_file (nd->config, config_json, err) < 0)
    return -1;
  argv[n++] = b->node_bin;
  argv[n++] = (char *) "up";
  argv[n++] = (char *) "--config";
  argv[n++] = nd->config;
  argv[n++] = (char *) "--server";
  argv[n++] = b->nats->url;
  argv[n++] = (char *) "--state-dir";
  argv[n++] = state;
  argv[n++] = (char *) "--log-level";
  argv[n++] = (char *) b->o.node_log_level;
  argv[n] = NULL;
  nd->pid = proc_spawn (argv, nd->log, err);
  if (nd->pid < 0)
    return -1;
  if (bench_connect (b->nats->url, "nexc-bench-start", &nc, err) < 0)
    goto out;
  deadline = bench_now_ns () + NODE_READY_MS * 1000000ull;
  while (ping_node (nc, nd) < 0)
    {
      int st;
      if (proc_wait (nd->pid, 0, &st) == 0)
        {
          nd->pid = 0;
          nxerr_set (err, EIO, "nexc-node exited at start: %s", node_log_tail (nd, 600));
          goto out;
        }
      if (bench_now_ns () > deadline)
        {
          nxerr_set (err, ETIMEDOUT, "nexc-node did not answer PING: %s",
                     node_log_tail (nd, 600));
          goto out;
        }
    }
  if (wait_pool && bench_wait_pool_full (nc, nd, NODE_READY_MS, err) < 0)
    goto out;
  bench_progress ("node up: pid %d, log %s", (int) nd->pid, nd->log);
  rc = 0;
out:
  natsConnection_Destroy (nc);
  if (rc < 0 && nd->pid > 0)
    {
      proc_kill (nd->pid);
      nd->pid = 0;
    }
  return rc;
}

int
node_explain (struct bench_node *nd, struct nxerr *err)
{
  char how[64], was[NXERR_MSG_MAX];
  int st = 0;
  if (nd->pid <= 0 || proc_wait (nd->pid, 0, &st) < 0)
    return -1; /* still running (or never started) */
  nd->pid = 0;
  if (WIFSIGNALED (st))
    snprintf (how, sizeof how, "killed by signal %d%s", WTERMSIG (st),
              WCOREDUMP (st) ? ", core dumped" : "");
  else
    snprintf (how, sizeof how, "exit status %d", WEXITSTATUS (st));
  snprintf (was, sizeof was, "%s", err->msg);
  return nxerr_set (err, err->code, "nexc-node died (%s), log ends: %s -- then: %s", how,
                    node_log_tail (nd, 240), was);
}

int
node_stop (struct bench_node *nd, int timeout_ms)
{
  int st = 0;
  if (nd->pid <= 0)
    return -1;
  kill (nd->pid, SIGTERM);
  if (proc_wait (nd->pid, timeout_ms, &st) < 0)
    {
      proc_kill (nd->pid);
      nd->pid = 0;
      return -1;
    }
  nd->pid = 0;
  return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

/* ---- /proc ------------------------------------------------------------ */

static long
field_kb (const char *text, const char *key)
{
  const char *p = strstr (text, key);
  return p ? strtol (p + strlen (key), NULL, 10) : -1;
}

static ssize_t
read_small (const char *path, char *buf, size_t n)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t r, off = 0;
  if (fd < 0)
    return -1;
  while ((size_t) off < n - 1 && (r = read (fd, buf + off, n - 1 - (size_t) off)) > 0)
    off += r;
  close (fd);
  buf[off] = '\0';
  return off;
}

int
proc_mem (pid_t pid, struct mem_usage *m)
{
  char path[64], text[4096];
  snprintf (path, sizeof path, "/proc/%d/smaps_rollup", (int) pid);
  if (read_small (path, text, sizeof text) <= 0)
    return -1;
  m->rss_kb = field_kb (text, "\nRss:");
  m->pss_kb = field_kb (text, "\nPss:");
  m->uss_kb = field_kb (text, "\nPrivate_Clean:") + field_kb (text, "\nPrivate_Dirty:");
  return m->rss_kb >= 0 ? 0 : -1;
}

int
proc_cpu (pid_t pid, double *self_ms, double *children_ms)
{
  char path[64], buf[1024];
  const char *rp;
  unsigned long long ut, st;
  long long cut, cst;
  double tick = (double) sysconf (_SC_CLK_TCK);
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  if (read_small (path, buf, sizeof buf) <= 0 || (rp = strrchr (buf, ')')) == NULL)
    return -1;
  /* After "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt
   * majflt cmajflt utime stime cutime cstime */
  if (sscanf (rp + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &ut,
              &st, &cut, &cst)
      != 4)
    return -1;
  *self_ms = (double) (ut + st) * 1000.0 / tick;
  *children_ms = (double) (cut + cst) * 1000.0 / tick;
  return 0;
}

size_t
proc_table (struct proc_ent **out)
{
  DIR *d = opendir ("/proc");
  struct dirent *e;
  size_t n = 0, cap = 0;
  *out = NULL;
  if (d == NULL)
    return 0;
  while ((e = readdir (d)) != NULL)
    {
      char path[64], buf[512];
      const char *rp;
      char state;
      int ppid;
      if (e->d_name[0] < '1' || e->d_name[0] > '9')
        continue;
      snprintf (path, sizeof path, "/proc/%s/stat", e->d_name);
      if (read_small (path, buf, sizeof buf) <= 0)
        continue;
      rp = strrchr (buf, ')');
      if (rp == NULL || sscanf (rp + 1, " %c %d", &state, &ppid) != 2)
        continue;
      if (n == cap)
        {
          cap = cap ? cap * 2 : 1024;
          *out = realloc (*out, cap * sizeof **out);
          if (*out == NULL)
            abort ();
        }
      (*out)[n].pid = (pid_t) atoi (e->d_name);
      (*out)[n].ppid = (pid_t) ppid;
      n++;
    }
  closedir (d);
  return n;
}

size_t
proc_children (pid_t parent, pid_t *out, size_t max)
{
  DIR *d = opendir ("/proc");
  struct dirent *e;
  size_t n = 0;
  if (d == NULL)
    return 0;
  while ((e = readdir (d)) != NULL)
    {
      char path[64], buf[512];
      const char *rp;
      char state;
      int ppid;
      if (e->d_name[0] < '1' || e->d_name[0] > '9')
        continue;
      snprintf (path, sizeof path, "/proc/%s/stat", e->d_name);
      if (read_small (path, buf, sizeof buf) <= 0)
        continue;
      rp = strrchr (buf, ')');
      if (rp && sscanf (rp + 1, " %c %d", &state, &ppid) == 2 && ppid == parent)
        {
          if (n < max)
            out[n] = (pid_t) atoi (e->d_name);
          n++;
        }
    }
  closedir (d);
  return n;
}

size_t
proc_count_all (void)
{
  DIR *d = opendir ("/proc");
  struct dirent *e;
  size_t n = 0;
  if (d == NULL)
    return 0;
  while ((e = readdir (d)) != NULL)
    n += e->d_name[0] >= '1' && e->d_name[0] <= '9';
  closedir (d);
  return n;
}
