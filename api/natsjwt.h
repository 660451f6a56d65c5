/* natsjwt: the claims of NATS decentralized auth (nats-server's operator
 * mode): user, account and operator JWTs, and the .creds file a client
 * connects with. Encoding and signing are api/jwt.h's (jwt_encode_nats);
 * this file owns what goes inside the "nats" claim.
 *
 * A node with workload_creds mints a user JWT per workload run
 * (node/workload/creds.h); the account and operator encoders exist for
 * tests and tooling that stand up an operator-mode server. */
#ifndef NEXC_NATSJWT_H
#define NEXC_NATSJWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/buf.h"
#include "api/nkeys.h"
#include "api/nxerr.h"

/* A subject list of a permission: NULL-terminated, NULL for none. */
struct natsjwt_perm {
  const char *const *allow;
  const char *const *deny;
};

struct natsjwt_user {
  const char *user_public;    /* sub: "U…" */
  const char *name;           /* name claim (a workload's name/id) */
  const char *issuer_account; /* "A…" when signed by one of its signing keys; NULL: by the account */
  int64_t exp;                /* unix seconds; 0: never */
  struct natsjwt_perm pub, sub;
  /* resp: may publish this many replies to each request it received, within
   * resp_ttl_ms; 0: no resp permission. */
  int64_t resp_max;
  int64_t resp_ttl_ms;
};

/* Mint a v2 user JWT signed by signer (an account key, "SA…"): appended to
 * out. Limits are unlimited (-1), as Go's NewUserClaims sets them: an
 * omitted limit is 0, which the server reads as none allowed. */
int natsjwt_user_encode (const struct natsjwt_user *u, const struct nkey_pair *signer,
                         struct buf *out, struct nxerr *err);

/* An account JWT signed by the operator key: unlimited, JetStream on when
 * asked (never for the system account: the server refuses it), the given
 * signing keys (NULL-terminated, may be NULL). */
int natsjwt_account_encode (const char *name, const char *account_public,
                            const char *const *signing_keys, bool jetstream,
                            const struct nkey_pair *operator_key, struct buf *out,
                            struct nxerr *err);
/* A self-signed operator JWT naming its system account. */
int natsjwt_operator_encode (const char *name, const char *system_account,
                             const struct nkey_pair *operator_key, struct buf *out,
                             struct nxerr *err);

/* The .creds file text: the user JWT and its seed between the BEGIN/END
 * lines nats.c and the other clients read. Secret: wipe out when done. */
void natsjwt_creds_text (const char *jwt, const char *seed, struct buf *out);

#endif
