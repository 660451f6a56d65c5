/* cmd_run: run FILE: pick a node by auction (or --node), upload the file to
 * the object store and deploy it there. */
#include "api/cli/cli.h"

#include <jansson.h>
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
    return cli_fail (&err);
  if (o->json)
    printf ("{\"id\":\"%s\",\"name\":\"%s\",\"issuer\":\"%s\",\"node_id\":\"%s\",\"hash\":\"%s\"}\n",
            res.id, res.name, res.issuer, node, res.hash);
  else
    printf ("started %s as %s on node %s (sha256 %s)\n", res.name, res.id, node, res.hash);
  return 0;
}
