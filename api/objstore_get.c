/* objstore_get: the read path: look an object up (following one link), then
 * stream its chunks to a callback, checking length and digest. */
#include "api/objstore.h"

#include "api/objstore_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "api/xalloc.h"

int
objstore_get_info (natsConnection *nc, const char *bucket, const char *name,
                   const struct objstore_opts *opts, struct objstore_info *info, struct nxerr *err)
{
  cleanup_free char *link_bucket = NULL;
  cleanup_free char *link_name = NULL;
  struct api a;
  bool direct = false;
  int r;

  memset (info, 0, sizeof *info);
  if (!objstore_valid_bucket (bucket))
    return nxerr_set (err, EINVAL, ERR_BAD_STORE_NAME);
  if (name == NULL || name[0] == '\0')
    return nxerr_set (err, EINVAL, "nats: name is required");
  if (!objstore_valid_name (name))
    return nxerr_set (err, EINVAL, "nats: invalid object name");
  if (objstore_api_init (&a, nc, opts, err) < 0)
    return -1;

  /* At most two rounds: the object, and the target of its link. */
  for (int depth = 0;; depth++)
    {
      if (objstore_bind_bucket (&a, bucket, &direct, err) < 0)
        return -1;
      r = objstore_fetch_meta (&a, bucket, name, info, err);
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
          info->bucket_bound = true;
          info->bucket_direct = direct;
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
  if (info->nuid == NULL || !objstore_valid_token (info->nuid, OBJSTORE_NUID_MAX))
    return nxerr_set (err, EPROTO, ERR_BAD_META);
  if (opts && opts->max_size > 0 && info->size > opts->max_size)
    return nxerr_set (err, EFBIG, "object %s is %" PRIu64 " bytes, more than the limit of %" PRIu64
                      " bytes", info->name ? info->name : "", info->size, opts->max_size);
  /* Every chunk nats.go and nats.js write is non-empty. */
  if ((info->size == 0) != (info->chunks == 0) || info->chunks > info->size)
    return nxerr_set (err, EPROTO, ERR_BAD_META ": %" PRIu32 " chunks for %" PRIu64 " bytes",
                      info->chunks, info->size);
  if (objstore_digest_decode (info->digest, want) < 0)
    return nxerr_set (err, EPROTO, ERR_BAD_META ": bad digest");
  if (objstore_api_init (&a, nc, opts, err) < 0)
    return -1;

  /* One STREAM.INFO round trip less when get_info has just made it. */
  if (info->bucket_bound)
    direct = info->bucket_direct;
  else if (objstore_bind_bucket (&a, info->bucket, &direct, err) < 0)
    return -1;
  md = EVP_MD_CTX_new ();
  if (md == NULL || EVP_DigestInit_ex (md, EVP_sha256 (), NULL) != 1)
    return nxerr_set (err, ENOMEM, "sha256: cannot initialize");
  buf_printf (&subj, "$O.%s.C.%s", info->bucket, info->nuid);

  for (i = 0; i < info->chunks; i++)
    {
      r = 2;
      if (direct)
        r = objstore_direct_get (&a, info->bucket, subj.data, seq, &m, err);
      if (r == 2)
        direct = false;
      /* A replica answering a direct get may lag behind the leader: ask the
       * leader before calling a chunk missing. */
      if (r == 2 || r == 1)
        r = objstore_msg_get (&a, info->bucket, subj.data, seq, &m, err);
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
  objstore_stored_msg_free (&m);
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
