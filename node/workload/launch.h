/* launch: a validated deploy becomes a running workload (reference §2.2
 * steps 9-10), and runs again after an exit when its restart policy says so.
 *
 *   fetcher: artifact from the cache, else the object store (size cap, sha256
 *            vs JWT hash and object digest)            [node/artifacts/]
 *   loop:    node limits -> lease a warm agent (or spawn one) -> Deploy frame
 *            + exe fd -> Started (node/workload/supervise.c) -> run_response
 *            + workload_started
 * A failure after acceptance answers the run_response error envelope with its
 * text and sends workload_stopped (supervise_fail_deploy). Loop thread. */
#ifndef NEXC_NODE_WORKLOAD_LAUNCH_H
#define NEXC_NODE_WORKLOAD_LAUNCH_H

#include <stdbool.h>

#include "api/nxerr.h"
#include "node/workload/env.h"

struct node;
struct workload;
struct deploy_request;
struct jwt_claims;

/* A deploy the control plane accepted: takes req, claims and env (moved);
 * reply (copied) is answered when the workload starts or fails. autostart:
 * the node's own (no hash-claim check). */
struct workload *launch_workload (struct node *n, const char *ns, struct deploy_request *req,
                                  struct jwt_claims *claims, struct env *env, const char *reply,
                                  bool autostart);
/* Deploy a request the node built itself (autostart): no allow-lists, no
 * replay or hash-claim checks (the node trusts its own config). Takes req
 * and claims. */
int launch_trusted (struct node *n, const char *ns, struct deploy_request *req,
                    struct jwt_claims *claims, struct nxerr *err);
/* Deploy a request the node built and signed itself for a workload it was
 * told to run elsewhere (a deployment's replica, node/deployments/): no
 * allow-lists or replay, but the artifact is checked against the hash claim
 * as a DEPLOY's is. Takes req and claims. */
int launch_own (struct node *n, const char *ns, struct deploy_request *req, struct jwt_claims *claims,
                struct workload **out, struct nxerr *err);
/* A deployment's replica (its token is this node's, purpose "replica"):
 * its agent never detaches, the workload dies with the node (another node
 * takes its slot over once the lease runs out). */
bool launch_dies_with_node (const struct workload *w);
/* w ended with code (its workload_stopped sent, agent released): per its
 * restart policy, schedule a restart under the same id after the backoff
 * (true: w stays, state RESTARTING), or say no / give up (false: the caller
 * ends w). */
bool launch_schedule_restart (struct workload *w, int code);
/* A workload rebuilt from the journal (node/workload/reattach.c): its
 * restart timer. */
void launch_adopt (struct workload *w);
/* Lame duck: no more restarts for this workload. */
void launch_clear_essential (struct workload *w);

#endif
