/* cmd_run: run FILE: pick a node by auction (or --node), upload the file to
 * the object store and deploy it there; then watch it for --wait MS (500 by
 * default) and report, with exit status 1, a workload that ended in that
 * time: a started workload that is gone a moment later is what a user most
 * needs to be told. */
#include "api/subfree.h"
#include "api/cli/cli.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/nkeys.h"
#include "api/xalloc.h"

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

/* ---- watching the first moments ---- */

#define WATCH_LINES 10

struct watch {
  natsConnection *nc; /* the client's */
  natsSubscription *events, *logs;
  char *lines[WATCH_LINES]; /* the last log lines, a ring */
  size_t n_lines;
  bool ended;
  int64_t code;
  char *message;
};

/* Subscribed before the deploy, so nothing of the first moments is missed. */
static void
watch_begin (struct watch *w, struct nexc_client *c, const char *node, const char *name)
{
  char subj[512];
  memset (w, 0, sizeof *w);
  w->nc = c->nc;
  snprintf (subj, sizeof subj, "$NEX.events.%s.workload_stopped", c->ns);
  natsConnection_SubscribeSync (&w->events, c->nc, subj);
  snprintf (subj, sizeof subj, "$NEX.logs.%s.%s.%s.*", c->ns, node, name);
  natsConnection_SubscribeSync (&w->logs, c->nc, subj);
}

static void
keep_line (struct watch *w, natsMsg *m, const char *id)
{
  const char *subj = natsMsg_GetSubject (m), *dot = strrchr (subj, '.');
  json_t *j;
  if (dot == NULL || strcmp (dot + 1, id) != 0)
    return;
  j = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
  if (json_is_string (json_object_get (j, "text")))
    {
      size_t k = w->n_lines++ % WATCH_LINES;
      free (w->lines[k]);
      w->lines[k] = xstrdup (json_string_value (json_object_get (j, "text")));
    }
  json_decref (j);
}

static void
note_event (struct watch *w, natsMsg *m, const char *id)
{
  json_t *j = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
  json_t *data = json_object_get (j, "data");
  const char *src = json_string_value (json_object_get (j, "source"));
  if (src && strcmp (src, id) == 0)
    {
      w->ended = true;
      w->code = json_integer_value (json_object_get (data, "code"));
      free (w->message);
      w->message = xstrdup (json_string_value (json_object_get (data, "message")) ?: "");
    }
  json_decref (j);
}

/* Until wait_ms passed or the workload id ended; then the log lines that
 * were already on their way. */
static void
watch_run (struct watch *w, const char *id, int64_t wait_ms)
{
  int64_t deadline = nats_Now () + wait_ms;
  natsMsg *m;
  while (!w->ended && nats_Now () < deadline)
    {
      if (natsSubscription_NextMsg (&m, w->events, 20) == NATS_OK)
        {
          note_event (w, m, id);
          natsMsg_Destroy (m);
        }
      while (natsSubscription_NextMsg (&m, w->logs, 0) == NATS_OK)
        {
          keep_line (w, m, id);
          natsMsg_Destroy (m);
        }
    }
  for (int64_t end = nats_Now () + (w->ended ? 200 : 0); nats_Now () < end;)
    if (natsSubscription_NextMsg (&m, w->logs, 20) == NATS_OK)
      {
        keep_line (w, m, id);
        natsMsg_Destroy (m);
      }
}

static void
watch_end (struct watch *w)
{
  subfree (w->nc, w->events);
  subfree (w->nc, w->logs);
  for (size_t i = 0; i < WATCH_LINES; i++)
    free (w->lines[i]);
  free (w->message);
}

/* The last lines, oldest first, as a JSON array. */
static json_t *
last_lines (const struct watch *w)
{
  json_t *a = json_array ();
  size_t n = w->n_lines < WATCH_LINES ? w->n_lines : WATCH_LINES;
  for (size_t i = 0; i < n; i++)
    json_array_append_new (a, json_string (w->lines[(w->n_lines - n + i) % WATCH_LINES]));
  return a;
}

static int
report (const struct opts *o, const struct watch *w, const struct nexc_deploy_result *res,
        const char *node)
{
  if (o->json)
    {
      json_t *j = json_pack ("{s:s,s:s,s:s,s:s,s:s,s:b}", "id", res->id, "name", res->name,
                             "issuer", res->issuer, "node_id", node, "hash", res->hash, "ended",
                             w->ended);
      if (w->ended)
        {
          json_object_set_new (j, "code", json_integer (w->code));
          json_object_set_new (j, "message", json_string (w->message));
          json_object_set_new (j, "last_lines", last_lines (w));
        }
      int rc = cli_print_json (j);
      return rc ? rc : w->ended ? EXIT_REFUSED : 0;
    }
  printf ("started %s as %s on node %s (sha256 %s)\n", res->name, res->id, node, res->hash);
  if (!w->ended)
    return 0;
  fprintf (stderr, "nexc: %s ended within %lld ms: code %lld: %s\n", res->name,
           (long long) o->wait_ms, (long long) w->code, w->message);
  size_t n = w->n_lines < WATCH_LINES ? w->n_lines : WATCH_LINES;
  if (n)
    fprintf (stderr, "nexc: its last %zu log line%s:\n", n, n == 1 ? "" : "s");
  for (size_t i = 0; i < n; i++)
    fprintf (stderr, "  %s\n", w->lines[(w->n_lines - n + i) % WATCH_LINES]);
  return EXIT_REFUSED;
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
          return cli_usage_error ("--tag: \"%s\" is not key=value", kv);
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
    return cli_fail (&err);
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

int
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
    return cli_usage_error ("run: FILE is required%s", "");
  if ((o->type && strcmp (o->type, "function") == 0) != (o->n_triggers > 0))
    return cli_usage_error ("run: %s", o->n_triggers ? "--trigger needs --type function"
                                                     : "--type function needs --trigger SUBJECT");
  if (access (argv[0], R_OK) != 0)
    return cli_usage_error ("run: cannot read %s", argv[0]);
  if (cli_load_issuer (o->issuer, &issuer, true, &err) < 0)
    return cli_fail (&err);
  if ((rc = cli_connect_client (o, &c)))
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
  o->nats_pub[o->n_nats_pub] = NULL;
  o->nats_sub[o->n_nats_sub] = NULL;
  d.nats_publish = o->n_nats_pub ? o->nats_pub : NULL;
  d.nats_subscribe = o->n_nats_sub ? o->nats_sub : NULL;
  o->bind_ro[o->n_bind_ro] = NULL;
  d.filesystem.mode = o->n_bind_ro > 0 ? FS_MINIMAL : o->fs_mode;
  d.filesystem.bind_ro = o->n_bind_ro > 0 ? o->bind_ro : NULL;
  d.filesystem.n_bind_ro = (size_t) o->n_bind_ro;
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
  /* A function does not run until a message comes: nothing to watch. */
  struct watch w;
  bool watching = o->wait_ms > 0 && o->n_triggers == 0;
  if (watching)
    watch_begin (&w, c, node, name);
  else
    memset (&w, 0, sizeof w);
  rc = nexc_deploy (c, &d, &res, &err);
  nkey_pair_wipe (&issuer);
  if (rc == 0 && watching)
    watch_run (&w, res.id, o->wait_ms);
  if (rc < 0)
    rc = cli_fail (&err);
  else
    rc = report (o, &w, &res, node);
  watch_end (&w);
  nexc_client_free (c);
  return rc;
}
