#include "api/deployment.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/jsonw.h"
#include "api/jwt.h"
#include "api/xalloc.h"

#define STR_MAX 4096
#define ENV_MAX (128 * 1024)

bool
deployment_name_ok (const char *s)
{
  size_t n = s ? strlen (s) : 0;
  if (n == 0 || n > DEPLOYMENT_NAME_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    {
      char c = s[i];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
            || c == '-'))
        return false;
    }
  return true;
}

void
deployment_key (const char *ns, const char *name, char *out, size_t cap)
{
  snprintf (out, cap, "%s.%s", ns, name);
}

/* ---- decode ---- */

static int
take_str (json_t *v, const char *field, size_t max, char **out, struct nxerr *err)
{
  if (!json_is_string (v))
    return nxerr_set (err, EINVAL, "%s: must be a string", field);
  if (json_string_length (v) == 0 || json_string_length (v) > max
      || strlen (json_string_value (v)) != json_string_length (v))
    return nxerr_set (err, EINVAL, "%s: must be 1..%zu bytes without NUL", field, max);
  free (*out);
  *out = xstrdup (json_string_value (v));
  return 0;
}

static int
take_uint (json_t *v, const char *field, uint64_t min, uint64_t max, uint64_t *out,
           struct nxerr *err)
{
  if (!json_is_integer (v) || json_integer_value (v) < 0 || (uint64_t) json_integer_value (v) < min
      || (uint64_t) json_integer_value (v) > max)
    return nxerr_set (err, EINVAL, "%s: must be an integer in [%llu, %llu]", field,
                      (unsigned long long) min, (unsigned long long) max);
  *out = (uint64_t) json_integer_value (v);
  return 0;
}

static int
take_strs (json_t *v, const char *field, size_t max, char ***out, size_t *n, struct nxerr *err)
{
  size_t i;
  json_t *e;
  if (!json_is_array (v) || json_array_size (v) > max)
    return nxerr_set (err, EINVAL, "%s: must be an array of at most %zu strings", field, max);
  *out = xcalloc (json_array_size (v) + 1, sizeof **out);
  *n = 0;
  json_array_foreach (v, i, e)
  {
    char f[64];
    snprintf (f, sizeof f, "%s[%zu]", field, i);
    if (take_str (e, f, STR_MAX, &(*out)[i], err) < 0)
      return -1;
    (*n)++;
  }
  return 0;
}

static bool
hex64 (const char *s)
{
  if (strlen (s) != 64)
    return false;
  for (int i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

static int
decode_artifact (json_t *o, struct deployment_spec *s, struct nxerr *err)
{
  const char *k;
  json_t *v;
  if (!json_is_object (o))
    return nxerr_set (err, EINVAL, "artifact: must be an object");
  json_object_foreach (o, k, v)
  {
    if (strcmp (k, "location") == 0)
      {
        if (take_str (v, "artifact.location", 1024, &s->location, err) < 0)
          return -1;
      }
    else if (strcmp (k, "sha256") == 0)
      {
        if (take_str (v, "artifact.sha256", 64, &s->sha256, err) < 0)
          return -1;
      }
    else if (strcmp (k, "file") == 0)
      return nxerr_set (err, EINVAL,
                        "artifact.file: a local file is uploaded by nexc apply, "
                        "a stored spec names a location and its sha256");
    else
      return nxerr_set (err, EINVAL, "artifact.%.64s: unknown key", k);
  }
  if (s->location == NULL || s->sha256 == NULL)
    return nxerr_set (err, EINVAL, "artifact: location and sha256 are required");
  if (strncmp (s->location, "nats://", 7) != 0 || strchr (s->location + 7, '/') == NULL
      || s->location[7] == '/' || strchr (s->location + 7, '/')[1] == '\0')
    return nxerr_set (err, EINVAL, "artifact.location: nats://bucket/key expected");
  if (!hex64 (s->sha256))
    return nxerr_set (err, EINVAL, "artifact.sha256: 64 lowercase hex digits expected");
  return 0;
}

static int
decode_resources (json_t *o, struct deploy_resources *r, struct nxerr *err)
{
  const char *k;
  json_t *v;
  if (!json_is_object (o))
    return nxerr_set (err, EINVAL, "resources: must be an object");
  json_object_foreach (o, k, v)
  {
    if (strcmp (k, "memory_mib") == 0)
      {
        if (take_uint (v, "resources.memory_mib", DEPLOY_MEMORY_MIB_MIN, DEPLOY_MEMORY_MIB_MAX,
                       &r->memory_mib, err)
            < 0)
          return -1;
      }
    else if (strcmp (k, "pids") == 0)
      {
        if (take_uint (v, "resources.pids", DEPLOY_PIDS_MIN, DEPLOY_PIDS_MAX, &r->pids, err) < 0)
          return -1;
      }
    else if (strcmp (k, "vcpus_milli") == 0)
      {
        uint64_t m = 0;
        if (take_uint (v, "resources.vcpus_milli", DEPLOY_VCPUS_MILLI_MIN, DEPLOY_VCPUS_MILLI_MAX,
                       &m, err)
            < 0)
          return -1;
        r->vcpus_milli = (uint32_t) m;
      }
    else
      return nxerr_set (err, EINVAL,
                        "resources.%.64s: not a resource (memory_mib, vcpus_milli, "
                        "pids)",
                        k);
  }
  return 0;
}

static const char *const restart_names[] = { "", "never", "on-failure", "always" };

static int
decode_restart (json_t *o, struct deploy_restart *r, struct nxerr *err)
{
  const char *k;
  json_t *v;
  if (!json_is_object (o))
    return nxerr_set (err, EINVAL, "restart: must be an object");
  r->present = true;
  json_object_foreach (o, k, v)
  {
    if (strcmp (k, "policy") == 0)
      {
        const char *p = json_string_value (v);
        r->policy = DEPLOY_RESTART_UNSET;
        for (int i = 1; i < 4 && p; i++)
          if (strcmp (p, restart_names[i]) == 0)
            r->policy = (enum deploy_restart_policy) i;
        if (r->policy == DEPLOY_RESTART_UNSET)
          return nxerr_set (err, EINVAL, "restart.policy: never, on-failure or always");
      }
    else if (strcmp (k, "max_restarts") == 0)
      {
        if (take_uint (v, "restart.max_restarts", 0, DEPLOY_RESTART_MAX, &r->max_restarts, err) < 0)
          return -1;
      }
    else if (strcmp (k, "backoff_ms") == 0)
      {
        if (take_uint (v, "restart.backoff_ms", 0, DEPLOY_BACKOFF_MAX_MS, &r->backoff_ms, err) < 0)
          return -1;
      }
    else if (strcmp (k, "max_backoff_ms") == 0)
      {
        if (take_uint (v, "restart.max_backoff_ms", 0, DEPLOY_BACKOFF_MAX_MS, &r->max_backoff_ms,
                       err)
            < 0)
          return -1;
      }
    else
      return nxerr_set (err, EINVAL, "restart.%.64s: unknown key", k);
  }
  return 0;
}

static int
decode_placement (json_t *o, struct deployment_spec *s, struct nxerr *err)
{
  const char *k;
  json_t *v;
  if (!json_is_object (o))
    return nxerr_set (err, EINVAL, "placement: must be an object");
  json_object_foreach (o, k, v)
  {
    if (strcmp (k, "tags") == 0)
      {
        const char *tk;
        json_t *tv;
        if (!json_is_object (v) || json_object_size (v) > DEPLOYMENT_TAGS_MAX)
          return nxerr_set (err, EINVAL, "placement.tags: an object of at most %d strings",
                            DEPLOYMENT_TAGS_MAX);
        s->tag_keys = xcalloc (json_object_size (v) + 1, sizeof *s->tag_keys);
        s->tag_vals = xcalloc (json_object_size (v) + 1, sizeof *s->tag_vals);
        json_object_foreach (v, tk, tv)
        {
          if (strlen (tk) == 0 || strlen (tk) > 256)
            return nxerr_set (err, EINVAL, "placement.tags: a key of 1..256 bytes expected");
          s->tag_keys[s->n_tags] = xstrdup (tk);
          if (take_str (tv, "placement.tags value", 256, &s->tag_vals[s->n_tags], err) < 0)
            {
              s->n_tags++;
              return -1;
            }
          s->n_tags++;
        }
      }
    else if (strcmp (k, "spread") == 0)
      {
        if (take_str (v, "placement.spread", 256, &s->spread, err) < 0)
          return -1;
      }
    else
      return nxerr_set (err, EINVAL, "placement.%.64s: unknown key", k);
  }
  return 0;
}

static int
decode_update (json_t *o, struct deployment_spec *s, struct nxerr *err)
{
  const char *k;
  json_t *v;
  uint64_t x = 0;
  if (!json_is_object (o))
    return nxerr_set (err, EINVAL, "update: must be an object");
  json_object_foreach (o, k, v)
  {
    if (strcmp (k, "max_unavailable") != 0)
      return nxerr_set (err, EINVAL, "update.%.64s: unknown key", k);
    if (take_uint (v, "update.max_unavailable", 1, DEPLOYMENT_REPLICAS_MAX, &x, err) < 0)
      return -1;
    s->max_unavailable = (uint32_t) x;
  }
  return 0;
}

static int
decode_field (const char *k, json_t *v, struct deployment_spec *s, struct nxerr *err)
{
  uint64_t x = 0;
  if (strcmp (k, "name") == 0)
    return take_str (v, "name", DEPLOYMENT_NAME_MAX, &s->name, err);
  if (strcmp (k, "namespace") == 0)
    return take_str (v, "namespace", DEPLOYMENT_NAME_MAX, &s->ns, err);
  if (strcmp (k, "replicas") == 0)
    {
      if (take_uint (v, "replicas", 0, DEPLOYMENT_REPLICAS_MAX, &x, err) < 0)
        return -1;
      s->replicas = (uint32_t) x;
      return 0;
    }
  if (strcmp (k, "artifact") == 0)
    return decode_artifact (v, s, err);
  if (strcmp (k, "argv") == 0)
    return take_strs (v, "argv", DEPLOY_ARGV_MAX, &s->argv, &s->argc, err);
  if (strcmp (k, "environment") == 0)
    return take_str (v, "environment", ENV_MAX, &s->environment, err);
  if (strcmp (k, "sender_public_key") == 0)
    return take_str (v, "sender_public_key", NKEY_PUBLIC_LEN, &s->sender_public_key, err);
  if (strcmp (k, "env") == 0)
    return nxerr_set (err, EINVAL,
                      "env: plain values are sealed by nexc apply; a stored spec "
                      "carries environment and sender_public_key");
  if (strcmp (k, "resources") == 0)
    return decode_resources (v, &s->resources, err);
  if (strcmp (k, "restart") == 0)
    return decode_restart (v, &s->restart, err);
  if (strcmp (k, "type") == 0)
    return take_str (v, "type", 16, &s->type, err);
  if (strcmp (k, "triggers") == 0)
    return take_strs (v, "triggers", DEPLOY_TRIGGERS_MAX, &s->triggers, &s->n_triggers, err);
  if (strcmp (k, "placement") == 0)
    return decode_placement (v, s, err);
  if (strcmp (k, "update") == 0)
    return decode_update (v, s, err);
  return nxerr_set (err, EINVAL, "%.64s: unknown key", k);
}

static int
spec_check (struct deployment_spec *s, struct nxerr *err)
{
  if (s->name == NULL || s->ns == NULL || s->location == NULL)
    return nxerr_set (err, EINVAL, "name, namespace and artifact are required");
  if (!deployment_name_ok (s->name) || !deployment_name_ok (s->ns))
    return nxerr_set (err, EINVAL, "name and namespace: [A-Za-z0-9_-], 1..%d characters",
                      DEPLOYMENT_NAME_MAX);
  if (s->type == NULL)
    s->type = xstrdup ("service");
  if (strcmp (s->type, "service") != 0 && strcmp (s->type, "function") != 0)
    return nxerr_set (err, EINVAL, "type: service or function");
  if ((strcmp (s->type, "function") == 0) != (s->n_triggers > 0))
    return nxerr_set (err, EINVAL, "triggers: required by type function, and only by it");
  if ((s->environment == NULL) != (s->sender_public_key == NULL))
    return nxerr_set (err, EINVAL, "environment and sender_public_key go together");
  if (s->sender_public_key && !nkey_is_valid_public (s->sender_public_key, NKEY_CURVE))
    return nxerr_set (err, EINVAL, "sender_public_key: a public xkey (X...) expected");
  if (s->spread == NULL)
    s->spread = xstrdup ("node");
  if (s->max_unavailable == 0)
    s->max_unavailable = 1;
  return 0;
}

int
deployment_spec_decode (const char *json, size_t len, struct deployment_spec **out,
                        struct nxerr *err)
{
  json_error_t jerr;
  json_t *root, *v;
  const char *k;
  struct deployment_spec *s;
  *out = NULL;
  if (len > DEPLOYMENT_VALUE_MAX)
    return nxerr_set (err, EFBIG, "spec larger than %d bytes", DEPLOYMENT_VALUE_MAX);
  root = json_loadb (json, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    return nxerr_set (err, EINVAL, "spec: invalid JSON: %s", jerr.text);
  if (!json_is_object (root))
    {
      json_decref (root);
      return nxerr_set (err, EINVAL, "spec: must be an object");
    }
  s = xcalloc (1, sizeof *s);
  s->replicas = 1;
  json_object_foreach (root, k, v)
  {
    if (decode_field (k, v, s, err) < 0)
      {
        json_decref (root);
        deployment_spec_free (s);
        return -1;
      }
  }
  json_decref (root);
  if (spec_check (s, err) < 0)
    {
      deployment_spec_free (s);
      return -1;
    }
  *out = s;
  return 0;
}

static void
free_strs (char **v)
{
  if (v == NULL)
    return;
  for (size_t i = 0; v[i]; i++)
    free (v[i]);
  free (v);
}

void
deployment_spec_free (struct deployment_spec *s)
{
  if (s == NULL)
    return;
  free (s->name);
  free (s->ns);
  free (s->location);
  free (s->sha256);
  free_strs (s->argv);
  free (s->environment);
  free (s->sender_public_key);
  free (s->type);
  free_strs (s->triggers);
  free_strs (s->tag_keys);
  free_strs (s->tag_vals);
  free (s->spread);
  free (s);
}

/* ---- encode ---- */

static void
write_strs (struct jsonw *w, const char *key, char **v, size_t n)
{
  jsonw_key (w, key);
  jsonw_arr_begin (w);
  for (size_t i = 0; i < n; i++)
    jsonw_str (w, v[i]);
  jsonw_arr_end (w);
}

/* whole: the spec; else its template (what a replica runs). */
static void
encode (const struct deployment_spec *s, bool whole, struct buf *out)
{
  struct jsonw w;
  jsonw_init (&w, out);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "name", s->name);
  jsonw_kstr (&w, "namespace", s->ns);
  if (whole)
    jsonw_kint (&w, "replicas", s->replicas);
  jsonw_key (&w, "artifact");
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "location", s->location);
  jsonw_kstr (&w, "sha256", s->sha256);
  jsonw_obj_end (&w);
  write_strs (&w, "argv", s->argv, s->argc);
  if (s->environment)
    {
      jsonw_kstr (&w, "environment", s->environment);
      jsonw_kstr (&w, "sender_public_key", s->sender_public_key);
    }
  jsonw_key (&w, "resources");
  jsonw_obj_begin (&w);
  if (s->resources.memory_mib)
    jsonw_kint (&w, "memory_mib", (int64_t) s->resources.memory_mib);
  if (s->resources.vcpus_milli)
    jsonw_kint (&w, "vcpus_milli", s->resources.vcpus_milli);
  if (s->resources.pids)
    jsonw_kint (&w, "pids", (int64_t) s->resources.pids);
  jsonw_obj_end (&w);
  if (s->restart.present)
    {
      jsonw_key (&w, "restart");
      jsonw_obj_begin (&w);
      if (s->restart.policy)
        jsonw_kstr (&w, "policy", restart_names[s->restart.policy]);
      jsonw_kint (&w, "max_restarts", (int64_t) s->restart.max_restarts);
      jsonw_kint (&w, "backoff_ms", (int64_t) s->restart.backoff_ms);
      jsonw_kint (&w, "max_backoff_ms", (int64_t) s->restart.max_backoff_ms);
      jsonw_obj_end (&w);
    }
  jsonw_kstr (&w, "type", s->type);
  if (s->n_triggers)
    write_strs (&w, "triggers", s->triggers, s->n_triggers);
  if (whole)
    {
      jsonw_key (&w, "placement");
      jsonw_obj_begin (&w);
      jsonw_key (&w, "tags");
      jsonw_obj_begin (&w);
      for (size_t i = 0; i < s->n_tags; i++)
        jsonw_kstr (&w, s->tag_keys[i], s->tag_vals[i]);
      jsonw_obj_end (&w);
      jsonw_kstr (&w, "spread", s->spread);
      jsonw_obj_end (&w);
      jsonw_key (&w, "update");
      jsonw_obj_begin (&w);
      jsonw_kint (&w, "max_unavailable", s->max_unavailable);
      jsonw_obj_end (&w);
    }
  jsonw_obj_end (&w);
}

void
deployment_spec_encode (const struct deployment_spec *s, struct buf *out)
{
  encode (s, true, out);
}

static void
sha_hex (const struct buf *b, char hex[65])
{
  unsigned char sha[crypto_hash_sha256_BYTES];
  crypto_hash_sha256 (sha, (const unsigned char *) b->data, b->len);
  sodium_bin2hex (hex, 65, sha, sizeof sha);
}

void
deployment_digest (const struct deployment_spec *s, char hex[65])
{
  cleanup_buf struct buf b = BUF_INIT;
  encode (s, true, &b);
  sha_hex (&b, hex);
}

void
deployment_template (const struct deployment_spec *s, char id[DEPLOYMENT_TEMPLATE_LEN + 1])
{
  cleanup_buf struct buf b = BUF_INIT;
  char hex[65];
  encode (s, false, &b);
  sha_hex (&b, hex);
  memcpy (id, hex, DEPLOYMENT_TEMPLATE_LEN);
  id[DEPLOYMENT_TEMPLATE_LEN] = '\0';
}

/* ---- signature ---- */

int
deployment_sign (const struct deployment_spec *s, const struct nkey_pair *issuer, struct buf *out,
                 struct nxerr *err)
{
  cleanup_buf struct buf spec = BUF_INIT;
  cleanup_buf struct buf jwt = BUF_INIT;
  struct jwt_claims c;
  char key[2 * DEPLOYMENT_NAME_MAX + 2], digest[65];
  struct jsonw w;
  memset (&c, 0, sizeof c);
  deployment_key (s->ns, s->name, key, sizeof key);
  deployment_digest (s, digest);
  c.sub = key;
  c.purpose = (char *) JWT_PURPOSE_DEPLOYMENT;
  c.bind = digest;
  c.hash = s->sha256;
  if (jwt_encode (&c, issuer, &jwt, err) < 0)
    return -1;
  free (c.jti);
  free (c.iss);
  encode (s, true, &spec);
  jsonw_init (&w, out);
  jsonw_obj_begin (&w);
  jsonw_key (&w, "spec");
  jsonw_raw (&w, spec.data, spec.len);
  jsonw_kstr (&w, "jwt", jwt.data);
  jsonw_obj_end (&w);
  return 0;
}

int
deployment_open (const char *value, size_t len, const char *key, struct deployment_spec **out,
                 char issuer[NKEY_PUBLIC_LEN + 1], struct nxerr *err)
{
  json_error_t jerr;
  json_t *root, *spec, *jwt;
  char *text = NULL, want[2 * DEPLOYMENT_NAME_MAX + 2], digest[65];
  struct deployment_spec *s = NULL;
  struct jwt_claims c;
  int rc = -1;
  *out = NULL;
  memset (&c, 0, sizeof c);
  if (len > DEPLOYMENT_VALUE_MAX)
    return nxerr_set (err, EFBIG, "value larger than %d bytes", DEPLOYMENT_VALUE_MAX);
  root = json_loadb (value, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    return nxerr_set (err, EINVAL, "invalid JSON: %s", jerr.text);
  spec = json_object_get (root, "spec");
  jwt = json_object_get (root, "jwt");
  if (!json_is_object (root) || json_object_size (root) != 2 || !json_is_object (spec)
      || !json_is_string (jwt) || json_string_length (jwt) > JWT_MAX_LEN)
    {
      nxerr_set (err, EINVAL, "a stored deployment is {\"spec\":{...},\"jwt\":\"...\"}");
      goto out;
    }
  text = json_dumps (spec, JSON_COMPACT);
  if (text == NULL || deployment_spec_decode (text, strlen (text), &s, err) < 0)
    goto out;
  if (jwt_decode (json_string_value (jwt), &c, err) < 0)
    {
      nxerr_wrap (err, "jwt");
      goto out;
    }
  deployment_key (s->ns, s->name, want, sizeof want);
  deployment_digest (s, digest);
  if (strcmp (want, key) != 0 || c.sub == NULL || strcmp (c.sub, key) != 0)
    nxerr_set (err, EPERM, "the spec or its JWT names another deployment than %s", key);
  else if (c.purpose == NULL || strcmp (c.purpose, JWT_PURPOSE_DEPLOYMENT) != 0)
    nxerr_set (err, EPERM, "the JWT is not a deployment token");
  else if (c.bind == NULL || strcmp (c.bind, digest) != 0)
    nxerr_set (err, EPERM, "the JWT is bound to another spec");
  else if (c.iss == NULL || strlen (c.iss) > NKEY_PUBLIC_LEN)
    nxerr_set (err, EPERM, "the JWT has no issuer");
  else
    {
      snprintf (issuer, NKEY_PUBLIC_LEN + 1, "%s", c.iss);
      s->signed_at = c.iat;
      *out = s;
      s = NULL;
      rc = 0;
    }
out:
  free (text);
  json_decref (root);
  deployment_spec_free (s);
  jwt_claims_free (&c);
  return rc;
}

/* ---- claims ---- */

void
deployment_claim_encode (const struct deployment_claim *c, struct buf *out)
{
  struct jsonw w;
  jsonw_init (&w, out);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "node", c->node);
  jsonw_kint (&w, "expires_ms", c->expires_ms);
  if (c->template[0])
    jsonw_kstr (&w, "template", c->template);
  jsonw_kbool (&w, "running", c->running);
  if (c->failed)
    jsonw_kbool (&w, "failed", true);
  if (c->n_tags)
    {
      jsonw_key (&w, "tags");
      jsonw_obj_begin (&w);
      for (size_t i = 0; i < c->n_tags; i++)
        jsonw_kstr (&w, c->tag_keys[i], c->tag_vals[i]);
      jsonw_obj_end (&w);
    }
  jsonw_obj_end (&w);
}

int
deployment_claim_decode (const char *json, size_t len, struct deployment_claim *c,
                         struct nxerr *err)
{
  json_error_t jerr;
  json_t *root, *v;
  const char *node, *tpl, *k;
  memset (c, 0, sizeof *c);
  if (len > 64 * 1024)
    return nxerr_set (err, EFBIG, "claim larger than 64 KiB");
  root = json_loadb (json, len, 0, &jerr);
  if (root == NULL || !json_is_object (root))
    {
      json_decref (root);
      return nxerr_set (err, EINVAL, "claim: not a JSON object");
    }
  node = json_string_value (json_object_get (root, "node"));
  tpl = json_string_value (json_object_get (root, "template"));
  v = json_object_get (root, "expires_ms");
  if (node == NULL || strlen (node) > NKEY_PUBLIC_LEN || !json_is_integer (v)
      || (tpl && strlen (tpl) > DEPLOYMENT_TEMPLATE_LEN))
    {
      json_decref (root);
      return nxerr_set (err, EINVAL, "claim: node and expires_ms expected");
    }
  snprintf (c->node, sizeof c->node, "%s", node);
  snprintf (c->template, sizeof c->template, "%s", tpl ? tpl : "");
  c->expires_ms = json_integer_value (v);
  c->running = json_is_true (json_object_get (root, "running"));
  c->failed = json_is_true (json_object_get (root, "failed"));
  v = json_object_get (root, "tags");
  if (json_is_object (v) && json_object_size (v) <= 64)
    {
      json_t *e;
      c->tag_keys = xcalloc (json_object_size (v) + 1, sizeof *c->tag_keys);
      c->tag_vals = xcalloc (json_object_size (v) + 1, sizeof *c->tag_vals);
      json_object_foreach (v, k, e)
      {
        if (!json_is_string (e))
          continue;
        c->tag_keys[c->n_tags] = xstrdup (k);
        c->tag_vals[c->n_tags] = xstrdup (json_string_value (e));
        c->n_tags++;
      }
    }
  json_decref (root);
  return 0;
}

void
deployment_claim_free (struct deployment_claim *c)
{
  free_strs (c->tag_keys);
  free_strs (c->tag_vals);
  c->tag_keys = c->tag_vals = NULL;
  c->n_tags = 0;
}

bool
deployment_slot_key_parse (const char *key, char *dep, size_t cap, uint32_t *slot)
{
  const char *last;
  char *end;
  unsigned long v;
  if (strncmp (key, "slot.", 5) != 0)
    return false;
  last = strrchr (key + 5, '.');
  if (last == NULL || last == key + 5 || (size_t) (last - (key + 5)) >= cap)
    return false;
  v = strtoul (last + 1, &end, 10);
  if (*end || end == last + 1 || v >= DEPLOYMENT_REPLICAS_MAX)
    return false;
  memcpy (dep, key + 5, (size_t) (last - (key + 5)));
  dep[last - (key + 5)] = '\0';
  *slot = (uint32_t) v;
  return true;
}
