/* client: the benchmark's side of the control protocol.
 *
 * Deploy payloads are built here from the library's codecs (jwt_encode,
 * deploy_request_encode, xkey_seal, b64_encode: the recipe of
 * nexc_deploy_payload) rather than with nexc_deploy_payload itself, because
 * that one never reuses an iat within the process: hundreds of deploys a
 * second would run its iat minutes ahead of the clock and the node refuses
 * JWTs issued more than 300 s in the future. Here every deploy gets a unique
 * workload name (the JWT sub), so its claims are unique with iat = now; the
 * stop JWT uses iat + 1 (the node refuses a stop JWT with the deploy's iat).
 *
 * Every function is synchronous on a caller-owned connection and safe to
 * call from several threads with one connection each. */
#ifndef NEXC_BENCH_CLIENT_H
#define NEXC_BENCH_CLIENT_H

#include <jansson.h>
#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/nxerr.h"

struct bench;
struct bench_node;

#define BENCH_BUCKET "NEXCLIFILES"
#define BENCH_NAME_MAX 64

/* A connection with SendAsap (replies and requests leave at once). */
int bench_connect (const char *url, const char *name, natsConnection **out, struct nxerr *err);

/* Request and decode the envelope: *data gets the data member (owned, may
 * be NULL when not wanted); -1 with the node's error text otherwise. */
int bench_request (natsConnection *nc, const char *subject, const char *payload, size_t len,
                   int timeout_ms, json_t **data, struct nxerr *err);

struct pool_state {
  long size, warm, starting, misses, refill_failures;
  long long log_dropped, log_lines, deploys, deploys_failed;
  char last_error[256];
};
int bench_pool_state (natsConnection *nc, const struct bench_node *nd, struct pool_state *ps,
                      struct nxerr *err);
/* Poll INFO until warm == size (or timeout). */
int bench_wait_pool_full (natsConnection *nc, const struct bench_node *nd, int timeout_ms,
                          struct nxerr *err);

/* Store bytes (or a file) in the NEXCLIFILES bucket; hex gets its sha256. */
int bench_upload (natsConnection *nc, const char *key, const void *data, size_t len,
                  char hex[65], struct nxerr *err);
int bench_upload_file (natsConnection *nc, const char *key, const char *path, char hex[65],
                       struct nxerr *err);

/* Seal an environment ("K=V" list, NULL-terminated, may be NULL) to the
 * node, base64 as DEPLOY carries it; malloc'd. Reusable across deploys. */
char *bench_seal_env (const struct bench *b, const struct bench_node *nd,
                      const char *const *env, struct nxerr *err);

struct deploy_spec {
  const char *prefix;          /* workload name prefix; a unique suffix is added */
  const char *key;             /* object key in NEXCLIFILES */
  const char *hash;            /* sha256 hex of the object */
  const char *const *argv;     /* NULL-terminated, may be NULL */
  const char *sealed_env;      /* from bench_seal_env */
  const char *type;            /* NULL: "native" */
  const char *const *trigger_subjects; /* type "function": NULL-terminated, may be NULL */
};

struct deployed {
  char id[64];
  char name[BENCH_NAME_MAX];
  int64_t iat;
};

int bench_deploy_payload (const struct bench *b, const struct bench_node *nd,
                          const struct deploy_spec *s, struct deployed *d, char **payload,
                          struct nxerr *err);
/* Send a payload; *lat_ns (may be NULL) gets request-to-reply time. */
int bench_deploy_send (natsConnection *nc, const struct bench_node *nd, const char *payload,
                       struct deployed *d, int timeout_ms, uint64_t *lat_ns, struct nxerr *err);
/* Payload + send. */
int bench_deploy (const struct bench *b, natsConnection *nc, const struct bench_node *nd,
                  const struct deploy_spec *s, struct deployed *d, int timeout_ms,
                  uint64_t *lat_ns, struct nxerr *err);
/* STOP; returns when the node replied (the workload has ended). */
int bench_stop (const struct bench *b, natsConnection *nc, const struct bench_node *nd,
                const struct deployed *d, int timeout_ms, uint64_t *lat_ns, struct nxerr *err);

/* Request/reply round trip, for PING and INFO latency: *lat_ns. */
int bench_rtt (natsConnection *nc, const char *subject, int timeout_ms, uint64_t *lat_ns,
               size_t *reply_len, struct nxerr *err);

/* Arrival times of workload events ($NEX.events.default.<type>), recorded by
 * an async subscription. */
struct event_watch;
int event_watch_new (natsConnection *nc, const char *type, struct event_watch **out,
                     struct nxerr *err);
/* Monotonic arrival time (ns) of the event whose source is id, waiting up to
 * timeout_ms; 0 on timeout. The entry is consumed. */
uint64_t event_watch_wait (struct event_watch *w, const char *id, int timeout_ms);
void event_watch_free (struct event_watch *w);

#endif
