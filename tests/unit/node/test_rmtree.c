/* Unit tests for node/rmtree: files, nested and empty directories, a
 * symbolic link (removed, never followed), a chain deeper than PATH_MAX
 * allows to name, a plain file, an absent name; no fd left open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/core/rmtree.h"

struct fx {
  char root[64];
  int dirfd;
};

static int
count_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir (d)) != NULL)
    n += e->d_name[0] != '.';
  if (d)
    closedir (d);
  return n;
}

static int
setup (void **state)
{
  struct fx *f = calloc (1, sizeof *f);
  snprintf (f->root, sizeof f->root, "/tmp/nexc-rmtree-XXXXXX");
  if (f == NULL || mkdtemp (f->root) == NULL)
    return -1;
  f->dirfd = open (f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  *state = f;
  return f->dirfd < 0 ? -1 : 0;
}

static int
teardown (void **state)
{
  struct fx *f = *state;
  close (f->dirfd);
  rmdir (f->root);
  free (f);
  return 0;
}

static void
touch_at (int dfd, const char *name)
{
  int fd = openat (dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, "x", 1), 1);
  close (fd);
}

static void
test_tree_with_a_symlink (void **state)
{
  struct fx *f = *state;
  struct nxerr err = { 0 };
  char outside[128];
  int fds = count_fds ();
  int d;
  /* A file outside the tree that a link inside points to: must survive. */
  snprintf (outside, sizeof outside, "%s-outside", f->root);
  assert_int_equal (mkdir (outside, 0700), 0);
  {
    int o = open (outside, O_RDONLY | O_DIRECTORY);
    touch_at (o, "keep");
    close (o);
  }
  assert_int_equal (mkdirat (f->dirfd, "w", 0700), 0);
  d = openat (f->dirfd, "w", O_RDONLY | O_DIRECTORY);
  touch_at (d, "a");
  touch_at (d, "b");
  assert_int_equal (mkdirat (d, "sub", 0700), 0);
  assert_int_equal (mkdirat (d, "empty", 0700), 0);
  assert_int_equal (symlinkat (outside, d, "sub/link"), 0);
  assert_int_equal (mkfifoat (d, "sub/fifo", 0600), 0);
  {
    int s = openat (d, "sub", O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < 300; i++)
      {
        char n[32];
        snprintf (n, sizeof n, "f%d", i);
        touch_at (s, n);
      }
    close (s);
  }
  close (d);
  assert_int_equal (rmtree_at (f->dirfd, "w", &err), 0);
  assert_int_equal (faccessat (f->dirfd, "w", F_OK, AT_SYMLINK_NOFOLLOW), -1);
  {
    char keep[160];
    snprintf (keep, sizeof keep, "%s/keep", outside);
    assert_int_equal (access (keep, F_OK), 0);
    unlink (keep);
    rmdir (outside);
  }
  assert_int_equal (count_fds (), fds);
}

static void
test_deep_chain (void **state)
{
  struct fx *f = *state;
  struct nxerr err = { 0 };
  int depth = 3000; /* 3000 x "d123456789/" is far beyond PATH_MAX */
  int cur = dup (f->dirfd);
  int fds = count_fds () - 1;
  for (int i = 0; i < depth; i++)
    {
      int next;
      assert_int_equal (mkdirat (cur, i == 0 ? "deep" : "d123456789", 0700), 0);
      next = openat (cur, i == 0 ? "deep" : "d123456789", O_RDONLY | O_DIRECTORY);
      assert_true (next >= 0);
      close (cur);
      cur = next;
    }
  touch_at (cur, "bottom");
  close (cur);
  assert_int_equal (rmtree_at (f->dirfd, "deep", &err), 0);
  assert_int_equal (faccessat (f->dirfd, "deep", F_OK, AT_SYMLINK_NOFOLLOW), -1);
  assert_int_equal (count_fds (), fds);
}

static void
test_file_and_absent (void **state)
{
  struct fx *f = *state;
  struct nxerr err = { 0 };
  touch_at (f->dirfd, "plain");
  assert_int_equal (rmtree_at (f->dirfd, "plain", &err), 0);
  assert_int_equal (faccessat (f->dirfd, "plain", F_OK, 0), -1);
  assert_int_equal (rmtree_at (f->dirfd, "absent", &err), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_tree_with_a_symlink, setup, teardown),
    cmocka_unit_test_setup_teardown (test_deep_chain, setup, teardown),
    cmocka_unit_test_setup_teardown (test_file_and_absent, setup, teardown),
  };
  return cmocka_run_group_tests_name ("rmtree", tests, NULL, NULL);
}
