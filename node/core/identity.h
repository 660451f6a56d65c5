/* identity: the node's server nkey (its id, "N…") and curve xkey ("X…").
 *
 * Persisted as seed files node.nk / node.xk (mode 0600) in the state dir so
 * the node id survives restarts (Nex generated fresh ones per process, which
 * forced clients to re-query; see reference appendix D.14). Ephemeral mode
 * generates both in memory and writes nothing. */
#ifndef NEXC_NODE_IDENTITY_H
#define NEXC_NODE_IDENTITY_H

#include <stdbool.h>

#include "api/nkeys.h"
#include "api/nxerr.h"
#include "api/xkey.h"

struct identity {
  struct nkey_pair server; /* public_text is the node id */
  struct nkey_pair xkey;
  /* Shared keys of xkey with the last senders of sealed environments
   * (loop thread): a deploy from a known sender skips the key agreement. */
  struct xkey_cache xkey_peers;
};

int identity_load (struct identity *id, const char *state_dir, bool ephemeral, struct nxerr *err);
void identity_wipe (struct identity *id);

/* Make dir (and parents) with mode 0700 when missing. */
int identity_mkdirs (const char *dir, struct nxerr *err);

#endif
