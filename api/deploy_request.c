#include "api/deploy_request.h"

#include <errno.h>
#include <jansson.h>
#include <math.h> /* isfinite: a macro, no libm */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/gojson.h"
#include "api/jsonw.h"
#include "api/xalloc.h"

#define FIELD_STRING_MAX (512 * 1024)

static int
type_error (struct nxerr *err, const json_t *v, const char *field, const char *go_type)
{
  return nxerr_set (err, EINVAL,
                    "json: cannot unmarshal %s into Go struct field DeployRequest.%s of type %s",
                    gojson_type_name (v), field, go_type);
}

static int
take_string (json_t *v, const char *field, char **out, struct nxerr *err)
{
  if (json_is_null (v))
    return 0;
  if (!json_is_string (v))
    return type_error (err, v, field, "string");
  if (json_string_length (v) > FIELD_STRING_MAX)
    return nxerr_set (err, EINVAL, "field %s is longer than %d bytes", field, FIELD_STRING_MAX);
  if (strlen (json_string_value (v)) != json_string_length (v))
    return nxerr_set (err, EINVAL, "field %s contains a NUL character", field);
  free (*out);
  *out = xstrdup (json_string_value (v));
  return 0;
}

static int
take_strings (json_t *v, const char *field, size_t max, char ***out, size_t *n,
              struct nxerr *err)
{
  size_t i;
  json_t *e;
  if (json_is_null (v))
    return 0;
  if (!json_is_array (v))
    return type_error (err, v, field, "[]string");
  if (json_array_size (v) > max)
    return nxerr_set (err, EINVAL, "field %s has more than %zu entries", field, max);
  json_array_foreach (v, i, e)
  {
    if (!json_is_string (e))
      return type_error (err, e, field, "string");
    if (json_string_length (e) > 4096 || strlen (json_string_value (e)) != json_string_length (e))
      return nxerr_set (err, EINVAL, "field %s[%zu] is too long or contains NUL", field, i);
  }
  for (i = 0; i < *n; i++)
    free ((*out)[i]);
  free (*out);
  *n = json_array_size (v);
  *out = xcalloc (*n + 1, sizeof **out);
  json_array_foreach (v, i, e) (*out)[i] = xstrdup (json_string_value (e));
  return 0;
}

static void
trim_path (const char *path, char **out)
{
  size_t a = 0, b = strlen (path);
  while (path[a] == '/')
    a++;
  while (b > a && path[b - 1] == '/')
    b--;
  free (*out);
  *out = xstrndup (path + a, b - a);
}

/* "nats://bucket/key" (our extension to Nex's URL object). */
static int
location_from_string (struct deploy_request *r, const char *s, struct nxerr *err)
{
  const char *sep = strstr (s, "://");
  const char *host, *slash;
  if (strlen (s) > 4096)
    return nxerr_set (err, EINVAL, "location is longer than 4096 bytes");
  if (sep == NULL)
    return nxerr_set (err, EINVAL, "location \"%s\" is not a URL (nats://bucket/key)", s);
  free (r->location_scheme);
  r->location_scheme = xstrndup (s, (size_t) (sep - s));
  host = sep + 3;
  slash = strchr (host, '/');
  free (r->location_bucket);
  r->location_bucket = slash ? xstrndup (host, (size_t) (slash - host)) : xstrdup (host);
  trim_path (slash ? slash : "", &r->location_key);
  return 0;
}

static int
location_from_object (struct deploy_request *r, json_t *v, struct nxerr *err)
{
  const char *k;
  json_t *e;
  char *path = NULL;
  json_object_foreach (v, k, e)
  {
    char **dst = NULL;
    if (strcasecmp (k, "Scheme") == 0)
      dst = &r->location_scheme;
    else if (strcasecmp (k, "Host") == 0)
      dst = &r->location_bucket;
    else if (strcasecmp (k, "Path") == 0)
      dst = &path;
    if (dst == NULL)
      continue;
    if (json_is_null (e))
      continue;
    if (!json_is_string (e))
      {
        free (path);
        return nxerr_set (err, EINVAL,
                          "json: cannot unmarshal %s into Go struct field URL.location.%s of type "
                          "string",
                          gojson_type_name (e), k);
      }
    if (json_string_length (e) > 4096)
      {
        free (path);
        return nxerr_set (err, EINVAL, "location.%s is too long", k);
      }
    free (*dst);
    *dst = xstrdup (json_string_value (e));
  }
  trim_path (path ? path : "", &r->location_key);
  free (path);
  return 0;
}

static int
take_location (struct deploy_request *r, json_t *v, struct nxerr *err)
{
  if (json_is_null (v))
    return 0;
  if (json_is_string (v))
    return location_from_string (r, json_string_value (v), err);
  if (json_is_object (v))
    return location_from_object (r, v, err);
  return type_error (err, v, "location", "url.URL");
}

/* "resources" (our extension). Out-of-bounds values and unknown keys are
 * refused with a complete text (EPROTO): a limit is never silently dropped. */
/* A bounded count inside one of our extension objects: group is the JSON
 * key ("resources", "restart"), gotype the Go struct name a Go decoder of
 * the same shape would report. */
static int
take_group_count (json_t *e, const char *gotype, const char *group, const char *name,
                  uint64_t min, uint64_t max, uint64_t *out, struct nxerr *err)
{
  json_int_t x;
  if (!json_is_integer (e))
    return nxerr_set (err, EINVAL,
                      "json: cannot unmarshal %s into Go struct field %s.%s.%s of type uint64",
                      gojson_type_name (e), gotype, group, name);
  x = json_integer_value (e);
  if (x < 0 || (uint64_t) x < min || (uint64_t) x > max)
    return nxerr_set (err, EPROTO,
                      "Invalid deploy request: %s.%s %lld is out of range [%llu, %llu]", group,
                      name, (long long) x, (unsigned long long) min, (unsigned long long) max);
  *out = (uint64_t) x;
  return 0;
}

static int
take_count (json_t *e, const char *name, uint64_t min, uint64_t max, uint64_t *out,
            struct nxerr *err)
{
  return take_group_count (e, "Resources", "resources", name, min, max, out, err);
}

static int
take_vcpus (json_t *e, uint32_t *out, struct nxerr *err)
{
  double x;
  if (!json_is_number (e))
    return nxerr_set (err, EINVAL,
                      "json: cannot unmarshal %s into Go struct field Resources.resources.vcpus of "
                      "type float64",
                      gojson_type_name (e));
  x = json_number_value (e) * 1000.0;
  if (!isfinite (x) || x < DEPLOY_VCPUS_MILLI_MIN - 0.5 || x > DEPLOY_VCPUS_MILLI_MAX + 0.5)
    return nxerr_set (err, EPROTO,
                      "Invalid deploy request: resources.vcpus %g is out of range [%g, %d]",
                      json_number_value (e), DEPLOY_VCPUS_MILLI_MIN / 1000.0,
                      DEPLOY_VCPUS_MILLI_MAX / 1000);
  *out = (uint32_t) (x + 0.5);
  return 0;
}

static int
take_resources (struct deploy_request *r, json_t *v, struct nxerr *err)
{
  const char *k;
  json_t *e;
  struct deploy_resources res = { 0 };
  if (json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return type_error (err, v, "resources", "Resources");
  json_object_foreach (v, k, e)
  {
    int rc;
    if (json_is_null (e))
      continue;
    if (strcasecmp (k, "memory_mib") == 0)
      rc = take_count (e, "memory_mib", DEPLOY_MEMORY_MIB_MIN, DEPLOY_MEMORY_MIB_MAX,
                       &res.memory_mib, err);
    else if (strcasecmp (k, "pids") == 0)
      rc = take_count (e, "pids", DEPLOY_PIDS_MIN, DEPLOY_PIDS_MAX, &res.pids, err);
    else if (strcasecmp (k, "vcpus") == 0)
      rc = take_vcpus (e, &res.vcpus_milli, err);
    else
      rc = nxerr_set (err, EPROTO,
                      "Invalid deploy request: resources.%.64s is not a known resource "
                      "(memory_mib, vcpus, pids)",
                      k);
    if (rc < 0)
      return -1;
  }
  r->resources = res;
  return 0;
}

/* "restart" (our extension): strict like "resources". */
static int
take_restart (struct deploy_request *r, json_t *v, struct nxerr *err)
{
  const char *k;
  json_t *e;
  struct deploy_restart rs = { .present = true };
  if (json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return type_error (err, v, "restart", "RestartPolicy");
  json_object_foreach (v, k, e)
  {
    int rc = 0;
    if (json_is_null (e))
      continue;
    if (strcasecmp (k, "policy") == 0)
      {
        const char *p = json_string_value (e);
        if (!json_is_string (e))
          return nxerr_set (err, EINVAL,
                            "json: cannot unmarshal %s into Go struct field "
                            "RestartPolicy.restart.policy of type string",
                            gojson_type_name (e));
        if (strcmp (p, "never") == 0)
          rs.policy = DEPLOY_RESTART_NEVER;
        else if (strcmp (p, "on-failure") == 0)
          rs.policy = DEPLOY_RESTART_ON_FAILURE;
        else if (strcmp (p, "always") == 0)
          rs.policy = DEPLOY_RESTART_ALWAYS;
        else
          return nxerr_set (err, EPROTO,
                            "Invalid deploy request: restart.policy \"%.64s\" is not never, "
                            "on-failure or always",
                            p);
      }
    else if (strcasecmp (k, "max_restarts") == 0)
      rc = take_group_count (e, "RestartPolicy", "restart", "max_restarts", 0,
                             DEPLOY_RESTART_MAX, &rs.max_restarts, err);
    else if (strcasecmp (k, "backoff_ms") == 0)
      rc = take_group_count (e, "RestartPolicy", "restart", "backoff_ms", 0,
                             DEPLOY_BACKOFF_MAX_MS, &rs.backoff_ms, err);
    else if (strcasecmp (k, "max_backoff_ms") == 0)
      rc = take_group_count (e, "RestartPolicy", "restart", "max_backoff_ms", 0,
                             DEPLOY_BACKOFF_MAX_MS, &rs.max_backoff_ms, err);
    else
      rc = nxerr_set (err, EPROTO,
                      "Invalid deploy request: restart.%.64s is not a known setting (policy, "
                      "max_restarts, backoff_ms, max_backoff_ms)",
                      k);
    if (rc < 0)
      return -1;
  }
  r->restart = rs;
  return 0;
}

/* "logs" (our extension): strict like "resources": a policy the node would
 * not apply is refused, never guessed. */
static int
take_logs (struct deploy_request *r, json_t *v, struct nxerr *err)
{
  const char *k;
  json_t *e;
  enum deploy_logs_on_full on_full = DEPLOY_LOGS_UNSET;
  if (json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return type_error (err, v, "logs", "LogsPolicy");
  json_object_foreach (v, k, e)
  {
    const char *p;
    if (json_is_null (e))
      continue;
    if (strcasecmp (k, "on_full") != 0)
      return nxerr_set (err, EPROTO,
                        "Invalid deploy request: logs.%.64s is not a known setting (on_full)", k);
    if (!json_is_string (e))
      return nxerr_set (err, EINVAL,
                        "json: cannot unmarshal %s into Go struct field LogsPolicy.logs.on_full of "
                        "type string",
                        gojson_type_name (e));
    p = json_string_value (e);
    if (strcmp (p, "block") == 0)
      on_full = DEPLOY_LOGS_BLOCK;
    else if (strcmp (p, "drop_oldest") == 0)
      on_full = DEPLOY_LOGS_DROP_OLDEST;
    else
      return nxerr_set (err, EPROTO,
                        "Invalid deploy request: logs.on_full \"%.64s\" is not block or "
                        "drop_oldest",
                        p);
  }
  r->logs_on_full = on_full;
  return 0;
}

/* "nats" (our extension): strict like "logs"; what the subjects may be is
 * the node's call (node/control/trigger_check.h). */
static int
take_nats (struct deploy_request *r, json_t *v, struct nxerr *err)
{
  const char *k;
  json_t *e;
  if (json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return type_error (err, v, "nats", "NatsPermissions");
  json_object_foreach (v, k, e)
  {
    int rc;
    if (strcasecmp (k, "publish") == 0)
      rc = take_strings (e, "nats.publish", DEPLOY_NATS_SUBJECTS_MAX, &r->nats.publish,
                         &r->nats.n_publish, err);
    else if (strcasecmp (k, "subscribe") == 0)
      rc = take_strings (e, "nats.subscribe", DEPLOY_NATS_SUBJECTS_MAX, &r->nats.subscribe,
                         &r->nats.n_subscribe, err);
    else
      rc = nxerr_set (err, EPROTO,
                      "Invalid deploy request: nats.%.64s is not a known setting (publish, "
                      "subscribe)",
                      k);
    if (rc < 0)
      return -1;
  }
  return 0;
}

/* "filesystem" (our extension): strict, a view the node would not give is
 * refused. */
static int
take_filesystem (struct deploy_request *r, json_t *v, struct nxerr *err)
{
  struct nxerr e = { 0 };
  if (fs_spec_take (v, "filesystem", &r->filesystem, &e) < 0)
    return nxerr_set (err, EPROTO, "Invalid deploy request: %s", e.msg);
  return 0;
}

static int
take_field (struct deploy_request *r, const char *k, json_t *v, struct nxerr *err)
{
  if (strcasecmp (k, "argv") == 0)
    return take_strings (v, "argv", DEPLOY_ARGV_MAX, &r->argv, &r->argc, err);
  if (strcasecmp (k, "description") == 0)
    {
      /* INFO lists every description in one reply: keep them small. */
      if (json_is_string (v) && json_string_length (v) > DEPLOY_DESCRIPTION_MAX)
        return nxerr_set (err, EPROTO,
                          "Invalid deploy request: description is longer than %d bytes",
                          DEPLOY_DESCRIPTION_MAX);
      return take_string (v, "description", &r->description, err);
    }
  if (strcasecmp (k, "type") == 0)
    return take_string (v, "type", &r->type, err);
  if (strcasecmp (k, "location") == 0)
    return take_location (r, v, err);
  if (strcasecmp (k, "essential") == 0)
    {
      if (json_is_null (v))
        return 0;
      if (!json_is_boolean (v))
        return type_error (err, v, "essential", "bool");
      r->essential = json_is_true (v);
      return 0;
    }
  if (strcasecmp (k, "workload_jwt") == 0)
    return take_string (v, "workload_jwt", &r->workload_jwt, err);
  if (strcasecmp (k, "environment") == 0)
    return take_string (v, "environment", &r->environment, err);
  if (strcasecmp (k, "jsdomain") == 0)
    return take_string (v, "jsdomain", &r->jsdomain, err);
  if (strcasecmp (k, "sender_public_key") == 0)
    return take_string (v, "sender_public_key", &r->sender_public_key, err);
  if (strcasecmp (k, "target_node") == 0)
    return take_string (v, "target_node", &r->target_node, err);
  if (strcasecmp (k, "trigger_subjects") == 0)
    return take_strings (v, "trigger_subjects", DEPLOY_TRIGGERS_MAX, &r->trigger_subjects,
                         &r->n_triggers, err);
  if (strcasecmp (k, "retry_count") == 0)
    {
      if (json_is_null (v))
        return 0;
      if (json_is_integer (v) && json_integer_value (v) < 0)
        return nxerr_set (err, EINVAL,
                          "json: cannot unmarshal number %lld into Go struct field "
                          "DeployRequest.retry_count of type uint",
                          (long long) json_integer_value (v));
      if (!json_is_integer (v))
        return type_error (err, v, "retry_count", "uint");
      r->retry_count = (uint64_t) json_integer_value (v);
      return 0;
    }
  if (strcasecmp (k, "retried_at") == 0)
    return take_string (v, "retried_at", &r->retried_at, err);
  if (strcasecmp (k, "resources") == 0)
    return take_resources (r, v, err);
  if (strcasecmp (k, "restart") == 0)
    return take_restart (r, v, err);
  if (strcasecmp (k, "logs") == 0)
    return take_logs (r, v, err);
  if (strcasecmp (k, "nats") == 0)
    return take_nats (r, v, err);
  if (strcasecmp (k, "filesystem") == 0)
    return take_filesystem (r, v, err);
  return 0; /* unknown keys are ignored (§0) */
}

static int
check_required (const struct deploy_request *r, struct nxerr *err)
{
  if (r->type == NULL)
    return nxerr_set (err, EPROTO, "Invalid deploy request: type is required");
  if (r->location_bucket == NULL)
    return nxerr_set (err, EPROTO, "Invalid deploy request: location is required");
  if (r->workload_jwt == NULL)
    return nxerr_set (err, EPROTO, "Invalid deploy request: workload_jwt is required");
  if (r->environment == NULL)
    return nxerr_set (err, EPROTO, "Invalid deploy request: environment is required");
  if (r->sender_public_key == NULL)
    return nxerr_set (err, EPROTO, "Invalid deploy request: sender_public_key is required");
  return 0;
}

int
deploy_request_decode (const char *json, size_t len, struct deploy_request **out,
                       struct nxerr *err)
{
  json_error_t jerr;
  json_t *root;
  const char *k;
  json_t *v;
  struct deploy_request *r;
  int rc = 0;
  *out = NULL;
  if (len == 0)
    return nxerr_set (err, EINVAL, "unexpected end of JSON input");
  if (len > DEPLOY_REQUEST_MAX)
    return nxerr_set (err, EINVAL, "request is larger than %d bytes", DEPLOY_REQUEST_MAX);
  root = json_loadb (json, len, 0, &jerr);
  if (root == NULL && json_error_code (&jerr) == json_error_premature_end_of_input)
    return nxerr_set (err, EINVAL, "unexpected end of JSON input"); /* Go's text */
  if (root == NULL)
    return nxerr_set (err, EINVAL, "%s (line %d column %d)", jerr.text, jerr.line, jerr.column);
  if (!json_is_object (root))
    {
      nxerr_set (err, EINVAL,
                 "json: cannot unmarshal %s into Go value of type controlapi.DeployRequest",
                 gojson_type_name (root));
      json_decref (root);
      return -1;
    }
  r = xcalloc (1, sizeof *r);
  json_object_foreach (root, k, v)
  {
    if (take_field (r, k, v, err) < 0)
      {
        rc = -1;
        break;
      }
  }
  json_decref (root);
  if (rc == 0)
    rc = check_required (r, err);
  if (rc < 0)
    {
      deploy_request_free (r);
      return -1;
    }
  if (r->description == NULL)
    r->description = xstrdup ("");
  if (r->jsdomain == NULL)
    r->jsdomain = xstrdup ("");
  if (r->target_node == NULL)
    r->target_node = xstrdup ("");
  if (r->location_key == NULL)
    r->location_key = xstrdup ("");
  *out = r;
  return 0;
}

static void
free_strv (char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

void
deploy_request_free (struct deploy_request *r)
{
  if (r == NULL)
    return;
  free_strv (r->argv, r->argc);
  free (r->description);
  free (r->type);
  free (r->location_scheme);
  free (r->location_bucket);
  free (r->location_key);
  free (r->workload_jwt);
  free (r->environment);
  free (r->jsdomain);
  free (r->sender_public_key);
  free (r->target_node);
  free_strv (r->trigger_subjects, r->n_triggers);
  fs_spec_free (&r->filesystem);
  free (r->retried_at);
  free_strv (r->nats.publish, r->nats.n_publish);
  free_strv (r->nats.subscribe, r->nats.n_subscribe);
  free (r);
}

static void
encode_strv (struct jsonw *w, const char *key, char **v, size_t n)
{
  jsonw_key (w, key);
  jsonw_arr_begin (w);
  for (size_t i = 0; i < n; i++)
    jsonw_str (w, v[i]);
  jsonw_arr_end (w);
}

/* Only when some resource is set: a Go node ignores the key anyway. */
static void
encode_resources (struct jsonw *w, const struct deploy_resources *res)
{
  if (res->memory_mib == 0 && res->vcpus_milli == 0 && res->pids == 0)
    return;
  jsonw_key (w, "resources");
  jsonw_obj_begin (w);
  if (res->memory_mib)
    jsonw_kint (w, "memory_mib", (int64_t) res->memory_mib);
  if (res->vcpus_milli)
    {
      char num[32];
      int len = snprintf (num, sizeof num, "%u.%03u", res->vcpus_milli / 1000,
                          res->vcpus_milli % 1000);
      jsonw_key (w, "vcpus");
      jsonw_raw (w, num, (size_t) len);
    }
  if (res->pids)
    jsonw_kint (w, "pids", (int64_t) res->pids);
  jsonw_obj_end (w);
}

static void
encode_restart (struct jsonw *w, const struct deploy_restart *rs)
{
  static const char *const names[] = { "", "never", "on-failure", "always" };
  if (!rs->present)
    return;
  jsonw_key (w, "restart");
  jsonw_obj_begin (w);
  if (rs->policy != DEPLOY_RESTART_UNSET)
    jsonw_kstr (w, "policy", names[rs->policy]);
  if (rs->max_restarts)
    jsonw_kint (w, "max_restarts", (int64_t) rs->max_restarts);
  if (rs->backoff_ms)
    jsonw_kint (w, "backoff_ms", (int64_t) rs->backoff_ms);
  if (rs->max_backoff_ms)
    jsonw_kint (w, "max_backoff_ms", (int64_t) rs->max_backoff_ms);
  jsonw_obj_end (w);
}

/* Only when a subject is declared; each list only when not empty. */
static void
encode_nats (struct jsonw *w, const struct deploy_nats *nt)
{
  if (nt->n_publish == 0 && nt->n_subscribe == 0)
    return;
  jsonw_key (w, "nats");
  jsonw_obj_begin (w);
  if (nt->n_publish)
    encode_strv (w, "publish", nt->publish, nt->n_publish);
  if (nt->n_subscribe)
    encode_strv (w, "subscribe", nt->subscribe, nt->n_subscribe);
  jsonw_obj_end (w);
}

void
deploy_request_encode (const struct deploy_request *r, struct buf *out)
{
  struct jsonw w;
  cleanup_buf struct buf path = BUF_INIT;
  jsonw_init (&w, out);
  jsonw_obj_begin (&w);
  if (r->argc)
    encode_strv (&w, "argv", r->argv, r->argc);
  jsonw_kstr (&w, "description", r->description ? r->description : "");
  jsonw_kstr (&w, "type", r->type);
  jsonw_key (&w, "location");
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "Scheme", r->location_scheme ? r->location_scheme : "nats");
  jsonw_kstr (&w, "Opaque", "");
  jsonw_key (&w, "User");
  jsonw_null (&w);
  jsonw_kstr (&w, "Host", r->location_bucket);
  buf_printf (&path, "/%s", r->location_key ? r->location_key : "");
  jsonw_kstr (&w, "Path", path.data);
  jsonw_kstr (&w, "RawPath", "");
  jsonw_kbool (&w, "OmitHost", false);
  jsonw_kbool (&w, "ForceQuery", false);
  jsonw_kstr (&w, "RawQuery", "");
  jsonw_kstr (&w, "Fragment", "");
  jsonw_kstr (&w, "RawFragment", "");
  jsonw_obj_end (&w);
  jsonw_kbool (&w, "essential", r->essential);
  jsonw_kstr (&w, "workload_jwt", r->workload_jwt);
  jsonw_kstr (&w, "environment", r->environment);
  jsonw_kstr (&w, "jsdomain", r->jsdomain ? r->jsdomain : "");
  jsonw_kstr (&w, "sender_public_key", r->sender_public_key);
  jsonw_kstr (&w, "target_node", r->target_node ? r->target_node : "");
  if (r->n_triggers)
    encode_strv (&w, "trigger_subjects", r->trigger_subjects, r->n_triggers);
  if (r->retry_count)
    jsonw_kint (&w, "retry_count", (int64_t) r->retry_count);
  if (r->retried_at)
    jsonw_kstr (&w, "retried_at", r->retried_at);
  encode_resources (&w, &r->resources);
  encode_restart (&w, &r->restart);
  if (r->logs_on_full != DEPLOY_LOGS_UNSET)
    {
      jsonw_key (&w, "logs");
      jsonw_obj_begin (&w);
      jsonw_kstr (&w, "on_full", r->logs_on_full == DEPLOY_LOGS_BLOCK ? "block" : "drop_oldest");
      jsonw_obj_end (&w);
    }
  encode_nats (&w, &r->nats);
  fs_spec_encode (&w, &r->filesystem);
  jsonw_obj_end (&w);
}

void
deploy_request_digest (const struct deploy_request *r, char hex[DEPLOY_DIGEST_HEX_LEN])
{
  struct deploy_request unbound = *r; /* shallow: only scalars and pointers change */
  cleanup_buf struct buf b = BUF_INIT;
  unsigned char sha[crypto_hash_sha256_BYTES];
  unbound.workload_jwt = (char *) "";
  unbound.retry_count = 0;
  unbound.retried_at = NULL;
  deploy_request_encode (&unbound, &b);
  crypto_hash_sha256 (sha, (const unsigned char *) b.data, b.len);
  sodium_bin2hex (hex, DEPLOY_DIGEST_HEX_LEN, sha, sizeof sha);
}
