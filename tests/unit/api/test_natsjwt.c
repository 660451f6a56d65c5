/* Unit tests for api/natsjwt: a user JWT decodes back with its claims, its
 * signature verifies against iss, its jti is the hash of its standard
 * claims, and its nats claim carries the permissions, limits, issuer
 * account, type and version nats-server reads; the .creds text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/b64.h"
#include "api/jwt.h"
#include "api/natsjwt.h"

/* The payload of a token, as JSON. */
static json_t *
payload_of (const char *token)
{
  const char *d1 = strchr (token, '.'), *d2 = d1 ? strchr (d1 + 1, '.') : NULL;
  struct buf raw = BUF_INIT;
  struct nxerr err = { 0 };
  json_t *j;
  assert_non_null (d2);
  assert_int_equal (b64_decode (B64_URL_NOPAD, d1 + 1, (size_t) (d2 - d1 - 1), &raw, &err), 0);
  j = json_loadb (raw.data, raw.len, 0, NULL);
  buf_free (&raw);
  assert_non_null (j);
  return j;
}

static void
assert_list (json_t *l, const char *const *want)
{
  size_t i = 0;
  assert_true (json_is_array (l));
  for (; want[i]; i++)
    assert_string_equal (json_string_value (json_array_get (l, i)), want[i]);
  assert_int_equal (json_array_size (l), i);
}

static void
test_user_claims_round_trip (void **state)
{
  struct nkey_pair account, signing, user;
  struct nxerr err = { 0 };
  struct buf tok = BUF_INIT;
  struct jwt_claims c;
  char jti[53];
  static const char *const pub_allow[] = { "probe.out", "_INBOX_x.>", NULL };
  static const char *const deny[] = { "$NEX.>", "$SYS.>", NULL };
  static const char *const sub_allow[] = { "_INBOX_x.>", NULL };
  (void) state;
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &account, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &signing, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_USER, &user, &err), 0);
  struct natsjwt_user u = { .user_public = user.public_text,
                            .name = "probe/abc",
                            .issuer_account = account.public_text,
                            .exp = 4102444800,
                            .pub = { .allow = pub_allow, .deny = deny },
                            .sub = { .allow = sub_allow, .deny = deny },
                            .resp_max = 1,
                            .resp_ttl_ms = 60000 };
  assert_int_equal (natsjwt_user_encode (&u, &signing, &tok, &err), 0);

  assert_int_equal (jwt_decode (tok.data, &c, &err), 0); /* the signature verifies against iss */
  assert_string_equal (c.iss, signing.public_text);
  assert_string_equal (c.sub, user.public_text);
  assert_string_equal (c.name, "probe/abc");
  assert_int_equal (c.exp, 4102444800);
  assert_true (c.iat > 0);
  assert_int_equal (c.version, 2);
  jwt_compute_jti (&c, jti);
  assert_string_equal (c.jti, jti);
  jwt_claims_free (&c);

  json_t *p = payload_of (tok.data), *nats = json_object_get (p, "nats");
  assert_list (json_object_get (json_object_get (nats, "pub"), "allow"), pub_allow);
  assert_list (json_object_get (json_object_get (nats, "pub"), "deny"), deny);
  assert_list (json_object_get (json_object_get (nats, "sub"), "allow"), sub_allow);
  assert_int_equal (json_integer_value (json_object_get (json_object_get (nats, "resp"), "max")), 1);
  assert_int_equal (json_integer_value (json_object_get (json_object_get (nats, "resp"), "ttl")),
                    60000000000LL);
  /* Unlimited, not the 0 an absent limit means to the server. */
  assert_int_equal (json_integer_value (json_object_get (nats, "subs")), -1);
  assert_int_equal (json_integer_value (json_object_get (nats, "payload")), -1);
  assert_string_equal (json_string_value (json_object_get (nats, "issuer_account")),
                       account.public_text);
  assert_string_equal (json_string_value (json_object_get (nats, "type")), "user");
  assert_int_equal (json_integer_value (json_object_get (nats, "version")), 2);
  json_decref (p);

  /* A tampered payload no longer verifies. */
  char *bad = strdup (tok.data);
  char *dot = strchr (bad, '.');
  dot[5] = dot[5] == 'A' ? 'B' : 'A';
  assert_int_equal (jwt_decode (bad, &c, &err), -1);
  free (bad);
  buf_free (&tok);
  nkey_pair_wipe (&account);
  nkey_pair_wipe (&signing);
  nkey_pair_wipe (&user);
}

static void
test_signed_by_the_account_itself (void **state)
{
  struct nkey_pair account, user, op;
  struct nxerr err = { 0 };
  struct buf tok = BUF_INIT;
  (void) state;
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &account, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_USER, &user, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_OPERATOR, &op, &err), 0);
  struct natsjwt_user u = { .user_public = user.public_text, .name = "n" };
  assert_int_equal (natsjwt_user_encode (&u, &account, &tok, &err), 0);
  json_t *p = payload_of (tok.data), *nats = json_object_get (p, "nats");
  assert_null (json_object_get (nats, "issuer_account"));
  assert_null (json_object_get (nats, "resp"));
  /* No rule is written as no list, never as an empty one. */
  assert_null (json_object_get (json_object_get (nats, "pub"), "allow"));
  json_decref (p);
  buf_free (&tok);
  /* Only an account key signs users; the subject must be a user key. */
  assert_int_equal (natsjwt_user_encode (&u, &op, &tok, &err), -1);
  u.user_public = account.public_text;
  assert_int_equal (natsjwt_user_encode (&u, &account, &tok, &err), -1);
  buf_free (&tok);
  nkey_pair_wipe (&account);
  nkey_pair_wipe (&user);
  nkey_pair_wipe (&op);
}

static void
test_creds_text (void **state)
{
  struct buf b = BUF_INIT;
  (void) state;
  natsjwt_creds_text ("eyJ.a.b", "SUXYZ", &b);
  assert_non_null (strstr (b.data, "-----BEGIN NATS USER JWT-----\neyJ.a.b\n------END NATS USER JWT------"));
  assert_non_null (strstr (b.data, "-----BEGIN USER NKEY SEED-----\nSUXYZ\n------END USER NKEY SEED------"));
  buf_free (&b);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_user_claims_round_trip),
    cmocka_unit_test (test_signed_by_the_account_itself),
    cmocka_unit_test (test_creds_text),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
