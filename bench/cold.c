/* Scenario 2, cold deploys.
 *
 * Pool miss: a node with machine_pool_size 1 gets two DEPLOYs sent back to
 * back; the first leases the warm agent, the second finds the pool empty and
 * waits for an agent to start. INFO's nexc.pool.misses tells which pairs
 * really missed; samples are split by it. Floor of a miss: the hit of the
 * same pairs plus posix_spawn+wait of nexc-agent (--help: exec + dynamic
 * link + exit).
 *
 * Artifact not cached: each deploy names a fresh object (the idle executable
 * padded to the size, with random bytes at the end so the hash is new);
 * floor: reading the same object with the same client code the node uses
 * (objstore_get_info + objstore_read, digest verified). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/objstore.h"
#include "api/xalloc.h"
#include "bench/bench.h"
#include "bench/client.h"
#include "bench/proc.h"
#include "bench/responder.h"

/* ---- pool miss ---- */

/* Send both payloads at once; reply times (ns after each send) in lat[]. */
static int
deploy_pair (natsConnection *nc, const struct bench_node *nd, char *payload[2],
             struct deployed d[2], uint64_t lat[2], struct nxerr *err)
{
  natsSubscription *sub = NULL;
  char subj[128], inbox[2][96], prefix[64];
  natsInbox *ib = NULL;
  uint64_t sent[2];
  int got = 0, rc = -1;
  natsStatus s = natsInbox_Create (&ib);
  if (s != NATS_OK)
    return nxerr_set (err, EIO, "inbox: %s", natsStatus_GetText (s));
  snprintf (prefix, sizeof prefix, "%s", (const char *) ib);
  natsInbox_Destroy (ib);
  snprintf (inbox[0], sizeof inbox[0], "%s.a", prefix);
  snprintf (inbox[1], sizeof inbox[1], "%s.b", prefix);
  snprintf (subj, sizeof subj, "%s.*", prefix);
  if (natsConnection_SubscribeSync (&sub, nc, subj) != NATS_OK
      || natsConnection_Flush (nc) != NATS_OK)
    {
      natsSubscription_Destroy (sub);
      return nxerr_set (err, EIO, "subscribe to reply inbox");
    }
  snprintf (subj, sizeof subj, "$NEX.DEPLOY.default.%s", nd->node_id);
  for (int i = 0; i < 2; i++)
    {
      sent[i] = bench_now_ns ();
      if (natsConnection_PublishRequest (nc, subj, inbox[i], payload[i], (int) strlen (payload[i]))
          != NATS_OK)
        {
          nxerr_set (err, EIO, "publish deploy");
          goto out;
        }
    }
  while (got < 2)
    {
      natsMsg *m = NULL;
      json_t *root, *data;
      const char *id;
      int k;
      if (natsSubscription_NextMsg (&m, sub, 10000) != NATS_OK)
        {
          nxerr_set (err, ETIMEDOUT, "no reply to a deploy of the pair");
          goto out;
        }
      k = natsMsg_GetSubject (m)[strlen (natsMsg_GetSubject (m)) - 1] == 'a' ? 0 : 1;
      lat[k] = bench_now_ns () - sent[k];
      root = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
      natsMsg_Destroy (m);
      data = json_object_get (root, "data");
      id = json_string_value (json_object_get (data, "id"));
      if (id == NULL)
        {
          const char *e = json_string_value (json_object_get (root, "error"));
          nxerr_set (err, EPROTO, "deploy %s: %s", d[k].name, e ? e : "reply without id");
          json_decref (root);
          goto out;
        }
      snprintf (d[k].id, sizeof d[k].id, "%s", id);
      json_decref (root);
      got++;
    }
  rc = 0;
out:
  natsSubscription_Destroy (sub);
  return rc;
}

static int
pool_miss (struct bench *b, struct samples *hit, struct samples *miss, long *unclassified,
           struct nxerr *err)
{
  struct bench_node nd;
  natsConnection *nc = NULL;
  char *cfg = bench_node_config (b, "none", 1);
  char hex[65];
  char *env = NULL;
  int rc = -1;
  *unclassified = 0;
  if (node_start (b, &nd, cfg, true, err) < 0)
    {
      free (cfg);
      return -1;
    }
  free (cfg);
  if (bench_connect (b->nats->url, "nexc-bench-cold", &nc, err) < 0
      || bench_upload_file (nc, "idle", b->idle_bin, hex, err) < 0
      || (env = bench_seal_env (b, &nd, NULL, err)) == NULL)
    goto out;
  for (int i = 0; i < b->o.cold_pool_n + 2; i++)
    {
      struct deploy_spec spec = { .prefix = "cold", .key = "idle", .hash = hex, .sealed_env = env };
      struct deployed d[2];
      char *payload[2] = { NULL, NULL };
      uint64_t lat[2];
      struct pool_state before, after;
      int sent;
      if (bench_wait_pool_full (nc, &nd, 10000, err) < 0
          || bench_pool_state (nc, &nd, &before, err) < 0)
        goto out;
      if (bench_deploy_payload (b, &nd, &spec, &d[0], &payload[0], err) < 0
          || bench_deploy_payload (b, &nd, &spec, &d[1], &payload[1], err) < 0)
        {
          free (payload[0]);
          goto out;
        }
      sent = deploy_pair (nc, &nd, payload, d, lat, err);
      free (payload[0]);
      free (payload[1]);
      if (sent < 0 || bench_pool_state (nc, &nd, &after, err) < 0)
        goto out;
      if (bench_stop (b, nc, &nd, &d[0], 10000, NULL, err) < 0
          || bench_stop (b, nc, &nd, &d[1], 10000, NULL, err) < 0)
        goto out;
      if (i < 2)
        continue; /* warm-up: fills the artifact cache */
      samples_add (hit, (double) lat[0] / 1e3);
      if (after.misses - before.misses == 1)
        samples_add (miss, (double) lat[1] / 1e3);
      else
        (*unclassified)++;
    }
  rc = 0;
out:
  if (rc < 0)
    node_explain (&nd, err);
  free (env);
  natsConnection_Destroy (nc);
  node_stop (&nd, 10000);
  return rc;
}

/* ---- artifact not cached ---- */

static int
read_file (const char *path, char **data, size_t *len, struct nxerr *err)
{
  struct stat st;
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t r;
  if (fd < 0 || fstat (fd, &st) < 0)
    return nxerr_sys (err, errno, "open %s", path);
  *len = (size_t) st.st_size;
  *data = xmalloc (*len);
  r = read (fd, *data, *len);
  close (fd);
  if (r != (ssize_t) *len)
    return nxerr_set (err, EIO, "short read of %s", path);
  return 0;
}

static int
cold_artifact (struct bench *b, uint64_t size, int n, struct samples *lat,
               struct samples *floor, struct nxerr *err)
{
  struct bench_node nd;
  natsConnection *nc = NULL;
  char *cfg = bench_node_config (b, "none", b->o.pool_size);
  char *env = NULL, *exe = NULL, *obj = NULL;
  size_t exe_len = 0;
  int rc = -1;
  if (node_start (b, &nd, cfg, true, err) < 0)
    {
      free (cfg);
      return -1;
    }
  free (cfg);
  if (read_file (b->idle_bin, &exe, &exe_len, err) < 0)
    goto out;
  if (exe_len + 32 > size)
    {
      nxerr_set (err, EINVAL, "%llu bytes is smaller than the workload", (unsigned long long) size);
      goto out;
    }
  obj = xmalloc (size);
  memcpy (obj, exe, exe_len);
  for (size_t i = exe_len; i < size; i++) /* an ELF file may carry anything after its segments */
    obj[i] = (char) ('a' + i % 26);
  if (bench_connect (b->nats->url, "nexc-bench-cold", &nc, err) < 0
      || (env = bench_seal_env (b, &nd, NULL, err)) == NULL)
    goto out;
  for (int i = 0; i < n; i++)
    {
      char key[64], hex[65], got[OBJSTORE_HEX_LEN];
      struct deploy_spec spec = { .prefix = "cold", .key = key, .hash = hex, .sealed_env = env };
      struct objstore_info info;
      struct deployed d;
      uint64_t t0, ns;
      randombytes_buf (obj + size - 32, 32); /* a new hash every time */
      snprintf (key, sizeof key, "cold-%llu-%d", (unsigned long long) size, i);
      if (bench_upload (nc, key, obj, size, hex, err) < 0)
        goto out;
      /* The floor: the node's read path, from the bench's connection. */
      memset (&info, 0, sizeof info);
      t0 = bench_now_ns ();
      if (objstore_get_info (nc, BENCH_BUCKET, key, NULL, &info, err) < 0
          || objstore_read (nc, &info, NULL, NULL, NULL, got, err) < 0)
        {
          objstore_info_free (&info);
          goto out;
        }
      samples_add (floor, (double) (bench_now_ns () - t0) / 1e3);
      objstore_info_free (&info);
      if (strcmp (got, hex) != 0)
        {
          nxerr_set (err, EIO, "read back %s: digest mismatch", key);
          goto out;
        }
      if (bench_wait_pool_full (nc, &nd, 10000, err) < 0
          || bench_deploy (b, nc, &nd, &spec, &d, 30000, &ns, err) < 0
          || bench_stop (b, nc, &nd, &d, 10000, NULL, err) < 0)
        goto out;
      samples_add (lat, (double) ns / 1e3);
    }
  rc = 0;
out:
  if (rc < 0)
    node_explain (&nd, err);
  free (obj);
  free (exe);
  free (env);
  natsConnection_Destroy (nc);
  node_stop (&nd, 10000);
  return rc;
}

static void
artifact_rows (struct bench *b, uint64_t size, int n)
{
  char id[64], fid[64], label[32];
  struct row *r, *f;
  struct samples lat = { 0 }, floor = { 0 };
  struct summary sl, sf;
  struct nxerr err = { 0 };
  snprintf (label, sizeof label, "%llumib", (unsigned long long) (size >> 20));
  if (size % (1u << 20))
    snprintf (label, sizeof label, "%llub", (unsigned long long) size);
  snprintf (id, sizeof id, "cold.artifact.%s", label);
  snprintf (fid, sizeof fid, "cold.floor.read.%s", label);
  r = report_row (b->report, id);
  f = report_row (b->report, fid);
  row_what (r, "cold deploy, artifact not cached (%.1f MiB object)", (double) size / 1048576.0);
  row_what (f, "floor: objstore_get_info + objstore_read of the same object");
  bench_progress ("cold: %d deploys of fresh %.1f MiB artifacts", n, (double) size / 1048576.0);
  if (cold_artifact (b, size, n, &lat, &floor, &err) < 0)
    {
      row_fail (r, "%s", err.msg);
      row_fail (f, "%s", err.msg);
    }
  sl = samples_summary (&lat);
  sf = samples_summary (&floor);
  row_latency (r, &sl);
  row_latency (f, &sf);
  row_floor (r, "%.3f ms (%s)", sf.p50 / 1e3, fid);
  if (sf.p50 > 0 && sl.n > 0)
    {
      row_ratio (r, "p50 %.2fx", sl.p50 / sf.p50);
      row_num (r, "ratio_p50", sl.p50 / sf.p50);
      row_target (r, "p50 <= 1.3x object read",
                  sl.p50 <= 1.3 * sf.p50 ? VERDICT_MET : VERDICT_MISSED);
    }
  samples_free (&lat);
  samples_free (&floor);
}

void
scenario_cold (struct bench *b)
{
  struct row *hit = report_row (b->report, "cold.pool.hit");
  struct row *miss = report_row (b->report, "cold.pool.miss");
  struct row *spawn = report_row (b->report, "cold.floor.agent_spawn");
  struct samples s_hit = { 0 }, s_miss = { 0 }, s_spawn = { 0 };
  struct summary h, m, sp;
  struct nxerr err = { 0 };
  char *agent_argv[] = { b->agent_bin, (char *) "--help", NULL };
  long unclassified = 0;

  row_what (hit, "pool of 1, first of two back-to-back deploys (pool hit)");
  row_what (miss, "pool of 1, second of the two (pool miss: agent started on demand)");
  row_what (spawn, "floor: posix_spawn+wait of nexc-agent --help");
  bench_progress ("cold: %d back-to-back pairs with a pool of 1", b->o.cold_pool_n);
  if (floor_spawn (agent_argv, 100, &s_spawn, &err) < 0)
    row_fail (spawn, "%s", err.msg);
  if (pool_miss (b, &s_hit, &s_miss, &unclassified, &err) < 0)
    {
      row_fail (hit, "%s", err.msg);
      row_fail (miss, "%s", err.msg);
    }
  h = samples_summary (&s_hit);
  m = samples_summary (&s_miss);
  sp = samples_summary (&s_spawn);
  row_latency (hit, &h);
  row_latency (miss, &m);
  row_latency (spawn, &sp);
  row_num (miss, "pairs_without_miss", (double) unclassified);
  if (unclassified)
    row_ratio (miss, "(%ld pairs did not miss: excluded)", unclassified);
  row_floor (miss, "%.3f ms (hit p50 + agent spawn p50)", (h.p50 + sp.p50) / 1e3);
  if (m.n > 0 && h.p50 + sp.p50 > 0)
    {
      row_ratio (miss, "p50 %.2fx%s", m.p50 / (h.p50 + sp.p50),
                 unclassified ? " (some pairs did not miss)" : "");
      row_num (miss, "ratio_p50", m.p50 / (h.p50 + sp.p50));
    }
  samples_free (&s_hit);
  samples_free (&s_miss);
  samples_free (&s_spawn);

  artifact_rows (b, b->o.cold_small_bytes, b->o.cold_small_n);
  artifact_rows (b, b->o.cold_large_bytes, b->o.cold_large_n);
}
