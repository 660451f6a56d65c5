#include "node/bus/reply.h"

#include <nats/nats.h>

#include "api/envelope.h"
#include "api/log.h"
#include "node/bus/natsloop.h"
#include "node/core/node.h"

void
reply_send (struct node *n, const char *reply, const struct buf *payload)
{
  natsStatus s;
  if (reply == NULL || *reply == '\0')
    return; /* §1: processed, reply dropped */
  s = natsConnection_Publish (n->nc, reply, payload->data, (int) payload->len);
  natsloop_send_now (n->natsloop);
  if (s != NATS_OK)
    {
      n->counters.replies_failed++;
      log_warn ("reply to %s not sent: %s", reply, natsStatus_GetText (s));
    }
}

void
reply_err (struct node *n, const char *reply, const char *type, const char *msg)
{
  cleanup_buf struct buf b = BUF_INIT;
  envelope_err (&b, type, msg);
  reply_send (n, reply, &b);
}

void
reply_ok (struct node *n, const char *reply, const char *type, const struct buf *data)
{
  cleanup_buf struct buf b = BUF_INIT;
  envelope_ok (&b, type, data->data, data->len);
  reply_send (n, reply, &b);
}
