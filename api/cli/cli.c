/* cli: what the commands share: usage errors, the exit code of a failure,
 * the connection from the global flags, and the Ctrl-C flag of the followers. */
#include "api/cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

volatile sig_atomic_t cli_interrupted;

void
cli_on_sigint (int sig)
{
  (void) sig;
  cli_interrupted = 1;
}

int
cli_usage_error (const char *fmt, const char *arg)
{
  fprintf (stderr, "nexc: ");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  fprintf (stderr, fmt, arg);
#pragma GCC diagnostic pop
  fprintf (stderr, "\nrun 'nexc --help' for usage\n");
  return EXIT_USAGE;
}

int
cli_fail (struct nxerr *err)
{
  fprintf (stderr, "nexc: %s\n", err->msg);
  if (err->code == ETIMEDOUT || err->code == EHOSTUNREACH || err->code == EIO)
    return EXIT_CONN;
  return EXIT_REFUSED;
}

int
cli_connect_client (struct opts *o, struct nexc_client **c)
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

int
cli_print_json (json_t *obj)
{
  char *s;
  if (obj == NULL)
    {
      fprintf (stderr, "nexc: cannot build the JSON output\n");
      return EXIT_REFUSED;
    }
  s = json_dumps (obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
  json_decref (obj);
  if (s == NULL)
    return EXIT_REFUSED;
  printf ("%s\n", s);
  free (s);
  return 0;
}
