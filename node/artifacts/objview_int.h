/* objview_int: what objview.c (the view, loop thread) and objview_bus.c (its
 * subscription and requests) share. Private to the two. */
#ifndef NEXC_NODE_OBJVIEW_INT_H
#define NEXC_NODE_OBJVIEW_INT_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/nxerr.h"
#include "api/objstore.h"
#include "node/artifacts/objmap.h"
#include "node/artifacts/objview.h"
#include "node/core/loop.h"

/* Memory: past these a bucket is not watched (its deploys ask the store). */
#define OBJVIEW_MAX_BUCKETS 32
#define OBJVIEW_MAX_OBJECTS 16384          /* all buckets, views being loaded included */
#define OBJVIEW_MAX_BYTES (16u * 1024 * 1024)
#define OBJVIEW_MAX_INBOX 64

/* The consumer and its pulls. */
/* Messages per pull: what may be in flight at once. Metadata is ~300 bytes,
 * but a writer may make it as large as the server's max_payload (1 MiB by
 * default): the subscription's pending bytes must hold a whole batch, or
 * nats.c drops, the sequence shows a gap and the view is lost. */
#define OBJVIEW_BATCH 64
#define OBJVIEW_PENDING_BYTES (96 * 1024 * 1024)
#define OBJVIEW_PULL_EXPIRES_MS 30000
#define OBJVIEW_HEARTBEAT_MS 2000          /* while a pull waits */
#define OBJVIEW_STALE_MS 5000              /* no word for this long: not trusted */
#define OBJVIEW_INACTIVE_MS 60000          /* the server drops a consumer nobody pulls */

/* Timing of views. */
#define OBJVIEW_LOAD_TIMEOUT_MS 5000       /* a view not caught up by then is abandoned */
#define OBJVIEW_REFRESH_MS 60000           /* a fresh view replaces the live one */
/* After a failure no new consumer for a while (deploys ask the store):
 * 1 s doubling to 60 s, so that a server still starting its JetStream
 * costs a second, and a bucket that always fails costs a request a minute. */
#define OBJVIEW_RETRY_MIN_MS 1000
#define OBJVIEW_RETRY_MAX_MS 60000
#define OBJVIEW_IDLE_MS (10 * 60 * 1000)   /* a bucket no deploy named is forgotten */
#define OBJVIEW_TICK_MS 1000

struct ov_bucket;

/* One consumer and what it delivered. */
struct ov_feed {
  struct ov_bucket *b;
  uint64_t id;
  char consumer[OBJSTORE_CONSUMER_MAX + 1];
  uint64_t epoch;     /* the connection's reconnect count when it was made */
  bool created;       /* the create reply came */
  bool synced;        /* caught up: map holds every object's info */
  uint64_t last_cseq; /* consumer sequence of the last message applied */
  uint32_t pull;      /* number of the pull in flight */
  uint32_t pull_left; /* messages it may still bring */
  uint64_t start_ns, seen_ns;
  struct objmap map;
};

struct ov_bucket {
  char *jsdomain; /* "" for the default */
  char *name;
  struct ov_feed *cur;  /* caught up: what lookups answer from */
  struct ov_feed *next; /* loading (first load, reload, refresh) */
  uint64_t used_ns;
  uint64_t retry_ns;    /* after a failure: no consumer before then */
  unsigned failures;    /* in a row, since a feed last caught up */
};

struct objview {
  struct node *n;
  natsSubscription *sub; /* <inbox>.>: every reply and message of every feed */
  char inbox[OBJVIEW_MAX_INBOX];
  char tag[17];          /* consumer names: nexc_<tag>_<feed id> */
  unsigned char key[OBJMAP_KEY_LEN];
  struct ov_bucket *buckets[OBJVIEW_MAX_BUCKETS];
  size_t n_buckets;
  size_t objects, bytes; /* held by all maps */
  uint64_t last_id;
  struct loop_timer tick;
  natsStatistics *stats;
  struct {
    uint64_t loads, lost, failed;
  } counters;
};

/* What the bus brings, made on a nats.c thread, applied on the loop. */
enum ov_kind {
  OV_CREATED, /* the reply to a consumer create */
  OV_STATUS,  /* a status message to a pull: 100 heartbeat, 408, 409, 503 */
  OV_META,    /* a metadata message delivered by a consumer */
};

struct ov_event {
  struct node *n;
  enum ov_kind kind;
  uint64_t feed;               /* CREATED, STATUS: from our reply subject */
  uint32_t pull;               /* STATUS */
  int status;                  /* STATUS */
  bool consumer_gone;          /* STATUS: 409 Consumer Deleted, 503 no responders */
  bool has_last;               /* STATUS 100: Nats-Last-Consumer was given */
  uint64_t last_cseq;
  int created;                 /* CREATED: objstore_watch_created's result */
  struct objstore_created cr;
  struct objstore_ack ack;     /* META */
  char *token;                 /* META: NULL when not a metadata subject of its stream */
  size_t token_len;
  struct objstore_meta meta;   /* META */
  struct nxerr err;            /* CREATED failures */
};

/* ---- objview_bus.c ---- */

/* Subscribe to the view's inbox (once; the first feed does it). */
int ovbus_open (struct objview *v, struct nxerr *err);
void ovbus_close (struct objview *v);
/* Publish a feed's requests (replies come as events). */
int ovbus_create (struct objview *v, const struct ov_feed *f, struct nxerr *err);
int ovbus_pull (struct objview *v, struct ov_feed *f, struct nxerr *err);
void ovbus_delete (struct objview *v, const struct ov_feed *f);
void ov_event_free (struct ov_event *e);

/* ---- objview.c ---- */

/* Apply e to n's view (if there still is one) and free it. */
void objview_apply (struct node *n, struct ov_event *e);

#endif
