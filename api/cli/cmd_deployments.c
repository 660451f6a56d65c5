/* nexc deployments ls|rm, nexc scale: the deployments bucket read and
 * written from the CLI (api/deployment.h has the formats). ls reads both
 * buckets: the desired count from the spec, the running replicas and their
 * nodes from the live claims. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/cli/cli.h"
#include "api/deployment.h"
#include "api/jsonw.h"
#include "api/subfree.h"

/* A claim counts while its lease runs, with the nodes' default skew. */
#define CLI_SKEW_MS 500

struct kv_item {
  char *key, *value;
  size_t len;
  uint64_t rev;
};

struct kv_list {
  struct kv_item *v;
  size_t n;
};

static void
kv_list_free (struct kv_list *l)
{
  for (size_t i = 0; i < l->n; i++)
    {
      free (l->v[i].key);
      free (l->v[i].value);
    }
  free (l->v);
}

static int
nats_fail (struct nxerr *err, natsStatus s, const char *what)
{
  const char *why = nats_GetLastError (NULL);
  return nxerr_set (err, s == NATS_TIMEOUT ? ETIMEDOUT : EIO, "%s: %s", what,
                    why && *why ? why : natsStatus_GetText (s));
}

static int
open_bucket (struct nexc_client *c, const char *name, bool create, kvStore **kv, jsCtx **js,
             struct nxerr *err)
{
  jsOptions o;
  natsStatus s;
  jsOptions_Init (&o);
  o.Wait = c->timeout_ms;
  if ((s = natsConnection_JetStream (js, c->nc, &o)) != NATS_OK)
    return nats_fail (err, s, "JetStream");
  s = js_KeyValue (kv, *js, name);
  if (s != NATS_OK && create)
    {
      kvConfig k;
      kvConfig_Init (&k);
      k.Bucket = name;
      k.History = 5;
      k.MaxValueSize = DEPLOYMENT_VALUE_MAX;
      k.StorageType = js_FileStorage;
      k.Replicas = 3;
      s = js_CreateKeyValue (kv, *js, &k);
      if (s != NATS_OK)
        {
          k.Replicas = 1;
          s = js_CreateKeyValue (kv, *js, &k);
        }
    }
  if (s != NATS_OK)
    {
      jsCtx_Destroy (*js);
      *js = NULL;
      return nats_fail (err, s, name);
    }
  return 0;
}

int
cli_deployments_put (struct nexc_client *c, const char *key, const char *value, uint64_t last,
                     uint64_t *rev, struct nxerr *err)
{
  kvStore *kv = NULL;
  jsCtx *js = NULL;
  natsStatus s;
  if (open_bucket (c, DEPLOYMENT_BUCKET_DEFAULT, true, &kv, &js, err) < 0)
    return -1;
  if (last)
    s = kvStore_UpdateString (rev, kv, key, value, last);
  else
    s = kvStore_PutString (rev, kv, key, value);
  kvStore_Destroy (kv);
  jsCtx_Destroy (js);
  if (s != NATS_OK)
    return nats_fail (err, s, last ? "update (changed meanwhile? try again)" : "put");
  return 0;
}

/* Every live key of a bucket with its value (a watch until the initial
 * values are in). */
static int
read_bucket (struct nexc_client *c, const char *name, struct kv_list *out, struct nxerr *err)
{
  kvStore *kv = NULL;
  jsCtx *js = NULL;
  kvWatcher *w = NULL;
  kvWatchOptions wo;
  natsStatus s;
  memset (out, 0, sizeof *out);
  if (open_bucket (c, name, false, &kv, &js, err) < 0)
    return -1;
  kvWatchOptions_Init (&wo);
  wo.IgnoreDeletes = true;
  s = kvStore_WatchAll (&w, kv, &wo);
  while (s == NATS_OK)
    {
      kvEntry *e = NULL;
      s = kvWatcher_Next (&e, w, c->timeout_ms);
      if (s != NATS_OK || e == NULL)
        break;
      if (kvEntry_Operation (e) == kvOp_Put && out->n < 8192)
        {
          struct kv_item *it;
          out->v = realloc (out->v, (out->n + 1) * sizeof *out->v);
          it = &out->v[out->n++];
          it->key = strdup (kvEntry_Key (e));
          it->len = (size_t) kvEntry_ValueLen (e);
          it->value = malloc (it->len + 1);
          memcpy (it->value, kvEntry_Value (e), it->len);
          it->value[it->len] = '\0';
          it->rev = kvEntry_Revision (e);
        }
      kvEntry_Destroy (e);
    }
  subfree_watcher (c->nc, w);
  kvStore_Destroy (kv);
  jsCtx_Destroy (js);
  if (s != NATS_OK)
    {
      kv_list_free (out);
      return nats_fail (err, s, name);
    }
  return 0;
}

static int64_t
wall_ms (void)
{
  struct timespec t;
  clock_gettime (CLOCK_REALTIME, &t);
  return (int64_t) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void
print_one (const struct opts *o, const char *key, const struct deployment_spec *s,
           const char *problem, const struct kv_list *claims)
{
  int64_t now = wall_ms ();
  uint32_t running = 0, held = 0;
  json_t *nodes = json_array ();
  for (size_t i = 0; i < claims->n; i++)
    {
      char dep[2 * DEPLOYMENT_NAME_MAX + 2];
      uint32_t slot;
      struct deployment_claim cl;
      struct nxerr err = { 0 };
      if (!deployment_slot_key_parse (claims->v[i].key, dep, sizeof dep, &slot)
          || strcmp (dep, key) != 0
          || deployment_claim_decode (claims->v[i].value, claims->v[i].len, &cl, &err) < 0)
        continue;
      if (cl.node[0] && now <= cl.expires_ms + CLI_SKEW_MS && (!s || slot < s->replicas))
        {
          held++;
          if (cl.running)
            {
              running++;
              json_array_append_new (nodes, json_pack ("{s:i,s:s,s:s}", "slot", (int) slot, "node",
                                                       cl.node, "template", cl.template));
            }
        }
      deployment_claim_free (&cl);
    }
  if (o->json)
    {
      json_t *j = json_pack ("{s:s,s:i,s:i,s:i,s:o}", "deployment", key, "desired",
                             s ? (int) s->replicas : 0, "running", (int) running, "claimed",
                             (int) held, "replicas", nodes);
      if (problem)
        json_object_set_new (j, "error", json_string (problem));
      if (s && !problem)
        {
          /* What every replica runs once its rollout is over. */
          char tpl[DEPLOYMENT_TEMPLATE_LEN + 1];
          deployment_template (s, tpl);
          json_object_set_new (j, "template", json_string (tpl));
        }
      cli_print_json (j);
      return;
    }
  printf ("%-32s %7u %7u  ", key, s ? s->replicas : 0, running);
  if (problem)
    printf ("(invalid: %s)", problem);
  for (size_t i = 0; i < json_array_size (nodes); i++)
    {
      json_t *r = json_array_get (nodes, i);
      printf ("%s%lld:%.8s", i ? " " : "",
              (long long) json_integer_value (json_object_get (r, "slot")),
              json_string_value (json_object_get (r, "node")));
    }
  printf ("\n");
  json_decref (nodes);
}

static int
deployments_ls (struct opts *o, struct nexc_client *c)
{
  struct kv_list specs, claims = { 0 };
  struct nxerr err = { 0 };
  if (read_bucket (c, DEPLOYMENT_BUCKET_DEFAULT, &specs, &err) < 0)
    return cli_fail (&err);
  if (read_bucket (c, DEPLOYMENT_CLAIMS_BUCKET_DEFAULT, &claims, &err) < 0)
    memset (&claims, 0, sizeof claims); /* no node has claimed anything yet */
  if (!o->json)
    printf ("%-32s %7s %7s  %s\n", "DEPLOYMENT", "DESIRED", "RUNNING", "WHERE (slot:node)");
  for (size_t i = 0; i < specs.n; i++)
    {
      struct deployment_spec *s = NULL;
      char issuer[NKEY_PUBLIC_LEN + 1];
      struct nxerr e2 = { 0 };
      deployment_open (specs.v[i].value, specs.v[i].len, specs.v[i].key, &s, issuer, &e2);
      print_one (o, specs.v[i].key, s, s ? NULL : e2.msg, &claims);
      deployment_spec_free (s);
    }
  kv_list_free (&specs);
  kv_list_free (&claims);
  return 0;
}

static int
get_spec (struct nexc_client *c, const char *key, struct deployment_spec **s, uint64_t *rev,
          struct nxerr *err)
{
  kvStore *kv = NULL;
  jsCtx *js = NULL;
  kvEntry *e = NULL;
  natsStatus st;
  char issuer[NKEY_PUBLIC_LEN + 1];
  int rc;
  if (open_bucket (c, DEPLOYMENT_BUCKET_DEFAULT, false, &kv, &js, err) < 0)
    return -1;
  st = kvStore_Get (&e, kv, key);
  if (st != NATS_OK)
    rc = st == NATS_NOT_FOUND ? nxerr_set (err, ENOENT, "no deployment %s", key)
                              : nats_fail (err, st, key);
  else
    {
      *rev = kvEntry_Revision (e);
      rc = deployment_open (kvEntry_Value (e), (size_t) kvEntry_ValueLen (e), key, s, issuer, err);
    }
  kvEntry_Destroy (e);
  kvStore_Destroy (kv);
  jsCtx_Destroy (js);
  return rc;
}

static int
deployments_scale (struct opts *o, struct nexc_client *c, const char *name, const char *count)
{
  struct deployment_spec *s = NULL;
  struct nkey_pair issuer;
  struct nxerr err = { 0 };
  cleanup_buf struct buf value = BUF_INIT;
  char key[2 * DEPLOYMENT_NAME_MAX + 2], *end;
  uint64_t rev = 0, nrev = 0;
  long n = strtol (count, &end, 10);
  int rc = -1;
  if (*end || end == count || n < 0 || n > DEPLOYMENT_REPLICAS_MAX)
    return cli_usage_error ("scale: N must be 0..64, not \"%s\"", count);
  deployment_key (o->ns, name, key, sizeof key);
  if (cli_load_issuer (o->issuer, &issuer, false, &err) < 0)
    return cli_fail (&err);
  if (get_spec (c, key, &s, &rev, &err) == 0)
    {
      s->replicas = (uint32_t) n;
      /* Only if nobody changed it meanwhile (compare-and-set). */
      if (deployment_sign (s, &issuer, &value, &err) == 0
          && cli_deployments_put (c, key, value.data, rev, &nrev, &err) == 0)
        rc = 0;
    }
  nkey_pair_wipe (&issuer);
  deployment_spec_free (s);
  if (rc < 0)
    return cli_fail (&err);
  if (o->json)
    return cli_print_json (json_pack ("{s:s,s:I,s:i}", "deployment", key, "revision",
                                      (json_int_t) nrev, "replicas", (int) n));
  printf ("scaled %s to %ld replicas (revision %llu)\n", key, n, (unsigned long long) nrev);
  return 0;
}

static int
deployments_rm (struct opts *o, struct nexc_client *c, const char *name)
{
  kvStore *kv = NULL;
  jsCtx *js = NULL;
  kvEntry *e = NULL;
  struct nxerr err = { 0 };
  char key[2 * DEPLOYMENT_NAME_MAX + 2];
  natsStatus s;
  deployment_key (o->ns, name, key, sizeof key);
  if (open_bucket (c, DEPLOYMENT_BUCKET_DEFAULT, false, &kv, &js, &err) < 0)
    return cli_fail (&err);
  s = kvStore_Get (&e, kv, key);
  kvEntry_Destroy (e);
  if (s == NATS_OK)
    s = kvStore_Delete (kv, key);
  kvStore_Destroy (kv);
  jsCtx_Destroy (js);
  if (s == NATS_NOT_FOUND)
    {
      nxerr_set (&err, ENOENT, "no deployment %s", key);
      return cli_fail (&err);
    }
  if (s != NATS_OK)
    {
      nats_fail (&err, s, key);
      return cli_fail (&err);
    }
  if (o->json)
    return cli_print_json (json_pack ("{s:s,s:b}", "deployment", key, "removed", 1));
  printf ("removed %s\n", key);
  return 0;
}

int
cmd_deployments (struct opts *o, int argc, char **argv)
{
  struct nexc_client *c;
  int rc;
  if (argc < 1 || (strcmp (argv[0], "ls") != 0 && strcmp (argv[0], "rm") != 0)
      || (strcmp (argv[0], "rm") == 0 && argc != 2) || (strcmp (argv[0], "ls") == 0 && argc != 1))
    return cli_usage_error ("deployments: ls, or rm NAME%s", "");
  if ((rc = cli_connect_client (o, &c)))
    return rc;
  rc = strcmp (argv[0], "ls") == 0 ? deployments_ls (o, c) : deployments_rm (o, c, argv[1]);
  nexc_client_free (c);
  return rc;
}

int
cmd_scale_deployment (struct opts *o, int argc, char **argv)
{
  struct nexc_client *c;
  int rc;
  if (argc != 2)
    return cli_usage_error ("scale: NAME N%s", "");
  if ((rc = cli_connect_client (o, &c)))
    return rc;
  rc = deployments_scale (o, c, argv[0], argv[1]);
  nexc_client_free (c);
  return rc;
}
