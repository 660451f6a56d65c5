/* evsig: the node's signature on the events it publishes (our extension),
 * so a consumer can tell a real workload_stopped from one any client on the
 * bus could publish.
 *
 * Two headers on every event message: Nexc-Node, the signing node's id (its
 * public server nkey, N...), and Nexc-Sig, base64url (unpadded) of the
 * ed25519 signature by that key over
 *     "nexc-event-v1\n" subject "\n" payload
 * A consumer checks the signature and then whether it trusts that node id
 * (from PING, or its own list): the signature proves who sent it, not that
 * the sender is one of yours. */
#ifndef NEXC_EVSIG_H
#define NEXC_EVSIG_H

#include <stddef.h>

#include "api/nkeys.h"
#include "api/nxerr.h"

#define EVSIG_NODE_HEADER "Nexc-Node"
#define EVSIG_SIG_HEADER "Nexc-Sig"
#define EVSIG_TEXT_LEN 87 /* 86 base64url characters + NUL */

/* The Nexc-Sig text for subject and payload, signed by node. */
int evsig_sign (const struct nkey_pair *node, const char *subject, const void *data, size_t len,
                char out[EVSIG_TEXT_LEN], struct nxerr *err);
/* 0 when sig (the Nexc-Sig text) is node_id's signature of subject and
 * payload; -1 with the reason. */
int evsig_verify (const char *node_id, const char *subject, const void *data, size_t len,
                  const char *sig, struct nxerr *err);

#endif
