/* cmd_req: req SUBJECT [DATA], a plain NATS request whose reply is printed
 * as it is. */
#include "api/cli/cli.h"

#include <stdio.h>

int
cmd_req (struct opts *o, int argc, char **argv)
{
  struct nexc_client *c;
  natsMsg *reply = NULL;
  natsStatus s;
  int rc;
  if (argc < 1)
    return cli_usage_error ("req: SUBJECT is required%s", "");
  if ((rc = cli_connect_client (o, &c)))
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
