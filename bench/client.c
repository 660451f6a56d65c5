#include "bench/client.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/b64.h"
#include "api/buf.h"
#include "api/deploy_request.h"
#include "api/jsonw.h"
#include "api/jwt.h"
#include "api/nexc.h"
#include "api/objstore.h"
#include "api/xalloc.h"
#include "api/xkey.h"
#include "bench/bench.h"
#include "bench/proc.h"

static int
nats_fail (struct nxerr *err, natsStatus s, const char *what)
{
  return nxerr_set (err, s == NATS_TIMEOUT ? ETIMEDOUT : EIO, "%s: %s", what,
                    natsStatus_GetText (s));
}

int
bench_connect (const char *url, const char *name, natsConnection **out, struct nxerr *err)
{
  natsOptions *o = NULL;
  natsStatus s = natsOptions_Create (&o);
  if (s == NATS_OK)
    s = natsOptions_SetURL (o, url);
  if (s == NATS_OK)
    s = natsOptions_SetSendAsap (o, true);
  if (s == NATS_OK)
    s = natsOptions_SetTimeout (o, 5000);
  if (s == NATS_OK)
    s = natsOptions_SetName (o, name);
  if (s == NATS_OK)
    s = natsOptions_SetMaxPendingMsgs (o, 10 * 1000 * 1000);
  if (s == NATS_OK)
    s = natsConnection_Connect (out, o);
  natsOptions_Destroy (o);
  if (s != NATS_OK)
    return nats_fail (err, s, url);
  return 0;
}

int
bench_request (natsConnection *nc, const char *subject, const char *payload, size_t len,
               int timeout_ms, json_t **data, struct nxerr *err)
{
  natsMsg *m = NULL;
  natsStatus s = natsConnection_Request (&m, nc, subject, payload, (int) len, timeout_ms);
  json_t *root, *e;
  json_error_t jerr;
  if (data)
    *data = NULL;
  if (s != NATS_OK)
    return nats_fail (err, s, subject);
  root = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, &jerr);
  natsMsg_Destroy (m);
  if (!json_is_object (root))
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
  if (data)
    {
      *data = json_object_get (root, "data");
      json_incref (*data);
    }
  json_decref (root);
  return 0;
}

static long long
jint (json_t *o, const char *path)
{
  /* "a.b.c" */
  char key[64];
  const char *p = path;
  while (o && *p)
    {
      size_t n = strcspn (p, ".");
      snprintf (key, sizeof key, "%.*s", (int) n, p);
      o = json_object_get (o, key);
      p += n + (p[n] == '.');
    }
  return json_integer_value (o);
}

int
bench_pool_state (natsConnection *nc, const struct bench_node *nd, struct pool_state *ps,
                  struct nxerr *err)
{
  char subj[128];
  json_t *d = NULL;
  const char *le;
  snprintf (subj, sizeof subj, "$NEX.INFO.default.%s", nd->node_id);
  if (bench_request (nc, subj, "", 0, 5000, &d, err) < 0)
    return -1;
  memset (ps, 0, sizeof *ps);
  ps->size = (long) jint (d, "nexc.pool.size");
  ps->warm = (long) jint (d, "nexc.pool.warm");
  ps->starting = (long) jint (d, "nexc.pool.starting");
  ps->misses = (long) jint (d, "nexc.pool.misses");
  ps->refill_failures = (long) jint (d, "nexc.pool.refill_failures_in_row");
  ps->log_dropped = jint (d, "nexc.log_dropped");
  ps->log_lines = jint (d, "nexc.log_lines");
  ps->deploys = jint (d, "nexc.deploys");
  ps->deploys_failed = jint (d, "nexc.deploys_failed");
  le = json_string_value (json_object_get (json_object_get (json_object_get (d, "nexc"), "pool"),
                                           "last_error"));
  snprintf (ps->last_error, sizeof ps->last_error, "%s", le ? le : "");
  json_decref (d);
  return 0;
}

int
bench_wait_pool_full (natsConnection *nc, const struct bench_node *nd, int timeout_ms,
                      struct nxerr *err)
{
  uint64_t deadline = bench_now_ns () + (uint64_t) timeout_ms * 1000000ull;
  struct pool_state ps;
  for (;;)
    {
      if (bench_pool_state (nc, nd, &ps, err) < 0)
        return -1;
      if (ps.warm >= ps.size)
        return 0;
      if (ps.refill_failures > 0)
        return nxerr_set (err, EIO, "warm pool refill failing: %s", ps.last_error);
      if (bench_now_ns () > deadline)
        return nxerr_set (err, ETIMEDOUT, "warm pool not full after %d ms (%ld/%ld warm)",
                          timeout_ms, ps.warm, ps.size);
      bench_sleep_ms (1);
    }
}

/* ---- artifacts ---- */

static int
digest_hex (const char *digest, char hex[65], struct nxerr *err)
{
  cleanup_buf struct buf raw = BUF_INIT;
  if (digest == NULL || strncmp (digest, "SHA-256=", 8) != 0
      || b64_decode (B64_URL, digest + 8, strlen (digest + 8), &raw, err) < 0 || raw.len != 32)
    return nxerr_set (err, EPROTO, "object has no usable SHA-256 digest");
  for (int i = 0; i < 32; i++)
    snprintf (hex + 2 * i, 3, "%02x", (unsigned char) raw.data[i]);
  return 0;
}

int
bench_upload (natsConnection *nc, const char *key, const void *data, size_t len, char hex[65],
              struct nxerr *err)
{
  struct objstore_info info;
  int rc;
  memset (&info, 0, sizeof info);
  if (objstore_put (nc, BENCH_BUCKET, key, data, len, NULL, NULL, NULL, &info, err) < 0)
    return nxerr_wrap (err, "upload %s", key);
  rc = digest_hex (info.digest, hex, err);
  objstore_info_free (&info);
  return rc;
}

int
bench_upload_file (natsConnection *nc, const char *key, const char *path, char hex[65],
                   struct nxerr *err)
{
  struct objstore_info info;
  int fd = open (path, O_RDONLY | O_CLOEXEC), rc;
  if (fd < 0)
    return nxerr_sys (err, errno, "open %s", path);
  memset (&info, 0, sizeof info);
  rc = objstore_put_file (nc, BENCH_BUCKET, key, fd, NULL, NULL, NULL, &info, err);
  close (fd);
  if (rc < 0)
    return nxerr_wrap (err, "upload %s", path);
  rc = digest_hex (info.digest, hex, err);
  objstore_info_free (&info);
  return rc;
}

/* ---- deploy and stop ---- */

char *
bench_seal_env (const struct bench *b, const struct bench_node *nd, const char *const *env,
                struct nxerr *err)
{
  cleanup_buf struct buf plain = BUF_INIT;
  cleanup_buf struct buf sealed = BUF_INIT;
  struct buf out = BUF_INIT;
  struct jsonw w;
  jsonw_init (&w, &plain);
  if (env == NULL || env[0] == NULL)
    buf_puts (&plain, "null");
  else
    {
      jsonw_obj_begin (&w);
      for (size_t i = 0; env[i]; i++)
        {
          const char *eq = strchr (env[i], '=');
          char *k;
          if (eq == NULL || eq == env[i])
            {
              nxerr_set (err, EINVAL, "environment entry \"%s\" is not KEY=VALUE", env[i]);
              return NULL;
            }
          k = xstrndup (env[i], (size_t) (eq - env[i]));
          jsonw_kstr (&w, k, eq + 1);
          free (k);
        }
      jsonw_obj_end (&w);
    }
  if (xkey_seal (&b->sender, nd->xkey, plain.data, plain.len, NULL, &sealed, err) < 0)
    return NULL;
  b64_encode (B64_STD, sealed.data, sealed.len, &out);
  return buf_steal (&out, NULL);
}

static void
unique_name (char out[BENCH_NAME_MAX], const char *prefix)
{
  static atomic_ulong counter;
  unsigned long k = atomic_fetch_add (&counter, 1) + 1;
  snprintf (out, BENCH_NAME_MAX, "%s%lu", prefix ? prefix : "w", k);
}

int
bench_deploy_payload (const struct bench *b, const struct bench_node *nd,
                      const struct deploy_spec *s, struct deployed *d, char **payload,
                      struct nxerr *err)
{
  struct deploy_request r;
  struct jwt_claims claims;
  cleanup_buf struct buf jwt = BUF_INIT;
  cleanup_buf struct buf out = BUF_INIT;
  size_t argc = 0;
  memset (d, 0, sizeof *d);
  unique_name (d->name, s->prefix);
  memset (&claims, 0, sizeof claims);
  claims.sub = d->name;
  claims.hash = (char *) s->hash;
  claims.iat = (int64_t) time (NULL);
  d->iat = claims.iat;
  if (jwt_encode (&claims, &b->issuer, &jwt, err) < 0)
    return -1;
  free (claims.jti); /* jwt_encode allocated these two; the rest are borrowed */
  free (claims.iss);
  if (s->argv)
    while (s->argv[argc])
      argc++;
  memset (&r, 0, sizeof r);
  r.argv = (char **) s->argv;
  r.argc = argc;
  r.description = "";
  r.type = (char *) (s->type ? s->type : "native");
  r.trigger_subjects = (char **) s->trigger_subjects;
  if (s->trigger_subjects)
    while (s->trigger_subjects[r.n_triggers])
      r.n_triggers++;
  r.location_scheme = "nats";
  r.location_bucket = BENCH_BUCKET;
  r.location_key = (char *) s->key;
  r.workload_jwt = jwt.data;
  r.environment = (char *) s->sealed_env;
  r.jsdomain = "";
  r.sender_public_key = (char *) b->sender.public_text;
  r.target_node = (char *) nd->node_id;
  deploy_request_encode (&r, &out);
  *payload = buf_steal (&out, NULL);
  return 0;
}

int
bench_deploy_send (natsConnection *nc, const struct bench_node *nd, const char *payload,
                   struct deployed *d, int timeout_ms, uint64_t *lat_ns, struct nxerr *err)
{
  char subj[128];
  json_t *data = NULL;
  uint64_t t0;
  int rc;
  const char *id;
  snprintf (subj, sizeof subj, "$NEX.DEPLOY.default.%s", nd->node_id);
  t0 = bench_now_ns ();
  rc = bench_request (nc, subj, payload, strlen (payload), timeout_ms, &data, err);
  if (lat_ns)
    *lat_ns = bench_now_ns () - t0;
  if (rc < 0)
    return nxerr_wrap (err, "deploy %s", d->name);
  id = json_string_value (json_object_get (data, "id"));
  if (id == NULL || !json_is_true (json_object_get (data, "started")))
    {
      json_decref (data);
      return nxerr_set (err, EPROTO, "deploy %s: reply without started/id", d->name);
    }
  snprintf (d->id, sizeof d->id, "%s", id);
  json_decref (data);
  return 0;
}

int
bench_deploy (const struct bench *b, natsConnection *nc, const struct bench_node *nd,
              const struct deploy_spec *s, struct deployed *d, int timeout_ms, uint64_t *lat_ns,
              struct nxerr *err)
{
  char *payload = NULL;
  int rc;
  if (bench_deploy_payload (b, nd, s, d, &payload, err) < 0)
    return -1;
  rc = bench_deploy_send (nc, nd, payload, d, timeout_ms, lat_ns, err);
  free (payload);
  return rc;
}

int
bench_stop (const struct bench *b, natsConnection *nc, const struct bench_node *nd,
            const struct deployed *d, int timeout_ms, uint64_t *lat_ns, struct nxerr *err)
{
  char subj[128];
  char *payload = NULL;
  uint64_t t0;
  int rc;
  if (nexc_stop_payload (nd->node_id, d->id, d->name, &b->issuer, d->iat + 1, &payload, err) < 0)
    return -1;
  snprintf (subj, sizeof subj, "$NEX.STOP.default.%s", nd->node_id);
  t0 = bench_now_ns ();
  rc = bench_request (nc, subj, payload, strlen (payload), timeout_ms, NULL, err);
  if (lat_ns)
    *lat_ns = bench_now_ns () - t0;
  free (payload);
  if (rc < 0)
    return nxerr_wrap (err, "stop %s (%s)", d->name, d->id);
  return 0;
}

int
bench_rtt (natsConnection *nc, const char *subject, int timeout_ms, uint64_t *lat_ns,
           size_t *reply_len, struct nxerr *err)
{
  natsMsg *m = NULL;
  uint64_t t0 = bench_now_ns ();
  natsStatus s = natsConnection_Request (&m, nc, subject, "", 0, timeout_ms);
  *lat_ns = bench_now_ns () - t0;
  if (s != NATS_OK)
    return nats_fail (err, s, subject);
  if (reply_len)
    *reply_len = (size_t) natsMsg_GetDataLength (m);
  natsMsg_Destroy (m);
  return 0;
}

/* ---- events ---- */

struct seen {
  struct seen *next;
  char id[64];
  uint64_t at_ns;
};

struct event_watch {
  natsSubscription *sub;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct seen *head;
  size_t n;
};

static void
on_event (natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
  struct event_watch *w = closure;
  uint64_t now = bench_now_ns ();
  json_t *root = json_loadb (natsMsg_GetData (msg), (size_t) natsMsg_GetDataLength (msg), 0, NULL);
  const char *src = json_string_value (json_object_get (root, "source"));
  (void) nc;
  (void) sub;
  if (src)
    {
      struct seen *e = xcalloc (1, sizeof *e);
      snprintf (e->id, sizeof e->id, "%s", src);
      e->at_ns = now;
      pthread_mutex_lock (&w->mu);
      e->next = w->head;
      w->head = e;
      w->n++;
      pthread_cond_broadcast (&w->cv);
      pthread_mutex_unlock (&w->mu);
    }
  json_decref (root);
  natsMsg_Destroy (msg);
}

int
event_watch_new (natsConnection *nc, const char *type, struct event_watch **out,
                 struct nxerr *err)
{
  struct event_watch *w = xcalloc (1, sizeof *w);
  char subj[128];
  natsStatus s;
  pthread_mutex_init (&w->mu, NULL);
  pthread_cond_init (&w->cv, NULL);
  snprintf (subj, sizeof subj, "$NEX.events.default.%s", type);
  s = natsConnection_Subscribe (&w->sub, nc, subj, on_event, w);
  if (s == NATS_OK)
    s = natsSubscription_SetPendingLimits (w->sub, -1, -1);
  if (s == NATS_OK)
    s = natsConnection_Flush (nc);
  if (s != NATS_OK)
    {
      event_watch_free (w);
      return nats_fail (err, s, subj);
    }
  *out = w;
  return 0;
}

uint64_t
event_watch_wait (struct event_watch *w, const char *id, int timeout_ms)
{
  struct timespec until;
  uint64_t at = 0;
  clock_gettime (CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L)
    {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
  pthread_mutex_lock (&w->mu);
  for (;;)
    {
      struct seen **pp;
      for (pp = &w->head; *pp; pp = &(*pp)->next)
        if (strcmp ((*pp)->id, id) == 0)
          {
            struct seen *e = *pp;
            *pp = e->next;
            at = e->at_ns;
            free (e);
            w->n--;
            break;
          }
      if (at || pthread_cond_timedwait (&w->cv, &w->mu, &until) == ETIMEDOUT)
        break;
    }
  pthread_mutex_unlock (&w->mu);
  return at;
}

void
event_watch_free (struct event_watch *w)
{
  if (w == NULL)
    return;
  if (w->sub)
    {
      /* Drain so that no callback still runs on w when it is freed. */
      if (natsSubscription_Drain (w->sub) == NATS_OK)
        natsSubscription_WaitForDrainCompletion (w->sub, 5000);
      else
        natsSubscription_Unsubscribe (w->sub);
      natsSubscription_Destroy (w->sub);
    }
  while (w->head)
    {
      struct seen *e = w->head;
      w->head = e->next;
      free (e);
    }
  pthread_mutex_destroy (&w->mu);
  pthread_cond_destroy (&w->cv);
  free (w);
}
