/* Function workloads (type "function", node/trigger.h) on real processes:
 * a NATS request on a trigger subject runs examples/upper once in a warm
 * agent and gets its stdout back; failures, timeouts, the deny list, STOP,
 * two nodes sharing the load through the queue group, STOP while the
 * trigger subject is flooded, and the invocation latency against a plain
 * request (printed, not asserted). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/nexc.h"
#include "api/objstore.h"
#include "harness.h"

#define FN_NAME "fnupper"
#define FN_KEY "fnupper"

struct fixture {
  struct harness h;
  natsConnection *nc;
  struct nexc_client *c;
  natsSubscription *events;
  struct nkey_pair issuer, sender;
  char hash[65];
};

static json_t *
parse (const char *s, int len)
{
  json_error_t e;
  json_t *j = json_loadb (s, (size_t) len, 0, &e);
  if (j == NULL)
    fail_msg ("not JSON: %.*s", len, s);
  return j;
}

/* The second run of test_invoke_stop puts functions in tier process. */
static bool process_tier;

static void
config_for (struct fixture *f, char *out, size_t cap)
{
  snprintf (out, cap,
            "{\"machine_pool_size\":1,\"sandbox\":\"%s\",\"stop_grace_ms\":500,"
            "\"function_pool_size\":2,\"function_timeout_ms\":1000,"
            "\"deny_trigger_subjects\":[\"a.b.*\"],"
            "\"allow_trigger_subjects\":[\"_INBOX.fnok.>\"],"
            "\"uid_range\":{\"start\":%d,\"count\":1024},"
            "\"valid_issuers\":[\"%s\"]}",
            process_tier ? "process" : "none",
            /* a range of its own: tests run in parallel */
            300000 + (int) (getpid () % 64) * 1024, f->issuer.public_text);
}

static void
upload (struct fixture *f)
{
  harness_upload (f->nc, "NEXCLIFILES", FN_KEY, harness_bin ("examples/upper"), f->hash);
}

/* One message on the trigger subject a round, a round every 2 ms: the node
 * below reads each in 1 ms or more (tests/slow_msg.so), so its reading
 * thread is about half the time inside the window the shim widens, and
 * never so far behind that the server cuts it off. */
static int
publish_trigger (natsConnection *nc, uint64_t round, void *arg)
{
  (void) round;
  (void) arg;
  return natsConnection_PublishString (nc, "fn.upper", "x") == NATS_OK;
}

static struct harness_flood flood = { .publish = publish_trigger, .every_us = 2000 };

static int
setup (void **state)
{
  struct fixture *f = calloc (1, sizeof *f);
  struct nxerr err = { 0 };
  char cfg[1024];
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &f->issuer, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_CURVE, &f->sender, &err), 0);
  harness_start_nats (&f->h);
  f->nc = harness_connect (&f->h);
  assert_int_equal (nexc_client_wrap (&f->c, f->nc, &err), 0);
  f->c->timeout_ms = 5000;
  assert_int_equal (natsConnection_SubscribeSync (&f->events, f->nc, "$NEX.events.default.*"),
                    NATS_OK);
  natsSubscription_SetPendingLimits (f->events, -1, -1);
  config_for (f, cfg, sizeof cfg);
  harness_start_node (&f->h, cfg, NULL);
  upload (f);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  harness_flood_stop (&flood);
  natsSubscription_Destroy (f->events);
  nexc_client_free (f->c);
  natsConnection_Destroy (f->nc);
  harness_stop_all (&f->h);
  free (f);
  return 0;
}

/* DEPLOY to node; returns the reply envelope. */
static json_t *
deploy_raw (struct fixture *f, const char *node_id, const char *node_xkey, const char *type,
            const char *const *triggers)
{
  struct nexc_deploy_opts o = { 0 };
  struct nxerr err = { 0 };
  char *payload = NULL, *r;
  char subj[128];
  o.node_id = node_id;
  o.name = FN_NAME;
  o.key = FN_KEY;
  o.type = type;
  o.trigger_subjects = triggers;
  o.issuer = &f->issuer;
  o.sender = &f->sender;
  if (nexc_deploy_payload (f->c, &o, node_xkey, f->hash, &payload, &err) < 0)
    fail_msg ("payload: %s", err.msg);
  snprintf (subj, sizeof subj, "$NEX.DEPLOY.default.%s", node_id);
  r = harness_request (f->nc, subj, payload, strlen (payload), 10000);
  free (payload);
  if (r == NULL)
    {
      harness_dump_node_log (&f->h);
      fail_msg ("no reply to deploy");
    }
  json_t *j = parse (r, (int) strlen (r));
  free (r);
  return j;
}

static char *
deploy_fn (struct fixture *f, struct harness *h)
{
  static const char *const triggers[] = { "fn.upper", NULL };
  json_t *j = deploy_raw (f, h->node_id, h->node_xkey, "function", triggers);
  const char *e = json_string_value (json_object_get (j, "error"));
  if (e)
    fail_msg ("function deploy refused: %s", e);
  char *id = strdup (json_string_value (json_object_get (json_object_get (j, "data"), "id")));
  json_decref (j);
  return id;
}

static void
expect_refusal (struct fixture *f, const char *type, const char *const *triggers,
                const char *text)
{
  json_t *j = deploy_raw (f, f->h.node_id, f->h.node_xkey, type, triggers);
  const char *e = json_string_value (json_object_get (j, "error"));
  if (e == NULL || strcmp (e, text) != 0)
    fail_msg ("expected refusal \"%s\", got %s", text, e ? e : "success");
  json_decref (j);
}

static void
stop_fn (struct fixture *f, struct harness *h, const char *id)
{
  struct nxerr err = { 0 };
  if (nexc_stop (f->c, h->node_id, id, FN_NAME, &f->issuer, &err) < 0)
    fail_msg ("stop %s: %s", id, err.msg);
}

/* Next event of type whose source is src (NULL: any). */
static json_t *
wait_event (struct fixture *f, const char *type, const char *src, int timeout_ms)
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
          && (src == NULL || strcmp (json_string_value (json_object_get (j, "source")), src) == 0))
        return j;
      json_decref (j);
    }
  harness_dump_node_log (&f->h);
  fail_msg ("no %s event within %d ms", type, timeout_ms);
  return NULL;
}

static void
drain_events (struct fixture *f)
{
  natsMsg *m;
  while (natsSubscription_NextMsg (&m, f->events, 10) == NATS_OK)
    natsMsg_Destroy (m);
}

static uint64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static json_t *
info_machine (struct fixture *f, struct harness *h, const char *id)
{
  char subj[128];
  snprintf (subj, sizeof subj, "$NEX.INFO.default.%s", h->node_id);
  char *r = harness_request (f->nc, subj, "", 0, 2000);
  assert_non_null (r);
  json_t *j = parse (r, (int) strlen (r));
  free (r);
  json_t *ms = json_object_get (json_object_get (j, "data"), "machines");
  for (size_t i = 0; i < json_array_size (ms); i++)
    {
      json_t *m = json_array_get (ms, i);
      if (strcmp (json_string_value (json_object_get (m, "id")), id) == 0)
        {
          json_incref (m);
          json_decref (j);
          return m;
        }
    }
  json_decref (j);
  return NULL;
}

static int
cmp_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
  return x < y ? -1 : x > y;
}

/* ---- tests ---- */

static void
test_refusals (void **state)
{
  struct fixture *f = *state;
  static const char *const none[] = { NULL };
  static const char *const nex[] = { "$NEX.x", NULL };
  static const char *const sys[] = { "ok.subject", "$SYS.>", NULL };
  static const char *const js[] = { "$JS.API.INFO", NULL };
  static const char *const ab[] = { "a.>", NULL };
  static const char *const bad[] = { "a..b", NULL };
  static const char *const fine[] = { "fn.upper", NULL };
  /* valid_issuers names a key: the node is not open. */
  char *ping = harness_request (f->nc, "$NEX.PING", "", 0, 2000);
  assert_non_null (ping);
  assert_null (strstr (ping, "nex.open"));
  free (ping);
  expect_refusal (f, "function", none,
                  "at least one trigger subject is required for this workload type");
  expect_refusal (f, "native", fine,
                  "Unsupported workload type for trigger subject registration: native");
  expect_refusal (f, "function", nex,
                  "The trigger subject $NEX.x overlaps with subject(s) in this node's deny list");
  expect_refusal (f, "function", sys,
                  "The trigger subject $SYS.> overlaps with subject(s) in this node's deny list");
  expect_refusal (f, "function", js,
                  "The trigger subject $JS.API.INFO overlaps with subject(s) in this node's "
                  "deny list");
  expect_refusal (f, "function", ab,
                  "The trigger subject a.> overlaps with subject(s) in this node's deny list");
  json_t *j = deploy_raw (f, f->h.node_id, f->h.node_xkey, "function", bad);
  assert_non_null (strstr (json_string_value (json_object_get (j, "error")),
                           "Invalid trigger subject"));
  json_decref (j);
  /* Denied by default: other clients' replies and the system spaces. */
  static const char *const spaces[]
      = { "_INBOX.>", "_INBOX.abc.def", "$KV.cfg.key", "$O.store.>", "$SRV.PING", "$MQTT.sess.x",
          "$FOO.bar", NULL };
  for (int i = 0; spaces[i]; i++)
    {
      const char *one[] = { spaces[i], NULL };
      char text[200];
      snprintf (text, sizeof text,
                "The trigger subject %s overlaps with subject(s) in this node's deny list",
                spaces[i]);
      expect_refusal (f, "function", one, text);
    }
  /* ... unless the operator allows a part of them; never the 0.2.6 three,
   * never the operator's own deny list. */
  static const char *const allowed_part[] = { "_INBOX.fnok.x", NULL };
  static const char *const too_wide[] = { "_INBOX.fnok", NULL };
  expect_refusal (f, "function", too_wide,
                  "The trigger subject _INBOX.fnok overlaps with subject(s) in this node's deny "
                  "list");
  j = deploy_raw (f, f->h.node_id, f->h.node_xkey, "function", allowed_part);
  const char *e = json_string_value (json_object_get (j, "error"));
  if (e)
    fail_msg ("a trigger the operator allows was refused: %s", e);
  char *id = strdup (json_string_value (json_object_get (json_object_get (j, "data"), "id")));
  json_decref (j);
  stop_fn (f, &f->h, id);
  free (id);
}

static void
test_invoke_stop (void **state)
{
  struct fixture *f = *state;
  natsMsg *m = NULL, *req = NULL;
  drain_events (f);
  char *id = deploy_fn (f, &f->h);
  json_decref (wait_event (f, "workload_started", id, 5000));

  /* hello -> HELLO, with an event carrying the elapsed time. */
  char *r = harness_request (f->nc, "fn.upper", "hello", 5, 5000);
  if (r == NULL)
    {
      harness_dump_node_log (&f->h);
      fail_msg ("no reply from the function");
    }
  assert_string_equal (r, "HELLO");
  free (r);
  json_t *ev = wait_event (f, "function_exec_succeeded", f->h.node_id, 3000);
  json_t *d = json_object_get (ev, "data");
  assert_string_equal (json_string_value (json_object_get (d, "workload_name")), FN_NAME);
  assert_string_equal (json_string_value (json_object_get (d, "trigger_subject")), "fn.upper");
  assert_string_equal (json_string_value (json_object_get (d, "namespace")), "default");
  assert_true (json_integer_value (json_object_get (d, "elapsed_nanos")) > 0);
  json_decref (ev);

  /* The subject and the headers reach the environment. */
  assert_int_equal (natsMsg_Create (&req, "fn.upper", NULL, "env", 3), NATS_OK);
  assert_int_equal (natsMsgHeader_Set (req, "X-Test", "v1"), NATS_OK);
  if (natsConnection_RequestMsg (&m, f->nc, req, 5000) != NATS_OK)
    {
      harness_dump_node_log (&f->h);
      fail_msg ("no reply to a request with headers");
    }
  assert_int_equal (natsMsg_GetDataLength (m), (int) strlen ("fn.upper|v1"));
  assert_memory_equal (natsMsg_GetData (m), "fn.upper|v1", strlen ("fn.upper|v1"));
  natsMsg_Destroy (m);
  natsMsg_Destroy (req);

  /* A non-zero exit: no reply, a failure event. */
  drain_events (f);
  assert_null (harness_request (f->nc, "fn.upper", "fail", 4, 1500));
  ev = wait_event (f, "function_exec_failed", f->h.node_id, 3000);
  d = json_object_get (ev, "data");
  assert_string_equal (json_string_value (json_object_get (d, "trigger_subject")), "fn.upper");
  assert_non_null (strstr (json_string_value (json_object_get (d, "error")), "status 3"));
  json_decref (ev);

  /* Past function_timeout_ms (1 s): killed, "timeout", nothing left. */
  uint64_t t0 = now_ns ();
  assert_null (harness_request (f->nc, "fn.upper", "sleep", 5, 500));
  ev = wait_event (f, "function_exec_failed", f->h.node_id, 5000);
  uint64_t took_ms = (now_ns () - t0) / 1000000;
  assert_non_null (strstr (json_string_value (json_object_get (json_object_get (ev, "data"),
                                                               "error")),
                           "timeout"));
  json_decref (ev);
  assert_true (took_ms < 4000);
  for (int i = 0; i < 50 && harness_count_procs (FN_NAME) > 0; i++)
    usleep (20000);
  if (harness_count_procs (FN_NAME) != 0)
    {
      int rc = system ("ps -eo pid,ppid,stat,args | grep " FN_NAME " | grep -v grep >&2");
      (void) rc;
      fail_msg ("function processes left behind");
    }

  /* INFO: type function, runtime = execution time, counters. */
  json_t *mach = info_machine (f, &f->h, id);
  assert_non_null (mach);
  json_t *wl = json_object_get (mach, "workload");
  assert_string_equal (json_string_value (json_object_get (wl, "type")), "function");
  json_t *fnj = json_object_get (mach, "function");
  assert_true (json_integer_value (json_object_get (fnj, "succeeded")) >= 2);
  assert_true (json_integer_value (json_object_get (fnj, "failed")) >= 2);
  assert_true (json_integer_value (json_object_get (fnj, "runtime_ns")) > 0);
  json_decref (mach);

  /* Latency: function invocation vs nothing (printed for information). */
  enum { N = 200 };
  static uint64_t lat[N];
  for (int i = 0; i < N; i++)
    {
      uint64_t s = now_ns ();
      natsMsg *rep = NULL;
      natsStatus st = natsConnection_Request (&rep, f->nc, "fn.upper", "x", 1, 5000);
      lat[i] = now_ns () - s;
      natsMsg_Destroy (rep);
      if (st != NATS_OK)
        {
          harness_dump_node_log (&f->h);
          fail_msg ("invocation %d of %d: %s after %.1f ms", i + 1, N, natsStatus_GetText (st),
                    (double) lat[i] / 1e6);
        }
    }
  qsort (lat, N, sizeof lat[0], cmp_u64);
  fprintf (stderr, "function invocation latency over %d requests: p50 %.3f ms, p90 %.3f ms, "
                   "p99 %.3f ms\n",
           N, lat[N / 2] / 1e6, lat[N * 9 / 10] / 1e6, lat[N * 99 / 100] / 1e6);

  /* STOP unsubscribes: no responders afterwards. */
  drain_events (f);
  stop_fn (f, &f->h, id);
  json_decref (wait_event (f, "workload_stopped", id, 5000));
  natsStatus s = natsConnection_RequestString (&m, f->nc, "fn.upper", "hello", 2000);
  assert_int_equal (s, NATS_NO_RESPONDERS);
  natsMsg_Destroy (m);
  free (id);
}

static void
test_two_nodes_share (void **state)
{
  struct fixture *f = *state;
  struct harness h2;
  char cfg[1024];
  int on1 = 0, on2 = 0;
  memcpy (&h2, &f->h, sizeof h2);
  h2.nats_pid = 0;
  h2.node_pid = 0;
  snprintf (h2.tmpdir, sizeof h2.tmpdir, "/tmp/nexc-fn2-XXXXXX");
  assert_non_null (mkdtemp (h2.tmpdir));
  config_for (f, cfg, sizeof cfg);
  harness_start_node (&h2, cfg, NULL);
  char *id1 = deploy_fn (f, &f->h);
  char *id2 = deploy_fn (f, &h2);
  drain_events (f);
  for (int i = 0; i < 40; i++)
    {
      char *r = harness_request (f->nc, "fn.upper", "abc", 3, 5000);
      assert_non_null (r);
      assert_string_equal (r, "ABC");
      free (r);
    }
  /* Events carry the node id as source: count per node. */
  for (int got = 0; got < 40;)
    {
      json_t *ev = wait_event (f, "function_exec_succeeded", NULL, 3000);
      const char *src = json_string_value (json_object_get (ev, "source"));
      if (strcmp (src, f->h.node_id) == 0)
        on1++;
      else if (strcmp (src, h2.node_id) == 0)
        on2++;
      got++;
      json_decref (ev);
    }
  fprintf (stderr, "queue group: %d invocations on node 1, %d on node 2\n", on1, on2);
  assert_int_equal (on1 + on2, 40);
  assert_true (on1 > 0 && on2 > 0);
  stop_fn (f, &f->h, id1);
  stop_fn (f, &h2, id2);
  free (id1);
  free (id2);
  harness_stop_all (&h2);
}

/* STOP while messages keep arriving for the function: its subscriptions
 * are given up while nats.c's reading thread may be handing one of them a
 * message, holding no reference to it (nats.c 3.4.1): freed then, the node
 * crashes (node/bus/subgrave.h). The node runs under tests/slow_msg.so,
 * which holds each message 1 ms in that window. Ten deploy/stop rounds,
 * each answered with workload_stopped; the node alive and answering after,
 * and it exits 0 on SIGTERM (under ASan: no use-after-free, no leak). */
static void
test_stop_under_flood (void **state)
{
  struct fixture *f = *state;
  char cfg[1024];
  assert_int_equal (harness_stop_node (&f->h, SIGTERM), 0);
  config_for (f, cfg, sizeof cfg);
  f->h.slow_msg_us = 1000;
  harness_start_node (&f->h, cfg, NULL);
  harness_flood_start (&flood, &f->h);
  for (int round = 0; round < 10; round++)
    {
      char *id = deploy_fn (f, &f->h);
      json_decref (wait_event (f, "workload_started", id, 10000));
      usleep (30000);
      stop_fn (f, &f->h, id);
      json_decref (wait_event (f, "workload_stopped", id, 10000));
      free (id);
    }
  harness_flood_stop (&flood);
  fprintf (stderr, "stop under flood: %llu messages published on the trigger subject\n",
           (unsigned long long) flood.sent);
  char subj[128];
  snprintf (subj, sizeof subj, "$NEX.INFO.default.%s", f->h.node_id);
  char *r = harness_request (f->nc, subj, "", 0, 5000);
  if (r == NULL)
    {
      harness_dump_node_log (&f->h);
      fail_msg ("node does not answer INFO after the flood");
    }
  free (r);
  assert_int_equal (harness_stop_node (&f->h, SIGTERM), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_refusals, setup, teardown),
    cmocka_unit_test_setup_teardown (test_invoke_stop, setup, teardown),
    cmocka_unit_test_setup_teardown (test_two_nodes_share, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stop_under_flood, setup, teardown),
  };
  const struct CMUnitTest sandboxed[] = {
    cmocka_unit_test_setup_teardown (test_invoke_stop, setup, teardown),
  };
  int rc = cmocka_run_group_tests_name ("functions (tier none)", tests, NULL, NULL);
  if (rc != 0)
    return rc;
  if (!harness_process_tier_ok ())
    {
      printf ("test_functions: tier process part skipped: its preflight fails here\n");
      return 0;
    }
  process_tier = true;
  return cmocka_run_group_tests_name ("functions (tier process)", sandboxed, NULL, NULL);
}
