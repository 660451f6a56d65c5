/* replay: refuse a JWT seen before (deploy or stop), within its validity.
 *
 * A token is remembered (by the hash of its signature) until it expires:
 * its exp, or iat + window when it has no exp. Tokens older than the window
 * are refused outright, so forgetting them is safe. Bounded: when full, the
 * node refuses new tokens rather than forgetting live ones.
 *
 * Persisted (replay_open): every token accepted is appended to
 * <state>/replay before replay_check returns, so a restarted node still
 * refuses what it accepted in the last hour. Records are fixed size (16
 * bytes of key, 8 of expiry, big-endian); a torn tail is ignored; the file
 * is rewritten with the live records at open and when it is mostly
 * expired. Appends are plain writes, as the journal's: they survive a node
 * crash, not a power cut. */
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
/* Load state_dir/replay (records still live at now) and append to it from
 * then on. Without it the cache is memory only. A file that cannot be read
 * is an error: refusing to start beats forgetting what was accepted. */
int replay_open (struct replay *r, const char *state_dir, int64_t now, struct nxerr *err);
void replay_free (struct replay *r);
/* 0 when fresh (and now remembered), -1 with a reason otherwise. */
int replay_check (struct replay *r, const struct jwt_claims *c, int64_t now, struct nxerr *err);

#endif
