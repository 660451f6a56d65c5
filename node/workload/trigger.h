/* trigger: function workloads (type "function", our extension of §2.8).
 *
 * A function deploy subscribes, on the node's main connection, to each of
 * its trigger subjects as the queue group "nexc-fn.<ns>.<name>" (the same
 * function on N nodes shares the load). Each message is one invocation: the
 * nats.c thread copies it (payload capped at FN_PAYLOAD_MAX) and posts it to
 * the loop, which leases an agent from the function pool (node->fn_pool, a
 * second instance of node/agents/pool.c made at the first function deploy), hands
 * it the payload and an empty stdout file (memfds, FunctionIo frames) and a
 * function-mode Deploy. The agent runs the executable once and answers
 * FunctionResult; exit 0 publishes stdout as the reply and
 * function_exec_succeeded, anything else function_exec_failed and no reply.
 * Agents are single-use. At most function_pool_size invocations of one
 * function run at once; FN_QUEUE_MAX more wait, the rest fail at once.
 * Owned by the loop thread except on_nats_msg (nats.c threads). */
#ifndef NEXC_NODE_TRIGGER_H
#define NEXC_NODE_TRIGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/frame.h"
#include "api/jsonw.h"
#include "node/workload/fn_msg.h" /* FN_PAYLOAD_MAX */

#define FN_TYPE "function"
#define FN_REPLY_MAX (1024 * 1024)   /* stdout, the reply */
#define FN_QUEUE_MAX 1024            /* waiting invocations per function */
#define FN_SUBJECT_MAX 256
#define FN_AGENT_GRACE_MS 5000       /* past the timeout: the agent is killed */

struct agent;
struct deploy_request;
struct fn;
struct node;
struct workload;

bool trigger_is_function (const char *type);

/* The artifact is ready: take *exe_fd and the decrypted environment (moved,
 * wiped at the end), subscribe, and the workload is RUNNING
 * (supervise_started), or the deploy fails (supervise_fail_deploy). */
struct env;
void trigger_start (struct workload *w, int *exe_fd, struct env *env);
/* STOP/shutdown: unsubscribe, end queued and running invocations, end w. */
void trigger_stop (struct workload *w);
void trigger_fn_free (struct fn *f);

/* What INFO shows of a function (false: w is not one). */
struct fn_stats {
  uint64_t ok, failed; /* invocations so far */
  uint64_t runtime_ns; /* their total execution time */
  size_t running, queued;
};
bool trigger_stats (const struct workload *w, struct fn_stats *out);

#endif
