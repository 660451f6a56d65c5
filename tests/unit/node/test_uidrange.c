/* Unit tests for node/sandbox/uidrange: validity of a range, the uids never
 * handed out, round-robin allocation, exhaustion, release, the /proc scan
 * (on a fake /proc written by the test), and the block allocator on real
 * lock files in a temp dir: two allocators of one process stand for two
 * nodes (OFD locks of two open file descriptions conflict even within one
 * process), a forked child for a node that dies, fake /proc entries for
 * processes left by a crashed node. */
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
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node/sandbox/uidrange.h"

struct dirs {
  char root[64];
  char locks[96];
  char proc[96];
};

static int
setup (void **state)
{
  struct dirs *d = calloc (1, sizeof *d);
  snprintf (d->root, sizeof d->root, "/tmp/nexc-uidrange-XXXXXX");
  assert_non_null (mkdtemp (d->root));
  snprintf (d->locks, sizeof d->locks, "%s/locks", d->root);
  snprintf (d->proc, sizeof d->proc, "%s/proc", d->root);
  assert_int_equal (mkdir (d->proc, 0755), 0);
  *state = d;
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
  struct dirs *d = *state;
  nftw (d->root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  free (d);
  return 0;
}

static void
init (struct uidrange *r, const struct dirs *d, uint32_t start, uint32_t count, uint32_t own,
      const char *who)
{
  struct nxerr err = { 0 };
  struct uidrange_opts o = { .start = start, .count = count, .own_uid = own,
                             .lock_dir = d->locks, .proc_dir = d->proc, .who = who };
  if (uidrange_init (r, &o, &err) < 0)
    fail_msg ("uidrange_init: %s", err.msg);
}

static uint32_t
alloc (struct uidrange *r)
{
  struct nxerr err = { 0 };
  uint32_t u = 0;
  if (uidrange_alloc (r, &u, &err) < 0)
    fail_msg ("uidrange_alloc: %s", err.msg);
  return u;
}

static bool
lock_file_exists (const struct dirs *d, uint32_t start)
{
  char p[160];
  snprintf (p, sizeof p, "%s/%u", d->locks, start);
  return access (p, F_OK) == 0;
}

static void
lock_file_saying (const struct dirs *d, uint32_t start, const char *text)
{
  char p[160];
  FILE *f;
  mkdir (d->locks, 0700);
  snprintf (p, sizeof p, "%s/%u", d->locks, start);
  f = fopen (p, "w");
  assert_non_null (f);
  fputs (text, f);
  fclose (f);
  assert_int_equal (chmod (p, 0600), 0);
}

static bool
lock_file_says (const struct dirs *d, uint32_t start, const char *what)
{
  char p[160], buf[128] = "";
  FILE *f;
  snprintf (p, sizeof p, "%s/%u", d->locks, start);
  f = fopen (p, "r");
  if (f == NULL)
    return false;
  if (fgets (buf, sizeof buf, f) == NULL)
    buf[0] = '\0';
  fclose (f);
  return strstr (buf, what) != NULL;
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
unfake_proc (const char *root, const char *pid)
{
  char p[512];
  snprintf (p, sizeof p, "%s/%s/status", root, pid);
  assert_int_equal (unlink (p), 0);
  snprintf (p, sizeof p, "%s/%s", root, pid);
  assert_int_equal (rmdir (p), 0);
}

/* ---- the range ---- */

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
  /* 1000-1002 is the tail of block 960-1023: only its part in the range. */
  init (&r, *state, 1000, 3, 0, "NTEST");
  assert_int_equal (uidrange_available (&r), 0); /* no block held yet */
  a = alloc (&r);
  b = alloc (&r);
  assert_int_equal (a, 1000);
  assert_int_equal (b, 1001);
  assert_int_equal (uidrange_available (&r), 1);
  uidrange_release (&r, a);
  /* The next one is the one not used yet, not the one just released. */
  c = alloc (&r);
  assert_int_equal (c, 1002);
  d = alloc (&r);
  assert_int_equal (d, 1000);
  assert_int_equal (r.in_use, 3);
  /* Exhausted. */
  assert_int_equal (uidrange_alloc (&r, &d, &err), -1);
  assert_int_equal (err.code, ENOSPC);
  assert_non_null (strstr (err.msg, "uid_range 1000-1002 (1 block of 64): no free uid"));
  assert_non_null (strstr (err.msg, "this node holds 1 block (3 uids in use)"));
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
  struct dirs *dd = *state;
  struct uidrange r;
  struct nxerr err = { 0 };
  struct uidrange_opts o = { .start = 4242, .count = 1, .own_uid = 4242, .lock_dir = dd->locks,
                             .proc_dir = dd->proc };
  uint32_t u;
  /* The node's own uid and nobody (65534) are inside: skipped. The range
   * spans two blocks (65472-65535 and 65536-65599). */
  init (&r, dd, 65530, 10, 65531, "NTEST");
  for (int i = 0; i < 8; i++)
    {
      u = alloc (&r);
      assert_true (u != 65531 && u != 65534);
      assert_true (uidrange_contains (&r, u));
    }
  assert_int_equal (r.held, 2);
  assert_int_equal (uidrange_alloc (&r, &u, &err), -1);
  /* Releasing a reserved uid does not make it free. */
  uidrange_release (&r, 65531);
  assert_int_equal (uidrange_alloc (&r, &u, &err), -1);
  uidrange_free (&r);
  /* A range holding only the node's uid is refused. */
  assert_int_equal (uidrange_init (&r, &o, &err), -1);
  assert_non_null (strstr (err.msg, "node's own uid"));
}

static void
test_scan_proc (void **state)
{
  struct dirs *d = *state;
  const char *root = d->proc;
  int pids[4];
  uint32_t uids[4];
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
}

/* ---- blocks ---- */

/* Two nodes on one range: each gets blocks of its own, lowest first; the
 * exhausted one names the other. */
static void
test_two_nodes (void **state)
{
  struct dirs *d = *state;
  struct uidrange a, b;
  struct nxerr err = { 0 };
  uint32_t u, starts[8];
  char text[256], p[160];
  int fd;
  ssize_t n;
  init (&a, d, 200000, 256, 0, "NODEA");
  init (&b, d, 200000, 256, 0, "NODEB");
  assert_int_equal (alloc (&a), 200000);
  assert_int_equal (alloc (&b), 200064);
  /* The lock file names its holder. */
  snprintf (p, sizeof p, "%s/200064", d->locks);
  fd = open (p, O_RDONLY);
  assert_true (fd >= 0);
  n = read (fd, text, sizeof text - 1);
  close (fd);
  assert_true (n > 0);
  text[n] = '\0';
  snprintf (p, sizeof p, "node NODEB\npid %d\n", (int) getpid ());
  assert_string_equal (text, p);
  /* a fills its block, then takes the next free one: past b's. */
  for (int i = 1; i < 64; i++)
    assert_true (alloc (&a) < 200064);
  assert_int_equal (alloc (&a), 200128);
  assert_int_equal (uidrange_held (&a, starts, 8), 2);
  assert_int_equal (starts[0], 200000);
  assert_int_equal (starts[1], 200128);
  /* The last block goes to b; a runs out and says who holds what. */
  for (int i = 1; i < 64; i++)
    assert_true (alloc (&b) < 200128);
  assert_int_equal (alloc (&b), 200192);
  while (uidrange_available (&a) > 0)
    alloc (&a);
  assert_int_equal (uidrange_alloc (&a, &u, &err), -1);
  assert_int_equal (err.code, ENOSPC);
  assert_non_null (strstr (err.msg, "uid_range 200000-200255 (4 blocks of 64): no free uid"));
  assert_non_null (strstr (err.msg, "this node holds 2 blocks (128 uids in use)"));
  snprintf (p, sizeof p, "2 blocks held by other nodes (200064-200127 by node NODEB (pid %d), "
                         "200192-200255 by node NODEB (pid %d))",
            (int) getpid (), (int) getpid ());
  if (strstr (err.msg, p) == NULL)
    fail_msg ("message: %s", err.msg);
  uidrange_free (&a);
  uidrange_free (&b);
  /* Given back: the files are gone. */
  assert_false (lock_file_exists (d, 200000));
  assert_false (lock_file_exists (d, 200064));
}

/* A block goes back when its last uid does and another held one is empty
 * too: one empty block stays (the floor), and a load at a block boundary
 * does not take and give back a block each time. */
static void
test_give_back_and_floor (void **state)
{
  struct dirs *d = *state;
  struct uidrange r;
  uint32_t v[70], u;
  init (&r, d, 200000, 1024, 0, "NODEA");
  for (int i = 0; i < 70; i++)
    v[i] = alloc (&r);
  assert_int_equal (r.held, 2);
  assert_true (lock_file_exists (d, 200064));
  /* The first block empties: the second has users, the first stays. */
  for (int i = 0; i < 64; i++)
    uidrange_release (&r, v[i]);
  assert_int_equal (r.held, 2);
  assert_true (lock_file_exists (d, 200000));
  /* The second empties too: it goes back, the first is the floor. */
  for (int i = 64; i < 70; i++)
    uidrange_release (&r, v[i]);
  assert_int_equal (r.in_use, 0);
  assert_int_equal (r.held, 1);
  assert_true (lock_file_exists (d, 200000));
  assert_false (lock_file_exists (d, 200064));
  /* At the boundary: the 65th uid takes a block, its release keeps it, the
   * next 65th uid comes from it again without a new lock. */
  for (int i = 0; i < 64; i++)
    v[i] = alloc (&r);
  u = alloc (&r);
  assert_true (u >= 200064 && u < 200128);
  uidrange_release (&r, u);
  assert_int_equal (r.held, 2);
  u = alloc (&r);
  assert_true (u >= 200064 && u < 200128);
  assert_int_equal (r.held, 2);
  uidrange_free (&r);
  assert_false (lock_file_exists (d, 200000));
  assert_false (lock_file_exists (d, 200064));
}

/* A node that dies frees its blocks: no unlock, no cleanup, the kernel
 * drops the lock; the stale file is taken over. */
static void
test_dead_holder (void **state)
{
  struct dirs *d = *state;
  struct uidrange r;
  int p[2];
  char c;
  pid_t child;
  assert_int_equal (pipe (p), 0);
  child = fork ();
  assert_true (child >= 0);
  if (child == 0)
    {
      struct uidrange cr;
      struct nxerr err = { 0 };
      struct uidrange_opts o = { .start = 200000, .count = 128, .lock_dir = d->locks,
                                 .proc_dir = d->proc, .who = "NDEAD" };
      uint32_t u;
      if (uidrange_init (&cr, &o, &err) < 0 || uidrange_alloc (&cr, &u, &err) < 0
          || write (p[1], "x", 1) != 1)
        _exit (1);
      pause ();
      _exit (0);
    }
  assert_int_equal (read (p[0], &c, 1), 1);
  init (&r, d, 200000, 128, 0, "NODEA");
  assert_int_equal (alloc (&r), 200064); /* 200000 is the child's */
  kill (child, SIGKILL);
  waitpid (child, NULL, 0);
  assert_true (lock_file_exists (d, 200000)); /* left behind... */
  for (int i = 1; i < 64; i++)
    alloc (&r);
  assert_int_equal (alloc (&r), 200000); /* ...and free */
  uidrange_free (&r);
  close (p[0]);
  close (p[1]);
}

/* Processes running with a block's ids that no lock covers (a crashed
 * node's workloads): the block is skipped, never handed out. */
static void
test_stale_processes (void **state)
{
  struct dirs *d = *state;
  struct uidrange r;
  struct nxerr err = { 0 };
  uint32_t u;
  fake_proc (d->proc, "4242", "200010\t200010\t200010\t200010", "200010\t200010\t200010\t200010");
  fake_proc (d->proc, "4343", "0\t0\t0\t0", "0\t0\t0\t200130"); /* a gid counts too */
  init (&r, d, 200000, 256, 0, "NODEA");
  assert_int_equal (alloc (&r), 200064);
  assert_non_null (strstr (r.note, "pid 4242 runs as uid 200010"));
  assert_false (lock_file_exists (d, 200000)); /* let go at once */
  for (int i = 1; i < 64; i++)
    alloc (&r);
  assert_int_equal (alloc (&r), 200192); /* 200128 is skipped too */
  uidrange_free (&r);
  /* Nothing else: exhausted, and the message says why. */
  init (&r, d, 200000, 64, 0, "NODEA");
  assert_int_equal (uidrange_alloc (&r, &u, &err), -1);
  assert_non_null (strstr (err.msg, "this node holds none; 1 busy with processes no node "
                                    "accounts for (pid 4242 runs as uid 200010)"));
  uidrange_free (&r);
}

/* A crashed node's block, busy with its survivors: another node that tries
 * it gives it back as it found it, the file still naming the crashed node
 * (before, the attempt removed it, and with it who the uids belong to). */
static void
test_busy_block_keeps_its_file (void **state)
{
  struct dirs *d = *state;
  struct uidrange r;
  lock_file_saying (d, 200000, "node NCRASHED, pid 99999\n");
  fake_proc (d->proc, "4242", "200010\t200010\t200010\t200010", "200010\t200010\t200010\t200010");
  init (&r, d, 200000, 128, 0, "NODEA");
  assert_int_equal (alloc (&r), 200064);
  assert_true (lock_file_says (d, 200000, "NCRASHED"));
  uidrange_free (&r);
}

/* A restarted node adopts its reattached sandboxes' uids and blocks. */
static void
test_adopt_and_settle (void **state)
{
  struct dirs *d = *state;
  struct uidrange r, other;
  struct nxerr err = { 0 };
  char note[256];
  init (&r, d, 200000, 256, 0, "NODEA");
  init (&other, d, 200000, 256, 0, "NODEB");
  assert_int_equal (uidrange_adopt (&r, 200070, &err), 0);
  assert_int_equal (r.held, 1);
  assert_true (lock_file_exists (d, 200064));
  /* Twice, or outside the range: refused. */
  assert_int_equal (uidrange_adopt (&r, 200070, &err), -1);
  assert_int_equal (uidrange_adopt (&r, 5, &err), -1);
  /* The adopted sandbox's own process is no reason to worry. */
  fake_proc (d->proc, "500", "200070\t200070\t200070\t200070", "200070\t200070\t200070\t200070");
  assert_int_equal (uidrange_settle (&r, 0, note, sizeof note), 0);
  /* Another process with an id of the block, which r never handed out: the
   * block serves its adopted sandboxes only. */
  fake_proc (d->proc, "501", "200071\t200071\t200071\t200071", "0\t0\t0\t0");
  assert_int_equal (uidrange_settle (&r, 120, note, sizeof note), 1);
  assert_non_null (strstr (note, "pid 501 runs as uid 200071"));
  assert_int_equal (uidrange_available (&r), 0);
  assert_int_equal (alloc (&r), 200000);
  /* Its last sandbox gone, such a block goes back. */
  uidrange_release (&r, 200070);
  assert_false (lock_file_exists (d, 200064));
  assert_int_equal (r.held, 1);
  /* A sandbox whose block another node took meanwhile (its processes gone):
   * adopted, its uid never handed out here. */
  unfake_proc (d->proc, "500");
  unfake_proc (d->proc, "501");
  assert_int_equal (alloc (&other), 200064);
  assert_int_equal (uidrange_adopt (&r, 200100, &err), 1);
  assert_non_null (strstr (err.msg, "held by node NODEB"));
  for (int i = 1; i < 64; i++)
    assert_true (alloc (&r) < 200064);
  assert_int_equal (alloc (&r), 200128);
  uidrange_release (&r, 200100);
  uidrange_free (&r);
  uidrange_free (&other);
}

/* Garbage in the lock dir is skipped with a reason, never a crash. */
static void
test_garbage_lock_files (void **state)
{
  struct dirs *d = *state;
  struct uidrange r;
  char p[160], junk[10000];
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
  int fd, held;
  init (&r, d, 200000, 320, 0, "NODEA"); /* makes the lock dir */
  snprintf (p, sizeof p, "%s/200000", d->locks);
  assert_int_equal (mkdir (p, 0700), 0);            /* a directory */
  snprintf (p, sizeof p, "%s/200064", d->locks);
  assert_int_equal (symlink ("/etc/passwd", p), 0); /* a symlink */
  snprintf (p, sizeof p, "%s/200128", d->locks);
  assert_int_equal (mkfifo (p, 0600), 0);           /* a fifo */
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (char) (i * 131 + 7);
  /* 200192: held by someone whose file is binary junk. */
  snprintf (p, sizeof p, "%s/200192", d->locks);
  held = open (p, O_RDWR | O_CREAT, 0600);
  assert_true (held >= 0);
  assert_int_equal (write (held, junk, sizeof junk), (ssize_t) sizeof junk);
  assert_int_equal (fcntl (held, F_OFD_SETLK, &fl), 0);
  /* 200256: free junk, taken over and rewritten. */
  snprintf (p, sizeof p, "%s/200256", d->locks);
  fd = open (p, O_RDWR | O_CREAT, 0600);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, junk, sizeof junk), (ssize_t) sizeof junk);
  close (fd);
  assert_int_equal (alloc (&r), 200256);
  assert_non_null (strstr (r.note, "1 block held by another node (200192-200255 by an unknown holder)"));
  assert_non_null (strstr (r.note, "3 not usable"));
  assert_non_null (strstr (r.note, "not a regular file"));
  {
    struct stat st;
    assert_int_equal (stat (p, &st), 0);
    assert_true (st.st_size < 100);
  }
  uidrange_free (&r);
  close (held);
}

/* A node restarted after a crash finds the files of its previous run: the
 * lowest block whose processes are gone is its own again (before, a block
 * still busy for a moment with the dying agents of that run was passed
 * over for another, and its file named the node for good), the other free
 * ones are removed, one still busy after the wait stays, naming the node,
 * and other nodes' files are not touched. */
static void
test_reclaim_previous_run (void **state)
{
  struct dirs *d = *state;
  struct uidrange r;
  pid_t child;
  lock_file_saying (d, 200128, "node NODEA\npid 99999\n");
  lock_file_saying (d, 200192, "node NODEA\npid 99999\n");
  lock_file_saying (d, 200256, "node NODEA\npid 99999\n");
  lock_file_saying (d, 200320, "node NODEA\npid 99999\n");
  lock_file_saying (d, 200384, "node NOTHER\npid 99998\n");
  /* 200128: its dying agent goes 150 ms into the wait; 200320: stays. */
  fake_proc (d->proc, "4242", "200130\t200130\t200130\t200130", "200130\t200130\t200130\t200130");
  fake_proc (d->proc, "4343", "200330\t200330\t200330\t200330", "200330\t200330\t200330\t200330");
  child = fork ();
  assert_true (child >= 0);
  if (child == 0)
    {
      usleep (150 * 1000);
      unfake_proc (d->proc, "4242");
      _exit (0);
    }
  init (&r, d, 200000, 512, 0, "NODEA");
  assert_int_equal (uidrange_reclaim (&r, 600), 1);
  assert_int_equal (waitpid (child, NULL, 0), child);
  /* 200000 and 200064 are free and lower: the node's own block comes first. */
  assert_int_equal (alloc (&r) / UIDBLOCK_SIZE * UIDBLOCK_SIZE, 200128);
  assert_true (lock_file_says (d, 200128, "node NODEA"));
  assert_false (lock_file_exists (d, 200192));
  assert_false (lock_file_exists (d, 200256));
  assert_true (lock_file_says (d, 200320, "node NODEA"));
  assert_true (lock_file_says (d, 200384, "node NOTHER"));
  uidrange_free (&r);
  assert_false (lock_file_exists (d, 200128));
  /* Nothing of its own left: nothing taken back, nothing waited for. */
  init (&r, d, 200000, 512, 0, "NODEB");
  assert_int_equal (uidrange_reclaim (&r, 600), 0);
  assert_true (lock_file_says (d, 200320, "node NODEA"));
  uidrange_free (&r);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_check),
    cmocka_unit_test_setup_teardown (test_alloc_release_round_robin, setup, teardown),
    cmocka_unit_test_setup_teardown (test_never_handed_out, setup, teardown),
    cmocka_unit_test_setup_teardown (test_scan_proc, setup, teardown),
    cmocka_unit_test_setup_teardown (test_two_nodes, setup, teardown),
    cmocka_unit_test_setup_teardown (test_give_back_and_floor, setup, teardown),
    cmocka_unit_test_setup_teardown (test_dead_holder, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stale_processes, setup, teardown),
    cmocka_unit_test_setup_teardown (test_busy_block_keeps_its_file, setup, teardown),
    cmocka_unit_test_setup_teardown (test_adopt_and_settle, setup, teardown),
    cmocka_unit_test_setup_teardown (test_garbage_lock_files, setup, teardown),
    cmocka_unit_test_setup_teardown (test_reclaim_previous_run, setup, teardown),
  };
  return cmocka_run_group_tests_name ("uidrange", tests, NULL, NULL);
}
