/* Unit tests for node/config: defaults, every key's type and range checks
 * (each error names the key), merge rules (reference §6), warnings for
 * unknown and Firecracker-only keys, file handling, config_dump, the
 * effective tags (node/tags.c) and the example configs in
 * examples/nodeconfigs/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <glob.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/core/config.h"
#include "node/core/node.h"
#include "node/control/tags.h"

/* Valid public keys (CRC-checked), generated for these tests. */
#define ACCOUNT_1 "ABETAEPLS5EB5ZKAL47BZULTHSIR5MAFB6GYOTEPECL4AMOGNCWYWM7V"
#define ACCOUNT_2 "AD436IYP4XHRDQANWDRCM42LR3ONOZ73I44YUQHRYIVUKADQG42DRF2Z"
#define USER_1 "UDKEAKUCMU2CRFLFGGQMYRWHXGSUIZ42YQCSXGEUMAURWH4H2SCXNBJW"
#define XKEY_1 "XD5MSFA6AFZURODGO5KM32NVOJCRE3FLCZSMZUK4HFPP7ISJJXSUK3L3"
#define XKEY_2 "XC7S62P7JVRD7MUV4SGJLLVTYNOIRBMDOGECC7BAAUKPKVSQEGDDZNDL"
/* ACCOUNT_1 with its last character changed: the CRC no longer matches. */
#define ACCOUNT_BAD_CRC "ABETAEPLS5EB5ZKAL47BZULTHSIR5MAFB6GYOTEPECL4AMOGNCWYWM7W"

/* ---- helpers ---- */

/* Parse json over the defaults; the test owns the returned config. */
static void
parse_ok (struct config *cfg, const char *json)
{
  struct nxerr err = { 0 };
  int rc;
  config_defaults (cfg);
  rc = config_parse (cfg, json, strlen (json), &err);
  if (rc != 0)
    print_error ("config_parse failed: %s\ninput: %s\n", err.msg, json);
  assert_int_equal (rc, 0);
}

/* Parse json over the defaults and expect the exact message. */
static void
parse_fails (const char *json, const char *want)
{
  struct config cfg;
  struct nxerr err = { 0 };
  config_defaults (&cfg);
  assert_int_equal (config_parse (&cfg, json, strlen (json), &err), -1);
  assert_string_equal (err.msg, want);
  config_free (&cfg);
}

/* Parse and expect a failure whose message contains want. */
static void
parse_fails_with (const char *json, const char *want)
{
  struct config cfg;
  struct nxerr err = { 0 };
  config_defaults (&cfg);
  assert_int_equal (config_parse (&cfg, json, strlen (json), &err), -1);
  if (strstr (err.msg, want) == NULL)
    print_error ("message \"%s\" lacks \"%s\"\n", err.msg, want);
  assert_non_null (strstr (err.msg, want));
  config_free (&cfg);
}

static bool
has_warning (const struct config *cfg, const char *text)
{
  for (size_t i = 0; i < cfg->warnings.n; i++)
    if (strstr (cfg->warnings.v[i], text))
      return true;
  return false;
}

/* Write text to a fresh temporary file; returns its path (static buffer). */
static const char *
temp_file (const void *text, size_t n)
{
  static char path[64];
  int fd;
  snprintf (path, sizeof path, "/tmp/nexc-test-config-XXXXXX");
  fd = mkstemp (path);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, text, n), (ssize_t) n);
  close (fd);
  return path;
}

/* ---- defaults ---- */

static void
test_defaults (void **state)
{
  struct config cfg;
  (void) state;
  config_defaults (&cfg);
  assert_int_equal (cfg.machine_pool_size, 1);
  assert_int_equal (cfg.vcpu_count, 1);
  assert_int_equal (cfg.memsize_mib, 256);
  assert_false (cfg.no_sandbox);
  assert_int_equal (cfg.sandbox, SANDBOX_PROCESS);
  assert_int_equal (cfg.network, SANDBOX_NET_HOST);
  assert_int_equal (cfg.user_namespace, USERNS_AUTO);
  assert_int_equal (cfg.uid_start, 200000);
  assert_int_equal (cfg.uid_count, 65536);
  assert_int_equal (cfg.pids_limit, 512);
  assert_int_equal (cfg.open_files_limit, 4096);
  assert_int_equal (cfg.max_memory_mib, 0);
  assert_int_equal (cfg.max_vcpus_milli, 0);
  assert_int_equal (cfg.max_pids, 0);
  assert_null (cfg.cgroup_root);
  assert_int_equal (cfg.cgroup_mode, 0); /* auto */
  assert_int_equal (cfg.workload_types.n, 3);
  assert_true (strlist_contains (&cfg.workload_types, "native"));
  assert_true (strlist_contains (&cfg.workload_types, "elf"));
  assert_true (strlist_contains (&cfg.workload_types, "function"));
  assert_int_equal (cfg.function_pool_size, 2);
  assert_int_equal (cfg.function_timeout_ms, 10000);
  assert_int_equal (cfg.valid_issuers.n, 0);
  assert_int_equal (cfg.requester_public_keys.n, 0);
  assert_int_equal (cfg.deny_trigger_subjects.n, 0);
  assert_int_equal (cfg.tags.n, 0);
  assert_int_equal (cfg.max_workloads, 0);
  assert_int_equal (cfg.max_total_bytes, 0);
  assert_int_equal (cfg.max_workload_bytes, 0);
  assert_int_equal (cfg.n_autostart, 0);
  assert_string_equal (cfg.state_dir, "/var/lib/nexc");
  assert_int_equal (cfg.heartbeat_interval_ms, 30000);
  assert_int_equal (cfg.agent_handshake_timeout_ms, 5000);
  assert_int_equal (cfg.agent_ping_interval_ms, 5000);
  assert_int_equal (cfg.agent_ping_timeout_ms, 750);
  assert_int_equal (cfg.stop_grace_ms, 5000);
  assert_int_equal (cfg.artifact_cache_max_bytes, 1024ll * 1024 * 1024);
  assert_int_equal (cfg.max_artifact_bytes, 256ll * 1024 * 1024);
  assert_int_equal (cfg.metrics_interval_ms, 5000);
  assert_false (cfg.accept_unverified_hashes);
  assert_null (cfg.agent_path);
  assert_int_equal (cfg.warnings.n, 0);
  config_free (&cfg);
  config_free (&cfg); /* safe twice */

  /* An empty object changes nothing and warns about nothing. */
  parse_ok (&cfg, "{}");
  assert_int_equal (cfg.machine_pool_size, 1);
  assert_int_equal (cfg.warnings.n, 0);
  config_free (&cfg);
}

/* ---- integer keys ---- */

struct int_case {
  const char *object; /* NULL for a top-level key */
  const char *key;
  int64_t min, max;
  size_t off;
};

#define TOP(name, lo, hi) { NULL, #name, lo, hi, offsetof (struct config, name) }
static const struct int_case int_cases[] = {
  TOP (machine_pool_size, 1, 4096),
  TOP (heartbeat_interval_ms, 100, 86400000),
  TOP (agent_handshake_timeout_ms, 10, 600000),
  TOP (agent_ping_interval_ms, 100, 3600000),
  TOP (agent_ping_timeout_ms, 10, 600000),
  TOP (stop_grace_ms, 0, 600000),
  TOP (artifact_cache_max_bytes, 0, INT64_MAX),
  TOP (max_artifact_bytes, 1, INT64_MAX),
  TOP (metrics_interval_ms, 0, 86400000),
  TOP (pids_limit, 8, 4194304),
  TOP (open_files_limit, 16, 1048576),
  { "machine_template", "vcpu_count", 1, 1024, offsetof (struct config, vcpu_count) },
  { "machine_template", "memsize_mib", 8, 1 << 24, offsetof (struct config, memsize_mib) },
  { "node_limits", "max_workloads", 0, INT64_MAX, offsetof (struct config, max_workloads) },
  { "node_limits", "max_total_bytes", 0, INT64_MAX, offsetof (struct config, max_total_bytes) },
  { "node_limits", "max_workload_bytes", 0, INT64_MAX,
    offsetof (struct config, max_workload_bytes) },
};

/* {"key": value} or {"object": {"key": value}} */
static void
int_json (char *out, size_t n, const struct int_case *c, const char *value)
{
  if (c->object)
    snprintf (out, n, "{\"%s\":{\"%s\":%s}}", c->object, c->key, value);
  else
    snprintf (out, n, "{\"%s\":%s}", c->key, value);
}

static void
int_name (char *out, size_t n, const struct int_case *c)
{
  if (c->object)
    snprintf (out, n, "%s.%s", c->object, c->key);
  else
    snprintf (out, n, "%s", c->key);
}

static void
test_int_keys_range (void **state)
{
  (void) state;
  for (size_t i = 0; i < sizeof int_cases / sizeof int_cases[0]; i++)
    {
      const struct int_case *c = &int_cases[i];
      char json[256], name[64], value[32], want[256];
      struct config cfg;
      int_name (name, sizeof name, c);

      /* Both bounds are accepted and stored. */
      snprintf (value, sizeof value, "%lld", (long long) c->min);
      int_json (json, sizeof json, c, value);
      parse_ok (&cfg, json);
      assert_int_equal (*(int64_t *) ((char *) &cfg + c->off), c->min);
      config_free (&cfg);
      snprintf (value, sizeof value, "%lld", (long long) c->max);
      int_json (json, sizeof json, c, value);
      parse_ok (&cfg, json);
      assert_int_equal (*(int64_t *) ((char *) &cfg + c->off), c->max);
      config_free (&cfg);

      /* One below and one above are refused with a message naming the key. */
      snprintf (value, sizeof value, "%lld", (long long) c->min - 1);
      int_json (json, sizeof json, c, value);
      snprintf (want, sizeof want, "%s: %lld is out of range [%lld, %lld]", name,
                (long long) c->min - 1, (long long) c->min, (long long) c->max);
      parse_fails (json, want);
      if (c->max < INT64_MAX)
        {
          snprintf (value, sizeof value, "%lld", (long long) c->max + 1);
          int_json (json, sizeof json, c, value);
          snprintf (want, sizeof want, "%s: %lld is out of range [%lld, %lld]", name,
                    (long long) c->max + 1, (long long) c->min, (long long) c->max);
          parse_fails (json, want);
        }
    }
}

static void
test_int_keys_type (void **state)
{
  static const char *const wrong[] = { "\"5\"", "5.0", "1e3", "true", "null", "[5]", "{}" };
  (void) state;
  for (size_t i = 0; i < sizeof int_cases / sizeof int_cases[0]; i++)
    for (size_t j = 0; j < sizeof wrong / sizeof wrong[0]; j++)
      {
        const struct int_case *c = &int_cases[i];
        char json[256], name[64], want[128];
        int_name (name, sizeof name, c);
        int_json (json, sizeof json, c, wrong[j]);
        snprintf (want, sizeof want, "%s: must be an integer", name);
        parse_fails (json, want);
      }
  /* Beyond int64 the JSON itself is refused. */
  parse_fails_with ("{\"max_artifact_bytes\":9223372036854775808}", "invalid JSON");
}

static void
test_objects_merge (void **state)
{
  struct config cfg;
  struct nxerr err = { 0 };
  static const char second[] = "{\"machine_template\":{\"memsize_mib\":512}}";
  (void) state;
  /* A partial object keeps the other fields; a second file merges again. */
  parse_ok (&cfg, "{\"machine_template\":{\"vcpu_count\":4},\"node_limits\":{\"max_workloads\":3}}");
  assert_int_equal (cfg.vcpu_count, 4);
  assert_int_equal (cfg.memsize_mib, 256);
  assert_int_equal (cfg.max_workloads, 3);
  assert_int_equal (cfg.max_total_bytes, 0);
  assert_int_equal (config_parse (&cfg, second, sizeof second - 1, &err), 0);
  assert_int_equal (cfg.vcpu_count, 4);
  assert_int_equal (cfg.memsize_mib, 512);
  config_free (&cfg);

  parse_fails ("{\"machine_template\":[]}", "machine_template: must be an object");
  parse_fails ("{\"machine_template\":null}", "machine_template: must be an object");
  parse_fails ("{\"node_limits\":5}", "node_limits: must be an object");
  parse_ok (&cfg, "{\"node_limits\":null}");
  config_free (&cfg);

  /* Unknown fields inside them are warnings. */
  parse_ok (&cfg, "{\"machine_template\":{\"gpus\":1},\"node_limits\":{\"max_cpus\":1}}");
  assert_true (has_warning (&cfg, "machine_template: unknown key ignored"));
  assert_true (has_warning (&cfg, "node_limits: unknown key ignored"));
  config_free (&cfg);
}

/* ---- booleans and strings ---- */

static void
test_bool_and_string_keys (void **state)
{
  struct config cfg;
  (void) state;
  parse_ok (&cfg, "{\"accept_unverified_hashes\":true,\"state_dir\":\"/srv/nexc\","
                  "\"agent_path\":\"/opt/nexc/nexc-agent\"}");
  assert_true (cfg.accept_unverified_hashes);
  assert_string_equal (cfg.state_dir, "/srv/nexc");
  assert_string_equal (cfg.agent_path, "/opt/nexc/nexc-agent");
  config_free (&cfg);

  parse_fails ("{\"no_sandbox\":\"true\"}", "no_sandbox: must be true or false");
  parse_fails ("{\"no_sandbox\":1}", "no_sandbox: must be true or false");
  parse_fails ("{\"accept_unverified_hashes\":null}",
               "accept_unverified_hashes: must be true or false");
  parse_fails ("{\"state_dir\":\"\"}", "state_dir: must be a non-empty string");
  parse_fails ("{\"state_dir\":7}", "state_dir: must be a non-empty string");
  parse_fails ("{\"agent_path\":[\"x\"]}", "agent_path: must be a non-empty string");
  /* jansson refuses an escaped NUL before the key is looked at. */
  parse_fails_with ("{\"agent_path\":\"a\\u0000b\"}", "invalid JSON at line 1");
  /* At most 4096 bytes. */
  {
    struct buf b = BUF_INIT;
    buf_puts (&b, "{\"state_dir\":\"/");
    for (int i = 0; i < 4096; i++)
      buf_putc (&b, 'd');
    buf_puts (&b, "\"}");
    parse_fails (b.data, "state_dir: must be a non-empty string"); /* 4097 bytes */
    buf_reset (&b);
    buf_puts (&b, "{\"state_dir\":\"/");
    for (int i = 0; i < 4095; i++)
      buf_putc (&b, 'd');
    buf_puts (&b, "\"}");
    parse_ok (&cfg, b.data);
    buf_free (&b);
  }
  assert_int_equal (strlen (cfg.state_dir), 4096);
  config_free (&cfg);
}

/* ---- tags ---- */

static void
test_tags_merge (void **state)
{
  struct config cfg;
  struct nxerr err = { 0 };
  static const char file[] = "{\"tags\":{\"b\":\"2\",\"node_name\":\"from-file\",\"a\":\"one\"}}";
  (void) state;
  config_defaults (&cfg);
  /* Tags already present (from an earlier file) are kept unless overridden. */
  strmap_set (&cfg.tags, "a", "1");
  strmap_set (&cfg.tags, "keep", "yes");
  strmap_set (&cfg.tags, "node_name", "earlier");
  assert_int_equal (config_parse (&cfg, file, sizeof file - 1, &err), 0);
  assert_int_equal (cfg.tags.n, 4);
  assert_string_equal (strmap_get (&cfg.tags, "a"), "one");
  assert_string_equal (strmap_get (&cfg.tags, "b"), "2");
  assert_string_equal (strmap_get (&cfg.tags, "keep"), "yes");
  assert_string_equal (strmap_get (&cfg.tags, "node_name"), "from-file");
  /* Kept sorted by byte value, as Go emits maps. */
  for (size_t i = 1; i < cfg.tags.n; i++)
    assert_true (strcmp (cfg.tags.keys[i - 1], cfg.tags.keys[i]) < 0);
  config_free (&cfg);

  parse_ok (&cfg, "{\"tags\":null}");
  assert_int_equal (cfg.tags.n, 0);
  config_free (&cfg);
  parse_fails ("{\"tags\":[\"a\"]}", "tags: must be an object of strings");
  parse_fails ("{\"tags\":{\"env\":1}}", "tags.env: must be a string");
  parse_fails ("{\"tags\":{\"\":\"x\"}}", "tags: key or value too long or empty key");
}

static void
test_effective_tags_node_name (void **state)
{
  struct node *n = calloc (1, sizeof *n);
  char first[128];
  (void) state;
  assert_non_null (n);
  /* Without a configured node_name a random one is chosen once and kept. */
  parse_ok (&n->cfg, "{\"sandbox\":\"none\",\"tags\":{\"env\":\"dev\"}}");
  node_tags_refresh (n);
  assert_non_null (strmap_get (&n->tags, "node_name"));
  snprintf (first, sizeof first, "%s", strmap_get (&n->tags, "node_name"));
  assert_non_null (strchr (first, '-'));
  assert_string_equal (strmap_get (&n->tags, "env"), "dev");
  assert_string_equal (strmap_get (&n->tags, "nex.os"), "linux");
  assert_string_equal (strmap_get (&n->tags, "nex.unsafe"), "true");
  assert_string_equal (strmap_get (&n->tags, "nex.sandbox"), "none");
  assert_non_null (strmap_get (&n->tags, "nex.arch"));
  assert_non_null (strmap_get (&n->tags, "nex.cpucount"));
  node_tags_refresh (n);
  assert_string_equal (strmap_get (&n->tags, "node_name"), first);
  config_free (&n->cfg);
  strmap_free (&n->tags);

  /* A configured node_name overrides the random one. */
  parse_ok (&n->cfg, "{\"sandbox\":\"process\",\"tags\":{\"node_name\":\"edge-1\"}}");
  node_tags_refresh (n);
  assert_string_equal (strmap_get (&n->tags, "node_name"), "edge-1");
  assert_string_equal (strmap_get (&n->tags, "nex.sandbox"), "process");
  assert_null (strmap_get (&n->tags, "nex.unsafe"));
  config_free (&n->cfg);
  strmap_free (&n->tags);
  free (n);
}

/* ---- lists ---- */

static void
test_workload_types (void **state)
{
  struct config cfg;
  (void) state;
  /* An empty list means the default (§6.1). */
  parse_ok (&cfg, "{\"workload_types\":[]}");
  assert_int_equal (cfg.workload_types.n, 3);
  assert_true (strlist_contains (&cfg.workload_types, "native"));
  assert_true (strlist_contains (&cfg.workload_types, "elf"));
  config_free (&cfg);
  parse_ok (&cfg, "{\"workload_types\":null}");
  assert_int_equal (cfg.workload_types.n, 3);
  config_free (&cfg);
  /* A list replaces the default. */
  parse_ok (&cfg, "{\"workload_types\":[\"native\"]}");
  assert_int_equal (cfg.workload_types.n, 1);
  assert_string_equal (cfg.workload_types.v[0], "native");
  config_free (&cfg);

  parse_fails ("{\"workload_types\":[\"v8\"]}",
               "workload_types[0]: \"v8\" is not a workload type nexc runs (native, elf, function)");
  parse_fails ("{\"workload_types\":[\"native\",\"wasm\"]}",
               "workload_types[1]: \"wasm\" is not a workload type nexc runs (native, elf, function)");
  parse_fails ("{\"workload_types\":[\"\"]}", "workload_types[0]: must be a non-empty string");
  parse_fails ("{\"workload_types\":\"native\"}", "workload_types: must be an array of strings");
}

static void
test_valid_issuers (void **state)
{
  struct config cfg;
  (void) state;
  parse_ok (&cfg, "{\"valid_issuers\":[\"" ACCOUNT_1 "\",\"" ACCOUNT_2 "\",\"" USER_1 "\"]}");
  assert_int_equal (cfg.valid_issuers.n, 3);
  assert_true (strlist_contains (&cfg.valid_issuers, ACCOUNT_2));
  config_free (&cfg);

  parse_fails ("{\"valid_issuers\":[\"" ACCOUNT_1 "\",\"" ACCOUNT_BAD_CRC "\"]}",
               "valid_issuers[1]: \"" ACCOUNT_BAD_CRC "\" is not a public nkey");
  parse_fails ("{\"valid_issuers\":[\"not-a-key\"]}",
               "valid_issuers[0]: \"not-a-key\" is not a public nkey");
  /* Curve keys are not issuers. */
  parse_fails ("{\"valid_issuers\":[\"" XKEY_1 "\"]}",
               "valid_issuers[0]: \"" XKEY_1 "\" is not a public nkey");
  parse_fails ("{\"valid_issuers\":[1]}", "valid_issuers[0]: must be a non-empty string");

  /* A key with trailing whitespace passes nkey_is_valid_public (which
   * tolerates the newline of a key file) and is stored as written. */
  /* Refused: deploys compare the stored text byte for byte. */
  parse_fails_with ("{\"valid_issuers\":[\"" ACCOUNT_1 "\\n\"]}", "valid_issuers[0]:");
  parse_fails ("{\"valid_issuers\":{}}", "valid_issuers: must be an array of strings");
}

static void
test_requester_public_keys (void **state)
{
  struct config cfg;
  (void) state;
  parse_ok (&cfg, "{\"requester_public_keys\":[\"" XKEY_1 "\",\"" XKEY_2 "\"]}");
  assert_int_equal (cfg.requester_public_keys.n, 2);
  config_free (&cfg);
  parse_fails ("{\"requester_public_keys\":[\"" ACCOUNT_1 "\"]}",
               "requester_public_keys[0]: \"" ACCOUNT_1 "\" is not a public xkey (X\xE2\x80\xA6)");
  parse_fails_with ("{\"requester_public_keys\":[\"" XKEY_1 "\",\"XD5MSFA6\"]}",
                    "requester_public_keys[1]:");
  parse_fails_with ("{\"requester_public_keys\":[\"" XKEY_1 " \"]}", "requester_public_keys[0]:");
}

static void
test_deny_trigger_subjects (void **state)
{
  struct config cfg;
  (void) state;
  parse_ok (&cfg, "{\"deny_trigger_subjects\":[\"internal.>\",\"a.*.b\"]}");
  assert_int_equal (cfg.deny_trigger_subjects.n, 2);
  config_free (&cfg);
  parse_fails_with ("{\"deny_trigger_subjects\":[\"a..b\"]}", "deny_trigger_subjects[0]:");
  parse_fails_with ("{\"deny_trigger_subjects\":[\".a\"]}", "deny_trigger_subjects[0]:");
  parse_fails_with ("{\"deny_trigger_subjects\":[\"a b\"]}", "deny_trigger_subjects[0]:");
}

static void
test_secure_switches (void **state)
{
  struct config cfg;
  (void) state;
  parse_ok (&cfg, "{}");
  assert_false (cfg.require_valid_issuers);
  assert_false (cfg.lameduck_requires_jwt);
  assert_int_equal (cfg.allow_trigger_subjects.n, 0);
  config_free (&cfg);
  parse_ok (&cfg, "{\"require_valid_issuers\":true,\"valid_issuers\":[\"" ACCOUNT_1 "\"],"
                  "\"lameduck_requires_jwt\":true,\"allow_trigger_subjects\":[\"_INBOX.app.>\"]}");
  assert_true (cfg.require_valid_issuers);
  assert_true (cfg.lameduck_requires_jwt);
  assert_string_equal (cfg.allow_trigger_subjects.v[0], "_INBOX.app.>");
  config_free (&cfg);
  /* The order of keys does not matter: the rule is checked after them all. */
  parse_ok (&cfg, "{\"valid_issuers\":[\"" ACCOUNT_1 "\"],\"require_valid_issuers\":true}");
  config_free (&cfg);
  parse_fails_with ("{\"require_valid_issuers\":true}", "valid_issuers is empty");
  parse_fails_with ("{\"require_valid_issuers\":true,\"valid_issuers\":[]}",
                    "nexc-node init --config FILE");
  parse_fails ("{\"lameduck_requires_jwt\":1}", "lameduck_requires_jwt: must be true or false");
  parse_fails_with ("{\"allow_trigger_subjects\":[\"a..b\"]}", "allow_trigger_subjects[0]:");
}

/* config_load refuses autostart environment values in a file others can
 * read; the same file at 0600 loads. */
static void
test_env_needs_private_file (void **state)
{
  char path[] = "/tmp/nexc-cfg-XXXXXX";
  const char *json = "{\"autostart\":{\"workloads\":[{\"name\":\"a\",\"type\":\"native\","
                     "\"location\":\"/bin/true\",\"environment\":{\"TOKEN\":\"s3cret\"}}]}}";
  struct config cfg;
  struct nxerr err = { 0 };
  int fd = mkstemp (path);
  (void) state;
  assert_true (fd >= 0);
  assert_int_equal (write (fd, json, strlen (json)), (ssize_t) strlen (json));
  close (fd);
  chmod (path, 0644);
  config_defaults (&cfg);
  assert_int_equal (config_load (&cfg, path, &err), -1);
  assert_non_null (strstr (err.msg, "(mode 0644): chmod 600 it"));
  assert_null (strstr (err.msg, "s3cret")); /* never the secret itself */
  config_free (&cfg);
  chmod (path, 0600);
  config_defaults (&cfg);
  assert_int_equal (config_load (&cfg, path, &err), 0);
  config_free (&cfg);
  unlink (path);
}

/* ---- warnings ---- */

static void
test_unknown_and_firecracker_keys (void **state)
{
  struct config cfg;
  (void) state;
  parse_ok (&cfg, "{\"frobnicate\":1,\"kernel_filepath\":\"/k\",\"cni\":{\"subnet\":\"x\"},"
                  "\"otel_metrics\":true,\"machine_pool_size\":3}");
  assert_int_equal (cfg.machine_pool_size, 3);
  assert_int_equal (cfg.warnings.n, 4);
  assert_true (has_warning (&cfg, "frobnicate: unknown key, ignored"));
  assert_true (has_warning (&cfg, "kernel_filepath: Firecracker/Nex-only setting, ignored"));
  assert_true (has_warning (&cfg, "cni: Firecracker/Nex-only setting, ignored"));
  assert_true (has_warning (&cfg, "otel_metrics: Firecracker/Nex-only setting, ignored"));
  config_free (&cfg);
}

/* ---- sandbox ---- */

static void
test_sandbox (void **state)
{
  struct config cfg;
  (void) state;
  parse_ok (&cfg, "{\"sandbox\":\"process\"}");
  assert_int_equal (cfg.sandbox, SANDBOX_PROCESS);
  config_free (&cfg);
  parse_ok (&cfg, "{\"sandbox\":\"none\"}");
  assert_int_equal (cfg.sandbox, SANDBOX_NONE);
  config_free (&cfg);
  /* no_sandbox forces "none", in either order. */
  parse_ok (&cfg, "{\"sandbox\":\"process\",\"no_sandbox\":true}");
  assert_true (cfg.no_sandbox);
  assert_int_equal (cfg.sandbox, SANDBOX_NONE);
  config_free (&cfg);
  parse_ok (&cfg, "{\"no_sandbox\":true,\"sandbox\":\"process\"}");
  assert_int_equal (cfg.sandbox, SANDBOX_NONE);
  config_free (&cfg);
  parse_ok (&cfg, "{\"no_sandbox\":false,\"sandbox\":\"process\"}");
  assert_int_equal (cfg.sandbox, SANDBOX_PROCESS);
  config_free (&cfg);

  parse_fails ("{\"sandbox\":\"bogus\"}", "sandbox: \"bogus\" is not one of \"process\", \"none\"");
  parse_fails ("{\"sandbox\":\"Process\"}",
               "sandbox: \"Process\" is not one of \"process\", \"none\"");
  parse_fails ("{\"sandbox\":true}", "sandbox: must be \"process\" or \"none\"");
}

/* ---- the process tier's keys ---- */

static void
test_process_tier_keys (void **state)
{
  struct config cfg;
  (void) state;
  parse_ok (&cfg, "{\"network\":\"none\",\"cgroup\":\"v2\",\"cgroup_root\":\"/nexc.slice\","
                  "\"uid_range\":{\"start\":100000,\"count\":1000},"
                  "\"max_resources\":{\"memory_mib\":2048,\"vcpus\":1.5,\"pids\":4096}}");
  assert_int_equal (cfg.network, SANDBOX_NET_NONE);
  assert_int_equal (cfg.cgroup_mode, 2);
  assert_string_equal (cfg.cgroup_root, "/nexc.slice");
  assert_int_equal (cfg.uid_start, 100000);
  assert_int_equal (cfg.uid_count, 1000);
  assert_int_equal (cfg.max_memory_mib, 2048);
  assert_int_equal (cfg.max_vcpus_milli, 1500);
  assert_int_equal (cfg.max_pids, 4096);
  config_free (&cfg);
  parse_ok (&cfg, "{\"cgroup\":\"none\",\"network\":\"host\"}");
  assert_int_equal (cfg.cgroup_mode, 3);
  assert_int_equal (cfg.network, SANDBOX_NET_HOST);
  config_free (&cfg);
  /* user_namespace: three words, nothing else. */
  parse_ok (&cfg, "{\"user_namespace\":\"on\"}");
  assert_int_equal (cfg.user_namespace, USERNS_ON);
  config_free (&cfg);
  parse_ok (&cfg, "{\"user_namespace\":\"off\"}");
  assert_int_equal (cfg.user_namespace, USERNS_OFF);
  config_free (&cfg);
  parse_ok (&cfg, "{\"user_namespace\":\"auto\"}");
  assert_int_equal (cfg.user_namespace, USERNS_AUTO);
  config_free (&cfg);
  parse_fails ("{\"user_namespace\":true}", "user_namespace: must be one of \"auto\", \"on\", \"off\"");
  parse_fails ("{\"user_namespace\":\"yes\"}",
               "user_namespace: must be one of \"auto\", \"on\", \"off\"");
  parse_fails ("{\"user_namespace\":null}",
               "user_namespace: must be one of \"auto\", \"on\", \"off\"");

  /* logs.on_full: the default deploys get, strict. */
  parse_ok (&cfg, "{}");
  assert_int_equal (cfg.logs_on_full, LOGS_BLOCK);
  config_free (&cfg);
  parse_ok (&cfg, "{\"logs\":{\"on_full\":\"drop_oldest\"}}");
  assert_int_equal (cfg.logs_on_full, LOGS_DROP_OLDEST);
  config_free (&cfg);
  parse_fails ("{\"logs\":{\"on_full\":\"drop\"}}",
               "logs.on_full: must be one of \"block\", \"drop_oldest\"");
  parse_fails ("{\"logs\":{\"size\":1}}", "logs.size: not a setting (on_full, stream)");
  parse_fails ("{\"logs\":null}", "logs: must be an object");

  /* logs.stream: off by default; true means the defaults; an object merges
   * over them; every field strict. */
  parse_ok (&cfg, "{}");
  assert_false (cfg.logs_stream.on);
  config_free (&cfg);
  parse_ok (&cfg, "{\"logs\":{\"stream\":true}}");
  assert_true (cfg.logs_stream.on);
  assert_string_equal (cfg.logs_stream.name, "NEXC_LOGS");
  assert_int_equal (cfg.logs_stream.max_age_ms, 24ll * 3600 * 1000);
  assert_int_equal (cfg.logs_stream.max_bytes, 1024ll * 1024 * 1024);
  assert_int_equal (cfg.logs_stream.replicas, 0);
  config_free (&cfg);
  parse_ok (&cfg, "{\"logs\":{\"stream\":false}}");
  assert_false (cfg.logs_stream.on);
  config_free (&cfg);
  parse_ok (&cfg, "{\"logs\":{\"on_full\":\"block\",\"stream\":{\"name\":\"APP-logs_1\","
                  "\"max_age\":\"1h30m\",\"max_bytes\":1048576,\"replicas\":3}}}");
  assert_true (cfg.logs_stream.on);
  assert_string_equal (cfg.logs_stream.name, "APP-logs_1");
  assert_int_equal (cfg.logs_stream.max_age_ms, 5400000);
  assert_int_equal (cfg.logs_stream.max_bytes, 1048576);
  assert_int_equal (cfg.logs_stream.replicas, 3);
  config_free (&cfg);
  parse_ok (&cfg, "{\"logs\":{\"stream\":{}}}");
  assert_true (cfg.logs_stream.on);
  assert_string_equal (cfg.logs_stream.name, "NEXC_LOGS");
  config_free (&cfg);
  parse_fails ("{\"logs\":{\"stream\":{\"retention\":\"interest\"}}}",
               "logs.stream.retention: not a setting (name, max_age, max_bytes, replicas)");
  parse_fails ("{\"logs\":{\"stream\":null}}", "logs.stream: must be true, false or an object");
  parse_fails ("{\"logs\":{\"stream\":\"NEXC_LOGS\"}}",
               "logs.stream: must be true, false or an object");
  parse_fails ("{\"logs\":{\"stream\":{\"name\":\"a.b\"}}}",
               "logs.stream.name: must match ^[A-Za-z0-9_-]{1,64}$ (a JetStream stream name)");
  parse_fails_with ("{\"logs\":{\"stream\":{\"name\":\"\"}}}", "logs.stream.name: must match");
  parse_fails_with ("{\"logs\":{\"stream\":{\"name\":\"logs>\"}}}", "logs.stream.name: must match");
  parse_fails_with ("{\"logs\":{\"stream\":{\"name\":\"a b\"}}}", "logs.stream.name: must match");
  parse_fails_with ("{\"logs\":{\"stream\":{\"name\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}}",
                    "logs.stream.name: must match");
  parse_fails ("{\"logs\":{\"stream\":{\"max_age\":\"30s\"}}}",
               "logs.stream.max_age: \"30s\" is not a duration from 1m to 3650d (a number and a "
               "unit: d, h, m, s, ms; e.g. 90s, 10m, 2h, 1h30m)");
  parse_fails_with ("{\"logs\":{\"stream\":{\"max_age\":\"24\"}}}", "is not a duration");
  parse_fails ("{\"logs\":{\"stream\":{\"max_age\":86400000}}}",
               "logs.stream.max_age: must be a duration such as \"24h\"");
  parse_fails ("{\"logs\":{\"stream\":{\"max_bytes\":1000}}}",
               "logs.stream.max_bytes: 1000 is out of range [1048576, 1125899906842624]");
  parse_fails ("{\"logs\":{\"stream\":{\"replicas\":0}}}",
               "logs.stream.replicas: 0 is out of range [1, 5]");
  parse_fails ("{\"logs\":{\"stream\":{\"replicas\":6}}}",
               "logs.stream.replicas: 6 is out of range [1, 5]");
  parse_fails ("{\"logs\":{\"stream\":{\"replicas\":\"3\"}}}",
               "logs.stream.replicas: must be an integer");
  parse_fails ("{\"network\":\"bridge\"}", "network: must be one of \"host\", \"none\"");
  parse_fails ("{\"network\":null}", "network: must be one of \"host\", \"none\"");
  parse_fails ("{\"cgroup\":\"v3\"}", "cgroup: must be one of \"auto\", \"v1\", \"v2\", \"none\"");
  parse_fails_with ("{\"cgroup_root\":\"nexc.slice\"}", "cgroup_root: must be an absolute path");
  parse_fails_with ("{\"cgroup_root\":\"/a/../b\"}", "cgroup_root: must be an absolute path");
  parse_fails ("{\"cgroup_root\":\"\"}", "cgroup_root: must be a non-empty string");

  /* uid_range: both bounds of each field, and the end of the uid space. */
  parse_fails ("{\"uid_range\":[]}", "uid_range: must be an object {\"start\": N, \"count\": N}");
  parse_fails ("{\"uid_range\":{\"start\":0}}", "uid_range.start: 0 is out of range [1, 4294967294]");
  parse_fails ("{\"uid_range\":{\"count\":0}}", "uid_range.count: 0 is out of range [1, 16777216]");
  parse_fails ("{\"uid_range\":{\"count\":16777217}}",
               "uid_range.count: 16777217 is out of range [1, 16777216]");
  parse_fails ("{\"uid_range\":{\"start\":\"1\"}}", "uid_range.start: must be an integer");
  parse_ok (&cfg, "{\"uid_range\":{\"start\":4294967294,\"count\":1}}");
  config_free (&cfg);
  parse_fails ("{\"uid_range\":{\"start\":4294967294,\"count\":2}}",
               "uid_range: start + count goes past the last valid uid");
  parse_ok (&cfg, "{\"uid_range\":{\"start\":1,\"size\":2}}");
  assert_true (has_warning (&cfg, "uid_range: unknown key ignored"));
  assert_null (cfg.uid_lock_dir);
  config_free (&cfg);
  /* uid_range.lock_dir: absolute, no "..", shared by every node of the host. */
  parse_ok (&cfg, "{\"uid_range\":{\"lock_dir\":\"/run/nexc/uids\"}}");
  assert_string_equal (cfg.uid_lock_dir, "/run/nexc/uids");
  assert_int_equal (cfg.uid_start, 200000);
  config_free (&cfg);
  parse_fails_with ("{\"uid_range\":{\"lock_dir\":\"run/x\"}}", "uid_range.lock_dir: must be an absolute path");
  parse_fails_with ("{\"uid_range\":{\"lock_dir\":\"/run/../etc\"}}", "uid_range.lock_dir: must be an absolute path");
  parse_fails ("{\"uid_range\":{\"lock_dir\":\"\"}}", "uid_range.lock_dir: must be a non-empty string");
  parse_fails ("{\"uid_range\":{\"lock_dir\":7}}", "uid_range.lock_dir: must be a non-empty string");

  /* max_resources: ranges, unknown keys refused, not below the template. */
  parse_fails ("{\"max_resources\":{\"memory_mib\":7}}",
               "max_resources.memory_mib: 7 is out of range [8, 16777216]");
  parse_fails ("{\"max_resources\":{\"pids\":4194305}}",
               "max_resources.pids: 4194305 is out of range [8, 4194304]");
  parse_fails ("{\"max_resources\":{\"vcpus\":0.001}}",
               "max_resources.vcpus: must be a number in [0.01, 1024]");
  parse_fails ("{\"max_resources\":{\"vcpus\":\"2\"}}",
               "max_resources.vcpus: must be a number in [0.01, 1024]");
  parse_fails ("{\"max_resources\":{\"gpus\":1}}",
               "max_resources.gpus: not a resource (memory_mib, vcpus, pids)");
  parse_fails ("{\"max_resources\":null}", "max_resources: must be an object");
  parse_fails ("{\"max_resources\":{\"memory_mib\":128}}",
               "max_resources.memory_mib: 128 is below machine_template.memsize_mib 256");
  parse_fails ("{\"machine_template\":{\"vcpu_count\":2},\"max_resources\":{\"vcpus\":1}}",
               "max_resources.vcpus: 1.000 is below machine_template.vcpu_count 2");
  parse_fails ("{\"max_resources\":{\"pids\":100}}", "max_resources.pids: 100 is below pids_limit 512");
  /* The check sees the whole file, whatever the key order. */
  parse_ok (&cfg, "{\"max_resources\":{\"memory_mib\":128},\"machine_template\":{\"memsize_mib\":64}}");
  assert_int_equal (cfg.max_memory_mib, 128);
  config_free (&cfg);
}

/* ---- autostart (Nex 0.2.4 shape) ---- */

static void
test_autostart (void **state)
{
  struct config cfg;
  (void) state;
  parse_ok (&cfg, "{\"autostart\":{\"stop_issuer\":\"" ACCOUNT_1 "\",\"workloads\":["
                  "{\"name\":\"echo\",\"type\":\"native\",\"location\":\"nats://B/echo\","
                  "\"argv\":[\"-v\"],\"essential\":true,\"environment\":{\"K\":\"v\"}},"
                  "{\"name\":\"x_2\",\"namespace\":\"ops\",\"type\":\"elf\","
                  "\"location\":{\"Host\":\"B\",\"Path\":\"/k\"}}]}}");
  assert_int_equal (cfg.n_autostart, 2);
  assert_string_equal (cfg.autostart_stop_issuer, ACCOUNT_1);
  assert_string_equal (cfg.autostart[0].name, "echo");
  assert_string_equal (cfg.autostart[0].ns, "default");
  assert_string_equal (cfg.autostart[0].location, "nats://B/echo");
  assert_true (cfg.autostart[0].essential);
  assert_int_equal (cfg.autostart[0].argv.n, 1);
  assert_string_equal (strmap_get (&cfg.autostart[0].env, "K"), "v");
  assert_string_equal (cfg.autostart[1].ns, "ops");
  assert_string_equal (cfg.autostart[1].location, "nats://B/k");
  config_free (&cfg);

  parse_ok (&cfg, "{\"autostart\":null}");
  assert_int_equal (cfg.n_autostart, 0);
  config_free (&cfg);
  parse_fails ("{\"autostart\":[]}", "autostart: must be an object");
  parse_fails ("{\"autostart\":{\"workloads\":[{\"type\":\"native\",\"location\":\"/x\"}]}}",
               "autostart.workloads[0].name: is required");
  parse_fails_with ("{\"autostart\":{\"workloads\":[{\"name\":\"a b\",\"type\":\"native\","
                    "\"location\":\"/x\"}]}}",
                    "autostart.workloads[0].name:");
  parse_fails_with ("{\"autostart\":{\"workloads\":[{\"name\":\"a\",\"type\":\"v8\","
                    "\"location\":\"/x\"}]}}",
                    "autostart.workloads[0].type:");
  parse_fails_with ("{\"autostart\":{\"workloads\":[{\"name\":\"a\",\"type\":\"native\","
                    "\"location\":\"/x\",\"trigger_subjects\":[\"t\"]}]}}",
                    "autostart.workloads[0].trigger_subjects:");
  parse_fails ("{\"autostart\":{\"stop_issuer\":\"" XKEY_1 "\"}}",
               "autostart.stop_issuer: must be a public nkey");
  /* The namespace goes into subjects ($NEX.events.<ns>.…, $NEX.logs.<ns>.…). */
  parse_fails_with ("{\"autostart\":{\"workloads\":[{\"name\":\"a\",\"namespace\":\"x.*\","
                    "\"type\":\"native\",\"location\":\"/x\"}]}}",
                    "autostart.workloads[0].namespace:");
}

/* ---- the document as a whole ---- */

static void
test_document_errors (void **state)
{
  struct config cfg;
  struct nxerr err = { 0 };
  char *big;
  (void) state;
  parse_fails ("[]", "configuration must be a JSON object");
  parse_fails ("[{\"machine_pool_size\":2}]", "configuration must be a JSON object");
  parse_fails_with ("\"x\"", "invalid JSON at line 1");
  parse_fails_with ("", "invalid JSON at line 1");
  /* The message locates the error. */
  parse_fails_with ("{\n  \"machine_pool_size\": 2,\n  oops\n}", "invalid JSON at line 3 column ");
  parse_fails_with ("{\"machine_pool_size\":2", "invalid JSON at line 1 column ");
  /* Duplicate keys are refused (a typo would otherwise silently win). */
  parse_fails_with ("{\"machine_pool_size\":1,\"machine_pool_size\":2}", "duplicate");
  /* Too large. */
  big = malloc (CONFIG_FILE_MAX + 1);
  assert_non_null (big);
  memset (big, ' ', CONFIG_FILE_MAX + 1);
  big[0] = '{';
  big[CONFIG_FILE_MAX] = '}';
  config_defaults (&cfg);
  assert_int_equal (config_parse (&cfg, big, CONFIG_FILE_MAX + 1, &err), -1);
  assert_string_equal (err.msg, "configuration is larger than 1048576 bytes");
  config_free (&cfg);
  /* Exactly CONFIG_FILE_MAX is fine. */
  big[CONFIG_FILE_MAX - 1] = '}';
  config_defaults (&cfg);
  assert_int_equal (config_parse (&cfg, big, CONFIG_FILE_MAX, &err), 0);
  config_free (&cfg);
  free (big);
  /* The first invalid key stops the parse. */
  parse_fails ("{\"machine_pool_size\":0,\"sandbox\":\"bogus\"}",
               "machine_pool_size: 0 is out of range [1, 4096]");
}

/* ---- files ---- */

static void
test_load_files (void **state)
{
  struct config cfg;
  struct nxerr err = { 0 };
  const char *path;
  char want[256];
  char *big;
  (void) state;

  config_defaults (&cfg);
  assert_int_equal (config_load (&cfg, "/nonexistent/nexc.json", &err), -1);
  assert_string_equal (err.msg, "failed to load configuration file: open /nonexistent/nexc.json: "
                                "No such file or directory");
  config_free (&cfg);

  config_defaults (&cfg);
  assert_int_equal (config_load (&cfg, "/tmp", &err), -1);
  assert_string_equal (err.msg, "/tmp: not a regular file");
  config_free (&cfg);

  /* A parse error is prefixed with the path. */
  path = temp_file ("{\"sandbox\":\"bogus\"}", 19);
  config_defaults (&cfg);
  assert_int_equal (config_load (&cfg, path, &err), -1);
  snprintf (want, sizeof want, "%s: sandbox: \"bogus\" is not one of \"process\", \"none\"", path);
  assert_string_equal (err.msg, want);
  config_free (&cfg);
  unlink (path);

  path = temp_file ("{\"machine_pool_size\":3}\n", 24);
  config_defaults (&cfg);
  assert_int_equal (config_load (&cfg, path, &err), 0);
  assert_int_equal (cfg.machine_pool_size, 3);
  config_free (&cfg);
  unlink (path);

  /* An empty file is invalid JSON. */
  path = temp_file ("", 0);
  config_defaults (&cfg);
  assert_int_equal (config_load (&cfg, path, &err), -1);
  assert_non_null (strstr (err.msg, "invalid JSON"));
  config_free (&cfg);
  unlink (path);

  /* Too large a file is refused before it is read. */
  big = malloc (CONFIG_FILE_MAX + 2);
  assert_non_null (big);
  memset (big, ' ', CONFIG_FILE_MAX + 2);
  big[0] = '{';
  big[CONFIG_FILE_MAX + 1] = '}';
  path = temp_file (big, CONFIG_FILE_MAX + 2);
  free (big);
  config_defaults (&cfg);
  assert_int_equal (config_load (&cfg, path, &err), -1);
  snprintf (want, sizeof want, "%s: larger than 1048576 bytes", path);
  assert_string_equal (err.msg, want);
  config_free (&cfg);
  unlink (path);
}

/* ---- config_dump ---- */

static void
test_dump (void **state)
{
  struct config cfg;
  struct buf out = BUF_INIT;
  json_error_t jerr;
  json_t *root, *v;
  (void) state;
  parse_ok (&cfg, "{\"machine_pool_size\":7,\"sandbox\":\"process\",\"tags\":{\"env\":\"dev<&>\"},"
                  "\"machine_template\":{\"memsize_mib\":512},\"valid_issuers\":[\"" ACCOUNT_1
                  "\"],\"node_limits\":{\"max_workloads\":9},\"stop_grace_ms\":0,"
                  "\"agent_path\":\"/opt/a\",\"kernel_filepath\":\"/k\"}");
  config_dump (&cfg, &out);
  root = json_loadb (out.data, out.len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    print_error ("config_dump is not JSON: %s\n%s\n", jerr.text, out.data);
  assert_non_null (root);
  assert_true (json_is_object (root));
  assert_int_equal (json_integer_value (json_object_get (root, "machine_pool_size")), 7);
  assert_string_equal (json_string_value (json_object_get (root, "sandbox")), "process");
  assert_true (json_is_false (json_object_get (root, "no_sandbox")));
  v = json_object_get (root, "machine_template");
  assert_int_equal (json_integer_value (json_object_get (v, "vcpu_count")), 1);
  assert_int_equal (json_integer_value (json_object_get (v, "memsize_mib")), 512);
  v = json_object_get (root, "tags");
  assert_string_equal (json_string_value (json_object_get (v, "env")), "dev<&>");
  v = json_object_get (root, "valid_issuers");
  assert_int_equal (json_array_size (v), 1);
  assert_string_equal (json_string_value (json_array_get (v, 0)), ACCOUNT_1);
  v = json_object_get (root, "workload_types");
  assert_int_equal (json_array_size (v), 3);
  v = json_object_get (root, "node_limits");
  assert_int_equal (json_integer_value (json_object_get (v, "max_workloads")), 9);
  assert_int_equal (json_integer_value (json_object_get (root, "stop_grace_ms")), 0);
  assert_int_equal (json_integer_value (json_object_get (root, "heartbeat_interval_ms")), 30000);
  assert_int_equal (json_integer_value (json_object_get (root, "max_artifact_bytes")),
                    256ll * 1024 * 1024);
  assert_string_equal (json_string_value (json_object_get (root, "state_dir")), "/var/lib/nexc");
  assert_string_equal (json_string_value (json_object_get (root, "agent_path")), "/opt/a");
  assert_string_equal (json_string_value (json_object_get (root, "user_namespace")), "auto");
  /* Ignored keys are not echoed back. */
  assert_null (json_object_get (root, "kernel_filepath"));
  json_decref (root);

  /* The dump of the dump's own input loads to the same configuration. */
  {
    struct config again;
    struct buf out2 = BUF_INIT;
    parse_ok (&again, out.data);
    config_dump (&again, &out2);
    assert_string_equal (out2.data, out.data);
    buf_free (&out2);
    config_free (&again);
  }
  buf_free (&out);
  config_free (&cfg);
}

/* ---- examples/nodeconfigs ---- */

static void
test_example_configs (void **state)
{
  glob_t g;
  size_t seen = 0;
  (void) state;
  assert_int_equal (glob (NEXC_SOURCE_DIR "/examples/nodeconfigs/*.json", 0, NULL, &g), 0);
  for (size_t i = 0; i < g.gl_pathc; i++)
    {
      const char *path = g.gl_pathv[i];
      const char *base = strrchr (path, '/') + 1;
      struct config cfg;
      struct nxerr err = { 0 };
      int rc;
      char *text = NULL;
      size_t len = 0;
      FILE *fp = fopen (path, "r");
      assert_non_null (fp);
      /* Parsed from their text: a git checkout makes them 0644, which
       * config_load refuses for autostart.json (environment values). */
      assert_int_equal (getdelim (&text, &len, '\0', fp) > 0, 1);
      fclose (fp);
      config_defaults (&cfg);
      rc = config_parse (&cfg, text, strlen (text), &err);
      free (text);
      if (rc != 0)
        print_error ("%s: %s\n", path, err.msg);
      assert_int_equal (rc, 0);
      if (strcmp (base, "dev.json") == 0)
        {
          assert_int_equal (cfg.machine_pool_size, 2);
          assert_int_equal (cfg.sandbox, SANDBOX_NONE);
          assert_string_equal (strmap_get (&cfg.tags, "env"), "dev");
          assert_int_equal (cfg.warnings.n, 0);
          seen++;
        }
      else if (strcmp (base, "sandboxed.json") == 0)
        {
          assert_int_equal (cfg.sandbox, SANDBOX_PROCESS);
          assert_int_equal (cfg.memsize_mib, 256);
          assert_int_equal (cfg.warnings.n, 0);
          seen++;
        }
      else if (strcmp (base, "limited_issuers.json") == 0)
        {
          assert_int_equal (cfg.valid_issuers.n, 2);
          assert_int_equal (cfg.warnings.n, 0);
          seen++;
        }
      else if (strcmp (base, "autostart.json") == 0)
        {
          assert_int_equal (cfg.n_autostart, 1);
          seen++;
        }
      else if (strcmp (base, "nosandbox.json") == 0)
        {
          assert_true (cfg.no_sandbox);
          assert_int_equal (cfg.sandbox, SANDBOX_NONE);
          assert_true (has_warning (&cfg, "kernel_filepath: Firecracker/Nex-only setting"));
          seen++;
        }
      config_free (&cfg);
    }
  globfree (&g);
  assert_int_equal (seen, 5);
}

/* Issue #18: workload_creds, lameduck_issuers, sealed autostart environments. */
static void
test_creds_drain_and_sealed_keys (void **state)
{
  struct config cfg;
  (void) state;
  parse_ok (&cfg, "{\"workload_creds\":{\"account\":\"" ACCOUNT_1 "\","
                  "\"signing_key_file\":\"/etc/nexc/sk.nk\",\"ttl_s\":3600},"
                  "\"lameduck_issuers\":[\"" ACCOUNT_1 "\"]}");
  assert_string_equal (cfg.wcreds_account, ACCOUNT_1);
  assert_string_equal (cfg.wcreds_key_file, "/etc/nexc/sk.nk");
  assert_int_equal (cfg.wcreds_ttl_s, 3600);
  assert_int_equal (cfg.lameduck_issuers.n, 1);
  config_free (&cfg);
  parse_ok (&cfg, "{}");
  assert_null (cfg.wcreds_account); /* off by default */
  config_free (&cfg);
  parse_fails ("{\"workload_creds\":{\"account\":\"" ACCOUNT_1 "\"}}",
               "workload_creds: account and signing_key_file are required");
  parse_fails ("{\"workload_creds\":{\"account\":\"" XKEY_1 "\",\"signing_key_file\":\"/k\"}}",
               "workload_creds.account: must be a public account nkey (A…)");
  parse_fails ("{\"workload_creds\":{\"account\":\"" ACCOUNT_1 "\",\"signing_key_file\":\"k\"}}",
               "workload_creds.signing_key_file: must be an absolute path");
  parse_fails ("{\"workload_creds\":{\"account\":\"" ACCOUNT_1 "\",\"signing_key_file\":\"/k\","
               "\"seed\":\"x\"}}",
               "workload_creds.seed: not a setting (account, signing_key_file, ttl_s)");
  parse_fails_with ("{\"lameduck_issuers\":[\"" XKEY_1 "\"]}", "is not a public nkey");

#define AUTO(extra)                                                                              \
  "{\"autostart\":{\"workloads\":[{\"name\":\"w\",\"type\":\"native\",\"location\":\"/bin/true\"" \
  extra "}]}}"
  parse_ok (&cfg, AUTO (",\"sealed_environment\":\"eGt2MQ==\",\"sender_public_key\":\"" XKEY_1 "\""));
  assert_string_equal (cfg.autostart[0].sealed_env, "eGt2MQ==");
  assert_string_equal (cfg.autostart[0].sender_public_key, XKEY_1);
  config_free (&cfg);
  parse_fails_with (AUTO (",\"sealed_environment\":\"eGt2MQ==\""),
                    "sealed_environment and sender_public_key go together");
  parse_fails_with (AUTO (",\"sealed_environment\":\"e\",\"sender_public_key\":\"" ACCOUNT_1 "\""),
                    "sender_public_key: must be a public xkey");
  parse_fails_with (AUTO (",\"sealed_environment\":\"e\",\"sender_public_key\":\"" XKEY_1
                          "\",\"environment\":{\"A\":\"b\"}"),
                    "environment or sealed_environment, not both");
#undef AUTO
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_defaults),
    cmocka_unit_test (test_int_keys_range),
    cmocka_unit_test (test_int_keys_type),
    cmocka_unit_test (test_objects_merge),
    cmocka_unit_test (test_bool_and_string_keys),
    cmocka_unit_test (test_tags_merge),
    cmocka_unit_test (test_effective_tags_node_name),
    cmocka_unit_test (test_workload_types),
    cmocka_unit_test (test_valid_issuers),
    cmocka_unit_test (test_requester_public_keys),
    cmocka_unit_test (test_deny_trigger_subjects),
    cmocka_unit_test (test_secure_switches),
    cmocka_unit_test (test_env_needs_private_file),
    cmocka_unit_test (test_unknown_and_firecracker_keys),
    cmocka_unit_test (test_sandbox),
    cmocka_unit_test (test_process_tier_keys),
    cmocka_unit_test (test_autostart),
    cmocka_unit_test (test_document_errors),
    cmocka_unit_test (test_load_files),
    cmocka_unit_test (test_dump),
    cmocka_unit_test (test_example_configs),
    cmocka_unit_test (test_creds_drain_and_sealed_keys),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
