/* xkey: sealing with curve nkeys, the "xkv1" format of reference §8.3:
 *   "xkv1" ‖ nonce(24) ‖ crypto_box_easy(plaintext)   (tag 16 ‖ ciphertext)
 * Error texts are the Go nkeys library's, because Nex sends them to clients:
 *   "nkeys: encrypted input is not valid", "nkeys: encrypted input wrong version",
 *   "nkeys: not a valid sender public curve key", "nkeys: could not decrypt input". */
#ifndef NEXC_XKEY_H
#define NEXC_XKEY_H

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

#endif
