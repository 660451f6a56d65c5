/* Unit tests for api/jwt: the Appendix A token byte for byte, the jti
 * vector, and each decode failure of reference §8.7 with its text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/b64.h"
#include "api/jwt.h"
#include "api/xalloc.h"

#define ISSUER_SEED "SAACFXIHHBJMPWCV4BVIYNSFVUGZIQPVKATH5YHDD2ZY5GS7KGRABEBZ7E"
#define ISSUER_PUB "AAD7JVSRVWVBTIBT5EG3BZEVHC4NT5ZDNVENGY7LNEAUVKORAYZXCJPH"
#define NODE_PUB "NAU2ZOXBIG6MV4FSFYNJJU2NBPDTMHSSNUF74EWIS6KLZEZCSZW5PVNH"
#define XKEY_SEED "SXAAIDDDZFRNRZPSQIVNL4LVATOMBIRXN7ECDOVJWGDDTS5CZGUWIKWEFU"

#define VECTOR_JTI "RHLGSSUEFD5YLZ2TNZO2U4WDNSU25SL5AMT3EEK6SNWAJPP6NIHQ"
#define VECTOR_HASH "abc12345TODOmakethisreal"
#define VECTOR_TOKEN                                                                               \
  "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ."                                                \
  "eyJqdGkiOiJSSExHU1NVRUZENVlMWjJUTlpPMlU0V0ROU1UyNVNMNUFNVDNFRUs2U05XQUpQUDZOSUhRIiwiaWF0Ijox"  \
  "NzE0MDAwMDAwLCJpc3MiOiJBQUQ3SlZTUlZXVkJUSUJUNUVHM0JaRVZIQzROVDVaRE5WRU5HWTdMTkVBVVZLT1JBWVpY"  \
  "Q0pQSCIsInN1YiI6ImVjaG9zZXJ2aWNlIiwibmF0cyI6eyJoYXNoIjoiYWJjMTIzNDVUT0RPbWFrZXRoaXNyZWFsIiwi"  \
  "dmVyc2lvbiI6Mn19."                                                                              \
  "MFbh3QNT0_FIct3bn1YD6m_9znYPqBM_rJdh6TNCgrMANTCnK4h1tbE0UF9LWQK5oXIOX4NZ_0uScxYs2GzDAQ"
#define VECTOR_PAYLOAD                                                                             \
  "{\"jti\":\"" VECTOR_JTI "\",\"iat\":1714000000,\"iss\":\"" ISSUER_PUB                           \
  "\",\"sub\":\"echoservice\",\"nats\":{\"hash\":\"" VECTOR_HASH "\",\"version\":2}}"
#define HEADER "{\"typ\":\"JWT\",\"alg\":\"ed25519-nkey\"}"

static struct nkey_pair issuer;

static int
setup (void **state)
{
  struct nxerr err;
  (void) state;
  return nkey_pair_from_seed (ISSUER_SEED, &issuer, &err);
}

static int
teardown (void **state)
{
  (void) state;
  nkey_pair_wipe (&issuer);
  return 0;
}

/* Build a token from raw header and payload JSON. v1 signs the payload part
 * only (legacy); kp NULL puts 64 zero bytes as signature. */
static char *
make_token (const char *header, const char *payload, const struct nkey_pair *kp, bool v1)
{
  struct buf t = BUF_INIT;
  struct nxerr err;
  uint8_t sig[64] = { 0 };
  size_t payload_start;
  b64_encode (B64_URL_NOPAD, header, strlen (header), &t);
  buf_putc (&t, '.');
  payload_start = t.len;
  b64_encode (B64_URL_NOPAD, payload, strlen (payload), &t);
  if (kp && v1)
    assert_int_equal (nkey_sign (kp, t.data + payload_start, t.len - payload_start, sig, &err), 0);
  else if (kp)
    assert_int_equal (nkey_sign (kp, t.data, t.len, sig, &err), 0);
  buf_putc (&t, '.');
  b64_encode (B64_URL_NOPAD, sig, sizeof sig, &t);
  return buf_steal (&t, NULL);
}

static void
expect_decode_error (const char *token, const char *msg)
{
  struct jwt_claims c;
  struct nxerr err;
  nxerr_clear (&err);
  assert_int_equal (jwt_decode (token, &c, &err), -1);
  assert_string_equal (err.msg, msg);
  /* Nothing is left to free after a failure. */
  assert_null (c.sub);
  assert_null (c.iss);
  assert_null (c.hash);
}

static void
expect_payload_error (const char *payload, const char *msg)
{
  char *t = make_token (HEADER, payload, &issuer, false);
  expect_decode_error (t, msg);
  free (t);
}

/* For parser messages, whose wording is jansson's: only our prefix is ours. */
static void
expect_payload_prefix (const char *payload, const char *prefix)
{
  char *t = make_token (HEADER, payload, &issuer, false);
  struct jwt_claims c;
  struct nxerr err;
  assert_int_equal (jwt_decode (t, &c, &err), -1);
  assert_memory_equal (err.msg, prefix, strlen (prefix));
  free (t);
}

static void
expect_header_error (const char *header, const char *msg)
{
  char *t = make_token (header, VECTOR_PAYLOAD, &issuer, false);
  expect_decode_error (t, msg);
  free (t);
}

static void
test_encode_vector (void **state)
{
  struct jwt_claims c = { 0 };
  struct buf out = BUF_INIT;
  struct nxerr err;
  struct buf sig = BUF_INIT;
  const char *last_dot;
  (void) state;
  c.sub = xstrdup ("echoservice");
  c.iat = 1714000000;
  c.hash = xstrdup (VECTOR_HASH);
  assert_int_equal (jwt_encode (&c, &issuer, &out, &err), 0);
  assert_string_equal (out.data, VECTOR_TOKEN);
  assert_string_equal (c.iss, ISSUER_PUB);
  assert_string_equal (c.jti, VECTOR_JTI);
  assert_int_equal (c.version, 2);
  last_dot = strrchr (out.data, '.');
  assert_int_equal (b64_decode (B64_URL_NOPAD, last_dot + 1, strlen (last_dot + 1), &sig, &err), 0);
  assert_memory_equal (c.sig, sig.data, 64);
  buf_free (&sig);
  buf_free (&out);
  jwt_claims_free (&c);
}

static void
test_encode_payload_bytes (void **state)
{
  struct jwt_claims c = { 0 };
  struct buf out = BUF_INIT, payload = BUF_INIT;
  struct nxerr err;
  char *d1, *d2;
  (void) state;
  c.sub = xstrdup ("echoservice");
  c.iat = 1714000000;
  c.hash = xstrdup (VECTOR_HASH);
  buf_puts (&out, "prefix:"); /* the token is appended */
  assert_int_equal (jwt_encode (&c, &issuer, &out, &err), 0);
  assert_memory_equal (out.data, "prefix:", 7);
  d1 = strchr (out.data, '.');
  d2 = strchr (d1 + 1, '.');
  assert_int_equal (b64_decode (B64_URL_NOPAD, d1 + 1, (size_t) (d2 - d1 - 1), &payload, &err), 0);
  assert_string_equal (payload.data, VECTOR_PAYLOAD);
  buf_free (&out);
  buf_free (&payload);
  jwt_claims_free (&c);
}

/* Our purpose and bind claims ride in nats (Go's free-form map, sorted keys)
 * and come back from a decode; a token without them decodes with NULL. */
static void
test_purpose_and_bind (void **state)
{
  struct jwt_claims c = { 0 }, back = { 0 };
  struct buf out = BUF_INIT, payload = BUF_INIT;
  struct nxerr err;
  char *d1, *d2;
  (void) state;
  c.sub = xstrdup ("echoservice");
  c.iat = 1714000000;
  c.hash = xstrdup (VECTOR_HASH);
  c.purpose = xstrdup ("stop");
  c.bind = xstrdup ("dcar64thd90t99mfli70");
  assert_int_equal (jwt_encode (&c, &issuer, &out, &err), 0);
  d1 = strchr (out.data, '.');
  d2 = strchr (d1 + 1, '.');
  assert_int_equal (b64_decode (B64_URL_NOPAD, d1 + 1, (size_t) (d2 - d1 - 1), &payload, &err), 0);
  assert_non_null (strstr (payload.data, "\"nats\":{\"hash\":\"" VECTOR_HASH "\","
                                         "\"nexc_bind\":\"dcar64thd90t99mfli70\","
                                         "\"nexc_purpose\":\"stop\",\"version\":2}"));
  assert_int_equal (jwt_decode (out.data, &back, &err), 0);
  assert_string_equal (back.purpose, "stop");
  assert_string_equal (back.bind, "dcar64thd90t99mfli70");
  jwt_claims_free (&back);
  buf_free (&out);
  jwt_claims_free (&c);
  c.sub = xstrdup ("echoservice");
  assert_int_equal (jwt_encode (&c, &issuer, &out, &err), 0);
  assert_int_equal (jwt_decode (out.data, &back, &err), 0);
  assert_null (back.purpose);
  assert_null (back.bind);
  jwt_claims_free (&back);
  jwt_claims_free (&c);
  buf_free (&out);
  buf_free (&payload);
}

static void
test_jti_vector (void **state)
{
  struct jwt_claims c = { 0 };
  char jti[53];
  (void) state;
  c.iat = 1714000000;
  c.iss = ISSUER_PUB;
  c.sub = "echoservice";
  c.hash = "ignored: nats is not part of the jti";
  c.jti = "ignored too";
  jwt_compute_jti (&c, jti);
  assert_int_equal (strlen (jti), 52);
  assert_string_equal (jti, VECTOR_JTI);
  /* Any standard claim changes it. */
  c.name = "x";
  jwt_compute_jti (&c, jti);
  assert_string_not_equal (jti, VECTOR_JTI);
}

static void
test_decode_vector (void **state)
{
  struct jwt_claims c;
  struct nxerr err;
  uint8_t zero[64] = { 0 };
  (void) state;
  assert_int_equal (jwt_decode (VECTOR_TOKEN, &c, &err), 0);
  assert_string_equal (c.sub, "echoservice");
  assert_string_equal (c.iss, ISSUER_PUB);
  assert_string_equal (c.jti, VECTOR_JTI);
  assert_string_equal (c.hash, VECTOR_HASH);
  assert_int_equal (c.iat, 1714000000);
  assert_int_equal (c.version, 2);
  assert_null (c.aud);
  assert_null (c.name);
  assert_int_equal (c.exp, 0);
  assert_int_equal (c.nbf, 0);
  assert_memory_not_equal (c.sig, zero, 64);
  assert_true (jwt_time_valid (&c, 1714000000));
  jwt_claims_free (&c);
  assert_null (c.sub);
  jwt_claims_free (&c); /* harmless twice */
  jwt_claims_free (NULL);
}

static void
test_round_trip_all_claims (void **state)
{
  struct jwt_claims c = { 0 }, d;
  struct buf out = BUF_INIT;
  struct nxerr err;
  (void) state;
  c.aud = xstrdup ("<nodes & more>");
  c.exp = 1800000000;
  c.name = xstrdup ("stop \"it\"");
  c.nbf = 1700000000;
  c.sub = xstrdup ("echoservice");
  assert_int_equal (jwt_encode (&c, &issuer, &out, &err), 0);
  assert_true (c.iat > 1700000000); /* iat 0 becomes now */
  assert_int_equal (jwt_decode (out.data, &d, &err), 0);
  assert_string_equal (d.aud, c.aud);
  assert_int_equal (d.exp, c.exp);
  assert_string_equal (d.jti, c.jti);
  assert_int_equal (d.iat, c.iat);
  assert_string_equal (d.iss, ISSUER_PUB);
  assert_string_equal (d.name, c.name);
  assert_int_equal (d.nbf, c.nbf);
  assert_string_equal (d.sub, c.sub);
  assert_null (d.hash); /* absent hash stays absent: nats is {"version":2} */
  assert_int_equal (d.version, 2);
  assert_memory_equal (d.sig, c.sig, 64);
  jwt_claims_free (&d);
  jwt_claims_free (&c);
  buf_free (&out);
}

static void
test_empty_hash_is_kept (void **state)
{
  struct jwt_claims c = { 0 }, d;
  struct buf out = BUF_INIT;
  struct nxerr err;
  (void) state;
  c.sub = xstrdup ("test");
  c.hash = xstrdup ("");
  c.iat = 5;
  assert_int_equal (jwt_encode (&c, &issuer, &out, &err), 0);
  assert_int_equal (jwt_decode (out.data, &d, &err), 0);
  assert_non_null (d.hash);
  assert_string_equal (d.hash, "");
  assert_int_equal (d.iat, 5);
  jwt_claims_free (&d);
  jwt_claims_free (&c);
  buf_free (&out);
}

static void
test_encode_errors (void **state)
{
  struct jwt_claims c = { 0 };
  struct nkey_pair xkp;
  struct buf out = BUF_INIT;
  struct nxerr err;
  (void) state;
  assert_int_equal (jwt_encode (&c, &issuer, &out, &err), -1);
  assert_string_equal (err.msg, "subject is not set");
  c.sub = xstrdup ("");
  assert_int_equal (jwt_encode (&c, &issuer, &out, &err), -1);
  assert_string_equal (err.msg, "subject is not set");
  free (c.sub);
  c.sub = xstrdup ("x");
  assert_int_equal (nkey_pair_from_seed (XKEY_SEED, &xkp, &err), 0);
  assert_int_equal (jwt_encode (&c, &xkp, &out, &err), -1);
  assert_string_equal (err.msg, "nkeys: curve key is not valid for sign/verify");
  /* A claim too large for the decoder is refused by the encoder too. */
  c.name = xmalloc (JWT_MAX_LEN);
  memset (c.name, 'n', JWT_MAX_LEN - 1);
  c.name[JWT_MAX_LEN - 1] = '\0';
  assert_int_equal (jwt_encode (&c, &issuer, &out, &err), -1);
  assert_non_null (strstr (err.msg, "larger than 16384 bytes"));
  assert_int_equal (out.len, 0);
  nkey_pair_wipe (&xkp);
  jwt_claims_free (&c);
  buf_free (&out);
}

/* Replace the payload of the vector token, keeping header and signature. */
static char *
swap_payload (const char *payload)
{
  struct buf t = BUF_INIT;
  const char *d1 = strchr (VECTOR_TOKEN, '.');
  const char *d2 = strchr (d1 + 1, '.');
  buf_append (&t, VECTOR_TOKEN, (size_t) (d1 - VECTOR_TOKEN + 1));
  b64_encode (B64_URL_NOPAD, payload, strlen (payload), &t);
  buf_puts (&t, d2);
  return buf_steal (&t, NULL);
}

static void
test_tampered_payload (void **state)
{
  char *t;
  (void) state;
  t = swap_payload ("{\"jti\":\"" VECTOR_JTI "\",\"iat\":1714000000,\"iss\":\"" ISSUER_PUB
                    "\",\"sub\":\"echoservicf\",\"nats\":{\"hash\":\"" VECTOR_HASH
                    "\",\"version\":2}}");
  expect_decode_error (t, "claim failed V2 signature verification");
  free (t);
  /* Same bytes re-encoded are accepted (control for the helper). */
  t = swap_payload (VECTOR_PAYLOAD);
  assert_string_equal (t, VECTOR_TOKEN);
  free (t);
}

static void
test_wrong_key (void **state)
{
  char *t;
  (void) state;
  /* Another valid issuer key: the signature does not match it. */
  t = swap_payload ("{\"jti\":\"" VECTOR_JTI "\",\"iat\":1714000000,\"iss\":\"" NODE_PUB
                    "\",\"sub\":\"echoservice\",\"nats\":{\"hash\":\"" VECTOR_HASH
                    "\",\"version\":2}}");
  expect_decode_error (t, "claim failed V2 signature verification");
  free (t);
  /* No issuer, or one that is not a key: the same failure, as in Go. */
  t = make_token (HEADER, "{\"sub\":\"x\"}", &issuer, false);
  expect_decode_error (t, "claim failed V2 signature verification");
  free (t);
  t = make_token (HEADER, "{\"sub\":\"x\",\"iss\":\"bogus\"}", &issuer, false);
  expect_decode_error (t, "claim failed V2 signature verification");
  free (t);
  /* Wrong signature length: the vector's signature cut to 63 bytes. */
  {
    struct buf b = BUF_INIT;
    const char *d2 = strrchr (VECTOR_TOKEN, '.');
    struct buf sig = BUF_INIT;
    struct nxerr err;
    assert_int_equal (b64_decode (B64_URL_NOPAD, d2 + 1, strlen (d2 + 1), &sig, &err), 0);
    buf_append (&b, VECTOR_TOKEN, (size_t) (d2 - VECTOR_TOKEN + 1));
    b64_encode (B64_URL_NOPAD, sig.data, 63, &b);
    expect_decode_error (b.data, "claim failed V2 signature verification");
    buf_free (&b);
    buf_free (&sig);
  }
  /* Zero signature. */
  t = make_token (HEADER, VECTOR_PAYLOAD, NULL, false);
  expect_decode_error (t, "claim failed V2 signature verification");
  free (t);
}

static void
test_time_valid (void **state)
{
  struct jwt_claims c = { 0 };
  (void) state;
  assert_true (jwt_time_valid (&c, 0));
  assert_true (jwt_time_valid (&c, 4000000000));
  c.exp = 100;
  assert_true (jwt_time_valid (&c, 99));
  assert_true (jwt_time_valid (&c, 100)); /* expired only when now > exp */
  assert_false (jwt_time_valid (&c, 101));
  c.exp = 0;
  c.nbf = 200;
  assert_false (jwt_time_valid (&c, 199));
  assert_true (jwt_time_valid (&c, 200));
  c.exp = 300;
  assert_true (jwt_time_valid (&c, 250));
  assert_false (jwt_time_valid (&c, 301));
  c.exp = -5; /* non-positive values are "not set" */
  c.nbf = -5;
  assert_true (jwt_time_valid (&c, 1000));
}

static void
test_expired_token_decodes (void **state)
{
  /* jwt_decode leaves time rules to the caller (deploy checks, stop not). */
  char *t = make_token (HEADER, "{\"exp\":10,\"nbf\":5,\"iss\":\"" ISSUER_PUB "\",\"sub\":\"x\"}",
                        &issuer, false);
  struct jwt_claims c;
  struct nxerr err;
  (void) state;
  assert_int_equal (jwt_decode (t, &c, &err), 0);
  assert_int_equal (c.exp, 10);
  assert_int_equal (c.nbf, 5);
  assert_false (jwt_time_valid (&c, 11));
  assert_false (jwt_time_valid (&c, 4));
  assert_true (jwt_time_valid (&c, 7));
  jwt_claims_free (&c);
  free (t);
}

static void
test_bad_header (void **state)
{
  char *t;
  struct jwt_claims c;
  struct nxerr err;
  (void) state;
  expect_header_error ("{\"typ\":\"JOSE\",\"alg\":\"ed25519-nkey\"}", "not supported type \"JOSE\"");
  expect_header_error ("{\"alg\":\"ed25519-nkey\"}", "not supported type \"\"");
  expect_header_error ("null", "not supported type \"\"");
  expect_header_error ("{\"typ\":\"a\\\"b\\n\",\"alg\":\"x\"}", "not supported type \"a\\\"b\\n\"");
  expect_header_error ("{\"typ\":\"JWT\",\"alg\":\"HS256\"}", "unexpected \"HS256\" algorithm");
  expect_header_error ("{\"typ\":\"JWT\",\"alg\":\"ed25519-nkeyx\"}",
                       "unexpected \"ed25519-nkeyx\" algorithm");
  expect_header_error ("{\"typ\":\"JWT\"}", "unexpected \"\" algorithm");
  expect_header_error ("{\"typ\":1,\"alg\":\"ed25519-nkey\"}",
                       "json: cannot unmarshal number into Go struct field Header.typ of type string");
  expect_header_error ("[]", "json: cannot unmarshal array into Go value of type jwt.Header");
  expect_header_error ("", "unexpected end of JSON input");
  /* typ and alg compare without case; unknown header keys are ignored. */
  t = make_token ("{\"typ\":\"jwt\",\"alg\":\"ED25519-NKEY\",\"kid\":1}", VECTOR_PAYLOAD, &issuer,
                  false);
  assert_int_equal (jwt_decode (t, &c, &err), 0);
  jwt_claims_free (&c);
  free (t);
  /* "ED25519" is accepted but, not being exactly "ed25519", signs as V2. */
  t = make_token ("{\"typ\":\"JWT\",\"alg\":\"ED25519\"}", VECTOR_PAYLOAD, &issuer, false);
  assert_int_equal (jwt_decode (t, &c, &err), 0);
  jwt_claims_free (&c);
  free (t);
}

static void
test_legacy_v1 (void **state)
{
  static const char v1_header[] = "{\"typ\":\"JWT\",\"alg\":\"ed25519\"}";
  struct jwt_claims c;
  struct nxerr err;
  char *t;
  (void) state;
  t = make_token (v1_header, VECTOR_PAYLOAD, &issuer, true);
  assert_int_equal (jwt_decode (t, &c, &err), 0);
  assert_string_equal (c.sub, "echoservice");
  assert_string_equal (c.iss, ISSUER_PUB);
  jwt_claims_free (&c);
  free (t);
  /* A V1 header with a V2 signature, and the other way round. */
  t = make_token (v1_header, VECTOR_PAYLOAD, &issuer, false);
  expect_decode_error (t, "claim failed V1 signature verification");
  free (t);
  t = make_token (HEADER, VECTOR_PAYLOAD, &issuer, true);
  expect_decode_error (t, "claim failed V2 signature verification");
  free (t);
  /* Legacy top-level fields are accepted when well typed. */
  t = make_token (v1_header,
                  "{\"iss\":\"" ISSUER_PUB "\",\"sub\":\"a\",\"type\":\"generic\",\"version\":1,"
                  "\"tags\":[\"x\",\"y\"]}",
                  &issuer, true);
  assert_int_equal (jwt_decode (t, &c, &err), 0);
  assert_int_equal (c.version, 0);
  jwt_claims_free (&c);
  free (t);
}

static void
test_chunks (void **state)
{
  (void) state;
  expect_decode_error ("", "expected 3 chunks");
  expect_decode_error (NULL, "expected 3 chunks");
  expect_decode_error ("abc", "expected 3 chunks");
  expect_decode_error ("a.b", "expected 3 chunks");
  expect_decode_error ("a.b.c.d", "expected 3 chunks");
  expect_decode_error (VECTOR_TOKEN ".", "expected 3 chunks");
  expect_decode_error ("..", "unexpected end of JSON input");
}

static void
test_garbage_base64 (void **state)
{
  char *t;
  (void) state;
  expect_decode_error ("!!!.x.y", "illegal base64 data at input byte 0");
  /* Padding is not allowed in any part. */
  expect_decode_error ("eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ==.x.y",
                       "illegal base64 data at input byte 46");
  t = xstrdup (VECTOR_TOKEN);
  strchr (t, '.')[5] = '+'; /* standard alphabet in the payload */
  expect_decode_error (t, "illegal base64 data at input byte 4");
  free (t);
  t = xstrdup (VECTOR_TOKEN);
  strrchr (t, '.')[2] = '/'; /* and in the signature */
  expect_decode_error (t, "illegal base64 data at input byte 1");
  free (t);
}

static void
test_oversize (void **state)
{
  char *t = xmalloc (JWT_MAX_LEN + 2);
  struct jwt_claims c;
  struct nxerr err;
  (void) state;
  memset (t, 'a', JWT_MAX_LEN + 1);
  t[JWT_MAX_LEN + 1] = '\0';
  assert_int_equal (jwt_decode (t, &c, &err), -1);
  assert_string_equal (err.msg, "token is larger than 16384 bytes");
  /* At the limit it is decoded (and fails for what it is). */
  t[JWT_MAX_LEN] = '\0';
  assert_int_equal (jwt_decode (t, &c, &err), -1);
  assert_string_equal (err.msg, "expected 3 chunks");
  free (t);
}

static void
test_payload_not_object (void **state)
{
  (void) state;
  expect_payload_error ("[1]", "json: cannot unmarshal array into Go value of type jwt.GenericClaims");
  expect_payload_error ("\"x\"", "json: cannot unmarshal string into Go value of type jwt.GenericClaims");
  expect_payload_error ("null", "json: cannot unmarshal null into Go value of type jwt.GenericClaims");
  expect_payload_error ("", "unexpected end of JSON input");
  expect_payload_prefix ("{", "invalid JSON at byte 1: ");
  expect_payload_prefix ("{} x", "invalid JSON at byte 4: ");
  expect_payload_prefix ("{\"sub\":\"a\\u0000b\"}", "invalid JSON at byte "); /* NUL in a string */
}

static void
test_wrong_typed_claim (void **state)
{
  (void) state;
  expect_payload_error ("{\"sub\":123}",
                        "json: cannot unmarshal number into Go struct field GenericClaims.sub of type "
                        "string");
  expect_payload_error ("{\"iss\":true}",
                        "json: cannot unmarshal bool into Go struct field GenericClaims.iss of type "
                        "string");
  expect_payload_error ("{\"iat\":\"1714000000\"}",
                        "json: cannot unmarshal string into Go struct field GenericClaims.iat of type "
                        "int64");
  expect_payload_error ("{\"exp\":1.5}",
                        "json: cannot unmarshal number into Go struct field GenericClaims.exp of type "
                        "int64");
  expect_payload_error ("{\"nbf\":{}}",
                        "json: cannot unmarshal object into Go struct field GenericClaims.nbf of type "
                        "int64");
  expect_payload_error ("{\"aud\":[]}",
                        "json: cannot unmarshal array into Go struct field GenericClaims.aud of type "
                        "string");
  expect_payload_error ("{\"nats\":\"x\"}",
                        "json: cannot unmarshal string into Go struct field GenericClaims.nats of type "
                        "map[string]interface {}");
  expect_payload_error ("{\"nats\":{\"hash\":1}}",
                        "json: cannot unmarshal number into Go struct field GenericClaims.nats.hash of "
                        "type string");
  expect_payload_error ("{\"tags\":\"x\"}",
                        "json: cannot unmarshal string into Go struct field GenericFields.tags of type "
                        "jwt.TagList");
  expect_payload_error ("{\"version\":\"2\"}",
                        "json: cannot unmarshal string into Go struct field GenericFields.version of "
                        "type int64");
}

static void
test_nulls_and_unknown_keys (void **state)
{
  struct jwt_claims c;
  struct nxerr err;
  char *t;
  (void) state;
  /* null means absent; unknown keys are ignored; the last duplicate wins. */
  t = make_token (HEADER,
                  "{\"aud\":null,\"exp\":null,\"iss\":\"" ISSUER_PUB
                  "\",\"sub\":\"a\",\"sub\":\"b\",\"extra\":{\"x\":[1,2]},\"nats\":{\"hash\":null,"
                  "\"other\":true,\"version\":2}}",
                  &issuer, false);
  assert_int_equal (jwt_decode (t, &c, &err), 0);
  assert_null (c.aud);
  assert_int_equal (c.exp, 0);
  assert_string_equal (c.sub, "b");
  assert_null (c.hash);
  assert_int_equal (c.version, 2);
  jwt_claims_free (&c);
  free (t);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_encode_vector),
    cmocka_unit_test (test_encode_payload_bytes),
    cmocka_unit_test (test_jti_vector),
    cmocka_unit_test (test_purpose_and_bind),
    cmocka_unit_test (test_decode_vector),
    cmocka_unit_test (test_round_trip_all_claims),
    cmocka_unit_test (test_empty_hash_is_kept),
    cmocka_unit_test (test_encode_errors),
    cmocka_unit_test (test_tampered_payload),
    cmocka_unit_test (test_wrong_key),
    cmocka_unit_test (test_time_valid),
    cmocka_unit_test (test_expired_token_decodes),
    cmocka_unit_test (test_bad_header),
    cmocka_unit_test (test_legacy_v1),
    cmocka_unit_test (test_chunks),
    cmocka_unit_test (test_garbage_base64),
    cmocka_unit_test (test_oversize),
    cmocka_unit_test (test_payload_not_object),
    cmocka_unit_test (test_wrong_typed_claim),
    cmocka_unit_test (test_nulls_and_unknown_keys),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
