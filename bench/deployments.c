/* Scenario 8, declarative deployments (issue #17): three nodes on the run's
 * nats-server (buckets with 1 replica: one server), deployments on with the
 * default lease, tier none, examples/ticker as the artifact.
 *
 *   deploy.apply   a signed spec of 3 replicas put in the bucket -> the third
 *                  workload_started of its replicas (each trial a fresh
 *                  deployment, removed after)
 *   deploy.heal    SIGKILL of a node that holds replicas -> workload_started
 *                  of each of its slots on another node (the node restarted
 *                  between trials, with a fresh identity)
 *   deploy.excess  the most replicas running on the host at once while the
 *                  killed node came back and after (target: never above 3)
 *   deploy.lease   the lease, which bounds heal (lease + skew + a round)
 *   deploy.rollout a new template of a running deployment of 3 put in the
 *                  bucket -> the third replacement's workload_started (one
 *                  at a time, max_unavailable 1); its floor is the design's
 *                  wait per step: the replacement runs READY_MS (500 ms)
 *                  before the old one stops, and a token taken over a
 *                  released one is confirmed first (100 ms)
 * Floor: none measured (what heal waits for is the lease by design); the
 * lease is printed beside it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/deployment.h"
#include "api/xalloc.h"
#include "bench/bench.h"
#include "bench/client.h"
#include "bench/proc.h"
#include "cgsweep.h"

#define NODES 3
#define REPLICAS 3
#define LEASE_MS 3000 /* the node's default (node/core/config.c) */
#define SKEW_MS 500
#define PING_WAIT_MS 20000 /* a (re)started node must answer PING within this */

struct ctx {
  struct bench *b;
  natsConnection *nc;
  jsCtx *js;
  kvStore *specs, *claims;
  natsSubscription *started;
  struct bench_node nd[NODES];
  char *cfg;
  char hex[65];
};

static char *
deployments_config (struct bench *b)
{
  char *base = bench_node_config (b, "none", 2);
  size_t n = strlen (base);
  char *out = xmalloc (n + 128);
  memcpy (out, base, n - 1); /* without the closing brace */
  snprintf (out + n - 1, 128, ",\"deployments\":{\"enabled\":true,\"replicas\":1}}");
  free (base);
  return out;
}

/* Processes on the host whose argv[0] starts with "{name}-". */
static int
count_replicas (const char *name)
{
  DIR *d = opendir ("/proc");
  struct dirent *e;
  char prefix[128];
  int n = 0;
  snprintf (prefix, sizeof prefix, "%s-", name);
  while (d && (e = readdir (d)))
    {
      char path[300], buf[256];
      int fd;
      ssize_t r;
      if (e->d_name[0] < '0' || e->d_name[0] > '9')
        continue;
      snprintf (path, sizeof path, "/proc/%s/cmdline", e->d_name);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      r = read (fd, buf, sizeof buf - 1);
      close (fd);
      if (r > 0)
        {
          buf[r] = '\0';
          n += strncmp (buf, prefix, strlen (prefix)) == 0;
        }
    }
  if (d)
    closedir (d);
  return n;
}

/* argv: the replicas' arguments (the ticker ignores them: another argv is
 * another template, same behaviour), NULL for none. */
static int
put_spec_argv (struct ctx *c, const char *name, int replicas, char **argv, struct nxerr *err)
{
  struct deployment_spec s;
  struct buf v = BUF_INIT;
  char loc[128], key[128];
  uint64_t rev;
  natsStatus st;
  int rc;
  memset (&s, 0, sizeof s);
  snprintf (loc, sizeof loc, "nats://%s/bench-ticker", BENCH_BUCKET);
  s.name = (char *) name;
  s.ns = (char *) "default";
  s.replicas = (uint32_t) replicas;
  s.location = loc;
  s.sha256 = c->hex;
  s.type = (char *) "service";
  s.spread = (char *) "node";
  s.max_unavailable = 1;
  s.argv = argv;
  while (argv && argv[s.argc])
    s.argc++;
  rc = deployment_sign (&s, &c->b->issuer, &v, err);
  deployment_key ("default", name, key, sizeof key);
  if (rc == 0 && (st = kvStore_PutString (&rev, c->specs, key, v.data)) != NATS_OK)
    rc = nxerr_set (err, EIO, "put %s: %s", key, natsStatus_GetText (st));
  buf_free (&v);
  return rc;
}

static int
put_spec (struct ctx *c, const char *name, int replicas, struct nxerr *err)
{
  return put_spec_argv (c, name, replicas, NULL, err);
}

/* Wait for workload_started of each name in want (NULL-ended); returns the
 * arrival time of the last one, 0 on timeout. */
static uint64_t
wait_started (struct ctx *c, char want[][64], int n, int timeout_ms)
{
  uint64_t deadline = bench_now_ns () + (uint64_t) timeout_ms * 1000000, last = 0;
  int seen = 0;
  bool got[REPLICAS] = { false };
  while (seen < n && bench_now_ns () < deadline)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, c->started, 100) != NATS_OK)
        continue;
      uint64_t at = bench_now_ns ();
      json_t *j = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
      const char *name
          = json_string_value (json_object_get (json_object_get (j, "data"), "workload_name"));
      for (int i = 0; i < n && name; i++)
        if (!got[i] && strcmp (name, want[i]) == 0)
          {
            got[i] = true;
            seen++;
            last = at;
          }
      json_decref (j);
      natsMsg_Destroy (m);
    }
  return seen == n ? last : 0;
}

/* The slots of dep held by node id (from the claims bucket). */
static int
slots_of (struct ctx *c, const char *dep, const char *id, char out[][64])
{
  int n = 0;
  for (int i = 0; i < REPLICAS; i++)
    {
      char key[160];
      kvEntry *e = NULL;
      struct deployment_claim cl;
      struct nxerr err = { 0 };
      snprintf (key, sizeof key, "slot.default.%s.%d", dep, i);
      if (kvStore_Get (&e, c->claims, key) == NATS_OK
          && deployment_claim_decode (kvEntry_Value (e), (size_t) kvEntry_ValueLen (e), &cl, &err)
                 == 0)
        {
          if (strcmp (cl.node, id) == 0)
            snprintf (out[n++], 64, "%s-%d", dep, i);
          deployment_claim_free (&cl);
        }
      kvEntry_Destroy (e);
    }
  return n;
}

/* node_start learns the id from a broadcast PING, which any of three nodes
 * may answer first: the id from the node's own identity file instead. */
static int
start_node (struct ctx *c, struct bench_node *nd, struct nxerr *err)
{
  char path[700];
  struct nkey_pair kp;
  if (node_start (c->b, nd, c->cfg, false, err) < 0)
    return -1;
  snprintf (path, sizeof path, "%s/state/node.nk", nd->dir);
  /* Another node's answer may have come first: this one may still be
   * starting. Up once it answers on its own subject. */
  for (int i = 0; i < 100 && access (path, R_OK) != 0; i++)
    bench_sleep_ms (100);
  if (nkey_pair_from_file (path, &kp, err) < 0)
    return nxerr_wrap (err, "node identity");
  {
    natsConnection *nc = NULL;
    char subj[128];
    bool up = false;
    snprintf (subj, sizeof subj, "$NEX.PING.%s", kp.public_text);
    if (bench_connect (c->b->nats->url, "bench-ping", &nc, err) < 0)
      return -1;
    /* By time, not by tries: before the node subscribes, the server
     * answers "no responders" at once, and 100 tries went by in 7 ms
     * (a node still starting beside a loaded CI was reported dead). */
    for (uint64_t until = bench_now_ns () + PING_WAIT_MS * 1000000ull;
         !up && bench_now_ns () < until;)
      {
        natsMsg *m = NULL;
        natsStatus s = natsConnection_Request (&m, nc, subj, "", 0, 200);
        natsMsg_Destroy (m);
        up = s == NATS_OK;
        if (s == NATS_NO_RESPONDERS)
          bench_sleep_ms (20);
      }
    natsConnection_Destroy (nc);
    if (!up)
      return nxerr_set (err, ETIMEDOUT, "node %s does not answer PING in %d ms; its log ends: %s",
                        kp.public_text, PING_WAIT_MS, node_log_tail (nd, 400));
  }
  snprintf (nd->node_id, sizeof nd->node_id, "%s", kp.public_text);
  /* node_start remembered whichever node answered its PING first. */
  cgsweep_remember (kp.public_text, nd->pid);
  nkey_pair_wipe (&kp);
  return 0;
}

static int
setup (struct ctx *c, struct nxerr *err)
{
  natsStatus s;
  c->cfg = deployments_config (c->b);
  for (int i = 0; i < NODES; i++)
    if (start_node (c, &c->nd[i], err) < 0)
      return -1;
  if (bench_connect (c->b->nats->url, "bench-deployments", &c->nc, err) < 0
      || bench_upload_file (c->nc, "bench-ticker", c->b->ticker_bin, c->hex, err) < 0)
    return -1;
  if ((s = natsConnection_JetStream (&c->js, c->nc, NULL)) != NATS_OK)
    return nxerr_set (err, EIO, "JetStream: %s", natsStatus_GetText (s));
  /* The nodes make the buckets: wait for them. */
  for (int i = 0; i < 100; i++)
    {
      if (c->specs == NULL)
        js_KeyValue (&c->specs, c->js, DEPLOYMENT_BUCKET_DEFAULT);
      if (c->claims == NULL)
        js_KeyValue (&c->claims, c->js, DEPLOYMENT_CLAIMS_BUCKET_DEFAULT);
      if (c->specs && c->claims)
        break;
      bench_sleep_ms (100);
    }
  if (c->specs == NULL || c->claims == NULL)
    return nxerr_set (err, ETIMEDOUT, "the nodes made no deployments buckets");
  /* Every node's liveness key, so that the spread counts three nodes. */
  bench_sleep_ms (LEASE_MS / 2);
  if (natsConnection_SubscribeSync (&c->started, c->nc, "$NEX.events.default.workload_started")
      != NATS_OK)
    return nxerr_set (err, EIO, "subscribe to workload_started");
  return 0;
}

static void
teardown (struct ctx *c)
{
  natsSubscription_Destroy (c->started);
  kvStore_Destroy (c->specs);
  kvStore_Destroy (c->claims);
  jsCtx_Destroy (c->js);
  if (c->nc)
    natsConnection_Destroy (c->nc);
  for (int i = 0; i < NODES; i++)
    if (c->nd[i].pid > 0)
      node_stop (&c->nd[i], 10000);
  free (c->cfg);
}

static int
apply_series (struct ctx *c, int n, struct samples *out, struct nxerr *err)
{
  for (int t = 0; t < n; t++)
    {
      char name[32], want[REPLICAS][64], key[64];
      uint64_t t0, at;
      snprintf (name, sizeof name, "bapply%d", t);
      for (int i = 0; i < REPLICAS; i++)
        snprintf (want[i], sizeof want[i], "%s-%d", name, i);
      t0 = bench_now_ns ();
      if (put_spec (c, name, REPLICAS, err) < 0)
        return -1;
      at = wait_started (c, want, REPLICAS, 20000);
      if (at == 0)
        return nxerr_set (err, ETIMEDOUT, "%s: not all %d replicas started", name, REPLICAS);
      samples_add (out, (double) (at - t0) / 1e3);
      deployment_key ("default", name, key, sizeof key);
      kvStore_Delete (c->specs, key);
      for (int i = 0; i < 100 && count_replicas (name) > 0; i++)
        bench_sleep_ms (100);
    }
  return 0;
}

/* n new templates of one deployment, each rolled out in full before the
 * next: put -> the last replacement started. */
static int
rollout_series (struct ctx *c, int n, struct samples *out, struct nxerr *err)
{
  const char *dep = "broll";
  char want[REPLICAS][64], key[64];
  for (int i = 0; i < REPLICAS; i++)
    snprintf (want[i], sizeof want[i], "%s-%d", dep, i);
  if (put_spec (c, dep, REPLICAS, err) < 0)
    return -1;
  if (wait_started (c, want, REPLICAS, 20000) == 0)
    return nxerr_set (err, ETIMEDOUT, "%s: not all replicas started", dep);
  for (int t = 0; t < n; t++)
    {
      char gen[32], *argv[] = { gen, NULL };
      uint64_t t0, at;
      /* The previous rollout's last old replica stops READY_MS after its
       * replacement started: three processes again first. */
      for (int i = 0; i < 100 && count_replicas (dep) != REPLICAS; i++)
        bench_sleep_ms (50);
      bench_sleep_ms (200);
      snprintf (gen, sizeof gen, "gen-%d", t + 1);
      t0 = bench_now_ns ();
      if (put_spec_argv (c, dep, REPLICAS, argv, err) < 0)
        return -1;
      at = wait_started (c, want, REPLICAS, 30000);
      if (at == 0)
        return nxerr_set (err, ETIMEDOUT, "rollout %d of %s: not all replicas replaced", t + 1,
                          dep);
      samples_add (out, (double) (at - t0) / 1e3);
    }
  deployment_key ("default", dep, key, sizeof key);
  kvStore_Delete (c->specs, key);
  for (int i = 0; i < 100 && count_replicas (dep) > 0; i++)
    bench_sleep_ms (100);
  return 0;
}

static int
heal_series (struct ctx *c, int n, struct samples *out, int *excess, struct nxerr *err)
{
  const char *dep = "bheal";
  char want[REPLICAS][64];
  for (int i = 0; i < REPLICAS; i++)
    snprintf (want[i], sizeof want[i], "%s-%d", dep, i);
  if (put_spec (c, dep, REPLICAS, err) < 0)
    return -1;
  if (wait_started (c, want, REPLICAS, 20000) == 0)
    return nxerr_set (err, ETIMEDOUT, "%s: not all replicas started", dep);
  *excess = 0;
  for (int t = 0; t < n; t++)
    {
      char lost[REPLICAS][64];
      int victim = -1, k = 0;
      uint64_t t0, at;
      /* Let the claims settle (the running flag follows a round later). */
      bench_sleep_ms (LEASE_MS / 3 + 200);
      for (int i = 0; i < NODES && victim < 0; i++)
        if ((k = slots_of (c, dep, c->nd[(t + i) % NODES].node_id, lost)) > 0)
          victim = (t + i) % NODES;
      if (victim < 0)
        return nxerr_set (err, EPROTO, "no node holds a slot of %s", dep);
      t0 = bench_now_ns ();
      kill (c->nd[victim].pid, SIGKILL);
      proc_wait (c->nd[victim].pid, 5000, NULL);
      c->nd[victim].pid = 0;
      at = wait_started (c, lost, k, 30000);
      if (at == 0)
        return nxerr_set (err, ETIMEDOUT,
                          "trial %d: the %d slots of the killed node never ran "
                          "elsewhere",
                          t, k);
      samples_add (out, (double) (at - t0) / 1e3);
      if (count_replicas (dep) > *excess)
        *excess = count_replicas (dep);
      if (start_node (c, &c->nd[victim], err) < 0)
        return -1;
      /* The node is back: its old replicas died with it, its slots are
       * others'. Look for a while. */
      for (int i = 0; i < 10; i++)
        {
          int r = count_replicas (dep);
          if (r > *excess)
            *excess = r;
          bench_sleep_ms (100);
        }
    }
  return 0;
}

void
scenario_deployments (struct bench *b)
{
  struct row *apply = report_row (b->report, "deploy.apply");
  struct row *heal = report_row (b->report, "deploy.heal");
  struct row *excess = report_row (b->report, "deploy.excess");
  struct row *lease = report_row (b->report, "deploy.lease");
  struct row *roll = report_row (b->report, "deploy.rollout");
  struct ctx c = { .b = b };
  struct samples s_apply = { 0 }, s_heal = { 0 }, s_roll = { 0 };
  struct summary sa, sh, sr;
  struct nxerr err = { 0 };
  int most = 0;

  row_what (apply,
            "signed spec of %d replicas put in KV -> all %d running (workload_started), "
            "3 nodes",
            REPLICAS, REPLICAS);
  row_what (heal, "SIGKILL of a node holding replicas -> its slots running on other nodes");
  row_what (excess, "most replicas running on the host after a kill and the node's return");
  row_what (lease, "lease_ms (default) + skew_ms: a slot is free this long after its last renewal");
  row_result (lease, "%d ms + %d ms", LEASE_MS, SKEW_MS);
  row_num (lease, "lease_ms", LEASE_MS);
  row_num (lease, "skew_ms", SKEW_MS);
  row_what (roll,
            "new template of a running deployment of %d (max_unavailable 1) put in KV -> the "
            "last replacement running",
            REPLICAS);
  bench_progress ("deployments: %d applies, %d node kills", b->o.deploy_n, b->o.deploy_n);
  if (setup (&c, &err) < 0)
    {
      row_fail (apply, "%s", err.msg);
      row_fail (heal, "%s", err.msg);
      row_fail (excess, "%s", err.msg);
      row_fail (roll, "%s", err.msg);
      teardown (&c);
      return;
    }
  if (apply_series (&c, b->o.deploy_n, &s_apply, &err) < 0)
    row_fail (apply, "%s", err.msg);
  else
    {
      sa = samples_summary (&s_apply);
      row_latency (apply, &sa);
      row_floor (apply, "-");
    }
  err.msg[0] = '\0';
  if (rollout_series (&c, b->o.deploy_n, &s_roll, &err) < 0)
    row_fail (roll, "%s", err.msg);
  else
    {
      sr = samples_summary (&s_roll);
      row_latency (roll, &sr);
      row_floor (roll, "%d steps x (500 ms ready + 100 ms confirm) = %d ms", REPLICAS,
                 REPLICAS * 600);
    }
  err.msg[0] = '\0';
  if (heal_series (&c, b->o.deploy_n, &s_heal, &most, &err) < 0)
    {
      row_fail (heal, "%s", err.msg);
      row_fail (excess, "%s", err.msg);
    }
  else
    {
      sh = samples_summary (&s_heal);
      row_latency (heal, &sh);
      row_floor (heal, "lease %d ms + skew %d ms", LEASE_MS, SKEW_MS);
      row_target (heal, "p50 <= 5 s with the default lease",
                  sh.p50 <= 5e6 ? VERDICT_MET : VERDICT_MISSED);
      row_result (excess, "%d", most);
      row_num (excess, "max_running", most);
      row_target (excess, "never above 3", most <= REPLICAS ? VERDICT_MET : VERDICT_MISSED);
    }
  samples_free (&s_apply);
  samples_free (&s_heal);
  samples_free (&s_roll);
  teardown (&c);
}
