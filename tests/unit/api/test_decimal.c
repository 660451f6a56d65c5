/* Unit tests for api/decimal: digits only, the whole span, 64 bits at most;
 * a refusal leaves the output alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/decimal.h"

static uint64_t
ok (const char *s)
{
  uint64_t v = 12345;
  assert_int_equal (decimal_u64 (s, strlen (s), &v), 0);
  return v;
}

static void
refused (const char *s, size_t n)
{
  uint64_t v = 777;
  assert_int_equal (decimal_u64 (s, n, &v), -1);
  assert_int_equal (v, 777);
}

static void
test_accepted (void **state)
{
  (void) state;
  assert_int_equal (ok ("0"), 0);
  assert_int_equal (ok ("7"), 7);
  assert_int_equal (ok ("0042"), 42);
  assert_int_equal (ok ("18446744073709551615"), UINT64_MAX);
  assert_int_equal (ok ("000000000000000000000000001"), 1); /* as strtoull */
}

static void
test_refused (void **state)
{
  (void) state;
  refused ("", 0);
  refused (NULL, 3);
  refused ("18446744073709551616", 20); /* one past 64 bits */
  refused ("99999999999999999999", 20);
  refused ("-1", 2);
  refused ("+1", 2);
  refused (" 1", 2);
  refused ("1 ", 2);
  refused ("12a", 3);
  refused ("0x10", 4);
  refused ("1.5", 3);
}

static void
test_span_only (void **state)
{
  uint64_t v = 0;
  (void) state;
  /* The length bounds it: what follows is not read. */
  assert_int_equal (decimal_u64 ("123xyz", 3, &v), 0);
  assert_int_equal (v, 123);
  assert_int_equal (decimal_u64 ("12\0" "3", 4, &v), -1); /* a NUL inside is a byte like any */
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_accepted),
    cmocka_unit_test (test_refused),
    cmocka_unit_test (test_span_only),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
