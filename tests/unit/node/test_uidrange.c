/* Unit tests for node/uidrange: validity of a range, the uids never handed
 * out, round-robin allocation, exhaustion, release, and the /proc scan
 * (on a fake /proc written by the test). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/sandbox/uidrange.h"

static void
test_check (void **state)
{
  struct nxerr err = { 0 };
  (void) state;
  assert_int_equal (uidrange_check (200000, 65536, &err), 0);
  assert_int_equal (uidrange_check (0, 10, &err), -1);
  assert_non_null (strstr (err.msg, "0 (root)"));
  assert_int_equal (uidrange_check (1000, 0, &err), -1);
  assert_int_equal (uidrange_check (1000, UIDRANGE_MAX_COUNT + 1, &err), -1);
  assert_int_equal (uidrange_check (0xffffff00u, 0x100, &err), -1);
  assert_non_null (strstr (err.msg, "past the last valid uid"));
  assert_int_equal (uidrange_check (0xffffff00u, 0xff, &err), 0);
}

static void
test_alloc_release_round_robin (void **state)
{
  struct uidrange r;
  struct nxerr err = { 0 };
  uint32_t a, b, c, d;
  (void) state;
  assert_int_equal (uidrange_init (&r, 1000, 3, 0, &err), 0);
  assert_int_equal (uidrange_available (&r), 3);
  assert_int_equal (uidrange_alloc (&r, &a, &err), 0);
  assert_int_equal (uidrange_alloc (&r, &b, &err), 0);
  assert_int_equal (a, 1000);
  assert_int_equal (b, 1001);
  uidrange_release (&r, a);
  /* The next one is the one not used yet, not the one just released. */
  assert_int_equal (uidrange_alloc (&r, &c, &err), 0);
  assert_int_equal (c, 1002);
  assert_int_equal (uidrange_alloc (&r, &d, &err), 0);
  assert_int_equal (d, 1000);
  assert_int_equal (r.in_use, 3);
  /* Exhausted. */
  assert_int_equal (uidrange_alloc (&r, &d, &err), -1);
  assert_int_equal (err.code, ENOSPC);
  assert_non_null (strstr (err.msg, "no free uid in uid_range 1000-1002"));
  /* Releasing twice, or a uid outside the range, changes nothing. */
  uidrange_release (&r, 1001);
  uidrange_release (&r, 1001);
  uidrange_release (&r, 5);
  assert_int_equal (r.in_use, 2);
  assert_int_equal (uidrange_available (&r), 1);
  uidrange_free (&r);
}

static void
test_never_handed_out (void **state)
{
  struct uidrange r;
  struct nxerr err = { 0 };
  uint32_t u;
  (void) state;
  /* The node's own uid and nobody (65534) are inside: skipped. */
  assert_int_equal (uidrange_init (&r, 65530, 10, 65531, &err), 0);
  assert_int_equal (uidrange_available (&r), 8);
  for (int i = 0; i < 8; i++)
    {
      assert_int_equal (uidrange_alloc (&r, &u, &err), 0);
      assert_true (u != 65531 && u != 65534);
      assert_true (uidrange_contains (&r, u));
    }
  assert_int_equal (uidrange_alloc (&r, &u, &err), -1);
  uidrange_free (&r);
  /* A range holding only the node's uid is refused. */
  assert_int_equal (uidrange_init (&r, 4242, 1, 4242, &err), -1);
  assert_non_null (strstr (err.msg, "node's own uid"));
}

static int
rm_entry (const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) flag;
  (void) ftw;
  return remove (p);
}

static void
fake_proc (const char *root, const char *pid, const char *uids, const char *gids)
{
  char p[512];
  FILE *f;
  snprintf (p, sizeof p, "%s/%s", root, pid);
  assert_int_equal (mkdir (p, 0755), 0);
  snprintf (p, sizeof p, "%s/%s/status", root, pid);
  f = fopen (p, "w");
  assert_non_null (f);
  fprintf (f, "Name:\tx\nUmask:\t0022\nState:\tS\nUid:\t%s\nGid:\t%s\nGroups:\t\n", uids, gids);
  fclose (f);
}

static void
test_scan_proc (void **state)
{
  char root[] = "/tmp/nexc-uidrange-XXXXXX";
  int pids[4];
  uint32_t uids[4];
  (void) state;
  assert_non_null (mkdtemp (root));
  fake_proc (root, "10", "0\t0\t0\t0", "0\t0\t0\t0");
  fake_proc (root, "11", "1000\t200005\t1000\t1000", "1000\t1000\t1000\t1000"); /* euid */
  fake_proc (root, "12", "1000\t1000\t1000\t1000", "1000\t1000\t1000\t200063"); /* fsgid */
  fake_proc (root, "13", "200064\t200064\t200064\t200064", "0\t0\t0\t0");       /* just past */
  {
    /* A zombie of the range: not in use. */
    char p[512];
    FILE *z;
    snprintf (p, sizeof p, "%s/14", root);
    assert_int_equal (mkdir (p, 0755), 0);
    snprintf (p, sizeof p, "%s/14/status", root);
    z = fopen (p, "w");
    assert_non_null (z);
    fprintf (z, "Name:\tx\nState:\tZ (zombie)\nUid:\t200001\t200001\t200001\t200001\nGid:\t0\t0\t0\t0\n");
    fclose (z);
  }
  {
    char p[512];
    snprintf (p, sizeof p, "%s/self", root);
    assert_int_equal (mkdir (p, 0755), 0); /* not a pid: ignored */
  }
  assert_int_equal (uidrange_scan_proc (root, 200000, 64, pids, uids, 4), 2);
  assert_true ((pids[0] == 11 && uids[0] == 200005) || (pids[0] == 12 && uids[0] == 200063));
  assert_int_equal (uidrange_scan_proc (root, 200000, 65, NULL, NULL, 0), 3);
  assert_int_equal (uidrange_scan_proc (root, 300000, 64, NULL, NULL, 0), 0);
  assert_int_equal (uidrange_scan_proc ("/nonexistent", 1, 10, NULL, NULL, 0), 0);
  nftw (root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_check),
    cmocka_unit_test (test_alloc_release_round_robin),
    cmocka_unit_test (test_never_handed_out),
    cmocka_unit_test (test_scan_proc),
  };
  return cmocka_run_group_tests_name ("uidrange", tests, NULL, NULL);
}
