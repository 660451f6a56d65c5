/* Unit tests for api/duration: the accepted forms, every refusal (sign,
 * space, fraction, bare number, unknown or repeated unit, wrong order,
 * overflow, bounds) and the canonical text written back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/duration.h"

#define DAY 86400000ll

static int64_t
ok (const char *s)
{
  struct nxerr err = { 0 };
  int64_t ms = -1;
  if (duration_parse (s, 0, 3650 * DAY, &ms, &err) != 0)
    print_error ("\"%s\" refused: %s\n", s, err.msg);
  assert_int_equal (err.code, 0);
  return ms;
}

static void
refused (const char *s)
{
  struct nxerr err = { 0 };
  int64_t ms = 12345;
  if (duration_parse (s, 0, 3650 * DAY, &ms, &err) == 0)
    print_error ("\"%s\" accepted as %lld\n", s, (long long) ms);
  assert_int_equal (err.code, EINVAL);
  assert_int_equal (ms, 12345); /* untouched */
  assert_non_null (strstr (err.msg, "is not a duration"));
}

static void
test_accepted (void **state)
{
  (void) state;
  assert_int_equal (ok ("90s"), 90000);
  assert_int_equal (ok ("10m"), 600000);
  assert_int_equal (ok ("2h"), 7200000);
  assert_int_equal (ok ("1d"), DAY);
  assert_int_equal (ok ("500ms"), 500);
  assert_int_equal (ok ("1h30m"), 5400000);
  assert_int_equal (ok ("1d2h3m4s5ms"), DAY + 2 * 3600000 + 3 * 60000 + 4000 + 5);
  assert_int_equal (ok ("0s"), 0);
  assert_int_equal (ok ("007m"), 7 * 60000);
  assert_int_equal (ok ("3650d"), 3650 * DAY);
}

static void
test_refused (void **state)
{
  (void) state;
  const char *bad[] = { "", "10", "m", "-10m", "+10m", " 10m", "10m ", "10 m", "1.5h", "10M",
                        "10min", "10mm", "1m1h", "1h1h", "5ms3s", "10x", "1h30", "h1",
                        "0x10s", "9999999999999d", "3651d", "10m\n" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    refused (bad[i]);
}

static void
test_bounds_in_message (void **state)
{
  struct nxerr err = { 0 };
  int64_t ms;
  (void) state;
  assert_int_equal (duration_parse ("30s", 60000, 3650 * DAY, &ms, &err), -1);
  assert_string_equal (err.msg, "\"30s\" is not a duration from 1m to 3650d (a number and a unit: "
                                "d, h, m, s, ms; e.g. 90s, 10m, 2h, 1h30m)");
  /* hostile text is cut in the message */
  char long_text[200];
  memset (long_text, 'x', sizeof long_text - 1);
  long_text[sizeof long_text - 1] = '\0';
  assert_int_equal (duration_parse (long_text, 0, DAY, &ms, &err), -1);
  assert_true (strlen (err.msg) < 200);
  assert_int_equal (duration_parse (NULL, 0, DAY, &ms, &err), -1);
}

static void
test_format (void **state)
{
  char out[DURATION_TEXT_MAX];
  (void) state;
  duration_format (DAY, out);
  assert_string_equal (out, "1d");
  duration_format (24 * 3600000ll - 60000, out);
  assert_string_equal (out, "23h59m");
  duration_format (1500, out);
  assert_string_equal (out, "1500ms");
  duration_format (0, out);
  assert_string_equal (out, "0s");
  duration_format (5400000, out);
  assert_string_equal (out, "1h30m");
  /* what is written reads back as the same value */
  const int64_t v[] = { 1, 999, 1000, 61500, 90061001, 3650 * DAY };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    {
      duration_format (v[i], out);
      assert_int_equal (ok (out), v[i]);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_accepted),
    cmocka_unit_test (test_refused),
    cmocka_unit_test (test_bounds_in_message),
    cmocka_unit_test (test_format),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
