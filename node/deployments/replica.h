/* replica: a deployment's replica as an ordinary workload. Named
 * "{name}-{slot}", described "replica N of deployment ns.name (template T)";
 * its deploy token is signed by this node with nats.nexc_purpose "replica"
 * and nats.nexc_bind "{ns}.{name}#{slot}#{template}", which is how the node
 * knows its replicas again, after a restart too (the token is in the
 * journal). Loop thread. */
#ifndef NEXC_NODE_REPLICA_H
#define NEXC_NODE_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/deployment.h"
#include "api/nkeys.h"
#include "api/nxerr.h"

struct node;
struct workload;

struct replica_id {
  char dep[2 * DEPLOYMENT_NAME_MAX + 2];
  uint32_t slot;
  char template[DEPLOYMENT_TEMPLATE_LEN + 1];
};

/* Whether w is one of this node's replicas (and which). */
bool replica_of (const struct node *n, const struct workload *w, struct replica_id *id);
/* Whether this node can run s at all, with the checks a DEPLOY passes
 * (node/control/deploy.c): type, function triggers, resources within this
 * node's maxima and enforceable here. 0, or -1 with the reason in msg. */
int replica_check (struct node *n, const struct deployment_spec *s, char *msg, size_t cap);
/* Start slot of s (*out: the workload, in STARTING). xkey opens the spec's environment (NULL: the
 * spec must have none). */
int replica_start (struct node *n, const struct deployment_spec *s, uint32_t slot,
                   const char *template, const struct nkey_pair *xkey, struct workload **out,
                   struct nxerr *err);
/* Stop w (any state but STOPPING/ENDED). */
void replica_stop (struct workload *w);
/* A live replica of slot of dep whose template is (same) or is not (!same)
 * tpl; NULL when none. */
struct workload *replica_with_template (struct node *n, const char *dep, uint32_t slot,
                                        const char *tpl, bool same);
/* A replica of slot of dep asked to stop and not ended yet (it still runs:
 * its workload_stopped is to come); NULL when none. */
struct workload *replica_stopping (struct node *n, const char *dep, uint32_t slot);
/* Neither stopping nor ended. */
bool replica_alive (const struct workload *w);

#endif
