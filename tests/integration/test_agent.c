/* test_agent: nexc-agent as a black box, on real processes (no NATS).
 *
 * Each test plays the node: a socketpair(AF_UNIX, SOCK_SEQPACKET), the built
 * agent posix_spawn'ed with its end as fd 3, then frames over api/frame.h.
 * What is asserted is what the node would see: Hello, Pong, Started, Log
 * lines and streams, Exited, the agent's exit status, and — through /proc —
 * that no process of a workload survives. Every test kills what it started. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/frame.h"
#include "api/timefmt.h"

#define AGENT_BIN NEXC_BUILD_DIR "/agent/nexc-agent"
#define RECV_TIMEOUT_MS 10000

struct agent_proc {
  pid_t pid;
  int sock;
  char tmp[64]; /* a temp file the test made, removed in teardown */
};

/* What a workload produced, collected until Exited. */
struct lines {
  size_t n, cap;
  char **text; /* NUL-terminated copies */
  size_t *len;
};

struct result {
  uint32_t pid;
  struct lines out, err;
  uint64_t logs, lines, dropped_sum; /* Log frames, their lines, drops they reported */
  uint64_t max_chunk;
  uint64_t max_batch;         /* most lines in one Log frame */
  int code, signal;
  bool stopped;
  uint64_t log_dropped;
  uint64_t first_seq, next_seq; /* Nexc-Seq: of the first line seen, the next one expected */
  uint64_t exited_next_seq;
};

/* What the next Deploy asks of the agent's logs (tests set, deploys reset). */
static Nexc__Agent__Deploy__LogsOnFull deploy_on_full;
static uint64_t deploy_first_seq;
static bool deploy_acked;

static uint64_t
ms_since (uint64_t t0)
{
  return (timefmt_mono_ns () - t0) / 1000000ull;
}

/* ---- the node's side of the link ---- */

static Frame *
recv_frame (struct agent_proc *ap, int timeout_ms)
{
  struct pollfd p = { .fd = ap->sock, .events = POLLIN };
  struct nxerr err = { 0 };
  Frame *f = NULL;
  int rc;
  rc = poll (&p, 1, timeout_ms);
  if (rc == 0)
    fail_msg ("no frame from the agent within %d ms", timeout_ms);
  assert_int_equal (rc, 1);
  rc = frame_recv (ap->sock, &f, NULL, &err);
  if (rc != 1)
    fail_msg ("frame_recv: %d %s", rc, err.msg);
  return f;
}

static void
send_frame (struct agent_proc *ap, const Frame *f, int fd)
{
  struct nxerr err = { 0 };
  if (frame_send (ap->sock, f, fd, &err) < 0)
    fail_msg ("frame_send: %s", err.msg);
}

static void
send_ping (struct agent_proc *ap, uint64_t nonce)
{
  Nexc__Agent__Ping pi = NEXC__AGENT__PING__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  pi.nonce = nonce;
  f.body_case = NEXC__AGENT__FRAME__BODY_PING;
  f.ping = &pi;
  send_frame (ap, &f, -1);
}

static void
send_stop (struct agent_proc *ap, uint32_t grace_ms)
{
  Nexc__Agent__Stop s = NEXC__AGENT__STOP__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  s.grace_ms = grace_ms;
  f.body_case = NEXC__AGENT__FRAME__BODY_STOP;
  f.stop = &s;
  send_frame (ap, &f, -1);
}

/* Deploy exe (opened O_RDONLY|O_CLOEXEC, or fd as given when exe is NULL;
 * fd -1 sends none) with argv[1..] and env "K=V" strings. */
static void
send_deploy_fd (struct agent_proc *ap, int fd, const char *name, const char *const *argv,
                const char *const *env)
{
  Nexc__Agent__Deploy d = NEXC__AGENT__DEPLOY__INIT;
  Nexc__Agent__EnvVar ev[16], *evp[16];
  char keys[16][64];
  Frame f = NEXC__AGENT__FRAME__INIT;
  size_t n = 0;
  d.workload_id = "w-test";
  d.name = (char *) name;
  while (argv != NULL && argv[n] != NULL)
    n++;
  d.n_argv = n;
  d.argv = (char **) argv;
  for (n = 0; env != NULL && env[n] != NULL; n++)
    {
      const char *eq = strchr (env[n], '=');
      assert_true (n < 16 && eq != NULL && (size_t) (eq - env[n]) < sizeof keys[n]);
      memcpy (keys[n], env[n], (size_t) (eq - env[n]));
      keys[n][eq - env[n]] = '\0';
      ev[n] = (Nexc__Agent__EnvVar) NEXC__AGENT__ENV_VAR__INIT;
      ev[n].key = keys[n];
      ev[n].value = (char *) eq + 1;
      evp[n] = &ev[n];
    }
  d.n_env = n;
  d.env = evp;
  d.stop_grace_ms = 5000;
  d.logs_on_full = deploy_on_full;
  d.logs_first_seq = deploy_first_seq;
  d.logs_acked = deploy_acked;
  deploy_acked = false;
  deploy_on_full = NEXC__AGENT__DEPLOY__LOGS_ON_FULL__LOGS_ON_FULL_UNSPECIFIED;
  deploy_first_seq = 0;
  f.body_case = NEXC__AGENT__FRAME__BODY_DEPLOY;
  f.deploy = &d;
  send_frame (ap, &f, fd);
}

static void
send_deploy_named (struct agent_proc *ap, const char *exe, const char *name,
                   const char *const *argv, const char *const *env)
{
  int fd = open (exe, O_RDONLY | O_CLOEXEC);
  assert_true (fd >= 0);
  send_deploy_fd (ap, fd, name, argv, env);
  close (fd);
}

static void
send_deploy (struct agent_proc *ap, const char *exe, const char *const *argv, const char *const *env)
{
  send_deploy_named (ap, exe, exe, argv, env);
}

/* ---- the agent process ---- */

static pid_t
spawn_agent_args (int *sock_out, const char *parent, const char *sandbox)
{
  posix_spawn_file_actions_t fa;
  char *argv[] = { "nexc-agent", "--fd", "3", "--parent-pid", (char *) parent,
                   "--sandbox", (char *) sandbox, "--log-level", "info", NULL };
  char *envp[] = { NULL };
  int sv[2], child_end;
  pid_t pid;
  assert_int_equal (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  /* Keep the child's end away from 3, so dup2 really clears close-on-exec. */
  child_end = fcntl (sv[1], F_DUPFD_CLOEXEC, 10);
  assert_true (child_end >= 10);
  close (sv[1]);
  assert_int_equal (posix_spawn_file_actions_init (&fa), 0);
  assert_int_equal (posix_spawn_file_actions_adddup2 (&fa, child_end, 3), 0);
  assert_int_equal (posix_spawn (&pid, AGENT_BIN, &fa, NULL, argv, envp), 0);
  posix_spawn_file_actions_destroy (&fa);
  close (child_end);
  *sock_out = sv[0];
  return pid;
}

static int
wait_exit (pid_t pid, int timeout_ms)
{
  uint64_t t0 = timefmt_mono_ns ();
  int st;
  for (;;)
    {
      pid_t r = waitpid (pid, &st, WNOHANG);
      assert_true (r >= 0);
      if (r == pid)
        return st;
      if (ms_since (t0) > (uint64_t) timeout_ms)
        fail_msg ("process %d still running after %d ms", (int) pid, timeout_ms);
      nanosleep (&(struct timespec){ 0, 2000000 }, NULL);
    }
}

/* Spawn the agent and take its Hello. */
static void
agent_start (struct agent_proc *ap)
{
  char parent[32];
  Frame *f;
  snprintf (parent, sizeof parent, "%d", (int) getpid ());
  ap->pid = spawn_agent_args (&ap->sock, parent, "none");
  f = recv_frame (ap, RECV_TIMEOUT_MS);
  assert_int_equal (f->body_case, NEXC__AGENT__FRAME__BODY_HELLO);
  assert_string_equal (f->hello->agent_version, NEXC_VERSION);
  assert_int_equal (f->hello->pid, (uint32_t) ap->pid);
  assert_string_equal (f->hello->sandbox, "none");
  frame_free (f);
}

/* The agent's exit status once it ends by itself. */
static int
agent_wait (struct agent_proc *ap)
{
  int st = wait_exit (ap->pid, RECV_TIMEOUT_MS);
  ap->pid = 0;
  return st;
}

static int
setup (void **state)
{
  struct agent_proc *ap = calloc (1, sizeof *ap);
  if (ap == NULL)
    return -1;
  ap->sock = -1;
  *state = ap;
  return 0;
}

static int
teardown (void **state)
{
  struct agent_proc *ap = *state;
  if (ap->sock >= 0)
    close (ap->sock); /* the agent kills its workload and exits */
  if (ap->pid > 0)
    {
      uint64_t t0 = timefmt_mono_ns ();
      while (waitpid (ap->pid, NULL, WNOHANG) == 0)
        {
          if (ms_since (t0) > 5000)
            {
              kill (ap->pid, SIGKILL);
              waitpid (ap->pid, NULL, 0);
              break;
            }
          nanosleep (&(struct timespec){ 0, 2000000 }, NULL);
        }
    }
  if (ap->tmp[0])
    unlink (ap->tmp);
  free (ap);
  return 0;
}

/* ---- collecting a workload's life ---- */

static void
lines_add (struct lines *l, const uint8_t *p, size_t n)
{
  if (l->n == l->cap)
    {
      /* Doubling: a realloc per line is quadratic under ASan (every realloc
       * copies), minutes for the 200,000 lines of a flood. */
      l->cap = l->cap ? 2 * l->cap : 1024;
      l->text = realloc (l->text, l->cap * sizeof *l->text);
      l->len = realloc (l->len, l->cap * sizeof *l->len);
      assert_non_null (l->text);
      assert_non_null (l->len);
    }
  l->text[l->n] = malloc (n + 1);
  assert_non_null (l->text[l->n]);
  memcpy (l->text[l->n], p, n);
  l->text[l->n][n] = '\0';
  l->len[l->n] = n;
  l->n++;
}

static void
lines_free (struct lines *l)
{
  for (size_t i = 0; i < l->n; i++)
    free (l->text[i]);
  free (l->text);
  free (l->len);
  memset (l, 0, sizeof *l);
}

static void
result_free (struct result *r)
{
  lines_free (&r->out);
  lines_free (&r->err);
}

static void
expect_started (struct agent_proc *ap, struct result *r)
{
  Frame *f = recv_frame (ap, RECV_TIMEOUT_MS);
  if (f->body_case == NEXC__AGENT__FRAME__BODY_START_FAILED)
    fail_msg ("start failed: %s", f->start_failed->message);
  assert_int_equal (f->body_case, NEXC__AGENT__FRAME__BODY_STARTED);
  assert_true (f->started->pid > 0);
  r->pid = f->started->pid;
  frame_free (f);
}

/* Take one frame into r; returns true when it was Exited. */
static bool
take_frame (struct result *r, Frame *f)
{
  bool exited = false;
  switch (f->body_case)
    {
    case NEXC__AGENT__FRAME__BODY_LOG:
      /* The agent sends the batched form only (frame_decode checked the
       * bounds of each line). */
      assert_int_equal (f->log->stream, NEXC__AGENT__LOG__STREAM__STREAM_UNSPECIFIED);
      assert_int_equal (f->log->text.len, 0);
      assert_true (f->log->n_lines >= 1 && f->log->n_lines <= FRAME_LOG_LINES_MAX);
      for (size_t i = 0; i < f->log->n_lines; i++)
        {
          const Nexc__Agent__Log__Line *ln = f->log->lines[i];
          assert_true (ln->text.len <= FRAME_LOG_TEXT_MAX);
          lines_add (ln->stream == NEXC__AGENT__LOG__STREAM__STDOUT ? &r->out : &r->err,
                     ln->text.data, ln->text.len);
          if (ln->text.len > r->max_chunk)
            r->max_chunk = ln->text.len;
        }
      /* The sequence: contiguous but for the drops the frame reports. */
      assert_true (f->log->first_seq > f->log->dropped);
      if (r->next_seq == 0)
        r->first_seq = f->log->first_seq - f->log->dropped;
      else
        assert_int_equal (f->log->first_seq, r->next_seq + f->log->dropped);
      r->next_seq = f->log->first_seq + f->log->n_lines;
      r->logs++;
      r->lines += f->log->n_lines;
      r->dropped_sum += f->log->dropped;
      if (f->log->n_lines > r->max_batch)
        r->max_batch = f->log->n_lines;
      break;
    case NEXC__AGENT__FRAME__BODY_EXITED:
      r->code = f->exited->code;
      r->signal = f->exited->signal;
      r->stopped = f->exited->stopped;
      r->log_dropped = f->exited->log_dropped;
      r->exited_next_seq = f->exited->next_seq;
      exited = true;
      break;
    case NEXC__AGENT__FRAME__BODY_PONG:
      break;
    default:
      fail_msg ("unexpected %s frame", frame_kind (f));
    }
  frame_free (f);
  return exited;
}

static void
collect_until_exited (struct agent_proc *ap, struct result *r)
{
  while (!take_frame (r, recv_frame (ap, RECV_TIMEOUT_MS)))
    ;
}

/* Deploy, expect Started, collect to Exited, expect the agent to exit 0. */
static void
run_workload (struct agent_proc *ap, const char *exe, const char *const *argv,
              const char *const *env, struct result *r)
{
  int st;
  memset (r, 0, sizeof *r);
  send_deploy (ap, exe, argv, env);
  expect_started (ap, r);
  collect_until_exited (ap, r);
  st = agent_wait (ap);
  assert_true (WIFEXITED (st));
  assert_int_equal (WEXITSTATUS (st), 0);
}

static char *
expect_start_failed (struct agent_proc *ap)
{
  Frame *f = recv_frame (ap, RECV_TIMEOUT_MS);
  char *msg;
  int st;
  assert_int_equal (f->body_case, NEXC__AGENT__FRAME__BODY_START_FAILED);
  msg = strdup (f->start_failed->message);
  frame_free (f);
  st = agent_wait (ap);
  assert_true (WIFEXITED (st));
  assert_int_equal (WEXITSTATUS (st), 0);
  return msg;
}

/* Processes whose command line contains needle (NUL-separated argv). */
static int
count_procs (const char *needle)
{
  DIR *d = opendir ("/proc");
  struct dirent *e;
  size_t nl = strlen (needle);
  int count = 0;
  assert_non_null (d);
  while ((e = readdir (d)) != NULL)
    {
      char path[64], buf[4096];
      ssize_t n;
      int fd;
      if (e->d_name[0] < '1' || e->d_name[0] > '9')
        continue;
      snprintf (path, sizeof path, "/proc/%s/cmdline", e->d_name);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      n = read (fd, buf, sizeof buf);
      close (fd);
      if (n > 0 && memmem (buf, (size_t) n, needle, nl) != NULL)
        count++;
    }
  closedir (d);
  return count;
}

static void
wait_procs (const char *needle, int want_at_least, int timeout_ms)
{
  uint64_t t0 = timefmt_mono_ns ();
  while (count_procs (needle) < want_at_least)
    {
      if (ms_since (t0) > (uint64_t) timeout_ms)
        fail_msg ("fewer than %d processes with \"%s\" after %d ms", want_at_least, needle,
                  timeout_ms);
      nanosleep (&(struct timespec){ 0, 5000000 }, NULL);
    }
}

/* A marker unlikely to be in any other process's command line. */
static void
make_marker (char *out, size_t n)
{
  static int seq;
  snprintf (out, n, "1000.%d%03d", (int) getpid () % 100000, ++seq);
}

static const char *
make_temp_file (struct agent_proc *ap, const char *content, mode_t mode)
{
  int fd;
  snprintf (ap->tmp, sizeof ap->tmp, "/tmp/nexc-test-agent-XXXXXX");
  fd = mkstemp (ap->tmp);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, content, strlen (content)), (ssize_t) strlen (content));
  assert_int_equal (fchmod (fd, mode), 0);
  close (fd);
  return ap->tmp;
}

/* ---- tests ---- */

static void
test_hello_ping (void **state)
{
  struct agent_proc *ap = *state;
  Frame *f;
  int st;
  agent_start (ap);
  for (uint64_t nonce = 1; nonce <= 3; nonce++)
    {
      send_ping (ap, nonce * 1000003);
      f = recv_frame (ap, RECV_TIMEOUT_MS);
      assert_int_equal (f->body_case, NEXC__AGENT__FRAME__BODY_PONG);
      assert_int_equal (f->pong->nonce, nonce * 1000003);
      frame_free (f);
    }
  /* A warm agent retired by closing its link exits cleanly. */
  close (ap->sock);
  ap->sock = -1;
  st = agent_wait (ap);
  assert_true (WIFEXITED (st));
  assert_int_equal (WEXITSTATUS (st), 0);
}

static void
test_env_is_exactly_the_deploys (void **state)
{
  struct agent_proc *ap = *state;
  const char *env[] = { "FOO=bar", NULL };
  struct result r;
  agent_start (ap);
  run_workload (ap, "/usr/bin/env", NULL, env, &r);
  assert_int_equal (r.out.n, 1);
  assert_string_equal (r.out.text[0], "FOO=bar");
  assert_int_equal (r.err.n, 0);
  assert_int_equal (r.code, 0);
  assert_int_equal (r.signal, 0);
  assert_false (r.stopped);
  result_free (&r);
}

static void
test_sh_streams_and_env (void **state)
{
  struct agent_proc *ap = *state;
  const char *argv[] = { "-c", "echo out; echo err >&2; echo $FOO; env | wc -l", NULL };
  const char *env[] = { "FOO=bar", NULL };
  struct result r;
  agent_start (ap);
  run_workload (ap, "/bin/sh", argv, env, &r);
  assert_int_equal (r.out.n, 3);
  assert_string_equal (r.out.text[0], "out");
  assert_string_equal (r.out.text[1], "bar");
  /* FOO, plus what the shell itself exports (dash adds PWD): see the exact
   * check with /usr/bin/env above. */
  assert_true (atoi (r.out.text[2]) >= 1 && atoi (r.out.text[2]) <= 2);
  assert_int_equal (r.err.n, 1);
  assert_string_equal (r.err.text[0], "err");
  assert_int_equal (r.code, 0);
  result_free (&r);
}

static void
test_argv0_and_fds (void **state)
{
  struct agent_proc *ap = *state;
  /* argv[0] is the workload's name; the shell holds only 0, 1, 2 (no fd of
   * the agent, not even the executable's). */
  const char *argv[] = { "-c",
                         "tr '\\0' ' ' </proc/$$/cmdline; echo; "
                         "for f in $(seq 0 64); do [ -e /proc/$$/fd/$f ] && printf '%s ' $f; done; "
                         "echo",
                         NULL };
  const char *env[] = { "PATH=/usr/bin:/bin", NULL };
  struct result r;
  int st;
  memset (&r, 0, sizeof r);
  agent_start (ap);
  send_deploy_named (ap, "/bin/sh", "my-name", argv, env);
  expect_started (ap, &r);
  collect_until_exited (ap, &r);
  st = agent_wait (ap);
  assert_int_equal (st, 0);
  assert_int_equal (r.out.n, 2);
  assert_true (strncmp (r.out.text[0], "my-name -c tr ", 14) == 0);
  assert_string_equal (r.out.text[1], "0 1 2 ");
  result_free (&r);
}

static void
test_exit_code (void **state)
{
  struct agent_proc *ap = *state;
  const char *argv[] = { "-c", "exit 3", NULL };
  struct result r;
  agent_start (ap);
  run_workload (ap, "/bin/sh", argv, NULL, &r);
  assert_int_equal (r.code, 3);
  assert_int_equal (r.signal, 0);
  assert_false (r.stopped);
  result_free (&r);
}

static void
test_killed_by_signal (void **state)
{
  struct agent_proc *ap = *state;
  const char *argv[] = { "-c", "kill -KILL $$", NULL };
  struct result r;
  agent_start (ap);
  run_workload (ap, "/bin/sh", argv, NULL, &r);
  assert_int_equal (r.code, -1);
  assert_int_equal (r.signal, SIGKILL);
  assert_false (r.stopped);
  result_free (&r);
}

static void
test_stop_kills_everything (void **state)
{
  struct agent_proc *ap = *state;
  char marker[32], script[512];
  const char *argv[] = { "-c", script, NULL };
  struct result r;
  uint64_t t0;
  int st;
  make_marker (marker, sizeof marker);
  /* Ignores TERM, forks two children in its group and one that escapes it. */
  snprintf (script, sizeof script,
            "trap '' TERM; sleep %s & sleep %s & setsid sleep %s & echo ready; wait", marker,
            marker, marker);
  memset (&r, 0, sizeof r);
  agent_start (ap);
  send_deploy (ap, "/bin/sh", argv, NULL);
  expect_started (ap, &r);
  wait_procs (marker, 4, RECV_TIMEOUT_MS); /* the shell (its -c text) and 3 sleeps */
  t0 = timefmt_mono_ns ();
  send_stop (ap, 300);
  collect_until_exited (ap, &r);
  assert_true (ms_since (t0) >= 250); /* TERM was ignored: the grace ran out */
  assert_true (r.stopped);
  assert_int_equal (r.code, -1);
  assert_int_equal (r.signal, SIGKILL);
  assert_int_equal (r.out.n, 1);
  assert_string_equal (r.out.text[0], "ready");
  /* Exited promises every process of the workload is gone. */
  assert_int_equal (count_procs (marker), 0);
  st = agent_wait (ap);
  assert_true (WIFEXITED (st));
  assert_int_equal (WEXITSTATUS (st), 0);
  result_free (&r);
}

static void
test_stop_graceful (void **state)
{
  struct agent_proc *ap = *state;
  char marker[32], script[256];
  const char *argv[] = { "-c", script, NULL };
  struct result r;
  uint64_t t0;
  make_marker (marker, sizeof marker);
  snprintf (script, sizeof script, "trap 'echo bye; exit 7' TERM; sleep %s & wait", marker);
  memset (&r, 0, sizeof r);
  agent_start (ap);
  send_deploy (ap, "/bin/sh", argv, NULL);
  expect_started (ap, &r);
  wait_procs (marker, 2, RECV_TIMEOUT_MS);
  t0 = timefmt_mono_ns ();
  send_stop (ap, 5000);
  collect_until_exited (ap, &r);
  assert_true (ms_since (t0) < 2500); /* it did not need the grace */
  assert_true (r.stopped);
  assert_int_equal (r.code, 7);
  assert_int_equal (r.signal, 0);
  assert_int_equal (r.out.n, 1);
  assert_string_equal (r.out.text[0], "bye");
  assert_int_equal (count_procs (marker), 0);
  result_free (&r);
}

static void
test_orphans_killed_at_exit (void **state)
{
  struct agent_proc *ap = *state;
  char marker[32], script[256];
  const char *argv[] = { "-c", script, NULL };
  struct result r;
  make_marker (marker, sizeof marker);
  /* The main process exits at once and leaves a daemon behind, detached
   * from its group and its stdout. */
  snprintf (script, sizeof script, "setsid sleep %s >/dev/null 2>&1 & exit 0", marker);
  agent_start (ap);
  run_workload (ap, "/bin/sh", argv, NULL, &r);
  assert_int_equal (r.code, 0);
  assert_false (r.stopped);
  assert_int_equal (count_procs (marker), 0);
  result_free (&r);
}

static void
test_long_line_chunked (void **state)
{
  struct agent_proc *ap = *state;
  const char *argv[] = { "-c", "head -c 100000 /dev/zero | tr '\\0' x; echo; echo after", NULL };
  const char *env[] = { "PATH=/usr/bin:/bin", NULL };
  struct result r;
  size_t total = 0;
  agent_start (ap);
  run_workload (ap, "/bin/sh", argv, env, &r);
  /* 100000 = 6 * 16384 + 1696: seven pieces, then the next line. */
  assert_int_equal (r.out.n, 8);
  for (size_t i = 0; i < 7; i++)
    {
      assert_int_equal (r.out.len[i], i < 6 ? FRAME_LOG_TEXT_MAX : 1696);
      assert_int_equal (strspn (r.out.text[i], "x"), r.out.len[i]);
      total += r.out.len[i];
    }
  assert_int_equal (total, 100000);
  assert_string_equal (r.out.text[7], "after");
  assert_int_equal (r.code, 0);
  result_free (&r);
}

static void
test_partial_line_flushed (void **state)
{
  struct agent_proc *ap = *state;
  const char *argv[] = { "-c", "printf 'no newline yet'; sleep 2; echo ' end'; printf tail", NULL };
  const char *env[] = { "PATH=/usr/bin:/bin", NULL };
  struct result r;
  Frame *f;
  uint64_t t0;
  memset (&r, 0, sizeof r);
  agent_start (ap);
  send_deploy (ap, "/bin/sh", argv, env);
  expect_started (ap, &r);
  t0 = timefmt_mono_ns ();
  f = recv_frame (ap, RECV_TIMEOUT_MS);
  /* It comes after ~100 ms, well before the workload writes again. */
  assert_true (ms_since (t0) < 1500);
  assert_false (take_frame (&r, f));
  assert_int_equal (r.out.n, 1);
  assert_string_equal (r.out.text[0], "no newline yet");
  collect_until_exited (ap, &r);
  assert_int_equal (r.out.n, 3);
  assert_string_equal (r.out.text[1], " end"); /* no empty line for the newline */
  assert_string_equal (r.out.text[2], "tail"); /* flushed at EOF */
  assert_int_equal (agent_wait (ap), 0);
  result_free (&r);
}

static void
test_flood_drops_oldest (void **state)
{
  struct agent_proc *ap = *state;
  const char *argv[] = { "1", "200000", NULL };
  struct result r;
  uint64_t prev = 0;
  int st;
  memset (&r, 0, sizeof r);
  agent_start (ap);
  deploy_on_full = NEXC__AGENT__DEPLOY__LOGS_ON_FULL__DROP_OLDEST;
  send_deploy (ap, "/usr/bin/seq", argv, NULL);
  expect_started (ap, &r);
  /* The node is busy: nothing is read for a while. */
  nanosleep (&(struct timespec){ 1, 0 }, NULL);
  collect_until_exited (ap, &r);
  st = agent_wait (ap);
  assert_true (WIFEXITED (st));
  assert_int_equal (WEXITSTATUS (st), 0);
  assert_int_equal (r.code, 0);
  assert_true (r.log_dropped > 0);
  /* Every line either arrived or was counted, and counts arrived in Logs. */
  assert_int_equal (r.out.n + r.log_dropped, 200000);
  assert_int_equal (r.dropped_sum, r.log_dropped);
  /* The oldest went: what arrived is in order, and the last line is there. */
  for (size_t i = 0; i < r.out.n; i++)
    {
      uint64_t v = strtoull (r.out.text[i], NULL, 10);
      assert_true (v > prev);
      prev = v;
    }
  assert_int_equal (prev, 200000);
  /* The drops are gaps in the sequence, each reported by the next frame. */
  assert_int_equal (r.first_seq, 1);
  assert_int_equal (r.next_seq, 200001);
  assert_int_equal (r.exited_next_seq, 200001);
  /* A backlog goes out in full batches (seq's lines are short: the line cap,
   * not the frame size, bounds them). */
  assert_int_equal (r.max_batch, FRAME_LOG_LINES_MAX);
  assert_true (r.logs < r.out.n);
  print_message ("flood: %zu lines delivered in %llu Log frames, %llu dropped\n", r.out.n,
                 (unsigned long long) r.logs, (unsigned long long) r.log_dropped);
  result_free (&r);
}

/* The default policy (BLOCK): a node that does not read for a while stalls
 * the workload instead of losing its lines. */
static void
test_flood_blocks (void **state)
{
  struct agent_proc *ap = *state;
  const char *argv[] = { "1", "200000", NULL };
  struct result r;
  memset (&r, 0, sizeof r);
  agent_start (ap);
  deploy_first_seq = 41; /* as a restarted workload would continue */
  send_deploy (ap, "/usr/bin/seq", argv, NULL);
  expect_started (ap, &r);
  nanosleep (&(struct timespec){ 1, 0 }, NULL);
  collect_until_exited (ap, &r);
  assert_int_equal (agent_wait (ap), 0);
  assert_int_equal (r.code, 0);
  assert_int_equal (r.log_dropped, 0);
  assert_int_equal (r.dropped_sum, 0);
  assert_int_equal (r.out.n, 200000);
  for (size_t i = 0; i < r.out.n; i++)
    assert_int_equal (strtoull (r.out.text[i], NULL, 10), i + 1);
  assert_int_equal (r.first_seq, 41);
  assert_int_equal (r.next_seq, 41 + 200000);
  assert_int_equal (r.exited_next_seq, 41 + 200000);
  result_free (&r);
}

/* A workload blocked on a full pipe: the agent still acts on Stop at once
 * (SIGTERM ends it before the grace is over), and what it wrote until then
 * arrives whole. */
static void
test_stop_while_blocked (void **state)
{
  struct agent_proc *ap = *state;
  const char *argv[] = { "1", "100000000", NULL };
  struct result r;
  memset (&r, 0, sizeof r);
  agent_start (ap);
  send_deploy (ap, "/usr/bin/seq", argv, NULL);
  expect_started (ap, &r);
  nanosleep (&(struct timespec){ 0, 300 * 1000000L }, NULL);
  send_stop (ap, 60000);
  collect_until_exited (ap, &r);
  assert_int_equal (agent_wait (ap), 0);
  assert_true (r.stopped);
  assert_int_equal (r.signal, SIGTERM);
  assert_int_equal (r.log_dropped, 0);
  assert_true (r.out.n > 0 && r.out.n < 100000000);
  for (size_t i = 0; i + 1 < r.out.n; i++)
    assert_int_equal (strtoull (r.out.text[i], NULL, 10), i + 1);
  {
    /* The last may be cut: SIGTERM came in the middle of a write. */
    char last[24];
    snprintf (last, sizeof last, "%zu", r.out.n);
    assert_memory_equal (r.out.text[r.out.n - 1], last, strlen (r.out.text[r.out.n - 1]));
  }
  assert_int_equal (r.next_seq, r.out.n + 1);
  result_free (&r);
}

static void
send_log_ack (struct agent_proc *ap, uint64_t seq)
{
  Nexc__Agent__LogAck k = NEXC__AGENT__LOG_ACK__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  k.seq = seq;
  f.body_case = NEXC__AGENT__FRAME__BODY_LOG_ACK;
  f.log_ack = &k;
  send_frame (ap, &f, -1);
}

/* Deployed with logs_acked: every line is sent, but the agent keeps them
 * (and so does not end) until the node acknowledges them; an ack of part
 * of them is not enough. */
static void
test_lines_kept_until_acked (void **state)
{
  struct agent_proc *ap = *state;
  const char *argv[] = { "1", "3000", NULL };
  struct pollfd p = { .fd = ap->sock, .events = POLLIN };
  struct result r;
  memset (&r, 0, sizeof r);
  agent_start (ap);
  deploy_acked = true;
  send_deploy (ap, "/usr/bin/seq", argv, NULL);
  expect_started (ap, &r);
  while (r.out.n < 3000)
    assert_false (take_frame (&r, recv_frame (ap, RECV_TIMEOUT_MS)));
  send_log_ack (ap, 2999);
  assert_int_equal (poll (&p, 1, 300), 0); /* no Exited: line 3000 is not confirmed */
  send_log_ack (ap, 3000);
  collect_until_exited (ap, &r);
  assert_int_equal (agent_wait (ap), 0);
  assert_int_equal (r.out.n, 3000);
  assert_int_equal (r.log_dropped, 0);
  assert_int_equal (r.exited_next_seq, 3001);
  result_free (&r);
}

static void
test_ping_answered_during_flood (void **state)
{
  struct agent_proc *ap = *state;
  /* Lines of 100 bytes, as a real flood (and the bench) writes: the Pong
   * waits behind what the link already holds, a socket buffer of batched
   * lines, which this process then has to read line by line. */
  const char *argv[] = { "-c", "exec yes "
                         "0123456789012345678901234567890123456789012345678901234567890123456789"
                         "012345678901234567890123456789", NULL };
  const char *env[] = { "PATH=/usr/bin:/bin", NULL };
  struct result r;
  uint64_t worst = 0;
  memset (&r, 0, sizeof r);
  agent_start (ap);
  send_deploy (ap, "/bin/sh", argv, env);
  expect_started (ap, &r);
  while (r.lines < 1000)
    assert_false (take_frame (&r, recv_frame (ap, RECV_TIMEOUT_MS)));
  for (uint64_t nonce = 1; nonce <= 20; nonce++)
    {
      uint64_t t0, dt;
      bool got = false;
      /* Let the link fill up, as a busy node would. */
      nanosleep (&(struct timespec){ 0, 20000000 }, NULL);
      t0 = timefmt_mono_ns ();
      send_ping (ap, nonce);
      while (!got)
        {
          Frame *f = recv_frame (ap, RECV_TIMEOUT_MS);
          if (f->body_case == NEXC__AGENT__FRAME__BODY_PONG)
            {
              assert_int_equal (f->pong->nonce, nonce);
              got = true;
              frame_free (f);
            }
          else
            assert_false (take_frame (&r, f));
        }
      dt = ms_since (t0);
      if (dt > worst)
        worst = dt;
      lines_free (&r.out);
    }
  print_message ("ping during flood: worst round trip %llu ms, %llu lines in %llu Log frames "
                 "meanwhile\n",
                 (unsigned long long) worst, (unsigned long long) r.lines,
                 (unsigned long long) r.logs);
  assert_true (r.lines > 1000); /* it really was flooding */
  assert_true (worst < 1000); /* generous: CI runs tests in parallel, under ASan */
  send_stop (ap, 0);
  collect_until_exited (ap, &r);
  assert_true (r.stopped);
  assert_int_equal (agent_wait (ap), 0);
  result_free (&r);
}

static void
test_link_close_kills_workload (void **state)
{
  struct agent_proc *ap = *state;
  char marker[32], script[256];
  const char *argv[] = { "-c", script, NULL };
  struct result r;
  int st;
  make_marker (marker, sizeof marker);
  snprintf (script, sizeof script, "trap '' TERM HUP; sleep %s & setsid sleep %s & wait", marker,
            marker);
  memset (&r, 0, sizeof r);
  agent_start (ap);
  send_deploy (ap, "/bin/sh", argv, NULL);
  expect_started (ap, &r);
  wait_procs (marker, 3, RECV_TIMEOUT_MS);
  close (ap->sock); /* the node is gone */
  ap->sock = -1;
  st = agent_wait (ap);
  assert_true (WIFEXITED (st));
  assert_int_equal (count_procs (marker), 0);
}

static void
test_deploy_without_fd (void **state)
{
  struct agent_proc *ap = *state;
  char *msg;
  agent_start (ap);
  send_deploy_fd (ap, -1, "nothing", NULL, NULL);
  msg = expect_start_failed (ap);
  assert_non_null (strstr (msg, "fd"));
  free (msg);
}

static void
test_not_executable (void **state)
{
  struct agent_proc *ap = *state;
  const char *path = make_temp_file (ap, "just text\n", 0644);
  char *msg;
  agent_start (ap);
  send_deploy (ap, path, NULL, NULL);
  msg = expect_start_failed (ap);
  assert_non_null (strstr (msg, "fexecve"));
  assert_non_null (strstr (msg, strerror (EACCES)));
  free (msg);
}

static void
test_not_a_program (void **state)
{
  struct agent_proc *ap = *state;
  const char *path = make_temp_file (ap, "just text\n", 0755);
  char *msg;
  agent_start (ap);
  send_deploy (ap, path, NULL, NULL);
  msg = expect_start_failed (ap);
  assert_non_null (strstr (msg, "fexecve"));
  assert_non_null (strstr (msg, strerror (ENOEXEC)));
  free (msg);
}

static void
test_not_a_file (void **state)
{
  struct agent_proc *ap = *state;
  char *msg;
  agent_start (ap);
  send_deploy (ap, "/", NULL, NULL);
  msg = expect_start_failed (ap);
  assert_non_null (strstr (msg, "not a regular file"));
  free (msg);
}

static void
test_script_runs (void **state)
{
  struct agent_proc *ap = *state;
  const char *path = make_temp_file (ap, "#!/bin/sh\necho \"script $1\"\n", 0755);
  const char *argv[] = { "ok", NULL };
  struct result r;
  agent_start (ap);
  run_workload (ap, path, argv, NULL, &r);
  assert_int_equal (r.out.n, 1);
  assert_string_equal (r.out.text[0], "script ok");
  assert_int_equal (r.code, 0);
  result_free (&r);
}

static void
test_bad_env_key (void **state)
{
  struct agent_proc *ap = *state;
  const char *env[] = { "GOOD=1", "=nokey", NULL };
  char *msg;
  agent_start (ap);
  send_deploy (ap, "/usr/bin/env", NULL, env);
  msg = expect_start_failed (ap);
  assert_non_null (strstr (msg, "env[1]"));
  free (msg);
}

static void
test_second_deploy_refused (void **state)
{
  struct agent_proc *ap = *state;
  char marker[32];
  const char *argv[] = { marker, NULL };
  struct result r;
  Frame *f;
  make_marker (marker, sizeof marker);
  memset (&r, 0, sizeof r);
  agent_start (ap);
  send_deploy (ap, "/bin/sleep", argv, NULL);
  expect_started (ap, &r);
  send_deploy (ap, "/bin/sleep", argv, NULL);
  f = recv_frame (ap, RECV_TIMEOUT_MS);
  assert_int_equal (f->body_case, NEXC__AGENT__FRAME__BODY_START_FAILED);
  frame_free (f);
  assert_int_equal (agent_wait (ap), 0);
  assert_int_equal (count_procs (marker), 0);
}

static void
test_parent_check_and_usage (void **state)
{
  int sock, st;
  pid_t pid;
  (void) state;
  /* Spawned "by" pid 1: the agent finds its parent is not that and leaves. */
  pid = spawn_agent_args (&sock, "1", "none");
  st = wait_exit (pid, RECV_TIMEOUT_MS);
  assert_true (WIFEXITED (st));
  assert_int_equal (WEXITSTATUS (st), 3);
  close (sock);
  /* Only tier "none" exists for now. */
  {
    char parent[32];
    snprintf (parent, sizeof parent, "%d", (int) getpid ());
    pid = spawn_agent_args (&sock, parent, "gvisor");
    st = wait_exit (pid, RECV_TIMEOUT_MS);
    assert_true (WIFEXITED (st));
    assert_int_equal (WEXITSTATUS (st), 2);
    close (sock);
  }
}

static void
test_stop_before_deploy (void **state)
{
  struct agent_proc *ap = *state;
  Frame *f;
  agent_start (ap);
  send_stop (ap, 100);
  f = recv_frame (ap, RECV_TIMEOUT_MS);
  assert_int_equal (f->body_case, NEXC__AGENT__FRAME__BODY_EXITED);
  assert_true (f->exited->stopped);
  assert_int_equal (f->exited->code, 0);
  frame_free (f);
  assert_int_equal (agent_wait (ap), 0);
}

static void
test_sigterm_to_agent (void **state)
{
  struct agent_proc *ap = *state;
  char marker[32], script[256];
  const char *argv[] = { "-c", script, NULL };
  struct result r;
  int st;
  make_marker (marker, sizeof marker);
  snprintf (script, sizeof script, "trap '' TERM; setsid sleep %s & sleep %s", marker, marker);
  memset (&r, 0, sizeof r);
  agent_start (ap);
  send_deploy (ap, "/bin/sh", argv, NULL);
  expect_started (ap, &r);
  wait_procs (marker, 3, RECV_TIMEOUT_MS);
  kill (ap->pid, SIGTERM);
  st = agent_wait (ap);
  assert_true (WIFEXITED (st));
  assert_int_equal (WEXITSTATUS (st), 128 + SIGTERM);
  assert_int_equal (count_procs (marker), 0);
}

/* The node dies (SIGKILL): its agent dies with it (PR_SET_PDEATHSIG), and
 * so does the workload's main process. Played by a helper process that
 * spawns the agent and deploys, then gets killed. */
static void
test_node_death (void **state)
{
  char marker[32], line[32] = { 0 };
  int ready[2], agent_pid = 0, st;
  pid_t helper;
  uint64_t t0;
  (void) state;
  make_marker (marker, sizeof marker);
  assert_int_equal (pipe2 (ready, O_CLOEXEC), 0);
  helper = fork ();
  assert_true (helper >= 0);
  if (helper == 0)
    {
      struct agent_proc ap = { 0 };
      const char *argv[] = { marker, NULL };
      char parent[32];
      Frame *f;
      struct nxerr err = { 0 };
      snprintf (parent, sizeof parent, "%d", (int) getpid ());
      ap.pid = spawn_agent_args (&ap.sock, parent, "none");
      if (frame_recv (ap.sock, &f, NULL, &err) != 1)
        _exit (1);
      frame_free (f);
      send_deploy (&ap, "/bin/sleep", argv, NULL);
      if (frame_recv (ap.sock, &f, NULL, &err) != 1
          || f->body_case != NEXC__AGENT__FRAME__BODY_STARTED)
        _exit (1);
      frame_free (f);
      snprintf (line, sizeof line, "%d\n", (int) ap.pid);
      if (write (ready[1], line, strlen (line)) < 0)
        _exit (1);
      pause ();
      _exit (0);
    }
  close (ready[1]);
  assert_true (read (ready[0], line, sizeof line - 1) > 0);
  close (ready[0]);
  agent_pid = atoi (line);
  assert_true (agent_pid > 0);
  wait_procs (marker, 1, RECV_TIMEOUT_MS);
  kill (helper, SIGKILL);
  st = wait_exit (helper, RECV_TIMEOUT_MS);
  assert_true (WIFSIGNALED (st));
  t0 = timefmt_mono_ns ();
  for (;;)
    {
      char path[64], buf[512] = { 0 };
      const char *rp = NULL;
      int fd;
      bool agent_gone;
      snprintf (path, sizeof path, "/proc/%d/stat", agent_pid);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd >= 0)
        {
          if (read (fd, buf, sizeof buf - 1) > 0)
            rp = strrchr (buf, ')');
          close (fd);
        }
      /* Gone, or a zombie nobody reaped yet (we are not its parent). */
      agent_gone = fd < 0 || (rp != NULL && rp[2] == 'Z');
      if (agent_gone && count_procs (marker) == 0)
        break;
      if (ms_since (t0) > 5000)
        fail_msg ("agent %d or its workload survived the node", agent_pid);
      nanosleep (&(struct timespec){ 0, 5000000 }, NULL);
    }
}

#define T(fn) cmocka_unit_test_setup_teardown (fn, setup, teardown)

int
main (void)
{
  const struct CMUnitTest tests[] = {
    T (test_hello_ping),
    T (test_env_is_exactly_the_deploys),
    T (test_sh_streams_and_env),
    T (test_argv0_and_fds),
    T (test_exit_code),
    T (test_killed_by_signal),
    T (test_stop_kills_everything),
    T (test_stop_graceful),
    T (test_orphans_killed_at_exit),
    T (test_long_line_chunked),
    T (test_partial_line_flushed),
    T (test_flood_drops_oldest),
    T (test_flood_blocks),
    T (test_stop_while_blocked),
    T (test_lines_kept_until_acked),
    T (test_ping_answered_during_flood),
    T (test_link_close_kills_workload),
    T (test_deploy_without_fd),
    T (test_not_executable),
    T (test_not_a_program),
    T (test_not_a_file),
    T (test_script_runs),
    T (test_bad_env_key),
    T (test_second_deploy_refused),
    T (test_parent_check_and_usage),
    T (test_stop_before_deploy),
    T (test_sigterm_to_agent),
    T (test_node_death),
  };
  if (access (AGENT_BIN, X_OK) != 0)
    {
      fprintf (stderr, "%s not built\n", AGENT_BIN);
      return 1;
    }
  signal (SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
