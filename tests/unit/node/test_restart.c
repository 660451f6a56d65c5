/* Restart policy: decoding of the "restart" extension and the decisions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "api/deploy_request.h"
#include "node/workload/restart.h"

#define BASE                                                                                     \
  "\"type\":\"native\",\"location\":\"nats://B/k\",\"workload_jwt\":\"j\",\"environment\":\"e\"," \
  "\"sender_public_key\":\"X\""

static struct deploy_request *
decode (const char *json)
{
  struct deploy_request *r = NULL;
  struct nxerr err = { 0 };
  if (deploy_request_decode (json, strlen (json), &r, &err) < 0)
    fail_msg ("decode %s: %s", json, err.msg);
  return r;
}

static void
decode_fails (const char *json, const char *want)
{
  struct deploy_request *r = NULL;
  struct nxerr err = { 0 };
  assert_int_equal (deploy_request_decode (json, strlen (json), &r, &err), -1);
  assert_null (r);
  if (strstr (err.msg, want) == NULL)
    fail_msg ("expected \"%s\" in \"%s\"", want, err.msg);
}

static void
test_policy_from_request (void **state)
{
  struct restart_policy p;
  struct deploy_request *r;
  (void) state;
  r = decode ("{" BASE "}");
  restart_policy_from (r, &p);
  assert_int_equal (p.policy, DEPLOY_RESTART_NEVER);
  deploy_request_free (r);

  r = decode ("{" BASE ",\"essential\":true}");
  restart_policy_from (r, &p);
  assert_int_equal (p.policy, DEPLOY_RESTART_ON_FAILURE);
  assert_int_equal (p.max_restarts, RESTART_DEFAULT_MAX);
  assert_int_equal (p.backoff_ms, RESTART_DEFAULT_BACKOFF_MS);
  deploy_request_free (r);

  r = decode ("{" BASE ",\"restart\":{\"policy\":\"always\",\"max_restarts\":3,\"backoff_ms\":50,"
              "\"max_backoff_ms\":20}}");
  restart_policy_from (r, &p);
  assert_int_equal (p.policy, DEPLOY_RESTART_ALWAYS);
  assert_int_equal (p.max_restarts, 3);
  assert_int_equal (p.backoff_ms, 50);
  assert_int_equal (p.max_backoff_ms, 50); /* never below the first step */
  /* encode keeps it */
  struct buf b = BUF_INIT;
  deploy_request_encode (r, &b);
  assert_non_null (strstr (b.data, "\"restart\":{\"policy\":\"always\",\"max_restarts\":3,"
                                   "\"backoff_ms\":50,\"max_backoff_ms\":20}"));
  buf_free (&b);
  deploy_request_free (r);

  /* "restart" without a policy keeps what essential says. */
  r = decode ("{" BASE ",\"essential\":true,\"restart\":{\"max_restarts\":2}}");
  restart_policy_from (r, &p);
  assert_int_equal (p.policy, DEPLOY_RESTART_ON_FAILURE);
  assert_int_equal (p.max_restarts, 2);
  deploy_request_free (r);
}

static void
test_restart_decode_errors (void **state)
{
  (void) state;
  decode_fails ("{" BASE ",\"restart\":\"always\"}",
                "cannot unmarshal string into Go struct field DeployRequest.restart");
  decode_fails ("{" BASE ",\"restart\":{\"policy\":\"sometimes\"}}",
                "Invalid deploy request: restart.policy \"sometimes\" is not never, on-failure or always");
  decode_fails ("{" BASE ",\"restart\":{\"policy\":1}}",
                "cannot unmarshal number into Go struct field RestartPolicy.restart.policy");
  decode_fails ("{" BASE ",\"restart\":{\"max_restarts\":-1}}",
                "Invalid deploy request: restart.max_restarts -1 is out of range");
  decode_fails ("{" BASE ",\"restart\":{\"backoff_ms\":\"1s\"}}",
                "cannot unmarshal string into Go struct field RestartPolicy.restart.backoff_ms");
  decode_fails ("{" BASE ",\"restart\":{\"forever\":true}}",
                "Invalid deploy request: restart.forever is not a known setting");
}

static void
test_decisions (void **state)
{
  struct restart_policy p = { DEPLOY_RESTART_ON_FAILURE, 3, 100, 350 };
  uint64_t streak = 0, delay = 0;
  (void) state;
  /* success and stops never restart under on-failure */
  assert_int_equal (restart_decide (&p, 0, false, 10, 10000, &streak, &delay, 0), RESTART_NO);
  assert_int_equal (restart_decide (&p, 1, true, 10, 10000, &streak, &delay, 0), RESTART_NO);
  /* failures: 100, 200, 350 (capped), then given up */
  assert_int_equal (restart_decide (&p, 1, false, 10, 10000, &streak, &delay, 0), RESTART_YES);
  assert_int_equal (delay, 100);
  assert_int_equal (restart_decide (&p, -1, false, 10, 10000, &streak, &delay, 0), RESTART_YES);
  assert_int_equal (delay, 200);
  assert_int_equal (restart_decide (&p, 2, false, 10, 10000, &streak, &delay, 0), RESTART_YES);
  assert_int_equal (delay, 350);
  assert_int_equal (restart_decide (&p, 2, false, 10, 10000, &streak, &delay, 0), RESTART_GIVE_UP);
  /* a stable run resets the streak */
  assert_int_equal (restart_decide (&p, 2, false, 20000, 10000, &streak, &delay, 0), RESTART_YES);
  assert_int_equal (delay, 100);
  assert_int_equal (streak, 1);
  /* jitter stays within 25 % */
  streak = 0;
  assert_int_equal (restart_decide (&p, 2, false, 1, 10000, &streak, &delay, 1000003), RESTART_YES);
  assert_true (delay >= 100 && delay <= 125);
  /* always restarts a clean exit too; never restarts nothing */
  struct restart_policy a = { DEPLOY_RESTART_ALWAYS, 3, 100, 1000 };
  streak = 0;
  assert_int_equal (restart_decide (&a, 0, false, 1, 10000, &streak, &delay, 0), RESTART_YES);
  struct restart_policy nv = { DEPLOY_RESTART_NEVER, 3, 100, 1000 };
  assert_int_equal (restart_decide (&nv, 1, false, 1, 10000, &streak, &delay, 0), RESTART_NO);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_policy_from_request),
    cmocka_unit_test (test_restart_decode_errors),
    cmocka_unit_test (test_decisions),
  };
  return cmocka_run_group_tests_name ("restart", tests, NULL, NULL);
}
