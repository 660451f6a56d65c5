/* config: the node configuration file (reference §6, plus nexc's keys).
 *
 * config_load decodes the JSON file on top of the defaults (absent keys keep
 * their default, arrays replace, objects merge field by field, tags merge).
 * Unknown keys and Firecracker-only keys produce warnings (collected in
 * cfg->warnings); an invalid value fails with a message naming the key.
 * config_dump writes the effective configuration as JSON (check-config).
 * Loading is config.c, the dump config_dump.c, the string containers
 * strmap.c (strmap.h, included here). */
#ifndef NEXC_NODE_CONFIG_H
#define NEXC_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/buf.h"
#include "api/fs_spec.h"
#include "api/nxerr.h"
#include "node/core/strmap.h" /* struct strlist, struct strmap */

#define CONFIG_FILE_MAX (1024 * 1024)

/* One workload of autostart.workloads (Nex 0.2.4 shape). location is a
 * nats://bucket/key URL or, our extension, a local file path. */
struct autostart_spec {
  char *name;
  char *ns;
  char *description;
  char *type;
  char *location;
  char *jsdomain;
  struct strlist argv;
  struct strmap env;
  char *sealed_env;        /* "sealed_environment": base64 xkv1 to the node's xkey; NULL: none */
  char *sender_public_key; /* the sealing key, with sealed_env */
  bool essential;
};

enum sandbox_tier { SANDBOX_NONE = 0, SANDBOX_PROCESS = 1 };
/* Network of a process-tier sandbox: the host's, or a namespace of its own
 * with only a loopback interface. */
enum sandbox_network { SANDBOX_NET_HOST = 0, SANDBOX_NET_NONE = 1 };
/* Whether each workload of the process tier runs in a user namespace of its
 * own (config key "user_namespace"; agent/userns.h): "auto" where the
 * kernel allows it (said at start when it does not), "on" or refuse to
 * start, "off". */
enum userns_mode { USERNS_AUTO = 0, USERNS_ON = 1, USERNS_OFF = 2 };
/* Which cgroup version the sandboxes use (config key "cgroup"). */
enum cg_mode { CG_MODE_AUTO = 0, CG_MODE_V1, CG_MODE_V2, CG_MODE_OFF };
/* What a workload's agent does when its lines wait faster than the node
 * takes them (config "logs": {"on_full"}, a deploy's "logs" overrides):
 * block the workload's writes, or drop the oldest lines. The values are
 * api/deploy_request.h's enum deploy_logs_on_full less its UNSET. */
enum logs_on_full { LOGS_BLOCK = 0, LOGS_DROP_OLDEST = 1 };
/* The JetStream stream that keeps the log subjects for replay (config
 * "logs": {"stream": {...}} or "stream": true; node/bus/logstream.h). */
#define LOGSTREAM_NAME_MAX 64
struct logs_stream_cfg {
  bool on;
  char name[LOGSTREAM_NAME_MAX + 1]; /* default NEXC_LOGS */
  int64_t max_age_ms;                /* default 24 h */
  int64_t max_bytes;                 /* default 1 GiB */
  int64_t replicas;                  /* 0: 1, or 3 when the server is in a cluster */
};

/* The default uid_range of a node run by root: every such node of a host
 * shares it (node/sandbox/uidblock.h). */
#define CONFIG_UID_START 200000
#define CONFIG_UID_COUNT 65536

struct config {
  int64_t machine_pool_size;
  int64_t vcpu_count;
  int64_t memsize_mib;
  bool no_sandbox;
  enum sandbox_tier sandbox;
  struct strlist workload_types;
  struct strlist valid_issuers;
  struct strlist requester_public_keys;
  struct strlist deny_trigger_subjects;
  struct strmap tags;
  int64_t max_workloads;
  int64_t max_total_bytes;
  int64_t max_workload_bytes;
  struct autostart_spec *autostart;
  size_t n_autostart;
  char *autostart_stop_issuer; /* may stop autostart workloads besides the node */
  char *state_dir;
  bool state_dir_set;           /* named by the config or --state-dir (else a default) */
  int64_t heartbeat_interval_ms;
  int64_t agent_handshake_timeout_ms;
  int64_t agent_ping_interval_ms;
  int64_t agent_ping_timeout_ms;
  int64_t stop_grace_ms;
  int64_t artifact_cache_max_bytes;
  int64_t max_artifact_bytes;
  int64_t metrics_interval_ms; /* 0: no metrics events */
  int64_t restart_stable_ms;   /* a run this long resets the restart backoff */
  int64_t function_pool_size;  /* warm agents for function invocations (node/workload/trigger.h) */
  int64_t function_timeout_ms; /* per invocation */
  bool accept_unverified_hashes;
  /* Secure-default switches (the packaged config sets all of them). */
  bool require_valid_issuers;         /* refuse to load with an empty valid_issuers */
  bool lameduck_requires_jwt;         /* even the plain Nex lame duck must be signed */
  bool require_bound_tokens;          /* deploy/stop tokens name their request (node/control/bound.h) */
  struct strlist lameduck_issuers;    /* non-empty: only these keys may drain (node/control/lameduck.h) */
  /* workload_creds (node/workload/creds.h): each workload run gets a NATS
   * user of this account; wcreds_account NULL: off. */
  char *wcreds_account;
  char *wcreds_key_file; /* the account's signing seed (SA…), a 0600 file */
  int64_t wcreds_ttl_s;  /* the user JWT's lifetime; 0: no exp */
  struct strlist allow_trigger_subjects; /* exceptions to the default trigger deny list */
  char *agent_path;
  /* The process tier (node/sandbox/sandbox.h). */
  enum sandbox_network network;
  enum fs_mode filesystem;      /* FS_MINIMAL unless "host-ro" (api/fs_spec.h) */
  int user_namespace;           /* enum userns_mode, default auto */
  int64_t uid_start, uid_count; /* uid_range, default CONFIG_UID_START, CONFIG_UID_COUNT */
  bool uid_range_set;           /* the config names start or count */
  char *uid_lock_dir;           /* uid_range.lock_dir; NULL: /run/nexc/uids */
  int64_t pids_limit;           /* default pids limit of a sandbox */
  int64_t open_files_limit;     /* RLIMIT_NOFILE of a workload */
  int64_t max_memory_mib;       /* max_resources; 0: machine_template.memsize_mib */
  int64_t max_vcpus_milli;      /* 0: machine_template.vcpu_count */
  int64_t max_pids;             /* 0: pids_limit */
  char *cgroup_root;            /* NULL: the node's own cgroup */
  int cgroup_mode;              /* enum cg_mode */
  enum logs_on_full logs_on_full; /* the default of deploys that do not say */
  struct logs_stream_cfg logs_stream;
  /* "deployments" (issue #17, node/deployments/deployments.h): off unless
   * the operator turns it on. */
  struct {
    bool enabled;
    char *bucket;        /* NULL: DEPLOYMENT_BUCKET_DEFAULT */
    char *claims_bucket; /* NULL: DEPLOYMENT_CLAIMS_BUCKET_DEFAULT */
    int64_t lease_ms;
    int64_t skew_ms;     /* clock skew the nodes tolerate between them */
    int64_t replicas;    /* of the buckets' streams */
    char *xkey_seed_file; /* opens the specs' environments; NULL: no env */
  } deployments;
  struct strlist warnings;
};

void config_defaults (struct config *cfg);
/* Load path over the defaults. */
int config_load (struct config *cfg, const char *path, struct nxerr *err);
/* Parse a JSON text over the defaults (used by config_load and tests). */
int config_parse (struct config *cfg, const char *json, size_t len, struct nxerr *err);
void config_free (struct config *cfg);
/* The effective configuration as JSON (config_dump.c). */
void config_dump (const struct config *cfg, struct buf *out);

#endif
