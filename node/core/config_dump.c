/* config_dump: renders a loaded configuration back to JSON for
 * `nexc-node check-config` (config_dump in config.h). It owns only the output
 * side: every value is the effective one (defaults applied, the process
 * tier's maxima resolved), and an autostart workload's environment is shown
 * by name only because its values may be secrets. Split from config.c so the
 * loader is read alone; the integer keys and the cgroup names come from the
 * loader's tables (config_int.h), so the two cannot drift apart. */
#include "node/core/config.h"

#include <stdio.h>
#include <string.h>

#include "api/duration.h"
#include "api/jsonw.h"
#include "node/core/config_int.h"

static void
dump_strlist (struct jsonw *w, const char *key, const struct strlist *l)
{
  jsonw_key (w, key);
  jsonw_arr_begin (w);
  for (size_t i = 0; i < l->n; i++)
    jsonw_str (w, l->v[i]);
  jsonw_arr_end (w);
}

/* false, or the stream's effective settings (replicas only when set: else
 * the node picks 1 or 3 from the server it meets). */
static void
dump_logs_stream (const struct logs_stream_cfg *ls, struct jsonw *w)
{
  char age[DURATION_TEXT_MAX];
  jsonw_key (w, "stream");
  if (!ls->on)
    {
      jsonw_bool (w, false);
      return;
    }
  duration_format (ls->max_age_ms, age);
  jsonw_obj_begin (w);
  jsonw_kstr (w, "name", ls->name);
  jsonw_kstr (w, "max_age", age);
  jsonw_kint (w, "max_bytes", ls->max_bytes);
  if (ls->replicas)
    jsonw_kint (w, "replicas", ls->replicas);
  jsonw_obj_end (w);
}

/* The process tier's keys, maxima resolved (0 means the template's). */
static void
dump_sandbox (const struct config *cfg, struct jsonw *w)
{
  int64_t vcpus = cfg->max_vcpus_milli ? cfg->max_vcpus_milli : cfg->vcpu_count * 1000;
  char num[32];
  int len;
  jsonw_kstr (w, "network", cfg->network == SANDBOX_NET_NONE ? "none" : "host");
  jsonw_kstr (w, "filesystem", fs_mode_name (cfg->filesystem));
  jsonw_kstr (w, "user_namespace", config_userns_names[cfg->user_namespace % 3]);
  jsonw_key (w, "uid_range");
  jsonw_obj_begin (w);
  jsonw_kint (w, "start", cfg->uid_start);
  jsonw_kint (w, "count", cfg->uid_count);
  if (cfg->uid_lock_dir)
    jsonw_kstr (w, "lock_dir", cfg->uid_lock_dir);
  jsonw_obj_end (w);
  jsonw_key (w, "max_resources");
  jsonw_obj_begin (w);
  jsonw_kint (w, "memory_mib", cfg->max_memory_mib ? cfg->max_memory_mib : cfg->memsize_mib);
  len = snprintf (num, sizeof num, "%lld.%03lld", (long long) (vcpus / 1000),
                  (long long) (vcpus % 1000));
  jsonw_key (w, "vcpus");
  jsonw_raw (w, num, (size_t) len);
  jsonw_kint (w, "pids", cfg->max_pids ? cfg->max_pids : cfg->pids_limit);
  jsonw_obj_end (w);
  jsonw_kstr (w, "cgroup", config_cgroup_names[cfg->cgroup_mode & 3]);
  jsonw_key (w, "logs");
  jsonw_obj_begin (w);
  jsonw_kstr (w, "on_full", config_logs_on_full_names[cfg->logs_on_full & 1]);
  dump_logs_stream (&cfg->logs_stream, w);
  jsonw_obj_end (w);
  jsonw_key (w, "deployments");
  jsonw_obj_begin (w);
  jsonw_kbool (w, "enabled", cfg->deployments.enabled);
  jsonw_kstr (w, "bucket", cfg->deployments.bucket ? cfg->deployments.bucket : "NEXC_DEPLOYMENTS");
  jsonw_kstr (w, "claims_bucket",
              cfg->deployments.claims_bucket ? cfg->deployments.claims_bucket : "NEXC_CLAIMS");
  jsonw_kint (w, "lease_ms", cfg->deployments.lease_ms);
  jsonw_kint (w, "skew_ms", cfg->deployments.skew_ms);
  jsonw_kint (w, "replicas", cfg->deployments.replicas);
  if (cfg->deployments.xkey_seed_file)
    jsonw_kstr (w, "xkey_seed_file", cfg->deployments.xkey_seed_file);
  jsonw_obj_end (w);
  if (cfg->cgroup_root)
    jsonw_kstr (w, "cgroup_root", cfg->cgroup_root);
}

void
config_dump (const struct config *cfg, struct buf *out)
{
  struct jsonw w;
  jsonw_init (&w, out);
  jsonw_obj_begin (&w);
  jsonw_kint (&w, "machine_pool_size", cfg->machine_pool_size);
  jsonw_key (&w, "machine_template");
  jsonw_obj_begin (&w);
  jsonw_kint (&w, "vcpu_count", cfg->vcpu_count);
  jsonw_kint (&w, "memsize_mib", cfg->memsize_mib);
  jsonw_obj_end (&w);
  jsonw_kbool (&w, "no_sandbox", cfg->no_sandbox);
  jsonw_kstr (&w, "sandbox", cfg->sandbox == SANDBOX_PROCESS ? "process" : "none");
  dump_strlist (&w, "workload_types", &cfg->workload_types);
  dump_strlist (&w, "valid_issuers", &cfg->valid_issuers);
  dump_strlist (&w, "requester_public_keys", &cfg->requester_public_keys);
  dump_strlist (&w, "deny_trigger_subjects", &cfg->deny_trigger_subjects);
  jsonw_key (&w, "tags");
  jsonw_obj_begin (&w);
  for (size_t i = 0; i < cfg->tags.n; i++)
    jsonw_kstr (&w, cfg->tags.keys[i], cfg->tags.vals[i]);
  jsonw_obj_end (&w);
  jsonw_key (&w, "node_limits");
  jsonw_obj_begin (&w);
  jsonw_kint (&w, "max_workloads", cfg->max_workloads);
  jsonw_kint (&w, "max_total_bytes", cfg->max_total_bytes);
  jsonw_kint (&w, "max_workload_bytes", cfg->max_workload_bytes);
  jsonw_obj_end (&w);
  jsonw_kstr (&w, "state_dir", cfg->state_dir);
  for (size_t i = 0; i < config_n_int_keys; i++)
    if (strcmp (config_int_keys[i].key, "machine_pool_size") != 0)
      jsonw_kint (&w, config_int_keys[i].key,
                  *(const int64_t *) ((const char *) cfg + config_int_keys[i].off));
  jsonw_kbool (&w, "accept_unverified_hashes", cfg->accept_unverified_hashes);
  jsonw_kbool (&w, "require_valid_issuers", cfg->require_valid_issuers);
  jsonw_kbool (&w, "lameduck_requires_jwt", cfg->lameduck_requires_jwt);
  jsonw_kbool (&w, "require_bound_tokens", cfg->require_bound_tokens);
  dump_strlist (&w, "allow_trigger_subjects", &cfg->allow_trigger_subjects);
  dump_strlist (&w, "lameduck_issuers", &cfg->lameduck_issuers);
  if (cfg->wcreds_account)
    {
      jsonw_key (&w, "workload_creds");
      jsonw_obj_begin (&w);
      jsonw_kstr (&w, "account", cfg->wcreds_account);
      jsonw_kstr (&w, "signing_key_file", cfg->wcreds_key_file);
      jsonw_kint (&w, "ttl_s", cfg->wcreds_ttl_s);
      jsonw_obj_end (&w);
    }
  jsonw_key (&w, "autostart");
  jsonw_obj_begin (&w);
  if (cfg->autostart_stop_issuer)
    jsonw_kstr (&w, "stop_issuer", cfg->autostart_stop_issuer);
  jsonw_key (&w, "workloads");
  jsonw_arr_begin (&w);
  for (size_t i = 0; i < cfg->n_autostart; i++)
    {
      const struct autostart_spec *a = &cfg->autostart[i];
      jsonw_obj_begin (&w);
      jsonw_kstr (&w, "name", a->name);
      jsonw_kstr (&w, "namespace", a->ns);
      jsonw_kstr (&w, "type", a->type);
      jsonw_kstr (&w, "location", a->location);
      dump_strlist (&w, "argv", &a->argv);
      jsonw_kbool (&w, "essential", a->essential);
      /* environment values may be secrets: names only */
      jsonw_key (&w, "environment_keys");
      jsonw_arr_begin (&w);
      for (size_t j = 0; j < a->env.n; j++)
        jsonw_str (&w, a->env.keys[j]);
      jsonw_arr_end (&w);
      jsonw_kbool (&w, "environment_sealed", a->sealed_env != NULL);
      jsonw_obj_end (&w);
    }
  jsonw_arr_end (&w);
  jsonw_obj_end (&w);
  if (cfg->agent_path)
    jsonw_kstr (&w, "agent_path", cfg->agent_path);
  dump_sandbox (cfg, &w);
  jsonw_obj_end (&w);
}
