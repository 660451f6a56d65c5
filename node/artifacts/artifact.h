/* Room node/artifacts/: workload binaries: fetch, verify, cache.
 *
 * artifact: the node's content-addressed artifact cache and its fetcher.
 *
 * Files live in <state_dir>/artifacts/<sha256 hex>, written to a temp file
 * and renamed once complete and verified, so a name always means those
 * bytes. Deploys get a read-only fd (no copy: the agent execs it). The cache
 * is evicted by total size, least recently used first; running workloads
 * keep their fd, so eviction never breaks them.
 *
 * Downloads run on one fetcher thread (they block on JetStream requests);
 * the result is posted back to the loop thread. */
#ifndef NEXC_NODE_ARTIFACT_H
#define NEXC_NODE_ARTIFACT_H

#include <stdbool.h>
#include <stdint.h>

#include "api/nxerr.h"

struct node;
struct artifact_cache;

struct artifact_result {
  int fd; /* owned by the callback when >= 0 */
  char hex[65];
  uint64_t size;
  struct nxerr err; /* when fd < 0 */
};

typedef void (*artifact_done_fn) (void *ud, struct artifact_result *res);

int artifact_cache_new (struct node *n, struct artifact_cache **out, struct nxerr *err);
void artifact_cache_free (struct artifact_cache *c);

/* Open the cached file for hex (64 lowercase hex chars). Returns an O_RDONLY
 * fd, or -1 when not cached. */
int artifact_cache_open (struct artifact_cache *c, const char *hex, uint64_t *size);

/* Fetch nats://bucket/key on the fetcher thread; expect_hex (may be NULL) is
 * compared with the object's digest before downloading. done runs on the
 * loop thread. */
void artifact_fetch (struct artifact_cache *c, const char *bucket, const char *key,
                     const char *jsdomain, uint64_t max_size, const char *expect_hex,
                     artifact_done_fn done, void *ud);

bool artifact_hex_ok (const char *s);

/* Copy a local file into the cache (autostart from a path): its sha256 hex
 * is returned in hex. Synchronous; meant for start-up. */
int artifact_cache_import (struct artifact_cache *c, const char *path, char hex[65],
                           struct nxerr *err);

#endif
