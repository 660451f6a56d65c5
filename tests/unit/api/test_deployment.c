/* The deployment spec: strict decoding, the canonical encoding and its
 * template, the signature bound to the spec, the claim values. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "api/deployment.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ART "\"artifact\":{\"location\":\"nats://NEXCLIFILES/web\",\"sha256\":\"" SHA "\"}"
#define BASE "\"name\":\"web\",\"namespace\":\"default\"," ART

static struct deployment_spec *
decode (const char *json)
{
  struct deployment_spec *s = NULL;
  struct nxerr err = { 0 };
  if (deployment_spec_decode (json, strlen (json), &s, &err) < 0)
    fail_msg ("decode %s: %s", json, err.msg);
  return s;
}

static void
decode_fails (const char *json, const char *want)
{
  struct deployment_spec *s = NULL;
  struct nxerr err = { 0 };
  assert_int_equal (deployment_spec_decode (json, strlen (json), &s, &err), -1);
  assert_null (s);
  if (strstr (err.msg, want) == NULL)
    fail_msg ("expected \"%s\" in \"%s\"", want, err.msg);
}

static void
test_defaults (void **state)
{
  struct deployment_spec *s = decode ("{" BASE "}");
  (void) state;
  assert_int_equal (s->replicas, 1);
  assert_string_equal (s->type, "service");
  assert_string_equal (s->spread, "node");
  assert_int_equal (s->max_unavailable, 1);
  assert_null (s->environment);
  deployment_spec_free (s);
}

static void
test_full (void **state)
{
  struct deployment_spec *s
      = decode ("{" BASE ",\"replicas\":3,\"argv\":[\"-v\"],\"resources\":{\"memory_mib\":64,"
                "\"vcpus_milli\":500,\"pids\":64},\"restart\":{\"policy\":\"always\"},"
                "\"placement\":{\"tags\":{\"zone\":\"z1\"},\"spread\":\"zone\"},"
                "\"update\":{\"max_unavailable\":2}}");
  (void) state;
  assert_int_equal (s->replicas, 3);
  assert_int_equal (s->argc, 1);
  assert_int_equal (s->resources.memory_mib, 64);
  assert_int_equal (s->resources.vcpus_milli, 500);
  assert_int_equal (s->restart.policy, DEPLOY_RESTART_ALWAYS);
  assert_int_equal (s->n_tags, 1);
  assert_string_equal (s->tag_vals[0], "z1");
  assert_string_equal (s->spread, "zone");
  assert_int_equal (s->max_unavailable, 2);
  deployment_spec_free (s);
}

static void
test_refused (void **state)
{
  (void) state;
  decode_fails ("[]", "must be an object");
  decode_fails ("{" BASE ",\"replica\":3}", "replica: unknown key");
  decode_fails ("{" BASE ",\"replicas\":65}", "replicas: must be an integer in [0, 64]");
  decode_fails ("{" BASE ",\"replicas\":-1}", "replicas");
  decode_fails ("{" BASE ",\"replicas\":\"3\"}", "replicas");
  decode_fails ("{\"name\":\"web\",\"namespace\":\"default\"}", "required");
  decode_fails ("{\"name\":\"we.b\",\"namespace\":\"default\"," ART "}", "[A-Za-z0-9_-]");
  decode_fails ("{\"name\":\"web\",\"namespace\":\"default\",\"artifact\":{\"file\":\"./x\"}}",
                "uploaded by nexc apply");
  decode_fails ("{\"name\":\"web\",\"namespace\":\"default\",\"artifact\":{\"location\":"
                "\"nats://B/k\",\"sha256\":\"ABC\"}}",
                "64 lowercase hex");
  decode_fails ("{\"name\":\"web\",\"namespace\":\"default\",\"artifact\":{\"location\":"
                "\"http://x/k\",\"sha256\":\"" SHA "\"}}",
                "nats://bucket/key");
  decode_fails ("{" BASE ",\"env\":{\"A\":\"b\"}}", "sealed by nexc apply");
  decode_fails ("{" BASE ",\"environment\":\"eA==\"}", "go together");
  decode_fails ("{" BASE ",\"type\":\"function\"}", "triggers");
  decode_fails ("{" BASE ",\"type\":\"vm\"}", "service or function");
  decode_fails ("{" BASE ",\"update\":{\"max_unavailable\":0}}", "max_unavailable");
  decode_fails ("{" BASE ",\"placement\":{\"spread\":\"\"}}", "placement.spread");
  decode_fails ("{" BASE ",\"name\":\"a\",\"name\":\"b\"}", "invalid JSON");
}

static void
test_template_ignores_scale_and_placement (void **state)
{
  struct deployment_spec *a = decode ("{" BASE ",\"replicas\":1}");
  struct deployment_spec *b
      = decode ("{" BASE ",\"replicas\":5,\"placement\":{\"spread\":\"none\"}}");
  struct deployment_spec *c = decode ("{" BASE ",\"argv\":[\"x\"]}");
  char ta[DEPLOYMENT_TEMPLATE_LEN + 1], tb[DEPLOYMENT_TEMPLATE_LEN + 1],
      tc[DEPLOYMENT_TEMPLATE_LEN + 1], da[65], db[65];
  (void) state;
  deployment_template (a, ta);
  deployment_template (b, tb);
  deployment_template (c, tc);
  deployment_digest (a, da);
  deployment_digest (b, db);
  assert_string_equal (ta, tb);
  assert_string_not_equal (ta, tc);
  assert_string_not_equal (da, db);
  deployment_spec_free (a);
  deployment_spec_free (b);
  deployment_spec_free (c);
}

static void
test_sign_open (void **state)
{
  struct nkey_pair issuer;
  struct nxerr err = { 0 };
  struct deployment_spec *s = decode ("{" BASE ",\"replicas\":2}"), *back = NULL;
  struct buf v = BUF_INIT;
  char iss[NKEY_PUBLIC_LEN + 1];
  (void) state;
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &issuer, &err), 0);
  assert_int_equal (deployment_sign (s, &issuer, &v, &err), 0);
  assert_int_equal (deployment_open (v.data, v.len, "default.web", &back, iss, &err), 0);
  assert_string_equal (iss, issuer.public_text);
  assert_int_equal (back->replicas, 2);
  deployment_spec_free (back);
  /* Under another key: refused. */
  assert_int_equal (deployment_open (v.data, v.len, "default.other", &back, iss, &err), -1);
  assert_non_null (strstr (err.msg, "another deployment"));
  /* The spec changed after signing (more replicas): the binding breaks. */
  {
    char *p = strstr (v.data, "\"replicas\":2");
    assert_non_null (p);
    p[11] = '9';
    assert_int_equal (deployment_open (v.data, v.len, "default.web", &back, iss, &err), -1);
    assert_non_null (strstr (err.msg, "bound to another spec"));
  }
  /* Not the envelope. */
  assert_int_equal (deployment_open ("{\"spec\":{}}", 11, "default.web", &back, iss, &err), -1);
  buf_free (&v);
  deployment_spec_free (s);
  nkey_pair_wipe (&issuer);
}

static void
test_claim_round_trip (void **state)
{
  struct deployment_claim c, d;
  struct nxerr err = { 0 };
  struct buf b = BUF_INIT;
  char dep[100];
  uint32_t slot;
  (void) state;
  memset (&c, 0, sizeof c);
  snprintf (c.node, sizeof c.node, "NODE1");
  c.expires_ms = 1234;
  snprintf (c.template, sizeof c.template, "0123456789abcdef");
  c.running = true;
  deployment_claim_encode (&c, &b);
  assert_int_equal (deployment_claim_decode (b.data, b.len, &d, &err), 0);
  assert_string_equal (d.node, "NODE1");
  assert_int_equal (d.expires_ms, 1234);
  assert_true (d.running);
  assert_false (d.failed);
  deployment_claim_free (&d);
  assert_int_equal (deployment_claim_decode ("{\"node\":1}", 10, &d, &err), -1);
  assert_true (deployment_slot_key_parse ("slot.default.web.2", dep, sizeof dep, &slot));
  assert_string_equal (dep, "default.web");
  assert_int_equal (slot, 2);
  assert_false (deployment_slot_key_parse ("node.X", dep, sizeof dep, &slot));
  assert_false (deployment_slot_key_parse ("slot.default.web.64", dep, sizeof dep, &slot));
  assert_false (deployment_slot_key_parse ("slot.default.web.x", dep, sizeof dep, &slot));
  buf_free (&b);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_defaults),  cmocka_unit_test (test_full),
    cmocka_unit_test (test_refused),   cmocka_unit_test (test_template_ignores_scale_and_placement),
    cmocka_unit_test (test_sign_open), cmocka_unit_test (test_claim_round_trip),
  };
  return cmocka_run_group_tests_name ("deployment", tests, NULL, NULL);
}
