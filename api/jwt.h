/* jwt: NATS generic-claims JWTs (reference §8.7), as used for workload and
 * stop requests. Header {"typ":"JWT","alg":"ed25519-nkey"}, payload claims in
 * the order aud, exp, jti, iat, iss, name, nbf, sub, nats{hash?,version}.
 *
 * Decode errors use Nex's texts ("expected 3 chunks", "not supported type
 * \"x\"", "unexpected \"x\" algorithm", "claim failed V2 signature
 * verification", ...), since they reach clients inside reply errors. */
#ifndef NEXC_JWT_H
#define NEXC_JWT_H

#include <stdbool.h>
#include <stdint.h>

#include "api/buf.h"
#include "api/nkeys.h"
#include "api/nxerr.h"

#define JWT_MAX_LEN 16384 /* a token larger than this is refused before decoding */
/* The name claim of a lame-duck token (our extension: a LAMEDUCK with
 * "lameduck_jwt"); sub and aud are the node's id. */
#define JWT_LAMEDUCK_NAME "nexc:lameduck"
#define JWT_PURPOSE_DEPLOY "deploy"
#define JWT_PURPOSE_STOP "stop"
#define JWT_PURPOSE_LAMEDUCK "lameduck"

struct jwt_claims {
  char *aud;
  int64_t exp;
  char *jti;
  int64_t iat;
  char *iss;
  char *name;
  int64_t nbf;
  char *sub;
  char *hash;     /* nats.hash, NULL when absent */
  /* Our extension, inside nats (a free-form map to Go, so Nex ignores them):
   * what the token is for (JWT_PURPOSE_*) and what it is bound to (a deploy:
   * deploy_request_digest of the request; a stop: the workload id). NULL
   * when absent. */
  char *purpose;  /* nats.nexc_purpose */
  char *bind;     /* nats.nexc_bind */
  int64_t version;/* nats.version */
  uint8_t sig[64];/* the signature, for replay detection */
};

/* Decode and verify a token (signature against iss). Fills claims (owned:
 * release with jwt_claims_free). Does not check exp/nbf: see jwt_time_valid.
 * claims is overwritten on entry and left empty on failure. As in Go, the
 * signing input is "header.payload" except for alg exactly "ed25519" (V1:
 * the payload part alone). */
int jwt_decode (const char *token, struct jwt_claims *claims, struct nxerr *err);
void jwt_claims_free (struct jwt_claims *c);

/* exp/nbf rule of §8.7 at now (unix seconds). */
bool jwt_time_valid (const struct jwt_claims *c, int64_t now);

/* Compute the jti of c: SHA-512/256 of the standard claims JSON, base32. */
void jwt_compute_jti (const struct jwt_claims *c, char out[53]);

/* Encode and sign: sets iss from the signer, iat (when 0) to now, jti; sub is
 * required ("subject is not set"). version is written as 2. The token is
 * appended to out. */
int jwt_encode (struct jwt_claims *c, const struct nkey_pair *signer, struct buf *out,
                struct nxerr *err);
/* The same with the nats claim given whole as a JSON object text (the
 * user, account and operator claims of api/natsjwt.h); c's hash, purpose
 * and bind are not written. */
int jwt_encode_nats (struct jwt_claims *c, const char *nats_json, const struct nkey_pair *signer,
                     struct buf *out, struct nxerr *err);

#endif
