/* Chaos soak: many deploys of mixed workloads (short, long, crashing,
 * log-flooding, fork-happy) while workloads, agents, the nats-server and
 * the node (SOAK_NODE_KILL=0 to leave it alone) are killed at random. At the end: every
 * deploy got exactly one reply, every started workload exactly one
 * workload_stopped, and nothing is left behind. The suite runs a short version; scripts/soak runs
 * the long one (SOAK_DEPLOYS=1000). Figures are printed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/nexc.h"
#include "harness.h"

#define MAX_IDS 4096

static struct harness H;
static natsConnection *NC;
static struct nexc_client *C;
static struct nkey_pair ISSUER;
static const char *CONFIG = "{\"machine_pool_size\":3,\"sandbox\":\"none\",\"stop_grace_ms\":300,"
                            "\"metrics_interval_ms\":0}";

/* What the event stream holds, per workload id. */
static struct
{
  char id[32];
  int started, stopped;
} seen[MAX_IDS];
static int n_seen;
/* CloudEvent ids already counted: lifecycle events are delivered at least
 * once (node/outbox.h), a repeat carries the id of the first. */
static char (*event_ids)[40];
static int n_event_ids, repeats;

static int
env_int (const char *k, int def)
{
  const char *v = getenv (k);
  return v && *v ? atoi (v) : def;
}

static void
count_event (const char *data, int len)
{
  json_t *j = json_loadb (data, (size_t) len, 0, NULL);
  const char *type = json_string_value (json_object_get (j, "type"));
  const char *src = json_string_value (json_object_get (j, "source"));
  const char *eid = json_string_value (json_object_get (j, "id"));
  if (type && src && eid
      && (strcmp (type, "workload_started") == 0 || strcmp (type, "workload_stopped") == 0))
    {
      int i;
      for (i = 0; i < n_event_ids && strcmp (event_ids[i], eid) != 0; i++)
        ;
      if (i < n_event_ids)
        {
          repeats++;
          json_decref (j);
          return;
        }
      if (n_event_ids < 4 * MAX_IDS)
        snprintf (event_ids[n_event_ids++], sizeof event_ids[0], "%s", eid);
      for (i = 0; i < n_seen && strcmp (seen[i].id, src) != 0; i++)
        ;
      if (i == n_seen && n_seen < MAX_IDS)
        snprintf (seen[n_seen++].id, sizeof seen[0].id, "%s", src);
      if (i < n_seen)
        {
          if (strcmp (type, "workload_started") == 0)
            seen[i].started++;
          else
            seen[i].stopped++;
        }
    }
  json_decref (j);
}

static void
on_stream_event (const char *data, int len, void *arg)
{
  (void) arg;
  count_event (data, len);
}

/* The events are captured by a JetStream stream, not a plain subscription:
 * across a nats-server restart the node and this test reconnect separately,
 * and events the node sends from its reconnect buffer before this test's
 * subscription is back would be missed here although the node sent them.
 * The stream counts what reached the server, which is what the node owes. */
static void
read_events (void)
{
  event_ids = calloc (4 * MAX_IDS, sizeof *event_ids);
  assert_non_null (event_ids);
  harness_stream_read (NC, "SOAKEVENTS", "$NEX.events.default.*", on_stream_event, NULL);
  free (event_ids);
}

static int
setup (void **state)
{
  struct nxerr err = { 0 };
  (void) state;
  nkey_pair_generate (NKEY_ACCOUNT, &ISSUER, &err);
  harness_start_nats (&H);
  NC = harness_connect (&H);
  nexc_client_wrap (&C, NC, &err);
  C->timeout_ms = 10000;
  harness_stream_create (NC, "SOAKEVENTS", "$NEX.events.default.*");
  harness_start_node (&H, CONFIG, NULL);
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  nexc_client_free (C);
  natsConnection_Destroy (NC);
  harness_stop_all (&H);
  return 0;
}

/* Children of pid named comm (comm as in /proc/<pid>/stat), at most max. */
static int
children (pid_t ppid, const char *comm, pid_t *out, int max)
{
  int n = harness_children (ppid, comm, out, max);
  return n < max ? n : max;
}

static void
test_soak (void **state)
{
  (void) state;
  const char *kinds[][4] = {
    { "short", "examples/crasher", "CRASH_AFTER_MS=150", "EXIT_CODE=0" },
    { "long", "examples/ticker", "TICK_MS=200", NULL },
    { "crashing", "examples/crasher", "CRASH_AFTER_MS=80", "EXIT_CODE=3" },
    { "flood", "examples/hog", "MODE=flood", "LINES=20000" },
    { "forky", "examples/forker", "CHILDREN=2", NULL },
  };
  int deploys = env_int ("SOAK_DEPLOYS", 40);
  int node_kill = env_int ("SOAK_NODE_KILL", 1);
  unsigned seed = (unsigned) env_int ("SOAK_SEED", (int) time (NULL));
  int replies = 0, refused = 0, no_reply = 0, stops = 0;
  int k_workload = 0, k_agent = 0, k_nats = 0, k_node = 0;
  char ids[MAX_IDS][32];
  int n_ids = 0;
  struct nxerr err = { 0 };
  time_t t0 = time (NULL);
  srand (seed);
  fprintf (stderr, "soak: %d deploys, seed %u, node kills %s\n", deploys, seed,
           node_kill ? "on" : "off");
  for (int i = 0; i < deploys; i++)
    {
      int k = rand () % 5;
      struct nexc_deploy_opts o = { 0 };
      struct nexc_deploy_result r;
      const char *env[3] = { kinds[k][2], kinds[k][3], NULL };
      o.node_id = H.node_id;
      o.file = harness_bin (kinds[k][1]);
      o.name = kinds[k][0];
      o.env = env;
      o.issuer = &ISSUER;
      if (nexc_deploy (C, &o, &r, &err) == 0)
        {
          replies++;
          if (n_ids < MAX_IDS)
            snprintf (ids[n_ids++], 32, "%s", r.id);
        }
      else if (err.code == ETIMEDOUT || err.code == EHOSTUNREACH || err.code == EIO)
        {
          no_reply++; /* the node or the server was down: the request never got an answer */
          if (no_reply <= 3)
            fprintf (stderr, "soak: deploy %d unanswered: %s\n", i, err.msg);
        }
      else
        {
          replies++;
          refused++;
        }
      /* Chaos, about every third deploy. */
      int c = rand () % 9;
      pid_t agents[64], kids[64];
      int na = children (H.node_pid, "nexc-agent", agents, 64);
      if (c == 0 && na > 0)
        {
          int nk = children (agents[rand () % na], NULL, kids, 64);
          if (nk > 0)
            {
              kill (kids[rand () % nk], SIGKILL);
              k_workload++;
            }
        }
      else if (c == 1 && na > 0)
        {
          kill (agents[rand () % na], SIGKILL);
          k_agent++;
        }
      else if (c == 2 && i % 10 == 5)
        {
          /* Restart the server; carry on once the node answers again (a
           * client would retry too), and report how long that took. */
          char ping[128];
          uint64_t t = (uint64_t) time (NULL);
          harness_restart_nats (&H);
          k_nats++;
          /* INFO, not PING: after a reconnect nats.c re-sends the node's
           * subscriptions one by one, and a deploy starts with INFO. */
          snprintf (ping, sizeof ping, "$NEX.INFO.default.%s", H.node_id);
          for (int w = 0; w < 100; w++)
            {
              char *pr = harness_request (NC, ping, "", 0, 100);
              if (pr)
                {
                  free (pr);
                  break;
                }
              usleep (50000);
            }
          fprintf (stderr, "soak: nats-server restarted, node answering again after ~%llu s\n",
                   (unsigned long long) ((uint64_t) time (NULL) - t));
        }
      else if (c == 3 && node_kill)
        {
          harness_stop_node (&H, SIGKILL);
          harness_start_node (&H, CONFIG, NULL);
          k_node++;
        }
      else if (c == 4 && n_ids > 0)
        {
          const char *victim = ids[rand () % n_ids];
          char name[32] = "";
          /* The stop JWT names the workload: ask the node for it. */
          char subj[128];
          snprintf (subj, sizeof subj, "$NEX.WPING.default.%s", victim);
          char *wp = harness_request (NC, subj, "", 0, 500);
          if (wp)
            {
              json_t *j = json_loads (wp, 0, NULL);
              const char *nm = json_string_value (json_object_get (
                  json_array_get (json_object_get (json_object_get (j, "data"), "running_machines"), 0),
                  "name"));
              snprintf (name, sizeof name, "%s", nm ? nm : "");
              json_decref (j);
              free (wp);
              if (*name && nexc_stop (C, H.node_id, victim, name, &ISSUER, &err) == 0)
                stops++;
            }
        }
    }
  /* Stop what is still running, then let the node settle. */
  char *wp = NULL;
  for (int round = 0; round < 20; round++)
    {
      wp = harness_request (NC, "$NEX.WPING.default", "", 0, 1000);
      if (wp == NULL)
        break;
      json_t *j = json_loads (wp, 0, NULL);
      json_t *ms = json_object_get (json_object_get (j, "data"), "running_machines");
      size_t x;
      json_t *m;
      json_array_foreach (ms, x, m)
      {
        if (nexc_stop (C, H.node_id, json_string_value (json_object_get (m, "id")),
                       json_string_value (json_object_get (m, "name")), &ISSUER, &err)
            == 0)
          stops++;
        else
          fprintf (stderr, "soak: final stop of %s: %s\n",
                   json_string_value (json_object_get (m, "id")), err.msg);
      }
      json_decref (j);
      free (wp);
      usleep (300000);
    }
  sleep (1);
  natsConnection_Flush (NC);

  /* Exactly one workload_stopped per started workload. */
  int started = 0, stopped = 0, doubled = 0, missing = 0;
  read_events ();
  for (int i = 0; i < n_seen; i++)
    {
      started += seen[i].started;
      stopped += seen[i].stopped;
      if (seen[i].stopped > seen[i].started && seen[i].started > 0)
        doubled++;
      if (seen[i].started > seen[i].stopped)
        {
          missing++;
          fprintf (stderr, "soak: workload %s: %d workload_started, %d workload_stopped\n",
                   seen[i].id, seen[i].started, seen[i].stopped);
        }
    }
  pid_t agents[64];
  int left_agents = children (H.node_pid, "nexc-agent", agents, 64);
  int left_workloads = 0;
  for (int a = 0; a < left_agents; a++)
    {
      pid_t kids[64];
      left_workloads += children (agents[a], NULL, kids, 64);
    }
  fprintf (stderr,
           "soak: %ld s; deploys %d: %d replies (%d refused), %d unanswered while down; "
           "%d stops; chaos: %d workloads, %d agents, %d nats-server restarts, %d node kills; "
           "events: %d started, %d stopped (%d repeats of an id dropped), %d workloads without their "
           "stop, %d with extra stops; "
           "left: %d agents (pool 3), %d workload processes\n",
           (long) (time (NULL) - t0), deploys, replies, refused, no_reply, stops, k_workload,
           k_agent, k_nats, k_node, started, stopped, repeats, missing, doubled, left_agents,
           left_workloads);
  assert_int_equal (replies + no_reply, deploys);
  if (missing || doubled)
    harness_dump_node_log (&H);
  assert_int_equal (started, replies - refused); /* one workload_started per deploy answered */
  assert_int_equal (missing, 0);
  assert_int_equal (doubled, 0);
  assert_int_equal (left_workloads, 0);
  assert_true (left_agents <= 3);
  assert_int_equal (harness_count_procs ("forker"), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = { cmocka_unit_test (test_soak) };
  return cmocka_run_group_tests_name ("soak", tests, setup, teardown);
}
