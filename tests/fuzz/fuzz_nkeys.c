/* fuzz_nkeys: public key and seed text decoding (api/nkeys.c): sender
 * xkeys and issuers arrive in every DEPLOY, seeds in key files.
 *
 * The first byte picks the function (and the expected prefix); the rest is
 * the text (a C string: it reaches the decoders from jansson or a file).
 * What decodes must encode and decode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/nkeys.h"
#include "api/xalloc.h"

static const uint8_t prefixes[]
    = { NKEY_ANY_PREFIX, NKEY_ACCOUNT, NKEY_CLUSTER, NKEY_SERVER, NKEY_OPERATOR,
        NKEY_USER,       NKEY_CURVE,   NKEY_SEED,    NKEY_PRIVATE };

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct nxerr err = { 0 };
  uint8_t key[32], key2[32], prefix = 0, prefix2 = 0;
  char text[NKEY_SEED_LEN + 1];
  char *s;
  if (size < 1)
    return 0;
  s = xstrndup ((const char *) data + 1, size - 1);
  if (data[0] & 0x80)
    {
      if (nkey_decode_seed (s, &prefix, key, &err) == 0)
        {
          nkey_encode_seed (prefix, key, text);
          if (nkey_decode_seed (text, &prefix2, key2, &err) < 0 || prefix2 != prefix
              || memcmp (key, key2, 32) != 0)
            abort ();
        }
    }
  else
    {
      uint8_t expect = prefixes[data[0] % sizeof prefixes];
      int rc = nkey_decode_public (s, expect, &prefix, key, &err);
      if ((rc == 0) != nkey_is_valid_public (s, expect))
        abort ();
      if (rc == 0)
        {
          if (!nkey_prefix_is_public (prefix)
              || (expect != NKEY_ANY_PREFIX && prefix != expect))
            abort ();
          nkey_encode_public (prefix, key, text);
          if (nkey_decode_public (text, prefix, &prefix2, key2, &err) < 0
              || memcmp (key, key2, 32) != 0)
            abort ();
        }
    }
  free (s);
  return 0;
}
