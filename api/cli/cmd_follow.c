/* cmd_follow: logs and events, which follow subjects until --timeout or
 * Ctrl-C and print each message as it comes. */
#include "api/subfree.h"
#include "api/cli/cli.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/subjects.h"

static int
follow (struct opts *o, const char **subjects, int n_subj, bool logs)
{
  struct nexc_client *c;
  natsSubscription *subs[4] = { 0 };
  int rc;
  int64_t deadline;
  if ((rc = cli_connect_client (o, &c)))
    return rc;
  for (int i = 0; i < n_subj; i++)
    if (natsConnection_SubscribeSync (&subs[i], c->nc, subjects[i]) != NATS_OK)
      {
        fprintf (stderr, "nexc: cannot subscribe to %s\n", subjects[i]);
        nexc_client_free (c);
        return EXIT_CONN;
      }
  signal (SIGINT, cli_on_sigint);
  signal (SIGTERM, cli_on_sigint);
  deadline = o->timeout_ms > 0 ? nats_Now () + o->timeout_ms : INT64_MAX;
  while (!cli_interrupted && nats_Now () < deadline)
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
                  char signer[NKEY_PUBLIC_LEN + 1];
                  struct nxerr verr = { 0 };
                  /* Anyone on the bus can publish here: say which events
                   * no node signed. */
                  int bad = nexc_event_verify (m, signer, &verr);
                  printf ("%s %-24s %s %s%s\n",
                          json_string_value (json_object_get (j, "time")) ?: "-",
                          json_string_value (json_object_get (j, "type")) ?: "-",
                          json_string_value (json_object_get (j, "source")) ?: "-",
                          data ? data : natsMsg_GetData (m),
                          bad == 0 ? "" : verr.code == ENOENT ? "  [UNSIGNED]" : "  [BAD SIGNATURE]");
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
    subfree (c->nc, subs[i]);
  nexc_client_free (c);
  return 0;
}

/* One line as `nexc logs` prints it: the payload as received (--json), or
 * "WORKLOAD ID LEVEL TEXT". */
static void
print_line (const struct opts *o, const struct nexc_log_line *l)
{
  json_t *j;
  if (o->json)
    {
      printf ("%.*s\n", l->len, l->data);
      return;
    }
  j = json_loadb (l->data, (size_t) l->len, 0, NULL);
  printf ("%s %s %-5s %s\n", l->workload, l->id,
          json_string_value (json_object_get (j, "level")) ?: "?",
          json_string_value (json_object_get (j, "text")) ?: "");
  json_decref (j);
}

/* Live, or with --since the stream's history first (nexc_logs.h: one
 * ordered consumer, so nothing is missed or repeated at the seam), until
 * --timeout or Ctrl-C. */
int
cmd_logs (struct opts *o)
{
  struct nexc_logs_filter f = { .node = o->node, .workload = o->workload, .id = o->id };
  const char *stream = o->since_ms >= 0 ? (o->stream ? o->stream : NEXC_LOGS_DEFAULT_STREAM) : NULL;
  struct nexc_log_follow *lf = NULL;
  struct nexc_client *c;
  struct nxerr err = { 0 };
  int64_t deadline;
  int rc = 0;
  if (o->stream && o->since_ms < 0)
    return cli_usage_error ("--stream: only with --since%s", "");
  if ((rc = cli_connect_client (o, &c)))
    return rc;
  if (nexc_logs_follow (c, &f, stream, o->since_ms, &lf, &err) < 0)
    {
      if (err.code == ENOENT)
        fprintf (stderr, "nexc logs --since %s\n", err.msg);
      else
        fprintf (stderr, "nexc: logs: %s\n", err.msg);
      nexc_client_free (c);
      return err.code == ETIMEDOUT ? EXIT_CONN : EXIT_REFUSED;
    }
  signal (SIGINT, cli_on_sigint);
  signal (SIGTERM, cli_on_sigint);
  deadline = o->timeout_ms > 0 ? nats_Now () + o->timeout_ms : INT64_MAX;
  while (!cli_interrupted && nats_Now () < deadline)
    {
      struct nexc_log_line l;
      int64_t left = deadline - nats_Now ();
      int got = nexc_logs_next (lf, left < 200 ? left : 200, &l, &err);
      if (got < 0)
        {
          fprintf (stderr, "nexc: logs: %s\n", err.msg);
          rc = EXIT_CONN;
          break;
        }
      if (got == 0)
        continue;
      print_line (o, &l);
      fflush (stdout);
    }
  nexc_logs_close (lf);
  nexc_client_free (c);
  return rc;
}

int
cmd_events (struct opts *o)
{
  char a[256], b[256];
  const char *s[2] = { a, b };
  if (strstr (o->ns, "system"))
    return cli_usage_error ("events: namespace \"%s\" is reserved", o->ns);
  snprintf (a, sizeof a, "$NEX.events.%s.%s", o->ns, o->type ? o->type : "*");
  snprintf (b, sizeof b, "$NEX.events.system.%s", o->type ? o->type : "*");
  return follow (o, s, 2, false);
}
