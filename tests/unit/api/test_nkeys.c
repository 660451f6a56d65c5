/* Unit tests for api/nkeys: CRC16, base32, key text forms (reference
 * §8.1–8.2 and the keys of Appendix A), key pairs and signatures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/nkeys.h"

/* Appendix A keys. */
#define ISSUER_SEED "SAACFXIHHBJMPWCV4BVIYNSFVUGZIQPVKATH5YHDD2ZY5GS7KGRABEBZ7E"
#define ISSUER_RAW "22dd073852c7d855e06a8c3645ad0d9441f550267ee0e31eb38e9a5f51a20090"
#define ISSUER_PUB "AAD7JVSRVWVBTIBT5EG3BZEVHC4NT5ZDNVENGY7LNEAUVKORAYZXCJPH"
#define XKEY_SEED "SXAAIDDDZFRNRZPSQIVNL4LVATOMBIRXN7ECDOVJWGDDTS5CZGUWIKWEFU"
#define XKEY_RAW "040c63c962d8e5f2822ad5f17504dcc0a2376fc821baa9b18639cba2c9a9642a"
#define XKEY_PUB "XDQVNJYXAKD7NQWIIUVL25B34XU6PKNNJ4BQINJSGMN6ZCA5VGFUMHZC"
#define NODE_XKEY_SEED "SXAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H74KM"
#define NODE_XKEY_PUB "XCHUBRNNW2HSKYSK4WZBJ2TWPJXMSTMCTU6XWXQ22G5G6PRBHAUF76G7"
#define NODE_SEED "SNACAIJCEMSCKJRHFAUSUKZMFUXC6MBRGIZTINJWG44DSOR3HQ6T4P5DXI"
#define NODE_PUB "NAU2ZOXBIG6MV4FSFYNJJU2NBPDTMHSSNUF74EWIS6KLZEZCSZW5PVNH"
#define PUBLISHED_SEED "SUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4GY"
#define PUBLISHED_PUB "UAT6BWCSCWLUKJT6K6MBJJOEOTXZ5AJDOYKNEVRFC7VNO6OA43N4TRNO"

static void
hex_to_bytes (const char *hex, uint8_t *out, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      unsigned v;
      assert_int_equal (sscanf (hex + 2 * i, "%2x", &v), 1);
      out[i] = (uint8_t) v;
    }
}

static void
test_crc16_check_value (void **state)
{
  (void) state;
  assert_int_equal (nkey_crc16 ((const uint8_t *) "123456789", 9), 0x31C3);
  assert_int_equal (nkey_crc16 (NULL, 0), 0);
}

static void
test_base32_rfc4648 (void **state)
{
  /* RFC 4648 §10 vectors, without the padding. */
  static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
  static const char *const enc[] = { "", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI" };
  (void) state;
  for (size_t i = 0; i < 7; i++)
    {
      char out[32];
      uint8_t back[16];
      size_t n = strlen (plain[i]);
      assert_int_equal (nkey_base32_encode ((const uint8_t *) plain[i], n, out, sizeof out),
                        strlen (enc[i]));
      assert_string_equal (out, enc[i]);
      assert_int_equal (nkey_base32_decode (enc[i], strlen (enc[i]), back, sizeof back), (int) n);
      assert_memory_equal (back, plain[i], n);
    }
}

static void
test_base32_errors (void **state)
{
  uint8_t out[16];
  char small[4];
  (void) state;
  assert_int_equal (nkey_base32_decode ("MZXw6", 5, out, sizeof out), -1);   /* lower case */
  assert_int_equal (nkey_base32_decode ("MZX16", 5, out, sizeof out), -1);   /* '1' */
  assert_int_equal (nkey_base32_decode ("MZXQ====", 8, out, sizeof out), -1); /* padding */
  assert_int_equal (nkey_base32_decode ("M", 1, out, sizeof out), -1);       /* impossible lengths */
  assert_int_equal (nkey_base32_decode ("MZX", 3, out, sizeof out), -1);
  assert_int_equal (nkey_base32_decode ("MZXW6Y", 6, out, sizeof out), -1);
  assert_int_equal (nkey_base32_decode ("MZXW6YTBOI", 10, out, 5), -1);      /* out too small */
  /* CR and LF are skipped. */
  assert_int_equal (nkey_base32_decode ("MZ\r\nXQ\n", 7, out, sizeof out), 2);
  assert_memory_equal (out, "fo", 2);
  /* Encoding into a too small buffer writes nothing. */
  assert_int_equal (nkey_base32_encode ((const uint8_t *) "foo", 3, small, sizeof small), 0);
  assert_string_equal (small, "");
}

static void
check_seed_vector (const char *seed, uint8_t prefix, const uint8_t raw[32], const char *pub)
{
  struct nkey_pair kp;
  struct nxerr err;
  uint8_t got_raw[32], got_prefix = 0xEE, key[32];
  char text[NKEY_SEED_LEN + 1];

  assert_int_equal (nkey_decode_seed (seed, &got_prefix, got_raw, &err), 0);
  assert_int_equal (got_prefix, prefix);
  if (raw)
    assert_memory_equal (got_raw, raw, 32);

  nkey_encode_seed (prefix, got_raw, text);
  assert_string_equal (text, seed);

  assert_int_equal (nkey_pair_from_seed (seed, &kp, &err), 0);
  assert_int_equal (kp.prefix, prefix);
  assert_string_equal (kp.public_text, pub);
  nkey_pair_seed_text (&kp, text);
  assert_string_equal (text, seed);

  assert_int_equal (nkey_decode_public (pub, prefix, &got_prefix, key, &err), 0);
  assert_int_equal (got_prefix, prefix);
  assert_memory_equal (key, kp.pub, 32);
  assert_true (nkey_is_valid_public (pub, NKEY_ANY_PREFIX));
  nkey_pair_wipe (&kp);
}

static void
test_appendix_a_keys (void **state)
{
  uint8_t raw[32];
  (void) state;
  hex_to_bytes (ISSUER_RAW, raw, 32);
  check_seed_vector (ISSUER_SEED, NKEY_ACCOUNT, raw, ISSUER_PUB);
  hex_to_bytes (XKEY_RAW, raw, 32);
  check_seed_vector (XKEY_SEED, NKEY_CURVE, raw, XKEY_PUB);
  for (int i = 0; i < 32; i++)
    raw[i] = (uint8_t) i;
  check_seed_vector (NODE_XKEY_SEED, NKEY_CURVE, raw, NODE_XKEY_PUB);
  for (int i = 0; i < 32; i++)
    raw[i] = (uint8_t) (0x20 + i);
  check_seed_vector (NODE_SEED, NKEY_SERVER, raw, NODE_PUB);
}

static void
test_published_vector (void **state)
{
  (void) state;
  check_seed_vector (PUBLISHED_SEED, NKEY_USER, NULL, PUBLISHED_PUB);
}

static void
test_round_trip_every_prefix (void **state)
{
  static const struct
  {
    uint8_t prefix;
    char letter;
  } types[] = {
    { NKEY_ACCOUNT, 'A' }, { NKEY_CLUSTER, 'C' }, { NKEY_SERVER, 'N' },
    { NKEY_OPERATOR, 'O' }, { NKEY_USER, 'U' },   { NKEY_CURVE, 'X' },
  };
  (void) state;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    {
      struct nkey_pair kp, again;
      struct nxerr err;
      char seed[NKEY_SEED_LEN + 1];
      char pub[NKEY_PUBLIC_LEN + 1];
      uint8_t key[32], prefix;

      assert_int_equal (nkey_pair_generate (types[i].prefix, &kp, &err), 0);
      assert_int_equal (strlen (kp.public_text), NKEY_PUBLIC_LEN);
      assert_int_equal (kp.public_text[0], types[i].letter);
      nkey_encode_public (types[i].prefix, kp.pub, pub);
      assert_string_equal (pub, kp.public_text);

      assert_int_equal (nkey_decode_public (pub, NKEY_ANY_PREFIX, &prefix, key, &err), 0);
      assert_int_equal (prefix, types[i].prefix);
      assert_memory_equal (key, kp.pub, 32);
      assert_int_equal (nkey_decode_public (pub, types[i].prefix, NULL, key, &err), 0);

      nkey_pair_seed_text (&kp, seed);
      assert_int_equal (strlen (seed), NKEY_SEED_LEN);
      assert_int_equal (seed[0], 'S');
      assert_int_equal (seed[1], types[i].letter);
      assert_int_equal (nkey_pair_from_seed (seed, &again, &err), 0);
      assert_memory_equal (&again, &kp, sizeof kp);
      nkey_pair_wipe (&kp);
      nkey_pair_wipe (&again);
    }
}

static void
test_wipe (void **state)
{
  struct nkey_pair kp;
  struct nxerr err;
  static const struct nkey_pair zero;
  (void) state;
  assert_int_equal (nkey_pair_from_seed (ISSUER_SEED, &kp, &err), 0);
  nkey_pair_wipe (&kp);
  assert_memory_equal (&kp, &zero, sizeof kp);
  nkey_pair_wipe (NULL);
}

static void
test_trailing_whitespace (void **state)
{
  struct nkey_pair kp;
  struct nxerr err;
  uint8_t key[32];
  (void) state;
  assert_int_equal (nkey_pair_from_seed (ISSUER_SEED "\n", &kp, &err), 0);
  assert_string_equal (kp.public_text, ISSUER_PUB);
  assert_int_equal (nkey_pair_from_seed (ISSUER_SEED "\r\n", &kp, &err), 0);
  assert_int_equal (nkey_decode_public (ISSUER_PUB " \n", NKEY_ACCOUNT, NULL, key, &err), 0);
  nkey_pair_wipe (&kp);
}

static void
expect_public_error (const char *text, uint8_t expect, const char *msg)
{
  struct nxerr err;
  uint8_t key[32];
  nxerr_clear (&err);
  assert_int_equal (nkey_decode_public (text, expect, NULL, key, &err), -1);
  assert_string_equal (err.msg, msg);
  assert_false (nkey_is_valid_public (text, expect));
}

static void
expect_seed_error (const char *text, const char *msg)
{
  struct nxerr err;
  uint8_t raw[32];
  struct nkey_pair kp;
  nxerr_clear (&err);
  assert_int_equal (nkey_decode_seed (text, NULL, raw, &err), -1);
  assert_string_equal (err.msg, msg);
  nxerr_clear (&err);
  assert_int_equal (nkey_pair_from_seed (text, &kp, &err), -1);
  assert_string_equal (err.msg, msg);
}

static void
test_bad_crc (void **state)
{
  char t[NKEY_SEED_LEN + 1];
  (void) state;
  /* Change one character of the key part: the CRC no longer matches. */
  strcpy (t, ISSUER_PUB);
  t[10] = t[10] == 'A' ? 'B' : 'A';
  expect_public_error (t, NKEY_ANY_PREFIX, "nkeys: invalid checksum");
  strcpy (t, ISSUER_SEED);
  t[20] = t[20] == 'A' ? 'B' : 'A';
  expect_seed_error (t, "nkeys: invalid checksum");
}

/* Text of prefix ‖ n key bytes ‖ valid CRC, for length tests. */
static void
encode_raw (uint8_t b0, uint8_t b1, size_t key_len, char *out, size_t cap)
{
  uint8_t raw[64] = { 0 };
  size_t n = 0;
  uint16_t crc;
  raw[n++] = b0;
  if (b1 != 0xFF)
    raw[n++] = b1;
  n += key_len;
  crc = nkey_crc16 (raw, n);
  raw[n++] = (uint8_t) (crc & 0xFF);
  raw[n++] = (uint8_t) (crc >> 8);
  assert_true (nkey_base32_encode (raw, n, out, cap) > 0);
}

static void
test_bad_length (void **state)
{
  char t[128];
  (void) state;
  encode_raw (NKEY_ACCOUNT, 0xFF, 31, t, sizeof t);
  expect_public_error (t, NKEY_ANY_PREFIX, "nkeys: invalid public key");
  encode_raw (NKEY_ACCOUNT, 0xFF, 33, t, sizeof t);
  expect_public_error (t, NKEY_ACCOUNT, "nkeys: invalid public key");
  /* Seed header for an account, with 31 and 33 seed bytes. */
  encode_raw (NKEY_SEED, 0, 31, t, sizeof t);
  expect_seed_error (t, "nkeys: invalid seed length");
  encode_raw (NKEY_SEED, 0, 33, t, sizeof t);
  expect_seed_error (t, "nkeys: invalid seed length");
  expect_public_error ("", NKEY_ANY_PREFIX, "nkeys: invalid encoded key");
  expect_public_error ("AAAA", NKEY_ANY_PREFIX, "nkeys: invalid encoded key");
  expect_seed_error ("", "nkeys: invalid encoded key");
  /* A valid key with a character cut off or one too many. */
  memcpy (t, ISSUER_PUB, NKEY_PUBLIC_LEN - 1);
  t[NKEY_PUBLIC_LEN - 1] = '\0';
  expect_public_error (t, NKEY_ANY_PREFIX, "nkeys: invalid checksum");
  snprintf (t, sizeof t, "%sA", ISSUER_PUB);
  expect_public_error (t, NKEY_ANY_PREFIX, "nkeys: invalid encoded key");
}

static void
test_wrong_prefix (void **state)
{
  char t[128];
  uint8_t key[32];
  struct nkey_pair kp;
  struct nxerr err;
  (void) state;
  expect_public_error (ISSUER_PUB, NKEY_USER, "nkeys: invalid prefix byte");
  expect_public_error (XKEY_PUB, NKEY_ACCOUNT, "nkeys: invalid prefix byte");
  expect_public_error (ISSUER_PUB, NKEY_SEED, "nkeys: invalid prefix byte");
  /* A seed is not a public key, and a public key is not a seed. */
  expect_public_error (ISSUER_SEED, NKEY_ANY_PREFIX, "nkeys: invalid public key");
  expect_seed_error (ISSUER_PUB, "nkeys: invalid seed");
  /* Private-key prefix (P) is not public. */
  encode_raw (NKEY_PRIVATE, 0xFF, 32, t, sizeof t);
  assert_int_equal (t[0], 'P');
  expect_public_error (t, NKEY_ANY_PREFIX, "nkeys: invalid public key");
  /* A seed whose inner type is not a public type. */
  encode_raw (NKEY_SEED | (NKEY_PRIVATE >> 5), (NKEY_PRIVATE & 31) << 3, 32, t, sizeof t);
  expect_seed_error (t, "nkeys: invalid seed");
  /* Generation only for public types. */
  assert_int_equal (nkey_pair_generate (NKEY_SEED, &kp, &err), -1);
  assert_string_equal (err.msg, "nkeys: invalid prefix byte");
  assert_int_equal (nkey_decode_public (ISSUER_PUB, NKEY_ACCOUNT, NULL, key, &err), 0);
}

static void
test_bad_chars (void **state)
{
  char t[NKEY_SEED_LEN + 1];
  static const char bad[] = { 'a', '1', '8', '0', '=', ' ', '-', '\0' };
  (void) state;
  for (size_t i = 0; bad[i]; i++)
    {
      strcpy (t, ISSUER_PUB);
      t[5] = bad[i];
      expect_public_error (t, NKEY_ANY_PREFIX, "nkeys: invalid encoded key");
      strcpy (t, ISSUER_SEED);
      t[5] = bad[i];
      expect_seed_error (t, "nkeys: invalid encoded key");
    }
  expect_public_error (NULL, NKEY_ANY_PREFIX, "nkeys: invalid encoded key");
}

static void
test_sign_verify (void **state)
{
  struct nkey_pair kp, other;
  struct nxerr err;
  uint8_t sig[64];
  const char msg[] = "the quick brown fox";
  (void) state;
  assert_int_equal (nkey_pair_from_seed (ISSUER_SEED, &kp, &err), 0);
  assert_int_equal (nkey_sign (&kp, msg, sizeof msg - 1, sig, &err), 0);
  assert_int_equal (nkey_verify (ISSUER_PUB, msg, sizeof msg - 1, sig, &err), 0);

  /* Tampered message, tampered signature, another key. */
  assert_int_equal (nkey_verify (ISSUER_PUB, "the quick brown fix", sizeof msg - 1, sig, &err), -1);
  assert_string_equal (err.msg, "nkeys: signature verification failed");
  assert_int_equal (nkey_verify (ISSUER_PUB, msg, sizeof msg - 2, sig, &err), -1);
  sig[7] ^= 1;
  assert_int_equal (nkey_verify (ISSUER_PUB, msg, sizeof msg - 1, sig, &err), -1);
  sig[7] ^= 1;
  assert_int_equal (nkey_verify (NODE_PUB, msg, sizeof msg - 1, sig, &err), -1);
  assert_string_equal (err.msg, "nkeys: signature verification failed");
  assert_int_equal (nkey_verify ("garbage", msg, sizeof msg - 1, sig, &err), -1);
  assert_string_equal (err.msg, "nkeys: invalid encoded key");

  /* Every ed25519 type signs; curve keys do not. */
  assert_int_equal (nkey_pair_from_seed (NODE_SEED, &other, &err), 0);
  assert_int_equal (nkey_sign (&other, "", 0, sig, &err), 0);
  assert_int_equal (nkey_verify (NODE_PUB, "", 0, sig, &err), 0);
  assert_int_equal (nkey_pair_from_seed (XKEY_SEED, &other, &err), 0);
  assert_int_equal (nkey_sign (&other, msg, sizeof msg - 1, sig, &err), -1);
  assert_string_equal (err.msg, "nkeys: curve key is not valid for sign/verify");

  /* Go verifies with any public prefix, X included (it only reads the 32
   * bytes as an ed25519 key), so an issuer "X…" of an ed25519 key verifies. */
  {
    char as_x[NKEY_PUBLIC_LEN + 1];
    nkey_encode_public (NKEY_CURVE, kp.pub, as_x);
    assert_int_equal (nkey_sign (&kp, msg, sizeof msg - 1, sig, &err), 0);
    assert_int_equal (nkey_verify (as_x, msg, sizeof msg - 1, sig, &err), 0);
  }
  nkey_pair_wipe (&kp);
  nkey_pair_wipe (&other);
}

static void
test_sign_deterministic (void **state)
{
  /* Ed25519 is deterministic: the same key and message give the same bytes
   * (what makes the JWT vector of Appendix A reproducible). */
  struct nkey_pair kp;
  struct nxerr err;
  uint8_t a[64], b[64];
  (void) state;
  assert_int_equal (nkey_pair_from_seed (PUBLISHED_SEED, &kp, &err), 0);
  assert_int_equal (nkey_sign (&kp, "x", 1, a, &err), 0);
  assert_int_equal (nkey_sign (&kp, "x", 1, b, &err), 0);
  assert_memory_equal (a, b, 64);
  assert_int_equal (nkey_verify (PUBLISHED_PUB, "x", 1, a, &err), 0);
  nkey_pair_wipe (&kp);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_crc16_check_value),
    cmocka_unit_test (test_base32_rfc4648),
    cmocka_unit_test (test_base32_errors),
    cmocka_unit_test (test_appendix_a_keys),
    cmocka_unit_test (test_published_vector),
    cmocka_unit_test (test_round_trip_every_prefix),
    cmocka_unit_test (test_wipe),
    cmocka_unit_test (test_trailing_whitespace),
    cmocka_unit_test (test_bad_crc),
    cmocka_unit_test (test_bad_length),
    cmocka_unit_test (test_wrong_prefix),
    cmocka_unit_test (test_bad_chars),
    cmocka_unit_test (test_sign_verify),
    cmocka_unit_test (test_sign_deterministic),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
