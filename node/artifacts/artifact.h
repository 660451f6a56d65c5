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
 * A deploy's location is checked against the object store before cached
 * bytes are used (artifact_get): when the store's live view (objview.h)
 * says the object is there with the JWT's digest, the cached file is used
 * at once; anything else is asked of the store by the fetcher, so that a
 * missing bucket or object, another digest or an oversize object is
 * refused with the words of an uncached miss.
 *
 * Downloads and direct lookups run on one fetcher thread (they block on
 * JetStream requests); the result is posted back to the loop thread. */
#ifndef NEXC_NODE_ARTIFACT_H
#define NEXC_NODE_ARTIFACT_H

#include <stdbool.h>
#include <stdint.h>

#include "api/nxerr.h"

struct node;
struct artifact_cache;
struct objview;
struct jsonw;

/* Where a deploy's bytes are: nats://bucket/key in jsdomain ("" or NULL:
 * the default). expect_hex (may be NULL: anything) is compared with the
 * object's digest before bytes are used; max_size 0 is no limit. */
struct artifact_loc {
  const char *bucket, *key, *jsdomain;
  uint64_t max_size;
  const char *expect_hex;
};

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

/* The bytes of a deploy's location, as the store says them now: the cached
 * file when the view confirms the object and its digest (done runs before
 * this returns: the warm path, no request), else the fetcher's lookup and
 * then the cache or a download. done runs on the loop thread. */
void artifact_get (struct artifact_cache *c, const struct artifact_loc *loc,
                   artifact_done_fn done, void *ud);

/* Fetch the location on the fetcher thread: metadata lookup, digest and
 * size checked, then the cached file of that digest or a download. done
 * runs on the loop thread. */
void artifact_fetch (struct artifact_cache *c, const struct artifact_loc *loc,
                     artifact_done_fn done, void *ud);

/* The cache's store view (for node/artifacts/objview.c's events). */
struct objview *artifact_objview (struct artifact_cache *c);

/* INFO data.nexc.artifacts. */
void artifact_write_info (struct artifact_cache *c, struct jsonw *w);

bool artifact_hex_ok (const char *s);

/* Copy a local file into the cache (autostart from a path): its sha256 hex
 * is returned in hex. Synchronous; meant for start-up. */
int artifact_cache_import (struct artifact_cache *c, const char *path, char hex[65],
                           struct nxerr *err);

#endif
