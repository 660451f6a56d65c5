/* Unit tests for node/sandbox/subids: a user's line of a subordinate id
 * file, by name or by uid, and every line that must not be taken for one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <unistd.h>

#include "node/sandbox/subids.h"

static char path[64];

static void
write_bytes (const char *bytes, size_t n)
{
  FILE *f;
  snprintf (path, sizeof path, "/tmp/nexc-subids-XXXXXX");
  close (mkstemp (path));
  f = fopen (path, "w");
  assert_non_null (f);
  assert_int_equal (fwrite (bytes, 1, n, f), n);
  fclose (f);
}

static void
write_subuid (const char *text)
{
  write_bytes (text, strlen (text));
}

static int
teardown (void **state)
{
  (void) state;
  if (path[0])
    unlink (path);
  path[0] = '\0';
  return 0;
}

static void
test_by_name_and_by_uid (void **state)
{
  struct subids_range r = { 0 };
  char why[200];
  (void) state;
  write_subuid ("alice:100000:65536\nbob:165536:1000\n1003:300000:64\n");
  assert_int_equal (subids_find (path, "bob", 1002, &r, why, sizeof why), 0);
  assert_int_equal (r.start, 165536);
  assert_int_equal (r.count, 1000);
  /* A line naming the uid counts as the user's. */
  assert_int_equal (subids_find (path, "carol", 1003, &r, why, sizeof why), 0);
  assert_int_equal (r.start, 300000);
  assert_int_equal (r.count, 64);
  assert_int_equal (subids_find (path, NULL, 1003, &r, why, sizeof why), 0);
  /* The first line wins. */
  teardown (NULL);
  write_subuid ("alice:100000:10\nalice:200000:20\n");
  assert_int_equal (subids_find (path, "alice", 1, &r, why, sizeof why), 0);
  assert_int_equal (r.start, 100000);
}

/* A prefix of a name, an empty or zero count, text in the numbers, a
 * range past the last id, a line without fields: none is the user's. */
static void
test_malformed_lines_are_not_the_users (void **state)
{
  struct subids_range r = { 0 };
  char why[200];
  (void) state;
  write_subuid ("ali:1:65536\n"
                "alice:100000:0\n"
                "alice:100000:\n"
                "alice:1x0000:65536\n"
                "alice:-5:65536\n"
                "alice:4294967295:2\n"
                "alice:99999999999:1\n"
                "alice\n"
                "alice:100000\n"
                "# alice:1:1\n");
  assert_int_equal (subids_find (path, "alice", 1001, &r, why, sizeof why), -1);
  assert_non_null (strstr (why, "has no range for alice (uid 1001)"));
  /* And the good line after them is found. */
  teardown (NULL);
  write_subuid ("alice:1x:2\nalice:500000:65536\n");
  assert_int_equal (subids_find (path, "alice", 1001, &r, why, sizeof why), 0);
  assert_int_equal (r.start, 500000);
}

/* A 600-byte line whose bytes from the 512th on read as bob's line: its
 * tail is no line of its own, bob's range is the next line. */
static void
test_long_line_is_skipped_whole (void **state)
{
  struct subids_range r = { 0 };
  char text[1024], why[200];
  (void) state;
  memset (text, 'x', 511);
  text[0] = '#';
  snprintf (text + 511, sizeof text - 511, "bob:%079u:65536\nbob:165536:1000\n", 900000u);
  assert_int_equal (strcspn (text, "\n"), 600);
  write_subuid (text);
  assert_int_equal (subids_find (path, "bob", 1002, &r, why, sizeof why), 0);
  assert_int_equal (r.start, 165536);
  assert_int_equal (r.count, 1000);
  /* The longest line that fits is read; a last line needs no newline. */
  teardown (NULL);
  snprintf (text, sizeof text, "bob:%0504u:64\nalice:7:8", 900000u);
  assert_int_equal (strcspn (text, "\n"), 511);
  write_subuid (text);
  assert_int_equal (subids_find (path, "bob", 1002, &r, why, sizeof why), 0);
  assert_int_equal (r.start, 900000);
  assert_int_equal (subids_find (path, "alice", 1001, &r, why, sizeof why), 0);
  assert_int_equal (r.start, 7);
  assert_int_equal (r.count, 8);
}

/* The 4 MiB cap counts the bytes read, the dropped ones and the NULs that
 * no strlen sees: alice's line after 5 MB of them is not read. */
static void
test_read_cap_counts_every_byte (void **state)
{
  struct subids_range r = { 0 };
  size_t pad = 511 * 10000; /* whole 511-byte reads, past 4 MiB */
  char *text = calloc (1, pad + 16), why[200];
  (void) state;
  assert_non_null (text);
  memcpy (text + pad, "alice:1:1\n", 10);
  write_bytes (text, pad + 10);
  free (text);
  assert_int_equal (subids_find (path, "alice", 1001, &r, why, sizeof why), -1);
  assert_non_null (strstr (why, "has no range for alice"));
}

static void
test_missing_file_says_so (void **state)
{
  struct subids_range r;
  char why[200];
  (void) state;
  assert_int_equal (subids_find ("/nonexistent/subuid", "alice", 1, &r, why, sizeof why), -1);
  assert_non_null (strstr (why, "no /nonexistent/subuid"));
}

/* Root nodes' default range against a user's: touching is not sharing. */
static void
test_overlap (void **state)
{
  struct subids_range a = { 100000, 65536 }, b = { 165536, 65536 }, c = { 400000, 65536 };
  struct subids_range edge = { 265535, 10 }, below = { 199990, 10 }, inside = { 200001, 1 };
  (void) state;
  assert_false (subids_overlap (&a, 200000, 65536));
  assert_true (subids_overlap (&b, 200000, 65536)); /* useradd's second user */
  assert_false (subids_overlap (&c, 200000, 65536));
  assert_true (subids_overlap (&edge, 200000, 65536));
  assert_false (subids_overlap (&below, 200000, 65536));
  assert_true (subids_overlap (&inside, 200000, 65536));
  assert_false (subids_overlap (&inside, 200000, 0));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown (test_by_name_and_by_uid, teardown),
    cmocka_unit_test_teardown (test_malformed_lines_are_not_the_users, teardown),
    cmocka_unit_test_teardown (test_long_line_is_skipped_whole, teardown),
    cmocka_unit_test_teardown (test_read_cap_counts_every_byte, teardown),
    cmocka_unit_test_teardown (test_missing_file_says_so, teardown),
    cmocka_unit_test (test_overlap),
  };
  return cmocka_run_group_tests_name ("subids", tests, NULL, NULL);
}
