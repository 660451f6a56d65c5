#include "api/objstore.h"

#include "api/b64.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "api/jsonw.h"
#include "api/timefmt.h"
#include "api/xalloc.h"

#define ERR_STREAM_NOT_FOUND "nats: stream not found"
#define ERR_OBJECT_NOT_FOUND "nats: object not found"
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
#define NUID_LEN 22
#define SUBJECT_MAX 2048
#define PREFIX_MAX 300

static const struct objstore_opts default_opts = { NULL, 0, 0, 0, NULL };

static void
json_cleanup (json_t **j)
{
  if (*j)
    json_decref (*j);
}
#define cleanup_json __attribute__ ((cleanup (json_cleanup)))

static void
msg_cleanup (natsMsg **m)
{
  if (*m)
    natsMsg_Destroy (*m);
}
#define cleanup_msg __attribute__ ((cleanup (msg_cleanup)))

static void
md_cleanup (EVP_MD_CTX **c)
{
  if (*c)
    EVP_MD_CTX_free (*c);
}
#define cleanup_md __attribute__ ((cleanup (md_cleanup)))

static void
info_cleanup (struct objstore_info *i)
{
  objstore_info_free (i);
}
#define cleanup_info __attribute__ ((cleanup (info_cleanup)))

static int64_t
timeout_of (const struct objstore_opts *o)
{
  return o->timeout_ms > 0 ? o->timeout_ms : OBJSTORE_DEFAULT_TIMEOUT_MS;
}

/* nats.c statuses enter our code here, with nats.go's texts where they exist. */
static int
nats_error (struct nxerr *err, natsStatus s)
{
  switch (s)
    {
    case NATS_TIMEOUT:
      return nxerr_set (err, ETIMEDOUT, "nats: timeout");
    case NATS_NO_RESPONDERS:
      return nxerr_set (err, EHOSTUNREACH, "nats: no responders available for request");
    case NATS_CONNECTION_CLOSED:
      return nxerr_set (err, ENOTCONN, "nats: connection closed");
    default:
      return nxerr_set (err, EIO, "nats: %s", natsStatus_GetText (s));
    }
}

/* ---- names ------------------------------------------------------------ */

static bool
token_char (unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
         || c == '-';
}

static bool
valid_token (const char *s, size_t max)
{
  size_t n = 0;
  if (s == NULL || *s == '\0')
    return false;
  for (; s[n]; n++)
    if (n >= max || !token_char ((unsigned char) s[n]))
      return false;
  return true;
}

bool
objstore_valid_bucket (const char *bucket)
{
  return valid_token (bucket, OBJSTORE_BUCKET_MAX);
}

bool
objstore_valid_name (const char *name)
{
  return name != NULL && name[0] != '\0' && strnlen (name, OBJSTORE_NAME_MAX + 1) <= OBJSTORE_NAME_MAX;
}

static void
b64_append (int variant, const void *in, size_t n, struct buf *out)
{
  size_t enc = sodium_base64_ENCODED_LEN (n, variant);
  buf_reserve (out, enc);
  sodium_bin2base64 (out->data + out->len, enc, in, n, variant);
  out->len += enc - 1;
}

void
objstore_name_token (const char *name, struct buf *out)
{
  b64_append (sodium_base64_VARIANT_URLSAFE, name, strlen (name), out);
}

static void
digest_string (const unsigned char sha[SHA256_LEN], char out[OBJSTORE_DIGEST_LEN])
{
  memcpy (out, DIGEST_PREFIX, sizeof DIGEST_PREFIX - 1);
  sodium_bin2base64 (out + sizeof DIGEST_PREFIX - 1, OBJSTORE_DIGEST_LEN - (sizeof DIGEST_PREFIX - 1),
                     sha, SHA256_LEN, sodium_base64_VARIANT_URLSAFE);
}

void
objstore_digest (const void *data, size_t len, char out[OBJSTORE_DIGEST_LEN])
{
  unsigned char sha[SHA256_LEN];
  unsigned int n = 0;
  if (EVP_Digest (data, len, sha, &n, EVP_sha256 (), NULL) != 1 || n != SHA256_LEN)
    abort (); /* only fails when OpenSSL itself is broken */
  digest_string (sha, out);
}

/* The digest of the metadata, decoded; -1 when malformed. */
static int
digest_decode (const char *digest, unsigned char sha[SHA256_LEN])
{
  const size_t pl = sizeof DIGEST_PREFIX - 1;
  const char *end = NULL;
  size_t n = 0;
  if (digest == NULL || strncmp (digest, DIGEST_PREFIX, pl) != 0)
    return -1;
  digest += pl;
  if (sodium_base642bin (sha, SHA256_LEN, digest, strlen (digest), NULL, &n, &end,
                         sodium_base64_VARIANT_URLSAFE)
          != 0
      || n != SHA256_LEN || *end != '\0')
    return -1;
  return 0;
}

/* ---- metadata parsing ------------------------------------------------- */

void
objstore_info_free (struct objstore_info *info)
{
  if (info == NULL)
    return;
  free (info->name);
  free (info->bucket);
  free (info->nuid);
  free (info->description);
  free (info->mtime);
  free (info->digest);
  free (info->link_bucket);
  free (info->link_name);
  memset (info, 0, sizeof *info);
}

/* A string field. Absent or null: error when required, else *out = NULL. */
static int
field_str (json_t *obj, const char *key, bool required, size_t max, char **out, struct nxerr *err)
{
  json_t *v = json_object_get (obj, key);
  *out = NULL;
  if (v == NULL || json_is_null (v))
    {
      if (required)
        return nxerr_set (err, EINVAL, "missing field %s", key);
      return 0;
    }
  if (!json_is_string (v))
    return nxerr_set (err, EINVAL, "field %s: expected a string", key);
  if (json_string_length (v) > max)
    return nxerr_set (err, EINVAL, "field %s: longer than %zu bytes", key, max);
  *out = xstrndup (json_string_value (v), json_string_length (v));
  return 0;
}

static int
field_uint (json_t *obj, const char *key, bool required, uint64_t max, uint64_t *out,
            struct nxerr *err)
{
  json_t *v = json_object_get (obj, key);
  json_int_t i;
  *out = 0;
  if (v == NULL || json_is_null (v))
    {
      if (required)
        return nxerr_set (err, EINVAL, "missing field %s", key);
      return 0;
    }
  if (!json_is_integer (v))
    return nxerr_set (err, EINVAL, "field %s: expected an integer", key);
  i = json_integer_value (v);
  if (i < 0 || (uint64_t) i > max)
    return nxerr_set (err, EINVAL, "field %s: %lld out of range", key, (long long) i);
  *out = (uint64_t) i;
  return 0;
}

/* An optional object field; *out = NULL when absent or null. */
static int
field_obj (json_t *obj, const char *key, json_t **out, struct nxerr *err)
{
  json_t *v = json_object_get (obj, key);
  *out = NULL;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return nxerr_set (err, EINVAL, "field %s: expected an object", key);
  *out = v;
  return 0;
}

static int
parse_options (json_t *root, struct objstore_info *info, struct nxerr *err)
{
  json_t *opts, *link, *ignored;
  uint64_t u;
  if (field_obj (root, "headers", &ignored, err) < 0 || field_obj (root, "metadata", &ignored, err) < 0)
    return -1;
  if (field_obj (root, "options", &opts, err) < 0)
    return -1;
  if (opts == NULL)
    return 0;
  if (field_uint (opts, "max_chunk_size", false, UINT32_MAX, &u, err) < 0)
    return nxerr_wrap (err, "options");
  info->max_chunk_size = (uint32_t) u;
  if (field_obj (opts, "link", &link, err) < 0)
    return nxerr_wrap (err, "options");
  if (link == NULL)
    return 0;
  if (field_str (link, "bucket", true, OBJSTORE_BUCKET_MAX, &info->link_bucket, err) < 0
      || field_str (link, "name", false, OBJSTORE_NAME_MAX, &info->link_name, err) < 0)
    return nxerr_wrap (err, "options.link");
  if (!objstore_valid_bucket (info->link_bucket))
    return nxerr_set (err, EINVAL, "options.link.bucket: invalid bucket name");
  return 0;
}

static int
parse_root (json_t *root, struct objstore_info *info, struct nxerr *err)
{
  json_t *v;
  uint64_t u;
  if (!json_is_object (root))
    return nxerr_set (err, EINVAL, "not a JSON object");
  if (field_str (root, "name", true, OBJSTORE_NAME_MAX, &info->name, err) < 0
      || field_str (root, "bucket", true, OBJSTORE_BUCKET_MAX, &info->bucket, err) < 0
      || field_str (root, "nuid", true, OBJSTORE_NUID_MAX, &info->nuid, err) < 0
      || field_str (root, "description", false, OBJSTORE_DESCRIPTION_MAX, &info->description, err) < 0
      || field_str (root, "mtime", false, 64, &info->mtime, err) < 0
      || field_str (root, "digest", false, 128, &info->digest, err) < 0)
    return -1;
  if (info->name[0] == '\0')
    return nxerr_set (err, EINVAL, "field name: empty");
  if (!objstore_valid_bucket (info->bucket))
    return nxerr_set (err, EINVAL, "field bucket: invalid bucket name");
  if (info->nuid[0] != '\0' && !valid_token (info->nuid, OBJSTORE_NUID_MAX))
    return nxerr_set (err, EINVAL, "field nuid: not a subject token");
  if (field_uint (root, "size", true, INT64_MAX, &info->size, err) < 0)
    return -1;
  if (field_uint (root, "chunks", true, UINT32_MAX, &u, err) < 0)
    return -1;
  info->chunks = (uint32_t) u;
  v = json_object_get (root, "deleted");
  if (v != NULL && !json_is_null (v))
    {
      if (!json_is_boolean (v))
        return nxerr_set (err, EINVAL, "field deleted: expected a boolean");
      info->deleted = json_is_true (v);
    }
  return parse_options (root, info, err);
}

int
objstore_info_parse (const char *json, size_t len, struct objstore_info *info, struct nxerr *err)
{
  cleanup_json json_t *root = NULL;
  json_error_t jerr;
  memset (info, 0, sizeof *info);
  if (len > OBJSTORE_META_MAX)
    return nxerr_set (err, EINVAL, "metadata larger than %d bytes", OBJSTORE_META_MAX);
  root = json_loadb (json, len, 0, &jerr);
  if (root == NULL)
    return nxerr_set (err, EINVAL, "not JSON: %s at line %d column %d", jerr.text, jerr.line,
                      jerr.column);
  if (parse_root (root, info, err) < 0)
    {
      objstore_info_free (info);
      return -1;
    }
  return 0;
}

/* ---- JetStream API requests ------------------------------------------- */

struct api {
  natsConnection *nc;
  const struct objstore_opts *opts;
  char prefix[PREFIX_MAX];
};

struct api_error {
  int code;
  int err_code;
};

static int
api_init (struct api *a, natsConnection *nc, const struct objstore_opts *opts, struct nxerr *err)
{
  const char *d;
  a->nc = nc;
  a->opts = opts ? opts : &default_opts;
  d = a->opts->jsdomain;
  if (nc == NULL)
    return nxerr_set (err, EINVAL, "nats: invalid connection");
  if (d == NULL || d[0] == '\0')
    {
      snprintf (a->prefix, sizeof a->prefix, "$JS.API.");
      return 0;
    }
  /* A domain is one subject token (nats.go refuses dots). */
  for (const char *p = d; *p; p++)
    if (*p == '.' || *p == '*' || *p == '>' || (unsigned char) *p <= ' ' || *p == 0x7f)
      return nxerr_set (err, EINVAL, "nats: invalid domain name");
  if (strlen (d) > 200)
    return nxerr_set (err, EINVAL, "nats: invalid domain name");
  snprintf (a->prefix, sizeof a->prefix, "$JS.%s.API.", d);
  return 0;
}

/* Send req (a JetStream API request, or a JetStream publish) and parse the
 * JSON reply. Returns 0 with *out the parsed reply, 1 when the reply is an
 * API error (apierr and err filled, *out NULL), -1 otherwise. */
static int
request_msg (struct api *a, natsMsg *req, json_t **out, struct api_error *apierr, struct nxerr *err)
{
  cleanup_msg natsMsg *reply = NULL;
  json_error_t jerr;
  json_t *root, *e;
  natsStatus s;
  *out = NULL;
  memset (apierr, 0, sizeof *apierr);
  s = natsConnection_RequestMsg (&reply, a->nc, req, timeout_of (a->opts));
  if (s != NATS_OK)
    return nats_error (err, s);
  root = json_loadb (natsMsg_GetData (reply), (size_t) natsMsg_GetDataLength (reply), 0, &jerr);
  if (root == NULL || !json_is_object (root))
    {
      if (root)
        json_decref (root);
      return nxerr_set (err, EPROTO, "nats: invalid JetStream API reply on %s",
                        natsMsg_GetSubject (req));
    }
  e = json_object_get (root, "error");
  if (e != NULL && !json_is_null (e))
    {
      json_t *desc = json_is_object (e) ? json_object_get (e, "description") : NULL;
      if (json_is_object (e))
        {
          apierr->code = (int) json_integer_value (json_object_get (e, "code"));
          apierr->err_code = (int) json_integer_value (json_object_get (e, "err_code"));
        }
      nxerr_set (err, apierr->code == 404 ? ENOENT : EIO, "nats: %s",
                 json_is_string (desc) ? json_string_value (desc) : "JetStream API error");
      json_decref (root);
      return 1;
    }
  *out = root;
  return 0;
}

static int
api_request (struct api *a, const char *api_subj, const struct buf *payload, json_t **out,
             struct api_error *apierr, struct nxerr *err)
{
  cleanup_msg natsMsg *req = NULL;
  char subj[SUBJECT_MAX];
  natsStatus s;
  if ((size_t) snprintf (subj, sizeof subj, "%s%s", a->prefix, api_subj) >= sizeof subj)
    return nxerr_set (err, EINVAL, "nats: subject too long");
  s = natsMsg_Create (&req, subj, NULL, payload ? payload->data : NULL,
                      payload ? (int) payload->len : 0);
  if (s != NATS_OK)
    return nats_error (err, s);
  return request_msg (a, req, out, apierr, err);
}

/* Bind: the bucket's stream must exist. *direct (may be NULL) tells whether
 * it serves DIRECT.GET. */
static int
bind_bucket (struct api *a, const char *bucket, bool *direct, struct nxerr *err)
{
  cleanup_json json_t *reply = NULL;
  struct api_error ae;
  char subj[SUBJECT_MAX];
  int r;
  snprintf (subj, sizeof subj, "STREAM.INFO.OBJ_%s", bucket);
  r = api_request (a, subj, NULL, &reply, &ae, err);
  if (r == 1 && ae.err_code == JSERR_STREAM_NOT_FOUND)
    return nxerr_set (err, ENOENT, ERR_STREAM_NOT_FOUND);
  if (r != 0)
    return -1;
  if (direct)
    *direct = json_is_true (json_object_get (json_object_get (reply, "config"), "allow_direct"));
  return 0;
}

/* A stored message, from STREAM.MSG.GET (JSON, base64 payload decoded into
 * dec) or from DIRECT.GET (raw payload, kept in the reply message). data/len
 * point into one of them until the next get or stored_msg_free. */
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

static void
stored_msg_free (struct stored_msg *m)
{
  buf_free (&m->dec);
  if (m->raw)
    natsMsg_Destroy (m->raw);
  m->raw = NULL;
  m->data = NULL;
  m->len = 0;
}

/* {"last_by_subj":subj} when seq is 0, else {"seq":seq,"next_by_subj":subj} */
static void
get_request (const char *subj, uint64_t seq, struct buf *out)
{
  struct jsonw w;
  jsonw_init (&w, out);
  jsonw_obj_begin (&w);
  if (seq == 0)
    jsonw_kstr (&w, "last_by_subj", subj);
  else
    {
      jsonw_key (&w, "seq");
      jsonw_uint (&w, seq);
      jsonw_kstr (&w, "next_by_subj", subj);
    }
  jsonw_obj_end (&w);
}

/* STREAM.MSG.GET. Returns 0 found, 1 no such message, -1 error. */
static int
msg_get (struct api *a, const char *bucket, const char *subj, uint64_t seq, struct stored_msg *m,
         struct nxerr *err)
{
  cleanup_json json_t *reply = NULL;
  cleanup_buf struct buf req = BUF_INIT;
  struct api_error ae;
  char api_subj[SUBJECT_MAX];
  json_t *msg, *v;
  const char *b64, *end = NULL;
  size_t b64len, n = 0;
  int r;

  get_request (subj, seq, &req);
  snprintf (api_subj, sizeof api_subj, "STREAM.MSG.GET.OBJ_%s", bucket);
  r = api_request (a, api_subj, &req, &reply, &ae, err);
  if (r == 1 && ae.err_code == JSERR_STREAM_NOT_FOUND)
    return nxerr_set (err, ENOENT, ERR_STREAM_NOT_FOUND);
  if (r == 1 && (ae.err_code == JSERR_NO_MESSAGE || ae.code == 404))
    return 1;
  if (r != 0)
    return -1;

  msg = json_object_get (reply, "message");
  if (!json_is_object (msg))
    return nxerr_set (err, EPROTO, "nats: invalid message get reply: no message");
  v = json_object_get (msg, "seq");
  if (!json_is_integer (v) || json_integer_value (v) <= 0)
    return nxerr_set (err, EPROTO, "nats: invalid message get reply: no seq");
  m->seq = (uint64_t) json_integer_value (v);
  v = json_object_get (msg, "subject");
  if (!json_is_string (v) || json_string_length (v) >= sizeof m->subject)
    return nxerr_set (err, EPROTO, "nats: invalid message get reply: no subject");
  memcpy (m->subject, json_string_value (v), json_string_length (v) + 1);
  v = json_object_get (msg, "time");
  snprintf (m->time, sizeof m->time, "%s", json_is_string (v) ? json_string_value (v) : "");

  buf_reset (&m->dec);
  m->data = "";
  m->len = 0;
  v = json_object_get (msg, "data");
  if (v == NULL || json_is_null (v))
    return 0; /* Go omits an empty payload */
  if (!json_is_string (v))
    return nxerr_set (err, EPROTO, "nats: invalid message get reply: data");
  b64 = json_string_value (v);
  b64len = json_string_length (v);
  buf_reserve (&m->dec, b64len / 4 * 3 + 3);
  if (sodium_base642bin ((unsigned char *) m->dec.data, m->dec.cap - 1, b64, b64len, NULL, &n,
                         &end, sodium_base64_VARIANT_ORIGINAL)
          != 0
      || end != b64 + b64len)
    return nxerr_set (err, EPROTO, "nats: invalid message get reply: bad base64 data");
  m->dec.len = n;
  m->dec.data[n] = '\0';
  m->data = m->dec.data;
  m->len = n;
  return 0;
}

/* DIRECT.GET, for streams with allow_direct (nats.go creates object stores
 * so): the payload comes back raw, which saves the server's JSON and base64
 * work and ours (a 20 MiB read is ~5x faster). Only used when the stream info
 * says allow_direct: otherwise the request is silently dropped by the server
 * (the account's $JS.API.> import answers for it), which looks like a
 * timeout. Returns 0 found, 1 no such message, 2 no responders, -1 error. */
static int
direct_get (struct api *a, const char *bucket, const char *subj, uint64_t seq,
            struct stored_msg *m, struct nxerr *err)
{
  cleanup_buf struct buf req = BUF_INIT;
  char api_subj[SUBJECT_MAX];
  const char *v = NULL;
  natsStatus s;
  char *end;

  if (m->raw)
    natsMsg_Destroy (m->raw);
  m->raw = NULL;
  get_request (subj, seq, &req);
  snprintf (api_subj, sizeof api_subj, "%sDIRECT.GET.OBJ_%s", a->prefix, bucket);
  s = natsConnection_Request (&m->raw, a->nc, api_subj, req.data, (int) req.len,
                              timeout_of (a->opts));
  if (s == NATS_NO_RESPONDERS)
    return 2;
  if (s != NATS_OK)
    return nats_error (err, s);
  if (natsMsgHeader_Get (m->raw, "Status", &v) == NATS_OK && v != NULL)
    {
      const char *desc = NULL;
      if (strcmp (v, "404") == 0)
        return 1;
      natsMsgHeader_Get (m->raw, "Description", &desc);
      return nxerr_set (err, EIO, "nats: direct get: %s %s", v, desc ? desc : "");
    }
  if (natsMsgHeader_Get (m->raw, "Nats-Subject", &v) != NATS_OK || v == NULL
      || strlen (v) >= sizeof m->subject)
    return nxerr_set (err, EPROTO, "nats: invalid direct get reply: no subject");
  snprintf (m->subject, sizeof m->subject, "%s", v);
  if (natsMsgHeader_Get (m->raw, "Nats-Sequence", &v) != NATS_OK || v == NULL)
    return nxerr_set (err, EPROTO, "nats: invalid direct get reply: no sequence");
  errno = 0;
  m->seq = strtoull (v, &end, 10);
  if (errno || *end != '\0' || end == v || m->seq == 0)
    return nxerr_set (err, EPROTO, "nats: invalid direct get reply: bad sequence");
  m->time[0] = '\0';
  if (natsMsgHeader_Get (m->raw, "Nats-Time-Stamp", &v) == NATS_OK && v != NULL)
    snprintf (m->time, sizeof m->time, "%s", v);
  m->data = natsMsg_GetData (m->raw);
  m->len = (size_t) natsMsg_GetDataLength (m->raw);
  if (m->data == NULL)
    m->data = "";
  return 0;
}

static void
meta_subject (const char *bucket, const char *name, struct buf *out)
{
  buf_printf (out, "$O.%s.M.", bucket);
  objstore_name_token (name, out);
}

/* Fetch and parse the metadata of bucket/name. 1 when there is none. */
static int
fetch_meta (struct api *a, const char *bucket, const char *name, struct objstore_info *info,
            struct nxerr *err)
{
  cleanup_buf struct buf subj = BUF_INIT;
  struct stored_msg m = STORED_MSG_INIT;
  struct nxerr perr;
  int r;

  meta_subject (bucket, name, &subj);
  if (subj.len >= SUBJECT_MAX - 64)
    return nxerr_set (err, EINVAL, "nats: invalid object name");
  r = msg_get (a, bucket, subj.data, 0, &m, err);
  if (r != 0)
    {
      stored_msg_free (&m);
      return r;
    }
  r = objstore_info_parse (m.data, m.len, info, &perr);
  stored_msg_free (&m);
  if (r < 0)
    return nxerr_set (err, EPROTO, ERR_BAD_META ": %s", perr.msg);
  if (m.time[0])
    {
      free (info->mtime);
      info->mtime = xstrdup (m.time);
    }
  return 0;
}

/* ---- reading ---------------------------------------------------------- */

int
objstore_get_info (natsConnection *nc, const char *bucket, const char *name,
                   const struct objstore_opts *opts, struct objstore_info *info, struct nxerr *err)
{
  cleanup_free char *link_bucket = NULL;
  cleanup_free char *link_name = NULL;
  struct api a;
  int r;

  memset (info, 0, sizeof *info);
  if (!objstore_valid_bucket (bucket))
    return nxerr_set (err, EINVAL, ERR_BAD_STORE_NAME);
  if (name == NULL || name[0] == '\0')
    return nxerr_set (err, EINVAL, "nats: name is required");
  if (!objstore_valid_name (name))
    return nxerr_set (err, EINVAL, "nats: invalid object name");
  if (api_init (&a, nc, opts, err) < 0)
    return -1;

  /* At most two rounds: the object, and the target of its link. */
  for (int depth = 0;; depth++)
    {
      if (bind_bucket (&a, bucket, NULL, err) < 0)
        return -1;
      r = fetch_meta (&a, bucket, name, info, err);
      if (r == 1)
        return nxerr_set (err, ENOENT, ERR_OBJECT_NOT_FOUND);
      if (r < 0)
        return -1;
      if (info->deleted)
        r = nxerr_set (err, ENOENT, ERR_OBJECT_NOT_FOUND);
      else if (info->nuid[0] == '\0')
        r = nxerr_set (err, EPROTO, ERR_BAD_META);
      else if (info->link_bucket && (info->link_name == NULL || info->link_name[0] == '\0'))
        r = nxerr_set (err, EINVAL, "nats: link is a bucket");
      else if (info->link_bucket && depth > 0)
        r = nxerr_set (err, ELOOP, "nats: object is a link to a link");
      else if (info->link_bucket && !objstore_valid_name (info->link_name))
        r = nxerr_set (err, EPROTO, ERR_BAD_META ": invalid link name");
      if (r < 0)
        {
          objstore_info_free (info);
          return -1;
        }
      if (info->link_bucket == NULL)
        {
          /* The chunks live where the metadata was found, whatever it says. */
          free (info->bucket);
          info->bucket = xstrdup (bucket);
          return 0;
        }
      link_bucket = steal_ptr (&info->link_bucket);
      link_name = steal_ptr (&info->link_name);
      bucket = link_bucket;
      name = link_name;
      objstore_info_free (info);
    }
}

static void
hex_of (const unsigned char sha[SHA256_LEN], char out[OBJSTORE_HEX_LEN])
{
  static const char hx[] = "0123456789abcdef";
  for (int i = 0; i < SHA256_LEN; i++)
    {
      out[2 * i] = hx[sha[i] >> 4];
      out[2 * i + 1] = hx[sha[i] & 15];
    }
  out[2 * SHA256_LEN] = '\0';
}

int
objstore_read (natsConnection *nc, const struct objstore_info *info,
               const struct objstore_opts *opts, objstore_chunk_fn chunk_cb, void *ud,
               char sha256_hex[OBJSTORE_HEX_LEN], struct nxerr *err)
{
  cleanup_md EVP_MD_CTX *md = NULL;
  cleanup_buf struct buf subj = BUF_INIT;
  struct stored_msg m = STORED_MSG_INIT;
  bool direct = false;
  unsigned char want[SHA256_LEN], got[SHA256_LEN];
  unsigned int mdlen = 0;
  uint64_t total = 0, seq = 1;
  struct api a;
  uint32_t i;
  int r = 0;

  if (sha256_hex)
    sha256_hex[0] = '\0';
  if (info == NULL || !objstore_valid_bucket (info->bucket))
    return nxerr_set (err, EINVAL, ERR_BAD_STORE_NAME);
  if (info->nuid == NULL || !valid_token (info->nuid, OBJSTORE_NUID_MAX))
    return nxerr_set (err, EPROTO, ERR_BAD_META);
  if (opts && opts->max_size > 0 && info->size > opts->max_size)
    return nxerr_set (err, EFBIG, "object %s is %" PRIu64 " bytes, more than the limit of %" PRIu64
                      " bytes", info->name ? info->name : "", info->size, opts->max_size);
  /* Every chunk nats.go and nats.js write is non-empty. */
  if ((info->size == 0) != (info->chunks == 0) || info->chunks > info->size)
    return nxerr_set (err, EPROTO, ERR_BAD_META ": %" PRIu32 " chunks for %" PRIu64 " bytes",
                      info->chunks, info->size);
  if (digest_decode (info->digest, want) < 0)
    return nxerr_set (err, EPROTO, ERR_BAD_META ": bad digest");
  if (api_init (&a, nc, opts, err) < 0)
    return -1;

  if (bind_bucket (&a, info->bucket, &direct, err) < 0)
    return -1;
  md = EVP_MD_CTX_new ();
  if (md == NULL || EVP_DigestInit_ex (md, EVP_sha256 (), NULL) != 1)
    return nxerr_set (err, ENOMEM, "sha256: cannot initialize");
  buf_printf (&subj, "$O.%s.C.%s", info->bucket, info->nuid);

  for (i = 0; i < info->chunks; i++)
    {
      r = 2;
      if (direct)
        r = direct_get (&a, info->bucket, subj.data, seq, &m, err);
      if (r == 2)
        direct = false;
      /* A replica answering a direct get may lag behind the leader: ask the
       * leader before calling a chunk missing. */
      if (r == 2 || r == 1)
        r = msg_get (&a, info->bucket, subj.data, seq, &m, err);
      if (r == 1)
        r = nxerr_set (err, EPROTO, ERR_CORRUPT ": chunk %" PRIu32 " of %" PRIu32 " missing", i + 1,
                       info->chunks);
      if (r < 0)
        break;
      if (strcmp (m.subject, subj.data) != 0 || m.seq < seq)
        {
          r = nxerr_set (err, EPROTO, "nats: message get returned %s seq %" PRIu64, m.subject, m.seq);
          break;
        }
      seq = m.seq + 1;
      if (m.len > info->size - total)
        {
          r = nxerr_set (err, EPROTO, ERR_CORRUPT ": more than %" PRIu64 " bytes", info->size);
          break;
        }
      total += m.len;
      EVP_DigestUpdate (md, m.data, m.len);
      if (chunk_cb && chunk_cb (m.data, m.len, ud, err) < 0)
        {
          r = -1;
          break;
        }
    }
  stored_msg_free (&m);
  if (r < 0)
    return -1;
  if (total != info->size)
    return nxerr_set (err, EPROTO, ERR_CORRUPT ": %" PRIu64 " bytes instead of %" PRIu64, total,
                      info->size);
  if (EVP_DigestFinal_ex (md, got, &mdlen) != 1 || mdlen != SHA256_LEN)
    return nxerr_set (err, EIO, "sha256: cannot finalize");
  if (sodium_memcmp (got, want, SHA256_LEN) != 0)
    return nxerr_set (err, EPROTO, ERR_DIGEST);
  if (sha256_hex)
    hex_of (got, sha256_hex);
  return 0;
}

/* ---- writing ---------------------------------------------------------- */

/* Where put reads from: memory, or a file descriptor. */
struct source {
  const unsigned char *data;
  size_t len, off;
  int fd;
};

/* Fill up to n bytes; returns the count (0 at the end) or -1. */
static ssize_t
source_read (struct source *src, void *out, size_t n, struct nxerr *err)
{
  size_t got = 0;
  if (src->fd < 0)
    {
      size_t k = src->len - src->off < n ? src->len - src->off : n;
      if (k)
        memcpy (out, src->data + src->off, k);
      src->off += k;
      return (ssize_t) k;
    }
  while (got < n)
    {
      ssize_t r = read (src->fd, (char *) out + got, n - got);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return nxerr_sys (err, errno, "read");
      if (r == 0)
        break;
      got += (size_t) r;
    }
  return (ssize_t) got;
}

static void
new_nuid (char out[NUID_LEN + 1])
{
  static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  for (int i = 0; i < NUID_LEN; i++)
    out[i] = alphabet[randombytes_uniform (sizeof alphabet - 1)];
  out[NUID_LEN] = '\0';
}

/* Create OBJ_<bucket> unless it exists (what nats.go's CreateObjectStore
 * asks for with default options). */
static int
ensure_bucket (struct api *a, const char *bucket, struct nxerr *err)
{
  cleanup_json json_t *reply = NULL;
  cleanup_buf struct buf cfg = BUF_INIT;
  struct api_error ae;
  struct jsonw w;
  char subj[SUBJECT_MAX], name[SUBJECT_MAX];
  int r;

  snprintf (subj, sizeof subj, "STREAM.INFO.OBJ_%s", bucket);
  r = api_request (a, subj, NULL, &reply, &ae, err);
  if (r == 0)
    return 0;
  if (r < 0 || ae.err_code != JSERR_STREAM_NOT_FOUND)
    return -1;

  snprintf (name, sizeof name, "OBJ_%s", bucket);
  jsonw_init (&w, &cfg);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "name", name);
  jsonw_key (&w, "subjects");
  jsonw_arr_begin (&w);
  snprintf (subj, sizeof subj, "$O.%s.C.>", bucket);
  jsonw_str (&w, subj);
  snprintf (subj, sizeof subj, "$O.%s.M.>", bucket);
  jsonw_str (&w, subj);
  jsonw_arr_end (&w);
  jsonw_kstr (&w, "retention", "limits");
  jsonw_kint (&w, "max_consumers", -1);
  jsonw_kint (&w, "max_msgs", -1);
  jsonw_kint (&w, "max_bytes", -1);
  jsonw_kstr (&w, "discard", "new");
  jsonw_kint (&w, "max_age", 0);
  jsonw_kint (&w, "max_msgs_per_subject", -1);
  jsonw_kint (&w, "max_msg_size", -1);
  jsonw_kstr (&w, "storage", "file");
  jsonw_kint (&w, "num_replicas", 1);
  jsonw_kbool (&w, "allow_rollup_hdrs", true);
  jsonw_kbool (&w, "allow_direct", true);
  jsonw_obj_end (&w);

  if (reply)
    {
      json_decref (reply);
      reply = NULL;
    }
  snprintf (subj, sizeof subj, "STREAM.CREATE.OBJ_%s", bucket);
  r = api_request (a, subj, &cfg, &reply, &ae, err);
  if (r == 1 && ae.err_code == JSERR_STREAM_IN_USE)
    return 0; /* created concurrently */
  if (r != 0)
    return nxerr_wrap (err, "create bucket %s", bucket);
  return 0;
}

/* A JetStream publish: wait for the stream's ack. */
static int
js_publish (struct api *a, natsMsg *msg, struct nxerr *err)
{
  cleanup_json json_t *ack = NULL;
  struct api_error ae;
  json_t *seq;
  if (request_msg (a, msg, &ack, &ae, err) != 0)
    return -1;
  seq = json_object_get (ack, "seq");
  if (!json_is_integer (seq))
    return nxerr_set (err, EPROTO, "nats: invalid publish ack");
  return 0;
}

static int
purge_subject (struct api *a, const char *bucket, const char *subject, struct nxerr *err)
{
  cleanup_json json_t *reply = NULL;
  cleanup_buf struct buf req = BUF_INIT;
  struct api_error ae;
  struct jsonw w;
  char subj[SUBJECT_MAX];
  jsonw_init (&w, &req);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "filter", subject);
  jsonw_obj_end (&w);
  snprintf (subj, sizeof subj, "STREAM.PURGE.OBJ_%s", bucket);
  return api_request (a, subj, &req, &reply, &ae, err) == 0 ? 0 : -1;
}

static void
meta_json (const struct objstore_info *info, struct buf *out)
{
  struct jsonw w;
  jsonw_init (&w, out);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "name", info->name);
  if (info->description && info->description[0])
    jsonw_kstr (&w, "description", info->description);
  jsonw_key (&w, "options");
  jsonw_obj_begin (&w);
  jsonw_key (&w, "max_chunk_size");
  jsonw_uint (&w, info->max_chunk_size);
  jsonw_obj_end (&w);
  jsonw_kstr (&w, "bucket", info->bucket);
  jsonw_kstr (&w, "nuid", info->nuid);
  jsonw_key (&w, "size");
  jsonw_uint (&w, info->size);
  jsonw_kstr (&w, "mtime", info->mtime);
  jsonw_key (&w, "chunks");
  jsonw_uint (&w, info->chunks);
  jsonw_kstr (&w, "digest", info->digest);
  jsonw_obj_end (&w);
}

static int
put_source (natsConnection *nc, const char *bucket, const char *name, struct source *src,
            uint64_t total_hint, const struct objstore_opts *opts,
            objstore_progress_fn progress_cb, void *ud, struct objstore_info *info_out,
            struct nxerr *err)
{
  cleanup_info struct objstore_info old = { 0 };
  cleanup_info struct objstore_info info = { 0 };
  cleanup_md EVP_MD_CTX *md = NULL;
  cleanup_buf struct buf chunk_subj = BUF_INIT;
  cleanup_buf struct buf msubj = BUF_INIT;
  cleanup_buf struct buf meta = BUF_INIT;
  cleanup_free unsigned char *chunk = NULL;
  cleanup_msg natsMsg *mmsg = NULL;
  unsigned char sha[SHA256_LEN];
  char nuid[NUID_LEN + 1], digest[OBJSTORE_DIGEST_LEN], mtime[TIMEFMT_RFC3339_MAX];
  unsigned int mdlen = 0;
  uint64_t sent = 0;
  uint32_t chunks = 0;
  size_t chunk_size;
  struct nxerr ignored;
  struct api a;
  natsStatus s;
  int r;

  if (info_out)
    memset (info_out, 0, sizeof *info_out);
  if (!objstore_valid_bucket (bucket))
    return nxerr_set (err, EINVAL, ERR_BAD_STORE_NAME);
  if (name == NULL || name[0] == '\0')
    return nxerr_set (err, EINVAL, "nats: name is required");
  if (!objstore_valid_name (name))
    return nxerr_set (err, EINVAL, "nats: invalid object name");
  if (api_init (&a, nc, opts, err) < 0)
    return -1;
  chunk_size = a.opts->chunk_size ? a.opts->chunk_size : OBJSTORE_DEFAULT_CHUNK;
  if (chunk_size > UINT32_MAX || (int64_t) chunk_size > natsConnection_GetMaxPayload (nc) - 1024)
    return nxerr_set (err, EINVAL, "chunk size %zu is larger than the server's max payload", chunk_size);
  if (sodium_init () < 0)
    return nxerr_set (err, EIO, "libsodium: cannot initialize");

  if (ensure_bucket (&a, bucket, err) < 0)
    return -1;
  meta_subject (bucket, name, &msubj);
  if (msubj.len >= SUBJECT_MAX - 64)
    return nxerr_set (err, EINVAL, "nats: invalid object name");
  /* The previous version, whose chunks go once the new one is in place. A
   * malformed previous metadata is simply replaced. */
  r = fetch_meta (&a, bucket, name, &old, &ignored);
  if (r < 0 && ignored.code != EPROTO)
    {
      *err = ignored;
      return -1;
    }

  new_nuid (nuid);
  buf_printf (&chunk_subj, "$O.%s.C.%s", bucket, nuid);
  md = EVP_MD_CTX_new ();
  if (md == NULL || EVP_DigestInit_ex (md, EVP_sha256 (), NULL) != 1)
    return nxerr_set (err, ENOMEM, "sha256: cannot initialize");
  chunk = xmalloc (chunk_size);
  for (;;)
    {
      cleanup_msg natsMsg *cm = NULL;
      ssize_t n = source_read (src, chunk, chunk_size, err);
      if (n < 0)
        goto fail;
      if (n == 0)
        break;
      if (chunks == UINT32_MAX)
        {
          nxerr_set (err, EFBIG, "object too large");
          goto fail;
        }
      EVP_DigestUpdate (md, chunk, (size_t) n);
      s = natsMsg_Create (&cm, chunk_subj.data, NULL, (const char *) chunk, (int) n);
      if (s != NATS_OK)
        {
          nats_error (err, s);
          goto fail;
        }
      if (js_publish (&a, cm, err) < 0)
        goto fail;
      chunks++;
      sent += (uint64_t) n;
      if (progress_cb)
        progress_cb (sent, total_hint > sent ? total_hint : sent, ud);
      if ((size_t) n < chunk_size)
        break; /* source_read only comes back short at the end */
    }
  if (EVP_DigestFinal_ex (md, sha, &mdlen) != 1 || mdlen != SHA256_LEN)
    {
      nxerr_set (err, EIO, "sha256: cannot finalize");
      goto fail;
    }
  digest_string (sha, digest);
  timefmt_rfc3339 (mtime, sizeof mtime, timefmt_now ());

  info.name = xstrdup (name);
  info.bucket = xstrdup (bucket);
  info.nuid = xstrdup (nuid);
  info.description = a.opts->description ? xstrdup (a.opts->description) : NULL;
  info.mtime = xstrdup (mtime);
  info.digest = xstrdup (digest);
  info.size = sent;
  info.chunks = chunks;
  info.max_chunk_size = (uint32_t) chunk_size;
  meta_json (&info, &meta);
  s = natsMsg_Create (&mmsg, msubj.data, NULL, meta.data, (int) meta.len);
  if (s == NATS_OK)
    s = natsMsgHeader_Set (mmsg, "Nats-Rollup", "sub");
  if (s != NATS_OK)
    {
      nats_error (err, s);
      goto fail;
    }
  if (js_publish (&a, mmsg, err) < 0)
    goto fail;
  if (progress_cb && sent == 0)
    progress_cb (0, 0, ud);

  if (old.nuid && old.nuid[0] && strcmp (old.nuid, nuid) != 0
      && valid_token (old.nuid, OBJSTORE_NUID_MAX))
    {
      cleanup_buf struct buf old_subj = BUF_INIT;
      buf_printf (&old_subj, "$O.%s.C.%s", bucket, old.nuid);
      if (purge_subject (&a, bucket, old_subj.data, err) < 0)
        return nxerr_wrap (err, "purge previous version");
    }
  if (info_out)
    {
      *info_out = info;
      memset (&info, 0, sizeof info);
    }
  return 0;

fail:
  /* Best effort: do not leave orphan chunks behind. */
  if (chunks > 0)
    purge_subject (&a, bucket, chunk_subj.data, &ignored);
  return -1;
}

int
objstore_put (natsConnection *nc, const char *bucket, const char *name, const void *data,
              size_t len, const struct objstore_opts *opts, objstore_progress_fn progress_cb,
              void *ud, struct objstore_info *info_out, struct nxerr *err)
{
  struct source src = { data, len, 0, -1 };
  if (data == NULL && len > 0)
    return nxerr_set (err, EINVAL, "objstore_put: no data");
  return put_source (nc, bucket, name, &src, len, opts, progress_cb, ud, info_out, err);
}

int
objstore_put_file (natsConnection *nc, const char *bucket, const char *name, int fd,
                   const struct objstore_opts *opts, objstore_progress_fn progress_cb, void *ud,
                   struct objstore_info *info_out, struct nxerr *err)
{
  struct source src = { NULL, 0, 0, fd };
  struct stat st;
  uint64_t total = 0;
  if (fd < 0)
    return nxerr_set (err, EBADF, "objstore_put_file: bad file descriptor");
  if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode))
    total = (uint64_t) st.st_size;
  return put_source (nc, bucket, name, &src, total, opts, progress_cb, ud, info_out, err);
}

void
objstore_digest_hex (const char *digest, char hex[OBJSTORE_HEX_LEN])
{
  cleanup_buf struct buf raw = BUF_INIT;
  struct nxerr e = { 0 };
  hex[0] = '\0';
  if (digest == NULL || strncmp (digest, "SHA-256=", 8) != 0)
    return;
  if (b64_decode (B64_URL, digest + 8, strlen (digest + 8), &raw, &e) < 0 || raw.len != 32)
    return;
  for (int i = 0; i < 32; i++)
    snprintf (hex + 2 * i, 3, "%02x", (unsigned char) raw.data[i]);
}
