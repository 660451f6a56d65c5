#include "node/workload/env.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/b64.h"
#include "api/deploy_request.h"
#include "api/xalloc.h"
#include "api/xkey.h"
#include "node/core/node.h"

#define ENV_MAX_VARS 1024

int
env_open (struct node *n, const struct deploy_request *req, struct env *e, struct nxerr *err)
{
  cleanup_buf struct buf sealed = BUF_INIT;
  struct buf plain = BUF_INIT;
  json_t *root;
  json_error_t jerr;
  const char *k;
  json_t *v;
  int rc = 0;

  if (b64_decode (B64_STD, req->environment, strlen (req->environment), &sealed, err) < 0)
    return -1;
  if (xkey_open_cached (&n->id.xkey_peers, &n->id.xkey, req->sender_public_key, sealed.data,
                        sealed.len, &plain, err)
      < 0)
    {
      /* xkey_open may have reserved room before it failed. */
      buf_free (&plain);
      return -1;
    }
  root = json_loadb (plain.data ? plain.data : "", plain.len, JSON_DECODE_ANY, &jerr);
  if (plain.data)
    sodium_memzero (plain.data, plain.len);
  buf_free (&plain);
  if (root == NULL)
    return nxerr_set (err, EINVAL, "invalid environment JSON: %s", jerr.text);
  if (json_is_null (root))
    {
      json_decref (root);
      return 0;
    }
  if (!json_is_object (root))
    {
      json_decref (root);
      return nxerr_set (err, EINVAL,
                        "json: cannot unmarshal non-object into Go value of type map[string]string");
    }
  if (json_object_size (root) > ENV_MAX_VARS)
    {
      json_decref (root);
      return nxerr_set (err, E2BIG, "environment has more than %d variables", ENV_MAX_VARS);
    }
  e->kv = xcalloc (2 * json_object_size (root) + 1, sizeof *e->kv);
  json_object_foreach (root, k, v)
  {
    char *key;
    if (!json_is_string (v))
      {
        rc = nxerr_set (err, EINVAL,
                        "json: cannot unmarshal non-string into Go value of type string");
        break;
      }
    if (*k == '\0' || strchr (k, '=') || strlen (json_string_value (v)) != json_string_length (v))
      {
        rc = nxerr_set (err, EINVAL, "environment variable names must be non-empty, without '='");
        break;
      }
    /* Native workloads get every key upper-cased (§2.5). */
    key = xstrdup (k);
    for (char *p = key; *p; p++)
      *p = (char) toupper ((unsigned char) *p);
    e->kv[2 * e->n] = key;
    e->kv[2 * e->n + 1] = xstrdup (json_string_value (v));
    e->n++;
  }
  json_decref (root);
  return rc;
}

void
env_add (struct env *e, const char *key, const char *value)
{
  e->kv = xrealloc (e->kv, (2 * (e->n + 1) + 1) * sizeof *e->kv);
  e->kv[2 * e->n] = xstrdup (key);
  e->kv[2 * e->n + 1] = xstrdup (value);
  e->n++;
  e->kv[2 * e->n] = NULL;
}

void
env_wipe (struct env *e)
{
  for (size_t i = 0; i < 2 * e->n; i++)
    {
      sodium_memzero (e->kv[i], strlen (e->kv[i]));
      free (e->kv[i]);
    }
  free (e->kv);
  e->kv = NULL;
  e->n = 0;
}
