/* objstore_put: the write path (like nats.go's Put and Delete): create the
 * bucket if needed, publish the chunks, then the metadata, then purge the
 * old version; a deletion is a metadata marker, then the chunks' purge. */
#include "api/objstore.h"

#include "api/objstore_int.h"

#include <errno.h>
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

#define NUID_LEN 22

static void
info_cleanup (struct objstore_info *i)
{
  objstore_info_free (i);
}
#define cleanup_info __attribute__ ((cleanup (info_cleanup)))

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
  r = objstore_api_request (a, subj, NULL, &reply, &ae, err);
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
  r = objstore_api_request (a, subj, &cfg, &reply, &ae, err);
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
  if (objstore_request_msg (a, msg, &ack, &ae, err) != 0)
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
  return objstore_api_request (a, subj, &req, &reply, &ae, err) == 0 ? 0 : -1;
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
  if (info->deleted)
    jsonw_kbool (&w, "deleted", true);
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
  if (objstore_api_init (&a, nc, opts, err) < 0)
    return -1;
  chunk_size = a.opts->chunk_size ? a.opts->chunk_size : OBJSTORE_DEFAULT_CHUNK;
  if (chunk_size > UINT32_MAX || (int64_t) chunk_size > natsConnection_GetMaxPayload (nc) - 1024)
    return nxerr_set (err, EINVAL, "chunk size %zu is larger than the server's max payload", chunk_size);
  if (sodium_init () < 0)
    return nxerr_set (err, EIO, "libsodium: cannot initialize");

  if (ensure_bucket (&a, bucket, err) < 0)
    return -1;
  objstore_meta_subject (bucket, name, &msubj);
  if (msubj.len >= SUBJECT_MAX - 64)
    return nxerr_set (err, EINVAL, "nats: invalid object name");
  /* The previous version, whose chunks go once the new one is in place. A
   * malformed previous metadata is simply replaced. */
  r = objstore_fetch_meta (&a, bucket, name, &old, &ignored);
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
          objstore_nats_error (err, s);
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
  objstore_digest_string (sha, digest);
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
      objstore_nats_error (err, s);
      goto fail;
    }
  if (js_publish (&a, mmsg, err) < 0)
    goto fail;
  if (progress_cb && sent == 0)
    progress_cb (0, 0, ud);

  if (old.nuid && old.nuid[0] && strcmp (old.nuid, nuid) != 0
      && objstore_valid_token (old.nuid, OBJSTORE_NUID_MAX))
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

int
objstore_delete (natsConnection *nc, const char *bucket, const char *name,
                 const struct objstore_opts *opts, struct nxerr *err)
{
  cleanup_info struct objstore_info info = { 0 };
  cleanup_buf struct buf msubj = BUF_INIT;
  cleanup_buf struct buf meta = BUF_INIT;
  cleanup_buf struct buf chunk_subj = BUF_INIT;
  cleanup_msg natsMsg *mmsg = NULL;
  char mtime[TIMEFMT_RFC3339_MAX];
  struct api a;
  natsStatus s;
  int r;

  if (!objstore_valid_bucket (bucket))
    return nxerr_set (err, EINVAL, ERR_BAD_STORE_NAME);
  if (!objstore_valid_name (name))
    return nxerr_set (err, EINVAL, "nats: invalid object name");
  if (objstore_api_init (&a, nc, opts, err) < 0 || objstore_bind_bucket (&a, bucket, NULL, err) < 0)
    return -1;
  r = objstore_fetch_meta (&a, bucket, name, &info, err);
  if (r < 0)
    return -1;
  if (r == 1 || info.deleted)
    return nxerr_set (err, ENOENT, ERR_OBJECT_NOT_FOUND);
  objstore_meta_subject (bucket, name, &msubj);
  if (info.nuid[0] && objstore_valid_token (info.nuid, OBJSTORE_NUID_MAX))
    buf_printf (&chunk_subj, "$O.%s.C.%s", bucket, info.nuid);
  /* What nats.go publishes: the info with deleted set and the content gone. */
  info.deleted = true;
  info.size = 0;
  info.chunks = 0;
  free (info.digest);
  info.digest = xstrdup ("");
  free (info.mtime);
  timefmt_rfc3339 (mtime, sizeof mtime, timefmt_now ());
  info.mtime = xstrdup (mtime);
  meta_json (&info, &meta);
  s = natsMsg_Create (&mmsg, msubj.data, NULL, meta.data, (int) meta.len);
  if (s == NATS_OK)
    s = natsMsgHeader_Set (mmsg, "Nats-Rollup", "sub");
  if (s != NATS_OK)
    return objstore_nats_error (err, s);
  if (js_publish (&a, mmsg, err) < 0)
    return -1;
  if (chunk_subj.len && purge_subject (&a, bucket, chunk_subj.data, err) < 0)
    return nxerr_wrap (err, "purge chunks");
  return 0;
}
