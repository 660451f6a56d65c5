/* nkeys: NATS nkeys (ed25519 identities) and xkeys (curve25519), their text
 * encodings (reference §8.1–8.2) and signing. Keys are generated and used
 * with libsodium.
 *
 * Text forms: public "N…"/"A…"/"U…"/"X…" (56 chars), seed "S?…" (58 chars).
 * A struct nkey_pair holds secret material: wipe it with nkey_pair_wipe
 * (sodium_memzero) when done; never log a seed. */
#ifndef NEXC_NKEYS_H
#define NEXC_NKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/nxerr.h"

enum nkey_prefix {
  NKEY_ACCOUNT = 0,
  NKEY_CLUSTER = 16,
  NKEY_SERVER = 104,
  NKEY_OPERATOR = 112,
  NKEY_PRIVATE = 120,
  NKEY_SEED = 144,
  NKEY_USER = 160,
  NKEY_CURVE = 184,
};

#define NKEY_PUBLIC_LEN 56 /* characters, without NUL */
#define NKEY_SEED_LEN 58
#define NKEY_ANY_PREFIX 0xFF

struct nkey_pair {
  uint8_t prefix;     /* enum nkey_prefix of the public key */
  uint8_t seed[32];   /* ed25519 seed, or the X25519 private scalar for curve */
  uint8_t pub[32];
  uint8_t sk[64];     /* libsodium ed25519 secret key (unused for curve) */
  char public_text[NKEY_PUBLIC_LEN + 1];
};

/* Initialize libsodium (idempotent, thread-safe). The functions below that
 * need it call it themselves; call it early to fail fast. */
int nkey_sodium_init (struct nxerr *err);

/* True for the prefixes a public key may carry: A, C, N, O, U, X. */
bool nkey_prefix_is_public (uint8_t prefix);

/* CRC16/XMODEM (poly 0x1021, init 0). */
uint16_t nkey_crc16 (const uint8_t *p, size_t n);

/* Encode prefix‖key‖crc16le as base32 without padding into out (57 bytes). */
void nkey_encode_public (uint8_t prefix, const uint8_t key[32], char out[NKEY_PUBLIC_LEN + 1]);
/* Decode a public key. expect = a prefix, or NKEY_ANY_PREFIX to accept any
 * valid public prefix (A, C, N, O, U, X). Trailing CR/LF/space are ignored.
 * *prefix_out may be NULL. */
int nkey_decode_public (const char *text, uint8_t expect, uint8_t *prefix_out, uint8_t key[32],
                        struct nxerr *err);
bool nkey_is_valid_public (const char *text, uint8_t expect);

void nkey_encode_seed (uint8_t prefix, const uint8_t raw[32], char out[NKEY_SEED_LEN + 1]);
int nkey_decode_seed (const char *text, uint8_t *prefix_out, uint8_t raw[32], struct nxerr *err);

/* Build a pair from a seed text ("SA…", "SN…", "SX…"...). */
int nkey_pair_from_seed (const char *seed_text, struct nkey_pair *kp, struct nxerr *err);
/* Read a seed file (*.nk, *.xk: the seed text, maybe a trailing newline)
 * and build the pair; the text is wiped from memory after use. */
int nkey_pair_from_file (const char *path, struct nkey_pair *kp, struct nxerr *err);
/* Generate a fresh random pair of the given public prefix. */
int nkey_pair_generate (uint8_t prefix, struct nkey_pair *kp, struct nxerr *err);
/* The seed text of a pair (secret!). */
void nkey_pair_seed_text (const struct nkey_pair *kp, char out[NKEY_SEED_LEN + 1]);
void nkey_pair_wipe (struct nkey_pair *kp);

/* ed25519 detached signature; not for curve keys. */
int nkey_sign (const struct nkey_pair *kp, const void *msg, size_t n, uint8_t sig[64],
               struct nxerr *err);
/* Verify with a public key text of any public prefix (X included, as Go's
 * nkeys does); returns 0 when valid. */
int nkey_verify (const char *public_text, const void *msg, size_t n, const uint8_t sig[64],
                 struct nxerr *err);

/* Base32 (RFC 4648, A–Z2–7, no padding). enc NUL-terminates and returns the
 * length written, or 0 when out_cap cannot hold it and its NUL. dec returns
 * the decoded length, or -1 on an invalid character, an impossible length
 * or a too small out; CR and LF are skipped. */
size_t nkey_base32_encode (const uint8_t *in, size_t n, char *out, size_t out_cap);
int nkey_base32_decode (const char *in, size_t n, uint8_t *out, size_t out_cap);

#endif
