/* objstore: the JetStream object store, read and written with plain
 * JetStream API requests (nats.c 3.4.1 has no object store API).
 *
 * Wire layout (what nats.go and nats.js write, reference Appendix B):
 *   stream   OBJ_<bucket>, subjects $O.<bucket>.C.> and $O.<bucket>.M.>
 *   metadata last message on $O.<bucket>.M.<base64url(name), padded>
 *   chunks   messages on $O.<bucket>.C.<nuid>, in stream order
 *   digest   "SHA-256=" + base64url(sha256(object)), padded
 *
 * Owns: the metadata parser (untrusted input: strict and bounded), the read
 * path (streamed to a callback, never buffered whole, digest and length
 * verified; chunks come by DIRECT.GET when the stream allows it, else by
 * STREAM.MSG.GET next_by_subj), the write path (like nats.go's Put and
 * Delete) and the wire of a bucket watch (objstore_watch.c: the requests
 * and replies of a pull consumer on the metadata subjects; the caller sends
 * and receives them). Every other call is synchronous and uses the
 * caller's connection; any thread may call it (nats.c connections are
 * thread-safe). Error texts for the conditions nats.go knows are nats.go's
 * ("nats: object not found", ...), because the node replies with them. */
#ifndef NEXC_OBJSTORE_H
#define NEXC_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "api/buf.h"
#include "api/nxerr.h"

/* What a lookup answers when the bucket or the object is not there. */
#define OBJSTORE_ERR_STREAM_NOT_FOUND "nats: stream not found"
#define OBJSTORE_ERR_OBJECT_NOT_FOUND "nats: object not found"

/* Bounds on what we accept (in metadata and from callers). */
#define OBJSTORE_BUCKET_MAX 240          /* stream names are at most 255 */
#define OBJSTORE_NAME_MAX 1024           /* the token must fit a control line */
#define OBJSTORE_NUID_MAX 64
#define OBJSTORE_DESCRIPTION_MAX 4096
#define OBJSTORE_META_MAX (1024 * 1024)  /* metadata JSON, bytes */
#define OBJSTORE_DEFAULT_CHUNK (128 * 1024)
#define OBJSTORE_DEFAULT_TIMEOUT_MS 5000
#define OBJSTORE_HEX_LEN 65              /* sha256 hex + NUL */

/* ObjectInfo. Strings are owned (objstore_info_free); optional ones are
 * NULL when absent. */
struct objstore_info {
  char *name;
  char *bucket;
  char *nuid;         /* may be "" (invalid for reading) */
  char *description;  /* optional */
  char *mtime;        /* as written (RFC 3339); after get_info: the message time */
  char *digest;       /* optional, "SHA-256=..." */
  uint64_t size;
  uint32_t chunks;
  uint32_t max_chunk_size; /* options.max_chunk_size, 0 when absent */
  bool deleted;
  char *link_bucket;  /* options.link.bucket; NULL when not a link */
  char *link_name;    /* options.link.name; NULL or "" for a bucket link */
  /* Set by objstore_get_info, which just found the bucket: whether it
   * allows direct gets, so that objstore_read need not ask again. */
  bool bucket_bound;
  bool bucket_direct;
};

/* Parse ObjectInfo JSON. Required: name, bucket, nuid (strings), size,
 * chunks (non-negative integers, chunks < 2^32). Optional (null = absent):
 * description, mtime, digest (strings), deleted (bool), options (object with
 * optional link {bucket, name?} and max_chunk_size), headers and metadata
 * (objects, ignored). Unknown keys are ignored. Lengths are bounded by the
 * OBJSTORE_*_MAX limits; a non-empty nuid must be a safe subject token.
 * On failure *info is left zeroed. */
int objstore_info_parse (const char *json, size_t len, struct objstore_info *info,
                         struct nxerr *err);
void objstore_info_free (struct objstore_info *info);

/* Append the metadata subject token of name (URL-safe base64, padded). */
void objstore_name_token (const char *name, struct buf *out);
/* ^[a-zA-Z0-9_-]+$ and at most OBJSTORE_BUCKET_MAX bytes. */
bool objstore_valid_bucket (const char *bucket);
/* Non-empty and at most OBJSTORE_NAME_MAX bytes; any other bytes are opaque. */
bool objstore_valid_name (const char *name);
/* "SHA-256=" + base64url(sha256(data)), padded; out must hold 53 bytes. */
#define OBJSTORE_DIGEST_LEN 53
void objstore_digest (const void *data, size_t len, char out[OBJSTORE_DIGEST_LEN]);

/* The lowercase hex SHA-256 named by a digest "SHA-256=<base64url>", or ""
 * when digest is NULL or not of that form. */
void objstore_digest_hex (const char *digest, char hex[OBJSTORE_HEX_LEN]);

struct objstore_opts {
  const char *jsdomain;    /* NULL or "": $JS.API., else $JS.<domain>.API. */
  int64_t timeout_ms;      /* per request; 0: OBJSTORE_DEFAULT_TIMEOUT_MS */
  uint64_t max_size;       /* read: refuse larger objects; 0: no limit */
  size_t chunk_size;       /* put: 0: OBJSTORE_DEFAULT_CHUNK */
  const char *description; /* put: optional */
};

/* Look the object up (bind the bucket, read its metadata, follow one link).
 * opts may be NULL. The returned info describes the object to read: for a
 * link, the target's, with bucket set to the bucket its chunks live in. */
int objstore_get_info (natsConnection *nc, const char *bucket, const char *name,
                       const struct objstore_opts *opts, struct objstore_info *info,
                       struct nxerr *err);

/* Called with each chunk in order; data is valid during the call only.
 * Return < 0 (after filling err) to stop the read. objstore_read accepts a
 * NULL callback (verify only). */
typedef int (*objstore_chunk_fn) (const void *data, size_t len, void *ud, struct nxerr *err);

/* Read the object's chunks, verifying length and digest. An object larger
 * than opts->max_size is refused before any chunk is requested. When the
 * digest does not match, the callback has already seen the bytes: callers
 * must treat what they received as garbage on failure. sha256_hex (may be
 * NULL) receives the lowercase hex SHA-256 of the object. */
int objstore_read (natsConnection *nc, const struct objstore_info *info,
                   const struct objstore_opts *opts, objstore_chunk_fn chunk_cb, void *ud,
                   char sha256_hex[OBJSTORE_HEX_LEN], struct nxerr *err);

/* Progress of a put: bytes sent so far, total (0 when unknown). */
typedef void (*objstore_progress_fn) (uint64_t sent, uint64_t total, void *ud);

/* Store data under name, creating the bucket (file storage, discard new,
 * rollup allowed, like nats.go) if it does not exist. Chunks first, then the
 * metadata (Nats-Rollup: sub), then the previous version's chunks are
 * purged. progress_cb and info_out may be NULL. */
int objstore_put (natsConnection *nc, const char *bucket, const char *name, const void *data,
                  size_t len, const struct objstore_opts *opts,
                  objstore_progress_fn progress_cb, void *ud, struct objstore_info *info_out,
                  struct nxerr *err);
/* Same, streaming from fd until end of file (one chunk in memory at a time). */
int objstore_put_file (natsConnection *nc, const char *bucket, const char *name, int fd,
                       const struct objstore_opts *opts, objstore_progress_fn progress_cb,
                       void *ud, struct objstore_info *info_out, struct nxerr *err);

/* Delete name as nats.go's Delete does: a metadata message with
 * "deleted":true (size, chunks and digest cleared; Nats-Rollup: sub, so it
 * replaces the object's info), then the chunks are purged. Fails with
 * "nats: object not found" when there is no such object (or it is deleted). */
int objstore_delete (natsConnection *nc, const char *bucket, const char *name,
                     const struct objstore_opts *opts, struct nxerr *err);

/* ---- watching a bucket's metadata (objstore_watch.c) ----
 *
 * An ephemeral pull consumer on $O.<bucket>.M.> with deliver policy
 * last_per_subject, no acks, in memory: the first messages it delivers are
 * the current info of every object (the last message on each name's
 * subject), the later ones each change as it is stored (a put, a deletion
 * marker). A pull (CONSUMER.MSG.NEXT) asks for the next messages; while it
 * waits the server sends idle heartbeats (status 100, header
 * Nats-Last-Consumer), it ends with status 408 when it expires, and with
 * 409 "Consumer Deleted" when the consumer or its stream is deleted. The
 * consumer is removed by the server after inactive_ms without a pull. */

#define OBJSTORE_CONSUMER_MAX 64 /* consumer names we make and accept */

/* The requests: subject (with the domain's API prefix) and JSON body.
 * consumer: a subject token of at most OBJSTORE_CONSUMER_MAX bytes. */
int objstore_watch_create (const char *bucket, const char *jsdomain, const char *consumer,
                           int64_t inactive_ms, struct buf *subj, struct buf *body,
                           struct nxerr *err);
int objstore_watch_pull (const char *bucket, const char *jsdomain, const char *consumer,
                         uint32_t batch, int64_t expires_ms, int64_t heartbeat_ms,
                         struct buf *subj, struct buf *body, struct nxerr *err);
int objstore_watch_delete (const char *bucket, const char *jsdomain, const char *consumer,
                           struct buf *subj, struct nxerr *err);

struct objstore_created {
  char name[OBJSTORE_CONSUMER_MAX + 1];
  uint64_t num_pending; /* messages it will deliver to catch up */
};

/* The reply to a create. 0: created; 1: the bucket does not exist (err:
 * "nats: stream not found"); -1: an API error or a malformed reply. */
int objstore_watch_created (const char *json, size_t len, struct objstore_created *out,
                            struct nxerr *err);

/* A delivered message's reply subject, $JS.ACK.<stream>.<consumer>.
 * <delivered>.<stream seq>.<consumer seq>.<time>.<pending> (or the form with
 * domain and account hash after ACK and a trailing token). */
struct objstore_ack {
  char stream[OBJSTORE_BUCKET_MAX + 5]; /* "OBJ_" + bucket */
  char consumer[OBJSTORE_CONSUMER_MAX + 1];
  uint64_t delivered, sseq, cseq, pending;
};
int objstore_ack_parse (const char *reply, struct objstore_ack *out, struct nxerr *err);

/* The name token of a metadata subject $O.<bucket>.M.<token> whose stream
 * is OBJ_<bucket>: a pointer into subject, or NULL when subject is not of
 * that form or the token is not URL-safe base64 of a valid name's length. */
const char *objstore_meta_token (const char *subject, const char *stream);

/* What one metadata message says of its object. OPAQUE: whatever only the
 * read path can judge (malformed, a link, no nuid, a digest that does not
 * decode): the caller asks the store. */
enum objstore_meta_state { OBJSTORE_META_OPAQUE, OBJSTORE_META_PRESENT, OBJSTORE_META_DELETED };
struct objstore_meta {
  enum objstore_meta_state state;
  uint64_t size;             /* PRESENT */
  unsigned char sha256[32];  /* PRESENT: what the digest names */
};
void objstore_meta_judge (const char *json, size_t len, struct objstore_meta *out);

#endif
