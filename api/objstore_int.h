/* objstore_int: what objstore.c (names, digests, JetStream requests),
 * objstore_info.c, objstore_get.c and objstore_put.c share. Private to
 * them: the public API is api/objstore.h, and this header is not installed. */
#ifndef NEXC_OBJSTORE_INT_H
#define NEXC_OBJSTORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <nats/nats.h>
#include <openssl/evp.h>

#include "api/buf.h"
#include "api/nxerr.h"
#include "api/objstore.h"

#define ERR_STREAM_NOT_FOUND OBJSTORE_ERR_STREAM_NOT_FOUND
#define ERR_OBJECT_NOT_FOUND OBJSTORE_ERR_OBJECT_NOT_FOUND
#define ERR_BAD_META "nats: object-store meta information invalid"
#define ERR_BAD_STORE_NAME "nats: invalid object-store name"
#define ERR_DIGEST "nats: received a corrupt object, digests do not match"
#define ERR_CORRUPT "nats: received a corrupt object"

/* JetStream API error codes we act on (nats-server's errors.json). */
#define JSERR_NO_MESSAGE 10037
#define JSERR_STREAM_IN_USE 10058
#define JSERR_STREAM_NOT_FOUND 10059

#define SHA256_LEN 32
#define DIGEST_PREFIX "SHA-256="
#define SUBJECT_MAX 2048
#define PREFIX_MAX 300

static inline void
json_cleanup (json_t **j)
{
  if (*j)
    json_decref (*j);
}
#define cleanup_json __attribute__ ((cleanup (json_cleanup)))

static inline void
msg_cleanup (natsMsg **m)
{
  if (*m)
    natsMsg_Destroy (*m);
}
#define cleanup_msg __attribute__ ((cleanup (msg_cleanup)))

static inline void
md_cleanup (EVP_MD_CTX **c)
{
  if (*c)
    EVP_MD_CTX_free (*c);
}
#define cleanup_md __attribute__ ((cleanup (md_cleanup)))

/* nats.c statuses enter our code here, with nats.go's texts where they exist. */
int objstore_nats_error (struct nxerr *err, natsStatus s);

/* ^[a-zA-Z0-9_-]+$, at most max bytes: bucket names and nuids. */
bool objstore_valid_token (const char *s, size_t max);

/* The SHA-256 a digest "SHA-256=<base64url, padded>" names; -1 when it is
 * NULL or malformed (strict: the read path and the watch both judge by it). */
int objstore_digest_decode (const char *digest, unsigned char sha[SHA256_LEN]);

/* DIGEST_PREFIX + base64url(sha), padded. */
void objstore_digest_string (const unsigned char sha[SHA256_LEN], char out[OBJSTORE_DIGEST_LEN]);

/* ---- JetStream API requests (objstore.c) ---- */

struct api {
  natsConnection *nc;
  const struct objstore_opts *opts;
  char prefix[PREFIX_MAX];
};

struct api_error {
  int code;
  int err_code;
};

/* "$JS.API." or "$JS.<domain>.API."; fails on a domain that is not one
 * subject token ("nats: invalid domain name"). */
int objstore_api_prefix (const char *jsdomain, char prefix[PREFIX_MAX], struct nxerr *err);

/* opts may be NULL (the defaults). Checks the domain. */
int objstore_api_init (struct api *a, natsConnection *nc, const struct objstore_opts *opts,
                       struct nxerr *err);

/* Send req (a JetStream API request, or a JetStream publish) and parse the
 * JSON reply. Returns 0 with *out the parsed reply, 1 when the reply is an
 * API error (apierr and err filled, *out NULL), -1 otherwise. */
int objstore_request_msg (struct api *a, natsMsg *req, json_t **out, struct api_error *apierr,
                          struct nxerr *err);
/* Same, to the API subject api_subj (after the domain's prefix). */
int objstore_api_request (struct api *a, const char *api_subj, const struct buf *payload,
                          json_t **out, struct api_error *apierr, struct nxerr *err);

/* Bind: the bucket's stream must exist. *direct (may be NULL) tells whether
 * it serves DIRECT.GET. */
int objstore_bind_bucket (struct api *a, const char *bucket, bool *direct, struct nxerr *err);

/* A stored message, from STREAM.MSG.GET (JSON, base64 payload decoded into
 * dec) or from DIRECT.GET (raw payload, kept in the reply message). data/len
 * point into one of them until the next get or objstore_stored_msg_free. */
struct stored_msg {
  uint64_t seq;
  char subject[SUBJECT_MAX];
  char time[64];
  const char *data;
  size_t len;
  struct buf dec;
  natsMsg *raw;
};

#define STORED_MSG_INIT { .dec = BUF_INIT }

void objstore_stored_msg_free (struct stored_msg *m);

/* STREAM.MSG.GET of the last message on subj (seq 0) or of the first at or
 * after seq. Returns 0 found, 1 no such message, -1 error. */
int objstore_msg_get (struct api *a, const char *bucket, const char *subj, uint64_t seq,
                      struct stored_msg *m, struct nxerr *err);
/* The same by DIRECT.GET, only for streams with allow_direct. Returns 0
 * found, 1 no such message, 2 no responders, -1 error. */
int objstore_direct_get (struct api *a, const char *bucket, const char *subj, uint64_t seq,
                         struct stored_msg *m, struct nxerr *err);

/* $O.<bucket>.M.<name token>, appended to out. */
void objstore_meta_subject (const char *bucket, const char *name, struct buf *out);
/* Fetch and parse the metadata of bucket/name. 1 when there is none. */
int objstore_fetch_meta (struct api *a, const char *bucket, const char *name,
                         struct objstore_info *info, struct nxerr *err);

#endif
