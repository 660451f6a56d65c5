/* deploy_request_digest (api/deploy_request.h): what a bound deploy token
 * names. It must not depend on the token itself or on the retry fields, must
 * change with every field that decides what runs, and must be the same for a
 * request and its decode (both ends of the wire digest decoded values). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/deploy_request.h"

#define BASE                                                                                 \
  "\"type\":\"native\",\"location\":\"nats://B/k\",\"environment\":\"e\","                  \
  "\"sender_public_key\":\"X\",\"argv\":[\"a\"],\"trigger_subjects\":[],\"essential\":false"

static void
digest_of (const char *json, char hex[DEPLOY_DIGEST_HEX_LEN])
{
  struct deploy_request *r = NULL;
  struct nxerr err = { 0 };
  if (deploy_request_decode (json, strlen (json), &r, &err) < 0)
    fail_msg ("decode: %s\ninput: %s", err.msg, json);
  deploy_request_digest (r, hex);
  deploy_request_free (r);
}

static void
test_token_and_retries_do_not_count (void **state)
{
  char a[DEPLOY_DIGEST_HEX_LEN], b[DEPLOY_DIGEST_HEX_LEN];
  (void) state;
  digest_of ("{" BASE ",\"workload_jwt\":\"one\"}", a);
  digest_of ("{" BASE ",\"workload_jwt\":\"two\",\"retry_count\":3,"
             "\"retried_at\":\"2026-01-01T00:00:00Z\"}",
             b);
  assert_string_equal (a, b);
  assert_int_equal (strlen (a), 64);
}

static void
test_every_deciding_field_counts (void **state)
{
  static const char *const changed[] = {
    "{" BASE ",\"workload_jwt\":\"j\",\"argv\":[\"b\"]}",
    "{" BASE ",\"workload_jwt\":\"j\",\"environment\":\"f\"}",
    "{" BASE ",\"workload_jwt\":\"j\",\"location\":\"nats://B/other\"}",
    "{" BASE ",\"workload_jwt\":\"j\",\"location\":\"nats://C/k\"}",
    "{" BASE ",\"workload_jwt\":\"j\",\"sender_public_key\":\"Y\"}",
    "{" BASE ",\"workload_jwt\":\"j\",\"type\":\"function\",\"trigger_subjects\":[\"a.b\"]}",
    "{" BASE ",\"workload_jwt\":\"j\",\"essential\":true}",
    "{" BASE ",\"workload_jwt\":\"j\",\"jsdomain\":\"hub\"}",
    "{" BASE ",\"workload_jwt\":\"j\",\"target_node\":\"N2\"}",
    "{" BASE ",\"workload_jwt\":\"j\",\"resources\":{\"memory_mib\":64}}",
    "{" BASE ",\"workload_jwt\":\"j\",\"restart\":{\"policy\":\"always\"}}",
    "{" BASE ",\"workload_jwt\":\"j\",\"nats\":{\"publish\":[\"a.b\"]}}",
    "{" BASE ",\"workload_jwt\":\"j\",\"nats\":{\"subscribe\":[\"a.b\"]}}",
    NULL,
  };
  char base[DEPLOY_DIGEST_HEX_LEN], other[DEPLOY_DIGEST_HEX_LEN];
  (void) state;
  digest_of ("{" BASE ",\"workload_jwt\":\"j\"}", base);
  for (int i = 0; changed[i]; i++)
    {
      digest_of (changed[i], other);
      if (strcmp (base, other) == 0)
        fail_msg ("digest unchanged by %s", changed[i]);
    }
}

static void
test_same_after_a_round_trip (void **state)
{
  struct deploy_request *r = NULL, *back = NULL;
  struct nxerr err = { 0 };
  struct buf enc = BUF_INIT;
  char a[DEPLOY_DIGEST_HEX_LEN], b[DEPLOY_DIGEST_HEX_LEN];
  const char *json = "{" BASE ",\"workload_jwt\":\"j\",\"resources\":{\"vcpus\":0.25},"
                     "\"restart\":{\"policy\":\"on-failure\",\"max_restarts\":3},"
                     "\"nats\":{\"publish\":[\"p.>\"],\"subscribe\":[\"s.*\"]}}";
  (void) state;
  assert_int_equal (deploy_request_decode (json, strlen (json), &r, &err), 0);
  deploy_request_encode (r, &enc);
  assert_int_equal (deploy_request_decode (enc.data, enc.len, &back, &err), 0);
  deploy_request_digest (r, a);
  deploy_request_digest (back, b);
  assert_string_equal (a, b);
  deploy_request_free (r);
  deploy_request_free (back);
  buf_free (&enc);
}

/* Pinned vectors, the same in tests/dashboard/test_nex_lib.mjs: the page
 * (dashboard/lib/nex.js deployDigest) and the node must agree byte for
 * byte, Go's HTML-safe escapes and UTF-8 included. */
static void
test_vectors_shared_with_the_dashboard (void **state)
{
  char hex[DEPLOY_DIGEST_HEX_LEN];
  (void) state;
  digest_of ("{\"description\":\"\",\"type\":\"native\",\"location\":{\"Scheme\":\"nats\","
             "\"Opaque\":\"\",\"User\":null,\"Host\":\"NEXCLIFILES\",\"Path\":\"/ticker\","
             "\"RawPath\":\"\",\"OmitHost\":false,\"ForceQuery\":false,\"RawQuery\":\"\","
             "\"Fragment\":\"\",\"RawFragment\":\"\"},\"essential\":false,\"workload_jwt\":\"tok\","
             "\"environment\":\"ZW52\",\"jsdomain\":\"\",\"sender_public_key\":\"XSENDER\","
             "\"target_node\":\"NNODE\"}",
             hex);
  assert_string_equal (hex, "793693388cc4f22c30f847298eb40dfe0ccaaaf5327c48addc279ae2df934f90");
  digest_of ("{\"argv\":[\"a<b\",\"x&y\"],\"description\":\"d\\u00e9 <x>\",\"type\":\"native\","
             "\"location\":\"nats://B/k\",\"essential\":true,\"workload_jwt\":\"tok\","
             "\"environment\":\"ZW52\",\"sender_public_key\":\"XSENDER\",\"target_node\":\"NNODE\"}",
             hex);
  assert_string_equal (hex, "6339aadbb0c7d104d65060a5394ae7dc0c14eacf98d96b0101e1f7e3062eee6c");
  /* The workload's own NATS permissions (the "nats" extension). */
  digest_of ("{\"description\":\"\",\"type\":\"native\",\"location\":\"nats://NEXCLIFILES/ticker\","
             "\"essential\":false,\"workload_jwt\":\"tok\",\"environment\":\"ZW52\","
             "\"sender_public_key\":\"XSENDER\",\"target_node\":\"NNODE\","
             "\"nats\":{\"publish\":[\"probe.out\",\"a.<b>\"],\"subscribe\":[\"in.*\"]}}",
             hex);
  assert_string_equal (hex, "2bb383eb670efa02973b181cf20f1564868815ba95c09b570b579f0a41e9f4a9");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_token_and_retries_do_not_count),
    cmocka_unit_test (test_every_deciding_field_counts),
    cmocka_unit_test (test_same_after_a_round_trip),
    cmocka_unit_test (test_vectors_shared_with_the_dashboard),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
