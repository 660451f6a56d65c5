/* Unit tests for api/b64: the four variants, strict decoding and Go's
 * "illegal base64 data at input byte N" positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/b64.h"

static const enum b64_variant all_variants[] = { B64_STD, B64_STD_NOPAD, B64_URL, B64_URL_NOPAD };

static void
expect_encode (enum b64_variant v, const void *in, size_t n, const char *want)
{
  struct buf out = BUF_INIT;
  b64_encode (v, in, n, &out);
  assert_int_equal (out.len, strlen (want));
  assert_string_equal (out.data ? out.data : "", want);
  buf_free (&out);
}

static void
expect_decode (enum b64_variant v, const char *in, const void *want, size_t want_n)
{
  struct buf out = BUF_INIT;
  struct nxerr err;
  nxerr_clear (&err);
  assert_int_equal (b64_decode (v, in, strlen (in), &out, &err), 0);
  assert_string_equal (err.msg, "");
  assert_int_equal (out.len, want_n);
  if (want_n)
    assert_memory_equal (out.data, want, want_n);
  buf_free (&out);
}

static void
expect_error (enum b64_variant v, const char *in, size_t pos)
{
  struct buf out = BUF_INIT;
  struct nxerr err;
  char want[64];
  snprintf (want, sizeof want, "illegal base64 data at input byte %zu", pos);
  buf_puts (&out, "keep");
  assert_int_equal (b64_decode (v, in, strlen (in), &out, &err), -1);
  assert_string_equal (err.msg, want);
  assert_string_equal (out.data, "keep");
  buf_free (&out);
}

static void
test_encode_variants (void **state)
{
  static const uint8_t fbff[] = { 0xfb, 0xff };
  (void) state;
  expect_encode (B64_STD, fbff, 2, "+/8=");
  expect_encode (B64_STD_NOPAD, fbff, 2, "+/8");
  expect_encode (B64_URL, fbff, 2, "-_8=");
  expect_encode (B64_URL_NOPAD, fbff, 2, "-_8");
  expect_encode (B64_STD, "hello", 5, "aGVsbG8=");
  expect_encode (B64_STD, "f", 1, "Zg==");
  expect_encode (B64_STD_NOPAD, "f", 1, "Zg");
  expect_encode (B64_STD, "foo", 3, "Zm9v");
  /* Appendix A: the object-store meta token of "echoservice". */
  expect_encode (B64_URL, "echoservice", 11, "ZWNob3NlcnZpY2U=");
  /* The JWT header of §8.7. */
  expect_encode (B64_URL_NOPAD, "{\"typ\":\"JWT\",\"alg\":\"ed25519-nkey\"}", 34,
                 "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ");
  for (size_t i = 0; i < 4; i++)
    expect_encode (all_variants[i], NULL, 0, "");
}

static void
test_encode_appends (void **state)
{
  struct buf out = BUF_INIT;
  (void) state;
  buf_puts (&out, "x=");
  b64_encode (B64_STD, "hi", 2, &out);
  assert_string_equal (out.data, "x=aGk=");
  buf_free (&out);
}

static void
test_decode_variants (void **state)
{
  static const uint8_t fbff[] = { 0xfb, 0xff };
  (void) state;
  expect_decode (B64_STD, "+/8=", fbff, 2);
  expect_decode (B64_STD_NOPAD, "+/8", fbff, 2);
  expect_decode (B64_URL, "-_8=", fbff, 2);
  expect_decode (B64_URL_NOPAD, "-_8", fbff, 2);
  expect_decode (B64_STD, "aGVsbG8=", "hello", 5);
  expect_decode (B64_STD, "Zg==", "f", 1);
  expect_decode (B64_URL_NOPAD, "Zg", "f", 1);
  expect_decode (B64_STD, "Zm9v", "foo", 3);
  for (size_t i = 0; i < 4; i++)
    expect_decode (all_variants[i], "", NULL, 0);
}

static void
test_round_trip_all_lengths (void **state)
{
  uint8_t data[64];
  (void) state;
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (uint8_t) (i * 37 + 250);
  for (size_t v = 0; v < 4; v++)
    for (size_t n = 0; n <= sizeof data; n++)
      {
        struct buf enc = BUF_INIT, dec = BUF_INIT;
        struct nxerr err;
        b64_encode (all_variants[v], data, n, &enc);
        assert_int_equal (b64_decode (all_variants[v], enc.data, enc.len, &dec, &err), 0);
        assert_int_equal (dec.len, n);
        if (n)
          assert_memory_equal (dec.data, data, n);
        buf_free (&enc);
        buf_free (&dec);
      }
}

static void
test_decode_appends (void **state)
{
  struct buf out = BUF_INIT;
  struct nxerr err;
  (void) state;
  buf_puts (&out, "ab");
  assert_int_equal (b64_decode (B64_STD, "Y2Q=", 4, &out, &err), 0);
  assert_int_equal (out.len, 4);
  assert_string_equal (out.data, "abcd");
  buf_free (&out);
}

static void
test_wrong_alphabet (void **state)
{
  (void) state;
  expect_error (B64_URL, "+/8=", 0);
  expect_error (B64_URL_NOPAD, "ab/c", 2);
  expect_error (B64_STD, "-_8=", 0);
  expect_error (B64_STD_NOPAD, "ab_c", 2);
  expect_error (B64_STD, "aGVsbG8*", 7);
  expect_error (B64_STD, "aGVs\xc3\xa9", 4);
}

static void
test_no_whitespace (void **state)
{
  (void) state;
  expect_error (B64_STD, "aGVs bG8=", 4);
  expect_error (B64_STD, "aGVs\nbG8=", 4);
  expect_error (B64_STD, "aGVsbG8=\n", 8);
  expect_error (B64_URL_NOPAD, " Zg", 0);
  expect_error (B64_URL_NOPAD, "Zg\r", 2);
}

static void
test_padding_rules (void **state)
{
  (void) state;
  /* Padded variants require the padding; the unfinished group is named. */
  expect_error (B64_STD, "aGVsbG8", 4);
  expect_error (B64_STD, "Zg", 0);
  expect_error (B64_URL, "Zg=", 3);
  expect_error (B64_STD, "Z", 0);
  /* Unpadded variants refuse it. */
  expect_error (B64_STD_NOPAD, "aGVsbG8=", 7);
  expect_error (B64_URL_NOPAD, "Zg==", 2);
  /* Padding in the wrong place, wrong amount, or followed by data. */
  expect_error (B64_STD, "=", 0);
  expect_error (B64_STD, "Z===", 1);
  expect_error (B64_STD, "Zm9v=", 4);
  expect_error (B64_STD, "Zg=A", 2);
  expect_error (B64_STD, "Zg===", 4);
  expect_error (B64_STD, "Zm8==", 4);
  expect_error (B64_STD, "Zg==Zg==", 4);
  expect_error (B64_URL, "Zm8=x", 4);
  /* One character cannot make a byte. */
  expect_error (B64_STD_NOPAD, "Zm9vZ", 4);
  expect_error (B64_URL_NOPAD, "Z", 0);
}

static void
test_trailing_bits (void **state)
{
  (void) state;
  /* "Zh" / "Zm9" carry set bits beyond the decoded bytes: the canonical
   * forms are "Zg" and "Zm8". */
  expect_error (B64_STD, "Zh==", 1);
  expect_error (B64_STD_NOPAD, "Zh", 1);
  expect_error (B64_STD, "Zm9=", 2);
  expect_error (B64_URL_NOPAD, "Zm9", 2);
  expect_decode (B64_URL_NOPAD, "Zm8", "fo", 2);
}

static void
test_appendix_a_environment (void **state)
{
  static const char env[]
      = "eGt2MQABAgMEBQYHCAkKCwwNDg8QERITFBUWF696/2IfRnyV15BLw4UlmfGzi42yTskFtQO9FSCaHCsYwiaktpf2"
        "AdgsGfEvFi2HHH6LQhI=";
  struct buf out = BUF_INIT;
  struct nxerr err;
  (void) state;
  assert_int_equal (b64_decode (B64_STD, env, strlen (env), &out, &err), 0);
  assert_int_equal (out.len, 80);
  assert_memory_equal (out.data, "xkv1\x00\x01\x02\x03", 8);
  assert_int_equal ((uint8_t) out.data[79], 0x12);
  buf_free (&out);
  /* The same bytes in the unpadded or URL form are refused. */
  expect_error (B64_STD_NOPAD, env, strlen (env) - 1);
  expect_error (B64_URL, env, 40);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_encode_variants),
    cmocka_unit_test (test_encode_appends),
    cmocka_unit_test (test_decode_variants),
    cmocka_unit_test (test_round_trip_all_lengths),
    cmocka_unit_test (test_decode_appends),
    cmocka_unit_test (test_wrong_alphabet),
    cmocka_unit_test (test_no_whitespace),
    cmocka_unit_test (test_padding_rules),
    cmocka_unit_test (test_trailing_bits),
    cmocka_unit_test (test_appendix_a_environment),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
