/* responder: the floors the scenarios compare nexc against.
 *
 *  - a trivial nats.c responder in its own process (this executable run as
 *    `nexc-bench --responder URL SUBJECT`), SendAsap on, replying from the
 *    subscription callback: the cheapest request/reply a node could give;
 *  - posix_spawn + waitpid of an executable: the cheapest process start;
 *  - the same spawn, as many per second as T threads manage. */
#ifndef NEXC_BENCH_RESPONDER_H
#define NEXC_BENCH_RESPONDER_H

#include "api/nxerr.h"
#include "bench/stats.h"

struct bench;

/* Entry point of the responder process: argv = { URL, SUBJECT }. */
int responder_main (int argc, char **argv);

/* A running responder and a connection to it, for floors interleaved with
 * the measurement they bound (both then see the same machine load). */
struct responder;
int responder_start (struct bench *b, struct responder **out, struct nxerr *err);
/* One round trip, in µs, added to out. */
int responder_rtt (struct responder *r, struct samples *out, struct nxerr *err);
void responder_stop (struct responder *r);

/* Start a responder, time n round trips to it (µs samples), stop it. */
int floor_rtt (struct bench *b, int n, struct samples *out, struct nxerr *err);

/* posix_spawn + waitpid of argv, n times (µs samples); output discarded.
 * The first 10 (page cache warm-up) are not recorded. */
int floor_spawn (char *const argv[], int n, struct samples *out, struct nxerr *err);
/* One posix_spawn + waitpid, in µs, added to out. */
int floor_spawn_once (char *const argv[], struct samples *out, struct nxerr *err);

/* Spawns per second with threads threads for seconds. */
double floor_spawn_rate (char *const argv[], int threads, double seconds, struct nxerr *err);

#endif
