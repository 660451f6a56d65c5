/* env: a deploy's environment (reference §2.5): sealed to the node's xkey
 * by the requester, opened here into key/value pairs (keys upper-cased, as
 * for Nex's native workloads). The values are secrets: wiped when freed,
 * never logged. Loop thread. */
#ifndef NEXC_NODE_WORKLOAD_ENV_H
#define NEXC_NODE_WORKLOAD_ENV_H

#include <stddef.h>

#include "api/nxerr.h"

struct node;
struct deploy_request;

struct env {
  char **kv; /* key, value pairs, NULL-terminated */
  size_t n;  /* pairs */
};

/* Open req's sealed environment into e (empty on entry); on failure e holds
 * what was opened so far: env_wipe it either way. */
int env_open (struct node *n, const struct deploy_request *req, struct env *e, struct nxerr *err);
/* Add key=value (copied), e.g. what the node itself gives a workload. */
void env_add (struct env *e, const char *key, const char *value);
/* Wipe and free the values; e is empty after. */
void env_wipe (struct env *e);

#endif
