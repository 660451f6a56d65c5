/* fuzz_b64: strict base64 decoding in its four variants (api/b64.c): the
 * deploy environment (standard, padded), JWT parts (URL, unpadded), object
 * store names and digests (URL, padded).
 *
 * The first byte picks the variant. Decoding is strict (padding rule, no
 * whitespace, zero tail bits), so every accepted text is the canonical
 * encoding of its bytes: encoding them again must give the input back. A
 * refused text must name a position inside the input (0..n). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/b64.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct buf out = BUF_INIT, again = BUF_INIT;
  struct nxerr err = { 0 };
  enum b64_variant v;
  const char *in;
  size_t n;
  long pos;

  if (size < 1)
    return 0;
  v = (enum b64_variant) (data[0] % 4);
  in = (const char *) data + 1;
  n = size - 1;
  if (b64_decode (v, in, n, &out, &err) < 0)
    {
      if (out.len != 0 || sscanf (err.msg, "illegal base64 data at input byte %ld", &pos) != 1
          || pos < 0 || (size_t) pos > n)
        {
          fprintf (stderr, "nexc-fuzz: bad refusal: %s (n=%zu, out.len=%zu)\n", err.msg, n,
                   out.len);
          abort ();
        }
      buf_free (&out);
      return 0;
    }
  if (out.len > n / 4 * 3 + 3)
    abort ();
  b64_encode (v, out.data ? out.data : "", out.len, &again);
  if (again.len != n || (n && memcmp (again.data, in, n) != 0))
    {
      fprintf (stderr,
               "nexc-fuzz: variant %d: accepted \"%.*s\" but it encodes back as \"%s\"\n",
               (int) v, (int) n, in, again.data ? again.data : "");
      abort ();
    }
  buf_free (&out);
  buf_free (&again);
  return 0;
}
