/* cmd_workloads: ls and stop, which both find workloads by WPING (stop asks
 * for the one id and sends the stop to the node that answers). */
#include "api/subfree.h"
#include "api/cli/cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/nkeys.h"
#include "api/subjects.h"
#include "api/xalloc.h"

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
      subfree (c->nc, sub);
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
  subfree (c->nc, sub);
  return 0;
}

int
cmd_ls (struct opts *o)
{
  struct nexc_client *c;
  struct wl *w;
  size_t n;
  int rc;
  if ((rc = cli_connect_client (o, &c)))
    return rc;
  rc = wping (o, c, NULL, &w, &n);
  nexc_client_free (c);
  if (rc)
    return rc;
  if (!o->json)
    printf ("%-20s  %-20s  %-10s  %-8s  %s\n", "ID", "NAME", "NAMESPACE", "TYPE", "NODE");
  for (size_t i = 0; i < n; i++)
    if (o->json)
      cli_print_json (json_pack ("{s:s,s:s,s:s,s:s,s:s}", "id", w[i].id, "name", w[i].name,
                                 "namespace", w[i].ns, "type", w[i].type, "node_id", w[i].node));
    else
      printf ("%-20s  %-20s  %-10s  %-8s  %s\n", w[i].id, w[i].name, w[i].ns, w[i].type,
              w[i].node);
  free (w);
  return 0;
}

int
cmd_stop (struct opts *o, int argc, char **argv)
{
  struct nexc_client *c;
  struct nkey_pair issuer;
  struct nxerr err = { 0 };
  struct wl *w;
  size_t n;
  int rc;
  if (argc < 1)
    return cli_usage_error ("stop: WORKLOAD_ID is required%s", "");
  if (!subjects_token_ok (argv[0]))
    return cli_usage_error ("stop: \"%s\" is not a workload id", argv[0]);
  if (cli_load_issuer (o->issuer, &issuer, false, &err) < 0)
    return cli_fail (&err);
  if ((rc = cli_connect_client (o, &c)))
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
      return cli_fail (&err);
    }
  if (o->json)
    cli_print_json (json_pack ("{s:b,s:s,s:s}", "stopped", 1, "id", w[0].id, "node_id", w[0].node));
  else
    printf ("stopped %s (%s) on node %s\n", w[0].id, w[0].name, w[0].node);
  free (w);
  return 0;
}
