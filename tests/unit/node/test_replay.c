/* The replay cache (node/state/replay.c): a token is good once within its
 * window, too old or future tokens are refused, and with a state dir what
 * was accepted is still refused after a reopen (a node restart), a torn
 * tail and expired records notwithstanding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/state/replay.h"

static char dir[64];
static char file[96];

static int
setup (void **state)
{
  (void) state;
  snprintf (dir, sizeof dir, "/tmp/nexc-replay-XXXXXX");
  assert_non_null (mkdtemp (dir));
  snprintf (file, sizeof file, "%s/replay", dir);
  return 0;
}

static int
teardown (void **state)
{
  char tmp[128];
  (void) state;
  unlink (file);
  snprintf (tmp, sizeof tmp, "%s.tmp", file);
  unlink (tmp);
  rmdir (dir);
  return 0;
}

/* Claims whose signature (what the cache keys on) is made from seed. */
static struct jwt_claims
claims (int seed, int64_t iat)
{
  struct jwt_claims c;
  memset (&c, 0, sizeof c);
  c.iat = iat;
  memset (c.sig, seed, sizeof c.sig);
  c.sig[0] = (uint8_t) (seed >> 8);
  return c;
}

static off_t
size_of (const char *p)
{
  struct stat st;
  return stat (p, &st) == 0 ? st.st_size : -1;
}

static void
test_memory_only (void **state)
{
  struct nxerr err = { 0 };
  int64_t now = 1700000000;
  struct replay *r = replay_new ();
  (void) state;
  struct jwt_claims a = claims (1, now), b = claims (2, now);
  assert_int_equal (replay_check (r, &a, now, &err), 0);
  assert_int_equal (replay_check (r, &a, now, &err), -1);
  assert_non_null (strstr (err.msg, "used before"));
  assert_int_equal (replay_check (r, &b, now, &err), 0);
  struct jwt_claims old = claims (3, now - REPLAY_WINDOW_S - 1);
  assert_int_equal (replay_check (r, &old, now, &err), -1);
  assert_non_null (strstr (err.msg, "older than"));
  struct jwt_claims fut = claims (4, now + REPLAY_SKEW_S + 1);
  assert_int_equal (replay_check (r, &fut, now, &err), -1);
  /* Once its window is over the same token is refused as too old, so the
   * cache may forget it. */
  assert_int_equal (replay_check (r, &a, now + REPLAY_WINDOW_S + 1, &err), -1);
  assert_non_null (strstr (err.msg, "older than"));
  replay_free (r);
}

static void
test_survives_a_restart (void **state)
{
  struct nxerr err = { 0 };
  int64_t now = 1700000000;
  (void) state;
  struct replay *r = replay_new ();
  assert_int_equal (replay_open (r, dir, now, &err), 0);
  for (int i = 0; i < 100; i++)
    {
      struct jwt_claims c = claims (i, now);
      assert_int_equal (replay_check (r, &c, now, &err), 0);
    }
  /* One that expires early (exp), gone by the reopen. */
  struct jwt_claims shortlived = claims (500, now);
  shortlived.exp = now + 10;
  assert_int_equal (replay_check (r, &shortlived, now, &err), 0);
  replay_free (r);
  assert_int_equal (size_of (file), 101 * 24);
  struct stat st;
  assert_int_equal (stat (file, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0600);

  /* A torn tail: the node died inside a write. */
  FILE *f = fopen (file, "a");
  fwrite ("torn", 1, 4, f);
  fclose (f);

  r = replay_new ();
  assert_int_equal (replay_open (r, dir, now + 60, &err), 0);
  for (int i = 0; i < 100; i++)
    {
      struct jwt_claims c = claims (i, now);
      assert_int_equal (replay_check (r, &c, now + 60, &err), -1);
      assert_non_null (strstr (err.msg, "used before"));
    }
  /* Rewritten at open: live records only, no torn tail. */
  assert_int_equal (size_of (file), 100 * 24);
  struct jwt_claims fresh = claims (200, now + 60);
  assert_int_equal (replay_check (r, &fresh, now + 60, &err), 0);
  replay_free (r);
}

static void
test_hostile_file (void **state)
{
  struct nxerr err = { 0 };
  (void) state;
  /* Garbage of a whole number of records loads (nothing in it can be
   * more than a key and a time) and is dropped as expired or kept: no crash. */
  FILE *f = fopen (file, "w");
  for (int i = 0; i < 240; i++)
    fputc ((i * 37) & 0xff, f);
  fclose (f);
  struct replay *r = replay_new ();
  assert_int_equal (replay_open (r, dir, 1700000000, &err), 0);
  replay_free (r);
  /* Not a regular file: refused, with the path. */
  unlink (file);
  assert_int_equal (mkdir (file, 0700), 0);
  r = replay_new ();
  assert_int_equal (replay_open (r, dir, 1700000000, &err), -1);
  assert_non_null (strstr (err.msg, file));
  replay_free (r);
  rmdir (file);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_memory_only),
    cmocka_unit_test_setup_teardown (test_survives_a_restart, setup, teardown),
    cmocka_unit_test_setup_teardown (test_hostile_file, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
