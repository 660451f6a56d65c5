/* cmd_top: top, live per-workload metrics from the workload_metrics events:
 * a table redrawn each second on a terminal, else the events as JSON lines. */
#include "api/subfree.h"
#include "api/cli/cli.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/xalloc.h"

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

int
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
  if ((rc = cli_connect_client (o, &c)))
    return rc;
  snprintf (subj, sizeof subj, "$NEX.events.%s.workload_metrics", o->ns);
  if (natsConnection_SubscribeSync (&sub, c->nc, subj) != NATS_OK)
    {
      nexc_client_free (c);
      return EXIT_CONN;
    }
  signal (SIGINT, cli_on_sigint);
  signal (SIGTERM, cli_on_sigint);
  deadline = o->timeout_ms > 0 ? nats_Now () + o->timeout_ms : INT64_MAX;
  if (table)
    top_draw (rows, 0);
  while (!cli_interrupted && nats_Now () < deadline)
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
  subfree (c->nc, sub);
  nexc_client_free (c);
  return 0;
}
