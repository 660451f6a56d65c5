/* deploy: the DEPLOY pipeline (reference §2.2, made strict).
 *
 *   loop:    decode -> lame duck / limits -> type -> requester key -> env open
 *            -> JWT verify, name, time, replay -> issuer allow-list
 *   fetcher: artifact from the cache, else the object store (size cap, sha256
 *            vs JWT hash and object digest)            [node/artifact.c]
 *   loop:    lease a warm agent (or spawn one) -> Deploy frame + exe fd
 *            -> Started -> run_response + workload_started
 * Every failure answers the run_response error envelope with its text. */
#ifndef NEXC_NODE_DEPLOY_H
#define NEXC_NODE_DEPLOY_H

struct node;
struct ctl_req;
struct workload;

/* Takes ownership of r. */
void deploy_handle (struct node *n, struct ctl_req *r);
/* w ended with code (its workload_stopped sent, agent released): per its
 * restart policy, schedule a restart under the same id after the backoff
 * (true: w stays, state RESTARTING), or say no / give up (false: the caller
 * ends w). */
#include <stdbool.h>
bool deploy_schedule_restart (struct workload *w, int code);
/* Deploy a request the node built itself (autostart): no allow-lists, no
 * replay or hash-claim checks (the node trusts its own config). Takes req
 * and claims. */
struct deploy_request;
struct jwt_claims;
struct nxerr;
int deploy_trusted (struct node *n, const char *ns, struct deploy_request *req,
                    struct jwt_claims *claims, struct nxerr *err);
/* A workload rebuilt from the journal (node/reattach.c): its restart timer. */
void deploy_adopt (struct workload *w);
/* Lame duck: no more restarts for this workload. */
void deploy_clear_essential (struct workload *w);

#endif
