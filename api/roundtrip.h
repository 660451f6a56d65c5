/* roundtrip: has the server seen everything sent before now, on this very
 * connection?
 *
 * A flush (PING, wait for PONG) is how the node and the client know: the
 * node's log lines and lifecycle events are confirmed by one
 * (node/bus/logack.h, node/bus/outbox.h), and a subscription is freed only
 * after one (node/bus/subgrave.h, api/subfree.h). nats.c 3.4.1's answer
 * alone is not proof: a flush in flight when it finds the connection broken can return
 * NATS_OK before any reconnect is counted (traced in it_test_logs
 * test_connection_cut_mid_flood: the flush said ok, then "connection lost",
 * and the 33 lines before that PING never arrived). So an answer counts
 * only if the connection is still up and still the same one (the client id
 * the server gave it) once the flush returns.
 * Any thread. */
#ifndef NEXC_API_ROUNDTRIP_H
#define NEXC_API_ROUNDTRIP_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>

/* One flush, bounded by timeout_ms; true only when answered as above. */
bool roundtrip_answered (natsConnection *nc, int64_t timeout_ms);

/* nats.c's count of reconnects of nc (0 when it cannot say); st is the
 * caller's, reused across calls because this runs once per flush. */
uint64_t roundtrip_reconnects (natsConnection *nc, natsStatistics *st);

#endif
