/* b64: base64 over libsodium, with Go's error text.
 *
 * libsodium only says "invalid"; Go says where. So decoding first walks the
 * input once to find the offending byte the way Go's decoder would report
 * it, then lets libsodium do the decoding. The walk is also what makes the
 * rules explicit: the variant's padding rule, no whitespace, and no stray
 * bits in the last character (libsodium's rule; Go's default decoder
 * tolerates them, its Strict mode does not). */
#include "api/b64.h"

#include <stdbool.h>
#include <string.h>

#include <sodium.h>

static int
sodium_variant (enum b64_variant v)
{
  switch (v)
    {
    case B64_STD:
      return sodium_base64_VARIANT_ORIGINAL;
    case B64_STD_NOPAD:
      return sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
    case B64_URL:
      return sodium_base64_VARIANT_URLSAFE;
    case B64_URL_NOPAD:
    default:
      return sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    }
}

static bool
padded (enum b64_variant v)
{
  return v == B64_STD || v == B64_URL;
}

/* The 6-bit value of c in the variant's alphabet, or -1. */
static int
digit_value (enum b64_variant v, char c)
{
  bool url = v == B64_URL || v == B64_URL_NOPAD;
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == (url ? '-' : '+'))
    return 62;
  if (c == (url ? '_' : '/'))
    return 63;
  return -1;
}

/* The last character of a short group carries bits that fall outside the
 * decoded bytes: 4 of them after 2 characters, 2 after 3. They must be 0. */
static bool
tail_bits_clear (enum b64_variant v, const char *in, size_t last, size_t group)
{
  int mask = group == 2 ? 0x0F : group == 3 ? 0x03 : 0;
  return (digit_value (v, in[last]) & mask) == 0;
}

/* Position of the first error (as Go reports it), or -1 if in is valid. */
static long
find_error (enum b64_variant v, const char *in, size_t n)
{
  size_t group = 0; /* characters seen in the current group of 4 */
  size_t last = 0;  /* index of the last alphabet character */
  size_t i;
  for (i = 0; i < n; i++)
    {
      if (digit_value (v, in[i]) >= 0)
        {
          last = i;
          group = (group + 1) % 4;
          continue;
        }
      if (in[i] != '=' || !padded (v) || group < 2)
        return (long) i;
      /* After two characters the group needs "==", after three "=". */
      if (group == 2)
        {
          if (i + 1 == n)
            return (long) n;
          if (in[i + 1] != '=')
            return (long) i;
          i++;
        }
      if (i + 1 < n)
        return (long) (i + 1); /* data after the padding */
      return tail_bits_clear (v, in, last, group) ? -1 : (long) last;
    }
  if (group == 0)
    return -1;
  if (padded (v))
    return (long) (n - group); /* the unfinished group lacks its padding */
  if (group == 1)
    return (long) (n - 1); /* one character cannot make a byte */
  return tail_bits_clear (v, in, last, group) ? -1 : (long) last;
}

void
b64_encode (enum b64_variant v, const void *in, size_t n, struct buf *out)
{
  int sv = sodium_variant (v);
  size_t cap = sodium_base64_ENCODED_LEN (n, sv); /* includes the NUL */
  buf_reserve (out, cap);
  sodium_bin2base64 (out->data + out->len, cap, n ? in : (const void *) "", n, sv);
  out->len += strlen (out->data + out->len);
}

int
b64_decode (enum b64_variant v, const char *in, size_t n, struct buf *out, struct nxerr *err)
{
  size_t cap = n / 4 * 3 + 3;
  size_t got = 0;
  long bad = find_error (v, in, n);
  if (bad >= 0)
    return nxerr_set (err, 0, "illegal base64 data at input byte %ld", bad);
  if (n == 0)
    return 0;
  buf_reserve (out, cap);
  if (sodium_base642bin ((unsigned char *) out->data + out->len, cap, in, n, NULL, &got, NULL,
                         sodium_variant (v))
      != 0)
    /* find_error accepted it, so this is a disagreement with libsodium. */
    return nxerr_set (err, 0, "illegal base64 data at input byte %zu", n);
  out->len += got;
  out->data[out->len] = '\0';
  return 0;
}
