/* Deploy and stop on real processes: a workload uploaded to a JetStream
 * object store, deployed with a signed JWT and a sealed environment, its
 * logs and events observed as a subscriber sees them, refusals of every
 * unsafe request, and nothing left behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/nexc.h"
#include "api/objstore.h"
#include "harness.h"

struct fixture {
  struct harness h;
  natsConnection *nc;
  struct nexc_client *c;
  natsSubscription *events;
  natsSubscription *logs;
  struct nkey_pair issuer, issuer2, stranger, sender, other_sender;
  char config[2048];
};

static struct fixture *F;

static json_t *
parse (const char *s, int len)
{
  json_error_t e;
  json_t *j = json_loadb (s, (size_t) len, 0, &e);
  if (j == NULL)
    fail_msg ("not JSON: %.*s", len, s);
  return j;
}

static int
setup (void **state)
{
  struct fixture *f = calloc (1, sizeof *f);
  struct nxerr err = { 0 };
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &f->issuer, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &f->issuer2, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &f->stranger, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_CURVE, &f->sender, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_CURVE, &f->other_sender, &err), 0);
  snprintf (f->config, sizeof f->config,
            "{\"machine_pool_size\":2,\"sandbox\":\"none\",\"stop_grace_ms\":500,"
            "\"valid_issuers\":[\"%s\",\"%s\"],\"requester_public_keys\":[\"%s\"],"
            "\"node_limits\":{\"max_workload_bytes\":4194304}}",
            f->issuer.public_text, f->issuer2.public_text, f->sender.public_text);
  harness_start_nats (&f->h);
  harness_client (&f->h, &f->nc, &f->c, &f->events, &f->logs);
  harness_start_node (&f->h, f->config, NULL);
  F = f;
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  natsSubscription_Destroy (f->events);
  natsSubscription_Destroy (f->logs);
  nexc_client_free (f->c);
  natsConnection_Destroy (f->nc);
  harness_stop_all (&f->h);
  free (f);
  return 0;
}

/* Upload a file to NEXCLIFILES under key; returns its sha256 hex. */
static void
upload (struct fixture *f, const char *path, const char *key, char hex[65])
{
  harness_upload (f->nc, "NEXCLIFILES", key, path, hex);
}

struct dep {
  const char *name, *key, *hash;
  const char *const *env;
  const char *const *argv;
  const struct nkey_pair *issuer, *sender, *claimed_sender;
  bool essential;
  struct deploy_restart restart;
};

/* Send a DEPLOY; returns the reply envelope (json) */
static json_t *
deploy_raw (struct fixture *f, const struct dep *d, char **payload_out)
{
  struct nexc_deploy_opts o = { 0 };
  struct nxerr err = { 0 };
  char *payload = NULL;
  char subj[128];
  o.node_id = f->h.node_id;
  o.name = d->name;
  o.key = d->key ? d->key : d->name;
  o.env = d->env;
  o.argv = d->argv;
  o.essential = d->essential;
  o.restart = d->restart;
  o.issuer = d->issuer ? d->issuer : &f->issuer;
  o.sender = d->sender ? d->sender : &f->sender;
  if (nexc_deploy_payload (f->c, &o, f->h.node_xkey, d->hash, &payload, &err) < 0)
    fail_msg ("payload: %s", err.msg);
  if (d->claimed_sender) /* lie about who sealed it */
    {
      char *p = strstr (payload, o.sender->public_text);
      memcpy (p, d->claimed_sender->public_text, 56);
    }
  snprintf (subj, sizeof subj, "$NEX.DEPLOY.default.%s", f->h.node_id);
  char *r = harness_request (f->nc, subj, payload, strlen (payload), 10000);
  if (r == NULL)
    fail_msg ("no reply to deploy of %s", d->name);
  json_t *j = parse (r, (int) strlen (r));
  free (r);
  if (payload_out)
    *payload_out = payload;
  else
    free (payload);
  return j;
}

static const char *
reply_error (json_t *j)
{
  return json_string_value (json_object_get (j, "error"));
}

static char *
deploy_ok (struct fixture *f, const struct dep *d)
{
  json_t *j = deploy_raw (f, d, NULL);
  if (reply_error (j))
    fail_msg ("deploy of %s refused: %s", d->name, reply_error (j));
  json_t *data = json_object_get (j, "data");
  assert_true (json_is_true (json_object_get (data, "started")));
  assert_string_equal (json_string_value (json_object_get (data, "name")), d->name);
  assert_string_equal (json_string_value (json_object_get (data, "issuer")),
                       (d->issuer ? d->issuer : &f->issuer)->public_text);
  char *id = strdup (json_string_value (json_object_get (data, "id")));
  json_decref (j);
  return id;
}

static void
expect_refusal (struct fixture *f, const struct dep *d, const char *text)
{
  json_t *j = deploy_raw (f, d, NULL);
  const char *e = reply_error (j);
  if (e == NULL || strstr (e, text) == NULL)
    fail_msg ("deploy of %s: expected error containing \"%s\", got %s", d->name, text,
              e ? e : "success");
  assert_string_equal (json_string_value (json_object_get (j, "data")), "");
  json_decref (j);
}

/* Next event of type for workload id (NULL: any). */
static json_t *
wait_event (struct fixture *f, const char *type, const char *id, int timeout_ms)
{
  for (int waited = 0; waited < timeout_ms;)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, f->events, 100) != NATS_OK)
        {
          waited += 100;
          continue;
        }
      json_t *j = parse (natsMsg_GetData (m), natsMsg_GetDataLength (m));
      natsMsg_Destroy (m);
      if (strcmp (json_string_value (json_object_get (j, "type")), type) == 0
          && (id == NULL || strcmp (json_string_value (json_object_get (j, "source")), id) == 0))
        return j;
      json_decref (j);
    }
  fail_msg ("no %s event for %s within %d ms", type, id ? id : "any", timeout_ms);
  return NULL;
}

/* Count events of type for id arriving within ms. */
static int
count_events (struct fixture *f, const char *type, const char *id, int ms)
{
  int n = 0;
  for (int waited = 0; waited < ms;)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, f->events, 50) != NATS_OK)
        {
          waited += 50;
          continue;
        }
      json_t *j = parse (natsMsg_GetData (m), natsMsg_GetDataLength (m));
      natsMsg_Destroy (m);
      if (strcmp (json_string_value (json_object_get (j, "type")), type) == 0
          && strcmp (json_string_value (json_object_get (j, "source")), id) == 0)
        n++;
      json_decref (j);
    }
  return n;
}

static void
stop_ok (struct fixture *f, const char *id, const char *name)
{
  struct nxerr err = { 0 };
  if (nexc_stop (f->c, f->h.node_id, id, name, &f->issuer, &err) < 0)
    fail_msg ("stop %s: %s", id, err.msg);
}

static void
drain (natsSubscription *s)
{
  natsMsg *m;
  while (natsSubscription_NextMsg (&m, s, 10) == NATS_OK)
    natsMsg_Destroy (m);
}

static json_t *
info (struct fixture *f)
{
  char subj[128];
  snprintf (subj, sizeof subj, "$NEX.INFO.default.%s", f->h.node_id);
  char *r = harness_request (f->nc, subj, "", 0, 2000);
  assert_non_null (r);
  json_t *j = parse (r, (int) strlen (r));
  free (r);
  return j;
}

static int
warm_agents (struct fixture *f)
{
  json_t *j = info (f);
  int n = (int) json_integer_value (json_object_get (
      json_object_get (json_object_get (json_object_get (j, "data"), "nexc"), "pool"), "warm"));
  json_decref (j);
  return n;
}

static void
wait_pool_full (struct fixture *f)
{
  for (int i = 0; i < 100 && warm_agents (f) < 2; i++)
    usleep (50000);
  assert_int_equal (warm_agents (f), 2);
}

static const char *
example (const char *name)
{
  static char path[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf (path[k], sizeof path[k], "%s/examples/%s", NEXC_BUILD_DIR, name);
  return path[k];
}

/* ---- tests ---- */

static void
test_deploy_logs_events_stop (void **state)
{
  struct fixture *f = *state;
  char hex[65];
  const char *env[] = { "TICK_MS=50", "foo=bar", NULL };
  struct dep d = { .name = "ticker", .env = env };
  upload (f, example ("ticker"), "ticker", hex);
  d.hash = hex;
  drain (f->events);
  drain (f->logs);
  char *id = deploy_ok (f, &d);
  json_t *ev = wait_event (f, "workload_started", id, 3000);
  assert_string_equal (
      json_string_value (json_object_get (json_object_get (ev, "data"), "workload_name")),
      "ticker");
  json_decref (ev);

  /* Log lines: documented subject order, levels, sequence header. */
  char want_subj[256];
  snprintf (want_subj, sizeof want_subj, "$NEX.logs.default.%s.ticker.%s", f->h.node_id, id);
  int seen_info = 0, seen_err = 0;
  long long last_seq = 0;
  for (int i = 0; i < 400 && (seen_info < 3 || seen_err < 1); i++)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, f->logs, 100) != NATS_OK)
        continue;
      assert_string_equal (natsMsg_GetSubject (m), want_subj);
      json_t *j = parse (natsMsg_GetData (m), natsMsg_GetDataLength (m));
      const char *k;
      json_t *v;
      const char *order[] = { "text", "level", "id" };
      int o = 0;
      json_object_foreach (j, k, v) assert_string_equal (k, order[o++]);
      const char *text = json_string_value (json_object_get (j, "text"));
      const char *level = json_string_value (json_object_get (j, "level"));
      const char *seq = NULL;
      assert_int_equal (natsMsgHeader_Get (m, "Nexc-Seq", &seq), NATS_OK);
      assert_int_equal (atoll (seq), last_seq + 1);
      last_seq = atoll (seq);
      if (strncmp (text, "tick ", 5) == 0)
        {
          assert_string_equal (level, "INFO");
          seen_info++;
        }
      else if (strncmp (text, "warning ", 8) == 0)
        {
          assert_string_equal (level, "ERROR");
          seen_err++;
        }
      json_decref (j);
      natsMsg_Destroy (m);
    }
  assert_true (seen_info >= 3);
  assert_true (seen_err >= 1);

  /* WPING and INFO list it, with the artifact hash. */
  char *r = harness_request (f->nc, "$NEX.WPING.default.ticker", "", 0, 2000);
  assert_non_null (r);
  assert_non_null (strstr (r, id));
  free (r);
  json_t *in = info (f);
  json_t *m0 = json_array_get (json_object_get (json_object_get (in, "data"), "machines"), 0);
  assert_string_equal (json_string_value (json_object_get (m0, "id")), id);
  assert_string_equal (
      json_string_value (json_object_get (json_object_get (m0, "workload"), "hash")), hex);
  long long info_lines = json_integer_value (json_object_get (m0, "log_lines"));
  json_decref (in);

  /* The node keeps each INFO entry encoded between requests (node/control/
   * info.c): a later INFO still shows the lines published since. */
  long long got_seq = 0;
  for (int i = 0; i < 100 && got_seq < info_lines + 3; i++)
    {
      natsMsg *m = NULL;
      const char *seq = NULL;
      if (natsSubscription_NextMsg (&m, f->logs, 100) != NATS_OK)
        continue;
      if (natsMsgHeader_Get (m, "Nexc-Seq", &seq) == NATS_OK)
        got_seq = atoll (seq);
      natsMsg_Destroy (m);
    }
  assert_true (got_seq >= info_lines + 3);
  in = info (f);
  m0 = json_array_get (json_object_get (json_object_get (in, "data"), "machines"), 0);
  assert_true (json_integer_value (json_object_get (m0, "log_lines")) >= got_seq);
  assert_int_equal (json_integer_value (json_object_get (m0, "log_lines")),
                    json_integer_value (json_object_get (json_object_get (m0, "metrics"),
                                                         "log_lines")));
  json_decref (in);

  /* A stop from another issuer is refused. */
  struct nxerr err = { 0 };
  assert_int_equal (nexc_stop (f->c, f->h.node_id, id, "ticker", &f->issuer2, &err), -1);
  assert_non_null (strstr (err.msg, "the only entity allowed to terminate a workload is the issuer"));

  stop_ok (f, id, "ticker");
  ev = wait_event (f, "workload_stopped", id, 3000);
  json_decref (ev);
  assert_int_equal (count_events (f, "workload_stopped", id, 500), 0); /* exactly once */
  wait_pool_full (f);
  r = harness_request (f->nc, "$NEX.WPING.default.ticker", "", 0, 300);
  assert_null (r);
  free (id);
}

static void
test_environment_is_exact (void **state)
{
  struct fixture *f = *state;
  char hex[65];
  const char *env[] = { "alpha=1", "BETA=two words", NULL };
  struct dep d = { .name = "printenv", .env = env };
  upload (f, "/usr/bin/env", "printenv", hex);
  d.hash = hex;
  drain (f->logs);
  char *id = deploy_ok (f, &d);
  json_t *ev = wait_event (f, "workload_stopped", id, 3000);
  assert_int_equal (json_integer_value (json_object_get (json_object_get (ev, "data"), "code")), 0);
  json_decref (ev);
  int n = 0, alpha = 0, beta = 0;
  natsMsg *m;
  while (natsSubscription_NextMsg (&m, f->logs, 300) == NATS_OK)
    {
      json_t *j = parse (natsMsg_GetData (m), natsMsg_GetDataLength (m));
      const char *t = json_string_value (json_object_get (j, "text"));
      n++;
      alpha += strcmp (t, "ALPHA=1") == 0;
      beta += strcmp (t, "BETA=two words") == 0;
      json_decref (j);
      natsMsg_Destroy (m);
    }
  assert_int_equal (n, 2); /* exactly the given variables, keys upper-cased */
  assert_int_equal (alpha, 1);
  assert_int_equal (beta, 1);
  free (id);
}

static void
test_stop_kills_every_child (void **state)
{
  struct fixture *f = *state;
  char hex[65];
  struct dep d = { .name = "forkerzq" };
  upload (f, example ("forker"), "forkerzq", hex);
  d.hash = hex;
  char *id = deploy_ok (f, &d);
  json_decref (wait_event (f, "workload_started", id, 3000));
  for (int i = 0; i < 50 && harness_count_procs ("forkerzq") < 4; i++)
    usleep (20000);
  assert_true (harness_count_procs ("forkerzq") >= 4);
  stop_ok (f, id, "forkerzq");
  json_t *ev = wait_event (f, "workload_stopped", id, 5000);
  json_decref (ev);
  assert_int_equal (harness_count_procs ("forkerzq"), 0);
  free (id);
}

static void
test_refusals (void **state)
{
  struct fixture *f = *state;
  char hex[65], bighex[65];
  char big[256];
  struct dep d = { .name = "ticker" };
  upload (f, example ("ticker"), "ticker", hex);

  d.hash = "0000000000000000000000000000000000000000000000000000000000000000";
  expect_refusal (f, &d, "does not match the workload JWT hash claim");
  d.hash = "abc12345TODOmakethisreal"; /* the stock CLI's placeholder */
  expect_refusal (f, &d, "is not the lowercase hex sha256 of the artifact");

  d.hash = hex;
  d.issuer = &f->stranger;
  expect_refusal (f, &d, "invalid workload issuer: ");
  d.issuer = NULL;

  d.sender = &f->other_sender;
  expect_refusal (f, &d, "sender public key");
  d.sender = NULL;

  /* Sealed by one key, claimed by an allowed other: the box does not open. */
  d.sender = &f->other_sender;
  d.claimed_sender = &f->sender;
  expect_refusal (f, &d, "Failed to decrypt environment for deploy request: nkeys: could not decrypt input");
  d.sender = NULL;
  d.claimed_sender = NULL;

  d.name = "bad.name";
  expect_refusal (f, &d, "does not match requirements");
  d.name = "ticker";

  /* (A hash never cached; test_store_view.c refuses the same with a cached one.) */
  d.key = "nosuchobject";
  d.hash = "1111111111111111111111111111111111111111111111111111111111111111";
  expect_refusal (f, &d, "Failed to cache workload bytes: nats: object not found");
  d.key = NULL;
  d.hash = hex;

  /* Oversize: a 5 MiB artifact against max_workload_bytes 4 MiB. */
  snprintf (big, sizeof big, "%s/big.bin", f->h.tmpdir);
  {
    int fd = open (big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char blk[65536];
    memset (blk, 'x', sizeof blk);
    for (int i = 0; i < 80; i++)
      assert_int_equal (write (fd, blk, sizeof blk), (ssize_t) sizeof blk);
    close (fd);
  }
  upload (f, big, "big", bighex);
  struct dep b = { .name = "big", .hash = bighex };
  expect_refusal (f, &b, "Workload file size would exceed node limitations");

  /* Replay: the same signed request twice. */
  char *payload = NULL;
  json_t *j = deploy_raw (f, &d, &payload);
  assert_null (reply_error (j));
  char *id = strdup (json_string_value (json_object_get (json_object_get (j, "data"), "id")));
  json_decref (j);
  char subj[128];
  snprintf (subj, sizeof subj, "$NEX.DEPLOY.default.%s", f->h.node_id);
  char *r = harness_request (f->nc, subj, payload, strlen (payload), 5000);
  assert_non_null (strstr (r, "has been used before"));
  free (r);
  free (payload);
  stop_ok (f, id, "ticker");
  json_decref (wait_event (f, "workload_stopped", id, 3000));
  free (id);
  /* The node still serves. */
  r = harness_request (f->nc, "$NEX.PING", "", 0, 2000);
  assert_non_null (r);
  free (r);
}

static void
test_agent_killed (void **state)
{
  struct fixture *f = *state;
  char hex[65];
  const char *env[] = { "TICK_MS=100", NULL };
  struct dep d = { .name = "victim", .env = env };
  upload (f, example ("ticker"), "victim", hex);
  d.hash = hex;
  char *id = deploy_ok (f, &d);
  json_decref (wait_event (f, "workload_started", id, 3000));
  /* Find the agent running it: the parent of the process named victim. */
  pid_t agent = 0;
  DIR *dir = opendir ("/proc");
  struct dirent *e;
  while ((e = readdir (dir)))
    {
      char p[300], buf[512];
      snprintf (p, sizeof p, "/proc/%s/cmdline", e->d_name);
      FILE *fp = fopen (p, "r");
      if (!fp)
        continue;
      size_t n = fread (buf, 1, sizeof buf - 1, fp);
      fclose (fp);
      buf[n] = 0;
      if (strcmp (buf, "victim") == 0)
        {
          snprintf (p, sizeof p, "/proc/%s/stat", e->d_name);
          fp = fopen (p, "r");
          int pid, ppid;
          char comm[64], st;
          if (fp && fscanf (fp, "%d %63s %c %d", &pid, comm, &st, &ppid) == 4)
            agent = ppid;
          if (fp)
            fclose (fp);
        }
    }
  closedir (dir);
  assert_true (agent > 1);
  kill (agent, SIGKILL);
  json_t *ev = wait_event (f, "workload_stopped", id, 3000);
  json_decref (ev);
  wait_pool_full (f);
  char *r = harness_request (f->nc, "$NEX.WPING.default.victim", "", 0, 300);
  assert_null (r);
  free (id);
}

static int
count_fds (pid_t pid)
{
  char p[64];
  int n = 0;
  snprintf (p, sizeof p, "/proc/%d/fd", (int) pid);
  DIR *d = opendir (p);
  struct dirent *e;
  while (d && (e = readdir (d)))
    n += e->d_name[0] != '.';
  if (d)
    closedir (d);
  return n;
}

/* Processes whose parent is ppid and whose comm is name: the node's own
 * agents, whatever else runs on the machine (tests run in parallel). */
static int
count_children (pid_t ppid, const char *name)
{
  return harness_children (ppid, name, NULL, 0);
}

static void
test_fifty_cycles_leave_nothing (void **state)
{
  struct fixture *f = *state;
  char hex[65];
  const char *env[] = { "TICK_MS=1000", NULL };
  upload (f, example ("ticker"), "cycler", hex);
  wait_pool_full (f);
  int fds_before = count_fds (f->h.node_pid);
  int agents_before = count_children (f->h.node_pid, "nexc-agent");
  assert_int_equal (agents_before, 2);
  for (int i = 0; i < 50; i++)
    {
      struct dep d = { .name = "cycler", .env = env, .hash = hex };
      char *id = deploy_ok (f, &d);
      stop_ok (f, id, "cycler");
      json_decref (wait_event (f, "workload_stopped", id, 3000));
      free (id);
    }
  wait_pool_full (f);
  usleep (200000);
  assert_int_equal (harness_count_procs ("cycler"), 0);
  assert_int_equal (count_children (f->h.node_pid, "nexc-agent"), agents_before);
  assert_int_equal (count_fds (f->h.node_pid), fds_before);
  /* No temp files in the artifact cache. */
  char p[400];
  snprintf (p, sizeof p, "%s/artifacts", f->h.node_state_dir);
  DIR *d = opendir (p);
  struct dirent *e;
  while (d && (e = readdir (d)))
    if (e->d_name[0] == '.' && strcmp (e->d_name, ".") && strcmp (e->d_name, ".."))
      fail_msg ("temp file left in the cache: %s", e->d_name);
  if (d)
    closedir (d);
}

static void
test_essential_restart (void **state)
{
  struct fixture *f = *state;
  char hex[65];
  const char *env[] = { "CRASH_AFTER_MS=100", "EXIT_CODE=3", NULL };
  struct dep d = { .name = "crasher", .env = env, .essential = true };
  upload (f, example ("crasher"), "crasher", hex);
  d.hash = hex;
  drain (f->events);
  char *id = deploy_ok (f, &d);
  json_t *ev = wait_event (f, "workload_stopped", id, 3000);
  assert_int_equal (json_integer_value (json_object_get (json_object_get (ev, "data"), "code")), 3);
  json_decref (ev);
  /* Restarted after a backoff under the same id, with its restart count. */
  ev = wait_event (f, "workload_started", id, 3000);
  assert_int_equal (
      json_integer_value (json_object_get (json_object_get (ev, "data"), "restarts")), 1);
  json_decref (ev);
  /* A STOP ends the restarts (whether it lands in a run or a backoff). */
  stop_ok (f, id, "crasher");
  drain (f->events);
  assert_int_equal (count_events (f, "workload_started", id, 1500), 0);
  free (id);
}

static void
test_restart_policy_gives_up (void **state)
{
  struct fixture *f = *state;
  char hex[65];
  const char *env[] = { "CRASH_AFTER_MS=10", "EXIT_CODE=4", NULL };
  struct dep d = { .name = "crasher", .env = env };
  d.restart.present = true;
  d.restart.policy = DEPLOY_RESTART_ON_FAILURE;
  d.restart.max_restarts = 2;
  d.restart.backoff_ms = 50;
  upload (f, example ("crasher"), "crasher", hex);
  d.hash = hex;
  drain (f->events);
  char *id = deploy_ok (f, &d);
  /* The first run and two restarts end; then the policy gives up. */
  for (int i = 0; i < 3; i++)
    json_decref (wait_event (f, "workload_stopped", id, 3000));
  json_t *ev = wait_event (f, "workload_given_up", id, 3000);
  const char *msg
      = json_string_value (json_object_get (json_object_get (ev, "data"), "message"));
  assert_non_null (strstr (msg, "2 restarts without a stable run"));
  json_decref (ev);
  char *r = harness_request (f->nc, "$NEX.WPING.default.crasher", "", 0, 300);
  assert_null (r);
  free (id);
}

static void
test_stop_during_backoff (void **state)
{
  struct fixture *f = *state;
  char hex[65];
  const char *env[] = { "CRASH_AFTER_MS=10", "EXIT_CODE=0", NULL };
  struct dep d = { .name = "crasher", .env = env };
  d.restart.present = true;
  d.restart.policy = DEPLOY_RESTART_ALWAYS; /* a clean exit restarts too */
  d.restart.backoff_ms = 3000;
  upload (f, example ("crasher"), "crasher", hex);
  d.hash = hex;
  drain (f->events);
  char *id = deploy_ok (f, &d);
  json_decref (wait_event (f, "workload_stopped", id, 3000));
  /* Waiting out its backoff: listed, not healthy, stoppable. */
  char *r = harness_request (f->nc, "$NEX.WPING.default.crasher", "", 0, 1000);
  assert_non_null (r);
  free (r);
  json_t *in = info (f);
  json_t *m0 = json_array_get (json_object_get (json_object_get (in, "data"), "machines"), 0);
  assert_true (json_is_false (json_object_get (m0, "healthy")));
  json_decref (in);
  stop_ok (f, id, "crasher");
  assert_int_equal (count_events (f, "workload_started", id, 3500), 0);
  r = harness_request (f->nc, "$NEX.WPING.default.crasher", "", 0, 300);
  assert_null (r);
  free (id);
}

/* A workload's last lines reach a subscriber before its workload_stopped:
 * one subscription to both subjects sees them in the server's order. The
 * node ends the workload only once the server confirmed the lines the
 * agent sent before its Exited (its own flush of the data connection), and
 * only then publishes the event. Several runs, each ending with the line
 * the ticker prints on SIGTERM. */
static void
test_last_lines_before_stopped (void **state)
{
  struct fixture *f = *state;
  char hex[65], logs[256], stopped[160];
  const char *env[] = { "TICK_MS=1000", NULL };
  struct dep d = { .name = "ticker", .env = env };
  natsSubscription *both = NULL;
  upload (f, example ("ticker"), "ticker", hex);
  d.hash = hex;
  assert_int_equal (natsConnection_SubscribeSync (&both, f->nc, "$NEX.>"), NATS_OK);
  natsSubscription_SetPendingLimits (both, -1, -1);
  snprintf (stopped, sizeof stopped, "$NEX.events.default.workload_stopped");
  for (int run = 0; run < 5; run++)
    {
      char *id = deploy_ok (f, &d);
      bool last_line = false, ended = false;
      snprintf (logs, sizeof logs, "$NEX.logs.default.%s.ticker.%s", f->h.node_id, id);
      bool ticking = false;
      json_decref (wait_event (f, "workload_started", id, 3000));
      /* Its first tick: its SIGTERM handler is in place (it is set before
       * the first tick; a slow start, as under ASan, could otherwise take
       * the SIGTERM before it and print nothing). */
      for (int i = 0; i < 100 && !ticking; i++)
        {
          natsMsg *m = NULL;
          if (natsSubscription_NextMsg (&m, both, 100) != NATS_OK)
            continue;
          ticking = strcmp (natsMsg_GetSubject (m), logs) == 0
                    && strstr (natsMsg_GetData (m), "tick 1") != NULL;
          natsMsg_Destroy (m);
        }
      assert_true (ticking);
      stop_ok (f, id, "ticker");
      for (int i = 0; i < 100 && !ended; i++)
        {
          natsMsg *m = NULL;
          if (natsSubscription_NextMsg (&m, both, 100) != NATS_OK)
            continue;
          if (strcmp (natsMsg_GetSubject (m), logs) == 0
              && strstr (natsMsg_GetData (m), "ticker stopping") != NULL)
            last_line = true;
          else if (strcmp (natsMsg_GetSubject (m), stopped) == 0
                   && strstr (natsMsg_GetData (m), id) != NULL)
            ended = true;
          natsMsg_Destroy (m);
        }
      if (ended && !last_line)
        harness_dump_node_log (&f->h);
      assert_true (ended);
      assert_true (last_line); /* else the event came first */
      json_decref (wait_event (f, "workload_stopped", id, 3000));
      wait_pool_full (f);
      free (id);
    }
  natsSubscription_Destroy (both);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_deploy_logs_events_stop),
    cmocka_unit_test (test_environment_is_exact),
    cmocka_unit_test (test_last_lines_before_stopped),
    cmocka_unit_test (test_stop_kills_every_child),
    cmocka_unit_test (test_refusals),
    cmocka_unit_test (test_agent_killed),
    cmocka_unit_test (test_fifty_cycles_leave_nothing),
    cmocka_unit_test (test_essential_restart),
    cmocka_unit_test (test_restart_policy_gives_up),
    cmocka_unit_test (test_stop_during_backoff),
  };
  return cmocka_run_group_tests_name ("deploy", tests, setup, teardown);
}
