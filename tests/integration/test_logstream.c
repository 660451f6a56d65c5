/* Log retention and replay (issue #15, part 4), on real processes: a node
 * with logs.stream makes the JetStream stream with the configured limits
 * (read back as stream info, and in INFO); one that finds a stream of the
 * name with other settings leaves it alone and says what differs; lines a
 * workload (examples/ticker) wrote while nobody listened come back from
 * `nexc logs --since`, in order, then the new ones, with no repeat and no
 * gap (checked in the text the CLI prints and in Nexc-Seq through the
 * client library), a line published again with a Nexc-Seq already seen (as
 * after a node restart) not shown twice; `--since` without a stream fails
 * with a message; a config with an invalid stream section is refused.
 * Nothing here times anything: every wait is for something to be seen. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/nexc.h"
#include "harness.h"

extern char **environ;

#define STREAM "NEXC_LOGS"

/* No journal, no reattach sockets: if a test fails before its cleanup, the
 * harness's exit kills the node and its agents die with it (a journaled
 * agent would detach and run on). */
static const char *const NODE_ARGS[] = { "--ephemeral-identity", NULL };
#define TICK_MAX 100000

struct fixture {
  struct harness h;
  natsConnection *nc;
  struct nexc_client *c;
  struct nkey_pair issuer;
};

static void
fixture_start (struct fixture *f, const char *config)
{
  struct nxerr err = { 0 };
  memset (f, 0, sizeof *f);
  nkey_pair_generate (NKEY_ACCOUNT, &f->issuer, &err);
  harness_start_nats (&f->h);
  f->nc = harness_connect (&f->h);
  assert_int_equal (nexc_client_wrap (&f->c, f->nc, &err), 0);
  f->c->timeout_ms = 10000;
  if (config)
    harness_start_node (&f->h, config, NODE_ARGS);
}

static void
fixture_stop (struct fixture *f)
{
  nexc_client_free (f->c);
  natsConnection_Destroy (f->nc);
  harness_stop_all (&f->h);
}

static void
deploy_ticker (struct fixture *f, const char *name, char id[64])
{
  const char *env[] = { "TICK_MS=20", NULL };
  struct nexc_deploy_opts o = { 0 };
  struct nexc_deploy_result r;
  struct nxerr err = { 0 };
  o.node_id = f->h.node_id;
  o.file = harness_bin ("examples/ticker");
  o.key = "ticker";
  o.name = name;
  o.env = env;
  o.issuer = &f->issuer;
  if (nexc_deploy (f->c, &o, &r, &err) < 0)
    fail_msg ("deploy %s: %s", name, err.msg);
  snprintf (id, 64, "%s", r.id);
}

/* The stream's info, or NULL while there is none. */
static jsStreamInfo *
stream_info (struct fixture *f, const char *name)
{
  jsCtx *js = NULL;
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  assert_int_equal (natsConnection_JetStream (&js, f->nc, NULL), NATS_OK);
  if (js_GetStreamInfo (&si, js, name, NULL, &jerr) != NATS_OK)
    si = NULL;
  jsCtx_Destroy (js);
  return si;
}

static jsStreamInfo *
wait_stream (struct fixture *f, const char *name)
{
  for (int i = 0; i < 200; i++)
    {
      jsStreamInfo *si = stream_info (f, name);
      if (si)
        return si;
      usleep (50000);
    }
  harness_dump_node_log (&f->h);
  fail_msg ("stream %s never appeared", name);
  return NULL;
}

static uint64_t
stream_msgs (struct fixture *f)
{
  jsStreamInfo *si = stream_info (f, STREAM);
  uint64_t n = si ? si->State.Msgs : 0;
  jsStreamInfo_Destroy (si);
  return n;
}

/* INFO's nexc.logs.stream.state once it is no longer "pending". */
static char *
info_stream_state (struct fixture *f)
{
  struct nxerr err = { 0 };
  for (int i = 0; i < 200; i++)
    {
      char *data = NULL;
      json_t *j, *st;
      char *state = NULL;
      if (nexc_node_info (f->c, f->h.node_id, &data, &err) < 0)
        fail_msg ("INFO: %s", err.msg);
      j = json_loads (data, 0, NULL);
      free (data);
      st = json_object_get (json_object_get (json_object_get (json_object_get (j, "nexc"), "logs"),
                                             "stream"),
                            "state");
      if (json_is_string (st) && strcmp (json_string_value (st), "pending") != 0)
        state = strdup (json_string_value (st));
      json_decref (j);
      if (state)
        return state;
      usleep (50000);
    }
  fail_msg ("INFO never reported the stream's state");
  return NULL;
}

/* Start `nexc logs ARGS...` with stdout and stderr to files of tmpdir. */
static pid_t
spawn_cli (struct fixture *f, const char *out, const char *const *args)
{
  char *argv[32], serr[400], sout[400];
  posix_spawn_file_actions_t fa;
  pid_t pid;
  int n = 0;
  snprintf (sout, sizeof sout, "%s/%s.out", f->h.tmpdir, out);
  snprintf (serr, sizeof serr, "%s/%s.err", f->h.tmpdir, out);
  argv[n++] = (char *) harness_bin ("api/nexc");
  argv[n++] = (char *) "--server";
  argv[n++] = f->h.nats_url;
  argv[n++] = (char *) "logs";
  for (int i = 0; args[i] && n < 31; i++)
    argv[n++] = (char *) args[i];
  argv[n] = NULL;
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 1, sout, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen (&fa, 2, serr, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (posix_spawn (&pid, argv[0], &fa, NULL, argv, environ) != 0)
    fail_msg ("spawn nexc: %s", strerror (errno));
  posix_spawn_file_actions_destroy (&fa);
  return pid;
}

static int
wait_cli (pid_t pid)
{
  int st = 0;
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

static char *
slurp (struct fixture *f, const char *name)
{
  char path[400];
  FILE *fp;
  long n;
  char *b;
  snprintf (path, sizeof path, "%s/%s", f->h.tmpdir, name);
  fp = fopen (path, "r");
  if (fp == NULL)
    return strdup ("");
  fseek (fp, 0, SEEK_END);
  n = ftell (fp);
  rewind (fp);
  b = calloc (1, (size_t) n + 1);
  if (fread (b, 1, (size_t) n, fp) != (size_t) n)
    n = 0;
  b[n] = '\0';
  fclose (fp);
  return b;
}

/* What the CLI printed of ticker: how often each "tick N" and "warning N"
 * came, the highest tick, and lines that are neither. */
struct printed {
  unsigned char ticks[TICK_MAX + 1], warnings[TICK_MAX + 1];
  long max_tick, other, first_tick;
};

static void
parse_printed (const char *text, const char *id, struct printed *p)
{
  char want[128];
  memset (p, 0, sizeof *p);
  snprintf (want, sizeof want, "tick %s ", id);
  for (const char *l = text; *l;)
    {
      const char *e = strchr (l, '\n');
      char line[512];
      long n;
      size_t len = e ? (size_t) (e - l) : strlen (l);
      snprintf (line, sizeof line, "%.*s", (int) len, l);
      l += len + (e ? 1 : 0);
      if (strncmp (line, want, strlen (want)) != 0)
        {
          p->other++;
          continue;
        }
      const char *rest = line + strlen (want);
      if (sscanf (rest, "INFO  tick %ld", &n) == 1 && n >= 1 && n <= TICK_MAX
          && !strstr (rest, "REPEAT"))
        {
          if (p->first_tick == 0)
            p->first_tick = n;
          p->ticks[n]++;
          if (n > p->max_tick)
            p->max_tick = n;
        }
      else if (sscanf (rest, "ERROR warning %ld", &n) == 1 && n >= 1 && n <= TICK_MAX)
        p->warnings[n]++;
      else
        p->other++;
    }
}

/* ---- the tests ---- */

/* The node creates the stream with what the config says; INFO says so. */
static void
test_stream_created_with_limits (void **state)
{
  struct fixture *f = *state;
  jsStreamInfo *si;
  char *st;
  fixture_start (f, "{\"machine_pool_size\":1,\"sandbox\":\"none\",\"metrics_interval_ms\":0,"
                    "\"logs\":{\"stream\":{\"name\":\"APP_LOGS\",\"max_age\":\"2h\","
                    "\"max_bytes\":8388608}}}");
  si = wait_stream (f, "APP_LOGS");
  assert_int_equal (si->Config->SubjectsLen, 1);
  assert_string_equal (si->Config->Subjects[0], "$NEX.logs.>");
  assert_int_equal (si->Config->MaxAge, 2ll * 3600 * 1000000000);
  assert_int_equal (si->Config->MaxBytes, 8388608);
  assert_int_equal (si->Config->Storage, js_FileStorage);
  assert_int_equal (si->Config->Retention, js_LimitsPolicy);
  assert_int_equal (si->Config->Discard, js_DiscardOld);
  assert_int_equal (si->Config->Replicas, 1);
  jsStreamInfo_Destroy (si);
  st = info_stream_state (f);
  assert_string_equal (st, "created");
  free (st);
  assert_true (harness_node_log_has (&f->h, "created JetStream stream APP_LOGS"));
  fixture_stop (f);
}

/* A stream of that name with other settings is someone else's: left as it
 * is, each difference named. */
static void
test_existing_stream_left_alone (void **state)
{
  struct fixture *f = *state;
  jsStreamInfo *si;
  char *st;
  fixture_start (f, NULL);
  harness_stream_create (f->nc, STREAM, "$NEX.logs.>");
  harness_start_node (&f->h, "{\"machine_pool_size\":1,\"sandbox\":\"none\","
                             "\"metrics_interval_ms\":0,\"logs\":{\"stream\":true}}",
                      NODE_ARGS);
  st = info_stream_state (f);
  assert_string_equal (st, "differs");
  free (st);
  if (!harness_node_log_has (&f->h, "exists with other settings, left as it is")
      || !harness_node_log_has (&f->h, "max_age unlimited (config: 1d)")
      || !harness_node_log_has (&f->h, "max_bytes -1 (config: 1073741824)"))
    {
      harness_dump_node_log (&f->h);
      fail_msg ("no warning naming the differences");
    }
  si = stream_info (f, STREAM);
  assert_non_null (si);
  assert_int_equal (si->Config->MaxAge, 0);
  assert_int_equal (si->Config->MaxBytes, -1);
  jsStreamInfo_Destroy (si);
  fixture_stop (f);
}

/* Lines written while nobody listened, then the live ones: the CLI prints
 * ticks 1, 2, 3, ... each once, past what the stream held when it started;
 * a republished line (same Nexc-Seq) is not shown again; through the
 * library, Nexc-Seq goes 1, 2, 3, ... across the seam. */
static void
test_replay_then_follow (void **state)
{
  struct fixture *f = *state;
  char id[64], subj[256], payload[256], tail[32];
  struct printed *p = calloc (1, sizeof *p);
  uint64_t before;
  natsMsg *m = NULL;
  pid_t pid;
  char *out, *err_text;
  fixture_start (f, "{\"machine_pool_size\":1,\"sandbox\":\"none\",\"metrics_interval_ms\":0,"
                    "\"stop_grace_ms\":300,\"logs\":{\"stream\":true}}");
  jsStreamInfo_Destroy (wait_stream (f, STREAM));
  deploy_ticker (f, "tick", id);
  /* No subscriber anywhere: only the stream keeps these. */
  for (int i = 0; i < 400 && stream_msgs (f) < 60; i++)
    usleep (50000);
  assert_true (stream_msgs (f) >= 60);
  /* The node republishing line 3 after a restart (at-least-once). */
  snprintf (subj, sizeof subj, "$NEX.logs.default.%s.tick.%s", f->h.node_id, id);
  snprintf (payload, sizeof payload, "{\"text\":\"tick 3 REPEAT\",\"level\":\"INFO\",\"id\":\"%s\"}",
            id);
  assert_int_equal (natsMsg_Create (&m, subj, NULL, payload, (int) strlen (payload)), NATS_OK);
  assert_int_equal (natsMsgHeader_Set (m, "Nexc-Seq", "3"), NATS_OK);
  assert_int_equal (natsConnection_PublishMsg (f->nc, m), NATS_OK);
  natsMsg_Destroy (m);
  assert_int_equal (natsConnection_Flush (f->nc), NATS_OK);
  before = stream_msgs (f);

  /* The CLI: history, then it keeps following until we have seen lines
   * that came after it started, then SIGTERM. */
  const char *args[] = { "--workload", "tick", "--since", "10m", NULL };
  pid = spawn_cli (f, "since", args);
  snprintf (tail, sizeof tail, "tick %llu\n", (unsigned long long) before + 30);
  for (int i = 0; i < 400; i++)
    {
      out = slurp (f, "since.out");
      bool done = strstr (out, tail) != NULL;
      free (out);
      if (done)
        break;
      usleep (50000);
    }
  kill (pid, SIGTERM);
  assert_int_equal (wait_cli (pid), 0);
  out = slurp (f, "since.out");
  err_text = slurp (f, "since.err");
  parse_printed (out, id, p);
  if (p->max_tick < (long) before + 30 || p->other != 0 || p->first_tick != 1)
    fail_msg ("nexc logs --since printed (stderr: %s):\n%.3000s", err_text, out);
  for (long n = 1; n <= p->max_tick; n++)
    if (p->ticks[n] != 1)
      fail_msg ("tick %ld printed %d times (want once)", n, p->ticks[n]);
  for (long n = 5; n + 5 <= p->max_tick; n += 5)
    if (p->warnings[n] != 1)
      fail_msg ("warning %ld printed %d times (want once)", n, p->warnings[n]);
  assert_null (strstr (out, "REPEAT"));
  free (out);
  free (err_text);

  /* The library: Nexc-Seq from 1, each once, past the seam. */
  {
    struct nexc_logs_filter fl = { .workload = "tick" };
    struct nexc_log_follow *lf = NULL;
    struct nexc_log_line l;
    struct nxerr err = { 0 };
    uint64_t next = 1, live_from = stream_msgs (f) + 20;
    assert_int_equal (nexc_logs_follow (f->c, &fl, STREAM, 600000, &lf, &err), 0);
    while (next <= live_from)
      {
        int got = nexc_logs_next (lf, 10000, &l, &err);
        if (got <= 0)
          fail_msg ("no line after Nexc-Seq %llu: %s", (unsigned long long) next - 1,
                    got < 0 ? err.msg : "timeout");
        if (l.seq != next)
          fail_msg ("Nexc-Seq %llu after %llu", (unsigned long long) l.seq,
                    (unsigned long long) next - 1);
        assert_non_null (l.stream_seq);
        assert_string_equal (l.id, id);
        next++;
      }
    assert_int_equal (nexc_logs_repeats (lf), 1); /* the republished line 3 */
    nexc_logs_close (lf);
  }
  free (p);
  fixture_stop (f);
}

/* No stream (the node was not told to keep one): --since says what it
 * needs and exits 1; plain `logs` still works. */
static void
test_since_without_stream (void **state)
{
  struct fixture *f = *state;
  char *err_text;
  pid_t pid;
  fixture_start (f, "{\"machine_pool_size\":1,\"sandbox\":\"none\",\"metrics_interval_ms\":0}");
  const char *args[] = { "--workload", "tick", "--since", "10m", "--timeout", "5000", NULL };
  pid = spawn_cli (f, "nostream", args);
  assert_int_equal (wait_cli (pid), 1);
  err_text = slurp (f, "nostream.err");
  if (!strstr (err_text, "nexc logs --since needs a JetStream stream of the logs (node config "
                         "logs.stream); none named NEXC_LOGS"))
    fail_msg ("stderr: %s", err_text);
  free (err_text);
  const char *bad[] = { "--since", "10", NULL };
  pid = spawn_cli (f, "badsince", bad);
  assert_int_equal (wait_cli (pid), 2);
  err_text = slurp (f, "badsince.err");
  assert_non_null (strstr (err_text, "--since: \"10\" is not a duration"));
  free (err_text);
  const char *plain[] = { "--workload", "tick", "--timeout", "300", NULL };
  pid = spawn_cli (f, "plain", plain);
  assert_int_equal (wait_cli (pid), 0);
  fixture_stop (f);
}

/* The node refuses to start on an invalid stream section, naming it. */
static void
test_invalid_stream_config_refused (void **state)
{
  static const char *const bad[][2] = {
    { "{\"logs\":{\"stream\":{\"replicas\":9}}}", "logs.stream.replicas: 9 is out of range [1, 5]" },
    { "{\"logs\":{\"stream\":{\"name\":\"a.b\"}}}", "logs.stream.name: must match" },
    { "{\"logs\":{\"stream\":{\"max_age\":\"forever\"}}}", "logs.stream.max_age: \"forever\" is not a duration" },
    { "{\"logs\":{\"stream\":{\"subjects\":[\">\"]}}}", "logs.stream.subjects: not a setting" },
  };
  struct fixture *f = *state;
  fixture_start (f, NULL);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      char cfg[400], state_dir[400], log[400], *text;
      char *argv[] = { (char *) harness_bin ("node/nexc-node"), (char *) "up", (char *) "--config",
                       cfg, (char *) "--server", f->h.nats_url, (char *) "--state-dir", state_dir,
                       NULL };
      posix_spawn_file_actions_t fa;
      pid_t pid;
      FILE *fp;
      snprintf (cfg, sizeof cfg, "%s/bad%zu.json", f->h.tmpdir, i);
      snprintf (state_dir, sizeof state_dir, "%s/bad-state", f->h.tmpdir);
      snprintf (log, sizeof log, "bad%zu.log", i);
      fp = fopen (cfg, "w");
      assert_non_null (fp);
      fputs (bad[i][0], fp);
      fclose (fp);
      char logpath[500];
      snprintf (logpath, sizeof logpath, "%s/%s", f->h.tmpdir, log);
      posix_spawn_file_actions_init (&fa);
      posix_spawn_file_actions_addopen (&fa, 2, logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
      assert_int_equal (posix_spawn (&pid, argv[0], &fa, NULL, argv, environ), 0);
      posix_spawn_file_actions_destroy (&fa);
      assert_int_equal (wait_cli (pid), 78);
      text = slurp (f, log);
      if (!strstr (text, bad[i][1]))
        fail_msg ("%s: stderr %s lacks %s", bad[i][0], text, bad[i][1]);
      free (text);
    }
  fixture_stop (f);
}

/* On a cluster of three, a stream without "replicas" gets three (and is
 * made once the cluster's JetStream has its leader: the node retries). */
static void
test_cluster_gets_three_replicas (void **state)
{
  struct harness h[3];
  natsConnection *nc;
  jsCtx *js = NULL;
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  (void) state;
  memset (h, 0, sizeof h);
  harness_start_cluster (h, 3);
  harness_start_node (&h[0], "{\"machine_pool_size\":1,\"sandbox\":\"none\","
                             "\"metrics_interval_ms\":0,\"logs\":{\"stream\":true}}",
                      NODE_ARGS);
  nc = harness_connect (&h[1]);
  assert_int_equal (natsConnection_JetStream (&js, nc, NULL), NATS_OK);
  for (int i = 0; i < 300 && js_GetStreamInfo (&si, js, STREAM, NULL, &jerr) != NATS_OK; i++)
    usleep (50000);
  if (si == NULL)
    {
      harness_dump_node_log (&h[0]);
      fail_msg ("no stream %s on the cluster", STREAM);
    }
  assert_int_equal (si->Config->Replicas, 3);
  jsStreamInfo_Destroy (si);
  jsCtx_Destroy (js);
  natsConnection_Destroy (nc);
  for (int i = 0; i < 3; i++)
    harness_stop_all (&h[i]);
}

static int
setup (void **state)
{
  *state = calloc (1, sizeof (struct fixture));
  return *state ? 0 : -1;
}

static int
teardown (void **state)
{
  free (*state);
  return 0;
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_stream_created_with_limits, setup, teardown),
    cmocka_unit_test_setup_teardown (test_existing_stream_left_alone, setup, teardown),
    cmocka_unit_test_setup_teardown (test_replay_then_follow, setup, teardown),
    cmocka_unit_test_setup_teardown (test_since_without_stream, setup, teardown),
    cmocka_unit_test_setup_teardown (test_invalid_stream_config_refused, setup, teardown),
    cmocka_unit_test (test_cluster_gets_three_replicas),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
