#include "api/subfree.h"

#include <stdbool.h>

#include "api/roundtrip.h"

#define SUBFREE_ROUNDTRIP_MS 1000

/* Whether what nc's reading thread may still hold can be freed now (see
 * the header); blocks for at most one round trip. */
static bool
safe_to_free (natsConnection *nc)
{
  return nc == NULL || natsConnection_Status (nc) != NATS_CONN_STATUS_CONNECTED
         || roundtrip_answered (nc, SUBFREE_ROUNDTRIP_MS)
         || natsConnection_Status (nc) != NATS_CONN_STATUS_CONNECTED;
}

void
subfree (natsConnection *nc, natsSubscription *sub)
{
  if (sub == NULL)
    return;
  natsSubscription_Unsubscribe (sub);
  if (safe_to_free (nc))
    natsSubscription_Destroy (sub);
}

void
subfree_watcher (natsConnection *nc, kvWatcher *w)
{
  if (w == NULL)
    return;
  kvWatcher_Stop (w);
  if (safe_to_free (nc))
    kvWatcher_Destroy (w);
}
