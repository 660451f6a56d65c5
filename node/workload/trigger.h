/* trigger: function workloads (type "function", our extension of §2.8).
 *
 * A function deploy subscribes, on the node's main connection, to each of
 * its trigger subjects as the queue group "nexc-fn.<ns>.<name>" (the same
 * function on N nodes shares the load). Each message is one invocation: the
 * nats.c thread copies it (payload capped at FN_PAYLOAD_MAX) and posts it to
 * the loop, which leases an agent from the function pool (node->fn_pool, a
 * second instance of node/pool.c made at the first function deploy), hands
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

#include "api/frame.h"
#include "api/jsonw.h"

#define FN_TYPE "function"
#define FN_PAYLOAD_MAX (1024 * 1024) /* request payload (stdin) */
#define FN_REPLY_MAX (1024 * 1024)   /* stdout, the reply */
#define FN_QUEUE_MAX 1024            /* waiting invocations per function */
#define FN_SUBJECT_MAX 256
#define FN_HEADERS_MAX 64            /* headers passed as NEX_HEADER_<NAME> */
#define FN_AGENT_GRACE_MS 5000       /* past the timeout: the agent is killed */

struct agent;
struct deploy_request;
struct fn;
struct node;
struct workload;

/* Deploy checks (§2.2 steps 4-5, §10): the type/trigger rules, each trigger
 * a valid pattern of at most FN_SUBJECT_MAX bytes that does not overlap the
 * deny list ($SYS.>, $JS.> and $NEX.> always in it). 0, or -1 with the
 * refusal text in msg. */
int trigger_check (struct node *n, const struct deploy_request *req, char *msg, size_t cap);
bool trigger_is_function (const char *type);

/* The artifact is ready: take *exe_fd and the decrypted environment (moved,
 * wiped at the end), subscribe, and the workload is RUNNING
 * (supervise_started), or the deploy fails (supervise_fail_deploy). */
struct env;
void trigger_start (struct workload *w, int *exe_fd, struct env *env);
/* STOP/shutdown: unsubscribe, end queued and running invocations, end w. */
void trigger_stop (struct workload *w);
void trigger_fn_free (struct fn *f);

/* INFO: runtime = total execution time (§1.4 rule for v8/wasm), or uptime
 * for other workloads; and our "function" object (nothing for others). */
void trigger_runtime (const struct workload *w, const char *uptime, char *out, size_t cap);
void trigger_write_info (const struct workload *w, struct jsonw *j);

#endif
