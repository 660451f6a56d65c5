/* Unit tests for node/core/lockfile: locking and letting go on real files
 * (a second open file description of this process stands for another
 * holder: OFD locks conflict even within one process), the file that names
 * the holder, hostile lock file contents. */
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

#include "node/core/lockfile.h"

static char root[64];

static int
setup (void **state)
{
  (void) state;
  snprintf (root, sizeof root, "/tmp/nexc-lockfile-XXXXXX");
  assert_non_null (mkdtemp (root));
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
test_parse (void **state)
{
  struct lockfile_holder h;
  char junk[600];
  (void) state;
  lockfile_parse ("node NABC\npid 42\n", 17, &h);
  assert_string_equal (h.node, "NABC");
  assert_int_equal (h.pid, 42);
  /* Order, missing newline, extra lines. */
  lockfile_parse ("x\npid 7\nnode N1", 16, &h);
  assert_string_equal (h.node, "N1");
  assert_int_equal (h.pid, 7);
  /* Pids that are not pids. */
  lockfile_parse ("pid -1\n", 7, &h);
  assert_int_equal (h.pid, 0);
  lockfile_parse ("pid 99999999999\n", 16, &h);
  assert_int_equal (h.pid, 0);
  lockfile_parse ("pid 12x\n", 8, &h);
  assert_int_equal (h.pid, 0);
  lockfile_parse ("pid 0\n", 6, &h);
  assert_int_equal (h.pid, 0);
  /* Control characters end a node name; an overlong one is cut. */
  lockfile_parse ("node N\033[31mX\n", 13, &h);
  assert_string_equal (h.node, "N");
  memset (junk, 'A', sizeof junk);
  memcpy (junk, "node ", 5);
  lockfile_parse (junk, sizeof junk, &h);
  assert_int_equal (strlen (h.node), LOCKFILE_WHO_MAX - 1);
  /* NULs and binary bytes. */
  lockfile_parse ("\0\0node \0N\npid \0", 16, &h);
  assert_string_equal (h.node, "");
  assert_int_equal (h.pid, 0);
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (char) (i * 37 + 11);
  lockfile_parse (junk, sizeof junk, &h);
  lockfile_parse (junk, 0, &h);
  assert_string_equal (h.node, "");
}

static void
test_holder_text (void **state)
{
  struct lockfile_holder h = { "NABC", 42 };
  char out[128];
  (void) state;
  lockfile_holder_text (&h, out, sizeof out);
  assert_string_equal (out, "node NABC (pid 42)");
  h.pid = 0;
  lockfile_holder_text (&h, out, sizeof out);
  assert_string_equal (out, "node NABC");
  h.node[0] = '\0';
  h.pid = 9;
  lockfile_holder_text (&h, out, sizeof out);
  assert_string_equal (out, "pid 9");
  h.pid = 0;
  lockfile_holder_text (&h, out, sizeof out);
  assert_string_equal (out, "an unknown holder");
}

static void
test_lock_unlock (void **state)
{
  int dfd;
  struct lockfile_holder h;
  struct nxerr err = { 0 };
  char p[200], text[128], want[64];
  int fd = -1, fd2 = -1, n;
  (void) state;
  dfd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (dfd >= 0);
  assert_int_equal (lockfile_lock (dfd, root, "200000", "NONE", &fd, NULL, &err), 0);
  assert_true (fd >= 0);
  assert_true (fcntl (fd, F_GETFD) & FD_CLOEXEC); /* no agent inherits it */
  snprintf (p, sizeof p, "%s/200000", root);
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
  assert_int_equal (lockfile_lock (dfd, root, "200000", "NTWO", &fd2, &h, &err), -1);
  assert_int_equal (err.code, EAGAIN);
  assert_string_equal (h.node, "NONE");
  assert_int_equal (h.pid, getpid ());
  assert_non_null (strstr (err.msg, "held by node NONE"));
  /* Let go: the file goes, the block is free. */
  lockfile_unlock (dfd, "200000", fd);
  assert_int_equal (access (p, F_OK), -1);
  assert_int_equal (lockfile_lock (dfd, root, "200000", "NTWO", &fd2, &h, &err), 0);
  /* Someone removed our file by hand and another node made a new one: our
   * unlock must not remove theirs. */
  assert_int_equal (unlink (p), 0);
  assert_int_equal (lockfile_lock (dfd, root, "200000", "NTHREE", &fd, NULL, &err), 0);
  lockfile_unlock (dfd, "200000", fd2);
  assert_int_equal (access (p, F_OK), 0);
  assert_int_equal (lockfile_lock (dfd, root, "200000", "NTWO", &fd2, &h, &err), -1);
  assert_string_equal (h.node, "NTHREE");
  lockfile_unlock (dfd, "200000", fd);
  lockfile_unlock (dfd, "200000", -1); /* a no-op */
  close (dfd);
}

static void
test_hostile_files (void **state)
{
  int dfd;
  struct nxerr err = { 0 };
  char p[200];
  int fd = -1;
  (void) state;
  dfd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (dfd >= 0);
  /* A directory, a symlink, a fifo, a file of another uid: not usable, and
   * nothing is opened (a fifo would block, a device could act). */
  snprintf (p, sizeof p, "%s/64", root);
  assert_int_equal (mkdir (p, 0700), 0);
  assert_int_equal (lockfile_lock (dfd, root, "64", "N", &fd, NULL, &err), -1);
  assert_int_equal (err.code, EPERM);
  snprintf (p, sizeof p, "%s/128", root);
  assert_int_equal (symlink ("/etc/shadow", p), 0);
  assert_int_equal (lockfile_lock (dfd, root, "128", "N", &fd, NULL, &err), -1);
  assert_int_equal (err.code, EPERM);
  snprintf (p, sizeof p, "%s/192", root);
  assert_int_equal (mkfifo (p, 0600), 0);
  assert_int_equal (lockfile_lock (dfd, root, "192", "N", &fd, NULL, &err), -1);
  assert_non_null (strstr (err.msg, "not a regular file"));
  if (geteuid () == 0)
    {
      int f;
      snprintf (p, sizeof p, "%s/256", root);
      f = open (p, O_WRONLY | O_CREAT, 0600);
      assert_true (f >= 0);
      close (f);
      assert_int_equal (chown (p, 12345, 12345), 0);
      assert_int_equal (lockfile_lock (dfd, root, "256", "N", &fd, NULL, &err), -1);
      assert_int_equal (err.code, EPERM);
    }
  /* A huge free file of junk: taken, rewritten to a few bytes. */
  {
    char junk[8192];
    struct stat st;
    int f;
    memset (junk, 0xff, sizeof junk);
    snprintf (p, sizeof p, "%s/320", root);
    f = open (p, O_WRONLY | O_CREAT, 0600);
    assert_true (f >= 0);
    for (int i = 0; i < 64; i++)
      assert_int_equal (write (f, junk, sizeof junk), (ssize_t) sizeof junk);
    close (f);
    assert_int_equal (lockfile_lock (dfd, root, "320", "N", &fd, NULL, &err), 0);
    assert_int_equal (stat (p, &st), 0);
    assert_true (st.st_size < 100);
    lockfile_unlock (dfd, "320", fd);
  }
  close (dfd);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_parse),
    cmocka_unit_test (test_holder_text),
    cmocka_unit_test_setup_teardown (test_lock_unlock, setup, teardown),
    cmocka_unit_test_setup_teardown (test_hostile_files, setup, teardown),
  };
  return cmocka_run_group_tests_name ("lockfile", tests, NULL, NULL);
}
