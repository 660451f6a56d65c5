#include "api/roundtrip.h"

bool
roundtrip_answered (natsConnection *nc, int64_t timeout_ms)
{
  uint64_t before = 0, after = 0;
  bool had, has;
  if (nc == NULL)
    return false;
  had = natsConnection_GetClientID (nc, &before) == NATS_OK;
  if (natsConnection_FlushTimeout (nc, timeout_ms) != NATS_OK
      || natsConnection_Status (nc) != NATS_CONN_STATUS_CONNECTED)
    return false;
  has = natsConnection_GetClientID (nc, &after) == NATS_OK;
  return had == has && before == after;
}

uint64_t
roundtrip_reconnects (natsConnection *nc, natsStatistics *st)
{
  uint64_t r = 0;
  if (nc == NULL || st == NULL || natsConnection_GetStats (nc, st) != NATS_OK
      || natsStatistics_GetCounts (st, NULL, NULL, NULL, NULL, &r) != NATS_OK)
    return 0;
  return r;
}
