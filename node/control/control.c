#include "node/deployments/deployments.h"
#include "node/control/control.h"

#include <errno.h>
#include <jansson.h>
#include <nats/nats.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/envelope.h"
#include "api/jsonw.h"
#include "api/log.h"
#include "api/subjects.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/artifacts/artifact.h"
#include "node/bus/reply.h"
#include "node/control/deploy.h"
#include "node/control/info.h"
#include "node/control/lameduck.h"
#include "node/workload/creds.h"
#include "node/workload/launch.h"
#include "node/control/tags.h"
#include "node/bus/events.h"
#include "node/bus/logstream.h"
#include "node/bus/natsloop.h"
#include "node/control/metrics.h"
#include "node/sandbox/sandbox.h"
#include "node/bus/subgrave.h"
#include "node/core/node.h"
#include "node/agents/pool.h"
#include "node/control/shutdown.h"
#include "node/control/stop.h"
#include "node/workload/workload.h"

struct sub_closure {
  struct node *node;
  enum ctl_op op;
};

#define N_SUBS 8
static struct sub_closure closures[N_SUBS];

/* ---- PING ---- */

static bool
read_meminfo (int64_t *total, int64_t *free_, int64_t *avail)
{
  FILE *f = fopen ("/proc/meminfo", "re");
  char line[256];
  int got = 0;
  if (f == NULL)
    return false;
  while (fgets (line, sizeof line, f))
    {
      long long v;
      if (sscanf (line, "MemTotal: %lld kB", &v) == 1)
        *total = v, got |= 1;
      else if (sscanf (line, "MemFree: %lld kB", &v) == 1)
        *free_ = v, got |= 2;
      else if (sscanf (line, "MemAvailable: %lld kB", &v) == 1)
        *avail = v, got |= 4;
    }
  fclose (f);
  return got == 7;
}

/* The PingResponse fields (§1.2); an auction bid adds our capacity object. */
static void
write_ping (struct node *n, struct buf *b, bool capacity)
{
  struct jsonw w;
  char up[TIMEFMT_UPTIME_MAX];
  int64_t mt, mf, ma;
  node_uptime (n, true, up, sizeof up);
  jsonw_init (&w, b);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "node_id", n->node_id);
  jsonw_kstr (&w, "version", NEXC_VERSION);
  jsonw_kstr (&w, "uptime", up);
  jsonw_kstr (&w, "target_xkey", n->id.xkey.public_text);
  jsonw_key (&w, "tags");
  events_write_tags (n, &w);
  jsonw_kint (&w, "running_machines", (int64_t) n->n_workloads);
  if (capacity)
    {
      jsonw_key (&w, "capacity");
      jsonw_obj_begin (&w);
      jsonw_kint (&w, "warm_agents", (int64_t) pool_idle_count (n->pool));
      jsonw_kint (&w, "running", (int64_t) n->n_workloads);
      jsonw_kint (&w, "max_workloads", n->cfg.max_workloads);
      if (read_meminfo (&mt, &mf, &ma))
        jsonw_kint (&w, "memory_available_kb", ma);
      jsonw_obj_end (&w);
    }
  jsonw_obj_end (&w);
}

static void
handle_ping (struct node *n, struct ctl_req *r)
{
  cleanup_buf struct buf b = BUF_INIT;
  write_ping (n, &b, false);
  reply_ok (n, r->reply, NEX_TYPE_PING_RESPONSE, &b);
}

/* ---- AUCTION (0.2.4, §10): reply only when every given filter matches ---- */

static bool
auction_matches (struct node *n, json_t *req)
{
  json_t *v, *e;
  const char *k;
  size_t i;
  if (!json_is_object (req))
    return true; /* an unparseable request counts as a match */
  v = json_object_get (req, "arch");
  if (json_is_string (v) && *json_string_value (v)
      && strcasecmp (json_string_value (v), strmap_get (&n->tags, "nex.arch")) != 0)
    return false;
  v = json_object_get (req, "os");
  if (json_is_string (v) && *json_string_value (v)
      && strcasecmp (json_string_value (v), strmap_get (&n->tags, "nex.os")) != 0)
    return false;
  v = json_object_get (req, "sandboxed");
  if (json_is_boolean (v) && json_is_true (v) != (n->cfg.sandbox != SANDBOX_NONE))
    return false;
  v = json_object_get (req, "tags");
  if (json_is_object (v))
    json_object_foreach (v, k, e)
    {
      const char *mine = strmap_get (&n->tags, k);
      if (!json_is_string (e) || mine == NULL || strcasecmp (mine, json_string_value (e)) != 0)
        return false;
    }
  v = json_object_get (req, "workload_types");
  if (json_is_array (v))
    json_array_foreach (v, i, e)
    {
      if (!json_is_string (e) || !strlist_contains (&n->cfg.workload_types, json_string_value (e)))
        return false;
    }
  return true;
}

static void
handle_auction (struct node *n, struct ctl_req *r)
{
  cleanup_buf struct buf b = BUF_INIT;
  json_t *req = r->len ? json_loadb (r->data, r->len, 0, NULL) : NULL;
  bool match = n->lameduck ? false : auction_matches (n, req);
  json_decref (req);
  if (!match)
    return; /* non-matching nodes stay silent */
  write_ping (n, &b, true);
  reply_ok (n, r->reply, NEX_TYPE_AUCTION_RESPONSE, &b);
}

/* ---- WPING (§1.3) ---- */

static bool
wping_matches (const struct workload *wl, const char *ns, const char *filter)
{
  if (*ns && strcasecmp (ns, wl->ns) != 0)
    return false;
  if (*filter && strcmp (filter, wl->id) != 0 && strcasecmp (filter, wl->name) != 0)
    return false;
  return true;
}

static void
handle_wping (struct node *n, struct ctl_req *r)
{
  cleanup_buf struct buf b = BUF_INIT;
  char *storage = NULL;
  const char *tok[16];
  int nt = subjects_split (r->subject, &storage, tok, 16);
  const char *ns = nt > 2 ? tok[2] : "";
  const char *filter = nt > 3 ? tok[3] : "";
  struct jsonw w;
  char up[TIMEFMT_UPTIME_MAX];
  size_t matched = 0;

  if (nt < 0)
    ns = filter = ""; /* over-long subject: treat like no filter tokens beyond 16 */
  node_uptime (n, true, up, sizeof up);
  jsonw_init (&w, &b);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "node_id", n->node_id);
  jsonw_kstr (&w, "target_xkey", n->id.xkey.public_text);
  jsonw_kstr (&w, "version", NEXC_VERSION);
  jsonw_key (&w, "tags");
  events_write_tags (n, &w);
  jsonw_kstr (&w, "uptime", up);
  jsonw_key (&w, "running_machines");
  jsonw_arr_begin (&w);
  for (struct workload *wl = workload_oldest (n); wl; wl = wl->prev)
    {
      /* Listed once running: a starting workload has no process (or hash) yet. */
      if (wl->state == WL_STARTING || wl->state == WL_ENDED || !wping_matches (wl, ns, filter))
        continue;
      matched++;
      jsonw_obj_begin (&w);
      jsonw_kstr (&w, "id", wl->id);
      jsonw_kstr (&w, "namespace", wl->ns);
      jsonw_kstr (&w, "name", wl->name);
      jsonw_kstr (&w, "type", wl->type);
      jsonw_obj_end (&w);
    }
  jsonw_arr_end (&w);
  jsonw_obj_end (&w);
  free (storage);
  if (matched == 0)
    return; /* silent when nothing matches */
  reply_ok (n, r->reply, NEX_TYPE_PING_RESPONSE, &b);
}

/* ---- INFO (§1.4) ---- */

/* The length of the last INFO reply (loop thread only). */
static size_t info_last_len;

static void
handle_info (struct node *n, struct ctl_req *r)
{
  cleanup_buf struct buf b = BUF_INIT;
  char *storage = NULL;
  const char *tok[8];
  int nt = subjects_split (r->subject, &storage, tok, 8);
  const char *ns = nt > 2 ? tok[2] : "";
  struct jsonw w;
  char up[TIMEFMT_UPTIME_MAX];
  int64_t mt, mf, ma;

  node_uptime (n, true, up, sizeof up);
  /* At a thousand workloads the reply is ~500 KB: sized from the last one
   * and written with its envelope, so it is never grown nor copied. */
  buf_reserve (&b, info_last_len + 4096);
  jsonw_init (&w, &b);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "type", NEX_TYPE_INFO_RESPONSE);
  jsonw_key (&w, "data");
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "version", NEXC_VERSION);
  jsonw_kstr (&w, "uptime", up);
  jsonw_kstr (&w, "public_xkey", n->id.xkey.public_text);
  jsonw_key (&w, "tags");
  events_write_tags (n, &w);
  if (read_meminfo (&mt, &mf, &ma))
    {
      jsonw_key (&w, "memory");
      jsonw_obj_begin (&w);
      jsonw_kint (&w, "total", mt);
      jsonw_kint (&w, "free", mf);
      jsonw_kint (&w, "available", ma);
      jsonw_obj_end (&w);
    }
  jsonw_key (&w, "machines");
  info_write_machines (n, ns, &w); /* entries re-encoded only when they changed */
  jsonw_key (&w, "supported_workload_types");
  jsonw_arr_begin (&w);
  for (size_t i = 0; i < n->cfg.workload_types.n; i++)
    jsonw_str (&w, n->cfg.workload_types.v[i]);
  jsonw_arr_end (&w);
  /* nexc extensions. */
  jsonw_key (&w, "nexc");
  jsonw_obj_begin (&w);
  /* open: no valid_issuers, any key may deploy (the Nex v0.2 default). */
  jsonw_kbool (&w, "open", n->cfg.valid_issuers.n == 0);
  jsonw_kbool (&w, "lameduck_requires_jwt", n->cfg.lameduck_requires_jwt);
  /* each workload its own NATS user (node/workload/creds.h) */
  jsonw_kbool (&w, "workload_creds", creds_enabled (n));
  jsonw_kint (&w, "deploys", (int64_t) n->counters.deploys_ok);
  jsonw_kint (&w, "deploys_failed", (int64_t) n->counters.deploys_failed);
  jsonw_kint (&w, "log_lines", (int64_t) n->counters.log_lines);
  jsonw_kint (&w, "log_dropped", (int64_t) (n->counters.log_dropped_agent
                                             + n->counters.log_dropped_publish));
  jsonw_kint (&w, "events_dropped", (int64_t) n->counters.events_dropped);
  /* control requests answered "busy" (the queue was full) */
  jsonw_kint (&w, "control_busy",
              (int64_t) __atomic_load_n (&n->ctl_queue.refused, __ATOMIC_RELAXED));
  jsonw_kint (&w, "pool_misses", (int64_t) n->counters.pool_misses);
  jsonw_kint (&w, "agent_spawn_failures", (int64_t) n->counters.agent_spawn_failures);
  jsonw_kint (&w, "oom_kills", (int64_t) n->counters.oom_kills);
  jsonw_kint (&w, "function_invocations", (int64_t) (n->counters.fn_ok + n->counters.fn_failed));
  jsonw_kint (&w, "function_failures", (int64_t) n->counters.fn_failed);
  pool_write_info (n, &w);
  if (n->cache)
    artifact_write_info (n->cache, &w); /* "artifacts": the object store view */
  sandbox_write_info (n, &w); /* "sandbox": tier, what is enforced, what is off */
  logstream_write_info (n, &w); /* "logs": {"stream"}: the log stream, or null */
  deployments_write_info (n, &w); /* "deployments": on, the xkey specs seal to, slots held */
  jsonw_key (&w, "metrics");
  metrics_write_node (n, &w);
  jsonw_obj_end (&w);
  jsonw_obj_end (&w);
  jsonw_obj_end (&w); /* the envelope */
  free (storage);
  info_last_len = b.len;
  /* A reply over the server's max_payload would be lost: say so instead. */
  if (b.len > (size_t) natsConnection_GetMaxPayload (n->nc))
    {
      char msg[200];
      snprintf (msg, sizeof msg,
                "INFO reply would be %zu bytes, over the server's max_payload of %lld",
                b.len, (long long) natsConnection_GetMaxPayload (n->nc));
      reply_err (n, r->reply, NEX_TYPE_INFO_RESPONSE, msg);
      return;
    }
  reply_send (n, r->reply, &b);
}

/* ---- dispatch ---- */

static const char *
op_response_type (enum ctl_op op)
{
  switch (op)
    {
    case CTL_INFO: return NEX_TYPE_INFO_RESPONSE;
    case CTL_DEPLOY: return NEX_TYPE_RUN_RESPONSE;
    case CTL_STOP: return NEX_TYPE_STOP_RESPONSE;
    case CTL_LAMEDUCK: return NEX_TYPE_LAMEDUCK_RESPONSE;
    case CTL_AUCTION: return NEX_TYPE_AUCTION_RESPONSE;
    default: return NEX_TYPE_PING_RESPONSE;
    }
}

static void
dispatch (void *arg)
{
  struct ctl_req *r = arg;
  struct node *n = r->node;
  if (n->stopping)
    {
      ctl_req_free (r);
      return;
    }
  if (r->len > CONTROL_PAYLOAD_MAX)
    {
      reply_err (n, r->reply, op_response_type (r->op),
                         "request payload is larger than 1048576 bytes");
      ctl_req_free (r);
      return;
    }
  switch (r->op)
    {
    case CTL_PING:
    case CTL_PING_NODE: handle_ping (n, r); break;
    case CTL_WPING: handle_wping (n, r); break;
    case CTL_INFO: handle_info (n, r); break;
    case CTL_LAMEDUCK: lameduck_handle (n, r); break;
    case CTL_DEPLOY:
      deploy_handle (n, r); /* takes ownership of r */
      return;
    case CTL_STOP: stop_handle (n, r); break;
    case CTL_AUCTION: handle_auction (n, r); break;
    }
  metrics_record_latency (n, timefmt_mono_ns () - r->recv_ns);
  ctl_req_free (r);
}

/* Control queue full: say so at once rather than queue without bound
 * (the refusal is counted in ctl_queue.refused). */
static void
reply_busy (natsConnection *nc, const char *reply, enum ctl_op op)
{
  cleanup_buf struct buf b = BUF_INIT;
  if (reply == NULL || *reply == '\0')
    return;
  envelope_err (&b, op_response_type (op), "node busy: too many control requests in flight; "
                                           "retry later");
  natsConnection_Publish (nc, reply, b.data, (int) b.len);
}

/* Loop thread, right after the read that brought msg (node/bus/natsloop.h):
 * copy what the handler needs, destroy the message, dispatch. */
static void
on_msg (void *closure, natsSubscription *sub, natsMsg *msg)
{
  struct sub_closure *c = closure;
  const char *reply = natsMsg_GetReply (msg);
  int len = natsMsg_GetDataLength (msg);
  struct ctl_req *r = ctl_req_new (c->node, (size_t) len);
  (void) sub;
  if (r == NULL)
    {
      reply_busy (c->node->nc, reply, c->op);
      natsMsg_Destroy (msg);
      return;
    }
  r->op = c->op;
  r->recv_ns = timefmt_mono_ns ();
  r->subject = xstrdup (natsMsg_GetSubject (msg));
  r->reply = reply && *reply ? xstrdup (reply) : NULL;
  /* Payloads over the cap are not copied: the handler replies with an error. */
  if (len > CONTROL_PAYLOAD_MAX)
    r->data = xstrdup ("");
  else
    {
      r->data = xstrndup (natsMsg_GetData (msg) ? natsMsg_GetData (msg) : "", r->len);
    }
  natsMsg_Destroy (msg);
  dispatch (r);
}

int
control_subscribe (struct node *n, struct nxerr *err)
{
  cleanup_buf struct buf s = BUF_INIT;
  struct
  {
    enum ctl_op op;
    const char *verb;
    const char *ns;
  } table[] = {
    { CTL_PING, NULL, NULL },       { CTL_PING_NODE, "PING", NULL },
    { CTL_WPING, NULL, NULL },      { CTL_INFO, "INFO", "*" },
    { CTL_DEPLOY, "DEPLOY", "*" },  { CTL_STOP, "STOP", "*" },
    { CTL_LAMEDUCK, "LAMEDUCK", NULL }, { CTL_AUCTION, NULL, NULL },
  };
  n->subs = xcalloc (N_SUBS, sizeof *n->subs);
  for (int i = 0; i < N_SUBS; i++)
    {
      natsStatus st;
      closures[i].node = n;
      closures[i].op = table[i].op;
      if (table[i].op == CTL_PING)
        {
          buf_reset (&s);
          buf_puts (&s, NEX_SUBJ_PING);
        }
      else if (table[i].op == CTL_WPING)
        {
          buf_reset (&s);
          buf_puts (&s, NEX_SUBJ_WPING_ALL);
        }
      else if (table[i].op == CTL_AUCTION)
        {
          buf_reset (&s);
          buf_puts (&s, NEX_SUBJ_AUCTION);
        }
      else
        subjects_node_op (&s, table[i].verb, table[i].ns, n->node_id);
      st = natsConnection_SubscribeSync (&n->subs[i], n->nc, s.data);
      if (st != NATS_OK)
        return nxerr_set (err, EIO, "subscribe %s: %s", s.data, natsStatus_GetText (st));
      /* A deep but bounded queue: a burst is queued rather than dropped, and
       * a flood cannot exhaust memory (nats.c reports a slow consumer). */
      natsSubscription_SetPendingLimits (n->subs[i], 100000, 512 * 1024 * 1024);
      natsloop_watch (n->natsloop, n->subs[i], on_msg, &closures[i]);
      n->n_subs++;
    }
  return 0;
}

void
control_unsubscribe (struct node *n)
{
  /* The loop has stopped: what the subscriptions still hold would never be
   * dispatched (before, it was posted to a stopped loop and dropped). A
   * synchronous subscription has no delivery thread, so its queued
   * messages are destroyed with it, here. */
  for (size_t i = 0; i < n->n_subs; i++)
    {
      natsloop_unwatch (n->natsloop, n->subs[i]);
      subgrave_sub (n, n->nc, n->subs[i]);
    }
  free (n->subs);
  n->subs = NULL;
  n->n_subs = 0;
}
