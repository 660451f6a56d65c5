/* Declarative deployments (issue #17) on three nats-servers (routes,
 * JetStream) and three nodes, seen through the CLI (nexc apply, deployments
 * ls, scale, deployments rm, ls) and the control subjects: 3 replicas spread
 * over the nodes; a node SIGKILLed, its slot healed elsewhere; the node back,
 * still exactly 3; a spec signed by a key the nodes do not allow, ignored;
 * a rolling update of an env var, one replica at a time, with a nats-server
 * killed in the middle; scale to 1; rm, none left. */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/deployment.h"
#include "api/nexc.h"
#include "api/nkeys.h"
#include "harness.h"

#define WAIT_MS 20000

static struct harness H[3];
static natsConnection *NC;
static struct nkey_pair ISSUER;
static char *SIGNED_FIRST; /* the value the first apply stored, for the replay */
static char ISSUER_FILE[400], XKEY_FILE[400], SPEC_FILE[400], CFG[3][1024];
/* Each claim write and each claim seen is a debug line: a failure's node
 * log then tells a slot's history (the bucket keeps one revision). */
static const char *const DEBUG_ARGS[] = { "--log-level", "debug", NULL };

struct out {
  int code;
  char text[65536];
};

/* Run the CLI (any of the three servers); stdout only. */
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
  snprintf (cmd, sizeof cmd, "%s --server %s,%s,%s --timeout 3000 %s 2>>%s/cli.err",
            harness_bin ("api/nexc"), H[1].nats_url, H[2].nats_url, H[0].nats_url, args,
            H[1].tmpdir);
  p = popen (cmd, "r");
  assert_non_null (p);
  n = fread (o.text, 1, sizeof o.text - 1, p);
  o.text[n] = '\0';
  int st = pclose (p);
  o.code = WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
  return &o;
}

static uint64_t
now_ms (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return (uint64_t) t.tv_sec * 1000 + (uint64_t) t.tv_nsec / 1000000;
}

static void
write_text (const char *path, const char *text)
{
  FILE *f = fopen (path, "w");
  assert_non_null (f);
  fputs (text, f);
  fclose (f);
}

/* What WPING shows (nexc ls --json): replicas of "itdeploy" per node index. */
struct seen {
  int total;
  int per_node[3];
};

static struct seen
replicas (void)
{
  struct seen s = { 0 };
  struct out *o = nexc ("ls --json");
  char *line = o->text, *nl;
  for (; line && *line; line = nl ? nl + 1 : NULL)
    {
      nl = strchr (line, '\n');
      if (nl)
        *nl = '\0';
      json_t *j = json_loads (line, 0, NULL);
      const char *name = json_string_value (json_object_get (j, "name"));
      const char *node = json_string_value (json_object_get (j, "node_id"));
      if (name && node && strncmp (name, "itdeploy-", 4) == 0)
        {
          s.total++;
          for (int i = 0; i < 3; i++)
            if (strcmp (node, H[i].node_id) == 0)
              s.per_node[i]++;
        }
      json_decref (j);
    }
  return s;
}

/* deployments ls --json: the line of default.itdeploy. */
static json_t *
deployment_row (void)
{
  struct out *o = nexc ("deployments ls --json");
  char *line = o->text, *nl;
  for (; line && *line; line = nl ? nl + 1 : NULL)
    {
      nl = strchr (line, '\n');
      if (nl)
        *nl = '\0';
      json_t *j = json_loads (line, 0, NULL);
      if (j
          && strcmp (json_string_value (json_object_get (j, "deployment")) ?: "",
                     "default.itdeploy")
                 == 0)
        return j;
      json_decref (j);
    }
  return NULL;
}

/* Wait until WPING shows want replicas and deployments ls says as much. */
static struct seen
wait_for (int want)
{
  uint64_t deadline = now_ms () + WAIT_MS;
  struct seen s;
  for (;;)
    {
      s = replicas ();
      if (s.total == want)
        {
          json_t *row = deployment_row ();
          int running = row ? (int) json_integer_value (json_object_get (row, "running")) : 0;
          json_decref (row);
          if (running == want || (want == 0 && row == NULL))
            return s;
        }
      if (now_ms () > deadline)
        {
          for (int i = 0; i < 3; i++)
            harness_dump_node_log (&H[i]);
          fail_msg ("waited %d ms for %d replicas, WPING shows %d", WAIT_MS, want, s.total);
        }
      usleep (200 * 1000);
    }
}

/* ticks: "" to tick forever, else exit 0 after that many ticks. */
static void
write_spec_ticks (int replicas, const char *tick_ms, const char *ticks)
{
  char spec[2048];
  snprintf (spec, sizeof spec,
            "{\"name\":\"itdeploy\",\"replicas\":%d,\"artifact\":{\"file\":\"%s\"},"
            "\"env\":{\"TICK_MS\":\"%s\"%s%s%s},\"placement\":{\"spread\":\"node\"},"
            "\"update\":{\"max_unavailable\":1}}",
            replicas, harness_bin ("examples/ticker"), tick_ms, *ticks ? ",\"TICKS\":\"" : "",
            ticks, *ticks ? "\"" : "");
  write_text (SPEC_FILE, spec);
}

static void
write_spec (int replicas, const char *tick_ms)
{
  write_spec_ticks (replicas, tick_ms, "");
}

/* Each node's liveness key: a node that has not written one yet would not
 * count in the spread. */
static void
wait_nodes_live (void)
{
  jsCtx *js = NULL;
  kvStore *kv = NULL;
  uint64_t deadline = now_ms () + WAIT_MS;
  int live = 0;
  assert_int_equal (natsConnection_JetStream (&js, NC, NULL), NATS_OK);
  while (live < 3 && now_ms () < deadline)
    {
      live = 0;
      if (kv || js_KeyValue (&kv, js, DEPLOYMENT_CLAIMS_BUCKET_DEFAULT) == NATS_OK)
        for (int i = 0; i < 3; i++)
          {
            char key[128];
            kvEntry *e = NULL;
            snprintf (key, sizeof key, "node.%s", H[i].node_id);
            if (kvStore_Get (&e, kv, key) == NATS_OK)
              live++;
            kvEntry_Destroy (e);
          }
      if (live < 3)
        usleep (200 * 1000);
    }
  kvStore_Destroy (kv);
  jsCtx_Destroy (js);
  assert_int_equal (live, 3);
}

static int
setup (void **state)
{
  struct nxerr err = { 0 };
  struct nkey_pair xk;
  char seed[NKEY_SEED_LEN + 2];
  (void) state;
  nkey_pair_generate (NKEY_ACCOUNT, &ISSUER, &err);
  nkey_pair_generate (NKEY_CURVE, &xk, &err);
  harness_start_cluster (H, 3);
  snprintf (ISSUER_FILE, sizeof ISSUER_FILE, "%s/issuer.nk", H[1].tmpdir);
  snprintf (XKEY_FILE, sizeof XKEY_FILE, "%s/deployments.xk", H[1].tmpdir);
  snprintf (SPEC_FILE, sizeof SPEC_FILE, "%s/itdeploy.json", H[1].tmpdir);
  nkey_pair_seed_text (&ISSUER, seed);
  strcat (seed, "\n");
  write_text (ISSUER_FILE, seed);
  nkey_pair_seed_text (&xk, seed);
  strcat (seed, "\n");
  write_text (XKEY_FILE, seed);
  chmod (ISSUER_FILE, 0600);
  chmod (XKEY_FILE, 0600);
  nkey_pair_wipe (&xk);
  for (int i = 0; i < 3; i++)
    {
      snprintf (CFG[i], sizeof CFG[i],
                "{\"machine_pool_size\":1,\"sandbox\":\"none\",\"stop_grace_ms\":300,"
                "\"valid_issuers\":[\"%s\"],\"tags\":{\"zone\":\"z%d\"},"
                "\"deployments\":{\"enabled\":true,\"xkey_seed_file\":\"%s\"}}",
                ISSUER.public_text, i, XKEY_FILE);
      harness_start_node (&H[i], CFG[i], DEBUG_ARGS);
    }
  NC = harness_connect (&H[1]);
  wait_nodes_live ();
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  if (getenv ("NEXC_TEST_DUMP_LOGS"))
    for (int i = 0; i < 3; i++)
      harness_dump_node_log (&H[i]);
  free (SIGNED_FIRST);
  natsConnection_Destroy (NC);
  for (int i = 0; i < 3; i++)
    harness_stop_all (&H[i]);
  return 0;
}

static void
test_apply_three_spread_over_nodes (void **state)
{
  struct out *o;
  struct seen s;
  (void) state;
  write_spec (3, "200");
  o = nexc ("apply %s --issuer %s", SPEC_FILE, ISSUER_FILE);
  assert_int_equal (o->code, 0);
  assert_non_null (strstr (o->text, "applied default.itdeploy revision"));
  s = wait_for (3);
  for (int i = 0; i < 3; i++)
    assert_int_equal (s.per_node[i], 1);
  /* The user's view of the deployment. */
  o = nexc ("deployments ls");
  assert_int_equal (o->code, 0);
  assert_non_null (strstr (o->text, "default.itdeploy"));
  /* A replica is an ordinary workload: INFO describes it. */
  o = nexc ("nodes info %s", H[0].node_id);
  assert_int_equal (o->code, 0);
  assert_non_null (strstr (o->text, "of deployment default.itdeploy"));
}

static void
test_node_killed_heals_elsewhere (void **state)
{
  struct seen s;
  (void) state;
  assert_int_equal (harness_count_procs ("itdeploy-"), 3);
  harness_stop_node (&H[0], SIGKILL);
  s = wait_for (3);
  assert_int_equal (s.per_node[0], 0);
  assert_int_equal (s.per_node[1] + s.per_node[2], 3);
  /* The dead node's replica died with it (its agent does not detach, as
   * other workloads' do): three processes on the host, not four. */
  assert_int_equal (harness_count_procs ("itdeploy-"), 3);
  assert_true (harness_node_log_has (&H[1], "taken over")
               || harness_node_log_has (&H[2], "taken over"));
}

static void
test_node_back_still_exactly_three (void **state)
{
  struct seen s;
  uint64_t until;
  (void) state;
  harness_start_node (&H[0], CFG[0], DEBUG_ARGS);
  /* Its journal names the replica it ran: gone with the node, it is not
   * reattached, and the slot is another node's now. Three, and no more,
   * for a few rounds, on the bus and on the host. */
  uint64_t deadline = now_ms () + WAIT_MS;
  while (!harness_node_log_has (&H[0], "deployments: buckets") && now_ms () < deadline)
    usleep (100 * 1000);
  assert_true (harness_node_log_has (&H[0], "deployments: buckets"));
  s = wait_for (3);
  until = now_ms () + 3000;
  while (now_ms () < until)
    {
      s = replicas ();
      assert_int_equal (s.total, 3);
      assert_int_equal (harness_count_procs ("itdeploy-"), 3);
      usleep (300 * 1000);
    }
}

static void
test_spec_of_unknown_issuer_ignored (void **state)
{
  struct nkey_pair other;
  struct nxerr err = { 0 };
  char path[400], seed[NKEY_SEED_LEN + 2], spec[1024];
  struct out *o;
  uint64_t deadline;
  (void) state;
  nkey_pair_generate (NKEY_ACCOUNT, &other, &err);
  snprintf (path, sizeof path, "%s/other.nk", H[1].tmpdir);
  nkey_pair_seed_text (&other, seed);
  strcat (seed, "\n");
  write_text (path, seed);
  nkey_pair_wipe (&other);
  snprintf (spec, sizeof spec, "{\"name\":\"rogue\",\"replicas\":2,\"artifact\":{\"file\":\"%s\"}}",
            harness_bin ("examples/ticker"));
  char rogue[400];
  snprintf (rogue, sizeof rogue, "%s/rogue.json", H[1].tmpdir);
  write_text (rogue, spec);
  o = nexc ("apply %s --issuer %s", rogue, path);
  assert_int_equal (o->code, 0); /* the bucket takes it: the nodes decide */
  deadline = now_ms () + WAIT_MS;
  while (!harness_node_log_has (&H[1], "default.rogue revision") && now_ms () < deadline)
    usleep (100 * 1000);
  assert_true (harness_node_log_has (&H[1], "is not in valid_issuers"));
  o = nexc ("ls --json");
  assert_null (strstr (o->text, "rogue-"));
  o = nexc ("deployments rm rogue");
  assert_int_equal (o->code, 0);
}

/* Hostile writes straight into the bucket: garbage, the running spec
 * altered after signing (more replicas), a signed value under another
 * deployment's key. Every node ignores each and says why; the running
 * deployment keeps its 3 replicas, nothing else runs, no node dies. */
/* Signed and valid, but what a DEPLOY could not do on these nodes: resources
 * in tier none (not enforceable), a function triggered by $SYS.>. No node
 * claims a slot; each says why. */
static void
test_spec_a_node_cannot_run_is_not_claimed (void **state)
{
  char spec[1024], path[400];
  struct out *o;
  uint64_t deadline;
  (void) state;
  snprintf (path, sizeof path, "%s/odd.json", H[1].tmpdir);
  snprintf (spec, sizeof spec,
            "{\"name\":\"sized\",\"replicas\":2,\"artifact\":{\"file\":\"%s\"},"
            "\"resources\":{\"memory_mib\":64}}",
            harness_bin ("examples/ticker"));
  write_text (path, spec);
  assert_int_equal (nexc ("apply %s --issuer %s", path, ISSUER_FILE)->code, 0);
  snprintf (spec, sizeof spec,
            "{\"name\":\"sysfn\",\"replicas\":1,\"artifact\":{\"file\":\"%s\"},"
            "\"type\":\"function\",\"triggers\":[\"$SYS.>\"]}",
            harness_bin ("examples/upper"));
  write_text (path, spec);
  assert_int_equal (nexc ("apply %s --issuer %s", path, ISSUER_FILE)->code, 0);
  deadline = now_ms () + WAIT_MS;
  while (now_ms () < deadline
         && !(harness_node_log_has (&H[2], "default.sized revision")
              && harness_node_log_has (&H[2], "default.sysfn revision")))
    usleep (100 * 1000);
  assert_true (harness_node_log_has (&H[2], "cannot run it"));
  usleep (1500 * 1000);
  o = nexc ("ls --json");
  assert_null (strstr (o->text, "sized-"));
  assert_null (strstr (o->text, "sysfn-"));
  assert_int_equal (nexc ("deployments rm sized")->code, 0);
  assert_int_equal (nexc ("deployments rm sysfn")->code, 0);
}

static void
test_tampered_specs_ignored (void **state)
{
  jsCtx *js = NULL;
  kvStore *kv = NULL;
  kvEntry *e = NULL;
  uint64_t rev, deadline;
  char *v, *p;
  (void) state;
  assert_int_equal (natsConnection_JetStream (&js, NC, NULL), NATS_OK);
  assert_int_equal (js_KeyValue (&kv, js, DEPLOYMENT_BUCKET_DEFAULT), NATS_OK);
  assert_int_equal (kvStore_PutString (&rev, kv, "default.junk", "{\"spec\": [1, 2"), NATS_OK);
  /* The running deployment's signed value, replicas changed from 3 to 9. */
  assert_int_equal (kvStore_Get (&e, kv, "default.itdeploy"), NATS_OK);
  v = strndup (kvEntry_Value (e), (size_t) kvEntry_ValueLen (e));
  kvEntry_Destroy (e);
  p = strstr (v, "\"replicas\":3");
  assert_non_null (p);
  p[11] = '9';
  assert_int_equal (kvStore_PutString (&rev, kv, "default.itdeploy", v), NATS_OK);
  p[11] = '3';
  assert_int_equal (kvStore_PutString (&rev, kv, "default.copied", v), NATS_OK);
  deadline = now_ms () + WAIT_MS;
  while (now_ms () < deadline
         && !(harness_node_log_has (&H[2], "default.junk revision")
              && harness_node_log_has (&H[2], "bound to another spec")
              && harness_node_log_has (&H[2], "default.copied revision")))
    usleep (100 * 1000);
  assert_true (harness_node_log_has (&H[2], "invalid JSON"));
  /* The altered spec is ignored: the last valid one stays in effect. */
  assert_true (harness_node_log_has (&H[2], "the last valid revision stays in effect"));
  assert_true (harness_node_log_has (&H[2], "names another deployment"));
  usleep (1500 * 1000); /* a round or more: still 3, not 9 */
  assert_int_equal (replicas ().total, 3);
  /* Put the signed value back (the CLI's scale reads it). */
  assert_int_equal (kvStore_PutString (&rev, kv, "default.itdeploy", v), NATS_OK);
  SIGNED_FIRST = v;
  assert_int_equal (kvStore_Delete (kv, "default.junk"), NATS_OK);
  assert_int_equal (kvStore_Delete (kv, "default.copied"), NATS_OK);
  kvStore_Destroy (kv);
  jsCtx_Destroy (js);
  assert_int_equal (replicas ().total, 3);
}

static void
test_scale_to_one (void **state)
{
  struct out *o;
  (void) state;
  o = nexc ("scale itdeploy 1 --issuer %s", ISSUER_FILE);
  assert_int_equal (o->code, 0);
  assert_non_null (strstr (o->text, "scaled default.itdeploy to 1"));
  wait_for (1);
  /* The first apply's value (3 replicas, validly signed, but before the
   * scale) put back: a replay, refused by every node that saw the scale. */
  {
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    uint64_t rev, deadline = now_ms () + WAIT_MS;
    assert_non_null (SIGNED_FIRST);
    assert_int_equal (natsConnection_JetStream (&js, NC, NULL), NATS_OK);
    assert_int_equal (js_KeyValue (&kv, js, DEPLOYMENT_BUCKET_DEFAULT), NATS_OK);
    assert_int_equal (kvStore_PutString (&rev, kv, "default.itdeploy", SIGNED_FIRST), NATS_OK);
    while (!harness_node_log_has (&H[1], "before the revision in effect") && now_ms () < deadline)
      usleep (100 * 1000);
    assert_true (harness_node_log_has (&H[1], "before the revision in effect"));
    kvStore_Destroy (kv);
    jsCtx_Destroy (js);
    usleep (1500 * 1000);
    assert_int_equal (replicas ().total, 1);
    free (SIGNED_FIRST);
    SIGNED_FIRST = NULL;
  }
  o = nexc ("scale itdeploy 3 --issuer %s", ISSUER_FILE);
  assert_int_equal (o->code, 0);
  wait_for (3);
}

/* What the events say about itdeploy-* while a rollout runs. */
struct watch {
  int running, max_running, min_running, steps, failed;
  bool slot_done[3];
  /* Lifecycle events are delivered at least once (a node republishes what
   * the server did not confirm, same CloudEvent id): counted once. */
  char seen[1024][40];
  int n_seen;
};

static bool
seen_before (struct watch *w, const char *id)
{
  if (id == NULL)
    return false;
  for (int i = 0; i < w->n_seen; i++)
    if (strcmp (w->seen[i], id) == 0)
      return true;
  if (w->n_seen < 1024)
    snprintf (w->seen[w->n_seen++], sizeof w->seen[0], "%s", id);
  return false;
}

static void
watch_events (natsSubscription *sub, struct watch *w, int64_t ms)
{
  natsMsg *m = NULL;
  uint64_t until = now_ms () + (uint64_t) ms;
  while (now_ms () < until)
    {
      if (natsSubscription_NextMsg (&m, sub, 100) != NATS_OK)
        continue;
      const char *subj = natsMsg_GetSubject (m);
      const char *type = strrchr (subj, '.') + 1;
      json_t *j = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
      json_t *d = json_object_get (j, "data");
      const char *name = json_string_value (json_object_get (d, "workload_name"));
      bool web = name && strncmp (name, "itdeploy-", 9) == 0;
      const char *evid = json_string_value (json_object_get (j, "id"));
      bool repeat = seen_before (w, evid);
      /* What was counted, for the reader of a failed run. */
      if (web || strncmp (type, "deployment_", 11) == 0)
        fprintf (stderr, "  event %s %s %s source %.20s id %.8s%s %s\n", type, name ? name : "-",
                 json_string_value (json_object_get (d, "template")) ?: "",
                 json_string_value (json_object_get (j, "source")) ?: "?", evid ? evid : "?",
                 repeat ? " (repeat)" : "",
                 json_string_value (json_object_get (d, "message")) ?: "");
      if (repeat)
        ; /* a repeat */
      else if (web && strcmp (type, "workload_started") == 0)
        w->running++;
      else if (web && strcmp (type, "workload_stopped") == 0)
        w->running--;
      else if (strcmp (type, "deployment_rollout_step") == 0)
        {
          json_int_t slot = json_integer_value (json_object_get (d, "slot"));
          w->steps++;
          if (slot >= 0 && slot < 3)
            w->slot_done[slot] = true;
        }
      else if (strcmp (type, "deployment_rollout_failed") == 0)
        w->failed++;
      if (w->running > w->max_running)
        w->max_running = w->running;
      if (w->running < w->min_running)
        w->min_running = w->running;
      json_decref (j);
      natsMsg_Destroy (m);
    }
}

/* Index of the server named by a "leader" member ("s1".."s3"), -1 if none. */
static int
leader_index (json_t *leader)
{
  const char *l = json_string_value (leader);
  return l && l[0] == 's' && l[1] >= '1' && l[1] <= '3' && l[2] == '\0' ? l[1] - '1' : -1;
}

static int
stream_leader (const char *stream)
{
  char subj[128];
  natsMsg *m = NULL;
  int who = -1;
  snprintf (subj, sizeof subj, "$JS.API.STREAM.INFO.%s", stream);
  if (natsConnection_RequestString (&m, NC, subj, "", 2000) == NATS_OK)
    {
      json_t *j = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
      who = leader_index (json_object_get (json_object_get (j, "cluster"), "leader"));
      json_decref (j);
      natsMsg_Destroy (m);
    }
  return who;
}

/* A server to kill mid-rollout, not the client's (1): one that leads neither
 * bucket's stream nor the JetStream meta group when there is one. Losing a
 * leader costs an election of 4-9 s on nats-server 2.9, longer than the
 * lease: every node would fence, which ARCHITECTURE.md describes, but which
 * is not what this test is about. */
static int
victim_server (void)
{
  int lead[3] = { stream_leader ("KV_" DEPLOYMENT_BUCKET_DEFAULT),
                  stream_leader ("KV_" DEPLOYMENT_CLAIMS_BUCKET_DEFAULT), -1 };
  char *jsz = harness_http_get (&H[1], "/jsz");
  json_t *j = jsz ? json_loads (jsz, 0, NULL) : NULL;
  lead[2] = leader_index (json_object_get (json_object_get (j, "meta_cluster"), "leader"));
  json_decref (j);
  free (jsz);
  for (int pass = 3; pass >= 2; pass--)
    for (int c = 0; c < 3; c += 2)
      {
        bool leads = false;
        for (int k = 0; k < pass; k++)
          leads |= lead[k] == c;
        if (!leads)
          return c;
      }
  return 0;
}

static int
rolled_out (const char *old_template)
{
  json_t *row = deployment_row ();
  json_t *reps = json_object_get (row, "replicas"), *r;
  size_t i;
  int n = 0;
  json_array_foreach (reps, i, r)
  {
    if (strcmp (json_string_value (json_object_get (r, "template")) ?: old_template, old_template)
        != 0)
      n++;
  }
  json_decref (row);
  return n;
}

/* Whether the rollout is over: three replicas, each running the spec's
 * template (deployments ls). All on one template is not enough: right after
 * an apply they all still run the old one. */
static bool
on_spec_template (void)
{
  json_t *row = deployment_row ();
  json_t *reps = json_object_get (row, "replicas"), *r;
  const char *want = json_string_value (json_object_get (row, "template"));
  bool same = json_array_size (reps) == 3 && want;
  size_t i;
  json_array_foreach (reps, i, r)
  {
    const char *t = json_string_value (json_object_get (r, "template"));
    same = same && t && strcmp (t, want) == 0;
  }
  json_decref (row);
  return same;
}

/* Until the rollout is over, or the wait's end; then whether it is. */
static bool
wait_rolled_out (uint64_t ms)
{
  uint64_t deadline = now_ms () + ms;
  while (now_ms () < deadline && !(on_spec_template () && replicas ().total == 3))
    usleep (300 * 1000);
  if (on_spec_template () && replicas ().total == 3)
    return true;
  json_t *row = deployment_row ();
  char *txt = row ? json_dumps (row, JSON_COMPACT) : NULL;
  for (int i = 0; i < 3; i++)
    harness_dump_node_log (&H[i]);
  fprintf (stderr, "rollout not over (%d replicas running): %s\n", replicas ().total,
           txt ? txt : "(no row)");
  free (txt);
  json_decref (row);
  return false;
}

static void
test_rolling_update_one_at_a_time (void **state)
{
  natsSubscription *sub = NULL;
  struct watch w = { .running = 3, .max_running = 3, .min_running = 3 };
  char old[32];
  json_t *row, *r0;
  struct out *o;
  uint64_t deadline;
  bool killed = false;
  (void) state;
  /* The previous test's rollout and hand-over over first: what is counted
   * below is this apply's rollout only. */
  assert_true (wait_rolled_out (2 * WAIT_MS));
  wait_for (3);
  row = deployment_row ();
  r0 = json_array_get (json_object_get (row, "replicas"), 0);
  snprintf (old, sizeof old, "%s", json_string_value (json_object_get (r0, "template")) ?: "");
  json_decref (row);
  assert_int_equal (strlen (old), DEPLOYMENT_TEMPLATE_LEN);
  assert_int_equal (natsConnection_SubscribeSync (&sub, NC, "$NEX.events.default.>"), NATS_OK);
  natsConnection_Flush (NC);
  /* The previous test's hand-over may still be stopping a fourth replica
   * (its stop arrived right after the subscription, before any apply, in a
   * failed run): let what is in flight pass, uncounted, then count from
   * exactly three. */
  {
    struct watch settle = { .running = 3, .max_running = 3, .min_running = 3 };
    watch_events (sub, &settle, 1000);
  }
  wait_for (3);
  write_spec (3, "300"); /* another environment: another template */
  o = nexc ("apply %s --issuer %s", SPEC_FILE, ISSUER_FILE);
  assert_int_equal (o->code, 0);
  /* Until the first replica is replaced: one at a time (max_unavailable
   * 1), the new one started before the old one stops, so never fewer than
   * 3 running and never more than 4. */
  deadline = now_ms () + 2 * WAIT_MS;
  while (now_ms () < deadline && w.steps < 1)
    watch_events (sub, &w, 200);
  /* A loaded machine may deliver the next step within the same 200 ms:
   * one at a time is what the running counts say. */
  if (w.steps < 1 || w.min_running < 3 || w.max_running > 4)
    for (int i = 0; i < 3; i++)
      harness_dump_node_log (&H[i]);
  assert_true (w.steps >= 1);
  assert_true (w.min_running >= 3);
  assert_true (w.max_running <= 4);
  w.max_running = w.min_running = w.running;
  /* Then a nats-server is SIGKILLed and started again (one that leads
   * neither bucket's stream when it can): the node connected to it
   * reconnects, and may fence while that server catches up; the rollout
   * goes on, every slot ends on the new template, no failure. */
  killed = true;
  harness_restart_nats (&H[victim_server ()]);
  deadline = now_ms () + 3 * WAIT_MS;
  while (now_ms () < deadline && (rolled_out (old) < 3 || replicas ().total != 3))
    watch_events (sub, &w, 500);
  watch_events (sub, &w, 1000);
  natsSubscription_Destroy (sub);
  fprintf (stderr, "rollout: %d steps, running between %d and %d, %d events counted\n", w.steps,
           w.min_running, w.max_running, w.n_seen);
  assert_true (killed);
  assert_int_equal (w.failed, 0);
  /* Across the server's loss a token's holder may miss its renewals: the
   * token expires, another node takes it while the first replacement still
   * overlaps its old replica (ARCHITECTURE.md): at most one more. */
  assert_true (w.max_running <= 5);
  assert_int_equal (rolled_out (old), 3);
  wait_for (3);
}

/* A template whose replica exits at once: the first replacement fails, the
 * rollout stops there with an event that says why, the old replicas run on. */
static void
test_failed_replacement_stops_rollout (void **state)
{
  natsSubscription *sub = NULL;
  struct watch w = { .running = 3, .max_running = 3, .min_running = 3 };
  struct out *o;
  uint64_t deadline;
  (void) state;
  wait_for (3);
  assert_int_equal (natsConnection_SubscribeSync (&sub, NC, "$NEX.events.default.>"), NATS_OK);
  natsConnection_Flush (NC);
  write_spec_ticks (3, "50", "1");
  o = nexc ("apply %s --issuer %s", SPEC_FILE, ISSUER_FILE);
  assert_int_equal (o->code, 0);
  deadline = now_ms () + WAIT_MS;
  while (now_ms () < deadline && w.failed == 0)
    watch_events (sub, &w, 200);
  /* A few more rounds: nobody else tries. */
  watch_events (sub, &w, 3000);
  natsSubscription_Destroy (sub);
  /* One failure, or one per node that took a token before it saw the
   * other's marked failed: the rollout of that template stops either way. */
  assert_true (w.failed >= 1);
  assert_int_equal (w.steps, 0);
  assert_true (harness_node_log_has (&H[0], "rollout of template")
               || harness_node_log_has (&H[1], "rollout of template")
               || harness_node_log_has (&H[2], "rollout of template"));
  assert_int_equal (replicas ().total, 3);
}

/* A node put in lame duck lets its slots go at once: the others run them. */
/* The claim of default.itdeploy's slot k: its holder into node (cap
 * bytes; "" when the key is gone or holds no claim). */
static void
claim_holder (kvStore *kv, int k, char *node, size_t cap)
{
  char key[128];
  kvEntry *e = NULL;
  node[0] = '\0';
  snprintf (key, sizeof key, "slot.default.itdeploy.%d", k);
  if (kvStore_Get (&e, kv, key) == NATS_OK && kvEntry_Operation (e) == kvOp_Put)
    {
      json_t *j = json_loadb (kvEntry_Value (e), (size_t) kvEntry_ValueLen (e), 0, NULL);
      snprintf (node, cap, "%s", json_string_value (json_object_get (j, "node")) ?: "");
      json_decref (j);
    }
  kvEntry_Destroy (e);
}

/* The revision of slot k's key (0: none). */
static uint64_t
claim_rev (kvStore *kv, int k)
{
  char key[128];
  kvEntry *e = NULL;
  uint64_t rev = 0;
  snprintf (key, sizeof key, "slot.default.itdeploy.%d", k);
  if (kvStore_Get (&e, kv, key) == NATS_OK)
    rev = kvEntry_Revision (e);
  kvEntry_Destroy (e);
  return rev;
}

/* key taken with value as a node takes a slot: written, then confirmed by a
 * second compare-and-set on its own revision. nats-server 2.9's clustered
 * streams check an expected revision against what is applied, not what is
 * in flight (ARCHITECTURE.md, "The compare-and-set itself"), so a renewal
 * of the holder's sent as the claim was written can land after it; the
 * confirmation then fails, as a real taker's would, the slot stays the
 * holder's, and the take is tried again. */
static void
forge_take (kvStore *kv, const char *key, const char *value)
{
  uint64_t rev;
  bool taken = false;
  for (int tries = 0; tries < 20 && !taken; tries++)
    {
      assert_int_equal (kvStore_PutString (&rev, kv, key, value), NATS_OK);
      taken = kvStore_UpdateString (&rev, kv, key, value, rev) == NATS_OK;
    }
  assert_true (taken);
}

/* For a failure's report: the key's revisions, oldest first. */
static void
claim_history (kvStore *kv, const char *key)
{
  kvEntryList l = { 0 };
  if (kvStore_History (&l, kv, key, NULL) != NATS_OK)
    return;
  for (int i = 0; i < l.Count; i++)
    fprintf (stderr, "  %s rev %llu %s %.*s\n", key,
             (unsigned long long) kvEntry_Revision (l.Entries[i]),
             kvEntry_Operation (l.Entries[i]) == kvOp_Put ? "put" : "del/purge",
             kvEntry_ValueLen (l.Entries[i]), (const char *) kvEntry_Value (l.Entries[i]) ?: "");
  kvEntryList_Destroy (&l);
}

static void
test_lameduck_node_hands_its_slots_over (void **state)
{
  struct out *o;
  struct seen s;
  uint64_t deadline;
  (void) state;
  /* A template that runs (the last one's replacement failed). */
  write_spec (3, "250");
  o = nexc ("apply %s --issuer %s", SPEC_FILE, ISSUER_FILE);
  assert_int_equal (o->code, 0);
  assert_true (wait_rolled_out (2 * WAIT_MS));
  s = wait_for (3);
  /* The node with the most replicas goes lame duck. */
  int busiest = 0;
  for (int i = 1; i < 3; i++)
    if (s.per_node[i] > s.per_node[busiest])
      busiest = i;
  assert_true (s.per_node[busiest] > 0);
  /* One of its slots is another node's by the bucket's word by the time it
   * lets them go, as if its lease had run out unawares and a node had taken
   * the slot. Its release must leave that claim alone: a compare-and-set on
   * the revision it wrote itself, where an unconditional delete would free
   * the slot under the other node. The claim is one the nodes cannot read
   * (expires_ms not a number), so the node's watch does not let the slot
   * go first (test_claim_taken_over_is_let_go) and the release is what
   * decides; the lame duck is asked right after the write. The test
   * deletes it afterwards, and the slot is claimed again. */
  jsCtx *js = NULL;
  kvStore *kv = NULL;
  struct nexc_client *c = NULL;
  struct nxerr err = { 0 };
  char holder[64], key[128], forged[256];
  int victim = -1;
  assert_int_equal (natsConnection_JetStream (&js, NC, NULL), NATS_OK);
  assert_int_equal (js_KeyValue (&kv, js, DEPLOYMENT_CLAIMS_BUCKET_DEFAULT), NATS_OK);
  for (int k = 0; k < 3 && victim < 0; k++)
    {
      claim_holder (kv, k, holder, sizeof holder);
      if (strcmp (holder, H[busiest].node_id) == 0)
        victim = k;
    }
  assert_true (victim >= 0);
  snprintf (key, sizeof key, "slot.default.itdeploy.%d", victim);
  snprintf (forged, sizeof forged,
            "{\"node\":\"NOTANODEOFTHISCLUSTER\",\"expires_ms\":\"later\",\"running\":true}");
  assert_int_equal (nexc_client_wrap (&c, NC, &err), 0);
  forge_take (kv, key, forged);
  assert_int_equal (nexc_lameduck (c, H[busiest].node_id, &err), 0);
  usleep (1000 * 1000);
  claim_holder (kv, victim, holder, sizeof holder);
  if (strcmp (holder, "NOTANODEOFTHISCLUSTER") != 0)
    {
      harness_dump_node_log (&H[busiest]);
      claim_history (kv, key);
      fail_msg ("slot %d: the lame duck's release freed another node's claim (holder now \"%s\")",
                victim, holder);
    }
  assert_int_equal (kvStore_Delete (kv, key), NATS_OK);
  nexc_client_free (c);
  kvStore_Destroy (kv);
  jsCtx_Destroy (js);
  deadline = now_ms () + WAIT_MS;
  do
    {
      usleep (300 * 1000);
      s = replicas ();
    }
  while (now_ms () < deadline && !(s.total == 3 && s.per_node[busiest] == 0));
  assert_int_equal (s.per_node[busiest], 0);
  assert_int_equal (s.total, 3);
  /* Its slot let go by the release, or, when a renewal came first, lost
   * on that renewal's conflict. */
  assert_true (harness_node_log_has (&H[busiest], "released (lame duck)")
               || harness_node_log_has (&H[busiest], "lost the claim"));
}

/* A node holding a slot sees another node take it (a confirmed take, as
 * after a lease that ran out unawares, or a renewal and a take both
 * accepted): it lets the slot go as soon as its watch shows the take, not
 * when its next renewal fails. The take is written right after one of the
 * holder's renewals (a second away from the next), so the watch is what
 * tells it. Once the taker's lease is over a live node takes the slot. */
static void
test_claim_taken_over_is_let_go (void **state)
{
  jsCtx *js = NULL;
  kvStore *kv = NULL;
  char holder[64], key[128], forged[256], want[128];
  int owner = -1;
  uint64_t rev, deadline;
  (void) state;
  wait_for (3);
  assert_int_equal (natsConnection_JetStream (&js, NC, NULL), NATS_OK);
  assert_int_equal (js_KeyValue (&kv, js, DEPLOYMENT_CLAIMS_BUCKET_DEFAULT), NATS_OK);
  claim_holder (kv, 0, holder, sizeof holder);
  for (int i = 0; i < 3; i++)
    if (strcmp (holder, H[i].node_id) == 0)
      owner = i;
  assert_true (owner >= 0);
  snprintf (key, sizeof key, "slot.default.itdeploy.0");
  rev = claim_rev (kv, 0);
  deadline = now_ms () + WAIT_MS;
  while (claim_rev (kv, 0) == rev && now_ms () < deadline)
    usleep (5 * 1000);
  snprintf (forged, sizeof forged, "{\"node\":\"NOTANODEOFTHISCLUSTER\",\"expires_ms\":%lld,"
            "\"running\":true}", (long long) time (NULL) * 1000 + 3000);
  forge_take (kv, key, forged);
  snprintf (want, sizeof want, "slot 0: taken by NOTANODEOFTHISCLUSTER at revision");
  deadline = now_ms () + WAIT_MS;
  while (!harness_node_log_has (&H[owner], want) && now_ms () < deadline)
    usleep (50 * 1000);
  if (!harness_node_log_has (&H[owner], want))
    {
      harness_dump_node_log (&H[owner]);
      fail_msg ("the holder did not let slot 0 go on seeing it taken");
    }
  assert_false (harness_node_log_has (&H[owner], "slot 0: lost the claim"));
  /* The taker never renews: once its lease is over a node of the cluster
   * takes the slot, and there are three replicas again. */
  bool ours = false;
  deadline = now_ms () + WAIT_MS;
  while (!ours && now_ms () < deadline)
    {
      usleep (100 * 1000);
      claim_holder (kv, 0, holder, sizeof holder);
      for (int i = 0; i < 3; i++)
        ours |= strcmp (holder, H[i].node_id) == 0;
    }
  assert_true (ours);
  kvStore_Destroy (kv);
  jsCtx_Destroy (js);
  wait_for (3);
}

static void
test_rm_leaves_none (void **state)
{
  struct out *o;
  (void) state;
  o = nexc ("deployments rm itdeploy");
  assert_int_equal (o->code, 0);
  wait_for (0);
  o = nexc ("deployments rm itdeploy");
  assert_int_equal (o->code, 1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_apply_three_spread_over_nodes),
    cmocka_unit_test (test_node_killed_heals_elsewhere),
    cmocka_unit_test (test_node_back_still_exactly_three),
    cmocka_unit_test (test_claim_taken_over_is_let_go),
    cmocka_unit_test (test_spec_of_unknown_issuer_ignored),
    cmocka_unit_test (test_spec_a_node_cannot_run_is_not_claimed),
    cmocka_unit_test (test_tampered_specs_ignored),
    cmocka_unit_test (test_scale_to_one),
    cmocka_unit_test (test_failed_replacement_stops_rollout),
    cmocka_unit_test (test_lameduck_node_hands_its_slots_over),
    /* Last but rm: a server restarted under the cluster leaves it unsettled
     * for a while. */
    cmocka_unit_test (test_rolling_update_one_at_a_time),
    cmocka_unit_test (test_rm_leaves_none),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
