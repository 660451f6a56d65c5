#include "agent/workload.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/landlock.h"
#include "api/log.h"
#include "api/timefmt.h"
#include "api/xalloc.h"


/* Descendants handled per /proc scan; more simply take another round. */
#define SCAN_MAX 256

void
workload_init (struct workload *w)
{
  w->pid = 0;
  w->reaped = false;
  w->status = 0;
  w->out_fd = -1;
  w->err_fd = -1;
  w->in_file = -1;
  w->out_file = -1;
}

/* ---- argv and environment ---- */

/* NULL-terminated, pointing into d (which outlives the fork). */
static char **
build_argv (const Nexc__Agent__Deploy *d)
{
  char **argv = xcalloc (d->n_argv + 2, sizeof *argv);
  argv[0] = d->name;
  for (size_t i = 0; i < d->n_argv; i++)
    argv[i + 1] = d->argv[i];
  return argv;
}

static void
free_envp (char **envp)
{
  if (envp == NULL)
    return;
  for (char **e = envp; *e != NULL; e++)
    free (*e);
  free (envp);
}

/* Exactly the Deploy's variables: nothing of the agent's own environment
 * reaches the workload. Keys must be non-empty and free of '=' (NUL cannot
 * occur: frame_decode refuses strings holding one). Values are secrets:
 * errors name the variable's index and key only. */
static char **
build_envp (const Nexc__Agent__Deploy *d, struct nxerr *err)
{
  char **envp = xcalloc (d->n_env + 1, sizeof *envp);
  for (size_t i = 0; i < d->n_env; i++)
    {
      const char *k = d->env[i]->key, *v = d->env[i]->value;
      size_t kl = strlen (k), vl = strlen (v);
      if (kl == 0 || strchr (k, '=') != NULL)
        {
          nxerr_set (err, EINVAL, "env[%zu]: invalid key \"%s\"", i, k);
          free_envp (envp);
          return NULL;
        }
      envp[i] = xmalloc (kl + vl + 2);
      memcpy (envp[i], k, kl);
      envp[i][kl] = '=';
      memcpy (envp[i] + kl + 1, v, vl + 1);
    }
  return envp;
}

/* ---- the executable ---- */

static int
check_artifact (const Nexc__Agent__Deploy *d, int exe_fd, bool *script, struct nxerr *err)
{
  struct stat st;
  char head[2];
  int fl;
  if (fstat (exe_fd, &st) < 0)
    return nxerr_sys (err, errno, "artifact: fstat");
  if (!S_ISREG (st.st_mode))
    return nxerr_set (err, EINVAL, "artifact: not a regular file");
  if (d->artifact_size != 0 && (uint64_t) st.st_size != d->artifact_size)
    return nxerr_set (err, EINVAL, "artifact: size %lld, expected %llu", (long long) st.st_size,
                      (unsigned long long) d->artifact_size);
  fl = fcntl (exe_fd, F_GETFL);
  if (fl < 0)
    return nxerr_sys (err, errno, "artifact: fcntl");
  /* A writable fd would make exec fail with ETXTBSY; say it plainly. */
  if ((fl & O_ACCMODE) != O_RDONLY)
    return nxerr_set (err, EINVAL, "artifact: fd must be read-only");
  /* A #! script is run by its interpreter through /proc/self/fd/N, so its fd
   * must survive the exec; a binary's fd need not and is not leaked to it. */
  *script = pread (exe_fd, head, 2, 0) == 2 && head[0] == '#' && head[1] == '!';
  return 0;
}

/* ---- the child, between fork and exec: no error chain, no allocation ---- */

/* exec resets caught signals itself; only an ignored one would survive it.
 * The agent starts with every disposition at its default (the node and the
 * zygote see to that) and ignores SIGPIPE alone (agent/main.c), so that is
 * the one to undo: one system call, not one per signal. */
static void
child_reset_signals (void)
{
  struct sigaction sa;
  sigset_t none;
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigaction (SIGPIPE, &sa, NULL);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
}

/* Mark every fd above 2 close-on-exec: the status pipe and the executable
 * must stay open until fexecve, and nothing else of the agent may leak. */
static void
child_cloexec_rest (void)
{
  struct rlimit rl;
  int max = 65536;
  if (close_range (3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
    return;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1048576)
    max = (int) rl.rlim_cur;
  for (int fd = 3; fd < max; fd++)
    fcntl (fd, F_SETFD, FD_CLOEXEC);
}

struct child_args {
  pid_t agent;
  int devnull, out_w, err_w, status_w, exe_fd;
  bool script;
  char **argv, **envp;
  const struct sandbox *sb;
};

static void __attribute__ ((noreturn))
child_exec (const struct child_args *c)
{
  const char *what;
  int e;
  /* Own group, so Stop can signal the whole workload at once. */
  if (setpgid (0, 0) < 0)
    exec_fail (c->status_w, "setpgid", errno);
  /* If the agent dies the main process dies too (the agent's own death
   * signal cannot reach the workload's tree); checked after setting, in case
   * the agent died in between. */
  if (prctl (PR_SET_PDEATHSIG, SIGKILL) < 0)
    exec_fail (c->status_w, "prctl(PR_SET_PDEATHSIG)", errno);
  if (getppid () != c->agent)
    _exit (127);
  child_reset_signals ();
  if (dup2 (c->devnull, 0) < 0 || dup2 (c->out_w, 1) < 0 || dup2 (c->err_w, 2) < 0)
    exec_fail (c->status_w, "dup2", errno);
  e = sandbox_enter_child (c->sb, &what);
  if (e != 0)
    exec_fail (c->status_w, what, e);
  if (c->sb->tier == SANDBOX_PROCESS
      && (e = landlock_enter_reads (c->sb->landlock_abi, c->exe_fd, &what)) != 0)
    exec_fail (c->status_w, what, e);
  child_cloexec_rest ();
  if (c->script && fcntl (c->exe_fd, F_SETFD, 0) < 0)
    exec_fail (c->status_w, "fcntl(exe fd)", errno);
  fexecve (c->exe_fd, c->argv, c->envp);
  exec_fail (c->status_w, "fexecve", errno);
}

/* ---- spawn ---- */

#if defined(__SANITIZE_ADDRESS__)
/* AddressSanitizer keeps shadow state per stack: instrumented code on a
 * borrowed stack in a shared address space is asking for false reports. */
static pid_t
spawn_child (const struct child_args *c)
{
  pid_t pid = fork ();
  if (pid == 0)
    child_exec (c);
  return pid;
}
#else
static int
child_main (void *arg)
{
  child_exec (arg);
}

/* Not posix_spawn: the child has setup of its own to do (group, death
 * signal, sandbox) before exec. Not fork either: the child runs on our
 * memory, as posix_spawn's does (CLONE_VM | CLONE_VFORK: we wait until it
 * execs or exits), so no page tables are copied and our pages do not turn
 * copy-on-write under us (each a fault later). What the child changes is
 * its own: credentials, limits, signal handlers, cwd and fd table are per
 * process without CLONE_THREAD/SIGHAND/FS/FILES; it allocates nothing. */
static pid_t
spawn_child (const struct child_args *c)
{
  static char stack[64 * 1024] __attribute__ ((aligned (16)));
  return clone (child_main, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, (void *) c);
}
#endif

static int
set_nonblock (int fd)
{
  int fl = fcntl (fd, F_GETFL);
  return fl < 0 ? -1 : fcntl (fd, F_SETFL, fl | O_NONBLOCK);
}

/* Wait for the child's verdict: EOF (the pipe closed on exec) or a failure
 * record. Returns 0 or the child's errno with *what filled. */
static int
await_exec (int status_r, char *what, size_t what_n)
{
  struct exec_failure f;
  ssize_t n;
  do
    n = read (status_r, &f, sizeof f);
  while (n < 0 && errno == EINTR);
  if (n == 0)
    return 0;
  if (n != (ssize_t) sizeof f)
    {
      snprintf (what, what_n, "exec status pipe");
      return n < 0 ? errno : EPROTO;
    }
  f.what[sizeof f.what - 1] = '\0';
  snprintf (what, what_n, "%s", f.what);
  return f.err;
}

/* The direct path: clone, enter the sandbox, exec. 0 with *pid, or the
 * child's errno with what filled (the child reaped). */
static int
spawn_direct (const struct child_args *proto, pid_t *pid, char *what, size_t what_n,
              struct nxerr *err)
{
  struct child_args c = *proto;
  int status[2] = { -1, -1 };
  int e;
  if (pipe2 (status, O_CLOEXEC) < 0)
    return nxerr_sys (err, errno, "pipe");
  c.status_w = status[1];
  *pid = spawn_child (&c);
  if (*pid < 0)
    {
      e = errno;
      close (status[0]);
      close (status[1]);
      return nxerr_sys (err, e, "clone");
    }
  /* Also from this side, so the group exists before we may signal it. EACCES
   * (the child already exec'd) and ESRCH are fine: it did it itself. */
  setpgid (*pid, *pid);
  close (status[1]);
  e = await_exec (status[0], what, what_n);
  close (status[0]);
  if (e != 0)
    {
      waitpid (*pid, NULL, 0);
      return nxerr_sys (err, e, "%s", what);
    }
  return 0;
}

int
workload_spawn (struct workload *w, const Nexc__Agent__Deploy *d, int exe_fd,
                struct sandbox *sb, struct nxerr *err)
{
  cleanup_free char **argv = NULL;
  char **envp = NULL;
  cleanup_close int devnull = -1;
  int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
  struct child_args c;
  char what[48] = "";
  bool script = false;
  pid_t pid;
  int rc = -1, r = STEM_GONE;

  if (check_artifact (d, exe_fd, &script, err) < 0)
    return -1;
  envp = build_envp (d, err);
  if (envp == NULL)
    return -1;
  argv = build_argv (d);
  devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0)
    {
      nxerr_sys (err, errno, "open /dev/null");
      goto out;
    }
  if (pipe2 (out, O_CLOEXEC) < 0 || pipe2 (errp, O_CLOEXEC) < 0)
    {
      nxerr_sys (err, errno, "pipe");
      goto out;
    }
  c = (struct child_args){ .agent = getpid (),
                           .devnull = w->in_file >= 0 ? w->in_file : devnull,
                           .out_w = w->out_file >= 0 ? w->out_file : out[1],
                           .err_w = errp[1], .status_w = -1, .exe_fd = exe_fd,
                           .script = script, .argv = argv, .envp = envp, .sb = sb };
  if (sandbox_stem_fits (sb, d))
    {
      struct stem_exec x = { .argv = argv, .envp = envp,
                             .fds = { c.devnull, c.out_w, c.err_w, exe_fd },
                             .script = script, .nofile = sb->rlimit_nofile,
                             .nproc = sb->rlimit_nproc };
      r = stem_go (&sb->stem, &x, &pid, what, sizeof what, err);
    }
  if (r == STEM_GONE)
    r = sandbox_prepare (sb, d, err) < 0 ? -1 : spawn_direct (&c, &pid, what, sizeof what, err);
  if (r < 0)
    {
      /* The usual cause, said where the user reads it. */
      if (err->code == ENOENT && strcmp (what, "fexecve") == 0 && sb->tier == SANDBOX_PROCESS
          && !sb->host_ro)
        nxerr_wrap (err, "the minimal root has no loader or interpreter for this executable "
                         "(a dynamic one needs \"filesystem\": {\"bind_ro\": [its loader and "
                         "libraries]} or \"host-ro\")");
      goto out;
    }
  if (set_nonblock (out[0]) < 0 || set_nonblock (errp[0]) < 0)
    log_warn ("output pipes: set non-blocking: %s", strerror (errno)); /* cannot fail on pipes */
  w->pid = pid;
  w->reaped = false;
  w->out_fd = w->out_file >= 0 ? -1 : out[0]; /* function mode: stdout is a file */
  w->err_fd = errp[0];
  if (w->out_file < 0)
    out[0] = -1;
  errp[0] = -1;
  rc = 0;
out:
  free_envp (envp);
  for (int i = 0; i < 2; i++)
    {
      closep (&out[i]);
      closep (&errp[i]);
    }
  return rc;
}

/* ---- reap and kill ---- */

void
workload_signal (struct workload *w, int sig)
{
  if (w->pid <= 0 || w->reaped)
    return;
  kill (-w->pid, sig);
  kill (w->pid, sig); /* in case the main process left its group */
}

/* Returns whether children remain (alive or not yet reaped). */
static bool
reap_all (struct workload *w, bool *main_now)
{
  pid_t p;
  int st;
  if (w->pid > 0 && !w->reaped)
    {
      siginfo_t si;
      memset (&si, 0, sizeof si);
      /* Look without reaping: while the zombie exists its group id is ours. */
      if (waitid (P_PID, (id_t) w->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0
          && si.si_pid == w->pid)
        kill (-w->pid, SIGKILL);
    }
  while ((p = waitpid (-1, &st, WNOHANG)) > 0)
    if (p == w->pid && !w->reaped)
      {
        w->reaped = true;
        w->status = st;
        *main_now = true;
      }
  return p == 0; /* -1/ECHILD: no child at all */
}

bool
workload_reap (struct workload *w)
{
  bool main_now = false;
  reap_all (w, &main_now);
  return main_now;
}

/* The agent's children, from /proc/<pid>/stat ("pid (comm) state ppid ...";
 * comm may hold spaces and parentheses, so parse after the last ')'): a scan
 * of every process on the machine, for kernels without the children file. */
static size_t
scan_all_for_children (pid_t self, pid_t *out, size_t max)
{
  DIR *dir = opendir ("/proc");
  struct dirent *e;
  size_t n = 0;
  if (dir == NULL)
    return 0;
  while (n < max && (e = readdir (dir)) != NULL)
    {
      char path[64], buf[512], state;
      const char *rp;
      int fd, ppid;
      ssize_t len;
      if (e->d_name[0] < '1' || e->d_name[0] > '9')
        continue;
      snprintf (path, sizeof path, "/proc/%s/stat", e->d_name);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      len = read (fd, buf, sizeof buf - 1);
      close (fd);
      if (len <= 0)
        continue;
      buf[len] = '\0';
      rp = strrchr (buf, ')');
      if (rp != NULL && sscanf (rp + 1, " %c %d", &state, &ppid) == 2 && ppid == self)
        out[n++] = (pid_t) atoi (e->d_name);
    }
  closedir (dir);
  return n;
}

/* The agent's children. The agent is single-threaded, so its one thread's
 * children file lists them all (CONFIG_PROC_CHILDREN): one read instead of
 * a scan of every process, which cost ~1 ms per hundred processes. */
static size_t
scan_children (pid_t self, pid_t *out, size_t max)
{
  char buf[SCAN_MAX * 12 + 1];
  size_t n = 0;
  ssize_t len;
  char *p, *end;
  int fd = open ("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return scan_all_for_children (self, out, max);
  len = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (len < 0)
    return scan_all_for_children (self, out, max);
  buf[len] = '\0';
  /* A full buffer may end inside a pid: keep whole ones only (the rest are
   * found on the next round), never kill a prefix of one. */
  if ((size_t) len == sizeof buf - 1)
    {
      char *sp = strrchr (buf, ' ');
      if (sp == NULL)
        return 0;
      *sp = '\0';
    }
  for (p = buf; n < max; p = end)
    {
      long v = strtol (p, &end, 10);
      if (end == p)
        break;
      if (v > 0)
        out[n++] = (pid_t) v;
    }
  return n;
}

int
workload_kill_tree (struct workload *w, int budget_ms, struct nxerr *err)
{
  uint64_t deadline = timefmt_mono_ns () + (uint64_t) budget_ms * 1000000ull;
  pid_t self = getpid ();
  bool main_now = false;
  size_t rounds = 0;

  workload_signal (w, SIGKILL);
  for (;;)
    {
      pid_t kids[SCAN_MAX];
      size_t n;
      /* Reaping first moves the dead's children to us, for the scan to see. */
      if (!reap_all (w, &main_now))
        return 0;
      /* Every child of the agent belongs to the workload (the agent starts
       * nothing else), and each is unreaped, so its pid is still its own. */
      n = scan_children (self, kids, SCAN_MAX);
      for (size_t i = 0; i < n; i++)
        kill (kids[i], SIGKILL);
      rounds++;
      if (timefmt_mono_ns () >= deadline)
        {
          n = scan_children (self, kids, SCAN_MAX);
          return nxerr_set (err, ETIMEDOUT, "%zu processes still alive after %d ms (%zu rounds)",
                            n, budget_ms, rounds);
        }
      /* The killed need a moment to die: wait for the next SIGCHLD (blocked,
       * read by the loop's signalfd otherwise; we reap everything here), at
       * most 1 ms, then reap and look again. */
      {
        sigset_t chld;
        sigemptyset (&chld);
        sigaddset (&chld, SIGCHLD);
        sigtimedwait (&chld, NULL, &(struct timespec){ .tv_sec = 0, .tv_nsec = 1000000 });
      }
    }
}

void
workload_exit_info (const struct workload *w, int *code, int *signo)
{
  *code = 0;
  *signo = 0;
  if (!w->reaped)
    return;
  if (WIFEXITED (w->status))
    *code = WEXITSTATUS (w->status);
  else if (WIFSIGNALED (w->status))
    {
      *code = -1;
      *signo = WTERMSIG (w->status);
    }
}
