/* objstore_watch: the wire of a bucket watch (api/objstore.h): the requests
 * of an ephemeral pull consumer on a bucket's metadata subjects, and the
 * strict reading of what comes back. Pure: no connection here; the caller
 * (the node's object store view) sends and receives. Every input is a
 * message from the bus, so everything is bounded and checked. */
#include "api/objstore.h"

#include "api/objstore_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "api/decimal.h"
#include "api/jsonw.h"

#define CREATED_REPLY_MAX (64 * 1024) /* a create reply is ~1 KiB */
#define ACK_SUBJECT_MAX 1024
#define ACK_TOKENS_MAX 12
#define NS_PER_MS INT64_C (1000000)

static int
check_names (const char *bucket, const char *consumer, struct nxerr *err)
{
  if (!objstore_valid_bucket (bucket))
    return nxerr_set (err, EINVAL, ERR_BAD_STORE_NAME);
  if (!objstore_valid_token (consumer, OBJSTORE_CONSUMER_MAX))
    return nxerr_set (err, EINVAL, "nats: invalid consumer name");
  return 0;
}

static int
api_subject (const char *jsdomain, struct buf *subj, struct nxerr *err, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
api_subject (const char *jsdomain, struct buf *subj, struct nxerr *err, const char *fmt, ...)
{
  char prefix[PREFIX_MAX], rest[SUBJECT_MAX];
  va_list ap;
  int n;
  if (objstore_api_prefix (jsdomain, prefix, err) < 0)
    return -1;
  va_start (ap, fmt);
  n = vsnprintf (rest, sizeof rest, fmt, ap);
  va_end (ap);
  if (n < 0 || (size_t) n >= sizeof rest)
    return nxerr_set (err, EINVAL, "nats: subject too long");
  buf_reset (subj);
  buf_printf (subj, "%s%s", prefix, rest);
  return 0;
}

int
objstore_watch_create (const char *bucket, const char *jsdomain, const char *consumer,
                       int64_t inactive_ms, struct buf *subj, struct buf *body, struct nxerr *err)
{
  char stream[SUBJECT_MAX], filter[SUBJECT_MAX];
  struct jsonw w;
  if (check_names (bucket, consumer, err) < 0
      || api_subject (jsdomain, subj, err, "CONSUMER.CREATE.OBJ_%s", bucket) < 0)
    return -1;
  snprintf (stream, sizeof stream, "OBJ_%s", bucket);
  snprintf (filter, sizeof filter, "$O.%s.M.>", bucket);
  buf_reset (body);
  jsonw_init (&w, body);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "stream_name", stream);
  jsonw_key (&w, "config");
  jsonw_obj_begin (&w);
  /* A name of ours (not durable: still ephemeral) so that an operator sees
   * whose it is, and so that a deletion needs no reply first. */
  jsonw_kstr (&w, "name", consumer);
  jsonw_kstr (&w, "deliver_policy", "last_per_subject");
  jsonw_kstr (&w, "filter_subject", filter);
  jsonw_kstr (&w, "ack_policy", "none");
  jsonw_kstr (&w, "replay_policy", "instant");
  jsonw_kbool (&w, "mem_storage", true);
  jsonw_kint (&w, "num_replicas", 1);
  jsonw_kint (&w, "inactive_threshold", inactive_ms * NS_PER_MS);
  jsonw_obj_end (&w);
  jsonw_obj_end (&w);
  return 0;
}

int
objstore_watch_pull (const char *bucket, const char *jsdomain, const char *consumer,
                     uint32_t batch, int64_t expires_ms, int64_t heartbeat_ms, struct buf *subj,
                     struct buf *body, struct nxerr *err)
{
  struct jsonw w;
  if (check_names (bucket, consumer, err) < 0
      || api_subject (jsdomain, subj, err, "CONSUMER.MSG.NEXT.OBJ_%s.%s", bucket, consumer) < 0)
    return -1;
  if (batch == 0 || heartbeat_ms <= 0 || expires_ms <= heartbeat_ms)
    return nxerr_set (err, EINVAL, "pull: batch > 0 and expires > heartbeat > 0 expected");
  buf_reset (body);
  jsonw_init (&w, body);
  jsonw_obj_begin (&w);
  jsonw_kint (&w, "batch", batch);
  jsonw_kint (&w, "expires", expires_ms * NS_PER_MS);
  jsonw_kint (&w, "idle_heartbeat", heartbeat_ms * NS_PER_MS);
  jsonw_obj_end (&w);
  return 0;
}

int
objstore_watch_delete (const char *bucket, const char *jsdomain, const char *consumer,
                       struct buf *subj, struct nxerr *err)
{
  if (check_names (bucket, consumer, err) < 0)
    return -1;
  return api_subject (jsdomain, subj, err, "CONSUMER.DELETE.OBJ_%s.%s", bucket, consumer);
}

int
objstore_watch_created (const char *json, size_t len, struct objstore_created *out,
                        struct nxerr *err)
{
  cleanup_json json_t *root = NULL;
  json_error_t jerr;
  json_t *e, *name, *pending;
  memset (out, 0, sizeof *out);
  if (len > CREATED_REPLY_MAX)
    return nxerr_set (err, EPROTO, "nats: consumer create reply larger than %d bytes",
                      CREATED_REPLY_MAX);
  root = json_loadb (json, len, 0, &jerr);
  if (root == NULL || !json_is_object (root))
    return nxerr_set (err, EPROTO, "nats: invalid consumer create reply");
  e = json_object_get (root, "error");
  if (e != NULL && !json_is_null (e))
    {
      json_t *code = json_is_object (e) ? json_object_get (e, "err_code") : NULL;
      json_t *desc = json_is_object (e) ? json_object_get (e, "description") : NULL;
      if (json_is_integer (code) && json_integer_value (code) == JSERR_STREAM_NOT_FOUND)
        {
          nxerr_set (err, ENOENT, ERR_STREAM_NOT_FOUND);
          return 1;
        }
      return nxerr_set (err, EIO, "nats: %.200s",
                        json_is_string (desc) ? json_string_value (desc) : "JetStream API error");
    }
  name = json_object_get (root, "name");
  pending = json_object_get (root, "num_pending");
  if (!json_is_string (name) || json_string_length (name) > OBJSTORE_CONSUMER_MAX
      || !objstore_valid_token (json_string_value (name), OBJSTORE_CONSUMER_MAX))
    return nxerr_set (err, EPROTO, "nats: consumer create reply: bad name");
  if (!json_is_integer (pending) || json_integer_value (pending) < 0)
    return nxerr_set (err, EPROTO, "nats: consumer create reply: bad num_pending");
  memcpy (out->name, json_string_value (name), json_string_length (name) + 1);
  out->num_pending = (uint64_t) json_integer_value (pending);
  return 0;
}

struct token {
  const char *p;
  size_t n;
};

static int
copy_token (const struct token *t, char *out, size_t cap)
{
  if (t->n == 0 || t->n >= cap)
    return -1;
  memcpy (out, t->p, t->n);
  out[t->n] = '\0';
  return 0;
}

int
objstore_ack_parse (const char *reply, struct objstore_ack *out, struct nxerr *err)
{
  struct token t[ACK_TOKENS_MAX];
  size_t nt = 0, len, base;
  const char *p;
  memset (out, 0, sizeof *out);
  if (reply == NULL || (len = strnlen (reply, ACK_SUBJECT_MAX + 1)) > ACK_SUBJECT_MAX)
    return nxerr_set (err, EPROTO, "ack subject: missing or too long");
  for (p = reply;; p++)
    {
      const char *dot = memchr (p, '.', len - (size_t) (p - reply));
      const char *end = dot ? dot : reply + len;
      if (nt == ACK_TOKENS_MAX)
        return nxerr_set (err, EPROTO, "ack subject: too many tokens");
      t[nt].p = p;
      t[nt++].n = (size_t) (end - p);
      if (dot == NULL)
        break;
      p = dot;
    }
  if (nt < 2 || t[0].n != 3 || memcmp (t[0].p, "$JS", 3) != 0 || t[1].n != 3
      || memcmp (t[1].p, "ACK", 3) != 0)
    return nxerr_set (err, EPROTO, "ack subject: not $JS.ACK");
  /* v1: 9 tokens; v2 inserts domain and account hash after ACK and may end
   * with a random token. */
  if (nt == 9)
    base = 2;
  else if (nt == 11 || nt == 12)
    base = 4;
  else
    return nxerr_set (err, EPROTO, "ack subject: %zu tokens", nt);
  if (copy_token (&t[base], out->stream, sizeof out->stream) < 0
      || copy_token (&t[base + 1], out->consumer, sizeof out->consumer) < 0
      || decimal_u64 (t[base + 2].p, t[base + 2].n, &out->delivered) < 0
      || decimal_u64 (t[base + 3].p, t[base + 3].n, &out->sseq) < 0
      || decimal_u64 (t[base + 4].p, t[base + 4].n, &out->cseq) < 0
      || decimal_u64 (t[base + 6].p, t[base + 6].n, &out->pending) < 0)
    {
      memset (out, 0, sizeof *out);
      return nxerr_set (err, EPROTO, "ack subject: bad token");
    }
  if (strncmp (out->stream, "OBJ_", 4) != 0 || !objstore_valid_bucket (out->stream + 4)
      || !objstore_valid_token (out->consumer, OBJSTORE_CONSUMER_MAX))
    {
      memset (out, 0, sizeof *out);
      return nxerr_set (err, EPROTO, "ack subject: not an object store consumer");
    }
  return 0;
}

static bool
token_b64url (const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      unsigned char c = (unsigned char) s[i];
      bool pad = c == '=';
      if (!(pad || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
            || c == '-' || c == '_'))
        return false;
      /* Padding only at the end. */
      if (pad && i + 2 < n)
        return false;
    }
  return true;
}

const char *
objstore_meta_token (const char *subject, const char *stream)
{
  const size_t max = sodium_base64_ENCODED_LEN (OBJSTORE_NAME_MAX, sodium_base64_VARIANT_URLSAFE) - 1;
  const char *bucket, *tok;
  size_t bl, n;
  if (subject == NULL || stream == NULL || strncmp (stream, "OBJ_", 4) != 0)
    return NULL;
  bucket = stream + 4;
  bl = strlen (bucket);
  if (strncmp (subject, "$O.", 3) != 0 || strncmp (subject + 3, bucket, bl) != 0
      || strncmp (subject + 3 + bl, ".M.", 3) != 0)
    return NULL;
  tok = subject + 3 + bl + 3;
  n = strnlen (tok, max + 1);
  if (n == 0 || n > max || n % 4 != 0 || !token_b64url (tok, n))
    return NULL;
  return tok;
}

void
objstore_meta_judge (const char *json, size_t len, struct objstore_meta *out)
{
  struct objstore_info info;
  struct nxerr ignored;
  memset (out, 0, sizeof *out);
  out->state = OBJSTORE_META_OPAQUE;
  if (objstore_info_parse (json, len, &info, &ignored) < 0)
    return;
  if (info.deleted)
    out->state = OBJSTORE_META_DELETED;
  else if (info.nuid[0] != '\0' && info.link_bucket == NULL
           && objstore_digest_decode (info.digest, out->sha256) == 0)
    {
      out->state = OBJSTORE_META_PRESENT;
      out->size = info.size;
    }
  else
    memset (out->sha256, 0, sizeof out->sha256);
  objstore_info_free (&info);
}
