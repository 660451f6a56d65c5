/* Control plane on real processes: PING, INFO, WPING, LAMEDUCK, events,
 * subscriptions, shutdown, NATS restarts and malformed requests. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "api/nexc.h"
#include "api/jwt.h"
#include <time.h>

static const char *const CONFIG = "{\"machine_pool_size\":1,\"sandbox\":\"none\","
                                  "\"heartbeat_interval_ms\":500,\"tags\":{\"simple\":\"true\"}}";

struct fixture {
  struct harness h;
  natsConnection *nc;
  natsSubscription *events;
};

static int
setup (void **state)
{
  struct fixture *f = calloc (1, sizeof *f);
  harness_start_nats (&f->h);
  f->nc = harness_connect (&f->h);
  /* Subscribe before the node starts so node_started is seen. */
  assert_int_equal (natsConnection_SubscribeSync (&f->events, f->nc, "$NEX.events.system.*"),
                    NATS_OK);
  natsConnection_Flush (f->nc);
  harness_start_node (&f->h, CONFIG, NULL);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  natsSubscription_Destroy (f->events);
  natsConnection_Destroy (f->nc);
  harness_stop_all (&f->h);
  free (f);
  return 0;
}

static json_t *
parse (const char *s)
{
  json_error_t e;
  json_t *j = json_loads (s, 0, &e);
  if (j == NULL)
    fail_msg ("not JSON: %s", s);
  return j;
}

/* Wait for the next event of a type on the events subscription. */
static json_t *
next_event (struct fixture *f, const char *type, int timeout_ms)
{
  for (int waited = 0; waited < timeout_ms;)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, f->events, 100) != NATS_OK)
        {
          waited += 100;
          continue;
        }
      json_t *j = parse (natsMsg_GetData (m));
      natsMsg_Destroy (m);
      if (strcmp (json_string_value (json_object_get (j, "type")), type) == 0)
        return j;
      json_decref (j);
    }
  fail_msg ("no %s event within %d ms", type, timeout_ms);
  return NULL;
}

static void
test_node_started_event (void **state)
{
  struct fixture *f = *state;
  json_t *ev = next_event (f, "node_started", 5000);
  const char *keys[] = { "data", "datacontenttype", "id", "seq", "source", "specversion", "time", "type" };
  const char *k;
  json_t *v;
  int i = 0;
  /* Keys sorted, as Go's map encoding emits them. */
  json_object_foreach (ev, k, v) assert_string_equal (k, keys[i++]);
  assert_string_equal (json_string_value (json_object_get (ev, "source")), f->h.node_id);
  assert_string_equal (json_string_value (json_object_get (ev, "specversion")), "1.0");
  assert_string_equal (
      json_string_value (json_object_get (json_object_get (ev, "data"), "id")), f->h.node_id);
  json_decref (ev);
  ev = next_event (f, "heartbeat", 3000);
  assert_non_null (json_object_get (json_object_get (ev, "data"), "uptime"));
  json_decref (ev);
}

static void
check_ping (struct fixture *f, const char *subject)
{
  char *r = harness_request (f->nc, subject, "", 0, 2000);
  char prefix[256];
  assert_non_null (r);
  /* Byte-level: envelope and field order. */
  snprintf (prefix, sizeof prefix,
            "{\"type\":\"io.nats.nex.v1.ping_response\",\"data\":{\"node_id\":\"%s\",\"version\":\"",
            f->h.node_id);
  assert_memory_equal (r, prefix, strlen (prefix));
  json_t *j = parse (r);
  json_t *d = json_object_get (j, "data");
  assert_null (json_object_get (j, "error"));
  assert_string_equal (json_string_value (json_object_get (d, "target_xkey")), f->h.node_xkey);
  assert_int_equal (json_integer_value (json_object_get (d, "running_machines")), 0);
  json_t *tags = json_object_get (d, "tags");
  assert_string_equal (json_string_value (json_object_get (tags, "simple")), "true");
  assert_string_equal (json_string_value (json_object_get (tags, "nex.os")), "linux");
  assert_non_null (json_object_get (tags, "node_name"));
  assert_non_null (json_object_get (tags, "nex.cpucount"));
  assert_string_equal (json_string_value (json_object_get (tags, "nex.unsafe")), "true");
  /* No valid_issuers in CONFIG: the node says it is open. */
  assert_string_equal (json_string_value (json_object_get (tags, "nex.open")), "true");
  const char *order[] = { "node_id", "version", "uptime", "target_xkey", "tags", "running_machines" };
  const char *k;
  json_t *v;
  int i = 0;
  json_object_foreach (d, k, v) assert_string_equal (k, order[i++]);
  json_decref (j);
  free (r);
}

static void
test_ping (void **state)
{
  struct fixture *f = *state;
  char subj[128];
  check_ping (f, "$NEX.PING");
  snprintf (subj, sizeof subj, "$NEX.PING.%s", f->h.node_id);
  check_ping (f, subj);
}

static void
test_info (void **state)
{
  struct fixture *f = *state;
  char subj[128];
  snprintf (subj, sizeof subj, "$NEX.INFO.default.%s", f->h.node_id);
  char *r = harness_request (f->nc, subj, "", 0, 2000);
  assert_non_null (r);
  json_t *j = parse (r);
  assert_string_equal (json_string_value (json_object_get (j, "type")),
                       "io.nats.nex.v1.info_response");
  json_t *d = json_object_get (j, "data");
  assert_string_equal (json_string_value (json_object_get (d, "public_xkey")), f->h.node_xkey);
  assert_true (json_integer_value (json_object_get (json_object_get (d, "memory"), "total")) > 0);
  assert_true (json_is_array (json_object_get (d, "machines")));
  assert_int_equal (json_array_size (json_object_get (d, "machines")), 0);
  assert_non_null (strstr (r, "\"machines\":[]"));
  json_t *x = json_object_get (d, "nexc");
  assert_true (json_is_true (json_object_get (x, "open")));
  assert_true (json_is_false (json_object_get (x, "lameduck_requires_jwt")));
  json_decref (j);
  free (r);
}

static void
test_wping_silent (void **state)
{
  struct fixture *f = *state;
  char *r = harness_request (f->nc, "$NEX.WPING.default", "", 0, 500);
  assert_null (r);
  r = harness_request (f->nc, "$NEX.WPING.default.nothing", "", 0, 300);
  assert_null (r);
}

static int
count_subs (const char *subsz, const char *subject)
{
  /* The monitor lists each subscription's subject; count exact entries.
   * It is Go JSON: '>' comes out as \u003e. */
  char needle[256], esc[200];
  int n = 0, o = 0;
  for (const char *c = subject; *c && o < 190; c++)
    o += *c == '>' ? snprintf (esc + o, sizeof esc - (size_t) o, "\\u003e")
                   : snprintf (esc + o, sizeof esc - (size_t) o, "%c", *c);
  snprintf (needle, sizeof needle, "\"subject\": \"%s\"", esc);
  for (const char *p = subsz; (p = strstr (p, needle)); p += strlen (needle))
    n++;
  return n;
}

static void
test_one_subscription_each (void **state)
{
  struct fixture *f = *state;
  char *body = harness_http_get (&f->h, "/subsz?subs=1&limit=10000");
  char s[128];
  assert_non_null (body);
  assert_int_equal (count_subs (body, "$NEX.PING"), 1);
  snprintf (s, sizeof s, "$NEX.PING.%s", f->h.node_id);
  assert_int_equal (count_subs (body, s), 1);
  assert_int_equal (count_subs (body, "$NEX.WPING.>"), 1);
  assert_int_equal (count_subs (body, "$NEX.AUCTION"), 1);
  snprintf (s, sizeof s, "$NEX.INFO.*.%s", f->h.node_id);
  assert_int_equal (count_subs (body, s), 1);
  snprintf (s, sizeof s, "$NEX.DEPLOY.*.%s", f->h.node_id);
  assert_int_equal (count_subs (body, s), 1);
  snprintf (s, sizeof s, "$NEX.STOP.*.%s", f->h.node_id);
  assert_int_equal (count_subs (body, s), 1);
  snprintf (s, sizeof s, "$NEX.LAMEDUCK.%s", f->h.node_id);
  assert_int_equal (count_subs (body, s), 1);
  /* No broader wildcard that would match the control subjects twice. */
  assert_int_equal (count_subs (body, "$NEX.>"), 0);
  assert_int_equal (count_subs (body, "$NEX.PING.*"), 0);
  free (body);
}

static void
test_malformed_requests (void **state)
{
  struct fixture *f = *state;
  char deploy[128], stop[128], info[128];
  static const char *bad[] = {
    "", "{", "null", "[]", "42", "\"str\"", "{\"type\":5}", "{\"location\":[]}",
    "{\"type\":\"native\"}", "{\"argv\":\"x\"}", "{\"essential\":\"yes\"}",
    "{\"type\":\"native\",\"location\":\"nats://B/k\",\"workload_jwt\":\"a.b.c\","
    "\"environment\":\"!!!\",\"sender_public_key\":\"X\"}",
    "\xff\xfe\xfd", "{\"a\":" "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
    "{\"workload_id\":5}", "{\"workload_id\":\"nope\",\"workload_jwt\":\"x\"}",
    "{\"retry_count\":-1}", "{\"trigger_subjects\":[1]}", "{\"description\":{}}",
    "{\"environment\":null,\"type\":null}",
  };
  snprintf (deploy, sizeof deploy, "$NEX.DEPLOY.default.%s", f->h.node_id);
  snprintf (stop, sizeof stop, "$NEX.STOP.default.%s", f->h.node_id);
  snprintf (info, sizeof info, "$NEX.INFO.default.%s", f->h.node_id);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      const char *subj = i >= 14 && i <= 15 ? stop : deploy;
      char *r = harness_request (f->nc, subj, bad[i], strlen (bad[i]), 2000);
      if (r == NULL)
        fail_msg ("no reply to malformed request #%zu", i);
      json_t *j = parse (r);
      const char *e = json_string_value (json_object_get (j, "error"));
      if (e == NULL || *e == '\0')
        fail_msg ("malformed request #%zu got no error: %s", i, r);
      assert_string_equal (json_string_value (json_object_get (j, "data")), "");
      json_decref (j);
      free (r);
    }
  /* Specific texts. */
  char *r = harness_request (f->nc, deploy, "", 0, 2000);
  assert_non_null (strstr (r, "Unable to deserialize deploy request: unexpected end of JSON input"));
  free (r);
  r = harness_request (f->nc, deploy, "{\"type\":\"native\"}", 17, 2000);
  assert_non_null (strstr (r, "Invalid deploy request: location is required"));
  free (r);
  r = harness_request (f->nc, deploy, "{\"essential\":\"yes\"}", 19, 2000);
  assert_non_null (strstr (r, "cannot unmarshal string into Go struct field DeployRequest.essential of type bool"));
  free (r);
  r = harness_request (f->nc, stop, "{\"workload_id\":\"nope\"}", 22, 2000);
  assert_non_null (strstr (r, "No such workload"));
  free (r);
  /* Still serving. */
  r = harness_request (f->nc, "$NEX.PING", "", 0, 2000);
  assert_non_null (r);
  free (r);
  r = harness_request (f->nc, info, "", 0, 2000);
  assert_non_null (r);
  free (r);
}

static void
test_auction (void **state)
{
  struct fixture *f = *state;
  static const char body[] = "{\"tags\":{\"simple\":\"TRUE\"},\"os\":\"linux\"}";
  char *r = harness_request (f->nc, "$NEX.AUCTION", body, sizeof body - 1, 2000);
  assert_non_null (r);
  json_t *j = parse (r);
  assert_string_equal (json_string_value (json_object_get (j, "type")),
                       "io.nats.nex.v1.auction_response");
  json_t *d = json_object_get (j, "data");
  assert_string_equal (json_string_value (json_object_get (d, "node_id")), f->h.node_id);
  assert_true (json_is_object (json_object_get (d, "capacity")));
  json_decref (j);
  free (r);
  /* Non-matching filters: silence. */
  const char *miss[] = { "{\"tags\":{\"simple\":\"false\"}}", "{\"arch\":\"s390x\"}",
                         "{\"workload_types\":[\"v8\"]}", "{\"sandboxed\":true}",
                         "{\"tags\":{\"nope\":\"x\"}}" };
  for (size_t i = 0; i < sizeof miss / sizeof miss[0]; i++)
    {
      r = harness_request (f->nc, "$NEX.AUCTION", miss[i], strlen (miss[i]), 300);
      if (r)
        fail_msg ("auction %s should be silent, got %s", miss[i], r);
    }
  /* An unparseable request counts as a match (0.2.4). */
  r = harness_request (f->nc, "$NEX.AUCTION", "not json", 8, 2000);
  assert_non_null (r);
  free (r);
}

/* A lame-duck request that must be refused, with text in its error. */
static void
lameduck_refused (struct fixture *f, const char *subj, const char *body, const char *text)
{
  char *r = harness_request (f->nc, subj, body, strlen (body), 2000);
  assert_non_null (r);
  if (strstr (r, text) == NULL)
    fail_msg ("lameduck %s: want \"%s\" in %s", body, text, r);
  free (r);
}

/* A drain needs a lame-duck token bound to this node; a token that is sent
 * is checked; a token is good once. None of the refusals puts the node in
 * lame duck mode. */
static void
lameduck_tokens (struct fixture *f, const char *subj, const char *expect)
{
  struct nkey_pair k;
  struct nxerr err = { 0 };
  char *p = NULL;
  int64_t now = (int64_t) time (NULL);
  nkey_pair_generate (NKEY_ACCOUNT, &k, &err);
  lameduck_refused (f, subj, "{\"deadline_ms\":100}", "a signed lameduck_jwt is required");
  assert_int_equal (nexc_lameduck_payload ("NOTTHISNODE", 100, &k, now, &p, &err), 0);
  lameduck_refused (f, subj, p, "the token is for another node");
  free (p);
  assert_int_equal (nexc_stop_payload (f->h.node_id, "w1", "ticker", &k, now, &p, &err), 0);
  json_t *stop = json_loads (p, 0, NULL);
  free (p);
  char body[4096];
  snprintf (body, sizeof body, "{\"deadline_ms\":100,\"lameduck_jwt\":\"%s\"}",
            json_string_value (json_object_get (stop, "workload_jwt")));
  json_decref (stop);
  lameduck_refused (f, subj, body, "not a lame-duck token");
  assert_int_equal (nexc_lameduck_payload (f->h.node_id, -1, &k, now - 3600, &p, &err), 0);
  lameduck_refused (f, subj, p, "not valid"); /* expired a minute after it was minted */
  free (p);
  char *r = harness_request (f->nc, "$NEX.PING", "", 0, 2000);
  assert_null (strstr (r, "nex.lameduck"));
  free (r);
  /* Signed, no deadline: accepted once, then refused as a replay. */
  assert_int_equal (nexc_lameduck_payload (f->h.node_id, -1, &k, now, &p, &err), 0);
  r = harness_request (f->nc, subj, p, strlen (p), 2000);
  assert_string_equal (r, expect);
  free (r);
  lameduck_refused (f, subj, p, "used before");
  free (p);
  nkey_pair_wipe (&k);
}

static void
test_lameduck (void **state)
{
  struct fixture *f = *state;
  char subj[128], deploy[128];
  snprintf (subj, sizeof subj, "$NEX.LAMEDUCK.%s", f->h.node_id);
  char expect[256];
  snprintf (expect, sizeof expect,
            "{\"type\":\"io.nats.nex.v1.lameduck_response\",\"data\":{\"node_id\":\"%s\","
            "\"success\":true}}",
            f->h.node_id);
  lameduck_tokens (f, subj, expect);
  char *r = harness_request (f->nc, subj, "", 0, 2000);
  assert_string_equal (r, expect);
  free (r);
  json_t *ev = next_event (f, "node_entered_lameduck", 3000);
  json_decref (ev);
  r = harness_request (f->nc, "$NEX.PING", "", 0, 2000);
  assert_non_null (strstr (r, "\"nex.lameduck\":\"true\""));
  free (r);
  snprintf (deploy, sizeof deploy, "$NEX.DEPLOY.default.%s", f->h.node_id);
  r = harness_request (f->nc, deploy, "{}", 2, 2000);
  assert_non_null (strstr (r, "Node is in lame duck mode. Workload deploy request rejected"));
  free (r);
  /* Repeated LAMEDUCK succeeds again. */
  r = harness_request (f->nc, subj, "", 0, 2000);
  assert_string_equal (r, expect);
  free (r);
}

static void
test_nats_restart (void **state)
{
  struct fixture *f = *state;
  char *r;
  harness_restart_nats (&f->h);
  /* Both the client and the node reconnect; the node answers again. */
  for (int i = 0; i < 100; i++)
    {
      r = harness_request (f->nc, "$NEX.PING", "", 0, 200);
      if (r)
        break;
      usleep (100000);
    }
  assert_non_null (r);
  assert_non_null (strstr (r, f->h.node_id));
  free (r);
}

static void
test_sigterm (void **state)
{
  struct fixture *f = *state;
  int status = harness_stop_node (&f->h, SIGTERM);
  assert_int_equal (status, 0);
  json_t *ev = next_event (f, "node_stopped", 3000);
  json_t *d = json_object_get (ev, "data");
  assert_string_equal (json_string_value (json_object_get (d, "id")), f->h.node_id);
  assert_true (json_is_true (json_object_get (d, "graceful")));
  json_decref (ev);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_node_started_event),
    cmocka_unit_test (test_ping),
    cmocka_unit_test (test_info),
    cmocka_unit_test (test_wping_silent),
    cmocka_unit_test (test_one_subscription_each),
    cmocka_unit_test (test_malformed_requests),
    cmocka_unit_test (test_auction),
    cmocka_unit_test (test_nats_restart),
    cmocka_unit_test (test_lameduck),
    cmocka_unit_test (test_sigterm),
  };
  return cmocka_run_group_tests_name ("control", tests, setup, teardown);
}
