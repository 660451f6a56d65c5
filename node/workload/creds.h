/* creds: each workload run's own NATS user (config "workload_creds").
 *
 * With workload_creds set, the node holds a signing key of a NATS account
 * (decentralized auth: operator, account and user JWTs, which nats-server
 * checks itself) and, before each run is handed to its agent, mints a fresh
 * user nkey pair and a user JWT (api/natsjwt.h) that allows the subjects the
 * deploy declares ("nats": publish/subscribe), its own inbox prefix and
 * replies to requests it received, and denies $NEX.> (control, events,
 * logs), $SYS.> and $JS.> both ways and other clients' _INBOX.> replies.
 * The JWT and seed go to <workdir>/nats.creds, 0600, owned by the
 * workload's uid (the sandbox's working dir, bound into the sandbox at the
 * same path; tier none: <state>/creds/<id>.creds), named by NATS_CREDS, and
 * NATS_INBOX_PREFIX names the prefix the workload must give its client.
 * The file is removed when the run ends. The seed is never logged.
 *
 * creds_open loads the key at start (refused unless the file is a regular
 * 0600 file holding an account seed). Loop thread. */
#ifndef NEXC_NODE_WORKLOAD_CREDS_H
#define NEXC_NODE_WORKLOAD_CREDS_H

#include <stdbool.h>
#include <sys/types.h>

#include "api/nxerr.h"

struct node;
struct workload;
struct env;

#define CREDS_FILE_NAME "nats.creds"
#define CREDS_INBOX_PREFIX "_INBOX_" /* + the workload id */
/* How many replies a workload may send to each request it got, and for how
 * long (the JWT's resp permission). */
#define CREDS_RESP_MAX 1
#define CREDS_RESP_TTL_MS 60000

/* Load cfg's signing key into n->creds; nothing when workload_creds is off. */
int creds_open (struct node *n, struct nxerr *err);
void creds_close (struct node *n);
bool creds_enabled (const struct node *n);

/* Mint w's user for this run, write its creds file in dir owned by uid
 * (dir NULL: the node's own creds dir) and add NATS_CREDS and
 * NATS_INBOX_PREFIX to env. */
int creds_issue (struct workload *w, const char *dir, uid_t uid, struct env *env,
                 struct nxerr *err);
/* Remove w's creds file, if any (the run ended). */
void creds_remove (struct workload *w);
/* A reattached workload in tier none: its run's file (<state>/creds/<id>.creds),
 * if there is one, is removed when the run ends, as it would have been by
 * the node that wrote it. (In tier process it lives in the sandbox's working
 * dir, which goes with the sandbox.) */
void creds_adopt (struct workload *w);

#endif
