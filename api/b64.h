/* b64: base64 in the four variants the protocol uses (libsodium underneath).
 *  B64_STD        standard alphabet, padded (deploy environment, Go []byte)
 *  B64_STD_NOPAD
 *  B64_URL        URL-safe, padded (object store names and digests)
 *  B64_URL_NOPAD  URL-safe, unpadded (JWT parts)
 * Decoding is strict: the padding rule of the variant is enforced, no
 * whitespace is accepted, and the unused low bits of the last character
 * must be zero (libsodium's rule, Go's Strict mode). Error text for invalid
 * input follows Go: "illegal base64 data at input byte N", with Go's N;
 * for what Go tolerates (CR/LF, stray bits) N is the offending character.
 * Output is appended; on error out is unchanged. */
#ifndef NEXC_B64_H
#define NEXC_B64_H

#include <stddef.h>

#include "api/buf.h"
#include "api/nxerr.h"

enum b64_variant { B64_STD, B64_STD_NOPAD, B64_URL, B64_URL_NOPAD };

void b64_encode (enum b64_variant v, const void *in, size_t n, struct buf *out);
int b64_decode (enum b64_variant v, const char *in, size_t n, struct buf *out, struct nxerr *err);

#endif
