/* Logs that lose nothing (issue #15), on real processes: examples/hog
 * floods numbered lines ("line <n> xxx...") and a subscriber checks what a
 * consumer sees: under the default policy every line, in order, Nexc-Seq
 * contiguous and equal to the workload's own number; the count going on
 * across restarts by the restart policy and across a SIGKILL of the node
 * and its reattach, and across a NATS outage; every line across cuts of the
 * node's connection (what was in flight lost, the server up); and under drop_oldest,
 * exactly the lines it says it dropped (records with header Nexc-Dropped: FIRST-LAST) missing. Nothing
 * here times anything: every assertion is on what arrived. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/nexc.h"
#include "harness.h"

static const char *CONFIG = "{\"machine_pool_size\":1,\"sandbox\":\"none\",\"stop_grace_ms\":300,"
                            "\"metrics_interval_ms\":0}";
static const char *CONFIG_DROP = "{\"machine_pool_size\":1,\"sandbox\":\"none\","
                                 "\"stop_grace_ms\":300,\"metrics_interval_ms\":0,"
                                 "\"logs\":{\"on_full\":\"drop_oldest\"}}";

/* What the subscriber saw of one workload's stream. Nexc-Seq values are
 * bounded by the test's own line counts. */
#define SEQ_MAX 700000

struct seen {
  pthread_mutex_t mu;
  long lines;              /* messages with Nexc-Seq */
  long long last_seq;      /* highest Nexc-Seq so far */
  long out_of_order;       /* a Nexc-Seq not above the last */
  long mismatched;         /* the text's number is not what this run's numbering says */
  long long run_base;      /* Nexc-Seq = run_base + the line's own number */
  unsigned char *have;     /* have[seq]: a line with that Nexc-Seq arrived */
  unsigned char *dropped;  /* dropped[seq]: a drop record named it */
  long drop_records;
  long slow;               /* every this many lines, the callback naps */
  long bad;                /* malformed: no header, a number out of bounds (the
                            * callback runs on a nats.c thread: no asserts there) */
};

static void
seen_init (struct seen *s)
{
  memset (s, 0, sizeof *s);
  pthread_mutex_init (&s->mu, NULL);
  s->have = calloc (SEQ_MAX + 1, 1);
  s->dropped = calloc (SEQ_MAX + 1, 1);
}

static void
seen_free (struct seen *s)
{
  free (s->have);
  free (s->dropped);
}

/* hog's line: "line <n> ..." (line 1 also carries t=...). */
static long long
line_number (natsMsg *m)
{
  json_t *j = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
  const char *t = j ? json_string_value (json_object_get (j, "text")) : NULL;
  long long n = t && strncmp (t, "line ", 5) == 0 ? atoll (t + 5) : -1;
  json_decref (j);
  return n;
}

static void
on_log (natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
  struct seen *s = closure;
  const char *v = NULL;
  (void) nc;
  (void) sub;
  pthread_mutex_lock (&s->mu);
  if (natsMsgHeader_Get (m, "Nexc-Dropped", &v) == NATS_OK)
    {
      long long a = 0, b = -1;
      if (sscanf (v, "%lld-%lld", &a, &b) != 2 || a < 1 || b < a || b > SEQ_MAX)
        s->bad++;
      for (long long i = a; i <= b && i >= 1 && i <= SEQ_MAX; i++)
        s->dropped[i]++;
      s->drop_records++;
    }
  else
    {
      long long seq = -1, n;
      if (natsMsgHeader_Get (m, "Nexc-Seq", &v) == NATS_OK)
        seq = atoll (v);
      if (seq < 1 || seq > SEQ_MAX)
        {
          s->bad++;
          pthread_mutex_unlock (&s->mu);
          natsMsg_Destroy (m);
          return;
        }
      n = line_number (m);
      /* A new run of the workload numbers its lines from 1 again; its
       * Nexc-Seq continues: the base is where the run started. */
      if (n == 1)
        s->run_base = seq - 1;
      if (seq != s->run_base + n)
        s->mismatched++;
      if (seq <= s->last_seq)
        s->out_of_order++;
      else
        s->last_seq = seq;
      s->have[seq]++;
      s->lines++;
      if (s->slow && s->lines % s->slow == 0)
        nanosleep (&(struct timespec){ 0, 1000000 }, NULL);
    }
  pthread_mutex_unlock (&s->mu);
  natsMsg_Destroy (m);
}

struct fixture {
  struct harness h;
  natsConnection *nc, *subc;
  natsSubscription *logs;
  struct nexc_client *c;
  struct nkey_pair issuer;
  struct seen seen;
};

/* Everything but the node. */
static void
fixture_begin (struct fixture *f)
{
  struct nxerr err = { 0 };
  memset (f, 0, sizeof *f);
  seen_init (&f->seen);
  nkey_pair_generate (NKEY_ACCOUNT, &f->issuer, &err);
  /* The subscriber naps on purpose (seen.slow) while the node floods: what
   * the server holds for it can pass nats-server's default 64 MB, and a
   * slow consumer is disconnected, losing lines on the test's side that the
   * node delivered. 1 GB, and subscriber_kept says when it happens anyway. */
  harness_start_nats_conf (&f->h, "max_pending: 1GB\nwrite_deadline: \"60s\"");
  f->nc = harness_connect (&f->h);
  f->subc = harness_connect (&f->h);
  assert_int_equal (nexc_client_wrap (&f->c, f->nc, &err), 0);
  f->c->timeout_ms = 10000;
  assert_int_equal (natsConnection_Subscribe (&f->logs, f->subc, "$NEX.logs.default.>", on_log,
                                              &f->seen),
                    NATS_OK);
  assert_int_equal (natsSubscription_SetPendingLimits (f->logs, -1, -1), NATS_OK);
  assert_int_equal (natsConnection_Flush (f->subc), NATS_OK);
}

/* The test's own subscriber was never cut off by the server (a missing
 * line is then the node's doing): no slow consumer, no reconnect. Only
 * where the server stays up. */
static void
subscriber_kept (struct fixture *f)
{
  natsStatistics *st = NULL;
  uint64_t reconnects = 0;
  char *varz = harness_http_get (&f->h, "/varz");
  json_t *j = varz ? json_loads (varz, 0, NULL) : NULL;
  json_int_t slow = json_integer_value (json_object_get (j, "slow_consumers"));
  natsStatistics_Create (&st);
  if (natsConnection_GetStats (f->subc, st) == NATS_OK)
    natsStatistics_GetCounts (st, NULL, NULL, NULL, NULL, &reconnects);
  natsStatistics_Destroy (st);
  json_decref (j);
  free (varz);
  if (slow != 0 || reconnects != 0)
    fail_msg ("the test's subscriber was cut off: %lld slow consumers at the server, %llu "
              "reconnects of the subscriber (lines it missed are not the node's losses)",
              (long long) slow, (unsigned long long) reconnects);
}

static void
fixture_start (struct fixture *f, const char *config)
{
  fixture_begin (f);
  harness_start_node (&f->h, config, NULL);
}

static void
fixture_stop (struct fixture *f)
{
  natsSubscription_Unsubscribe (f->logs);
  natsSubscription_Destroy (f->logs);
  nexc_client_free (f->c);
  natsConnection_Destroy (f->nc);
  natsConnection_Destroy (f->subc);
  harness_stop_all (&f->h);
  seen_free (&f->seen);
}

static void
deploy_hog (struct fixture *f, const char *name, const char *const *env,
            const struct deploy_restart *restart, enum deploy_logs_on_full on_full, char *id)
{
  struct nexc_deploy_opts o = { 0 };
  struct nexc_deploy_result r;
  struct nxerr err = { 0 };
  o.node_id = f->h.node_id;
  o.file = harness_bin ("examples/hog");
  o.key = "hog";
  o.name = name;
  o.env = env;
  o.issuer = &f->issuer;
  if (restart)
    o.restart = *restart;
  o.logs_on_full = on_full;
  if (nexc_deploy (f->c, &o, &r, &err) < 0)
    fail_msg ("deploy %s: %s", name, err.msg);
  snprintf (id, 64, "%s", r.id);
}

static struct seen
snapshot (struct fixture *f)
{
  struct seen s;
  pthread_mutex_lock (&f->seen.mu);
  s = f->seen;
  pthread_mutex_unlock (&f->seen.mu);
  return s;
}

/* Wait until the highest Nexc-Seq reaches want and no line comes for
 * quiet_ms (or give up after limit_s). */
static void
wait_for_seq (struct fixture *f, long long want, int limit_s)
{
  long last = -1;
  for (int i = 0; i < limit_s * 10; i++)
    {
      struct seen s = snapshot (f);
      if (s.last_seq >= want && s.lines == last)
        return;
      last = s.lines;
      usleep (100000);
    }
}

/* Every number 1..n: arrived exactly once. */
static void
expect_all (const struct seen *s, long long n)
{
  for (long long i = 1; i <= n; i++)
    if (s->have[i] != 1)
      fail_msg ("Nexc-Seq %lld arrived %d times (want once)", i, s->have[i]);
  assert_int_equal (s->lines, n);
  assert_int_equal (s->last_seq, n);
  assert_int_equal (s->out_of_order, 0);
  assert_int_equal (s->mismatched, 0);
  assert_int_equal (s->drop_records, 0);
  assert_int_equal (s->bad, 0);
}

/* The default policy behind a slow subscriber: all N lines, in order,
 * contiguous, each numbered as the workload numbered it. */
static void
test_flood_all_arrive (void **state)
{
  struct fixture *f = *state;
  const char *env[] = { "MODE=flood", "LINES=200000", NULL };
  char id[64];
  struct seen s;
  fixture_start (f, CONFIG);
  f->seen.slow = 2000;
  deploy_hog (f, "flood", env, NULL, DEPLOY_LOGS_UNSET, id);
  wait_for_seq (f, 200000, 120);
  s = snapshot (f);
  expect_all (&s, 200000);
  fixture_stop (f);
}

/* Restarted by its policy (same workload id, a new agent each time): the
 * three runs' lines are numbered 1..3000 without a gap. */
static void
test_restart_keeps_counting (void **state)
{
  struct fixture *f = *state;
  const char *env[] = { "MODE=flood", "LINES=1000", NULL };
  struct deploy_restart rs = { .present = true,
                               .policy = DEPLOY_RESTART_ALWAYS,
                               .max_restarts = 2,
                               .backoff_ms = 50,
                               .max_backoff_ms = 50 };
  char id[64];
  struct seen s;
  fixture_start (f, CONFIG);
  deploy_hog (f, "thrice", env, &rs, DEPLOY_LOGS_UNSET, id);
  wait_for_seq (f, 3000, 60);
  s = snapshot (f);
  expect_all (&s, 3000);
  fixture_stop (f);
}

/* The node SIGKILLed in the middle of a flood, then started again on the
 * same state dir: it reattaches, and the numbering goes on from where the
 * agent stands: no line after the reattach is renumbered, every one
 * arrives. */
static void
test_node_killed_mid_flood (void **state)
{
  struct fixture *f = *state;
  const char *env[] = { "MODE=flood", "LINES=400000", NULL };
  char id[64];
  struct seen s;
  long long before;
  fixture_start (f, CONFIG);
  f->seen.slow = 500; /* so that the flood is still going when the node dies */
  deploy_hog (f, "survivor", env, NULL, DEPLOY_LOGS_UNSET, id);
  for (int i = 0; i < 600 && snapshot (f).lines < 20000; i++)
    usleep (10000);
  harness_stop_node (&f->h, SIGKILL);
  before = snapshot (f).last_seq;
  assert_true (before >= 20000 && before < 400000);
  harness_start_node (&f->h, CONFIG, NULL);
  wait_for_seq (f, 400000, 180);
  s = snapshot (f);
  if (s.last_seq != 400000)
    harness_dump_node_log (&f->h);
  /* Numbered by the agent: a line's Nexc-Seq is its own number, before and
   * after the node's death, and the stream ends at the last line. */
  assert_int_equal (s.mismatched, 0);
  assert_int_equal (s.bad, 0);
  assert_int_equal (s.last_seq, 400000);
  assert_int_equal (s.drop_records, 0);
  /* What the dead node had not confirmed is sent again (LogAck): every
   * number arrives, some twice (consumers drop repeats by Nexc-Seq). */
  for (long long i = 1; i <= 400000; i++)
    if (s.have[i] == 0)
      fail_msg ("Nexc-Seq %lld never arrived (the node died at %lld)", i, before);
  print_message ("node killed at Nexc-Seq %lld; %ld lines received for 400000 (repeats "
                 "included)\n",
                 before, s.lines);
  fixture_stop (f);
}

static long long
node_log_dropped (struct fixture *f)
{
  char subj[128];
  char *r;
  json_t *j;
  long long v = -1;
  snprintf (subj, sizeof subj, "$NEX.INFO.default.%s", f->h.node_id);
  r = harness_request (f->nc, subj, "", 0, 3000);
  j = r ? json_loads (r, 0, NULL) : NULL;
  if (j)
    v = json_integer_value (
        json_object_get (json_object_get (json_object_get (j, "data"), "nexc"), "log_dropped"));
  json_decref (j);
  free (r);
  return v;
}

/* NATS goes away for a second in the middle of a flood: the node publishes
 * nothing it would have to drop (the agent's ring fills, unconfirmed, and
 * the workload blocks; past its budget of the reconnect buffer the node
 * stops reading the link), and once the server is back the numbering goes
 * on: the last line arrives with its own number, nothing out of order, no
 * drop, and the node counted no loss. (What the subscriber itself missed
 * while it reconnected is not asserted.) */
static void
test_nats_away_mid_flood (void **state)
{
  struct fixture *f = *state;
  const char *env[] = { "MODE=flood", "LINES=400000", NULL };
  char id[64];
  struct seen s;
  long long dropped = -1;
  fixture_start (f, CONFIG);
  f->seen.slow = 500;
  deploy_hog (f, "weathered", env, NULL, DEPLOY_LOGS_UNSET, id);
  for (int i = 0; i < 600 && snapshot (f).lines < 20000; i++)
    usleep (10000);
  harness_stop_nats (&f->h);
  usleep (1000000);
  harness_restart_nats (&f->h);
  wait_for_seq (f, 400000, 180);
  s = snapshot (f);
  assert_int_equal (s.last_seq, 400000);
  assert_int_equal (s.mismatched, 0);
  /* Not in order: after the reconnect the agent sends again what the
   * server had not confirmed (node/bus/logack.h), so repeats come after
   * later lines. */
  assert_int_equal (s.drop_records, 0);
  assert_int_equal (s.bad, 0);
  for (int i = 0; i < 50 && dropped != 0; i++)
    if ((dropped = node_log_dropped (f)) != 0)
      usleep (100000);
  if (dropped != 0)
    harness_dump_node_log (&f->h);
  assert_int_equal (dropped, 0);
  print_message ("NATS away for 1 s: %ld of 400000 lines seen by the subscriber\n", s.lines);
  fixture_stop (f);
}

/* drop_oldest (the node's config, here): the node is stopped (SIGSTOP) while
 * the workload floods, so the agent's ring overflows. Every number is either
 * delivered or named by exactly one drop record, never both, and the node's
 * count of drops is the records' total. */
static void
test_drop_oldest_reports_exactly (void **state)
{
  struct fixture *f = *state;
  const char *env[] = { "MODE=flood", "LINES=200000", NULL };
  char id[64], subj[128];
  struct seen s;
  long long reported = 0;
  long long node_dropped = -1;
  fixture_start (f, CONFIG_DROP);
  deploy_hog (f, "lossy", env, NULL, DEPLOY_LOGS_UNSET, id);
  kill (f->h.node_pid, SIGSTOP);
  usleep (500000);
  kill (f->h.node_pid, SIGCONT);
  wait_for_seq (f, 200000, 60);
  s = snapshot (f);
  for (long long i = 1; i <= 200000; i++)
    {
      if (s.have[i] + s.dropped[i] != 1)
        fail_msg ("Nexc-Seq %lld: delivered %d times, named dropped %d times", i, s.have[i],
                  s.dropped[i]);
      reported += s.dropped[i];
    }
  assert_true (reported > 0);
  assert_true (s.drop_records > 0);
  assert_int_equal (s.mismatched, 0);
  assert_int_equal (s.out_of_order, 0);
  assert_int_equal (s.bad, 0);
  snprintf (subj, sizeof subj, "$NEX.INFO.default.%s", f->h.node_id);
  for (int i = 0; i < 50 && node_dropped != reported; i++)
    {
      char *r = harness_request (f->nc, subj, "", 0, 3000);
      json_t *j = r ? json_loads (r, 0, NULL) : NULL;
      node_dropped = json_integer_value (json_object_get (
          json_object_get (json_object_get (j, "data"), "nexc"), "log_dropped"));
      json_decref (j);
      free (r);
      if (node_dropped != reported)
        usleep (100000);
    }
  assert_int_equal (node_dropped, reported);
  print_message ("drop_oldest: %ld delivered, %lld reported dropped in %ld records\n", s.lines,
                 reported, s.drop_records);
  fixture_stop (f);
}

/* The node SIGKILLed, then the workload's agent (and the workload) while
 * no node runs: the restarted node cannot know how far the lost agent had
 * numbered, only the limit its journal reserved. One record names the rest
 * of that block, and the workload, restarted by its policy, numbers from
 * above it: no number arrives twice, a consumer can tell the gap from a
 * restart. */
static void
test_agent_lost_while_node_down (void **state)
{
  struct fixture *f = *state;
  const char *env[] = { "MODE=flood", "LINES=1000", "HOLD=1", NULL };
  struct deploy_restart rs = { .present = true,
                               .policy = DEPLOY_RESTART_ALWAYS,
                               .max_restarts = 1,
                               .backoff_ms = 50,
                               .max_backoff_ms = 50 };
  const long long block = 65536; /* PERSIST_LOG_BLOCK */
  char id[64], name[64];
  pid_t workload, agent = 0;
  struct seen s;
  snprintf (name, sizeof name, "lost-%d", (int) getpid ());
  fixture_start (f, CONFIG);
  deploy_hog (f, name, env, &rs, DEPLOY_LOGS_UNSET, id);
  wait_for_seq (f, 1000, 60);
  harness_stop_node (&f->h, SIGKILL);
  workload = harness_find_proc (name, &agent);
  assert_true (workload > 0 && agent > 1);
  kill (agent, SIGKILL);
  kill (workload, SIGKILL);
  for (int i = 0; i < 100 && harness_find_proc (name, NULL) > 0; i++)
    usleep (20000);
  harness_start_node (&f->h, CONFIG, NULL);
  wait_for_seq (f, block + 1000, 60);
  s = snapshot (f);
  for (long long i = 1; i <= 1000; i++)
    if (s.have[i] != 1)
      fail_msg ("first run: Nexc-Seq %lld arrived %d times", i, s.have[i]);
  for (long long i = 1001; i <= block; i++)
    if (s.have[i] != 0)
      fail_msg ("Nexc-Seq %lld arrived though no run numbered it", i);
  for (long long i = block + 1; i <= block + 1000; i++)
    if (s.have[i] != 1)
      fail_msg ("second run: Nexc-Seq %lld arrived %d times", i, s.have[i]);
  /* The record: from what the journal held up to the reserved limit. */
  assert_int_equal (s.drop_records, 1);
  for (long long i = 1001; i <= block; i++)
    if (s.dropped[i] != 1)
      fail_msg ("Nexc-Seq %lld: not named by the record", i);
  assert_int_equal (s.dropped[block + 1], 0);
  assert_int_equal (s.lines, 2000);
  assert_int_equal (s.last_seq, block + 1000);
  assert_int_equal (s.out_of_order, 0);
  assert_int_equal (s.mismatched, 0);
  assert_int_equal (s.bad, 0);
  fixture_stop (f);
}

/* ---- a TCP relay between the node and the server, cut at will ---- */

/* Cutting resets both sockets of every connection (SO_LINGER 0): what the
 * node had written and the server not yet read is gone, as when a network
 * path dies, while the server and the test's subscriber stay up, so every
 * line the server got reaches the subscriber. */
#define RELAY_PAIRS 8
struct relay {
  int lfd, port, up_port;
  int fd[RELAY_PAIRS][2]; /* node side, server side; -1: free */
  pthread_t thread;
  atomic_int cut_asked, cuts;
  atomic_bool quit;
};

static void
relay_reset (int fd)
{
  struct linger lg = { 1, 0 };
  setsockopt (fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close (fd);
}

static void
relay_accept (struct relay *r)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) r->up_port),
                           .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int c = accept (r->lfd, NULL, NULL), u;
  if (c < 0)
    return;
  u = socket (AF_INET, SOCK_STREAM, 0);
  for (int i = 0; i < RELAY_PAIRS; i++)
    if (r->fd[i][0] < 0 && u >= 0 && connect (u, (struct sockaddr *) &a, sizeof a) == 0)
      {
        r->fd[i][0] = c;
        r->fd[i][1] = u;
        return;
      }
  close (c);
  if (u >= 0)
    close (u);
}

static void *
relay_run (void *arg)
{
  struct relay *r = arg;
  static char buf[65536];
  while (!atomic_load (&r->quit))
    {
      struct pollfd p[1 + 2 * RELAY_PAIRS];
      int n = 1;
      p[0] = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
      if (atomic_exchange (&r->cut_asked, 0))
        {
          for (int i = 0; i < RELAY_PAIRS; i++)
            if (r->fd[i][0] >= 0)
              {
                relay_reset (r->fd[i][0]);
                relay_reset (r->fd[i][1]);
                r->fd[i][0] = r->fd[i][1] = -1;
              }
          atomic_fetch_add (&r->cuts, 1);
        }
      for (int i = 0; i < RELAY_PAIRS; i++)
        for (int s = 0; s < 2; s++)
          p[n++] = (struct pollfd){ .fd = r->fd[i][s], .events = POLLIN };
      if (poll (p, (nfds_t) n, 10) <= 0)
        continue;
      if (p[0].revents & POLLIN)
        relay_accept (r);
      for (int i = 0; i < RELAY_PAIRS; i++)
        for (int s = 0; s < 2; s++)
          {
            ssize_t got;
            if (r->fd[i][s] < 0 || !(p[1 + 2 * i + s].revents & (POLLIN | POLLHUP | POLLERR)))
              continue;
            got = read (r->fd[i][s], buf, sizeof buf);
            for (ssize_t off = 0; got > 0 && off < got;)
              {
                ssize_t w = write (r->fd[i][1 - s], buf + off, (size_t) (got - off));
                if (w <= 0)
                  break;
                off += w;
              }
            if (got <= 0)
              {
                close (r->fd[i][0]);
                close (r->fd[i][1]);
                r->fd[i][0] = r->fd[i][1] = -1;
              }
          }
    }
  return NULL;
}

static void
relay_start (struct relay *r, int up_port)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  memset (r, 0, sizeof *r);
  for (int i = 0; i < RELAY_PAIRS; i++)
    r->fd[i][0] = r->fd[i][1] = -1;
  r->up_port = up_port;
  r->lfd = socket (AF_INET, SOCK_STREAM, 0);
  assert_true (r->lfd >= 0);
  assert_int_equal (bind (r->lfd, (struct sockaddr *) &a, sizeof a), 0);
  assert_int_equal (listen (r->lfd, 8), 0);
  assert_int_equal (getsockname (r->lfd, (struct sockaddr *) &a, &len), 0);
  r->port = ntohs (a.sin_port);
  assert_int_equal (pthread_create (&r->thread, NULL, relay_run, r), 0);
}

static void
relay_stop (struct relay *r)
{
  atomic_store (&r->quit, true);
  pthread_join (r->thread, NULL);
  for (int i = 0; i < RELAY_PAIRS; i++)
    if (r->fd[i][0] >= 0)
      {
        close (r->fd[i][0]);
        close (r->fd[i][1]);
      }
  close (r->lfd);
}

/* The node's connections cut three times in the middle of a flood, the
 * server up all along: lines the node had written into a connection that
 * died never reached the server, and a PING answered on the next
 * connection says nothing of them. Every line still arrives (repeats
 * allowed: consumers drop them by Nexc-Seq). */
static void
test_connection_cut_mid_flood (void **state)
{
  struct fixture *f = *state;
  const char *env[] = { "MODE=flood", "LINES=300000", NULL };
  char id[64], url[64];
  struct relay r;
  struct seen s;
  long missing = 0, repeats = 0;
  fixture_begin (f);
  relay_start (&r, f->h.nats_port);
  snprintf (url, sizeof url, "%s", f->h.nats_url);
  snprintf (f->h.nats_url, sizeof f->h.nats_url, "nats://127.0.0.1:%d", r.port);
  /* Debug: the node's confirmations and rewinds, kept when lines are missing. */
  harness_start_node (&f->h, CONFIG, (const char *[]){ "--log-level", "debug", NULL });
  snprintf (f->h.nats_url, sizeof f->h.nats_url, "%s", url);
  f->seen.slow = 1000;
  deploy_hog (f, "cut", env, NULL, DEPLOY_LOGS_UNSET, id);
  for (int c = 1; c <= 3; c++)
    {
      for (int i = 0; i < 1000 && snapshot (f).lines < 20000L * c; i++)
        usleep (10000);
      atomic_store (&r.cut_asked, 1);
      for (int i = 0; i < 100 && atomic_load (&r.cuts) < c; i++)
        usleep (10000);
    }
  wait_for_seq (f, 300000, 180);
  s = snapshot (f);
  for (long long i = 1; i <= 300000; i++)
    {
      if (s.have[i] == 0 && missing++ < 5)
        print_message ("Nexc-Seq %lld never arrived\n", i);
      if (s.have[i] > 1)
        repeats += s.have[i] - 1;
    }
  print_message ("3 cuts (%d done): %ld lines received for 300000, %ld repeats, %ld missing, "
                 "%ld drop records, %ld mismatched\n",
                 atomic_load (&r.cuts), s.lines, repeats, missing, (long) s.drop_records,
                 (long) s.mismatched);
  if (missing)
    {
      char cmd[1200];
      snprintf (cmd, sizeof cmd, "grep -E 'logack|rewound|reconnect|Reconnect|disconnect' %s > "
                "/tmp/nexc-cut-%d.log; tail -60 /tmp/nexc-cut-%d.log",
                f->h.node_log, (int) getpid (), (int) getpid ());
      print_message ("the node's confirmations and rewinds: /tmp/nexc-cut-%d.log\n",
                     (int) getpid ());
      if (system (cmd)) {}
      subscriber_kept (f);
    }
  assert_int_equal (atomic_load (&r.cuts), 3);
  assert_int_equal (missing, 0);
  assert_int_equal (s.mismatched, 0);
  assert_int_equal (s.drop_records, 0);
  assert_int_equal (s.bad, 0);
  fixture_stop (f);
  relay_stop (&r);
}

static int
setup (void **state)
{
  *state = calloc (1, sizeof (struct fixture));
  return 0;
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
    cmocka_unit_test_setup_teardown (test_flood_all_arrive, setup, teardown),
    cmocka_unit_test_setup_teardown (test_restart_keeps_counting, setup, teardown),
    cmocka_unit_test_setup_teardown (test_drop_oldest_reports_exactly, setup, teardown),
    cmocka_unit_test_setup_teardown (test_node_killed_mid_flood, setup, teardown),
    cmocka_unit_test_setup_teardown (test_nats_away_mid_flood, setup, teardown),
    cmocka_unit_test_setup_teardown (test_agent_lost_while_node_down, setup, teardown),
    cmocka_unit_test_setup_teardown (test_connection_cut_mid_flood, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
