/* nexc: the command-line client. Every command talks to nodes over NATS
 * through the client library (api/nexc.h).
 *
 * Exit codes: 0 ok, 1 the node refused (its message is printed), 2 usage,
 * 3 connection or timeout. */
#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/nexc.h"
#include "api/nkeys.h"
#include "api/subjects.h"
#include "api/timefmt.h"
#include "api/xalloc.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_CONN 3

struct opts {
  const char *server;
  struct nexc_conn_opts conn;
  const char *ns;
  int64_t timeout_ms;
  bool json;
  const char *issuer;
  const char *name;
  const char *node;
  const char *tag;
  const char *workload;
  const char *id;
  const char *type;
  const char *out;
  bool essential;
  const char *env[256];
  int n_env;
  const char *argv[256];
  int n_argv;
  const char *triggers[65]; /* run --type function --trigger SUBJECT ... */
  int n_triggers;
};

static volatile sig_atomic_t interrupted;

static void
on_sigint (int sig)
{
  (void) sig;
  interrupted = 1;
}

static const char *const USAGE
    = "usage: nexc [global flags] COMMAND [args]\n"
      "\n"
      "commands:\n"
      "  nodes ls                     list nodes (PING)\n"
      "  nodes info NODE_ID           one node's INFO\n"
      "  run FILE [--name N] [--env K=V ...] [--argv A ...] [--node ID | --tag k=v[,k=v]]\n"
      "           [--issuer SEEDFILE] [--essential]   upload and deploy a workload\n"
      "           [--type function --trigger SUBJECT ...]   run it per message on SUBJECT\n"
      "  stop WORKLOAD_ID [--issuer SEEDFILE]          stop a workload\n"
      "  ls                           list workloads across nodes (WPING)\n"
      "  logs [--node ID] [--workload NAME] [--id ID]  follow workload logs\n"
      "  events [--type TYPE]         follow events\n"
      "  lameduck NODE_ID             put a node in lame duck mode\n"
      "  keygen issuer|xkey [--out FILE]   new key: seed on stdout, public key on stderr\n"
      "  req SUBJECT [DATA]           send a plain NATS request, print the reply\n"
      "  top                          live per-workload metrics (a table on a terminal,\n"
      "                               JSON lines with --json or when not a terminal)\n"
      "\n"
      "global flags: --server URL[,URL] (or NATS_URL), --creds FILE, --nkey SEEDFILE,\n"
      "  --user U --password P, --token T, --namespace NS (default \"default\"),\n"
      "  --timeout MS (default 2000; for logs/events: how long to follow), --json\n"
      "\n"
      "example:\n"
      "  nexc run ./build/examples/ticker --name ticker --env TICK_MS=500\n"
      "  nexc logs --workload ticker --timeout 5000\n";

static int usage_error (const char *fmt, const char *arg) __attribute__ ((format (printf, 1, 0)));

static int
usage_error (const char *fmt, const char *arg)
{
  fprintf (stderr, "nexc: ");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  fprintf (stderr, fmt, arg);
#pragma GCC diagnostic pop
  fprintf (stderr, "\nrun 'nexc --help' for usage\n");
  return EXIT_USAGE;
}

static int
fail (struct nxerr *err)
{
  fprintf (stderr, "nexc: %s\n", err->msg);
  if (err->code == ETIMEDOUT || err->code == EHOSTUNREACH || err->code == EIO)
    return EXIT_CONN;
  return EXIT_REFUSED;
}

static int
connect_client (struct opts *o, struct nexc_client **c)
{
  struct nxerr err = { 0 };
  const char *srv = o->server ? o->server : getenv ("NATS_URL");
  if (nexc_client_connect (c, srv, &o->conn, &err) < 0)
    {
      fprintf (stderr, "nexc: %s (server %s): is nats-server running? set --server or NATS_URL\n",
               err.msg, srv ? srv : "nats://127.0.0.1:4222");
      return EXIT_CONN;
    }
  snprintf ((*c)->ns, sizeof (*c)->ns, "%s", o->ns);
  (*c)->timeout_ms = o->timeout_ms;
  return 0;
}

/* ---- keys ---- */

static int
default_issuer_path (char *out, size_t cap)
{
  const char *home = getenv ("HOME");
  snprintf (out, cap, "%s/.nexc", home ? home : ".");
  mkdir (out, 0700);
  snprintf (out, cap, "%s/.nexc/issuer.nk", home ? home : ".");
  return 0;
}

static int
write_seed_file (const char *path, const char *seed, struct nxerr *err)
{
  FILE *f;
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return nxerr_sys (err, errno, "create %s", path);
  f = fdopen (fd, "w");
  fprintf (f, "%s\n", seed);
  fclose (f);
  return 0;
}

static int
load_issuer (const char *path, struct nkey_pair *kp, bool create, struct nxerr *err)
{
  char def[4096];
  if (path == NULL)
    {
      default_issuer_path (def, sizeof def);
      path = def;
      if (create && access (path, F_OK) != 0)
        {
          char s[NKEY_SEED_LEN + 1];
          if (nkey_pair_generate (NKEY_ACCOUNT, kp, err) < 0)
            return -1;
          nkey_pair_seed_text (kp, s);
          if (write_seed_file (path, s, err) < 0)
            return -1;
          memset (s, 0, sizeof s);
          fprintf (stderr, "nexc: created issuer key %s (public %s)\n", path, kp->public_text);
          return 0;
        }
    }
  return nkey_pair_from_file (path, kp, err);
}

static int
cmd_keygen (struct opts *o, int argc, char **argv)
{
  struct nkey_pair kp;
  struct nxerr err = { 0 };
  char seed[NKEY_SEED_LEN + 1];
  uint8_t prefix;
  if (argc < 1)
    return usage_error ("keygen: issuer or xkey%s", "");
  if (strcmp (argv[0], "issuer") == 0)
    prefix = NKEY_ACCOUNT;
  else if (strcmp (argv[0], "xkey") == 0)
    prefix = NKEY_CURVE;
  else
    return usage_error ("keygen: unknown key kind \"%s\" (issuer or xkey)", argv[0]);
  if (nkey_pair_generate (prefix, &kp, &err) < 0)
    return fail (&err);
  nkey_pair_seed_text (&kp, seed);
  if (o->out)
    {
      if (write_seed_file (o->out, seed, &err) < 0)
        return fail (&err);
    }
  else
    printf ("%s\n", seed);
  fprintf (stderr, "%s\n", kp.public_text);
  memset (seed, 0, sizeof seed);
  nkey_pair_wipe (&kp);
  return 0;
}

/* ---- nodes ---- */

static int
cmd_nodes (struct opts *o, int argc, char **argv)
{
  struct nexc_client *c;
  struct nxerr err = { 0 };
  int rc;
  if (argc < 1)
    return usage_error ("nodes: ls or info NODE_ID%s", "");
  if ((rc = connect_client (o, &c)))
    return rc;
  if (strcmp (argv[0], "ls") == 0)
    {
      struct nexc_node *nodes;
      size_t n;
      if (nexc_nodes_ping (c, o->timeout_ms < 750 ? o->timeout_ms : 750, &nodes, &n, &err) < 0)
        {
          nexc_client_free (c);
          return fail (&err);
        }
      if (o->json)
        for (size_t i = 0; i < n; i++)
          printf ("{\"node_id\":\"%s\",\"name\":\"%s\",\"version\":\"%s\",\"uptime\":\"%s\","
                  "\"running_machines\":%lld,\"tags\":%s}\n",
                  nodes[i].node_id, nodes[i].name, nodes[i].version, nodes[i].uptime,
                  (long long) nodes[i].running, nodes[i].tags_json);
      else
        {
          printf ("%-56s  %-18s  %-11s  %-10s  %9s  %s\n", "ID", "NAME", "VERSION", "UPTIME",
                  "WORKLOADS", "TAGS");
          for (size_t i = 0; i < n; i++)
            printf ("%-56s  %-18s  %-11s  %-10s  %9lld  %s\n", nodes[i].node_id, nodes[i].name,
                    nodes[i].version, nodes[i].uptime, (long long) nodes[i].running,
                    nodes[i].tags_json);
          if (n == 0)
            fprintf (stderr, "nexc: no node answered\n");
        }
      nexc_nodes_free (nodes, n);
      nexc_client_free (c);
      return 0;
    }
  if (strcmp (argv[0], "info") == 0 && argc >= 2)
    {
      char *data = NULL;
      if (nexc_node_info (c, argv[1], &data, &err) < 0)
        {
          nexc_client_free (c);
          return fail (&err);
        }
      if (o->json)
        printf ("%s\n", data);
      else
        {
          json_t *j = json_loads (data, 0, NULL);
          char *pretty = json_dumps (j, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
          printf ("%s\n", pretty);
          free (pretty);
          json_decref (j);
        }
      free (data);
      nexc_client_free (c);
      return 0;
    }
  nexc_client_free (c);
  return usage_error ("nodes: unknown subcommand \"%s\" (ls, info NODE_ID)", argv[0]);
}

/* ---- run ---- */

static void
progress (uint64_t sent, uint64_t total, void *ud)
{
  (void) ud;
  if (!isatty (STDERR_FILENO) || total == 0)
    return;
  int pct = (int) (sent * 100 / total);
  int bar = pct / 4;
  fprintf (stderr, "\rupload [%-25.*s] %3d%% %llu/%llu bytes", bar, "#########################",
           pct, (unsigned long long) sent, (unsigned long long) total);
  if (sent == total)
    fprintf (stderr, "\n");
}

/* --tag k=v[,k=v] as an auction filter {"tags":{...}}. */
static int
tag_filter (const char *tags, char **out)
{
  json_t *t = json_object ();
  json_t *req = json_object ();
  char *copy = xstrdup (tags), *save = NULL;
  for (char *kv = strtok_r (copy, ",", &save); kv; kv = strtok_r (NULL, ",", &save))
    {
      char *eq = strchr (kv, '=');
      if (eq == NULL || eq == kv)
        {
          free (copy);
          json_decref (t);
          json_decref (req);
          return usage_error ("--tag: \"%s\" is not key=value", kv);
        }
      *eq = '\0';
      json_object_set_new (t, kv, json_string (eq + 1));
    }
  free (copy);
  json_object_set_new (req, "tags", t);
  *out = json_dumps (req, JSON_COMPACT);
  json_decref (req);
  return 0;
}

/* Pick a node by auction: every matching node bids, the best bid wins. */
static int
pick_node (struct opts *o, struct nexc_client *c, char *out, size_t cap)
{
  struct nexc_node *nodes;
  size_t n, best;
  struct nxerr err = { 0 };
  char *filter = NULL;
  int rc;
  if (o->tag && (rc = tag_filter (o->tag, &filter)))
    return rc;
  rc = nexc_auction (c, filter, 750, &nodes, &n, &err);
  free (filter);
  if (rc < 0)
    return fail (&err);
  best = nexc_best_bid (nodes, n);
  if (best == SIZE_MAX)
    {
      nexc_nodes_free (nodes, n);
      fprintf (stderr, "nexc: no node%s%s bid: start one, check --server, or relax --tag\n",
               o->tag ? " with tags " : "", o->tag ? o->tag : "");
      return EXIT_CONN;
    }
  snprintf (out, cap, "%s", nodes[best].node_id);
  nexc_nodes_free (nodes, n);
  return 0;
}

static void
default_name (const char *file, char *out, size_t cap)
{
  const char *base = strrchr (file, '/');
  size_t o = 0;
  base = base ? base + 1 : file;
  for (; *base && o + 1 < cap; base++)
    if ((*base >= 'a' && *base <= 'z') || (*base >= 'A' && *base <= 'Z')
        || (*base >= '0' && *base <= '9') || *base == '-' || *base == '_')
      out[o++] = *base;
  out[o] = '\0';
  if (o == 0)
    snprintf (out, cap, "workload");
}

static int
cmd_run (struct opts *o, int argc, char **argv)
{
  struct nexc_client *c;
  struct nexc_deploy_opts d = { 0 };
  struct nexc_deploy_result res;
  struct nkey_pair issuer;
  struct nxerr err = { 0 };
  char node[64], name[128];
  int rc;
  if (argc < 1)
    return usage_error ("run: FILE is required%s", "");
  if ((o->type && strcmp (o->type, "function") == 0) != (o->n_triggers > 0))
    return usage_error ("run: %s", o->n_triggers ? "--trigger needs --type function"
                                                 : "--type function needs --trigger SUBJECT");
  if (access (argv[0], R_OK) != 0)
    return usage_error ("run: cannot read %s", argv[0]);
  if (load_issuer (o->issuer, &issuer, true, &err) < 0)
    return fail (&err);
  if ((rc = connect_client (o, &c)))
    return rc;
  if (o->node)
    snprintf (node, sizeof node, "%s", o->node);
  else if ((rc = pick_node (o, c, node, sizeof node)))
    {
      nexc_client_free (c);
      return rc;
    }
  if (o->name)
    snprintf (name, sizeof name, "%s", o->name);
  else
    default_name (argv[0], name, sizeof name);
  o->env[o->n_env] = NULL;
  o->argv[o->n_argv] = NULL;
  o->triggers[o->n_triggers] = NULL;
  d.trigger_subjects = o->n_triggers ? o->triggers : NULL;
  d.node_id = node;
  d.file = argv[0];
  d.name = name;
  d.type = o->type;
  d.env = o->env;
  d.argv = o->argv;
  d.essential = o->essential;
  d.issuer = &issuer;
  d.progress = progress;
  c->timeout_ms = o->timeout_ms > 5000 ? o->timeout_ms : 5000;
  rc = nexc_deploy (c, &d, &res, &err);
  nkey_pair_wipe (&issuer);
  nexc_client_free (c);
  if (rc < 0)
    return fail (&err);
  if (o->json)
    printf ("{\"id\":\"%s\",\"name\":\"%s\",\"issuer\":\"%s\",\"node_id\":\"%s\",\"hash\":\"%s\"}\n",
            res.id, res.name, res.issuer, node, res.hash);
  else
    printf ("started %s as %s on node %s (sha256 %s)\n", res.name, res.id, node, res.hash);
  return 0;
}

/* ---- ls / stop (WPING) ---- */

struct wl {
  char id[64], name[256], ns[128], type[32], node[64];
};

static int
wping (struct opts *o, struct nexc_client *c, const char *filter, struct wl **out, size_t *n)
{
  char subj[512], inbox[128];
  natsInbox *ib = NULL;
  natsSubscription *sub = NULL;
  int64_t deadline;
  *out = NULL;
  *n = 0;
  if (filter)
    snprintf (subj, sizeof subj, "$NEX.WPING.%s.%s", o->ns, filter);
  else
    snprintf (subj, sizeof subj, "$NEX.WPING.%s", o->ns);
  natsInbox_Create (&ib);
  snprintf (inbox, sizeof inbox, "%s", (const char *) ib);
  natsInbox_Destroy (ib);
  if (natsConnection_SubscribeSync (&sub, c->nc, inbox) != NATS_OK
      || natsConnection_PublishRequestString (c->nc, subj, inbox, "") != NATS_OK)
    {
      natsSubscription_Destroy (sub);
      fprintf (stderr, "nexc: cannot send %s\n", subj);
      return EXIT_CONN;
    }
  deadline = nats_Now () + 750;
  for (;;)
    {
      natsMsg *m = NULL;
      int64_t left = deadline - nats_Now ();
      if (left <= 0 || natsSubscription_NextMsg (&m, sub, left) != NATS_OK)
        break;
      json_t *root = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
      natsMsg_Destroy (m);
      json_t *d = json_object_get (root, "data");
      json_t *ms = json_object_get (d, "running_machines");
      size_t i;
      json_t *e;
      json_array_foreach (ms, i, e)
      {
        struct wl *w;
        *out = xrealloc (*out, (*n + 1) * sizeof **out);
        w = &(*out)[(*n)++];
        snprintf (w->id, sizeof w->id, "%s", json_string_value (json_object_get (e, "id")) ?: "");
        snprintf (w->name, sizeof w->name, "%s",
                  json_string_value (json_object_get (e, "name")) ?: "");
        snprintf (w->ns, sizeof w->ns, "%s",
                  json_string_value (json_object_get (e, "namespace")) ?: "");
        snprintf (w->type, sizeof w->type, "%s",
                  json_string_value (json_object_get (e, "type")) ?: "");
        snprintf (w->node, sizeof w->node, "%s",
                  json_string_value (json_object_get (d, "node_id")) ?: "");
      }
      json_decref (root);
    }
  natsSubscription_Destroy (sub);
  return 0;
}

static int
cmd_ls (struct opts *o)
{
  struct nexc_client *c;
  struct wl *w;
  size_t n;
  int rc;
  if ((rc = connect_client (o, &c)))
    return rc;
  rc = wping (o, c, NULL, &w, &n);
  nexc_client_free (c);
  if (rc)
    return rc;
  if (!o->json)
    printf ("%-20s  %-20s  %-10s  %-8s  %s\n", "ID", "NAME", "NAMESPACE", "TYPE", "NODE");
  for (size_t i = 0; i < n; i++)
    if (o->json)
      printf ("{\"id\":\"%s\",\"name\":\"%s\",\"namespace\":\"%s\",\"type\":\"%s\","
              "\"node_id\":\"%s\"}\n",
              w[i].id, w[i].name, w[i].ns, w[i].type, w[i].node);
    else
      printf ("%-20s  %-20s  %-10s  %-8s  %s\n", w[i].id, w[i].name, w[i].ns, w[i].type,
              w[i].node);
  free (w);
  return 0;
}

static int
cmd_stop (struct opts *o, int argc, char **argv)
{
  struct nexc_client *c;
  struct nkey_pair issuer;
  struct nxerr err = { 0 };
  struct wl *w;
  size_t n;
  int rc;
  if (argc < 1)
    return usage_error ("stop: WORKLOAD_ID is required%s", "");
  if (!subjects_token_ok (argv[0]))
    return usage_error ("stop: \"%s\" is not a workload id", argv[0]);
  if (load_issuer (o->issuer, &issuer, false, &err) < 0)
    return fail (&err);
  if ((rc = connect_client (o, &c)))
    return rc;
  if ((rc = wping (o, c, argv[0], &w, &n)))
    {
      nexc_client_free (c);
      return rc;
    }
  if (n == 0)
    {
      free (w);
      nexc_client_free (c);
      fprintf (stderr, "nexc: no workload %s in namespace %s\n", argv[0], o->ns);
      return EXIT_REFUSED;
    }
  c->timeout_ms = o->timeout_ms > 10000 ? o->timeout_ms : 10000; /* the stop waits for the grace */
  rc = nexc_stop (c, w[0].node, w[0].id, w[0].name, &issuer, &err);
  nkey_pair_wipe (&issuer);
  nexc_client_free (c);
  if (rc < 0)
    {
      free (w);
      return fail (&err);
    }
  if (o->json)
    printf ("{\"stopped\":true,\"id\":\"%s\",\"node_id\":\"%s\"}\n", w[0].id, w[0].node);
  else
    printf ("stopped %s (%s) on node %s\n", w[0].id, w[0].name, w[0].node);
  free (w);
  return 0;
}

static int
cmd_lameduck (struct opts *o, int argc, char **argv)
{
  struct nexc_client *c;
  struct nxerr err = { 0 };
  int rc;
  if (argc < 1)
    return usage_error ("lameduck: NODE_ID is required%s", "");
  if ((rc = connect_client (o, &c)))
    return rc;
  rc = nexc_lameduck (c, argv[0], &err);
  nexc_client_free (c);
  if (rc < 0)
    return fail (&err);
  printf (o->json ? "{\"node_id\":\"%s\",\"success\":true}\n" : "node %s is in lame duck mode\n",
          argv[0]);
  return 0;
}

/* ---- follow: logs and events ---- */

static int
follow (struct opts *o, const char **subjects, int n_subj, bool logs)
{
  struct nexc_client *c;
  natsSubscription *subs[4] = { 0 };
  int rc;
  int64_t deadline;
  if ((rc = connect_client (o, &c)))
    return rc;
  for (int i = 0; i < n_subj; i++)
    if (natsConnection_SubscribeSync (&subs[i], c->nc, subjects[i]) != NATS_OK)
      {
        fprintf (stderr, "nexc: cannot subscribe to %s\n", subjects[i]);
        nexc_client_free (c);
        return EXIT_CONN;
      }
  signal (SIGINT, on_sigint);
  signal (SIGTERM, on_sigint);
  deadline = o->timeout_ms > 0 ? nats_Now () + o->timeout_ms : INT64_MAX;
  while (!interrupted && nats_Now () < deadline)
    {
      for (int i = 0; i < n_subj; i++)
        {
          natsMsg *m = NULL;
          if (natsSubscription_NextMsg (&m, subs[i], n_subj > 1 ? 50 : 200) != NATS_OK)
            continue;
          if (o->json || !logs)
            {
              if (o->json || logs)
                printf ("%.*s\n", natsMsg_GetDataLength (m), natsMsg_GetData (m));
              else
                {
                  json_t *j = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m),
                                          0, NULL);
                  char *data = j ? json_dumps (json_object_get (j, "data"), JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
                  printf ("%s %-24s %s %s\n",
                          json_string_value (json_object_get (j, "time")) ?: "-",
                          json_string_value (json_object_get (j, "type")) ?: "-",
                          json_string_value (json_object_get (j, "source")) ?: "-",
                          data ? data : natsMsg_GetData (m));
                  free (data);
                  json_decref (j);
                }
            }
          else
            {
              char *st = NULL;
              const char *tok[8];
              int nt = subjects_split (natsMsg_GetSubject (m), &st, tok, 8);
              json_t *j = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0,
                                      NULL);
              printf ("%s %s %-5s %s\n", nt == 6 ? tok[4] : "?", nt == 6 ? tok[5] : "?",
                      json_string_value (json_object_get (j, "level")) ?: "?",
                      json_string_value (json_object_get (j, "text")) ?: "");
              json_decref (j);
              free (st);
            }
          fflush (stdout);
          natsMsg_Destroy (m);
        }
    }
  for (int i = 0; i < n_subj; i++)
    natsSubscription_Destroy (subs[i]);
  nexc_client_free (c);
  return 0;
}

static int
cmd_logs (struct opts *o)
{
  char subj[512];
  const char *s[1] = { subj };
  snprintf (subj, sizeof subj, "$NEX.logs.%s.%s.%s.%s", o->ns, o->node ? o->node : "*",
            o->workload ? o->workload : "*", o->id ? o->id : "*");
  return follow (o, s, 1, true);
}

static int
cmd_events (struct opts *o)
{
  char a[256], b[256];
  const char *s[2] = { a, b };
  if (strstr (o->ns, "system"))
    return usage_error ("events: namespace \"%s\" is reserved", o->ns);
  snprintf (a, sizeof a, "$NEX.events.%s.%s", o->ns, o->type ? o->type : "*");
  snprintf (b, sizeof b, "$NEX.events.system.%s", o->type ? o->type : "*");
  return follow (o, s, 2, false);
}

static int
cmd_req (struct opts *o, int argc, char **argv)
{
  struct nexc_client *c;
  natsMsg *reply = NULL;
  natsStatus s;
  int rc;
  if (argc < 1)
    return usage_error ("req: SUBJECT is required%s", "");
  if ((rc = connect_client (o, &c)))
    return rc;
  s = natsConnection_RequestString (&reply, c->nc, argv[0], argc > 1 ? argv[1] : "",
                                    o->timeout_ms);
  if (s != NATS_OK)
    {
      fprintf (stderr, "nexc: req %s: %s\n", argv[0], natsStatus_GetText (s));
      nexc_client_free (c);
      return EXIT_CONN;
    }
  printf ("%.*s\n", natsMsg_GetDataLength (reply), natsMsg_GetData (reply));
  natsMsg_Destroy (reply);
  nexc_client_free (c);
  return 0;
}

/* ---- top ---- */

struct top_row {
  char id[64], name[128], ns[64], node[64];
  double cpu;
  long long mem, peak, pids, restarts, lines, dropped;
  int64_t seen_ms;
};

static void
top_draw (struct top_row *rows, size_t n)
{
  int64_t now = nats_Now ();
  printf ("\033[H\033[2J");
  printf ("%-20s  %-16s  %-8s  %6s  %10s  %10s  %5s  %4s  %9s  %7s\n", "ID", "NAME", "NS", "CPU",
          "MEM", "PEAK", "PIDS", "RST", "LOGLINES", "DROPPED");
  for (size_t i = 0; i < n; i++)
    {
      if (now - rows[i].seen_ms > 30000)
        continue; /* gone */
      printf ("%-20s  %-16.16s  %-8.8s  %5.0f%%  %9lldK  %9lldK  %5lld  %4lld  %9lld  %7lld\n",
              rows[i].id, rows[i].name, rows[i].ns, rows[i].cpu * 100, rows[i].mem / 1024,
              rows[i].peak / 1024, rows[i].pids, rows[i].restarts, rows[i].lines,
              rows[i].dropped);
    }
  fflush (stdout);
}

static int
cmd_top (struct opts *o)
{
  struct nexc_client *c;
  natsSubscription *sub = NULL;
  struct top_row *rows = NULL;
  size_t n = 0;
  char subj[256];
  bool table = !o->json && isatty (STDOUT_FILENO);
  int64_t deadline, last_draw = 0;
  int rc;
  if ((rc = connect_client (o, &c)))
    return rc;
  snprintf (subj, sizeof subj, "$NEX.events.%s.workload_metrics", o->ns);
  if (natsConnection_SubscribeSync (&sub, c->nc, subj) != NATS_OK)
    {
      nexc_client_free (c);
      return EXIT_CONN;
    }
  signal (SIGINT, on_sigint);
  signal (SIGTERM, on_sigint);
  deadline = o->timeout_ms > 0 ? nats_Now () + o->timeout_ms : INT64_MAX;
  if (table)
    top_draw (rows, 0);
  while (!interrupted && nats_Now () < deadline)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, sub, 200) == NATS_OK)
        {
          json_t *ev = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
          json_t *d = json_object_get (ev, "data");
          natsMsg_Destroy (m);
          if (!table && d)
            {
              char *line = json_dumps (d, JSON_COMPACT | JSON_PRESERVE_ORDER);
              printf ("%s\n", line);
              fflush (stdout);
              free (line);
            }
          else if (d)
            {
              const char *id = json_string_value (json_object_get (d, "workload_id"));
              size_t i;
              for (i = 0; id && i < n && strcmp (rows[i].id, id) != 0; i++)
                ;
              if (id && i == n && n < 10000)
                {
                  rows = xrealloc (rows, ++n * sizeof *rows);
                  memset (&rows[i], 0, sizeof rows[i]);
                  snprintf (rows[i].id, sizeof rows[i].id, "%s", id);
                }
              if (id && i < n)
                {
                  struct top_row *r = &rows[i];
                  snprintf (r->name, sizeof r->name, "%s",
                            json_string_value (json_object_get (d, "workload_name")) ?: "");
                  snprintf (r->ns, sizeof r->ns, "%s",
                            json_string_value (json_object_get (d, "namespace")) ?: "");
                  r->cpu = json_number_value (json_object_get (d, "cpu_rate"));
                  r->mem = json_integer_value (json_object_get (d, "memory_bytes"));
                  r->peak = json_integer_value (json_object_get (d, "memory_peak_bytes"));
                  r->pids = json_integer_value (json_object_get (d, "pids"));
                  r->restarts = json_integer_value (json_object_get (d, "restarts"));
                  r->lines = json_integer_value (json_object_get (d, "log_lines"));
                  r->dropped = json_integer_value (json_object_get (d, "log_dropped"));
                  r->seen_ms = nats_Now ();
                }
            }
          json_decref (ev);
        }
      if (table && nats_Now () - last_draw >= 1000)
        {
          top_draw (rows, n);
          last_draw = nats_Now ();
        }
    }
  free (rows);
  natsSubscription_Destroy (sub);
  nexc_client_free (c);
  return 0;
}

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "server", required_argument, NULL, 's' },   { "creds", required_argument, NULL, 'C' },
    { "nkey", required_argument, NULL, 'k' },     { "user", required_argument, NULL, 'u' },
    { "password", required_argument, NULL, 'p' }, { "token", required_argument, NULL, 'T' },
    { "namespace", required_argument, NULL, 'n' }, { "timeout", required_argument, NULL, 't' },
    { "json", no_argument, NULL, 'j' },           { "issuer", required_argument, NULL, 'i' },
    { "name", required_argument, NULL, 'N' },     { "node", required_argument, NULL, 'o' },
    { "tag", required_argument, NULL, 'g' },      { "workload", required_argument, NULL, 'w' },
    { "id", required_argument, NULL, 'I' },       { "type", required_argument, NULL, 'y' },
    { "out", required_argument, NULL, 'O' },      { "essential", no_argument, NULL, 'e' },
    { "env", required_argument, NULL, 'E' },      { "argv", required_argument, NULL, 'a' },
    { "trigger", required_argument, NULL, 'G' },  { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 }
  };
  struct opts o = { 0 };
  bool timeout_set = false;
  int c;
  o.ns = "default";
  o.timeout_ms = 2000;
  /* Flags may come before or after the command (GNU permutation). */
  while ((c = getopt_long (argc, argv, "s:jh", longopts, NULL)) != -1)
    {
      char *end;
      switch (c)
        {
        case 's': o.server = optarg; break;
        case 'C': o.conn.creds = optarg; break;
        case 'k': o.conn.nkey_seed = optarg; break;
        case 'u': o.conn.user = optarg; break;
        case 'p': o.conn.password = optarg; break;
        case 'T': o.conn.token = optarg; break;
        case 'n':
          if (!subjects_token_ok (optarg))
            return usage_error ("--namespace: \"%s\" is not a valid subject token", optarg);
          o.ns = optarg;
          break;
        case 't':
          o.timeout_ms = strtoll (optarg, &end, 10);
          if (*end || o.timeout_ms < 0)
            return usage_error ("--timeout: \"%s\" is not a number of milliseconds", optarg);
          timeout_set = true;
          break;
        case 'j': o.json = true; break;
        case 'i': o.issuer = optarg; break;
        case 'N': o.name = optarg; break;
        case 'o': o.node = optarg; break;
        case 'g': o.tag = optarg; break;
        case 'w': o.workload = optarg; break;
        case 'I': o.id = optarg; break;
        case 'y': o.type = optarg; break;
        case 'O': o.out = optarg; break;
        case 'e': o.essential = true; break;
        case 'E':
          if (o.n_env >= 255 || strchr (optarg, '=') == NULL)
            return usage_error ("--env: \"%s\" is not KEY=VALUE", optarg);
          o.env[o.n_env++] = optarg;
          break;
        case 'a':
          if (o.n_argv >= 255)
            return usage_error ("--argv: too many arguments%s", "");
          o.argv[o.n_argv++] = optarg;
          break;
        case 'G':
          if (o.n_triggers >= 64)
            return usage_error ("--trigger: at most 64 subjects%s", "");
          o.triggers[o.n_triggers++] = optarg;
          break;
        case 'h': fputs (USAGE, stdout); return 0;
        default: fputs (USAGE, stderr); return EXIT_USAGE;
        }
    }
  argc -= optind;
  argv += optind;
  if (argc < 1)
    {
      fputs (USAGE, stderr);
      return EXIT_USAGE;
    }
  if (!timeout_set && (strcmp (argv[0], "logs") == 0 || strcmp (argv[0], "events") == 0
                       || strcmp (argv[0], "top") == 0))
    o.timeout_ms = 0; /* follow until Ctrl-C */
  if (strcmp (argv[0], "nodes") == 0)
    return cmd_nodes (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "run") == 0)
    return cmd_run (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "stop") == 0)
    return cmd_stop (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "ls") == 0)
    return cmd_ls (&o);
  if (strcmp (argv[0], "logs") == 0)
    return cmd_logs (&o);
  if (strcmp (argv[0], "events") == 0)
    return cmd_events (&o);
  if (strcmp (argv[0], "lameduck") == 0)
    return cmd_lameduck (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "keygen") == 0)
    return cmd_keygen (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "req") == 0)
    return cmd_req (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "top") == 0)
    return cmd_top (&o);
  return usage_error ("unknown command \"%s\"", argv[0]);
}
