/* deployment: the declarative deployment spec (issue #17) as it is stored in
 * the deployments KV bucket, its signature, and the values of the claims
 * bucket, shared by the node (node/deployments/) and the CLI (nexc apply,
 * deployments, scale). Format: schemas/deployment.schema.json.
 *
 * Stored value of key "{namespace}.{name}":
 *   {"spec":{...canonical spec...},"jwt":"<deploy JWT>"}
 * The JWT is signed by an issuer the nodes allow (valid_issuers), sub is the
 * key, nats.nexc_purpose "deployment", nats.nexc_bind the SHA-256 of the
 * canonical encoding of the spec (deployment_digest): a node re-encodes what
 * it decoded, so formatting never matters and every field is covered.
 *
 * Decoding is strict (unknown keys, wrong types and out-of-range values are
 * errors naming the field) and bounded (DEPLOYMENT_VALUE_MAX). */
#ifndef NEXC_DEPLOYMENT_H
#define NEXC_DEPLOYMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/buf.h"
#include "api/deploy_request.h"
#include "api/nkeys.h"
#include "api/nxerr.h"

#define DEPLOYMENT_BUCKET_DEFAULT "NEXC_DEPLOYMENTS"
#define DEPLOYMENT_CLAIMS_BUCKET_DEFAULT "NEXC_CLAIMS"
#define DEPLOYMENT_VALUE_MAX (256 * 1024)
#define DEPLOYMENT_REPLICAS_MAX 64
#define DEPLOYMENT_NAME_MAX 48
#define DEPLOYMENT_TAGS_MAX 16
#define JWT_PURPOSE_DEPLOYMENT "deployment"
/* The JWT purpose of a replica's own deploy token (signed by its node). */
#define JWT_PURPOSE_REPLICA "replica"
/* Length of the template id (hex prefix of the template digest). */
#define DEPLOYMENT_TEMPLATE_LEN 16

struct deployment_spec {
  char *name;
  char *ns;
  uint32_t replicas;
  char *location; /* "nats://bucket/key" */
  char *sha256;   /* lowercase hex of the artifact */
  char **argv;
  size_t argc;
  char *environment;       /* base64 xkv1 box sealed to the deployments xkey; NULL: none */
  char *sender_public_key; /* with environment */
  struct deploy_resources resources;
  struct deploy_restart restart;
  char *type; /* "service" or "function" */
  char **triggers;
  size_t n_triggers;
  char **tag_keys, **tag_vals; /* placement.tags */
  size_t n_tags;
  char *spread;             /* placement.spread: "node" (default), "none" or a tag name */
  uint32_t max_unavailable; /* update.max_unavailable, default 1 */
  int64_t signed_at;        /* the JWT's iat (deployment_open); not encoded */
};

/* A name or namespace: [A-Za-z0-9_-], 1..DEPLOYMENT_NAME_MAX. */
bool deployment_name_ok (const char *s);
/* Decode a spec object (the "spec" of a stored value, or what apply sends). */
int deployment_spec_decode (const char *json, size_t len, struct deployment_spec **out,
                            struct nxerr *err);
void deployment_spec_free (struct deployment_spec *s);
/* Canonical encoding (fixed key order, defaults written out). */
void deployment_spec_encode (const struct deployment_spec *s, struct buf *out);
/* SHA-256 hex of the canonical encoding. */
void deployment_digest (const struct deployment_spec *s, char hex[65]);
/* What a replica runs (artifact, argv, environment, type, triggers,
 * resources, restart) without replicas, placement and update: a change of
 * the template is a rollout, one of the rest is not. */
void deployment_template (const struct deployment_spec *s, char id[DEPLOYMENT_TEMPLATE_LEN + 1]);
/* "{ns}.{name}" */
void deployment_key (const char *ns, const char *name, char *out, size_t cap);

/* Sign s with issuer: the stored value, appended to out. */
int deployment_sign (const struct deployment_spec *s, const struct nkey_pair *issuer,
                     struct buf *out, struct nxerr *err);
/* Open a stored value: the spec decoded, the JWT's signature and binding
 * checked, its sub equal to key. issuer gets the signer (caller checks it
 * against its allow-list). */
int deployment_open (const char *value, size_t len, const char *key, struct deployment_spec **out,
                     char issuer[NKEY_PUBLIC_LEN + 1], struct nxerr *err);

/* ---- the claims bucket ----
 * "slot.{ns}.{name}.{slot}"  a replica slot: struct deployment_claim
 * "node.{node id}"           a node's liveness: struct deployment_claim with
 *                            node, expires_ms and tags (no slot fields)
 * "upd.{ns}.{name}.{k}"      a rolling update's token, k < max_unavailable:
 *                            node, expires_ms, template (the one rolled out);
 *                            failed: a replica of it did not start, the
 *                            rollout of that template stops there */
struct deployment_claim {
  char node[NKEY_PUBLIC_LEN + 1];             /* "" : free */
  int64_t expires_ms;                         /* unix ms, by the holder's clock */
  char template[DEPLOYMENT_TEMPLATE_LEN + 1]; /* what the replica runs */
  bool running;                               /* the holder's replica is RUNNING */
  bool failed;                                /* an update token: its replica failed */
  char **tag_keys, **tag_vals;                /* liveness: the node's tags */
  size_t n_tags;
};
void deployment_claim_encode (const struct deployment_claim *c, struct buf *out);
int deployment_claim_decode (const char *json, size_t len, struct deployment_claim *c,
                             struct nxerr *err);
void deployment_claim_free (struct deployment_claim *c);
/* Split "slot.{ns}.{name}.{slot}": false when key is not a slot key. */
bool deployment_slot_key_parse (const char *key, char *dep, size_t cap, uint32_t *slot);

#endif
