/* Metrics: workload_metrics and node_metrics events, the same figures in
 * INFO, and `nexc top --json`, for a CPU-bound and a memory-holding workload;
 * a sweep of 40 workloads, sent in slices, reaches each once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/nexc.h"
#include "harness.h"

static struct harness H;
static natsConnection *NC;
static struct nexc_client *C;
static struct nkey_pair ISSUER;

static int
setup (void **state)
{
  struct nxerr err = { 0 };
  (void) state;
  nkey_pair_generate (NKEY_ACCOUNT, &ISSUER, &err);
  harness_start_nats (&H);
  NC = harness_connect (&H);
  nexc_client_wrap (&C, NC, &err);
  C->timeout_ms = 5000;
  harness_start_node (&H, "{\"machine_pool_size\":1,\"sandbox\":\"none\",\"stop_grace_ms\":200,"
                          "\"metrics_interval_ms\":300}",
                      NULL);
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

static char *
deploy (const char *file, const char *name, const char *const *env)
{
  struct nexc_deploy_opts o = { 0 };
  struct nexc_deploy_result r;
  struct nxerr err = { 0 };
  o.node_id = H.node_id;
  o.file = file;
  o.name = name;
  o.env = env;
  o.issuer = &ISSUER;
  if (nexc_deploy (C, &o, &r, &err) < 0)
    fail_msg ("deploy %s: %s", name, err.msg);
  return strdup (r.id);
}

static json_t *
metrics_event (natsSubscription *sub, const char *id, double min_cpu, long long min_mem)
{
  char last[2048] = "none";
  for (int i = 0; i < 100; i++)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, sub, 200) != NATS_OK)
        continue;
      json_t *ev = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
      snprintf (last, sizeof last, "%.*s", natsMsg_GetDataLength (m), natsMsg_GetData (m));
      natsMsg_Destroy (m);
      json_t *d = json_object_get (ev, "data");
      if (strcmp (json_string_value (json_object_get (ev, "source")), id) == 0
          && json_number_value (json_object_get (d, "cpu_rate")) >= min_cpu
          && json_integer_value (json_object_get (d, "memory_bytes")) >= min_mem)
        return ev;
      json_decref (ev);
    }
  fail_msg ("no workload_metrics for %s with cpu >= %.2f and memory >= %lld; last event: %s", id,
            min_cpu, min_mem, last);
  return NULL;
}

static void
test_workload_and_node_metrics (void **state)
{
  (void) state;
  natsSubscription *wsub = NULL, *nsub = NULL;
  natsConnection_SubscribeSync (&wsub, NC, "$NEX.events.default.workload_metrics");
  natsConnection_SubscribeSync (&nsub, NC, "$NEX.events.system.node_metrics");
  const char *cpu_env[] = { "MODE=cpu", "SECONDS=30", NULL };
  const char *mem_env[] = { "MODE=mem", "MB=64", NULL };
  char *cpu = deploy (harness_bin ("examples/hog"), "spinner", cpu_env);
  char *mem = deploy (harness_bin ("examples/hog"), "holder", mem_env);

  /* A spinner uses a good part of a CPU even on a loaded 2-core machine (the
   * suite runs tests in parallel); the holder keeps >= 48 MiB resident. */
  json_t *ev = metrics_event (wsub, cpu, 0.25, 0);
  json_t *d = json_object_get (ev, "data");
  assert_string_equal (json_string_value (json_object_get (d, "workload_name")), "spinner");
  assert_true (json_integer_value (json_object_get (d, "pids")) >= 1);
  assert_true (json_integer_value (json_object_get (d, "cpu_time_ms")) > 0);
  json_decref (ev);
  ev = metrics_event (wsub, mem, 0.0, 48ll << 20);
  d = json_object_get (ev, "data");
  assert_true (json_integer_value (json_object_get (d, "memory_peak_bytes")) >= 48ll << 20);
  json_decref (ev);

  natsMsg *m = NULL;
  assert_int_equal (natsSubscription_NextMsg (&m, nsub, 3000), NATS_OK);
  json_t *nev = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
  natsMsg_Destroy (m);
  json_t *nd = json_object_get (nev, "data");
  assert_int_equal (json_integer_value (json_object_get (nd, "workloads")), 2);
  assert_true (json_integer_value (json_object_get (nd, "deploys")) >= 2);
  assert_true (json_is_object (json_object_get (nd, "control_latency_us")));
  json_decref (nev);

  /* INFO carries the same figures. */
  char subj[128];
  snprintf (subj, sizeof subj, "$NEX.INFO.default.%s", H.node_id);
  char *r = harness_request (NC, subj, "", 0, 2000);
  json_t *info = json_loads (r, 0, NULL);
  free (r);
  json_t *ms = json_object_get (json_object_get (info, "data"), "machines");
  assert_int_equal (json_array_size (ms), 2);
  assert_true (json_is_object (json_object_get (json_array_get (ms, 0), "metrics")));
  assert_true (json_is_object (
      json_object_get (json_object_get (json_object_get (info, "data"), "nexc"), "metrics")));
  json_decref (info);

  /* nexc top --json prints metrics lines. */
  char cmd[1024];
  snprintf (cmd, sizeof cmd, "NATS_URL=%s %s top --json --timeout 1500", H.nats_url,
            harness_bin ("api/nexc"));
  FILE *p = popen (cmd, "r");
  char line[4096];
  int lines = 0, spinner = 0;
  while (fgets (line, sizeof line, p))
    {
      lines++;
      spinner += strstr (line, "\"workload_name\":\"spinner\"") != NULL;
    }
  assert_int_equal (pclose (p), 0);
  assert_true (lines >= 2);
  assert_true (spinner >= 1);

  struct nxerr err = { 0 };
  nexc_stop (C, H.node_id, cpu, "spinner", &ISSUER, &err);
  nexc_stop (C, H.node_id, mem, "holder", &ISSUER, &err);
  free (cpu);
  free (mem);
  natsSubscription_Destroy (wsub);
  natsSubscription_Destroy (nsub);
}

#define SWEEP_N 40 /* more than the 16 events a loop turn sends */

static int
index_of (char *const *ids, const char *id)
{
  for (int i = 0; i < SWEEP_N; i++)
    if (strcmp (ids[i], id) == 0)
      return i;
  return -1;
}

/* A sweep goes out in slices: still, between two node_metrics (one
 * subscription, so in the order published), each running workload's
 * workload_metrics arrives exactly once. */
static void
test_sweep_covers_every_workload (void **state)
{
  (void) state;
  const char *env[] = { "TICK_MS=100000", NULL };
  char *ids[SWEEP_N], name[32];
  int seen[SWEEP_N] = { 0 }, sweeps = 0, node_events = 0;
  natsSubscription *sub = NULL;
  struct nxerr err = { 0 };
  for (int i = 0; i < SWEEP_N; i++)
    {
      snprintf (name, sizeof name, "sweep%d", i);
      ids[i] = deploy (harness_bin ("examples/ticker"), name, env);
    }
  assert_int_equal (natsConnection_SubscribeSync (&sub, NC, "$NEX.events.>"), NATS_OK);
  natsSubscription_SetPendingLimits (sub, -1, -1);
  for (int t = 0; t < 2000 && sweeps < 2; t++)
    {
      natsMsg *m = NULL;
      json_t *ev;
      const char *type, *src;
      if (natsSubscription_NextMsg (&m, sub, 100) != NATS_OK)
        continue;
      ev = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
      natsMsg_Destroy (m);
      type = json_string_value (json_object_get (ev, "type"));
      src = json_string_value (json_object_get (ev, "source"));
      if (type && strstr (type, "node_metrics"))
        {
          /* The first one only starts the count: it may end a sweep begun
           * before the subscription. */
          if (node_events++ > 0)
            {
              for (int i = 0; i < SWEEP_N; i++)
                if (seen[i] != 1)
                  fail_msg ("sweep %d: workload %s (sweep%d) published %d times", sweeps + 1,
                            ids[i], i, seen[i]);
              sweeps++;
            }
          memset (seen, 0, sizeof seen);
        }
      else if (type && strstr (type, "workload_metrics") && src)
        {
          int k = index_of (ids, src);
          if (k >= 0)
            seen[k]++;
        }
      json_decref (ev);
    }
  assert_int_equal (sweeps, 2);
  for (int i = 0; i < SWEEP_N; i++)
    {
      snprintf (name, sizeof name, "sweep%d", i);
      nexc_stop (C, H.node_id, ids[i], name, &ISSUER, &err);
      free (ids[i]);
    }
  natsSubscription_Destroy (sub);
}

int
main (void)
{
  const struct CMUnitTest tests[] = { cmocka_unit_test (test_workload_and_node_metrics),
                                      cmocka_unit_test (test_sweep_covers_every_workload) };
  return cmocka_run_group_tests_name ("metrics", tests, setup, teardown);
}
