/* Unit tests for the "resources" extension of the DEPLOY request
 * (api/deploy_request.c): decoding with Go's conventions (keys matched
 * case-insensitively, null = absent), the bounds that hold on every node,
 * unknown keys refused, fractional vcpus, and the encoding round trip; and
 * the "logs" extension ({"on_full": "block" | "drop_oldest"}, as strict). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/deploy_request.h"

#define BASE                                                                                    \
  "\"type\":\"native\",\"location\":\"nats://B/k\",\"workload_jwt\":\"j\",\"environment\":\"e\"," \
  "\"sender_public_key\":\"X\""

static struct deploy_request *
decode_ok (const char *json)
{
  struct deploy_request *r = NULL;
  struct nxerr err = { 0 };
  if (deploy_request_decode (json, strlen (json), &r, &err) < 0)
    fail_msg ("decode failed: %s\ninput: %s", err.msg, json);
  return r;
}

static void
decode_fails (const char *json, int code, const char *want)
{
  struct deploy_request *r = NULL;
  struct nxerr err = { 0 };
  assert_int_equal (deploy_request_decode (json, strlen (json), &r, &err), -1);
  assert_null (r);
  assert_int_equal (err.code, code);
  if (strstr (err.msg, want) == NULL)
    fail_msg ("error \"%s\" lacks \"%s\"", err.msg, want);
}

static void
test_absent_and_null (void **state)
{
  struct deploy_request *r;
  (void) state;
  r = decode_ok ("{" BASE "}");
  assert_int_equal (r->resources.memory_mib, 0);
  assert_int_equal (r->resources.vcpus_milli, 0);
  assert_int_equal (r->resources.pids, 0);
  deploy_request_free (r);
  r = decode_ok ("{" BASE ",\"resources\":null}");
  assert_int_equal (r->resources.memory_mib, 0);
  deploy_request_free (r);
  r = decode_ok ("{" BASE ",\"resources\":{\"memory_mib\":null,\"pids\":64}}");
  assert_int_equal (r->resources.memory_mib, 0);
  assert_int_equal (r->resources.pids, 64);
  deploy_request_free (r);
}

static void
test_values (void **state)
{
  struct deploy_request *r;
  (void) state;
  r = decode_ok ("{" BASE ",\"Resources\":{\"Memory_MiB\":96,\"vcpus\":0.25,\"PIDS\":100}}");
  assert_int_equal (r->resources.memory_mib, 96);
  assert_int_equal (r->resources.vcpus_milli, 250);
  assert_int_equal (r->resources.pids, 100);
  deploy_request_free (r);
  r = decode_ok ("{" BASE ",\"resources\":{\"vcpus\":2}}");
  assert_int_equal (r->resources.vcpus_milli, 2000);
  deploy_request_free (r);
  r = decode_ok ("{" BASE ",\"resources\":{\"vcpus\":0.01,\"memory_mib\":8}}");
  assert_int_equal (r->resources.vcpus_milli, 10);
  assert_int_equal (r->resources.memory_mib, 8);
  deploy_request_free (r);
}

static void
test_refusals (void **state)
{
  (void) state;
  decode_fails ("{" BASE ",\"resources\":{\"memory_mib\":4}}", EPROTO,
                "Invalid deploy request: resources.memory_mib 4 is out of range [8, 16777216]");
  decode_fails ("{" BASE ",\"resources\":{\"pids\":-1}}", EPROTO, "resources.pids -1 is out of range");
  decode_fails ("{" BASE ",\"resources\":{\"vcpus\":0}}", EPROTO,
                "resources.vcpus 0 is out of range [0.01, 1024]");
  decode_fails ("{" BASE ",\"resources\":{\"vcpus\":2000}}", EPROTO, "resources.vcpus 2000");
  decode_fails ("{" BASE ",\"resources\":{\"memory\":64}}", EPROTO,
                "resources.memory is not a known resource (memory_mib, vcpus, pids)");
  decode_fails ("{" BASE ",\"resources\":{\"memory_mib\":\"64\"}}", EINVAL,
                "cannot unmarshal string into Go struct field Resources.resources.memory_mib");
  decode_fails ("{" BASE ",\"resources\":{\"memory_mib\":64.5}}", EINVAL,
                "cannot unmarshal number into Go struct field");
  decode_fails ("{" BASE ",\"resources\":[1]}", EINVAL,
                "cannot unmarshal array into Go struct field DeployRequest.resources");
}

static void
test_encode_round_trip (void **state)
{
  struct deploy_request *r, *back;
  struct buf out = BUF_INIT;
  (void) state;
  r = decode_ok ("{" BASE ",\"resources\":{\"memory_mib\":512,\"vcpus\":1.5,\"pids\":300}}");
  deploy_request_encode (r, &out);
  assert_non_null (strstr (out.data, "\"resources\":{\"memory_mib\":512,\"vcpus\":1.500,\"pids\":300}"));
  back = decode_ok (out.data);
  assert_memory_equal (&back->resources, &r->resources, sizeof r->resources);
  deploy_request_free (back);
  buf_free (&out);
  /* Nothing set: no key at all (a Go node would ignore it anyway). */
  memset (&r->resources, 0, sizeof r->resources);
  deploy_request_encode (r, &out);
  assert_null (strstr (out.data, "resources"));
  buf_free (&out);
  deploy_request_free (r);
}

static void
test_logs_policy (void **state)
{
  struct deploy_request *r, *back;
  struct buf out = BUF_INIT;
  (void) state;
  r = decode_ok ("{" BASE "}");
  assert_int_equal (r->logs_on_full, DEPLOY_LOGS_UNSET);
  deploy_request_encode (r, &out);
  assert_null (strstr (out.data, "\"logs\""));
  buf_free (&out);
  deploy_request_free (r);
  r = decode_ok ("{" BASE ",\"logs\":null}");
  assert_int_equal (r->logs_on_full, DEPLOY_LOGS_UNSET);
  deploy_request_free (r);
  r = decode_ok ("{" BASE ",\"Logs\":{\"On_Full\":\"block\"}}");
  assert_int_equal (r->logs_on_full, DEPLOY_LOGS_BLOCK);
  deploy_request_free (r);
  r = decode_ok ("{" BASE ",\"logs\":{\"on_full\":\"drop_oldest\"}}");
  assert_int_equal (r->logs_on_full, DEPLOY_LOGS_DROP_OLDEST);
  deploy_request_encode (r, &out);
  assert_non_null (strstr (out.data, "\"logs\":{\"on_full\":\"drop_oldest\"}"));
  back = decode_ok (out.data);
  assert_int_equal (back->logs_on_full, DEPLOY_LOGS_DROP_OLDEST);
  deploy_request_free (back);
  buf_free (&out);
  deploy_request_free (r);

  decode_fails ("{" BASE ",\"logs\":{\"on_full\":\"drop_newest\"}}", EPROTO,
                "Invalid deploy request: logs.on_full \"drop_newest\" is not block or drop_oldest");
  decode_fails ("{" BASE ",\"logs\":{\"on_full\":\"Block\"}}", EPROTO, "is not block");
  decode_fails ("{" BASE ",\"logs\":{\"level\":\"info\"}}", EPROTO,
                "Invalid deploy request: logs.level is not a known setting (on_full)");
  decode_fails ("{" BASE ",\"logs\":{\"on_full\":1}}", EINVAL,
                "cannot unmarshal number into Go struct field LogsPolicy.logs.on_full");
  decode_fails ("{" BASE ",\"logs\":\"block\"}", EINVAL,
                "cannot unmarshal string into Go struct field DeployRequest.logs");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_absent_and_null),
    cmocka_unit_test (test_values),
    cmocka_unit_test (test_refusals),
    cmocka_unit_test (test_encode_round_trip),
    cmocka_unit_test (test_logs_policy),
  };
  return cmocka_run_group_tests_name ("deploy_resources", tests, NULL, NULL);
}
