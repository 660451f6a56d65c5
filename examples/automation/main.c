/* automation: keep N replicas of a workload running across the nodes that
 * match a tag, driven by the event stream — an example of automating nexc
 * with the client library (api/nexc.h).
 *
 *   automation --name web --file ./build/examples/ticker --replicas 3 [--tag zone=a]
 *              [--env K=V ...] [--issuer SEEDFILE] [--server URL] [--namespace NS]
 *              [--timeout MS] [--cleanup]
 *
 * It uploads the file once, then reconciles: counts the running replicas
 * (WPING), deploys the missing ones on the best auction bid of a matching
 * node each (so they spread), stops extras. It reconciles at once on every
 * workload_stopped of its workload, and every 2 s anyway (a node may vanish
 * without an event). Exits on SIGINT/SIGTERM or after --timeout; with
 * --cleanup it stops its replicas first. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/nexc.h"
#include "api/objstore.h"

#define MAX_REPLICAS 256
#define RECONCILE_MS 2000

struct opts {
  const char *name, *file, *tag, *issuer, *server, *ns;
  const char *env[64];
  int n_env;
  int replicas;
  int64_t timeout_ms;
  bool cleanup;
};

struct replica {
  char id[64], node[64];
};

static volatile sig_atomic_t stop_now;

static void
on_signal (int sig)
{
  (void) sig;
  stop_now = 1;
}

static void
say (const char *fmt, ...)
{
  va_list ap;
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  printf ("%lld.%03ld automation: ", (long long) ts.tv_sec, ts.tv_nsec / 1000000);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  printf ("\n");
  fflush (stdout);
}

/* The running replicas of our workload, from every node (WPING by name). */
static int
list_replicas (struct nexc_client *c, const struct opts *o, struct replica *out, int max)
{
  char subj[256], inbox[128];
  natsInbox *ib = NULL;
  natsSubscription *sub = NULL;
  int n = 0;
  snprintf (subj, sizeof subj, "$NEX.WPING.%s.%s", o->ns, o->name);
  natsInbox_Create (&ib);
  snprintf (inbox, sizeof inbox, "%s", (const char *) ib);
  natsInbox_Destroy (ib);
  if (natsConnection_SubscribeSync (&sub, c->nc, inbox) != NATS_OK
      || natsConnection_PublishRequestString (c->nc, subj, inbox, "") != NATS_OK)
    {
      natsSubscription_Destroy (sub);
      return -1;
    }
  for (int64_t end = nats_Now () + 300; nats_Now () < end;)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, sub, end - nats_Now ()) != NATS_OK)
        break;
      json_t *j = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
      natsMsg_Destroy (m);
      json_t *d = json_object_get (j, "data");
      json_t *ms = json_object_get (d, "running_machines");
      size_t i;
      json_t *w;
      json_array_foreach (ms, i, w)
      {
        if (n < max && strcmp (json_string_value (json_object_get (w, "name")) ?: "", o->name) == 0)
          {
            snprintf (out[n].id, sizeof out[n].id, "%s",
                      json_string_value (json_object_get (w, "id")) ?: "");
            snprintf (out[n].node, sizeof out[n].node, "%s",
                      json_string_value (json_object_get (d, "node_id")) ?: "");
            n++;
          }
      }
      json_decref (j);
    }
  natsSubscription_Destroy (sub);
  return n;
}

static char *
auction_filter (const char *tag)
{
  json_t *req = json_object (), *t = json_object ();
  char *copy = strdup (tag ? tag : ""), *save = NULL, *out;
  for (char *kv = strtok_r (copy, ",", &save); kv; kv = strtok_r (NULL, ",", &save))
    {
      char *eq = strchr (kv, '=');
      if (eq)
        {
          *eq = '\0';
          json_object_set_new (t, kv, json_string (eq + 1));
        }
    }
  free (copy);
  json_object_set_new (req, "tags", t);
  out = json_dumps (req, JSON_COMPACT);
  json_decref (req);
  return out;
}

/* One new replica on the best bid. */
static int
deploy_one (struct nexc_client *c, const struct opts *o, const struct nkey_pair *issuer,
            const char *hash)
{
  struct nexc_node *bids;
  size_t n, best;
  struct nxerr err = { 0 };
  char *filter = auction_filter (o->tag);
  char xkey[NKEY_PUBLIC_LEN + 1], subj[256];
  char *payload = NULL, *data = NULL;
  int rc = nexc_auction (c, filter, 300, &bids, &n, &err);
  free (filter);
  if (rc < 0 || (best = nexc_best_bid (bids, n)) == SIZE_MAX)
    {
      say ("no node bids for %s (%s)", o->name, rc < 0 ? err.msg : "no match");
      if (rc == 0)
        nexc_nodes_free (bids, n);
      return -1;
    }
  struct nexc_deploy_opts d = { 0 };

  d.node_id = bids[best].node_id;
  d.name = o->name;
  d.key = o->name;
  d.env = o->env;
  d.issuer = issuer;
  snprintf (subj, sizeof subj, "$NEX.DEPLOY.%s.%s", o->ns, bids[best].node_id);
  rc = -1;
  if (nexc_node_xkey (c, bids[best].node_id, xkey, &err) == 0
      && nexc_deploy_payload (c, &d, xkey, hash, &payload, &err) == 0
      && nexc_request (c, subj, payload, strlen (payload), &data, &err) == 0)
    {
      json_t *j = json_loads (data, 0, NULL);
      say ("deployed %s as %s on %.12s…", o->name,
           json_string_value (json_object_get (j, "id")) ?: "?", bids[best].node_id);
      json_decref (j);
      rc = 0;
    }
  else
    say ("deploy of %s on %.12s… failed: %s", o->name, bids[best].node_id, err.msg);
  free (payload);
  free (data);
  nexc_nodes_free (bids, n);
  return rc;
}

static void
reconcile (struct nexc_client *c, const struct opts *o, const struct nkey_pair *issuer,
           const char *hash)
{
  struct replica r[MAX_REPLICAS];
  struct nxerr err = { 0 };
  int n = list_replicas (c, o, r, MAX_REPLICAS);
  if (n < 0)
    return;
  for (int i = n; i < o->replicas; i++)
    if (deploy_one (c, o, issuer, hash) < 0)
      break;
  for (int i = o->replicas; i < n; i++)
    if (nexc_stop (c, r[i].node, r[i].id, o->name, issuer, &err) == 0)
      say ("stopped extra replica %s", r[i].id);
}

static int
upload (struct nexc_client *c, const struct opts *o, char hex[65])
{
  struct objstore_info info;
  struct nxerr err = { 0 };
  int fd = open (o->file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      fprintf (stderr, "automation: open %s: %s\n", o->file, strerror (errno));
      return -1;
    }
  memset (&info, 0, sizeof info);
  int rc = objstore_put_file (c->nc, NEXC_DEFAULT_BUCKET, o->name, fd, NULL, NULL, NULL, &info,
                              &err);
  close (fd);
  if (rc == 0)
    rc = objstore_read (c->nc, &info, NULL, NULL, NULL, hex, &err);
  objstore_info_free (&info);
  if (rc < 0)
    fprintf (stderr, "automation: upload %s: %s\n", o->file, err.msg);
  return rc;
}

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "name", required_argument, NULL, 'n' },     { "file", required_argument, NULL, 'f' },
    { "replicas", required_argument, NULL, 'r' }, { "tag", required_argument, NULL, 't' },
    { "env", required_argument, NULL, 'e' },      { "issuer", required_argument, NULL, 'i' },
    { "server", required_argument, NULL, 's' },   { "namespace", required_argument, NULL, 'N' },
    { "timeout", required_argument, NULL, 'T' },  { "cleanup", no_argument, NULL, 'c' },
    { NULL, 0, NULL, 0 }
  };
  struct opts o = { .ns = "default", .replicas = 1 };
  struct nexc_client *c = NULL;
  struct nkey_pair issuer;
  struct nxerr err = { 0 };
  natsSubscription *ev = NULL;
  char hex[65], subj[256];
  int ch;
  while ((ch = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    switch (ch)
      {
      case 'n': o.name = optarg; break;
      case 'f': o.file = optarg; break;
      case 'r': o.replicas = atoi (optarg); break;
      case 't': o.tag = optarg; break;
      case 'e':
        if (o.n_env < 63)
          o.env[o.n_env++] = optarg;
        break;
      case 'i': o.issuer = optarg; break;
      case 's': o.server = optarg; break;
      case 'N': o.ns = optarg; break;
      case 'T': o.timeout_ms = atoll (optarg); break;
      case 'c': o.cleanup = true; break;
      default:
        fprintf (stderr, "usage: automation --name N --file F --replicas N [--tag k=v] ...\n");
        return 2;
      }
  if (o.name == NULL || o.file == NULL || o.replicas < 0 || o.replicas > MAX_REPLICAS)
    {
      fprintf (stderr, "automation: --name, --file and --replicas (0..%d) are required\n",
               MAX_REPLICAS);
      return 2;
    }
  if ((o.issuer ? nkey_pair_from_file (o.issuer, &issuer, &err)
                : nkey_pair_generate (NKEY_ACCOUNT, &issuer, &err))
          < 0
      || nexc_client_connect (&c, o.server ? o.server : getenv ("NATS_URL"), NULL, &err) < 0)
    {
      fprintf (stderr, "automation: %s\n", err.msg);
      return 3;
    }
  snprintf (c->ns, sizeof c->ns, "%s", o.ns);
  c->timeout_ms = 5000;
  if (upload (c, &o, hex) < 0)
    return 1;
  snprintf (subj, sizeof subj, "$NEX.events.%s.workload_stopped", o.ns);
  natsConnection_SubscribeSync (&ev, c->nc, subj);
  signal (SIGINT, on_signal);
  signal (SIGTERM, on_signal);
  say ("keeping %d replicas of %s (sha256 %.12s…)%s%s", o.replicas, o.name, hex,
       o.tag ? " on nodes tagged " : "", o.tag ? o.tag : "");
  int64_t end = o.timeout_ms > 0 ? nats_Now () + o.timeout_ms : INT64_MAX;
  int64_t next = 0;
  while (!stop_now && nats_Now () < end)
    {
      natsMsg *m = NULL;
      bool now = nats_Now () >= next;
      if (natsSubscription_NextMsg (&m, ev, 100) == NATS_OK)
        {
          json_t *j = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
          const char *wn = json_string_value (
              json_object_get (json_object_get (j, "data"), "workload_name"));
          if (wn && strcmp (wn, o.name) == 0)
            {
              say ("replica %s stopped: %s",
                   json_string_value (json_object_get (j, "source")) ?: "?",
                   json_string_value (json_object_get (json_object_get (j, "data"), "message"))
                       ?: "");
              now = true;
            }
          json_decref (j);
          natsMsg_Destroy (m);
        }
      if (now)
        {
          reconcile (c, &o, &issuer, hex);
          next = nats_Now () + RECONCILE_MS;
        }
    }
  if (o.cleanup)
    {
      struct replica r[MAX_REPLICAS];
      int n = list_replicas (c, &o, r, MAX_REPLICAS);
      for (int i = 0; i < n; i++)
        nexc_stop (c, r[i].node, r[i].id, o.name, &issuer, &err);
      say ("stopped %d replicas", n > 0 ? n : 0);
    }
  natsSubscription_Destroy (ev);
  nexc_client_free (c);
  nkey_pair_wipe (&issuer);
  return 0;
}
