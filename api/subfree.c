#include "api/subfree.h"

#include "api/roundtrip.h"

#define SUBFREE_ROUNDTRIP_MS 1000

void
subfree (natsConnection *nc, natsSubscription *sub)
{
  if (sub == NULL)
    return;
  natsSubscription_Unsubscribe (sub);
  if (nc == NULL || natsConnection_Status (nc) != NATS_CONN_STATUS_CONNECTED
      || roundtrip_answered (nc, SUBFREE_ROUNDTRIP_MS)
      || natsConnection_Status (nc) != NATS_CONN_STATUS_CONNECTED)
    natsSubscription_Destroy (sub);
}
