/* fuzz_stop_request: the STOP payload as node/stop.c reads it.
 *
 * stop.c's decoder and its JWT checks are static; rather than export them
 * for the fuzzer, this file includes stop.c itself and drives decode() and
 * check_stop_jwt() against a fixed deployed workload (Appendix A's sample
 * issuer, sub "echoservice", iat 1714000000). What stop.c calls beyond them
 * (agents, timers, replies) comes from the instrumented node library and is
 * never reached here. */
#include "../../node/control/stop.c"

#include <stdlib.h>

#include "node/state/replay.h"

#define ISSUER "AAD7JVSRVWVBTIBT5EG3BZEVHC4NT5ZDNVENGY7LNEAUVKORAYZXCJPH"
#define DEPLOY_JTI "RHLGSSUEFD5YLZ2TNZO2U4WDNSU25SL5AMT3EEK6SNWAJPP6NIHQ"

static struct node fz_node;
static struct workload fz_wl;

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct nxerr err = { 0 };
  char *wid = NULL, *token = NULL;
  char msg[700];

  if (fz_node.replay == NULL)
    {
      fz_node.replay = replay_new ();
      fz_wl.node = &fz_node;
      snprintf (fz_wl.id, sizeof fz_wl.id, "cog5h7lk8p4s73e9c8c0");
      fz_wl.ns = (char *) "default";
      fz_wl.name = (char *) "echoservice";
      fz_wl.claims.iss = (char *) ISSUER;
      fz_wl.claims.sub = (char *) "echoservice";
      fz_wl.claims.jti = (char *) DEPLOY_JTI;
      fz_wl.claims.iat = 1714000000;
      fz_wl.state = WL_RUNNING;
    }
  if (decode ((const char *) data, size, &wid, &token, &err) < 0)
    {
      if (wid || token)
        {
          /* decode() hands back nothing on failure (stop_handle relies on it
           * only to free); a half-filled result is still freed here. */
          free (wid);
          free (token);
        }
      if (err.msg[0] == '\0')
        abort ();
      return 0;
    }
  msg[0] = '\0';
  if (check_stop_jwt (&fz_node, &fz_wl, token, msg, sizeof msg) < 0 && msg[0] == '\0')
    abort (); /* a refusal must carry its reason */
  free (wid);
  free (token);
  return 0;
}
