/* Lifecycle events survive the node (node/outbox.h): a workload ends while
 * the nats-server is away, so its workload_stopped waits in the node's
 * reconnect buffer; the node is then killed (SIGKILL) before the server is
 * back. The restarted node publishes that event again, from its journal,
 * with the same CloudEvent id, and nothing is published twice without it.
 * And a node killed after journaling a workload's workload_stopped but
 * before forgetting the workload: the node that takes the workload back
 * republishes that event and does not announce the same end again. */
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
#include <time.h>
#include <unistd.h>

#include "api/buf.h"
#include "api/cloudevent.h"
#include "api/nexc.h"
#include "harness.h"
#include "node/state/journal.h"

static const char *CONFIG = "{\"machine_pool_size\":1,\"sandbox\":\"none\",\"stop_grace_ms\":300,"
                            "\"metrics_interval_ms\":0}";

struct seen {
  const char *id; /* the workload */
  int started, stopped, copies;
  char ids[16][64]; /* CloudEvent ids counted */
  int n_ids;
  char stopped_id[64], message[256];
};

static void
on_event (const char *data, int len, void *arg)
{
  struct seen *s = arg;
  json_t *j = json_loadb (data, (size_t) len, 0, NULL);
  const char *type = json_string_value (json_object_get (j, "type"));
  const char *src = json_string_value (json_object_get (j, "source"));
  const char *eid = json_string_value (json_object_get (j, "id"));
  if (type && src && eid && strcmp (src, s->id) == 0)
    {
      int i;
      for (i = 0; i < s->n_ids && strcmp (s->ids[i], eid) != 0; i++)
        ;
      if (i < s->n_ids)
        s->copies++; /* the same event again: allowed, recognisable by its id */
      else
        {
          if (s->n_ids < 16)
            snprintf (s->ids[s->n_ids++], sizeof s->ids[0], "%s", eid);
          if (strcmp (type, "workload_started") == 0)
            s->started++;
          else if (strcmp (type, "workload_stopped") == 0)
            {
              s->stopped++;
              snprintf (s->stopped_id, sizeof s->stopped_id, "%s", eid);
              snprintf (s->message, sizeof s->message, "%s",
                        json_string_value (json_object_get (json_object_get (j, "data"),
                                                            "message")));
            }
        }
    }
  json_decref (j);
}

/* A nats-server with the LIFECYCLE stream, a node, and the ticker "brief"
 * deployed on it (env: its TICKS and TICK_MS); the connection is returned. */
static natsConnection *
start_brief (struct harness *h, const char *const *env, struct nexc_deploy_result *r)
{
  struct nexc_client *c = NULL;
  struct nkey_pair issuer;
  struct nexc_deploy_opts o = { 0 };
  struct nxerr err = { 0 };
  natsConnection *nc;
  nkey_pair_generate (NKEY_ACCOUNT, &issuer, &err);
  harness_start_nats (h);
  nc = harness_connect (h);
  harness_stream_create (nc, "LIFECYCLE", "$NEX.events.default.*");
  assert_int_equal (nexc_client_wrap (&c, nc, &err), 0);
  harness_start_node (h, CONFIG, NULL);
  o.node_id = h->node_id;
  o.file = harness_bin ("examples/ticker");
  o.name = "brief";
  o.env = env;
  o.issuer = &issuer;
  if (nexc_deploy (c, &o, r, &err) < 0)
    fail_msg ("deploy: %s", err.msg);
  nexc_client_free (c);
  return nc;
}

static void
test_stopped_event_survives_a_node_killed_while_nats_is_away (void **state)
{
  struct harness h;
  struct nexc_deploy_result r;
  const char *env[] = { "TICKS=8", "TICK_MS=100", NULL };
  struct seen s = { 0 };
  natsConnection *nc;
  int msgs;
  (void) state;
  nc = start_brief (&h, env, &r);
  s.id = r.id;
  natsConnection_Destroy (nc);

  /* The server goes; the workload ends (0.8 s) while it is away. */
  harness_stop_nats (&h);
  for (int i = 0; i < 60 && !harness_node_log_has (&h, "ended: Exited workload"); i++)
    usleep (100000);
  assert_true (harness_node_log_has (&h, "ended: Exited workload"));
  harness_stop_node (&h, SIGKILL);

  /* Server back, node back: the event comes from the journal. */
  harness_restart_nats (&h);
  harness_start_node (&h, CONFIG, NULL);
  nc = harness_connect (&h);
  for (int i = 0; i < 50 && s.stopped == 0; i++)
    {
      memset (&s.started, 0, sizeof s - offsetof (struct seen, started)); /* a fresh count */
      msgs = harness_stream_read (nc, "LIFECYCLE", "$NEX.events.default.*", on_event, &s);
      (void) msgs;
      if (s.stopped == 0)
        usleep (100000);
    }
  if (s.stopped != 1 || s.started != 1)
    {
      harness_dump_node_log (&h);
      fail_msg ("workload %s: %d workload_started, %d workload_stopped", s.id, s.started,
                s.stopped);
    }
  assert_non_null (strstr (s.message, "Exited workload: brief"));
  assert_true (harness_node_log_has (&h, "publishing again"));
  printf ("workload_stopped %s delivered after the node's restart (%d repeats of its id)\n",
          s.stopped_id, s.copies);
  natsConnection_Destroy (nc);
  assert_int_equal (harness_stop_node (&h, SIGTERM), 0);
  harness_stop_all (&h);
}

/* The state a node leaves when SIGKILLed between journaling a workload's
 * workload_stopped (outbox_publish) and forgetting the workload (its
 * journal entry deleted): made here, with the node down, by appending that
 * event to its journal. Returns the event's CloudEvent id in id. */
static void
journal_stop_event (const struct harness *h, const char *workload, char id[37])
{
  struct journal *j = NULL;
  struct journal_entry *entries = NULL;
  size_t n = 0;
  cleanup_buf struct buf note = BUF_INIT;
  cleanup_buf struct buf ev = BUF_INIT;
  struct nxerr err = { 0 };
  char data[256];
  struct journal_event je;
  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  snprintf (data, sizeof data,
            "{\"code\":0,\"message\":\"Exited workload: brief; vm: %s; status: 0\","
            "\"workload_name\":\"brief\"}",
            workload);
  cloudevent_uuid4 (id);
  cloudevent_encode (&ev, "workload_stopped", workload, now, data, strlen (data), id, 0);
  if (journal_open (h->node_state_dir, &j, &entries, &n, &note, &err) < 0)
    fail_msg ("journal: %s", err.msg);
  assert_int_equal (n, 1); /* the workload is still there */
  assert_string_equal (entries[0].id, workload);
  je.id = id;
  je.subject = (char *) "$NEX.events.default.workload_stopped";
  je.data = (uint8_t *) ev.data;
  je.len = ev.len;
  if (journal_event_put (j, &je, &err) < 0)
    fail_msg ("journal: %s", err.msg);
  journal_entries_free (entries, n);
  journal_close (j);
}

static void
test_end_journaled_before_the_kill_is_announced_once (void **state)
{
  struct harness h;
  struct nexc_deploy_result r;
  const char *env[] = { "TICKS=10", "TICK_MS=100", NULL };
  struct seen s = { 0 };
  char journaled[37];
  natsConnection *nc;
  (void) state;
  nc = start_brief (&h, env, &r);
  s.id = r.id;

  /* The node dies while the workload runs; the workload ends (1 s) with the
   * node away: its agent keeps the exit for the next node. */
  harness_stop_node (&h, SIGKILL);
  sleep (2);
  journal_stop_event (&h, r.id, journaled);
  harness_start_node (&h, CONFIG, NULL);
  for (int i = 0; i < 50 && !harness_node_log_has (&h, "announced before the node restarted");
       i++)
    usleep (100000);
  usleep (500000); /* a second workload_stopped, were there one, would be out by now */
  memset (&s.started, 0, sizeof s - offsetof (struct seen, started));
  harness_stream_read (nc, "LIFECYCLE", "$NEX.events.default.*", on_event, &s);
  if (s.stopped != 1 || s.started != 1 || strcmp (s.stopped_id, journaled) != 0)
    {
      harness_dump_node_log (&h);
      fail_msg ("workload %s: %d workload_started, %d workload_stopped (last %s, journaled %s)",
                s.id, s.started, s.stopped, s.stopped_id, journaled);
    }
  assert_true (harness_node_log_has (&h, "reattached: it ended while the node was down"));
  /* The workload is gone: no agent holds it, INFO does not list it. */
  char *info = harness_request (nc, "$NEX.WPING.default", "", 0, 500);
  assert_true (info == NULL || strstr (info, r.id) == NULL);
  free (info);
  natsConnection_Destroy (nc);
  assert_int_equal (harness_stop_node (&h, SIGTERM), 0);
  harness_stop_all (&h);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_stopped_event_survives_a_node_killed_while_nats_is_away),
    cmocka_unit_test (test_end_journaled_before_the_kill_is_announced_once),
  };
  return cmocka_run_group_tests_name ("outbox", tests, NULL, NULL);
}
