/* Scenario 8, function invocation latency: examples/upper deployed as a
 * function workload (type "function", one trigger subject), then N requests
 * on the trigger subject one after another, request sent -> reply received.
 * Before each invocation the function pool is full (as warm.c does for the
 * machine pool: every invocation takes a warm agent). Floors, measured in the
 * same loop just before each invocation so that they see the same machine: a
 * request/reply to the trivial nats.c responder (SendAsap on both sides),
 * posix_spawn+wait of the same examples/upper fed the same payload on stdin
 * (its stdout read back through a pipe), and their sum. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/client.h"
#include "bench/proc.h"
#include "bench/responder.h"

#define FN_SUBJECT "bench.fn.upper"
#define FN_PAYLOAD "hello from nexc-bench"
#define FN_REPLY "HELLO FROM NEXC-BENCH"
#define WARMUP_INVOCATIONS 10

extern char **environ;

struct fn_pool_state {
  long size, warm, misses;
};

/* INFO's nexc.function_pool (absent until the first function deploy). */
static int
fn_pool_state (natsConnection *nc, const struct bench_node *nd, struct fn_pool_state *ps,
               struct nxerr *err)
{
  char subj[128];
  json_t *d = NULL, *fp;
  snprintf (subj, sizeof subj, "$NEX.INFO.default.%s", nd->node_id);
  if (bench_request (nc, subj, "", 0, 5000, &d, err) < 0)
    return -1;
  fp = json_object_get (json_object_get (d, "nexc"), "function_pool");
  if (!json_is_object (fp))
    {
      json_decref (d);
      return nxerr_set (err, EPROTO, "INFO has no nexc.function_pool");
    }
  ps->size = (long) json_integer_value (json_object_get (fp, "size"));
  ps->warm = (long) json_integer_value (json_object_get (fp, "warm"));
  ps->misses = (long) json_integer_value (json_object_get (fp, "misses"));
  json_decref (d);
  return 0;
}

static int
wait_fn_pool_full (natsConnection *nc, const struct bench_node *nd, int timeout_ms,
                   struct nxerr *err)
{
  uint64_t deadline = bench_now_ns () + (uint64_t) timeout_ms * 1000000ull;
  struct fn_pool_state ps;
  for (;;)
    {
      if (fn_pool_state (nc, nd, &ps, err) < 0)
        return -1;
      if (ps.warm >= ps.size)
        return 0;
      if (bench_now_ns () > deadline)
        return nxerr_set (err, ETIMEDOUT, "function pool not full after %d ms (%ld/%ld warm)",
                          timeout_ms, ps.warm, ps.size);
      bench_sleep_ms (1);
    }
}

/* One invocation: request on the trigger subject, reply checked; µs into out
 * (when not NULL). */
static int
invoke_once (natsConnection *nc, struct samples *out, struct nxerr *err)
{
  natsMsg *m = NULL;
  uint64_t t0 = bench_now_ns (), dt;
  natsStatus s = natsConnection_Request (&m, nc, FN_SUBJECT, FN_PAYLOAD,
                                         (int) strlen (FN_PAYLOAD), 10000);
  dt = bench_now_ns () - t0;
  if (s != NATS_OK)
    return nxerr_set (err, s == NATS_TIMEOUT ? ETIMEDOUT : EIO, "request on %s: %s", FN_SUBJECT,
                      natsStatus_GetText (s));
  if (natsMsg_GetDataLength (m) != (int) strlen (FN_REPLY)
      || memcmp (natsMsg_GetData (m), FN_REPLY, strlen (FN_REPLY)) != 0)
    {
      nxerr_set (err, EPROTO, "reply on %s is \"%.*s\", not \"%s\"", FN_SUBJECT,
                 natsMsg_GetDataLength (m) > 64 ? 64 : natsMsg_GetDataLength (m),
                 natsMsg_GetData (m), FN_REPLY);
      natsMsg_Destroy (m);
      return -1;
    }
  natsMsg_Destroy (m);
  if (out)
    samples_add (out, (double) dt / 1e3);
  return 0;
}

/* posix_spawn+wait of upper with the payload on stdin (a pipe, written and
 * closed before the spawn: it fits in the pipe buffer) and stdout read back
 * from another pipe; µs into out (when not NULL). */
static int
spawn_upper_once (const char *bin, struct samples *out, struct nxerr *err)
{
  char *argv[] = { (char *) bin, NULL };
  posix_spawn_file_actions_t fa;
  int in[2] = { -1, -1 }, op[2] = { -1, -1 }, st, r, rc = -1;
  char got[256];
  size_t len = 0;
  ssize_t n;
  pid_t pid;
  uint64_t t0 = bench_now_ns ();
  if (pipe2 (in, O_CLOEXEC) < 0 || pipe2 (op, O_CLOEXEC) < 0)
    {
      nxerr_sys (err, errno, "pipe");
      goto out;
    }
  if (write (in[1], FN_PAYLOAD, strlen (FN_PAYLOAD)) != (ssize_t) strlen (FN_PAYLOAD))
    {
      nxerr_sys (err, errno, "write to pipe");
      goto out;
    }
  close (in[1]);
  in[1] = -1;
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_adddup2 (&fa, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2 (&fa, op[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen (&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  r = posix_spawn (&pid, bin, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy (&fa);
  if (r != 0)
    {
      nxerr_sys (err, r, "posix_spawn %s", bin);
      goto out;
    }
  close (op[1]);
  op[1] = -1;
  while ((n = read (op[0], got + len, sizeof got - len)) > 0
         || (n < 0 && errno == EINTR))
    if (n > 0)
      len += (size_t) n;
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      {
        nxerr_sys (err, errno, "waitpid");
        goto out;
      }
  if (!WIFEXITED (st) || WEXITSTATUS (st) != 0)
    {
      nxerr_set (err, EIO, "%s exited with status 0x%x", bin, st);
      goto out;
    }
  if (len != strlen (FN_REPLY) || memcmp (got, FN_REPLY, len) != 0)
    {
      nxerr_set (err, EPROTO, "%s wrote \"%.*s\", not \"%s\"", bin, (int) len, got, FN_REPLY);
      goto out;
    }
  if (out)
    samples_add (out, (double) (bench_now_ns () - t0) / 1e3);
  rc = 0;
out:
  for (int i = 0; i < 2; i++)
    {
      if (in[i] >= 0)
        close (in[i]);
      if (op[i] >= 0)
        close (op[i]);
    }
  return rc;
}

void
scenario_functions (struct bench *b)
{
  struct row *inv = report_row (b->report, "fn.invoke");
  struct row *rtt = report_row (b->report, "fn.floor.rtt");
  struct row *spawn = report_row (b->report, "fn.floor.spawn");
  struct row *sum = report_row (b->report, "fn.floor.sum");
  struct samples s_inv = { 0 }, s_rtt = { 0 }, s_spawn = { 0 }, untimed = { 0 };
  struct summary w, f_rtt, f_spawn;
  struct nxerr err = { 0 };
  struct bench_node nd;
  struct responder *resp = NULL;
  natsConnection *nc = NULL;
  struct fn_pool_state before = { 0 }, after = { 0 };
  static const char *const triggers[] = { FN_SUBJECT, NULL };
  char *cfg = bench_node_config (b, "none", b->o.pool_size);
  char *env = NULL;
  char hex[65];
  struct deployed d;
  bool deployed = false, measured = false;
  int rtt_per = b->o.floor_rtt_n / b->o.fn_n;
  double floor_p50;

  row_what (inv, "function invocation latency, tier none (request on the trigger subject -> "
                 "reply, examples/upper)");
  row_what (rtt, "floor: NATS request/reply to a trivial nats.c responder (SendAsap)");
  row_what (spawn, "floor: posix_spawn+wait of examples/upper, same payload on stdin");
  row_what (sum, "floor: round trip + spawn");
  if (rtt_per < 1)
    rtt_per = 1;

  for (int i = 0; i < 10; i++) /* page cache warm-up, not recorded */
    if (spawn_upper_once (b->upper_bin, NULL, &err) < 0)
      {
        row_fail (spawn, "%s", err.msg);
        break;
      }
  if (responder_start (b, &resp, &err) < 0)
    row_fail (rtt, "%s", err.msg);

  bench_progress ("functions: %d invocations of examples/upper on %s (function pool full "
                  "before each), each after %d round trip(s) to a responder and one spawn",
                  b->o.fn_n, FN_SUBJECT, rtt_per);
  if (node_start (b, &nd, cfg, true, &err) < 0)
    {
      free (cfg);
      row_fail (inv, "%s", err.msg);
      goto out;
    }
  free (cfg);
  if (bench_connect (b->nats->url, "nexc-bench-functions", &nc, &err) < 0
      || bench_upload_file (nc, "upper", b->upper_bin, hex, &err) < 0
      || (env = bench_seal_env (b, &nd, NULL, &err)) == NULL)
    goto fail;
  {
    struct deploy_spec spec = { .prefix = "fnupper", .key = "upper", .hash = hex,
                                .sealed_env = env, .type = "function",
                                .trigger_subjects = triggers };
    if (bench_deploy (b, nc, &nd, &spec, &d, 10000, NULL, &err) < 0)
      goto fail;
    deployed = true;
  }
  for (int i = 0; i < WARMUP_INVOCATIONS + b->o.fn_n; i++)
    {
      bool timed = i >= WARMUP_INVOCATIONS;
      if (wait_fn_pool_full (nc, &nd, 10000, &err) < 0)
        goto fail;
      if (i == WARMUP_INVOCATIONS && fn_pool_state (nc, &nd, &before, &err) < 0)
        goto fail;
      if (resp)
        for (int k = 0; k < rtt_per; k++)
          if (responder_rtt (resp, timed ? &s_rtt : &untimed, &err) < 0)
            {
              row_fail (rtt, "%s", err.msg);
              responder_stop (resp);
              resp = NULL;
              break;
            }
      if (timed && !row_failed (spawn) && spawn_upper_once (b->upper_bin, &s_spawn, &err) < 0)
        row_fail (spawn, "%s", err.msg);
      if (invoke_once (nc, timed ? &s_inv : NULL, &err) < 0)
        goto fail;
    }
  if (fn_pool_state (nc, &nd, &after, &err) < 0)
    goto fail;
  measured = true;
  goto stop;
fail:
  node_explain (&nd, &err);
  row_fail (inv, "%s", err.msg);
stop:
  if (deployed && bench_stop (b, nc, &nd, &d, 10000, NULL, &err) < 0 && measured)
    row_fail (inv, "%s", err.msg);
  natsConnection_Destroy (nc);
  node_stop (&nd, 10000);
out:
  responder_stop (resp);
  free (env);

  f_rtt = samples_summary (&s_rtt);
  f_spawn = samples_summary (&s_spawn);
  if (!row_failed (rtt))
    row_latency (rtt, &f_rtt);
  if (!row_failed (spawn))
    row_latency (spawn, &f_spawn);
  floor_p50 = f_rtt.p50 + f_spawn.p50;
  row_result (sum, "p50 %.3f ms (sum of the two medians)", floor_p50 / 1e3);
  row_num (sum, "p50_ms", floor_p50 / 1e3);
  if (f_rtt.n == 0 || f_spawn.n == 0)
    row_fail (sum, "a floor was not measured");

  w = samples_summary (&s_inv);
  if (measured)
    {
      row_latency (inv, &w);
      row_num (inv, "function_pool_misses", (double) (after.misses - before.misses));
      row_num (inv, "function_pool_size", (double) after.size);
    }
  row_floor (inv, "%.3f ms (fn.floor.sum)", floor_p50 / 1e3);
  if (w.n > 0 && floor_p50 > 0)
    {
      double r50 = w.p50 / floor_p50, r99 = w.p99 / floor_p50;
      row_ratio (inv, "p50 %.2fx, p99 %.2fx", r50, r99);
      row_num (inv, "ratio_p50", r50);
      row_num (inv, "ratio_p99", r99);
      row_target (inv, "p50 <= 1.3x floor sum", r50 <= 1.3 ? VERDICT_MET : VERDICT_MISSED);
    }
  samples_free (&s_inv);
  samples_free (&s_rtt);
  samples_free (&s_spawn);
  samples_free (&untimed);
}
