/* xkey: "xkv1" sealing with curve nkeys (reference §8.3), byte-compatible
 * with Go nkeys v0.4.6 Seal/Open and with NaCl crypto_box. */
#include "api/xkey.h"

#include <string.h>

#include <sodium.h>

#define XKEY_VERSION "xkv1"
#define XKEY_VERSION_LEN 4
#define XKEY_NONCE_LEN crypto_box_NONCEBYTES /* 24 */

_Static_assert (XKEY_OVERHEAD == XKEY_VERSION_LEN + crypto_box_NONCEBYTES + crypto_box_MACBYTES,
                "xkv1 layout");

static int
check_self (const struct nkey_pair *self, struct nxerr *err)
{
  if (self->prefix != NKEY_CURVE)
    return nxerr_set (err, 0, "nkeys: only curve key can seal/open");
  return nkey_sodium_init (err);
}

int
xkey_seal (const struct nkey_pair *self, const char *recipient_public, const void *pt, size_t n,
           const uint8_t *nonce, struct buf *out, struct nxerr *err)
{
  uint8_t rpub[32];
  uint8_t nonce_buf[XKEY_NONCE_LEN];
  unsigned char *c;
  if (check_self (self, err) < 0)
    return -1;
  if (nkey_decode_public (recipient_public, NKEY_CURVE, NULL, rpub, NULL) < 0)
    return nxerr_set (err, 0, "nkeys: not a valid recipient public curve key");
  if (nonce == NULL)
    {
      randombytes_buf (nonce_buf, sizeof nonce_buf);
      nonce = nonce_buf;
    }
  buf_reserve (out, n + XKEY_OVERHEAD);
  c = (unsigned char *) out->data + out->len + XKEY_VERSION_LEN + XKEY_NONCE_LEN;
  /* libsodium refuses a low-order recipient key (all-zero shared secret);
   * Go would seal anyway, but such a box protects nothing. */
  if (crypto_box_easy (c, pt, n, nonce, rpub, self->seed) != 0)
    return nxerr_set (err, 0, "nkeys: not a valid recipient public curve key");
  memcpy (out->data + out->len, XKEY_VERSION, XKEY_VERSION_LEN);
  memcpy (out->data + out->len + XKEY_VERSION_LEN, nonce, XKEY_NONCE_LEN);
  out->len += n + XKEY_OVERHEAD;
  out->data[out->len] = '\0';
  return 0;
}

/* c's shared key of (self, sender), derived into the oldest slot when it
 * has none; NULL when the key agreement fails (a low-order sender key):
 * the caller then lets crypto_box_open_easy refuse it. */
static const uint8_t *
shared_key (struct xkey_cache *c, const struct nkey_pair *self, const uint8_t spub[32])
{
  unsigned i;
  for (i = 0; i < XKEY_CACHE_SLOTS; i++)
    if (c->slot[i].used && memcmp (c->slot[i].sender, spub, 32) == 0
        && memcmp (c->slot[i].self, self->pub, 32) == 0)
      return c->slot[i].k;
  i = c->next++ % XKEY_CACHE_SLOTS;
  c->slot[i].used = false;
  if (crypto_box_beforenm (c->slot[i].k, spub, self->seed) != 0)
    {
      sodium_memzero (c->slot[i].k, sizeof c->slot[i].k);
      return NULL;
    }
  memcpy (c->slot[i].sender, spub, 32);
  memcpy (c->slot[i].self, self->pub, 32);
  c->slot[i].used = true;
  return c->slot[i].k;
}

/* The checks and their order are Go's: length, version, sender, box. With
 * c NULL the shared key is derived for this call only. */
static int
open_with (struct xkey_cache *c, const struct nkey_pair *self, const char *sender_public,
           const void *in, size_t n, struct buf *out, struct nxerr *err)
{
  const uint8_t *p = in;
  uint8_t spub[32];
  const uint8_t *k = NULL;
  size_t clen;
  int rc;
  if (check_self (self, err) < 0)
    return -1;
  if (n <= XKEY_VERSION_LEN + XKEY_NONCE_LEN)
    return nxerr_set (err, 0, "nkeys: encrypted input is not valid");
  if (memcmp (p, XKEY_VERSION, XKEY_VERSION_LEN) != 0)
    return nxerr_set (err, 0, "nkeys: encrypted input wrong version");
  if (nkey_decode_public (sender_public, NKEY_CURVE, NULL, spub, NULL) < 0)
    return nxerr_set (err, 0, "nkeys: not a valid sender public curve key");
  clen = n - XKEY_VERSION_LEN - XKEY_NONCE_LEN;
  if (clen < crypto_box_MACBYTES)
    return nxerr_set (err, 0, "nkeys: could not decrypt input");
  if (c)
    k = shared_key (c, self, spub);
  buf_reserve (out, clen - crypto_box_MACBYTES);
  if (k)
    rc = crypto_box_open_easy_afternm ((unsigned char *) out->data + out->len,
                                       p + XKEY_VERSION_LEN + XKEY_NONCE_LEN, clen,
                                       p + XKEY_VERSION_LEN, k);
  else
    rc = crypto_box_open_easy ((unsigned char *) out->data + out->len,
                               p + XKEY_VERSION_LEN + XKEY_NONCE_LEN, clen, p + XKEY_VERSION_LEN,
                               spub, self->seed);
  if (rc != 0)
    return nxerr_set (err, 0, "nkeys: could not decrypt input");
  out->len += clen - crypto_box_MACBYTES;
  out->data[out->len] = '\0';
  return 0;
}

int
xkey_open (const struct nkey_pair *self, const char *sender_public, const void *in, size_t n,
           struct buf *out, struct nxerr *err)
{
  return open_with (NULL, self, sender_public, in, n, out, err);
}

int
xkey_open_cached (struct xkey_cache *c, const struct nkey_pair *self,
                  const char *sender_public, const void *in, size_t n, struct buf *out,
                  struct nxerr *err)
{
  return open_with (c, self, sender_public, in, n, out, err);
}

void
xkey_cache_wipe (struct xkey_cache *c)
{
  sodium_memzero (c, sizeof *c);
}
