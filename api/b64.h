/* b64: base64 in the four variants the protocol uses (libsodium underneath).
 *  B64_STD        standard alphabet, padded (deploy environment, Go []byte)
 *  B64_STD_NOPAD
 *  B64_URL        URL-safe, padded (object store names and digests)
 *  B64_URL_NOPAD  URL-safe, unpadded (JWT parts)
 * Decoding is strict: the padding rule of the variant is enforced and no
 * whitespace is accepted. Error text for invalid input follows Go:
 * "illegal base64 data at input byte N". */
#ifndef NEXC_B64_H
#define NEXC_B64_H

#include <stddef.h>

#include "api/buf.h"
#include "api/nxerr.h"

enum b64_variant { B64_STD, B64_STD_NOPAD, B64_URL, B64_URL_NOPAD };

void b64_encode (enum b64_variant v, const void *in, size_t n, struct buf *out);
int b64_decode (enum b64_variant v, const char *in, size_t n, struct buf *out, struct nxerr *err);

#endif
