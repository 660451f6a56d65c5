/* replay: refuse a JWT seen before (deploy or stop), within its validity.
 *
 * A token is remembered (by the hash of its signature) until it expires:
 * its exp, or iat + window when it has no exp. Tokens older than the window
 * are refused outright, so forgetting them is safe. Bounded: when full, the
 * node refuses new tokens rather than forgetting live ones. */
#ifndef NEXC_NODE_REPLAY_H
#define NEXC_NODE_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "api/jwt.h"
#include "api/nxerr.h"

#define REPLAY_WINDOW_S 3600
#define REPLAY_SKEW_S 300
#define REPLAY_MAX 200000

struct replay;

struct replay *replay_new (void);
void replay_free (struct replay *r);
/* 0 when fresh (and now remembered), -1 with a reason otherwise. */
int replay_check (struct replay *r, const struct jwt_claims *c, int64_t now, struct nxerr *err);

#endif
