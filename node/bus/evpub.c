#include "node/bus/evpub.h"

#include "api/evsig.h"
#include "api/log.h"
#include "node/bus/natsloop.h"
#include "node/core/node.h"

natsConnection *
evpub_conn (const struct node *n)
{
  return n->nc_data;
}

natsStatus
evpub_publish (struct node *n, const char *subject, const void *data, size_t len)
{
  char sig[EVSIG_TEXT_LEN];
  struct nxerr err = { 0 };
  natsMsg *msg = NULL;
  natsStatus s;
  natsConnection *nc = evpub_conn (n);
  if (nc == NULL)
    return NATS_CONNECTION_CLOSED;
  s = natsMsg_Create (&msg, subject, NULL, data, (int) len);
  /* A signature that cannot be made (it cannot fail with a valid key) leaves
   * the event unsigned rather than lost; consumers see it as unsigned. */
  if (s == NATS_OK && evsig_sign (&n->id.server, subject, data, len, sig, &err) == 0)
    {
      s = natsMsgHeader_Set (msg, EVSIG_NODE_HEADER, n->node_id);
      if (s == NATS_OK)
        s = natsMsgHeader_Set (msg, EVSIG_SIG_HEADER, sig);
    }
  else if (s == NATS_OK)
    log_warn ("event on %s published unsigned: %s", subject, err.msg);
  if (s == NATS_OK)
    s = natsConnection_PublishMsg (nc, msg);
  natsMsg_Destroy (msg);
  natsloop_send_now (n->natsloop_data);
  return s;
}
