/* config: loads the node configuration file (config.h). It owns the input
 * side: the defaults, reading the file, strict JSON decoding (duplicate keys
 * refused, one parse function per key or object, each naming the key in its
 * error), the checks across keys, the warnings for unknown and
 * Firecracker-only keys, and config_free. Rendering a config back to JSON is
 * config_dump.c; the string containers are strmap.c. The integer-key table
 * and the cgroup names defined here are shared with config_dump.c through
 * config_int.h. tests/schema/validate_configs.py reads node/core/config*.c to
 * check the schema against these keys, ranges and defaults. */
#include "node/core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/duration.h"
#include "api/nexc_logs.h" /* the stream name rule, shared with clients */
#include "api/nkeys.h"
#include "api/subjects.h"
#include "api/xalloc.h"
#include "node/core/config_int.h"
#include "node/core/path.h"

/* ---- defaults ---- */

/* Off until the config names it; these are what "stream": true means. */
static void
logs_stream_defaults (struct logs_stream_cfg *ls)
{
  memset (ls, 0, sizeof *ls);
  snprintf (ls->name, sizeof ls->name, "NEXC_LOGS");
  ls->max_age_ms = 24ll * 3600 * 1000;
  ls->max_bytes = 1024ll * 1024 * 1024;
}

void
config_defaults (struct config *cfg)
{
  memset (cfg, 0, sizeof *cfg);
  cfg->machine_pool_size = 1;
  cfg->vcpu_count = 1;
  cfg->memsize_mib = 256;
  cfg->sandbox = SANDBOX_PROCESS;
  cfg->uid_start = CONFIG_UID_START;
  cfg->uid_count = CONFIG_UID_COUNT;
  cfg->pids_limit = 512;
  cfg->open_files_limit = 4096;
  cfg->deployments.lease_ms = 3000;
  cfg->deployments.skew_ms = 500;
  cfg->deployments.replicas = 3;
  strlist_push (&cfg->workload_types, "native");
  strlist_push (&cfg->workload_types, "elf");
  cfg->state_dir = xstrdup ("/var/lib/nexc");
  cfg->heartbeat_interval_ms = 30000;
  cfg->agent_handshake_timeout_ms = 5000;
  cfg->agent_ping_interval_ms = 5000;
  cfg->agent_ping_timeout_ms = 750;
  cfg->stop_grace_ms = 5000;
  cfg->artifact_cache_max_bytes = 1024ll * 1024 * 1024;
  cfg->max_artifact_bytes = 256ll * 1024 * 1024;
  cfg->metrics_interval_ms = 5000;
  cfg->restart_stable_ms = 10000;
  cfg->function_pool_size = 2;
  cfg->function_timeout_ms = 10000;
  logs_stream_defaults (&cfg->logs_stream);
  strlist_push (&cfg->workload_types, "function");
}

void
config_free (struct config *cfg)
{
  strlist_free (&cfg->workload_types);
  strlist_free (&cfg->valid_issuers);
  strlist_free (&cfg->requester_public_keys);
  strlist_free (&cfg->deny_trigger_subjects);
  strlist_free (&cfg->allow_trigger_subjects);
  strlist_free (&cfg->lameduck_issuers);
  free (cfg->wcreds_account);
  free (cfg->wcreds_key_file);
  cfg->wcreds_account = cfg->wcreds_key_file = NULL;
  strmap_free (&cfg->tags);
  strlist_free (&cfg->warnings);
  for (size_t i = 0; i < cfg->n_autostart; i++)
    {
      struct autostart_spec *a = &cfg->autostart[i];
      free (a->name);
      free (a->ns);
      free (a->description);
      free (a->type);
      free (a->location);
      free (a->jsdomain);
      strlist_free (&a->argv);
      strmap_free (&a->env);
      free (a->sealed_env);
      free (a->sender_public_key);
    }
  free (cfg->autostart);
  cfg->autostart = NULL;
  cfg->n_autostart = 0;
  free (cfg->autostart_stop_issuer);
  cfg->autostart_stop_issuer = NULL;
  free (cfg->state_dir);
  free (cfg->agent_path);
  free (cfg->cgroup_root);
  free (cfg->uid_lock_dir);
  cfg->state_dir = cfg->agent_path = cfg->cgroup_root = cfg->uid_lock_dir = NULL;
  free (cfg->deployments.bucket);
  free (cfg->deployments.claims_bucket);
  free (cfg->deployments.xkey_seed_file);
  cfg->deployments.bucket = cfg->deployments.claims_bucket = NULL;
  cfg->deployments.xkey_seed_file = NULL;
}

/* ---- typed field readers; each names the key in its error ---- */

static int
get_int (json_t *v, const char *key, int64_t min, int64_t max, int64_t *out, struct nxerr *err)
{
  json_int_t x;
  if (!json_is_integer (v))
    return nxerr_set (err, EINVAL, "%s: must be an integer", key);
  x = json_integer_value (v);
  if (x < min || x > max)
    return nxerr_set (err, EINVAL, "%s: %lld is out of range [%lld, %lld]", key, (long long) x,
                      (long long) min, (long long) max);
  *out = x;
  return 0;
}

static int
get_bool (json_t *v, const char *key, bool *out, struct nxerr *err)
{
  if (!json_is_boolean (v))
    return nxerr_set (err, EINVAL, "%s: must be true or false", key);
  *out = json_is_true (v);
  return 0;
}

static int
get_string (json_t *v, const char *key, char **out, struct nxerr *err)
{
  if (!json_is_string (v) || json_string_length (v) == 0 || json_string_length (v) > 4096)
    return nxerr_set (err, EINVAL, "%s: must be a non-empty string", key);
  if (strlen (json_string_value (v)) != json_string_length (v))
    return nxerr_set (err, EINVAL, "%s: must not contain NUL", key);
  free (*out);
  *out = xstrdup (json_string_value (v));
  return 0;
}

typedef bool (*str_check_fn) (const char *s);

static int
get_strlist (json_t *v, const char *key, struct strlist *out, str_check_fn check, const char *what,
             struct nxerr *err)
{
  size_t i;
  json_t *e;
  if (json_is_null (v))
    return 0;
  if (!json_is_array (v))
    return nxerr_set (err, EINVAL, "%s: must be an array of strings", key);
  strlist_free (out);
  json_array_foreach (v, i, e)
  {
    if (!json_is_string (e) || json_string_length (e) == 0)
      return nxerr_set (err, EINVAL, "%s[%zu]: must be a non-empty string", key, i);
    if (check && !check (json_string_value (e)))
      return nxerr_set (err, EINVAL, "%s[%zu]: \"%s\" is not %s", key, i, json_string_value (e),
                        what);
    strlist_push (out, json_string_value (e));
  }
  return 0;
}

/* Exactly the 56 characters: deploys compare the stored text with the
 * JWT's iss byte for byte, so a key with a trailing newline (which the nkey
 * decoder tolerates) would never match. */
static bool
is_issuer_key (const char *s)
{
  return strlen (s) == NKEY_PUBLIC_LEN && nkey_is_valid_public (s, NKEY_ANY_PREFIX)
         && s[0] != 'X';
}

static bool
is_xkey (const char *s)
{
  return strlen (s) == NKEY_PUBLIC_LEN && nkey_is_valid_public (s, NKEY_CURVE);
}

static bool
is_workload_type (const char *s)
{
  return strcmp (s, "native") == 0 || strcmp (s, "elf") == 0 || strcmp (s, "function") == 0;
}

static bool
is_subject (const char *s)
{
  size_t n = strlen (s);
  if (n == 0 || n > 1024 || s[0] == '.' || s[n - 1] == '.' || strstr (s, ".."))
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char) s[i] <= ' ')
      return false;
  return true;
}

static int
parse_template (struct config *cfg, json_t *v, struct nxerr *err)
{
  const char *k;
  json_t *e;
  if (!json_is_object (v))
    return nxerr_set (err, EINVAL, "machine_template: must be an object");
  json_object_foreach (v, k, e)
  {
    if (strcmp (k, "vcpu_count") == 0)
      {
        if (get_int (e, "machine_template.vcpu_count", 1, 1024, &cfg->vcpu_count, err) < 0)
          return -1;
      }
    else if (strcmp (k, "memsize_mib") == 0)
      {
        if (get_int (e, "machine_template.memsize_mib", 8, 1 << 24, &cfg->memsize_mib, err) < 0)
          return -1;
      }
    else
      strlist_push (&cfg->warnings, "machine_template: unknown key ignored");
  }
  return 0;
}

static int
parse_limits (struct config *cfg, json_t *v, struct nxerr *err)
{
  const char *k;
  json_t *e;
  if (json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return nxerr_set (err, EINVAL, "node_limits: must be an object");
  json_object_foreach (v, k, e)
  {
    int64_t *dst = NULL;
    char name[64];
    if (strcmp (k, "max_workloads") == 0)
      dst = &cfg->max_workloads;
    else if (strcmp (k, "max_total_bytes") == 0)
      dst = &cfg->max_total_bytes;
    else if (strcmp (k, "max_workload_bytes") == 0)
      dst = &cfg->max_workload_bytes;
    if (dst == NULL)
      {
        strlist_push (&cfg->warnings, "node_limits: unknown key ignored");
        continue;
      }
    snprintf (name, sizeof name, "node_limits.%s", k);
    if (get_int (e, name, 0, INT64_MAX, dst, err) < 0)
      return -1;
  }
  return 0;
}

static int
parse_tags (struct config *cfg, json_t *v, struct nxerr *err)
{
  const char *k;
  json_t *e;
  if (json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return nxerr_set (err, EINVAL, "tags: must be an object of strings");
  if (json_object_size (v) > 256)
    return nxerr_set (err, EINVAL, "tags: at most 256 tags");
  json_object_foreach (v, k, e)
  {
    if (!json_is_string (e))
      return nxerr_set (err, EINVAL, "tags.%s: must be a string", k);
    if (*k == '\0' || strlen (k) > 256 || json_string_length (e) > 1024)
      return nxerr_set (err, EINVAL, "tags: key or value too long or empty key");
    strmap_set (&cfg->tags, k, json_string_value (e));
  }
  return 0;
}

static int
autostart_string (json_t *o, const char *k, size_t i, bool required, char **out,
                  struct nxerr *err)
{
  json_t *v = json_object_get (o, k);
  if (v == NULL || json_is_null (v))
    {
      if (required)
        return nxerr_set (err, EINVAL, "autostart.workloads[%zu].%s: is required", i, k);
      return 0;
    }
  if (!json_is_string (v) || json_string_length (v) > 4096
      || strlen (json_string_value (v)) != json_string_length (v))
    return nxerr_set (err, EINVAL, "autostart.workloads[%zu].%s: must be a string", i, k);
  *out = xstrdup (json_string_value (v));
  return 0;
}

static int
autostart_location (json_t *o, size_t i, char **out, struct nxerr *err)
{
  json_t *v = json_object_get (o, "location");
  if (json_is_object (v)) /* Go's URL object */
    {
      const char *host = json_string_value (json_object_get (v, "Host"));
      const char *path = json_string_value (json_object_get (v, "Path"));
      char buf[4200];
      if (host == NULL)
        return nxerr_set (err, EINVAL, "autostart.workloads[%zu].location.Host: is required", i);
      snprintf (buf, sizeof buf, "nats://%s%s%s", host, path && *path != '/' ? "/" : "",
                path ? path : "");
      *out = xstrdup (buf);
      return 0;
    }
  return autostart_string (o, "location", i, true, out, err);
}

static bool
is_name (const char *s)
{
  if (*s == '\0' || strlen (s) > 128)
    return false;
  for (; *s; s++)
    if (!(*s == '-' || *s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
          || (*s >= '0' && *s <= '9')))
      return false;
  return true;
}

/* "sealed_environment" (base64 of xkv1, `nexc seal`) with the
 * "sender_public_key" it was sealed from: opened with the node's xkey at
 * autostart (node/control/autostart.c), so a config holding only these
 * holds no readable secret. */
static int
autostart_sealed (json_t *o, size_t i, struct autostart_spec *a, struct nxerr *err)
{
  if (autostart_string (o, "sealed_environment", i, false, &a->sealed_env, err) < 0
      || autostart_string (o, "sender_public_key", i, false, &a->sender_public_key, err) < 0)
    return -1;
  if ((a->sealed_env == NULL) != (a->sender_public_key == NULL))
    return nxerr_set (err, EINVAL,
                      "autostart.workloads[%zu]: sealed_environment and sender_public_key go "
                      "together (`nexc seal` prints both)",
                      i);
  if (a->sealed_env == NULL)
    return 0;
  if (a->env.n)
    return nxerr_set (err, EINVAL,
                      "autostart.workloads[%zu]: environment or sealed_environment, not both", i);
  if (!is_xkey (a->sender_public_key))
    return nxerr_set (err, EINVAL,
                      "autostart.workloads[%zu].sender_public_key: must be a public xkey (X…)", i);
  return 0;
}

static int
parse_autostart_one (struct config *cfg, json_t *o, size_t i, struct nxerr *err)
{
  struct autostart_spec *a;
  json_t *v;
  const char *k;
  if (!json_is_object (o))
    return nxerr_set (err, EINVAL, "autostart.workloads[%zu]: must be an object", i);
  cfg->autostart = xrealloc (cfg->autostart, (cfg->n_autostart + 1) * sizeof *cfg->autostart);
  a = &cfg->autostart[cfg->n_autostart++];
  memset (a, 0, sizeof *a);
  if (autostart_string (o, "name", i, true, &a->name, err) < 0
      || autostart_string (o, "namespace", i, false, &a->ns, err) < 0
      || autostart_string (o, "description", i, false, &a->description, err) < 0
      || autostart_string (o, "type", i, true, &a->type, err) < 0
      || autostart_string (o, "jsdomain", i, false, &a->jsdomain, err) < 0
      || autostart_location (o, i, &a->location, err) < 0)
    return -1;
  if (!is_name (a->name))
    return nxerr_set (err, EINVAL, "autostart.workloads[%zu].name: \"%s\" must match ^[a-zA-Z0-9_-]+$", i, a->name);
  if (a->ns == NULL)
    a->ns = xstrdup ("default");
  /* The namespace goes into subjects ($NEX.events.<ns>.…, $NEX.logs.<ns>.…). */
  if (!subjects_token_ok (a->ns))
    return nxerr_set (err, EINVAL,
                      "autostart.workloads[%zu].namespace: \"%s\" is not a valid subject token", i,
                      a->ns);
  if (!is_workload_type (a->type) || strcmp (a->type, "function") == 0)
    return nxerr_set (err, EINVAL, "autostart.workloads[%zu].type: \"%s\" is not native or elf", i, a->type);
  v = json_object_get (o, "argv");
  if (v && get_strlist (v, "autostart.workloads[].argv", &a->argv, NULL, "", err) < 0)
    return -1;
  v = json_object_get (o, "trigger_subjects");
  if (json_is_array (v) && json_array_size (v) > 0)
    return nxerr_set (err, EINVAL, "autostart.workloads[%zu].trigger_subjects: function workloads are not supported", i);
  v = json_object_get (o, "essential");
  if (v && !json_is_null (v) && get_bool (v, "autostart.workloads[].essential", &a->essential, err) < 0)
    return -1;
  v = json_object_get (o, "environment");
  if (v && !json_is_null (v))
    {
      json_t *e;
      if (!json_is_object (v))
        return nxerr_set (err, EINVAL, "autostart.workloads[%zu].environment: must be an object of strings", i);
      json_object_foreach (v, k, e)
      {
        if (!json_is_string (e) || *k == '\0' || strchr (k, '='))
          return nxerr_set (err, EINVAL, "autostart.workloads[%zu].environment.%s: must be a string (and the name non-empty, without '=')", i, k);
        strmap_set (&a->env, k, json_string_value (e));
      }
    }
  return autostart_sealed (o, i, a, err);
}

static int
parse_autostart (struct config *cfg, json_t *v, struct nxerr *err)
{
  json_t *wl, *e;
  const char *k;
  size_t i;
  if (json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return nxerr_set (err, EINVAL, "autostart: must be an object");
  json_object_foreach (v, k, e)
  {
    if (strcmp (k, "workloads") == 0)
      continue;
    if (strcmp (k, "stop_issuer") == 0)
      {
        if (!json_is_string (e) || !is_issuer_key (json_string_value (e)))
          return nxerr_set (err, EINVAL, "autostart.stop_issuer: must be a public nkey");
        free (cfg->autostart_stop_issuer);
        cfg->autostart_stop_issuer = xstrdup (json_string_value (e));
        continue;
      }
    strlist_push (&cfg->warnings, "autostart: unknown key ignored");
  }
  wl = json_object_get (v, "workloads");
  if (wl == NULL || json_is_null (wl))
    return 0;
  if (!json_is_array (wl) || json_array_size (wl) > 256)
    return nxerr_set (err, EINVAL, "autostart.workloads: must be an array (at most 256)");
  json_array_foreach (wl, i, e) if (parse_autostart_one (cfg, e, i, err) < 0) return -1;
  return 0;
}

static int
parse_sandbox (struct config *cfg, json_t *v, struct nxerr *err)
{
  const char *s;
  if (!json_is_string (v))
    return nxerr_set (err, EINVAL, "sandbox: must be \"process\" or \"none\"");
  s = json_string_value (v);
  if (strcmp (s, "none") == 0)
    cfg->sandbox = SANDBOX_NONE;
  else if (strcmp (s, "process") == 0)
    cfg->sandbox = SANDBOX_PROCESS;
  else
    return nxerr_set (err, EINVAL, "sandbox: \"%s\" is not one of \"process\", \"none\"", s);
  return 0;
}

/* ---- the process tier's keys ---- */

/* names is NULL-terminated; its index is the value. */
static int
parse_enum (json_t *v, const char *key, const char *const *names, const char *allowed, int *out,
            struct nxerr *err)
{
  const char *s = json_is_string (v) ? json_string_value (v) : NULL;
  for (int i = 0; s && names[i]; i++)
    if (strcmp (s, names[i]) == 0)
      {
        *out = i;
        return 0;
      }
  return nxerr_set (err, EINVAL, "%s: must be one of %s", key, allowed);
}

static int
parse_network (struct config *cfg, json_t *v, struct nxerr *err)
{
  static const char *const names[] = { "host", "none", NULL };
  int x = 0; /* set when parse_enum succeeds; gcc -O2 cannot see that */
  if (parse_enum (v, "network", names, "\"host\", \"none\"", &x, err) < 0)
    return -1;
  cfg->network = (enum sandbox_network) x;
  return 0;
}

static int
parse_filesystem (struct config *cfg, json_t *v, struct nxerr *err)
{
  static const char *const names[] = { "minimal", "host-ro", NULL };
  int x = 0;
  if (parse_enum (v, "filesystem", names, "\"minimal\", \"host-ro\"", &x, err) < 0)
    return -1;
  cfg->filesystem = x == 0 ? FS_MINIMAL : FS_HOST_RO;
  return 0;
}

/* Index = enum cg_mode; "none" turns cgroups off. Also written by
 * config_dump.c. */
const char *const config_cgroup_names[] = { "auto", "v1", "v2", "none", NULL };

static int
parse_cgroup (struct config *cfg, json_t *v, struct nxerr *err)
{
  return parse_enum (v, "cgroup", config_cgroup_names, "\"auto\", \"v1\", \"v2\", \"none\"",
                     &cfg->cgroup_mode, err);
}

const char *const config_userns_names[] = { "auto", "on", "off", NULL };

static int
parse_user_namespace (struct config *cfg, json_t *v, struct nxerr *err)
{
  return parse_enum (v, "user_namespace", config_userns_names, "\"auto\", \"on\", \"off\"",
                     &cfg->user_namespace, err);
}

/* Every node of a host must name the same directory (node/sandbox/uidblock.h). */
static int
parse_uid_lock_dir (struct config *cfg, json_t *e, struct nxerr *err)
{
  char tmp[PATH_JOIN_MAX];
  if (get_string (e, "uid_range.lock_dir", &cfg->uid_lock_dir, err) < 0)
    return -1;
  if (cfg->uid_lock_dir[0] != '/' || path_join (tmp, sizeof tmp, "/", cfg->uid_lock_dir) < 0)
    return nxerr_set (err, EINVAL,
                      "uid_range.lock_dir: must be an absolute path without \".\" or \"..\", "
                      "at most %d bytes (e.g. \"/run/nexc/uids\")",
                      PATH_JOIN_MAX - 1);
  return 0;
}

static int
parse_uid_range (struct config *cfg, json_t *v, struct nxerr *err)
{
  const char *k;
  json_t *e;
  if (!json_is_object (v))
    return nxerr_set (err, EINVAL, "uid_range: must be an object {\"start\": N, \"count\": N}");
  json_object_foreach (v, k, e)
  {
    if (strcmp (k, "start") == 0)
      {
        if (get_int (e, "uid_range.start", 1, 4294967294, &cfg->uid_start, err) < 0)
          return -1;
        cfg->uid_range_set = true;
      }
    else if (strcmp (k, "count") == 0)
      {
        if (get_int (e, "uid_range.count", 1, 16777216, &cfg->uid_count, err) < 0)
          return -1;
        cfg->uid_range_set = true;
      }
    else if (strcmp (k, "lock_dir") == 0)
      {
        if (parse_uid_lock_dir (cfg, e, err) < 0)
          return -1;
      }
    else
      strlist_push (&cfg->warnings, "uid_range: unknown key ignored");
  }
  if (cfg->uid_start + cfg->uid_count > 4294967295ll)
    return nxerr_set (err, EINVAL, "uid_range: start + count goes past the last valid uid");
  return 0;
}

static int
parse_max_resources (struct config *cfg, json_t *v, struct nxerr *err)
{
  const char *k;
  json_t *e;
  if (!json_is_object (v))
    return nxerr_set (err, EINVAL, "max_resources: must be an object");
  json_object_foreach (v, k, e)
  {
    if (strcmp (k, "memory_mib") == 0)
      {
        if (get_int (e, "max_resources.memory_mib", 8, 16777216, &cfg->max_memory_mib, err) < 0)
          return -1;
      }
    else if (strcmp (k, "pids") == 0)
      {
        if (get_int (e, "max_resources.pids", 8, 4194304, &cfg->max_pids, err) < 0)
          return -1;
      }
    else if (strcmp (k, "vcpus") == 0)
      {
        double x = json_is_number (e) ? json_number_value (e) : -1;
        if (x < 0.01 || x > 1024)
          return nxerr_set (err, EINVAL, "max_resources.vcpus: must be a number in [0.01, 1024]");
        cfg->max_vcpus_milli = (int64_t) (x * 1000 + 0.5);
      }
    else
      return nxerr_set (err, EINVAL,
                        "max_resources.%.64s: not a resource (memory_mib, vcpus, pids)", k);
  }
  return 0;
}

static bool
is_account_key (const char *s)
{
  return strlen (s) == NKEY_PUBLIC_LEN && nkey_is_valid_public (s, NKEY_ACCOUNT);
}

/* The file itself (its mode, its key) is checked when the node starts
 * (node/workload/creds.c): check-config runs where the seed may not be. */
static int
parse_workload_creds (struct config *cfg, json_t *v, struct nxerr *err)
{
  const char *k;
  json_t *e;
  if (json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return nxerr_set (err, EINVAL,
                      "workload_creds: must be an object {\"account\": \"A…\", "
                      "\"signing_key_file\": \"/path\"}");
  json_object_foreach (v, k, e)
  {
    int rc;
    if (strcmp (k, "account") == 0)
      {
        rc = get_string (e, "workload_creds.account", &cfg->wcreds_account, err);
        if (rc == 0 && !is_account_key (cfg->wcreds_account))
          rc = nxerr_set (err, EINVAL, "workload_creds.account: must be a public account nkey (A…)");
      }
    else if (strcmp (k, "signing_key_file") == 0)
      {
        rc = get_string (e, "workload_creds.signing_key_file", &cfg->wcreds_key_file, err);
        if (rc == 0 && cfg->wcreds_key_file[0] != '/')
          rc = nxerr_set (err, EINVAL, "workload_creds.signing_key_file: must be an absolute path");
      }
    else if (strcmp (k, "ttl_s") == 0)
      rc = get_int (e, "workload_creds.ttl_s", 0, 31536000, &cfg->wcreds_ttl_s, err);
    else
      rc = nxerr_set (err, EINVAL,
                      "workload_creds.%.64s: not a setting (account, signing_key_file, ttl_s)", k);
    if (rc < 0)
      return -1;
  }
  if (cfg->wcreds_account == NULL || cfg->wcreds_key_file == NULL)
    return nxerr_set (err, EINVAL, "workload_creds: account and signing_key_file are required");
  return 0;
}

/* Index = enum logs_on_full. Also written by config_dump.c. */
const char *const config_logs_on_full_names[] = { "block", "drop_oldest", NULL };

static int
parse_logs_stream_key (struct logs_stream_cfg *ls, const char *k, json_t *e, struct nxerr *err)
{
  if (strcmp (k, "name") == 0)
    {
      if (!json_is_string (e) || !nexc_logs_stream_name_ok (json_string_value (e)))
        return nxerr_set (err, EINVAL,
                          "logs.stream.name: must match ^[A-Za-z0-9_-]{1,%d}$ (a JetStream "
                          "stream name)",
                          LOGSTREAM_NAME_MAX);
      snprintf (ls->name, sizeof ls->name, "%s", json_string_value (e));
      return 0;
    }
  if (strcmp (k, "max_age") == 0)
    {
      if (!json_is_string (e))
        return nxerr_set (err, EINVAL, "logs.stream.max_age: must be a duration such as \"24h\"");
      if (duration_parse (json_string_value (e), 60000, 3650ll * 86400000, &ls->max_age_ms, err)
          < 0)
        return nxerr_wrap (err, "logs.stream.max_age");
      return 0;
    }
  if (strcmp (k, "max_bytes") == 0)
    return get_int (e, "logs.stream.max_bytes", 1048576, 1125899906842624, &ls->max_bytes, err);
  if (strcmp (k, "replicas") == 0)
    return get_int (e, "logs.stream.replicas", 1, 5, &ls->replicas, err);
  return nxerr_set (err, EINVAL,
                    "logs.stream.%.64s: not a setting (name, max_age, max_bytes, replicas)", k);
}

/* "stream": true (the defaults), false (none), or an object over the
 * defaults. */
static int
parse_logs_stream (struct config *cfg, json_t *v, struct nxerr *err)
{
  struct logs_stream_cfg ls;
  const char *k;
  json_t *e;
  logs_stream_defaults (&ls);
  if (json_is_boolean (v))
    {
      ls.on = json_is_true (v);
      cfg->logs_stream = ls;
      return 0;
    }
  if (!json_is_object (v))
    return nxerr_set (err, EINVAL, "logs.stream: must be true, false or an object");
  json_object_foreach (v, k, e)
  {
    if (parse_logs_stream_key (&ls, k, e, err) < 0)
      return -1;
  }
  ls.on = true;
  cfg->logs_stream = ls;
  return 0;
}

static int
parse_logs (struct config *cfg, json_t *v, struct nxerr *err)
{
  const char *k;
  json_t *e;
  if (!json_is_object (v))
    return nxerr_set (err, EINVAL, "logs: must be an object");
  json_object_foreach (v, k, e)
  {
    int x = 0; /* set by parse_enum on success; gcc -O2 cannot tell */
    if (strcmp (k, "stream") == 0)
      {
        if (parse_logs_stream (cfg, e, err) < 0)
          return -1;
        continue;
      }
    if (strcmp (k, "on_full") != 0)
      return nxerr_set (err, EINVAL, "logs.%.64s: not a setting (on_full, stream)", k);
    if (parse_enum (e, "logs.on_full", config_logs_on_full_names, "\"block\", \"drop_oldest\"",
                    &x, err)
        < 0)
      return -1;
    cfg->logs_on_full = (enum logs_on_full) x;
  }
  return 0;
}

static bool
bucket_name_ok (const char *s)
{
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')
          || *s == '_' || *s == '-'))
      return false;
  return true;
}

/* "deployments": strict (a typo here would silently turn a cluster-wide
 * feature off). */
static int
parse_deployments (struct config *cfg, json_t *v, struct nxerr *err)
{
  const char *k;
  json_t *e;
  if (!json_is_object (v))
    return nxerr_set (err, EINVAL, "deployments: must be an object");
  json_object_foreach (v, k, e)
  {
    int rc;
    if (strcmp (k, "enabled") == 0)
      rc = get_bool (e, "deployments.enabled", &cfg->deployments.enabled, err);
    else if (strcmp (k, "bucket") == 0)
      rc = get_string (e, "deployments.bucket", &cfg->deployments.bucket, err);
    else if (strcmp (k, "claims_bucket") == 0)
      rc = get_string (e, "deployments.claims_bucket", &cfg->deployments.claims_bucket, err);
    else if (strcmp (k, "xkey_seed_file") == 0)
      rc = get_string (e, "deployments.xkey_seed_file", &cfg->deployments.xkey_seed_file, err);
    else if (strcmp (k, "lease_ms") == 0)
      rc = get_int (e, "deployments.lease_ms", 300, 600000, &cfg->deployments.lease_ms, err);
    else if (strcmp (k, "skew_ms") == 0)
      rc = get_int (e, "deployments.skew_ms", 0, 60000, &cfg->deployments.skew_ms, err);
    else if (strcmp (k, "replicas") == 0)
      rc = get_int (e, "deployments.replicas", 1, 5, &cfg->deployments.replicas, err);
    else
      return nxerr_set (err, EINVAL,
                        "deployments.%.64s: not a setting (enabled, bucket, claims_bucket, "
                        "lease_ms, skew_ms, replicas, xkey_seed_file)",
                        k);
    if (rc < 0)
      return -1;
  }
  if ((cfg->deployments.bucket && !bucket_name_ok (cfg->deployments.bucket))
      || (cfg->deployments.claims_bucket && !bucket_name_ok (cfg->deployments.claims_bucket)))
    return nxerr_set (err, EINVAL, "deployments: a bucket name is [A-Za-z0-9_-]");
  if (cfg->deployments.bucket && cfg->deployments.claims_bucket
      && strcmp (cfg->deployments.bucket, cfg->deployments.claims_bucket) == 0)
    return nxerr_set (err, EINVAL, "deployments: bucket and claims_bucket must differ");
  return 0;
}

static int
parse_cgroup_root (struct config *cfg, json_t *v, struct nxerr *err)
{
  char tmp[PATH_JOIN_MAX];
  if (get_string (v, "cgroup_root", &cfg->cgroup_root, err) < 0)
    return -1;
  if (cfg->cgroup_root[0] != '/' || path_join (tmp, sizeof tmp, "/", cfg->cgroup_root) < 0)
    return nxerr_set (err, EINVAL,
                      "cgroup_root: must be an absolute path inside the cgroup hierarchy, "
                      "without \"..\" (e.g. \"/nexc.slice\")");
  return 0;
}

/* The maxima bound per-deploy sizing; the template is the size without one. */
static int
check_sandbox_sizes (const struct config *cfg, struct nxerr *err)
{
  if (cfg->max_memory_mib && cfg->max_memory_mib < cfg->memsize_mib)
    return nxerr_set (err, EINVAL,
                      "max_resources.memory_mib: %lld is below machine_template.memsize_mib %lld",
                      (long long) cfg->max_memory_mib, (long long) cfg->memsize_mib);
  if (cfg->max_vcpus_milli && cfg->max_vcpus_milli < cfg->vcpu_count * 1000)
    return nxerr_set (err, EINVAL,
                      "max_resources.vcpus: %.3f is below machine_template.vcpu_count %lld",
                      (double) cfg->max_vcpus_milli / 1000, (long long) cfg->vcpu_count);
  if (cfg->max_pids && cfg->max_pids < cfg->pids_limit)
    return nxerr_set (err, EINVAL, "max_resources.pids: %lld is below pids_limit %lld",
                      (long long) cfg->max_pids, (long long) cfg->pids_limit);
  return 0;
}

/* Keys of Nex's Firecracker mode: meaningless here, accepted with a warning
 * so Nex configs load unchanged. */
static const char *const firecracker_keys[]
    = { "kernel_filepath", "rootfs_filepath", "default_resource_dir", "cni", "internal_node_host",
        "internal_node_port", "bin_path", "preserve_network", "rate_limiters", "otlp_exporter_url",
        "otel_metrics", "otel_metrics_port", "otel_metrics_exporter", "otel_traces",
        "otel_traces_exporter", "public_nats_server", "errors", "host_services",
        "pid_filepath", "kernel_path", "rootfs_path", NULL };

static bool
is_firecracker_key (const char *k)
{
  for (int i = 0; firecracker_keys[i]; i++)
    if (strcmp (k, firecracker_keys[i]) == 0)
      return true;
  return false;
}

/* The plain integer keys; config_dump.c writes them back in this order. */
#define IK(name, lo, hi) { #name, offsetof (struct config, name), lo, hi }
const struct config_int_key config_int_keys[] = {
  IK (machine_pool_size, 1, 4096),
  IK (heartbeat_interval_ms, 100, 86400000),
  IK (agent_handshake_timeout_ms, 10, 600000),
  IK (agent_ping_interval_ms, 100, 3600000),
  IK (agent_ping_timeout_ms, 10, 600000),
  IK (stop_grace_ms, 0, 600000),
  IK (artifact_cache_max_bytes, 0, INT64_MAX),
  IK (max_artifact_bytes, 1, INT64_MAX),
  IK (metrics_interval_ms, 0, 86400000),
  IK (restart_stable_ms, 0, 86400000),
  IK (pids_limit, 8, 4194304),
  IK (open_files_limit, 16, 1048576),
  IK (function_pool_size, 1, 256),
  IK (function_timeout_ms, 10, 3600000),
};
const size_t config_n_int_keys = sizeof config_int_keys / sizeof config_int_keys[0];

static int
parse_key (struct config *cfg, const char *k, json_t *v, struct nxerr *err)
{
  for (size_t i = 0; i < config_n_int_keys; i++)
    if (strcmp (k, config_int_keys[i].key) == 0)
      return get_int (v, k, config_int_keys[i].min, config_int_keys[i].max,
                      (int64_t *) ((char *) cfg + config_int_keys[i].off), err);
  if (strcmp (k, "machine_template") == 0)
    return parse_template (cfg, v, err);
  if (strcmp (k, "no_sandbox") == 0)
    return get_bool (v, k, &cfg->no_sandbox, err);
  if (strcmp (k, "sandbox") == 0)
    return parse_sandbox (cfg, v, err);
  if (strcmp (k, "network") == 0)
    return parse_network (cfg, v, err);
  if (strcmp (k, "filesystem") == 0)
    return parse_filesystem (cfg, v, err);
  if (strcmp (k, "user_namespace") == 0)
    return parse_user_namespace (cfg, v, err);
  if (strcmp (k, "uid_range") == 0)
    return parse_uid_range (cfg, v, err);
  if (strcmp (k, "max_resources") == 0)
    return parse_max_resources (cfg, v, err);
  if (strcmp (k, "logs") == 0)
    return parse_logs (cfg, v, err);
  if (strcmp (k, "deployments") == 0)
    return parse_deployments (cfg, v, err);
  if (strcmp (k, "cgroup_root") == 0)
    return parse_cgroup_root (cfg, v, err);
  if (strcmp (k, "cgroup") == 0)
    return parse_cgroup (cfg, v, err);
  if (strcmp (k, "accept_unverified_hashes") == 0)
    return get_bool (v, k, &cfg->accept_unverified_hashes, err);
  if (strcmp (k, "require_valid_issuers") == 0)
    return get_bool (v, k, &cfg->require_valid_issuers, err);
  if (strcmp (k, "lameduck_requires_jwt") == 0)
    return get_bool (v, k, &cfg->lameduck_requires_jwt, err);
  if (strcmp (k, "require_bound_tokens") == 0)
    return get_bool (v, k, &cfg->require_bound_tokens, err);
  if (strcmp (k, "lameduck_issuers") == 0)
    return get_strlist (v, k, &cfg->lameduck_issuers, is_issuer_key, "a public nkey", err);
  if (strcmp (k, "workload_creds") == 0)
    return parse_workload_creds (cfg, v, err);
  if (strcmp (k, "allow_trigger_subjects") == 0)
    return get_strlist (v, k, &cfg->allow_trigger_subjects, is_subject, "a valid subject", err);
  if (strcmp (k, "workload_types") == 0)
    {
      struct strlist l = { 0 };
      if (get_strlist (v, k, &l, is_workload_type, "a workload type nexc runs (native, elf, function)", err)
          < 0)
        {
          strlist_free (&l);
          return -1;
        }
      if (l.n > 0) /* an empty list means the default (§6.1) */
        {
          strlist_free (&cfg->workload_types);
          cfg->workload_types = l;
        }
      return 0;
    }
  if (strcmp (k, "valid_issuers") == 0)
    return get_strlist (v, k, &cfg->valid_issuers, is_issuer_key, "a public nkey", err);
  if (strcmp (k, "requester_public_keys") == 0)
    return get_strlist (v, k, &cfg->requester_public_keys, is_xkey, "a public xkey (X…)", err);
  if (strcmp (k, "deny_trigger_subjects") == 0)
    return get_strlist (v, k, &cfg->deny_trigger_subjects, is_subject, "a valid subject", err);
  if (strcmp (k, "tags") == 0)
    return parse_tags (cfg, v, err);
  if (strcmp (k, "node_limits") == 0)
    return parse_limits (cfg, v, err);
  if (strcmp (k, "state_dir") == 0)
    {
      cfg->state_dir_set = true;
      return get_string (v, k, &cfg->state_dir, err);
    }
  if (strcmp (k, "agent_path") == 0)
    return get_string (v, k, &cfg->agent_path, err);
  if (strcmp (k, "autostart") == 0)
    return parse_autostart (cfg, v, err);
  if (is_firecracker_key (k))
    {
      char w[160];
      snprintf (w, sizeof w, "%s: Firecracker/Nex-only setting, ignored", k);
      strlist_push (&cfg->warnings, w);
      return 0;
    }
  {
    char w[400];
    snprintf (w, sizeof w, "%.300s: unknown key, ignored", k);
    strlist_push (&cfg->warnings, w);
  }
  return 0;
}

int
config_parse (struct config *cfg, const char *json, size_t len, struct nxerr *err)
{
  json_error_t jerr;
  json_t *root;
  const char *k;
  json_t *v;
  int rc = 0;
  if (len > CONFIG_FILE_MAX)
    return nxerr_set (err, EFBIG, "configuration is larger than %d bytes", CONFIG_FILE_MAX);
  root = json_loadb (json, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    return nxerr_set (err, EINVAL, "invalid JSON at line %d column %d: %s", jerr.line,
                      jerr.column, jerr.text);
  if (!json_is_object (root))
    {
      json_decref (root);
      return nxerr_set (err, EINVAL, "configuration must be a JSON object");
    }
  json_object_foreach (root, k, v)
  {
    if (parse_key (cfg, k, v, err) < 0)
      {
        rc = -1;
        break;
      }
  }
  json_decref (root);
  if (rc == 0 && cfg->no_sandbox)
    cfg->sandbox = SANDBOX_NONE;
  if (rc == 0)
    rc = check_sandbox_sizes (cfg, err);
  if (rc == 0 && cfg->require_valid_issuers && cfg->valid_issuers.n == 0)
    rc = nxerr_set (err, EINVAL,
                    "require_valid_issuers is set and valid_issuers is empty: this node would "
                    "run code signed by anyone. `nexc-node init --config FILE` makes an issuer "
                    "key and names it");
  return rc;
}

/* Whether any autostart workload has environment values in clear: they
 * may be secrets, and a workload can read host files that others can
 * read. A sealed environment does not count: only the node's xkey opens it. */
static bool
holds_env (const struct config *cfg)
{
  for (size_t i = 0; i < cfg->n_autostart; i++)
    if (cfg->autostart[i].env.n)
      return true;
  return false;
}

int
config_load (struct config *cfg, const char *path, struct nxerr *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  cleanup_buf struct buf b = BUF_INIT;
  if (fd < 0)
    return nxerr_sys (err, errno, "failed to load configuration file: open %s", path);
  if (fstat (fd, &st) < 0)
    return nxerr_sys (err, errno, "stat %s", path);
  if (!S_ISREG (st.st_mode))
    return nxerr_set (err, EINVAL, "%s: not a regular file", path);
  if (st.st_size > CONFIG_FILE_MAX)
    return nxerr_set (err, EFBIG, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
  for (;;)
    {
      ssize_t r;
      buf_reserve (&b, 4096);
      r = read (fd, b.data + b.len, 4096);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return nxerr_sys (err, errno, "read %s", path);
      if (r == 0)
        break;
      b.len += (size_t) r;
      if (b.len > CONFIG_FILE_MAX)
        return nxerr_set (err, EFBIG, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
    }
  if (config_parse (cfg, b.data ? b.data : "", b.len, err) < 0)
    return nxerr_wrap (err, "%s", path);
  if (holds_env (cfg) && (st.st_mode & 077))
    return nxerr_set (err, EPERM,
                      "%s holds autostart environment values and is readable by group or others "
                      "(mode %04o): chmod 600 it",
                      path, (unsigned) (st.st_mode & 07777));
  return 0;
}
