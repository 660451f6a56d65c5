/* restart: the restart policy of a workload (our extension to Nex, whose
 * essential workloads restarted at once and forever).
 *
 *   "restart":{"policy":"never|on-failure|always","max_restarts","backoff_ms","max_backoff_ms"}
 *   essential:true without "restart" = on-failure with the defaults.
 *
 * Backoff doubles from backoff_ms up to max_backoff_ms, with up to 25 %
 * jitter; a run that lasted restart_stable_ms resets it. After max_restarts
 * consecutive restarts that did not reach a stable run, the workload is
 * given up (an event says why). Pure logic: no I/O, unit-tested. */
#ifndef NEXC_NODE_RESTART_H
#define NEXC_NODE_RESTART_H

#include <stdbool.h>
#include <stdint.h>

#include "api/deploy_request.h"

#define RESTART_DEFAULT_MAX 10
#define RESTART_DEFAULT_BACKOFF_MS 250
#define RESTART_DEFAULT_MAX_BACKOFF_MS 30000
#define RESTART_DEFAULT_STABLE_MS 10000

struct restart_policy {
  enum deploy_restart_policy policy; /* NEVER, ON_FAILURE or ALWAYS */
  uint64_t max_restarts;
  uint64_t backoff_ms;
  uint64_t max_backoff_ms;
};

enum restart_verdict { RESTART_NO, RESTART_YES, RESTART_GIVE_UP };

void restart_policy_from (const struct deploy_request *r, struct restart_policy *out);

/* The workload ended with code (exit status, -1 when signalled) after
 * run_ms; stopped = ended because it was asked to (STOP, drain, shutdown).
 * *streak counts restarts since the last stable run and is updated. On
 * RESTART_YES, *delay_ms is when to start again; rnd feeds the jitter. */
enum restart_verdict restart_decide (const struct restart_policy *p, int code, bool stopped,
                                     uint64_t run_ms, uint64_t stable_ms, uint64_t *streak,
                                     uint64_t *delay_ms, uint32_t rnd);

const char *restart_policy_name (enum deploy_restart_policy p);

#endif
