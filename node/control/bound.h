/* bound: what a token is for and what it is bound to (our extension to
 * Nex's JWTs: nats.nexc_purpose, nats.nexc_bind, and aud = node id).
 *
 * Each claim is checked when present, so a Nex client's token (none of them)
 * still works, unless the config says require_bound_tokens (the packaged
 * config does): then a deploy token must name its request's digest and a
 * stop token its workload. This closes tokens used for what they were not
 * minted for: a deploy token as a stop, a stop of one workload for another,
 * a captured DEPLOY replayed with another argv or environment, a token for
 * one node on another. Loop thread. */
#ifndef NEXC_NODE_CONTROL_BOUND_H
#define NEXC_NODE_CONTROL_BOUND_H

#include <stddef.h>

struct node;
struct jwt_claims;
struct deploy_request;

/* 0, or -1 with the refusal (prefixed "Invalid deploy request: ") in msg. */
int bound_check_deploy (struct node *n, const struct jwt_claims *c,
                        const struct deploy_request *req, char *msg, size_t cap);
/* 0, or -1 with the refusal (prefixed "Invalid stop request: ") in msg. */
int bound_check_stop (struct node *n, const struct jwt_claims *c, const char *workload_id,
                      char *msg, size_t cap);

#endif
