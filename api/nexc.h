/* nexc: the public C client library of nexc (and of any Nex v0.2 node).
 *
 * A small synchronous API over a NATS connection (caller-provided or created
 * here). Every call returns 0 or -1 with a struct nxerr message; nothing
 * exits or prints. The byte formats (JWT, xkeys, object store) are the same
 * code the node uses.
 *
 *   struct nexc_client *c;
 *   nexc_client_connect (&c, "nats://127.0.0.1:4222", &err);
 *   nexc_nodes_ping (c, 500, &nodes, &n, &err);
 *   nexc_deploy (c, &opts, &result, &err);   upload + JWT + sealed env + DEPLOY
 *   nexc_stop (c, node, id, name, issuer, &err);
 *   nexc_client_free (c); */
#ifndef NEXC_CLIENT_H
#define NEXC_CLIENT_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/deploy_request.h"
#include "api/nexc_logs.h" /* following log lines, live or from a stream */
#include "api/nkeys.h"
#include "api/nxerr.h"

#define NEXC_DEFAULT_BUCKET "NEXCLIFILES"

struct nexc_client {
  natsConnection *nc;
  bool own_nc;
  char ns[128];       /* namespace, default "default" */
  int64_t timeout_ms; /* request timeout, default 2000 */
};

struct nexc_conn_opts {
  const char *creds;      /* credentials file */
  const char *nkey_seed;  /* nkey seed file */
  const char *user, *password, *token;
  /* The password or token read from a file (its first line) instead: a
   * command line is visible to every user of the machine. */
  const char *password_file, *token_file;
  const char *tlsca, *tlscert, *tlskey;
};

/* Apply the authentication and TLS settings of o to opts (shared by the
 * client library and the node). */
int nexc_nats_auth (natsOptions *opts, const struct nexc_conn_opts *o, struct nxerr *err);

int nexc_client_connect (struct nexc_client **out, const char *servers,
                         const struct nexc_conn_opts *o, struct nxerr *err);
/* Use an existing connection (not closed by nexc_client_free). */
int nexc_client_wrap (struct nexc_client **out, natsConnection *nc, struct nxerr *err);
void nexc_client_free (struct nexc_client *c);

/* One node as PING describes it. */
struct nexc_node {
  char *node_id, *version, *uptime, *target_xkey;
  char *tags_json; /* the tag object, as received */
  char *name;      /* tags.node_name */
  int64_t running;
  /* Auction bids only (nexc extension; 0 from PING or from Nex nodes). */
  int64_t warm_agents;
  int64_t memory_available_kb;
};
void nexc_nodes_free (struct nexc_node *v, size_t n);
/* Broadcast $NEX.PING and collect replies for wait_ms. */
int nexc_nodes_ping (struct nexc_client *c, int64_t wait_ms, struct nexc_node **out, size_t *n,
                     struct nxerr *err);
/* $NEX.AUCTION with a filter {"arch","os","sandboxed","tags":{},"workload_types":[]}
 * (NULL: any node); only matching nodes bid. */
int nexc_auction (struct nexc_client *c, const char *request_json, int64_t wait_ms,
                  struct nexc_node **out, size_t *n, struct nxerr *err);
/* Index of the best bid (warm agent first, then least loaded, then most free
 * memory), SIZE_MAX when n == 0. */
size_t nexc_best_bid (const struct nexc_node *v, size_t n);
/* INFO data object as JSON text (malloc'd). */
int nexc_node_info (struct nexc_client *c, const char *node_id, char **data_json,
                    struct nxerr *err);
/* The node's public xkey, from INFO. */
int nexc_node_xkey (struct nexc_client *c, const char *node_id, char out[NKEY_PUBLIC_LEN + 1],
                    struct nxerr *err);

/* Progress of an upload (bytes sent, total). */
typedef void (*nexc_progress_fn) (uint64_t sent, uint64_t total, void *ud);

struct nexc_deploy_opts {
  const char *node_id;          /* required */
  const char *file;             /* local file to upload, or NULL with bucket+key */
  const char *bucket;           /* default NEXCLIFILES */
  const char *jsdomain;         /* JetStream domain of the bucket; NULL: the node's own */
  const char *key;              /* default: the name */
  const char *name;             /* workload name (JWT sub), required */
  const char *description;
  const char *type;             /* default "native" */
  const char *const *argv;      /* NULL-terminated, may be NULL */
  const char *const *env;       /* "K=V" strings, NULL-terminated, may be NULL */
  bool essential;
  const struct nkey_pair *issuer;  /* signs the JWT; required */
  const struct nkey_pair *sender;  /* xkey to seal with; NULL: a fresh one */
  const char *hash;             /* JWT hash override (tests); NULL: sha256 of the file */
  nexc_progress_fn progress;
  void *progress_ud;
  char *request_json_out;       /* unused by the library; reserved */
  struct deploy_resources resources; /* per-deploy sizing (nexc extension); zero: none */
  struct deploy_restart restart;     /* restart policy (nexc extension); .present=false: none */
  enum deploy_logs_on_full logs_on_full; /* (nexc extension) UNSET: the node's default */
  const char *const *trigger_subjects; /* type "function": NULL-terminated, may be NULL */
  /* (nexc extension) subjects the workload's own NATS credentials allow,
   * on a node with workload_creds: NULL-terminated, may be NULL. */
  const char *const *nats_publish;
  const char *const *nats_subscribe;
  /* (nexc extension) the workload's file system (borrowed); mode FS_UNSET
   * and no bind_ro: the node's default. */
  struct fs_spec filesystem;
};

struct nexc_deploy_result {
  char id[64];
  char issuer[64];
  char name[256];
  char hash[65];
};

int nexc_deploy (struct nexc_client *c, const struct nexc_deploy_opts *o,
                 struct nexc_deploy_result *res, struct nxerr *err);
/* Build the DEPLOY payload only (no upload, no request): used by tests. */
int nexc_deploy_payload (struct nexc_client *c, const struct nexc_deploy_opts *o,
                         const char *target_xkey, const char *hash, char **payload,
                         struct nxerr *err);

/* Seal "K=V" strings (NULL-terminated) to a node's xkey "X…" from a fresh
 * sender key, as a deploy does: the base64 "environment" (malloc'd) and
 * the sender's public key. For config files (autostart
 * "sealed_environment"; `nexc seal`). */
int nexc_seal_env (const char *const *env, const char *xkey, char **sealed_b64,
                   char sender_public[NKEY_PUBLIC_LEN + 1], struct nxerr *err);

/* Mint a stop JWT and send STOP. */
int nexc_stop (struct nexc_client *c, const char *node_id, const char *workload_id,
               const char *name, const struct nkey_pair *issuer, struct nxerr *err);
/* Stop payload only (tests). */
int nexc_stop_payload (const char *node_id, const char *workload_id, const char *name,
                       const struct nkey_pair *issuer, int64_t iat, char **payload,
                       struct nxerr *err);

/* LAMEDUCK: the node refuses new deploys from then on. Unsigned, as in Nex;
 * a node whose config sets lameduck_requires_jwt refuses it. */
int nexc_lameduck (struct nexc_client *c, const char *node_id, struct nxerr *err);
/* LAMEDUCK signed by issuer (a lame-duck JWT bound to node_id, name claim
 * JWT_LAMEDUCK_NAME); with deadline_ms >= 0 the node also drains: every
 * workload is stopped by the deadline and the node exits. issuer NULL sends
 * it unsigned (refused with a deadline). */
int nexc_lameduck_signed (struct nexc_client *c, const char *node_id, int64_t deadline_ms,
                          const struct nkey_pair *issuer, struct nxerr *err);
/* Lame-duck payload only (tests): {"deadline_ms"?, "lameduck_jwt"?}. */
int nexc_lameduck_payload (const char *node_id, int64_t deadline_ms,
                           const struct nkey_pair *issuer, int64_t iat, char **payload,
                           struct nxerr *err);

/* The node's signature on an event message ($NEX.events.>, api/evsig.h):
 * 0 with the signer in node_id when it verifies, -1 with the reason (no
 * signature, a bad one). Whether to trust that node id is the caller's
 * call (compare with the ids PING returns). */
int nexc_event_verify (natsMsg *m, char node_id[NKEY_PUBLIC_LEN + 1], struct nxerr *err);

/* Send a request and decode the envelope: data JSON (malloc'd) on success,
 * -1 with the node's error text otherwise. */
int nexc_request (struct nexc_client *c, const char *subject, const char *payload, size_t len,
                  char **data_json, struct nxerr *err);

#endif
