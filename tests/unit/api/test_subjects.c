/* Unit tests for api/subjects: subscription pattern validation and the
 * wildcard overlap check used by the trigger deny list (reference §10). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/subjects.h"

static void
test_pattern_ok (void **state)
{
  (void) state;
  assert_true (subjects_pattern_ok ("fn.upper", 256));
  assert_true (subjects_pattern_ok ("a", 256));
  assert_true (subjects_pattern_ok ("a.*.c", 256));
  assert_true (subjects_pattern_ok ("a.>", 256));
  assert_true (subjects_pattern_ok (">", 256));
  assert_true (subjects_pattern_ok ("*", 256));
  assert_true (subjects_pattern_ok ("$NEX.x", 256));
  assert_false (subjects_pattern_ok ("", 256));
  assert_false (subjects_pattern_ok (".a", 256));
  assert_false (subjects_pattern_ok ("a.", 256));
  assert_false (subjects_pattern_ok ("a..b", 256));
  assert_false (subjects_pattern_ok ("a b", 256));
  assert_false (subjects_pattern_ok ("a.\tb", 256));
  assert_false (subjects_pattern_ok ("a.>.b", 256));
  assert_false (subjects_pattern_ok ("a.b>", 256));
  assert_false (subjects_pattern_ok ("a.*b", 256));
  assert_false (subjects_pattern_ok ("a.b*.c", 256));
  assert_false (subjects_pattern_ok ("abcdef", 5));
  assert_true (subjects_pattern_ok ("abcde", 5));
}

static void
test_overlap (void **state)
{
  (void) state;
  /* literal */
  assert_true (subjects_overlap ("a.b", "a.b"));
  assert_false (subjects_overlap ("a.b", "a.c"));
  assert_false (subjects_overlap ("a.b", "a.b.c"));
  assert_false (subjects_overlap ("ab", "a"));
  /* '*' is exactly one token */
  assert_true (subjects_overlap ("a.*", "a.b"));
  assert_true (subjects_overlap ("*.b", "a.*"));
  assert_false (subjects_overlap ("a.*", "a"));
  assert_false (subjects_overlap ("a.*", "a.b.c"));
  assert_true (subjects_overlap ("*.*", "x.y"));
  /* '>' is one or more trailing tokens */
  assert_true (subjects_overlap ("a.>", "a.b.*"));
  assert_true (subjects_overlap ("a.b.*", "a.>"));
  assert_true (subjects_overlap ("$NEX.x", "$NEX.>"));
  assert_true (subjects_overlap ("$SYS.>", "$SYS.>"));
  assert_false (subjects_overlap ("$NEX", "$NEX.>"));
  assert_false (subjects_overlap ("a.>", "a"));
  assert_true (subjects_overlap (">", "anything.at.all"));
  assert_true (subjects_overlap ("*.>", "a.b"));
  assert_false (subjects_overlap ("*.>", "a"));
  assert_false (subjects_overlap ("fn.upper", "$JS.>"));
  assert_false (subjects_overlap ("b.>", "a.b.*"));
  assert_true (subjects_overlap ("*.b.>", "a.*.c"));
  assert_false (subjects_overlap ("*.b.>", "a.c.>"));
}

static void
test_within (void **state)
{
  (void) state;
  assert_true (subjects_within ("a.b", "a.b"));
  assert_true (subjects_within ("a.b", "a.*"));
  assert_true (subjects_within ("a.*", "a.*"));
  assert_true (subjects_within ("a.b.c", "a.>"));
  assert_true (subjects_within ("a.*.>", "a.>"));
  assert_true (subjects_within ("a.>", "a.>"));
  assert_true (subjects_within ("_INBOX.abc", "_INBOX.>"));
  assert_false (subjects_within ("a.>", "a.*"));
  assert_false (subjects_within ("a.*", "a.b"));
  assert_false (subjects_within ("a", "a.>"));
  assert_false (subjects_within ("a.b", "a"));
  assert_false (subjects_within ("a.b.c", "a.*"));
  assert_false (subjects_within (">", "a.>"));
  assert_false (subjects_within ("*.b", "a.>"));
  assert_true (subjects_within ("x.y", ">"));
  assert_false (subjects_within ("ab.c", "a.>"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_pattern_ok),
    cmocka_unit_test (test_overlap),
    cmocka_unit_test (test_within),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
