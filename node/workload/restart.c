#include "node/workload/restart.h"

void
restart_policy_from (const struct deploy_request *r, struct restart_policy *out)
{
  const struct deploy_restart *rs = &r->restart;
  out->policy = r->essential ? DEPLOY_RESTART_ON_FAILURE : DEPLOY_RESTART_NEVER;
  out->max_restarts = RESTART_DEFAULT_MAX;
  out->backoff_ms = RESTART_DEFAULT_BACKOFF_MS;
  out->max_backoff_ms = RESTART_DEFAULT_MAX_BACKOFF_MS;
  if (!rs->present)
    return;
  if (rs->policy != DEPLOY_RESTART_UNSET)
    out->policy = rs->policy;
  if (rs->max_restarts)
    out->max_restarts = rs->max_restarts;
  if (rs->backoff_ms)
    out->backoff_ms = rs->backoff_ms;
  if (rs->max_backoff_ms)
    out->max_backoff_ms = rs->max_backoff_ms;
  if (out->max_backoff_ms < out->backoff_ms)
    out->max_backoff_ms = out->backoff_ms;
}

enum restart_verdict
restart_decide (const struct restart_policy *p, int code, bool stopped, uint64_t run_ms,
                uint64_t stable_ms, uint64_t *streak, uint64_t *delay_ms, uint32_t rnd)
{
  uint64_t d = p->backoff_ms;
  if (stopped || p->policy == DEPLOY_RESTART_NEVER || p->policy == DEPLOY_RESTART_UNSET)
    return RESTART_NO;
  if (p->policy == DEPLOY_RESTART_ON_FAILURE && code == 0)
    return RESTART_NO;
  if (run_ms >= stable_ms)
    *streak = 0; /* it ran long enough: start the backoff over */
  if (*streak >= p->max_restarts)
    return RESTART_GIVE_UP;
  for (uint64_t i = 0; i < *streak && d < p->max_backoff_ms; i++)
    d *= 2;
  if (d > p->max_backoff_ms)
    d = p->max_backoff_ms;
  d += rnd % (d / 4 + 1);
  *delay_ms = d;
  (*streak)++;
  return RESTART_YES;
}

const char *
restart_policy_name (enum deploy_restart_policy p)
{
  switch (p)
    {
    case DEPLOY_RESTART_ON_FAILURE: return "on-failure";
    case DEPLOY_RESTART_ALWAYS: return "always";
    default: return "never";
    }
}
