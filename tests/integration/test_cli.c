/* The nexc CLI against a real nats-server and node: every subcommand's
 * human and --json output and its exit codes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;

struct out {
  int code;
  char text[65536];
};

/* Run the CLI with a shell-quoted argument string; stdout only. */
static struct out *
nexc (const char *fmt, ...)
{
  static struct out o;
  char args[4096], cmd[8192];
  va_list ap;
  FILE *p;
  size_t n;
  va_start (ap, fmt);
  vsnprintf (args, sizeof args, fmt, ap);
  va_end (ap);
  snprintf (cmd, sizeof cmd, "%s %s 2>%s/cli.err", harness_bin ("api/nexc"), args, H.tmpdir);
  p = popen (cmd, "r");
  assert_non_null (p);
  n = fread (o.text, 1, sizeof o.text - 1, p);
  o.text[n] = '\0';
  int st = pclose (p);
  o.code = WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
  return &o;
}

static char *
cli_stderr (void)
{
  static char buf[8192];
  char path[400];
  snprintf (path, sizeof path, "%s/cli.err", H.tmpdir);
  FILE *f = fopen (path, "r");
  size_t n = f ? fread (buf, 1, sizeof buf - 1, f) : 0;
  buf[n] = '\0';
  if (f)
    fclose (f);
  return buf;
}

static int
setup (void **state)
{
  (void) state;
  harness_start_nats (&H);
  harness_start_node (&H, "{\"machine_pool_size\":2,\"sandbox\":\"none\",\"stop_grace_ms\":300,"
                          "\"tags\":{\"zone\":\"blue\",\"quote\":\"say \\\"hi\\\" \\\\ bye\"}}",
                      NULL);
  setenv ("NATS_URL", H.nats_url, 1);
  setenv ("HOME", H.tmpdir, 1);
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  harness_stop_all (&H);
  return 0;
}

static void
test_usage_errors (void **state)
{
  (void) state;
  assert_int_equal (nexc ("")->code, 2);
  assert_int_equal (nexc ("frobnicate")->code, 2);
  assert_non_null (strstr (cli_stderr (), "unknown command"));
  assert_int_equal (nexc ("run")->code, 2);
  assert_int_equal (nexc ("run /nonexistent/file")->code, 2);
  assert_int_equal (nexc ("--timeout abc ls")->code, 2);
  assert_int_equal (nexc ("run %s --filesystem everything", harness_bin ("examples/ticker"))->code, 2);
  assert_non_null (strstr (cli_stderr (), "is not minimal or host-ro"));
  assert_int_equal (
      nexc ("run %s --filesystem host-ro --bind-ro /lib64", harness_bin ("examples/ticker"))->code, 2);
  assert_non_null (strstr (cli_stderr (), "--bind-ro adds to a minimal root"));
  struct out *o = nexc ("--help");
  assert_int_equal (o->code, 0);
  assert_non_null (strstr (o->text, "example:"));
}

static void
test_connection_error (void **state)
{
  (void) state;
  struct out *o = nexc ("--server nats://127.0.0.1:1 nodes ls");
  assert_int_equal (o->code, 3);
  assert_non_null (strstr (cli_stderr (), "is nats-server running?"));
}

static void
test_keygen (void **state)
{
  (void) state;
  char path[400];
  struct stat st;
  struct out *o = nexc ("keygen issuer");
  assert_int_equal (o->code, 0);
  assert_memory_equal (o->text, "SA", 2);
  assert_non_null (strstr (cli_stderr (), "A"));
  o = nexc ("keygen xkey");
  assert_memory_equal (o->text, "SX", 2);
  snprintf (path, sizeof path, "%s/issuer.nk", H.tmpdir);
  o = nexc ("keygen issuer --out %s", path);
  assert_int_equal (o->code, 0);
  assert_int_equal (stat (path, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0600);
  assert_int_equal (nexc ("keygen bogus")->code, 2);
}

static void
test_nodes (void **state)
{
  (void) state;
  struct out *o = nexc ("nodes ls");
  assert_int_equal (o->code, 0);
  assert_non_null (strstr (o->text, "ID"));
  assert_non_null (strstr (o->text, H.node_id));
  o = nexc ("nodes ls --json");
  json_t *j = json_loads (o->text, JSON_DISABLE_EOF_CHECK, NULL);
  assert_non_null (j);
  assert_string_equal (json_string_value (json_object_get (j, "node_id")), H.node_id);
  /* A tag with a quote and a backslash: still valid JSON, value intact. */
  assert_string_equal (json_string_value (json_object_get (json_object_get (j, "tags"), "quote")),
                       "say \"hi\" \\ bye");
  json_decref (j);
  o = nexc ("nodes info %s --json", H.node_id);
  assert_int_equal (o->code, 0);
  j = json_loads (o->text, 0, NULL);
  assert_string_equal (json_string_value (json_object_get (j, "public_xkey")), H.node_xkey);
  json_decref (j);
  o = nexc ("--timeout 500 nodes info NBOGUS");
  assert_int_equal (o->code, 3);
}

/* A workload that ends right after it started is reported: echoservice
 * without NATS_URL exits 2 at once. Exit status 1, its code and its last
 * log lines; --wait 0 does not watch. */
static void
test_run_reports_early_end (void **state)
{
  (void) state;
  struct out *o = nexc ("run %s --name echo-early --wait 3000", harness_bin ("examples/echoservice"));
  assert_int_equal (o->code, 1);
  assert_non_null (strstr (o->text, "started echo-early as "));
  char *err = cli_stderr ();
  if (strstr (err, "echo-early ended within 3000 ms") == NULL || strstr (err, "NATS_URL is not set") == NULL)
    fail_msg ("no report of the early end: %s", err);
  o = nexc ("run %s --name echo-early --wait 3000 --json", harness_bin ("examples/echoservice"));
  assert_int_equal (o->code, 1);
  json_t *j = json_loads (o->text, 0, NULL);
  assert_non_null (j);
  assert_true (json_is_true (json_object_get (j, "ended")));
  json_t *lines = json_object_get (j, "last_lines");
  assert_true (json_array_size (lines) >= 1);
  assert_non_null (strstr (json_string_value (json_array_get (lines, json_array_size (lines) - 1)),
                           "NATS_URL is not set"));
  json_decref (j);
  /* Not watched: the deploy itself succeeded. */
  o = nexc ("run %s --name echo-early --wait 0", harness_bin ("examples/echoservice"));
  assert_int_equal (o->code, 0);
}

/* --nats-pub asks for a NATS user of the workload's own: a node without
 * workload_creds (this one) refuses the deploy and says why. */
static void
test_run_nats_needs_workload_creds (void **state)
{
  (void) state;
  struct out *o = nexc ("run %s --name wants-nats --nats-pub orders.new --wait 0",
                        harness_bin ("examples/ticker"));
  char *err = cli_stderr ();
  assert_int_not_equal (o->code, 0);
  if (strstr (err, "workload_creds is off") == NULL)
    fail_msg ("no reason given: %s", err);
}

static void
test_run_logs_events_stop (void **state)
{
  (void) state;
  char id[64];
  /* events in the background, collected to a file. */
  char cmd[2048];
  /* Long enough for a loaded machine under ASan: the file is read until the
   * lame-duck event shows, the command then exits on its own. */
  snprintf (cmd, sizeof cmd,
            "%s events --json --timeout 20000 > %s/events.out 2>&1 & echo $! > %s/events.pid",
            harness_bin ("api/nexc"), H.tmpdir, H.tmpdir);
  assert_int_equal (system (cmd), 0);
  usleep (300000);
  struct out *o = nexc ("run %s --name tick --env TICK_MS=50 --tag zone=blue --json",
                        harness_bin ("examples/ticker"));
  if (o->code != 0)
    fail_msg ("run failed: %s", cli_stderr ());
  json_t *j = json_loads (o->text, 0, NULL);
  assert_non_null (j);
  snprintf (id, sizeof id, "%s", json_string_value (json_object_get (j, "id")));
  assert_string_equal (json_string_value (json_object_get (j, "node_id")), H.node_id);
  assert_int_equal (strlen (json_string_value (json_object_get (j, "hash"))), 64);
  json_decref (j);

  o = nexc ("ls");
  assert_non_null (strstr (o->text, id));
  o = nexc ("ls --json");
  assert_non_null (strstr (o->text, "\"name\":\"tick\""));

  /* logs: lines in order. */
  o = nexc ("logs --workload tick --timeout 800");
  assert_int_equal (o->code, 0);
  int last = -1, lines = 0;
  for (char *p = o->text; (p = strstr (p, "tick ")); p += 5)
    {
      int v;
      if (sscanf (p, "tick %d", &v) == 1 && p[-1] == ' ')
        {
          if (last >= 0)
            assert_true (v > last);
          last = v;
          lines++;
        }
    }
  assert_true (lines >= 3);

  /* An auction with no matching node. */
  o = nexc ("run %s --name x --tag zone=red", harness_bin ("examples/ticker"));
  assert_int_equal (o->code, 3);

  /* Stop: refused for another issuer (exit 1), then done by ours. */
  char other[400];
  snprintf (other, sizeof other, "%s/other.nk", H.tmpdir);
  nexc ("keygen issuer --out %s", other);
  o = nexc ("stop %s --issuer %s", id, other);
  assert_int_equal (o->code, 1);
  assert_non_null (strstr (cli_stderr (), "the only entity allowed"));
  o = nexc ("stop %s", id);
  if (o->code != 0)
    fail_msg ("stop failed: %s", cli_stderr ());
  assert_non_null (strstr (o->text, "stopped"));
  assert_int_equal (nexc ("stop %s", id)->code, 1); /* gone now */

  sleep (1);
  o = nexc ("lameduck %s", H.node_id); /* last: it refuses deploys afterwards */
  assert_int_equal (o->code, 0);
  /* events saw started and stopped. */
  char path[400], buf[65536];
  snprintf (path, sizeof path, "%s/events.out", H.tmpdir);
  for (int i = 0; i < 80; i++)
    {
      FILE *f = fopen (path, "r");
      size_t n = f ? fread (buf, 1, sizeof buf - 1, f) : 0;
      buf[n] = 0;
      if (f)
        fclose (f);
      if (strstr (buf, "node_entered_lameduck"))
        break;
      usleep (100000);
    }
  /* Seen what it was for: it goes now, not at its timeout (nothing left
   * behind the test). */
  {
    FILE *pf;
    int pid = 0;
    snprintf (path, sizeof path, "%s/events.pid", H.tmpdir);
    pf = fopen (path, "r");
    if (pf && fscanf (pf, "%d", &pid) == 1 && pid > 1)
      {
        kill (pid, SIGTERM);
        for (int i = 0; i < 100 && kill (pid, 0) == 0; i++)
          usleep (20000);
      }
    if (pf)
      fclose (pf);
  }
  assert_non_null (strstr (buf, "\"type\":\"workload_started\""));
  assert_non_null (strstr (buf, "\"type\":\"workload_stopped\""));
  assert_non_null (strstr (buf, id));
  o = nexc ("run %s --name late", harness_bin ("examples/ticker"));
  assert_int_equal (o->code, 3); /* a lame-duck node does not bid */
}

/* A function workload: run per message on its trigger subject, its stdout
 * the reply; the flags must come together. */
static void
test_run_function (void **state)
{
  struct out *o;
  char id[64];
  (void) state;
  o = nexc ("run %s --name up --trigger fn.cli.upper", harness_bin ("examples/upper"));
  assert_int_equal (o->code, 2);
  assert_non_null (strstr (cli_stderr (), "--trigger needs --type function"));
  o = nexc ("run %s --name up --type function", harness_bin ("examples/upper"));
  assert_int_equal (o->code, 2);
  assert_non_null (strstr (cli_stderr (), "needs --trigger SUBJECT"));
  o = nexc ("run %s --name up --type function --trigger fn.cli.upper --trigger fn.cli.upper2 "
            "--node %s --json",
            harness_bin ("examples/upper"), H.node_id);
  if (o->code != 0)
    fail_msg ("run failed: %s", cli_stderr ());
  json_t *j = json_loads (o->text, 0, NULL);
  assert_non_null (j);
  snprintf (id, sizeof id, "%s", json_string_value (json_object_get (j, "id")));
  json_decref (j);
  o = nexc ("--timeout 5000 req fn.cli.upper hello");
  assert_int_equal (o->code, 0);
  assert_non_null (strstr (o->text, "HELLO"));
  o = nexc ("--timeout 5000 req fn.cli.upper2 again");
  assert_int_equal (o->code, 0);
  assert_non_null (strstr (o->text, "AGAIN"));
  o = nexc ("stop %s", id);
  assert_int_equal (o->code, 0);
}

/* A 20 MB artifact: on a terminal `run` shows its upload progress, and the
 * node verifies the hash before the workload runs (its INFO hash is the
 * file's sha256). script(1) gives the CLI a terminal. */
static void
test_run_big_file_with_progress (void **state)
{
  (void) state;
  char big[400], cmd[4096], out[400];
  snprintf (big, sizeof big, "%s/bigticker", H.tmpdir);
  snprintf (out, sizeof out, "%s/script.out", H.tmpdir);
  /* The ticker with 20 MB of padding after its ELF image still runs. */
  snprintf (cmd, sizeof cmd, "cp %s %s && head -c 20971520 /dev/zero >> %s",
            harness_bin ("examples/ticker"), big, big);
  assert_int_equal (system (cmd), 0);
  snprintf (cmd, sizeof cmd,
            "script -qec '%s run %s --name bigtick --env TICK_MS=500 --timeout 20000' %s "
            ">/dev/null 2>&1",
            harness_bin ("api/nexc"), big, out);
  assert_int_equal (system (cmd), 0);
  FILE *f = fopen (out, "r");
  static char text[65536];
  size_t n = f ? fread (text, 1, sizeof text - 1, f) : 0;
  text[n] = '\0';
  if (f)
    fclose (f);
  assert_non_null (strstr (text, "upload ["));
  assert_non_null (strstr (text, "100%"));
  assert_non_null (strstr (text, "started bigtick as "));
  /* The sha256 the CLI printed is the one the node verified and reports. */
  char *sha = strstr (text, "(sha256 ");
  assert_non_null (sha);
  char hex[65];
  memcpy (hex, sha + 8, 64);
  hex[64] = '\0';
  struct out *o = nexc ("nodes info %s --json", H.node_id);
  assert_non_null (strstr (o->text, hex));
  o = nexc ("ls --json");
  json_t *j = json_loads (o->text, JSON_DISABLE_EOF_CHECK, NULL);
  (void) j;
  json_decref (j);
  char id[64] = "";
  char *p = strstr (o->text, "\"name\":\"bigtick\"");
  assert_non_null (p);
  char *idp = strstr (o->text, "\"id\":\"");
  while (idp && strstr (idp, "\"name\":\"bigtick\"") != p && idp < p)
    {
      char *next = strstr (idp + 1, "\"id\":\"");
      if (next == NULL || next > p)
        break;
      idp = next;
    }
  assert_non_null (idp);
  memcpy (id, idp + 6, 20);
  assert_int_equal (nexc ("stop %s", id)->code, 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_usage_errors),  cmocka_unit_test (test_connection_error),
    cmocka_unit_test (test_keygen),        cmocka_unit_test (test_nodes),
    cmocka_unit_test (test_run_big_file_with_progress),
    cmocka_unit_test (test_run_function),
    cmocka_unit_test (test_run_reports_early_end),
    cmocka_unit_test (test_run_nats_needs_workload_creds),
    cmocka_unit_test (test_run_logs_events_stop),
  };
  return cmocka_run_group_tests_name ("cli", tests, setup, teardown);
}
