/* Unit tests for api/xkey: the xkv1 seal vector of Appendix A and the Go
 * error texts of Open (reference §8.3, §2.2 step 6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/b64.h"
#include "api/xkey.h"

#define XKEY_SEED "SXAAIDDDZFRNRZPSQIVNL4LVATOMBIRXN7ECDOVJWGDDTS5CZGUWIKWEFU"
#define XKEY_PUB "XDQVNJYXAKD7NQWIIUVL25B34XU6PKNNJ4BQINJSGMN6ZCA5VGFUMHZC"
#define NODE_XKEY_SEED "SXAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H74KM"
#define NODE_XKEY_PUB "XCHUBRNNW2HSKYSK4WZBJ2TWPJXMSTMCTU6XWXQ22G5G6PRBHAUF76G7"
#define ISSUER_SEED "SAACFXIHHBJMPWCV4BVIYNSFVUGZIQPVKATH5YHDD2ZY5GS7KGRABEBZ7E"
#define ISSUER_PUB "AAD7JVSRVWVBTIBT5EG3BZEVHC4NT5ZDNVENGY7LNEAUVKORAYZXCJPH"

#define PLAINTEXT "{\"NATS_URL\":\"nats://127.0.0.1:4222\"}"
#define SEALED_HEX                                                                                 \
  "786b7631"                                                                                       \
  "000102030405060708090a0b0c0d0e0f1011121314151617"                                               \
  "af7aff621f467c95d7904bc3852599f1"                                                               \
  "b38b8db24ec905b503bd15209a1c2b18c226a4b697f601d82c19f12f162d871c7e8b4212"
#define SEALED_B64                                                                                 \
  "eGt2MQABAgMEBQYHCAkKCwwNDg8QERITFBUWF696/2IfRnyV15BLw4UlmfGzi42yTskFtQO9FSCaHCsYwiaktpf2Adgs" \
  "GfEvFi2HHH6LQhI="

struct keys {
  struct nkey_pair sender; /* samplexkey */
  struct nkey_pair node;   /* curve raw 0x00..0x1F */
  uint8_t sealed[80];
};

static int
setup (void **state)
{
  static struct keys k;
  static const char hex[] = SEALED_HEX;
  struct nxerr err;
  if (nkey_pair_from_seed (XKEY_SEED, &k.sender, &err) < 0
      || nkey_pair_from_seed (NODE_XKEY_SEED, &k.node, &err) < 0)
    return -1;
  for (size_t i = 0; i < sizeof k.sealed; i++)
    {
      unsigned v;
      if (sscanf (hex + 2 * i, "%2x", &v) != 1)
        return -1;
      k.sealed[i] = (uint8_t) v;
    }
  *state = &k;
  return 0;
}

static int
teardown (void **state)
{
  struct keys *k = *state;
  nkey_pair_wipe (&k->sender);
  nkey_pair_wipe (&k->node);
  return 0;
}

static void
fixed_nonce (uint8_t nonce[24])
{
  for (int i = 0; i < 24; i++)
    nonce[i] = (uint8_t) i;
}

static void
test_seal_vector (void **state)
{
  struct keys *k = *state;
  struct buf out = BUF_INIT, b64 = BUF_INIT;
  struct nxerr err;
  uint8_t nonce[24];
  fixed_nonce (nonce);
  assert_string_equal (k->sender.public_text, XKEY_PUB);
  assert_string_equal (k->node.public_text, NODE_XKEY_PUB);
  assert_int_equal (xkey_seal (&k->sender, NODE_XKEY_PUB, PLAINTEXT, strlen (PLAINTEXT), nonce, &out,
                               &err),
                    0);
  assert_int_equal (out.len, sizeof k->sealed);
  assert_int_equal (out.len, strlen (PLAINTEXT) + XKEY_OVERHEAD);
  assert_memory_equal (out.data, k->sealed, sizeof k->sealed);
  /* The deploy request's environment field. */
  b64_encode (B64_STD, out.data, out.len, &b64);
  assert_string_equal (b64.data, SEALED_B64);
  buf_free (&out);
  buf_free (&b64);
}

static void
test_seal_appends (void **state)
{
  struct keys *k = *state;
  struct buf out = BUF_INIT;
  struct nxerr err;
  uint8_t nonce[24];
  fixed_nonce (nonce);
  buf_puts (&out, "prefix");
  assert_int_equal (xkey_seal (&k->sender, NODE_XKEY_PUB, PLAINTEXT, strlen (PLAINTEXT), nonce, &out,
                               &err),
                    0);
  assert_int_equal (out.len, 6 + sizeof k->sealed);
  assert_memory_equal (out.data, "prefix", 6);
  assert_memory_equal (out.data + 6, k->sealed, sizeof k->sealed);
  buf_free (&out);
}

static void
test_open_vector (void **state)
{
  struct keys *k = *state;
  struct buf out = BUF_INIT;
  struct nxerr err;
  assert_int_equal (xkey_open (&k->node, XKEY_PUB, k->sealed, sizeof k->sealed, &out, &err), 0);
  assert_int_equal (out.len, strlen (PLAINTEXT));
  assert_string_equal (out.data, PLAINTEXT);
  buf_free (&out);
}

static void
test_random_nonce_round_trip (void **state)
{
  struct keys *k = *state;
  struct buf a = BUF_INIT, b = BUF_INIT, pt = BUF_INIT;
  struct nxerr err;
  assert_int_equal (xkey_seal (&k->node, XKEY_PUB, "secret", 6, NULL, &a, &err), 0);
  assert_int_equal (xkey_seal (&k->node, XKEY_PUB, "secret", 6, NULL, &b, &err), 0);
  assert_int_equal (a.len, 6 + XKEY_OVERHEAD);
  assert_memory_not_equal (a.data + 4, b.data + 4, 24); /* fresh nonces */
  /* The box is symmetric in the key pairs: either side opens it. */
  assert_int_equal (xkey_open (&k->sender, NODE_XKEY_PUB, a.data, a.len, &pt, &err), 0);
  assert_string_equal (pt.data, "secret");
  /* Empty plaintext: 44 bytes, which opens to nothing. */
  buf_reset (&a);
  buf_reset (&pt);
  assert_int_equal (xkey_seal (&k->node, XKEY_PUB, "", 0, NULL, &a, &err), 0);
  assert_int_equal (a.len, XKEY_OVERHEAD);
  assert_int_equal (xkey_open (&k->sender, NODE_XKEY_PUB, a.data, a.len, &pt, &err), 0);
  assert_int_equal (pt.len, 0);
  buf_free (&a);
  buf_free (&b);
  buf_free (&pt);
}

static void
expect_open_error (const struct nkey_pair *self, const char *sender, const void *in, size_t n,
                   const char *msg)
{
  struct buf out = BUF_INIT;
  struct nxerr err;
  buf_puts (&out, "keep");
  nxerr_clear (&err);
  assert_int_equal (xkey_open (self, sender, in, n, &out, &err), -1);
  assert_string_equal (err.msg, msg);
  assert_string_equal (out.data, "keep"); /* nothing appended on failure */
  buf_free (&out);
}

static void
test_open_short_input (void **state)
{
  struct keys *k = *state;
  /* 28 bytes or fewer: not valid, even before the version is looked at. */
  expect_open_error (&k->node, XKEY_PUB, k->sealed, 28, "nkeys: encrypted input is not valid");
  expect_open_error (&k->node, XKEY_PUB, "xkv1", 4, "nkeys: encrypted input is not valid");
  expect_open_error (&k->node, XKEY_PUB, "", 0, "nkeys: encrypted input is not valid");
  /* 29..43 bytes pass the length check but hold no whole tag. */
  expect_open_error (&k->node, XKEY_PUB, k->sealed, 29, "nkeys: could not decrypt input");
  expect_open_error (&k->node, XKEY_PUB, k->sealed, 43, "nkeys: could not decrypt input");
}

static void
test_open_wrong_version (void **state)
{
  struct keys *k = *state;
  uint8_t in[80];
  memcpy (in, k->sealed, sizeof in);
  in[3] = '2';
  expect_open_error (&k->node, XKEY_PUB, in, sizeof in, "nkeys: encrypted input wrong version");
  /* The version is checked before the sender key. */
  expect_open_error (&k->node, "bogus", in, sizeof in, "nkeys: encrypted input wrong version");
}

static void
test_open_bad_sender (void **state)
{
  struct keys *k = *state;
  char t[NKEY_PUBLIC_LEN + 1];
  const char *msg = "nkeys: not a valid sender public curve key";
  expect_open_error (&k->node, "bogus", k->sealed, sizeof k->sealed, msg);
  expect_open_error (&k->node, "", k->sealed, sizeof k->sealed, msg);
  expect_open_error (&k->node, NULL, k->sealed, sizeof k->sealed, msg);
  expect_open_error (&k->node, ISSUER_PUB, k->sealed, sizeof k->sealed, msg); /* not an X key */
  expect_open_error (&k->node, XKEY_SEED, k->sealed, sizeof k->sealed, msg);
  strcpy (t, XKEY_PUB);
  t[9] = t[9] == 'A' ? 'B' : 'A'; /* bad CRC */
  expect_open_error (&k->node, t, k->sealed, sizeof k->sealed, msg);
}

static void
test_open_wrong_key_or_tampered (void **state)
{
  struct keys *k = *state;
  struct nkey_pair stranger;
  struct nxerr err;
  uint8_t in[80];
  const char *msg = "nkeys: could not decrypt input";

  /* Another recipient, or the right one with the wrong sender. */
  assert_int_equal (nkey_pair_generate (NKEY_CURVE, &stranger, &err), 0);
  expect_open_error (&stranger, XKEY_PUB, k->sealed, sizeof k->sealed, msg);
  expect_open_error (&k->node, stranger.public_text, k->sealed, sizeof k->sealed, msg);
  expect_open_error (&k->node, NODE_XKEY_PUB, k->sealed, sizeof k->sealed, msg);

  /* Any flipped byte in nonce, tag or ciphertext, or a cut-off end. */
  for (size_t i = 4; i < sizeof in; i++)
    {
      memcpy (in, k->sealed, sizeof in);
      in[i] ^= 0x40;
      expect_open_error (&k->node, XKEY_PUB, in, sizeof in, msg);
    }
  expect_open_error (&k->node, XKEY_PUB, k->sealed, sizeof k->sealed - 1, msg);
  nkey_pair_wipe (&stranger);
}

static void
test_non_curve_self_and_bad_recipient (void **state)
{
  struct keys *k = *state;
  struct nkey_pair issuer;
  struct buf out = BUF_INIT;
  struct nxerr err;
  (void) k;
  assert_int_equal (nkey_pair_from_seed (ISSUER_SEED, &issuer, &err), 0);
  assert_int_equal (xkey_seal (&issuer, NODE_XKEY_PUB, "x", 1, NULL, &out, &err), -1);
  assert_string_equal (err.msg, "nkeys: only curve key can seal/open");
  assert_int_equal (xkey_open (&issuer, XKEY_PUB, k->sealed, sizeof k->sealed, &out, &err), -1);
  assert_string_equal (err.msg, "nkeys: only curve key can seal/open");

  assert_int_equal (xkey_seal (&k->sender, ISSUER_PUB, "x", 1, NULL, &out, &err), -1);
  assert_string_equal (err.msg, "nkeys: not a valid recipient public curve key");
  assert_int_equal (xkey_seal (&k->sender, "XNOPE", "x", 1, NULL, &out, &err), -1);
  assert_string_equal (err.msg, "nkeys: not a valid recipient public curve key");
  assert_int_equal (out.len, 0);
  nkey_pair_wipe (&issuer);
  buf_free (&out);
}

/* Through a cache of shared keys: the same plaintext and the same refusals,
 * with more senders than slots (evicted keys are derived again) and with
 * two recipients sharing one cache (a key is never used for the wrong one). */
static void
test_open_cached (void **state)
{
  struct keys *k = *state;
  struct xkey_cache c;
  struct nkey_pair senders[XKEY_CACHE_SLOTS + 3], stranger;
  struct buf sealed = BUF_INIT, out = BUF_INIT;
  struct nxerr err;
  memset (&c, 0, sizeof c);
  assert_int_equal (nkey_pair_generate (NKEY_CURVE, &stranger, &err), 0);
  for (int round = 0; round < 3; round++)
    {
      assert_int_equal (xkey_open_cached (&c, &k->node, XKEY_PUB, k->sealed, sizeof k->sealed,
                                          &out, &err),
                        0);
      assert_string_equal (out.data, PLAINTEXT);
      buf_reset (&out);
      /* The vector's sender, opened by another recipient through the same cache. */
      assert_int_equal (xkey_open_cached (&c, &stranger, XKEY_PUB, k->sealed, sizeof k->sealed,
                                          &out, &err),
                        -1);
      assert_string_equal (err.msg, "nkeys: could not decrypt input");
      buf_reset (&out);
    }
  for (size_t i = 0; i < sizeof senders / sizeof senders[0]; i++)
    assert_int_equal (nkey_pair_generate (NKEY_CURVE, &senders[i], &err), 0);
  for (int round = 0; round < 2; round++)
    for (size_t i = 0; i < sizeof senders / sizeof senders[0]; i++)
      {
        char pt[32];
        snprintf (pt, sizeof pt, "sender %zu round %d", i, round);
        buf_reset (&sealed);
        assert_int_equal (xkey_seal (&senders[i], NODE_XKEY_PUB, pt, strlen (pt), NULL, &sealed,
                                     &err),
                          0);
        assert_int_equal (xkey_open_cached (&c, &k->node, senders[i].public_text, sealed.data,
                                            sealed.len, &out, &err),
                          0);
        assert_string_equal (out.data, pt);
        buf_reset (&out);
        /* Named as sent by its neighbour: refused, cached key or not. */
        assert_int_equal (
            xkey_open_cached (&c, &k->node,
                              senders[(i + 1) % (sizeof senders / sizeof senders[0])].public_text,
                              sealed.data, sealed.len, &out, &err),
            -1);
        assert_string_equal (err.msg, "nkeys: could not decrypt input");
        buf_reset (&out);
      }
  assert_int_equal (xkey_open_cached (&c, &k->node, ISSUER_PUB, k->sealed, sizeof k->sealed, &out,
                                      &err),
                    -1);
  assert_string_equal (err.msg, "nkeys: not a valid sender public curve key");
  xkey_cache_wipe (&c);
  for (size_t i = 0; i < sizeof c; i++)
    assert_int_equal (((const uint8_t *) &c)[i], 0);
  for (size_t i = 0; i < sizeof senders / sizeof senders[0]; i++)
    nkey_pair_wipe (&senders[i]);
  nkey_pair_wipe (&stranger);
  buf_free (&sealed);
  buf_free (&out);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_seal_vector),
    cmocka_unit_test (test_seal_appends),
    cmocka_unit_test (test_open_vector),
    cmocka_unit_test (test_random_nonce_round_trip),
    cmocka_unit_test (test_open_short_input),
    cmocka_unit_test (test_open_wrong_version),
    cmocka_unit_test (test_open_bad_sender),
    cmocka_unit_test (test_open_wrong_key_or_tampered),
    cmocka_unit_test (test_non_curve_self_and_bad_recipient),
    cmocka_unit_test (test_open_cached),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
