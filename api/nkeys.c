/* nkeys: text encodings of NATS nkeys (reference §8.1–8.2), key pairs and
 * ed25519 signatures. The error texts are those of the Go nkeys library
 * (v0.4.6) because they can reach clients inside reply errors. */
#include "api/nkeys.h"

#include <limits.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

#define RAW_PUBLIC_LEN 35 /* prefix ‖ key ‖ crc */
#define RAW_SEED_LEN 36   /* 2 header bytes ‖ seed ‖ crc */
#define SEED_MARKER NKEY_SEED

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int
nkey_sodium_init (struct nxerr *err)
{
  /* sodium_init is idempotent and thread-safe: 0 first time, 1 after. */
  if (sodium_init () < 0)
    return nxerr_set (err, 0, "libsodium initialization failed");
  return 0;
}

uint16_t
nkey_crc16 (const uint8_t *p, size_t n)
{
  uint16_t crc = 0;
  for (size_t i = 0; i < n; i++)
    {
      crc ^= (uint16_t) (p[i] << 8);
      for (int b = 0; b < 8; b++)
        crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021) : (uint16_t) (crc << 1);
    }
  return crc;
}

/* Public prefixes: the types a public key (or a seed's inner type) may have. */
bool
nkey_prefix_is_public (uint8_t prefix)
{
  switch (prefix)
    {
    case NKEY_ACCOUNT:
    case NKEY_CLUSTER:
    case NKEY_SERVER:
    case NKEY_OPERATOR:
    case NKEY_USER:
    case NKEY_CURVE:
      return true;
    default:
      return false;
    }
}

size_t
nkey_base32_encode (const uint8_t *in, size_t n, char *out, size_t out_cap)
{
  size_t need = (n * 8 + 4) / 5;
  size_t o = 0;
  uint32_t acc = 0; /* only the low `bits` bits matter; overflow is harmless */
  int bits = 0;
  if (out_cap < need + 1)
    {
      if (out_cap > 0)
        out[0] = '\0';
      return 0;
    }
  for (size_t i = 0; i < n; i++)
    {
      acc = (acc << 8) | in[i];
      bits += 8;
      while (bits >= 5)
        {
          out[o++] = b32_alphabet[(acc >> (bits - 5)) & 31];
          bits -= 5;
        }
    }
  if (bits > 0)
    out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
  out[o] = '\0';
  return o;
}

static int
b32_value (char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= '2' && c <= '7')
    return c - '2' + 26;
  return -1;
}

int
nkey_base32_decode (const char *in, size_t n, uint8_t *out, size_t out_cap)
{
  size_t o = 0, chars = 0, rest;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++)
    {
      int v;
      /* Go's decoder skips line breaks anywhere; key files end with one. */
      if (in[i] == '\r' || in[i] == '\n')
        continue;
      v = b32_value (in[i]);
      if (v < 0)
        return -1;
      acc = (acc << 5) | (uint32_t) v;
      bits += 5;
      chars++;
      if (bits >= 8)
        {
          if (o == out_cap || o == INT_MAX)
            return -1;
          out[o++] = (uint8_t) (acc >> (bits - 8));
          bits -= 8;
        }
    }
  /* 1, 3 or 6 characters in the last group cannot come from any byte count. */
  rest = chars % 8;
  if (rest == 1 || rest == 3 || rest == 6)
    return -1;
  return (int) o;
}

/* Length of text without trailing whitespace (key files end in a newline). */
static size_t
trimmed_len (const char *text)
{
  size_t n = strlen (text);
  while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\r'
                   || text[n - 1] == '\n'))
    n--;
  return n;
}

/* Base32-decode and check the CRC; returns the length without the CRC. */
static int
decode_checked (const char *text, uint8_t *raw, size_t cap, struct nxerr *err)
{
  int n;
  uint16_t crc;
  if (text == NULL)
    return nxerr_set (err, 0, "nkeys: invalid encoded key");
  n = nkey_base32_decode (text, trimmed_len (text), raw, cap);
  if (n < 4)
    return nxerr_set (err, 0, "nkeys: invalid encoded key");
  crc = (uint16_t) (raw[n - 2] | (raw[n - 1] << 8));
  if (nkey_crc16 (raw, (size_t) n - 2) != crc)
    return nxerr_set (err, 0, "nkeys: invalid checksum");
  return n - 2;
}

void
nkey_encode_public (uint8_t prefix, const uint8_t key[32], char out[NKEY_PUBLIC_LEN + 1])
{
  uint8_t raw[RAW_PUBLIC_LEN];
  uint16_t crc;
  raw[0] = prefix;
  memcpy (raw + 1, key, 32);
  crc = nkey_crc16 (raw, 33);
  raw[33] = (uint8_t) (crc & 0xFF);
  raw[34] = (uint8_t) (crc >> 8);
  nkey_base32_encode (raw, sizeof raw, out, NKEY_PUBLIC_LEN + 1);
}

int
nkey_decode_public (const char *text, uint8_t expect, uint8_t *prefix_out, uint8_t key[32],
                    struct nxerr *err)
{
  uint8_t raw[64];
  int n;
  if (expect != NKEY_ANY_PREFIX && !nkey_prefix_is_public (expect))
    return nxerr_set (err, 0, "nkeys: invalid prefix byte");
  n = decode_checked (text, raw, sizeof raw, err);
  if (n < 0)
    return -1;
  if (n != 33 || !nkey_prefix_is_public (raw[0]))
    return nxerr_set (err, 0, "nkeys: invalid public key");
  if (expect != NKEY_ANY_PREFIX && raw[0] != expect)
    return nxerr_set (err, 0, "nkeys: invalid prefix byte");
  if (prefix_out)
    *prefix_out = raw[0];
  memcpy (key, raw + 1, 32);
  return 0;
}

bool
nkey_is_valid_public (const char *text, uint8_t expect)
{
  uint8_t key[32];
  return nkey_decode_public (text, expect, NULL, key, NULL) == 0;
}

void
nkey_encode_seed (uint8_t prefix, const uint8_t raw[32], char out[NKEY_SEED_LEN + 1])
{
  uint8_t b[RAW_SEED_LEN];
  uint16_t crc;
  /* Spread the 5-bit type over two bytes so both the "S" and the type
   * letter show up in the text form. */
  b[0] = (uint8_t) (SEED_MARKER | (prefix >> 5));
  b[1] = (uint8_t) ((prefix & 31) << 3);
  memcpy (b + 2, raw, 32);
  crc = nkey_crc16 (b, 34);
  b[34] = (uint8_t) (crc & 0xFF);
  b[35] = (uint8_t) (crc >> 8);
  nkey_base32_encode (b, sizeof b, out, NKEY_SEED_LEN + 1);
  sodium_memzero (b, sizeof b);
}

int
nkey_decode_seed (const char *text, uint8_t *prefix_out, uint8_t raw[32], struct nxerr *err)
{
  uint8_t b[64];
  uint8_t prefix;
  int n, rc = -1;
  n = decode_checked (text, b, sizeof b, err);
  if (n < 0)
    goto out;
  prefix = (uint8_t) (((b[0] & 7) << 5) | ((b[1] & 0xF8) >> 3));
  if ((b[0] & 0xF8) != SEED_MARKER || !nkey_prefix_is_public (prefix))
    {
      nxerr_set (err, 0, "nkeys: invalid seed");
      goto out;
    }
  if (n != 34)
    {
      nxerr_set (err, 0, "nkeys: invalid seed length");
      goto out;
    }
  if (prefix_out)
    *prefix_out = prefix;
  memcpy (raw, b + 2, 32);
  rc = 0;
out:
  sodium_memzero (b, sizeof b);
  return rc;
}

/* Derive the whole pair from the 32 secret bytes. */
static int
pair_from_raw (uint8_t prefix, const uint8_t raw[32], struct nkey_pair *kp, struct nxerr *err)
{
  if (nkey_sodium_init (err) < 0)
    return -1;
  memset (kp, 0, sizeof *kp);
  kp->prefix = prefix;
  memcpy (kp->seed, raw, 32);
  if (prefix == NKEY_CURVE)
    {
      /* The seed is the X25519 scalar as is; scalarmult clamps it. */
      if (crypto_scalarmult_base (kp->pub, kp->seed) != 0)
        {
          nkey_pair_wipe (kp);
          return nxerr_set (err, 0, "nkeys: not a valid curve seed");
        }
    }
  else if (crypto_sign_seed_keypair (kp->pub, kp->sk, kp->seed) != 0)
    {
      nkey_pair_wipe (kp);
      return nxerr_set (err, 0, "nkeys: invalid seed");
    }
  nkey_encode_public (prefix, kp->pub, kp->public_text);
  return 0;
}

int
nkey_pair_from_seed (const char *seed_text, struct nkey_pair *kp, struct nxerr *err)
{
  uint8_t raw[32];
  uint8_t prefix;
  int rc;
  if (nkey_decode_seed (seed_text, &prefix, raw, err) < 0)
    return -1;
  rc = pair_from_raw (prefix, raw, kp, err);
  sodium_memzero (raw, sizeof raw);
  return rc;
}

int
nkey_pair_generate (uint8_t prefix, struct nkey_pair *kp, struct nxerr *err)
{
  uint8_t raw[32];
  int rc;
  if (!nkey_prefix_is_public (prefix))
    return nxerr_set (err, 0, "nkeys: invalid prefix byte");
  if (nkey_sodium_init (err) < 0)
    return -1;
  randombytes_buf (raw, sizeof raw);
  rc = pair_from_raw (prefix, raw, kp, err);
  sodium_memzero (raw, sizeof raw);
  return rc;
}

void
nkey_pair_seed_text (const struct nkey_pair *kp, char out[NKEY_SEED_LEN + 1])
{
  nkey_encode_seed (kp->prefix, kp->seed, out);
}

void
nkey_pair_wipe (struct nkey_pair *kp)
{
  if (kp)
    sodium_memzero (kp, sizeof *kp);
}

int
nkey_sign (const struct nkey_pair *kp, const void *msg, size_t n, uint8_t sig[64],
           struct nxerr *err)
{
  if (kp->prefix == NKEY_CURVE)
    return nxerr_set (err, 0, "nkeys: curve key is not valid for sign/verify");
  if (!nkey_prefix_is_public (kp->prefix))
    return nxerr_set (err, 0, "nkeys: invalid prefix byte");
  if (nkey_sodium_init (err) < 0)
    return -1;
  if (crypto_sign_detached (sig, NULL, msg, n, kp->sk) != 0)
    return nxerr_set (err, 0, "nkeys: signing failed");
  return 0;
}

int
nkey_verify (const char *public_text, const void *msg, size_t n, const uint8_t sig[64],
             struct nxerr *err)
{
  uint8_t key[32];
  /* Any public prefix, X included: Go's FromPublicKey accepts them all and
   * verifies with ed25519, and JWT issuers are checked that way. */
  if (nkey_decode_public (public_text, NKEY_ANY_PREFIX, NULL, key, err) < 0)
    return -1;
  if (nkey_sodium_init (err) < 0)
    return -1;
  if (crypto_sign_verify_detached (sig, msg, n, key) != 0)
    return nxerr_set (err, 0, "nkeys: signature verification failed");
  return 0;
}

int
nkey_pair_from_file (const char *path, struct nkey_pair *kp, struct nxerr *err)
{
  char seed[128] = "";
  FILE *f = fopen (path, "re");
  int rc;
  if (f == NULL)
    return nxerr_sys (err, errno, "seed file %s", path);
  if (fgets (seed, sizeof seed, f) == NULL)
    {
      fclose (f);
      return nxerr_set (err, EINVAL, "seed file %s is empty", path);
    }
  fclose (f);
  seed[strcspn (seed, "\r\n ")] = '\0';
  rc = nkey_pair_from_seed (seed, kp, err);
  sodium_memzero (seed, sizeof seed);
  if (rc < 0)
    return nxerr_wrap (err, "seed file %s", path);
  return 0;
}
