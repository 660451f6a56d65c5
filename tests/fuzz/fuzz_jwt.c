/* fuzz_jwt: JWT decode and signature verification (api/jwt.c), reached by
 * every DEPLOY and STOP. A token that verifies is also put through the
 * rest of what the node does with claims: the time rule and the jti. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/jwt.h"
#include "api/xalloc.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct jwt_claims c;
  struct nxerr err = { 0 };
  char jti[53];
  /* Tokens reach jwt_decode as C strings (from jansson). */
  char *token = xstrndup ((const char *) data, size);
  if (jwt_decode (token, &c, &err) < 0)
    {
      /* Nothing is left allocated in the claims on failure. */
      if (c.aud || c.jti || c.iss || c.name || c.sub || c.hash || err.msg[0] == '\0')
        abort ();
      free (token);
      return 0;
    }
  if (c.iss == NULL)
    abort (); /* verified against iss: it must be there */
  (void) jwt_time_valid (&c, 1714000000);
  jwt_compute_jti (&c, jti);
  if (strlen (jti) != 52)
    abort ();
  jwt_claims_free (&c);
  free (token);
  return 0;
}
