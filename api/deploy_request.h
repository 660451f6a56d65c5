/* deploy_request: the DEPLOY payload (reference §2.1), decoded with the Go
 * conventions of §0 (unknown keys ignored, keys matched case-insensitively,
 * null = absent, last duplicate wins, a wrongly typed value fails the whole
 * request with Go's error text) and encoded as the Go client sends it.
 *
 * Decoding is strict where Nex crashed: the five fields Nex dereferenced
 * blindly are required ("Invalid deploy request: <field> is required"), and
 * sizes are bounded. `location` is accepted as Go's URL object or as a plain
 * "nats://bucket/key" string (our extension), and so is "resources"
 * (per-deploy sandbox sizing, struct deploy_resources): its values are
 * checked against the bounds below here and against the node's maxima by
 * the node. */
#ifndef NEXC_DEPLOY_REQUEST_H
#define NEXC_DEPLOY_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/buf.h"
#include "api/fs_spec.h"
#include "api/nxerr.h"

#define DEPLOY_REQUEST_MAX (1024 * 1024)
#define DEPLOY_ARGV_MAX 256
#define DEPLOY_TRIGGERS_MAX 64
#define DEPLOY_DESCRIPTION_MAX 4096

/* Bounds of the "resources" extension that hold on every node (a node's own
 * maxima are checked by the node). */
#define DEPLOY_MEMORY_MIB_MIN 8
#define DEPLOY_MEMORY_MIB_MAX (16 * 1024 * 1024) /* 16 TiB */
#define DEPLOY_VCPUS_MILLI_MIN 10                /* 0.01 of a CPU */
#define DEPLOY_VCPUS_MILLI_MAX (1024 * 1000)
#define DEPLOY_PIDS_MIN 8
#define DEPLOY_PIDS_MAX 4194304

/* Our extension to the deploy request: "resources":{"memory_mib":N,
 * "vcpus":N,"pids":N}, each optional; vcpus may be fractional (0.25).
 * A field is set when its value is non-zero. */
struct deploy_resources {
  uint64_t memory_mib;
  uint32_t vcpus_milli; /* thousandths of a CPU */
  uint64_t pids;
};

/* Our extension: "restart":{"policy":"never|on-failure|always",
 * "max_restarts":N,"backoff_ms":N,"max_backoff_ms":N}; each optional.
 * present is false when the key is absent (then essential:true means
 * on-failure with the node's defaults). 0 in a number means "default". */
enum deploy_restart_policy {
  DEPLOY_RESTART_UNSET = 0,
  DEPLOY_RESTART_NEVER,
  DEPLOY_RESTART_ON_FAILURE,
  DEPLOY_RESTART_ALWAYS,
};

#define DEPLOY_RESTART_MAX 100000
#define DEPLOY_BACKOFF_MAX_MS (24ll * 3600 * 1000)

struct deploy_restart {
  bool present;
  enum deploy_restart_policy policy;
  uint64_t max_restarts;
  uint64_t backoff_ms;
  uint64_t max_backoff_ms;
};

/* Our extension: "logs":{"on_full":"block|drop_oldest"} (issue #15): what
 * the agent does when the workload's lines come faster than the node takes
 * them. UNSET: the node's config decides. */
enum deploy_logs_on_full {
  DEPLOY_LOGS_UNSET = 0,
  DEPLOY_LOGS_BLOCK,
  DEPLOY_LOGS_DROP_OLDEST,
};

/* Our extension: "nats":{"publish":[...],"subscribe":[...]}, the subjects
 * the workload's own NATS credentials allow (node config workload_creds,
 * node/workload/creds.h); each optional, at most DEPLOY_NATS_SUBJECTS_MAX.
 * The node checks them against the trigger deny list. */
#define DEPLOY_NATS_SUBJECTS_MAX 64
struct deploy_nats {
  char **publish;
  size_t n_publish;
  char **subscribe;
  size_t n_subscribe;
};

struct deploy_request {
  char **argv;
  size_t argc;
  char *description; /* "" when absent */
  char *type;
  char *location_scheme;
  char *location_bucket; /* URL Host */
  char *location_key;    /* URL Path without leading/trailing '/' */
  bool essential;
  char *workload_jwt;
  char *environment;
  char *jsdomain; /* "" when absent */
  char *sender_public_key;
  char *target_node; /* "" when absent */
  char **trigger_subjects;
  size_t n_triggers;
  uint64_t retry_count;
  char *retried_at; /* NULL when absent */
  struct deploy_resources resources; /* all zero when absent */
  struct deploy_restart restart;
  enum deploy_logs_on_full logs_on_full;
  struct deploy_nats nats; /* all empty when absent */
  struct fs_spec filesystem; /* mode FS_UNSET when absent: the node's default */
};

/* Decode. On failure err->msg is the text that follows
 * "Unable to deserialize deploy request: " (code EINVAL), or a complete
 * "Invalid deploy request: ..." text (code EPROTO) for missing fields. */
int deploy_request_decode (const char *json, size_t len, struct deploy_request **out,
                           struct nxerr *err);
void deploy_request_free (struct deploy_request *r);
/* Encode as the Go client does (location as the URL object). */
void deploy_request_encode (const struct deploy_request *r, struct buf *out);

/* What a bound deploy token (jwt nats.nexc_bind) names: the lowercase hex
 * SHA-256 of r encoded without its workload_jwt and retry fields, so every
 * field that decides what runs (argv, type, location, environment, sender,
 * triggers, resources, restart, nats, ...) is covered and the token need not
 * contain itself. Clients compute it on a decode of what they encoded, so
 * both ends digest the same decoded values. */
#define DEPLOY_DIGEST_HEX_LEN 65
void deploy_request_digest (const struct deploy_request *r, char hex[DEPLOY_DIGEST_HEX_LEN]);

#endif
