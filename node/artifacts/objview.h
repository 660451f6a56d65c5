/* objview: the node's live view of the object store buckets it deploys
 * from, so that a deploy is checked against what the store says of its
 * location now (the object exists, its digest, its size) before cached
 * bytes are used, without a round trip on the warm path.
 *
 * Per bucket (and JetStream domain) an ephemeral pull consumer on
 * $O.<bucket>.M.> (api/objstore.h, watch) delivers every object's current
 * info, then each change as it is stored: a replacement, a deletion marker.
 * A bucket's view answers once it has caught up (the consumer's pending
 * count reached 0), for as long as its pulls are answered (heartbeats), the
 * control connection has not reconnected since it was made, and no gap
 * shows in the consumer's sequence; the consumer or the stream deleted ends
 * it at once (409). Otherwise, and past the memory caps, the view does not
 * know. A fresh view is loaded every OBJVIEW_REFRESH_MS and swapped in once
 * caught up, since a purge of a metadata subject sends nothing to a consumer.
 *
 * Even caught up, the view lags the store by the delivery of a message: a
 * client that has just stored an object and deploys it at once may be ahead
 * of it. So its word is final only when it confirms (node/artifacts/
 * artifact.c): an object absent, deleted or with another digest in the view
 * is asked of the store before a deploy is refused. What it can miss is a
 * deletion or replacement in that last instant, which then races the deploy.
 *
 * Loop thread only (node/artifacts/artifact.c calls it); the nats.c side,
 * one subscription for all buckets, is objview_bus.c. */
#ifndef NEXC_NODE_OBJVIEW_H
#define NEXC_NODE_OBJVIEW_H

#include <stdint.h>

#include "api/jsonw.h"
#include "api/objstore.h"

struct node;
struct objview;

enum objview_found {
  OBJVIEW_UNKNOWN, /* the view cannot tell: ask the store */
  OBJVIEW_ABSENT,  /* no such object, or its last info is a deletion */
  OBJVIEW_PRESENT, /* size and hex (the digest's sha256) are the store's */
};

struct objview_fact {
  enum objview_found found;
  uint64_t size;
  char hex[OBJSTORE_HEX_LEN];
};

struct objview *objview_new (struct node *n);
/* Unsubscribes and deletes its consumers (best effort). */
void objview_free (struct objview *v);

/* What the store says of jsdomain/bucket/key, from the view: never waits.
 * An unknown bucket is watched from now on (for the next deploys). */
void objview_lookup (struct objview *v, const char *jsdomain, const char *bucket,
                     const char *key, struct objview_fact *out);

/* Fields of INFO data.nexc.artifacts.store_view: buckets, objects, loads. */
void objview_write_info (struct objview *v, struct jsonw *w);

#endif
