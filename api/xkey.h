/* xkey: sealing with curve nkeys, the "xkv1" format of reference §8.3:
 *   "xkv1" ‖ nonce(24) ‖ crypto_box_easy(plaintext)   (tag 16 ‖ ciphertext)
 * Error texts are the Go nkeys library's, because Nex sends them to clients:
 *   "nkeys: encrypted input is not valid", "nkeys: encrypted input wrong version",
 *   "nkeys: not a valid sender public curve key", "nkeys: could not decrypt input". */
#ifndef NEXC_XKEY_H
#define NEXC_XKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/buf.h"
#include "api/nkeys.h"
#include "api/nxerr.h"

#define XKEY_OVERHEAD 44 /* 4 version + 24 nonce + 16 tag */

/* Seal plaintext from self (a curve pair) to recipient "X…". nonce may be NULL
 * (random); tests pass a fixed one. Appends to out. */
int xkey_seal (const struct nkey_pair *self, const char *recipient_public, const void *pt, size_t n,
               const uint8_t *nonce, struct buf *out, struct nxerr *err);
/* Open input sealed by sender "X…" to self. Appends the plaintext to out. */
int xkey_open (const struct nkey_pair *self, const char *sender_public, const void *in, size_t n,
               struct buf *out, struct nxerr *err);

/* The X25519 shared keys of the last few (self, sender) pairs: opening with
 * one skips the key agreement (crypto_box_beforenm, ~35 us on this project's
 * machines, ~1 us for the box itself). A sender seen once more than
 * XKEY_CACHE_SLOTS others ago is computed again. Owned by one thread; the
 * keys are secrets: xkey_cache_wipe when done. */
#define XKEY_CACHE_SLOTS 8
struct xkey_cache {
  struct {
    bool used;
    uint8_t self[32], sender[32];
    uint8_t k[32];
  } slot[XKEY_CACHE_SLOTS];
  unsigned next;
};
/* xkey_open, through c: the same result and the same errors. */
int xkey_open_cached (struct xkey_cache *c, const struct nkey_pair *self,
                      const char *sender_public, const void *in, size_t n, struct buf *out,
                      struct nxerr *err);
void xkey_cache_wipe (struct xkey_cache *c);

#endif
