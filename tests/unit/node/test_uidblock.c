/* Unit tests for node/sandbox/uidblock: the lock dir (made 0700, a foreign
 * one or a symlink refused) and a block's lock file on real files (a second
 * open file description of this process stands for another node; the lock
 * protocol itself is tests/unit/node/test_lockfile.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/sandbox/uidblock.h"

static char root[64];
static char locks[128];

static int
setup (void **state)
{
  (void) state;
  snprintf (root, sizeof root, "/tmp/nexc-uidblock-XXXXXX");
  assert_non_null (mkdtemp (root));
  snprintf (locks, sizeof locks, "%s/run/nexc/uids", root);
  return 0;
}

static int
rm_entry (const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) flag;
  (void) ftw;
  return remove (p);
}

static int
teardown (void **state)
{
  (void) state;
  nftw (root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  return 0;
}

static void
test_dir (void **state)
{
  struct uidblock_dir d;
  struct nxerr err = { 0 };
  struct stat st;
  (void) state;
  /* Made with its parents, 0700. */
  assert_int_equal (uidblock_dir_open (locks, &d, &err), 0);
  assert_false (d.fallback);
  assert_int_equal (stat (locks, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0700);
  uidblock_dir_close (&d);
  uidblock_dir_close (&d); /* twice: a no-op */
  /* A lax mode of ours is tightened. */
  assert_int_equal (chmod (locks, 0777), 0);
  assert_int_equal (uidblock_dir_open (locks, &d, &err), 0);
  assert_int_equal (stat (locks, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0700);
  uidblock_dir_close (&d);
  /* Relative: refused. */
  assert_int_equal (uidblock_dir_open ("run/nexc", &d, &err), -1);
  /* Another uid's dir: refused, whatever its mode (as root only). */
  if (geteuid () == 0)
    {
      assert_int_equal (chown (locks, 12345, 12345), 0);
      assert_int_equal (uidblock_dir_open (locks, &d, &err), -1);
      assert_non_null (strstr (err.msg, "not owned by uid 0"));
      assert_int_equal (d.fd, -1);
      assert_int_equal (chown (locks, 0, 0), 0);
    }
  /* A symlink in its place: refused. */
  {
    char link[160];
    snprintf (link, sizeof link, "%s/link", root);
    assert_int_equal (symlink (locks, link), 0);
    assert_int_equal (uidblock_dir_open (link, &d, &err), -1);
  }
}

static void
test_lock_unlock (void **state)
{
  struct uidblock_dir d;
  struct lockfile_holder h;
  struct nxerr err = { 0 };
  char p[200], text[128], want[64];
  int fd = -1, fd2 = -1, n;
  (void) state;
  assert_int_equal (uidblock_dir_open (locks, &d, &err), 0);
  assert_int_equal (uidblock_lock (&d, 200000, "NONE", &fd, NULL, &err), 0);
  assert_true (fd >= 0);
  assert_true (fcntl (fd, F_GETFD) & FD_CLOEXEC); /* no agent inherits it */
  snprintf (p, sizeof p, "%s/200000", locks);
  {
    int r = open (p, O_RDONLY);
    assert_true (r >= 0);
    n = (int) read (r, text, sizeof text - 1);
    close (r);
    text[n > 0 ? n : 0] = '\0';
  }
  snprintf (want, sizeof want, "node NONE\npid %d\n", (int) getpid ());
  assert_string_equal (text, want);
  /* Another holder is refused and told who has it. */
  assert_int_equal (uidblock_lock (&d, 200000, "NTWO", &fd2, &h, &err), -1);
  assert_int_equal (err.code, EAGAIN);
  assert_string_equal (h.node, "NONE");
  assert_int_equal (h.pid, getpid ());
  assert_non_null (strstr (err.msg, "held by node NONE"));
  assert_non_null (strstr (err.msg, "uids 200000-200063: "));
  /* Let go: the file goes, the block is free. */
  uidblock_unlock (&d, 200000, fd);
  assert_int_equal (access (p, F_OK), -1);
  assert_int_equal (uidblock_lock (&d, 200000, "NTWO", &fd2, &h, &err), 0);
  /* Someone removed our file by hand and another node made a new one: our
   * unlock must not remove theirs. */
  assert_int_equal (unlink (p), 0);
  assert_int_equal (uidblock_lock (&d, 200000, "NTHREE", &fd, NULL, &err), 0);
  uidblock_unlock (&d, 200000, fd2);
  assert_int_equal (access (p, F_OK), 0);
  assert_int_equal (uidblock_lock (&d, 200000, "NTWO", &fd2, &h, &err), -1);
  assert_string_equal (h.node, "NTHREE");
  uidblock_unlock (&d, 200000, fd);
  uidblock_unlock (&d, 200000, -1); /* a no-op */
  uidblock_dir_close (&d);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_dir, setup, teardown),
    cmocka_unit_test_setup_teardown (test_lock_unlock, setup, teardown),
  };
  return cmocka_run_group_tests_name ("uidblock", tests, NULL, NULL);
}
