/* timefmt: the time formats of the wire protocol.
 *  - uptime as nats-server/Nex print it ("1d1h1m1s"), reference §8.5;
 *  - RFC 3339 with nanoseconds, trailing zeros trimmed, UTC, reference §0. */
#ifndef NEXC_TIMEFMT_H
#define NEXC_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TIMEFMT_UPTIME_MAX 48
#define TIMEFMT_RFC3339_MAX 40

void timefmt_uptime (char *out, size_t n, uint64_t seconds);
void timefmt_rfc3339 (char *out, size_t n, struct timespec ts);
/* Monotonic and wall clocks, nanoseconds. */
uint64_t timefmt_mono_ns (void);
struct timespec timefmt_now (void);

#endif
