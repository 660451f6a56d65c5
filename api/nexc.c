#include "api/nexc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/b64.h"
#include "api/deploy_request.h"
#include "api/evsig.h"
#include "api/jsonw.h"
#include "api/jwt.h"
#include "api/objstore.h"
#include "api/subfree.h"
#include "api/subjects.h"
#include "api/xalloc.h"
#include "api/xkey.h"

/* Nodes refuse a JWT they have seen (replay protection), and a JWT is a
 * pure function of its claims: two deploys of one workload in the same second
 * would mint the same token. So every token this library mints carries a
 * random `name` claim (a standard claim Nex ignores; it enters the jti), and
 * its iat is the real time: no clock drift however fast a client goes. */
static void
unique_name (char out[25])
{
  uint8_t r[12];
  randombytes_buf (r, sizeof r);
  for (int i = 0; i < 12; i++)
    snprintf (out + 2 * i, 3, "%02x", r[i]);
}

static int
nats_err (struct nxerr *err, natsStatus s, const char *what)
{
  if (s == NATS_TIMEOUT)
    return nxerr_set (err, ETIMEDOUT, "%s: timeout", what);
  if (s == NATS_NO_RESPONDERS)
    return nxerr_set (err, EHOSTUNREACH, "%s: no responders", what);
  return nxerr_set (err, EIO, "%s: %s", what, natsStatus_GetText (s));
}

static struct nexc_client *
client_new (void)
{
  struct nexc_client *c = xcalloc (1, sizeof *c);
  snprintf (c->ns, sizeof c->ns, "default");
  c->timeout_ms = 2000;
  return c;
}

int
nexc_client_connect (struct nexc_client **out, const char *servers,
                     const struct nexc_conn_opts *o, struct nxerr *err)
{
  natsOptions *opts = NULL;
  natsStatus s;
  struct nexc_client *c;
  const char *list[32];
  int n = 0;
  char *copy = xstrdup (servers && *servers ? servers : "nats://127.0.0.1:4222");
  char *save = NULL;
  for (char *t = strtok_r (copy, ",", &save); t && n < 32; t = strtok_r (NULL, ",", &save))
    list[n++] = t;
  s = natsOptions_Create (&opts);
  if (s == NATS_OK)
    s = natsOptions_SetServers (opts, list, n);
  if (s == NATS_OK)
    s = natsOptions_SetSendAsap (opts, true);
  if (s == NATS_OK)
    s = natsOptions_SetTimeout (opts, 3000);
  if (s == NATS_OK)
    s = natsOptions_SetName (opts, "nexc");
  if (s == NATS_OK && o && nexc_nats_auth (opts, o, err) < 0)
    {
      natsOptions_Destroy (opts);
      free (copy);
      return -1;
    }
  c = client_new ();
  if (s == NATS_OK)
    s = natsConnection_Connect (&c->nc, opts);
  natsOptions_Destroy (opts);
  free (copy);
  if (s != NATS_OK)
    {
      free (c);
      return nats_err (err, s, "connect to NATS");
    }
  c->own_nc = true;
  *out = c;
  return 0;
}

#define SECRET_MAX 4096

/* The first line of path (a password or token file), into out. */
static int
read_secret (const char *path, char out[SECRET_MAX + 1], struct nxerr *err)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n;
  if (fd < 0)
    return nxerr_sys (err, errno, "open %s", path);
  n = read (fd, out, SECRET_MAX + 1);
  close (fd);
  if (n < 0)
    return nxerr_sys (err, errno, "read %s", path);
  if (n > SECRET_MAX)
    {
      sodium_memzero (out, SECRET_MAX + 1);
      return nxerr_set (err, EFBIG, "%s: longer than %d bytes", path, SECRET_MAX);
    }
  out[n] = '\0';
  out[strcspn (out, "\r\n")] = '\0';
  if (out[0] == '\0')
    return nxerr_set (err, EINVAL, "%s: empty", path);
  return 0;
}

/* user/password and token, each from o or its file; secrets read from a
 * file are wiped once nats.c has its copy. */
static int
set_user_token (natsOptions *opts, const struct nexc_conn_opts *o, struct nxerr *err)
{
  char secret[SECRET_MAX + 1];
  natsStatus s = NATS_OK;
  if (o->user)
    {
      const char *pw = o->password ? o->password : "";
      if (o->password_file)
        {
          if (read_secret (o->password_file, secret, err) < 0)
            return -1;
          pw = secret;
        }
      s = natsOptions_SetUserInfo (opts, o->user, pw);
      sodium_memzero (secret, sizeof secret);
    }
  if (s == NATS_OK && (o->token || o->token_file))
    {
      const char *tok = o->token;
      if (o->token_file)
        {
          if (read_secret (o->token_file, secret, err) < 0)
            return -1;
          tok = secret;
        }
      s = natsOptions_SetToken (opts, tok);
      sodium_memzero (secret, sizeof secret);
    }
  if (s != NATS_OK)
    return nxerr_set (err, EINVAL, "NATS authentication settings: %s", natsStatus_GetText (s));
  return 0;
}

int
nexc_nats_auth (natsOptions *opts, const struct nexc_conn_opts *o, struct nxerr *err)
{
  natsStatus s = NATS_OK;
  if (o->creds)
    s = natsOptions_SetUserCredentialsFromFiles (opts, o->creds, NULL);
  if (s == NATS_OK && o->nkey_seed)
    {
      struct nkey_pair kp;
      if (nkey_pair_from_file (o->nkey_seed, &kp, err) < 0)
        return -1;
      /* nats.c signs the server's nonce with the seed it reads from the file. */
      s = natsOptions_SetNKeyFromSeed (opts, kp.public_text, o->nkey_seed);
      nkey_pair_wipe (&kp);
    }
  if (s == NATS_OK && set_user_token (opts, o, err) < 0)
    return -1;
  if (s == NATS_OK && o->tlsca)
    s = natsOptions_LoadCATrustedCertificates (opts, o->tlsca);
  if (s == NATS_OK && o->tlscert)
    s = natsOptions_LoadCertificatesChain (opts, o->tlscert, o->tlskey);
  if (s != NATS_OK)
    return nxerr_set (err, EINVAL, "NATS authentication settings: %s", natsStatus_GetText (s));
  return 0;
}

int
nexc_client_wrap (struct nexc_client **out, natsConnection *nc, struct nxerr *err)
{
  struct nexc_client *c;
  if (nc == NULL)
    return nxerr_set (err, EINVAL, "no connection");
  c = client_new ();
  c->nc = nc;
  *out = c;
  return 0;
}

void
nexc_client_free (struct nexc_client *c)
{
  if (c == NULL)
    return;
  if (c->own_nc)
    natsConnection_Destroy (c->nc);
  free (c);
}

int
nexc_request (struct nexc_client *c, const char *subject, const char *payload, size_t len,
              char **data_json, struct nxerr *err)
{
  natsMsg *reply = NULL;
  natsStatus s = natsConnection_Request (&reply, c->nc, subject, payload, (int) len,
                                         c->timeout_ms);
  json_t *root, *e, *d;
  json_error_t jerr;
  if (s != NATS_OK)
    return nats_err (err, s, subject);
  root = json_loadb (natsMsg_GetData (reply), (size_t) natsMsg_GetDataLength (reply), 0, &jerr);
  natsMsg_Destroy (reply);
  if (root == NULL || !json_is_object (root))
    {
      json_decref (root);
      return nxerr_set (err, EPROTO, "%s: reply is not a JSON envelope", subject);
    }
  e = json_object_get (root, "error");
  if (json_is_string (e))
    {
      nxerr_set (err, EPERM, "%s", json_string_value (e));
      json_decref (root);
      return -1;
    }
  d = json_object_get (root, "data");
  if (data_json)
    *data_json = d ? json_dumps (d, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)
                   : xstrdup ("null");
  json_decref (root);
  return 0;
}

/* ---- nodes ---- */

static char *
jstr (json_t *o, const char *k)
{
  json_t *v = json_object_get (o, k);
  return xstrdup (json_is_string (v) ? json_string_value (v) : "");
}

void
nexc_nodes_free (struct nexc_node *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (v[i].node_id);
      free (v[i].version);
      free (v[i].uptime);
      free (v[i].target_xkey);
      free (v[i].tags_json);
      free (v[i].name);
    }
  free (v);
}

/* Broadcast a request and collect every node's reply for wait_ms. */
static int
collect_nodes (struct nexc_client *c, const char *subject, const char *payload, int64_t wait_ms,
               struct nexc_node **out, size_t *n, struct nxerr *err)
{
  char inbox[128];
  natsInbox *ib = NULL;
  natsSubscription *sub = NULL;
  natsStatus s;
  int64_t deadline;
  *out = NULL;
  *n = 0;
  s = natsInbox_Create (&ib);
  if (s == NATS_OK)
    {
      snprintf (inbox, sizeof inbox, "%s", (const char *) ib);
      natsInbox_Destroy (ib);
      s = natsConnection_SubscribeSync (&sub, c->nc, inbox);
    }
  if (s == NATS_OK)
    s = natsConnection_PublishRequestString (c->nc, subject, inbox, payload);
  if (s != NATS_OK)
    {
      subfree (c->nc, sub);
      return nats_err (err, s, subject);
    }
  deadline = nats_Now () + wait_ms;
  for (;;)
    {
      natsMsg *m = NULL;
      int64_t left = deadline - nats_Now ();
      json_t *root, *d;
      if (left <= 0 || natsSubscription_NextMsg (&m, sub, left) != NATS_OK)
        break;
      root = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
      natsMsg_Destroy (m);
      d = root ? json_object_get (root, "data") : NULL;
      if (json_is_object (d)) /* unparseable replies are dropped, as Go does */
        {
          struct nexc_node *nd;
          json_t *tags = json_object_get (d, "tags");
          *out = xrealloc (*out, (*n + 1) * sizeof **out);
          nd = &(*out)[(*n)++];
          nd->node_id = jstr (d, "node_id");
          nd->version = jstr (d, "version");
          nd->uptime = jstr (d, "uptime");
          nd->target_xkey = jstr (d, "target_xkey");
          nd->tags_json = tags ? json_dumps (tags, JSON_COMPACT | JSON_SORT_KEYS) : xstrdup ("{}");
          nd->name = jstr (tags, "node_name");
          nd->running = json_integer_value (json_object_get (d, "running_machines"));
          json_t *cap = json_object_get (d, "capacity");
          nd->warm_agents = json_integer_value (json_object_get (cap, "warm_agents"));
          nd->memory_available_kb
              = json_integer_value (json_object_get (cap, "memory_available_kb"));
        }
      json_decref (root);
    }
  subfree (c->nc, sub);
  return 0;
}

int
nexc_nodes_ping (struct nexc_client *c, int64_t wait_ms, struct nexc_node **out, size_t *n,
                 struct nxerr *err)
{
  return collect_nodes (c, NEX_SUBJ_PING, "", wait_ms, out, n, err);
}

int
nexc_auction (struct nexc_client *c, const char *request_json, int64_t wait_ms,
              struct nexc_node **out, size_t *n, struct nxerr *err)
{
  return collect_nodes (c, NEX_SUBJ_AUCTION, request_json ? request_json : "", wait_ms, out, n,
                        err);
}

size_t
nexc_best_bid (const struct nexc_node *v, size_t n)
{
  size_t best = SIZE_MAX;
  for (size_t i = 0; i < n; i++)
    {
      const struct nexc_node *a = &v[i];
      if (best == SIZE_MAX)
        {
          best = i;
          continue;
        }
      const struct nexc_node *b = &v[best];
      /* A warm agent means a ~1 ms start; then the least loaded; then memory. */
      if ((a->warm_agents > 0) != (b->warm_agents > 0) ? a->warm_agents > 0
          : a->running != b->running                   ? a->running < b->running
                                                       : a->memory_available_kb > b->memory_available_kb)
        best = i;
    }
  return best;
}

int
nexc_node_info (struct nexc_client *c, const char *node_id, char **data_json, struct nxerr *err)
{
  char subj[256];
  snprintf (subj, sizeof subj, "$NEX.INFO.%s.%s", c->ns, node_id);
  return nexc_request (c, subj, "", 0, data_json, err);
}

int
nexc_node_xkey (struct nexc_client *c, const char *node_id, char out[NKEY_PUBLIC_LEN + 1],
                struct nxerr *err)
{
  char *data = NULL;
  json_t *root;
  const char *x;
  if (nexc_node_info (c, node_id, &data, err) < 0)
    return nxerr_wrap (err, "info of node %s", node_id);
  root = json_loads (data, 0, NULL);
  free (data);
  x = json_string_value (json_object_get (root, "public_xkey"));
  if (x == NULL || !nkey_is_valid_public (x, NKEY_CURVE))
    {
      json_decref (root);
      return nxerr_set (err, EPROTO, "node %s has no valid public_xkey in INFO", node_id);
    }
  snprintf (out, NKEY_PUBLIC_LEN + 1, "%s", x);
  json_decref (root);
  return 0;
}

/* ---- deploy ---- */

static int
seal_vars (const char *const *env, const struct nkey_pair *sender, const char *xkey,
           struct buf *b64out, struct nxerr *err)
{
  cleanup_buf struct buf plain = BUF_INIT;
  cleanup_buf struct buf sealed = BUF_INIT;
  struct jsonw w;
  size_t n = 0;
  if (env)
    while (env[n])
      n++;
  jsonw_init (&w, &plain);
  if (n == 0)
    buf_puts (&plain, "null"); /* what the Go client sends with no variables */
  else
    {
      jsonw_obj_begin (&w);
      for (size_t i = 0; i < n; i++)
        {
          const char *eq = strchr (env[i], '=');
          char *k;
          if (eq == NULL || eq == env[i])
            /* Not echoed: the value may be a secret. */
            return nxerr_set (err, EINVAL, "environment entry %zu is not KEY=VALUE", i + 1);
          k = xstrndup (env[i], (size_t) (eq - env[i]));
          jsonw_kstr (&w, k, eq + 1);
          free (k);
        }
      jsonw_obj_end (&w);
    }
  if (xkey_seal (sender, xkey, plain.data, plain.len, NULL, &sealed, err) < 0)
    return -1;
  memset (plain.data, 0, plain.len);
  b64_encode (B64_STD, sealed.data, sealed.len, b64out);
  return 0;
}

static int
seal_env (const struct nexc_deploy_opts *o, const struct nkey_pair *sender, const char *xkey,
          struct buf *b64out, struct nxerr *err)
{
  return seal_vars (o->env, sender, xkey, b64out, err);
}

int
nexc_seal_env (const char *const *env, const char *xkey, char **sealed_b64,
               char sender_public[NKEY_PUBLIC_LEN + 1], struct nxerr *err)
{
  struct nkey_pair sender;
  struct buf b64 = BUF_INIT;
  int rc;
  if (!nkey_is_valid_public (xkey, NKEY_CURVE))
    return nxerr_set (err, EINVAL, "\"%.64s\" is not a public xkey (X…)", xkey);
  if (nkey_pair_generate (NKEY_CURVE, &sender, err) < 0)
    return -1;
  rc = seal_vars (env, &sender, xkey, &b64, err);
  if (rc == 0)
    {
      memcpy (sender_public, sender.public_text, NKEY_PUBLIC_LEN + 1);
      *sealed_b64 = buf_steal (&b64, NULL);
    }
  buf_free (&b64);
  nkey_pair_wipe (&sender);
  return rc;
}

/* The digest a bound deploy token names: of r as the node will decode it. */
static int
request_digest (const struct deploy_request *r, char hex[DEPLOY_DIGEST_HEX_LEN],
                struct nxerr *err)
{
  cleanup_buf struct buf enc = BUF_INIT;
  struct deploy_request *back = NULL;
  deploy_request_encode (r, &enc);
  if (deploy_request_decode (enc.data, enc.len, &back, err) < 0)
    return nxerr_wrap (err, "deploy request does not decode");
  deploy_request_digest (back, hex);
  deploy_request_free (back);
  return 0;
}

int
nexc_deploy_payload (struct nexc_client *c, const struct nexc_deploy_opts *o,
                     const char *target_xkey, const char *hash, char **payload, struct nxerr *err)
{
  struct deploy_request r;
  struct jwt_claims claims;
  struct nkey_pair fresh;
  const struct nkey_pair *sender = o->sender;
  cleanup_buf struct buf jwt = BUF_INIT;
  cleanup_buf struct buf env = BUF_INIT;
  cleanup_buf struct buf out = BUF_INIT;
  char digest[DEPLOY_DIGEST_HEX_LEN], nonce[25];
  size_t argc = 0;
  int rc = -1;
  (void) c;
  if (o->name == NULL || o->issuer == NULL || o->node_id == NULL)
    return nxerr_set (err, EINVAL, "deploy needs a name, an issuer and a node");
  if (sender == NULL)
    {
      if (nkey_pair_generate (NKEY_CURVE, &fresh, err) < 0)
        return -1;
      sender = &fresh;
    }
  if (seal_env (o, sender, target_xkey, &env, err) < 0)
    goto out;
  memset (&r, 0, sizeof r);
  if (o->argv)
    while (o->argv[argc])
      argc++;
  r.argv = (char **) o->argv;
  r.argc = argc;
  if (o->trigger_subjects)
    while (o->trigger_subjects[r.n_triggers])
      r.n_triggers++;
  r.trigger_subjects = (char **) o->trigger_subjects;
  r.description = (char *) (o->description ? o->description : "");
  r.type = (char *) (o->type ? o->type : "native");
  r.location_scheme = "nats";
  r.location_bucket = (char *) (o->bucket ? o->bucket : NEXC_DEFAULT_BUCKET);
  r.location_key = (char *) (o->key ? o->key : o->name);
  r.essential = o->essential;
  r.workload_jwt = "";
  r.environment = env.data;
  r.jsdomain = (char *) (o->jsdomain ? o->jsdomain : "");
  r.sender_public_key = (char *) sender->public_text;
  r.target_node = (char *) o->node_id;
  r.resources = o->resources;
  r.restart = o->restart;
  r.logs_on_full = o->logs_on_full;
  if (o->nats_publish)
    while (o->nats_publish[r.nats.n_publish])
      r.nats.n_publish++;
  r.nats.publish = (char **) o->nats_publish;
  if (o->nats_subscribe)
    while (o->nats_subscribe[r.nats.n_subscribe])
      r.nats.n_subscribe++;
  r.nats.subscribe = (char **) o->nats_subscribe;
  r.filesystem = o->filesystem;
  if (request_digest (&r, digest, err) < 0)
    goto out;
  /* A bound token: a deploy (never a stop), of exactly this request, for
   * this node. */
  memset (&claims, 0, sizeof claims);
  claims.sub = (char *) o->name;
  claims.aud = (char *) o->node_id;
  claims.hash = (char *) (hash ? hash : "");
  claims.purpose = (char *) JWT_PURPOSE_DEPLOY;
  claims.bind = digest;
  unique_name (nonce);
  claims.name = nonce;
  if (jwt_encode (&claims, o->issuer, &jwt, err) < 0)
    goto out;
  /* jwt_encode filled jti and iss (owned); the rest are borrowed. */
  free (claims.jti);
  free (claims.iss);
  r.workload_jwt = jwt.data;
  deploy_request_encode (&r, &out);
  *payload = buf_steal (&out, NULL);
  rc = 0;
out:
  if (sender == &fresh)
    nkey_pair_wipe (&fresh);
  return rc;
}

int
nexc_deploy (struct nexc_client *c, const struct nexc_deploy_opts *o,
             struct nexc_deploy_result *res, struct nxerr *err)
{
  char xkey[NKEY_PUBLIC_LEN + 1];
  char hex[65] = "";
  char subj[256];
  char *payload = NULL, *data = NULL;
  json_t *root;
  int rc;

  memset (res, 0, sizeof *res);
  if (nexc_node_xkey (c, o->node_id, xkey, err) < 0)
    return -1;
  if (o->file)
    {
      struct objstore_opts so = { 0 };
      struct objstore_info info;
      int fd = open (o->file, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        return nxerr_sys (err, errno, "open %s", o->file);
      memset (&info, 0, sizeof info);
      rc = objstore_put_file (c->nc, o->bucket ? o->bucket : NEXC_DEFAULT_BUCKET,
                              o->key ? o->key : o->name, fd, &so, o->progress, o->progress_ud,
                              &info, err);
      close (fd);
      if (rc < 0)
        return nxerr_wrap (err, "upload %s", o->file);
      objstore_digest_hex (info.digest, hex);
      objstore_info_free (&info);
    }
  if (nexc_deploy_payload (c, o, xkey, o->hash ? o->hash : hex, &payload, err) < 0)
    return -1;
  snprintf (subj, sizeof subj, "$NEX.DEPLOY.%s.%s", c->ns, o->node_id);
  rc = nexc_request (c, subj, payload, strlen (payload), &data, err);
  free (payload);
  if (rc < 0)
    return -1;
  root = json_loads (data, 0, NULL);
  free (data);
  snprintf (res->id, sizeof res->id, "%s", json_string_value (json_object_get (root, "id")) ?: "");
  snprintf (res->issuer, sizeof res->issuer, "%s",
            json_string_value (json_object_get (root, "issuer")) ?: "");
  snprintf (res->name, sizeof res->name, "%s",
            json_string_value (json_object_get (root, "name")) ?: "");
  memcpy (res->hash, hex, sizeof hex);
  json_decref (root);
  return 0;
}

/* ---- stop / lameduck ---- */

int
nexc_stop_payload (const char *node_id, const char *workload_id, const char *name,
                   const struct nkey_pair *issuer, int64_t iat, char **payload, struct nxerr *err)
{
  struct jwt_claims claims;
  cleanup_buf struct buf jwt = BUF_INIT;
  cleanup_buf struct buf out = BUF_INIT;
  struct jsonw w;
  char nonce[25];
  memset (&claims, 0, sizeof claims);
  claims.sub = (char *) name;
  claims.iat = iat;
  /* Bound: a stop (never a deploy), of this workload, on this node. */
  claims.aud = (char *) node_id;
  claims.purpose = (char *) JWT_PURPOSE_STOP;
  claims.bind = (char *) workload_id;
  unique_name (nonce);
  claims.name = nonce;
  if (jwt_encode (&claims, issuer, &jwt, err) < 0)
    return -1;
  free (claims.jti);
  free (claims.iss);
  jsonw_init (&w, &out);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "workload_id", workload_id);
  jsonw_kstr (&w, "workload_jwt", jwt.data);
  jsonw_kstr (&w, "target_node", node_id);
  jsonw_obj_end (&w);
  *payload = buf_steal (&out, NULL);
  return 0;
}

int
nexc_stop (struct nexc_client *c, const char *node_id, const char *workload_id, const char *name,
           const struct nkey_pair *issuer, struct nxerr *err)
{
  char subj[256];
  char *payload = NULL;
  int rc;
  /* Nex refuses a stop JWT minted in the deploy's second (cloned-claims
   * rule, reference §3.1), and deploys here are stamped with the real time:
   * stamp stops one second ahead (well inside the nodes' clock-skew
   * allowance; it does not accumulate). */
  if (nexc_stop_payload (node_id, workload_id, name, issuer, (int64_t) time (NULL) + 1, &payload,
                         err)
      < 0)
    return -1;
  snprintf (subj, sizeof subj, "$NEX.STOP.%s.%s", c->ns, node_id);
  rc = nexc_request (c, subj, payload, strlen (payload), NULL, err);
  free (payload);
  return rc;
}

int
nexc_lameduck (struct nexc_client *c, const char *node_id, struct nxerr *err)
{
  char subj[256];
  snprintf (subj, sizeof subj, "$NEX.LAMEDUCK.%s", node_id);
  return nexc_request (c, subj, "", 0, NULL, err);
}

int
nexc_lameduck_payload (const char *node_id, int64_t deadline_ms, const struct nkey_pair *issuer,
                       int64_t iat, char **payload, struct nxerr *err)
{
  cleanup_buf struct buf jwt = BUF_INIT;
  cleanup_buf struct buf out = BUF_INIT;
  struct jsonw w;
  if (issuer)
    {
      /* Bound to one node and one purpose, so neither a deploy or stop token
       * nor another node's lame-duck token can stand in for it. */
      struct jwt_claims claims;
      memset (&claims, 0, sizeof claims);
      claims.sub = (char *) node_id;
      claims.aud = (char *) node_id;
      claims.name = (char *) JWT_LAMEDUCK_NAME;
      claims.purpose = (char *) JWT_PURPOSE_LAMEDUCK;
      claims.iat = iat;
      claims.exp = iat + 60;
      if (jwt_encode (&claims, issuer, &jwt, err) < 0)
        return -1;
      free (claims.jti);
      free (claims.iss);
    }
  jsonw_init (&w, &out);
  jsonw_obj_begin (&w);
  if (deadline_ms >= 0)
    jsonw_kint (&w, "deadline_ms", deadline_ms);
  if (issuer)
    jsonw_kstr (&w, "lameduck_jwt", jwt.data);
  jsonw_obj_end (&w);
  *payload = buf_steal (&out, NULL);
  return 0;
}

int
nexc_lameduck_signed (struct nexc_client *c, const char *node_id, int64_t deadline_ms,
                      const struct nkey_pair *issuer, struct nxerr *err)
{
  char subj[256];
  char *payload = NULL;
  int rc;
  if (nexc_lameduck_payload (node_id, deadline_ms, issuer, (int64_t) time (NULL), &payload, err)
      < 0)
    return -1;
  snprintf (subj, sizeof subj, "$NEX.LAMEDUCK.%s", node_id);
  rc = nexc_request (c, subj, payload, strlen (payload), NULL, err);
  free (payload);
  return rc;
}

int
nexc_event_verify (natsMsg *m, char node_id[NKEY_PUBLIC_LEN + 1], struct nxerr *err)
{
  const char *node = NULL, *sig = NULL;
  natsMsgHeader_Get (m, EVSIG_NODE_HEADER, &node);
  natsMsgHeader_Get (m, EVSIG_SIG_HEADER, &sig);
  node_id[0] = '\0';
  if (evsig_verify (node, natsMsg_GetSubject (m), natsMsg_GetData (m),
                    (size_t) natsMsg_GetDataLength (m), sig, err)
      < 0)
    return -1;
  snprintf (node_id, NKEY_PUBLIC_LEN + 1, "%s", node);
  return 0;
}
