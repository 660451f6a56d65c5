/* evsig (api/evsig.c): an event's signature verifies for its node, subject
 * and payload, and for nothing else. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/evsig.h"

static const char *const SUBJ = "$NEX.events.default.workload_stopped";
static const char *const DATA = "{\"specversion\":\"1.0\",\"type\":\"workload_stopped\"}";

static void
test_round_trip_and_tampering (void **state)
{
  struct nkey_pair node, other;
  struct nxerr err = { 0 };
  char sig[EVSIG_TEXT_LEN];
  (void) state;
  assert_int_equal (nkey_pair_generate (NKEY_SERVER, &node, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_SERVER, &other, &err), 0);
  assert_int_equal (evsig_sign (&node, SUBJ, DATA, strlen (DATA), sig, &err), 0);
  assert_int_equal (strlen (sig), EVSIG_TEXT_LEN - 1);
  assert_int_equal (evsig_verify (node.public_text, SUBJ, DATA, strlen (DATA), sig, &err), 0);
  /* another payload, another subject (namespace), another node */
  assert_int_equal (evsig_verify (node.public_text, SUBJ, DATA, strlen (DATA) - 1, sig, &err), -1);
  assert_int_equal (err.code, EBADMSG);
  assert_int_equal (
      evsig_verify (node.public_text, "$NEX.events.other.workload_stopped", DATA, strlen (DATA),
                    sig, &err),
      -1);
  assert_int_equal (evsig_verify (other.public_text, SUBJ, DATA, strlen (DATA), sig, &err), -1);
  /* a flipped signature character, a short one, none, a non-node signer */
  sig[10] = sig[10] == 'A' ? 'B' : 'A';
  assert_int_equal (evsig_verify (node.public_text, SUBJ, DATA, strlen (DATA), sig, &err), -1);
  assert_int_equal (evsig_verify (node.public_text, SUBJ, DATA, strlen (DATA), "abc", &err), -1);
  assert_int_equal (err.code, EINVAL);
  assert_int_equal (evsig_verify (node.public_text, SUBJ, DATA, strlen (DATA), NULL, &err), -1);
  assert_int_equal (err.code, ENOENT);
  struct nkey_pair acct;
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &acct, &err), 0);
  assert_int_equal (evsig_sign (&acct, SUBJ, DATA, strlen (DATA), sig, &err), 0);
  assert_int_equal (evsig_verify (acct.public_text, SUBJ, DATA, strlen (DATA), sig, &err), -1);
  assert_non_null (strstr (err.msg, "not a node id"));
  nkey_pair_wipe (&node);
  nkey_pair_wipe (&other);
  nkey_pair_wipe (&acct);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_round_trip_and_tampering),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
