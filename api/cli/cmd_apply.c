/* nexc apply FILE: a deployment spec (schemas/deployment.schema.json) into
 * the deployments bucket, signed. What the file may say beyond the stored
 * form: "artifact":{"file":PATH} (uploaded to the object store as run does,
 * then named by location and sha256) and "env":{K:V} (sealed to the
 * deployments xkey the nodes announce in INFO, never stored in clear). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/b64.h"
#include "api/cli/cli.h"
#include "api/deployment.h"
#include "api/jsonw.h"
#include "api/objstore.h"
#include "api/xkey.h"

/* artifact.file → artifact.location + sha256 (upload as nexc run does). */
static int
upload_file (struct nexc_client *c, json_t *spec, const char *key, struct nxerr *err)
{
  json_t *art = json_object_get (spec, "artifact");
  const char *path = json_string_value (json_object_get (art, "file"));
  struct objstore_opts so = { 0 };
  struct objstore_info info;
  char hex[65], loc[600];
  int fd, rc;
  if (path == NULL)
    return 0;
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return nxerr_sys (err, errno, "artifact.file %s", path);
  memset (&info, 0, sizeof info);
  rc = objstore_put_file (c->nc, NEXC_DEFAULT_BUCKET, key, fd, &so, NULL, NULL, &info, err);
  close (fd);
  if (rc < 0)
    return nxerr_wrap (err, "upload %s", path);
  objstore_digest_hex (info.digest, hex);
  objstore_info_free (&info);
  snprintf (loc, sizeof loc, "nats://%s/%s", NEXC_DEFAULT_BUCKET, key);
  json_object_set_new (spec, "artifact", json_pack ("{s:s,s:s}", "location", loc, "sha256", hex));
  return 0;
}

/* The deployments xkey, from the INFO of the nodes that run deployments. */
static int
deployments_xkey (struct nexc_client *c, char out[NKEY_PUBLIC_LEN + 1], struct nxerr *err)
{
  struct nexc_node *v;
  size_t n = 0;
  int rc = -1;
  if (nexc_nodes_ping (c, 500, &v, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n && rc < 0; i++)
    {
      char *data = NULL;
      json_t *root;
      const char *x;
      struct nxerr e2 = { 0 };
      if (nexc_node_info (c, v[i].node_id, &data, &e2) < 0)
        continue;
      root = json_loads (data, 0, NULL);
      free (data);
      x = json_string_value (json_object_get (
          json_object_get (json_object_get (root, "nexc"), "deployments"), "xkey"));
      if (x && nkey_is_valid_public (x, NKEY_CURVE))
        {
          snprintf (out, NKEY_PUBLIC_LEN + 1, "%s", x);
          rc = 0;
        }
      json_decref (root);
    }
  nexc_nodes_free (v, n);
  if (rc < 0)
    nxerr_set (err, ENOENT,
               "env: no node announces a deployments xkey "
               "(deployments.xkey_seed_file in its config)");
  return rc;
}

/* env {K:V} → environment + sender_public_key, sealed with a fresh key. */
static int
seal_env (struct nexc_client *c, json_t *spec, struct nxerr *err)
{
  json_t *env = json_object_get (spec, "env");
  char xkey[NKEY_PUBLIC_LEN + 1], *plain;
  struct nkey_pair sender;
  cleanup_buf struct buf sealed = BUF_INIT;
  cleanup_buf struct buf b64 = BUF_INIT;
  const char *k;
  json_t *v;
  int rc;
  if (env == NULL)
    return 0;
  if (!json_is_object (env))
    return nxerr_set (err, EINVAL, "env: must be an object of strings");
  json_object_foreach (env, k, v)
  {
    if (!json_is_string (v))
      return nxerr_set (err, EINVAL, "env.%.64s: must be a string", k);
  }
  if (deployments_xkey (c, xkey, err) < 0 || nkey_pair_generate (NKEY_CURVE, &sender, err) < 0)
    return -1;
  plain = json_dumps (env, JSON_COMPACT | JSON_SORT_KEYS);
  rc = xkey_seal (&sender, xkey, plain, strlen (plain), NULL, &sealed, err);
  memset (plain, 0, strlen (plain));
  free (plain);
  if (rc == 0)
    {
      b64_encode (B64_STD, sealed.data, sealed.len, &b64);
      json_object_set_new (spec, "environment", json_string (b64.data));
      json_object_set_new (spec, "sender_public_key", json_string (sender.public_text));
      json_object_del (spec, "env");
    }
  nkey_pair_wipe (&sender);
  return rc;
}

int
cmd_apply (struct opts *o, int argc, char **argv)
{
  struct nexc_client *c;
  struct nxerr err = { 0 };
  struct nkey_pair issuer;
  struct deployment_spec *s = NULL;
  json_error_t jerr;
  json_t *spec;
  char *text = NULL, key[2 * DEPLOYMENT_NAME_MAX + 2];
  cleanup_buf struct buf value = BUF_INIT;
  uint64_t rev = 0;
  int rc;
  if (argc != 1)
    return cli_usage_error ("apply: FILE is required%s", "");
  spec = json_load_file (argv[0], JSON_REJECT_DUPLICATES, &jerr);
  if (spec == NULL || !json_is_object (spec))
    {
      fprintf (stderr, "nexc: apply: %s: %s\n", argv[0], spec ? "not a JSON object" : jerr.text);
      json_decref (spec);
      return EXIT_USAGE;
    }
  if (json_object_get (spec, "namespace") == NULL)
    json_object_set_new (spec, "namespace", json_string (o->ns));
  if (!deployment_name_ok (json_string_value (json_object_get (spec, "name")))
      || !deployment_name_ok (json_string_value (json_object_get (spec, "namespace"))))
    {
      json_decref (spec);
      return cli_usage_error ("apply: name and namespace: [A-Za-z0-9_-], 1..48 characters%s", "");
    }
  deployment_key (json_string_value (json_object_get (spec, "namespace")),
                  json_string_value (json_object_get (spec, "name")), key, sizeof key);
  if (cli_load_issuer (o->issuer, &issuer, true, &err) < 0)
    {
      json_decref (spec);
      return cli_fail (&err);
    }
  if ((rc = cli_connect_client (o, &c)))
    {
      json_decref (spec);
      nkey_pair_wipe (&issuer);
      return rc;
    }
  c->timeout_ms = o->timeout_ms > 5000 ? o->timeout_ms : 5000;
  rc = -1;
  if (upload_file (c, spec, key, &err) == 0 && seal_env (c, spec, &err) == 0
      && (text = json_dumps (spec, JSON_COMPACT)) != NULL
      && deployment_spec_decode (text, strlen (text), &s, &err) == 0
      && deployment_sign (s, &issuer, &value, &err) == 0
      && cli_deployments_put (c, key, value.data, 0, &rev, &err) == 0)
    rc = 0;
  nkey_pair_wipe (&issuer);
  if (rc < 0)
    rc = cli_fail (&err);
  else if (o->json)
    rc = cli_print_json (json_pack ("{s:s,s:I,s:i}", "deployment", key, "revision",
                                    (json_int_t) rev, "replicas", (int) s->replicas));
  else
    printf ("applied %s revision %llu: %u replicas\n", key, (unsigned long long) rev, s->replicas);
  free (text);
  deployment_spec_free (s);
  json_decref (spec);
  nexc_client_free (c);
  return rc;
}
