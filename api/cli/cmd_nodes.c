/* cmd_nodes: the commands about nodes: nodes ls (PING), nodes info NODE_ID
 * and lameduck NODE_ID. */
#include "api/cli/cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
cmd_nodes (struct opts *o, int argc, char **argv)
{
  struct nexc_client *c;
  struct nxerr err = { 0 };
  int rc;
  if (argc < 1)
    return cli_usage_error ("nodes: ls or info NODE_ID%s", "");
  if ((rc = cli_connect_client (o, &c)))
    return rc;
  if (strcmp (argv[0], "ls") == 0)
    {
      struct nexc_node *nodes;
      size_t n;
      if (nexc_nodes_ping (c, o->timeout_ms < 750 ? o->timeout_ms : 750, &nodes, &n, &err) < 0)
        {
          nexc_client_free (c);
          return cli_fail (&err);
        }
      if (o->json)
        for (size_t i = 0; i < n; i++)
          {
            json_t *tags = json_loads (nodes[i].tags_json ? nodes[i].tags_json : "{}", 0, NULL);
            cli_print_json (json_pack ("{s:s?,s:s?,s:s?,s:s?,s:I,s:o}", "node_id", nodes[i].node_id,
                                       "name", nodes[i].name, "version", nodes[i].version,
                                       "uptime", nodes[i].uptime, "running_machines",
                                       (json_int_t) nodes[i].running, "tags",
                                       tags ? tags : json_object ()));
          }
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
          return cli_fail (&err);
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
  return cli_usage_error ("nodes: unknown subcommand \"%s\" (ls, info NODE_ID)", argv[0]);
}

int
cmd_lameduck (struct opts *o, int argc, char **argv)
{
  struct nexc_client *c;
  struct nxerr err = { 0 };
  struct nkey_pair issuer;
  bool signed_ = false;
  int rc;
  if (argc < 1)
    return cli_usage_error ("lameduck: NODE_ID is required%s", "");
  /* Signed whenever a key is at hand: a node may require it, and always
   * does for a drain. */
  if (cli_load_issuer (o->issuer, &issuer, false, &err) == 0)
    signed_ = true;
  else if (o->issuer || o->drain_ms >= 0)
    return cli_fail (&err);
  if ((rc = cli_connect_client (o, &c)))
    {
      if (signed_)
        nkey_pair_wipe (&issuer);
      return rc;
    }
  rc = nexc_lameduck_signed (c, argv[0], o->drain_ms, signed_ ? &issuer : NULL, &err);
  if (signed_)
    nkey_pair_wipe (&issuer);
  nexc_client_free (c);
  if (rc < 0)
    return cli_fail (&err);
  if (o->json)
    return cli_print_json (json_pack ("{s:s,s:b}", "node_id", argv[0], "success", 1));
  printf ("node %s is in lame duck mode\n", argv[0]);
  return 0;
}
