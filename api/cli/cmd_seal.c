/* cmd_seal: seal KEY=VALUE pairs to a node's xkey for its config file (an
 * autostart entry's "sealed_environment" and "sender_public_key"), so the
 * config holds no secret a reader could use and may stay 0644. */
#include "api/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
cmd_seal (struct opts *o, int argc, char **argv)
{
  struct nexc_client *c = NULL;
  struct nxerr err = { 0 };
  char xkey[NKEY_PUBLIC_LEN + 1] = "", sender[NKEY_PUBLIC_LEN + 1];
  char *sealed = NULL;
  const char **env;
  int rc;
  if (o->xkey && o->node)
    return cli_usage_error ("seal: --xkey or --node, not both%s", "");
  if (o->xkey)
    snprintf (xkey, sizeof xkey, "%s", o->xkey);
  else if (o->node)
    {
      if ((rc = cli_connect_client (o, &c)) != 0)
        return rc;
      rc = nexc_node_xkey (c, o->node, xkey, &err);
      nexc_client_free (c);
      if (rc < 0)
        return cli_fail (&err);
    }
  else
    return cli_usage_error ("seal: --xkey XKEY or --node ID names the node to seal to%s", "");
  env = calloc ((size_t) argc + (size_t) o->n_env + 1, sizeof *env);
  for (int i = 0; i < o->n_env; i++)
    env[i] = o->env[i];
  for (int i = 0; i < argc; i++)
    {
      if (strchr (argv[i], '=') == NULL || argv[i][0] == '=')
        {
          char nth[16]; /* the argument itself may hold a secret: not echoed */
          snprintf (nth, sizeof nth, "%d", i + 1);
          free (env);
          return cli_usage_error ("seal: argument %s is not KEY=VALUE", nth);
        }
      env[o->n_env + i] = argv[i];
    }
  rc = nexc_seal_env (env, xkey, &sealed, sender, &err);
  free (env);
  if (rc < 0)
    return cli_fail (&err);
  /* Pasteable into an autostart entry. */
  printf ("\"sealed_environment\": \"%s\", \"sender_public_key\": \"%s\"\n", sealed, sender);
  free (sealed);
  return 0;
}
