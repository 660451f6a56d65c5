/* The journal: round trips, torn tails, corruption, compaction, hostile bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <sodium.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/state/journal.h"

static char dir[64];

static int
rm (const char *p, const struct stat *s, int f, struct FTW *w)
{
  (void) s;
  (void) f;
  (void) w;
  return remove (p);
}

static int
setup (void **state)
{
  (void) state;
  snprintf (dir, sizeof dir, "/tmp/nexc-journal-XXXXXX");
  assert_non_null (mkdtemp (dir));
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  nftw (dir, rm, 8, FTW_DEPTH | FTW_PHYS);
  return 0;
}

static struct journal_entry
entry (const char *id, uint64_t pid)
{
  struct journal_entry e = { 0 };
  e.id = (char *) id;
  e.ns = (char *) "default";
  e.name = (char *) "ticker";
  e.type = (char *) "native";
  e.hash = (char *) "e0239ed1ff9544afe8173d5afb0c6492d075f6efba83c0ef906221d06b72a8ec";
  e.size = 12345;
  e.request = (char *) "{\"type\":\"native\"}";
  e.agent_pid = pid;
  e.sock = (char *) "/var/lib/nexc/agents/x.sock";
  e.started_ms = 1700000000000ull;
  e.restarts = 2;
  return e;
}

static struct journal *
reopen (struct journal_entry **v, size_t *n, struct buf *note)
{
  struct journal *j = NULL;
  struct nxerr err = { 0 };
  buf_reset (note);
  if (journal_open (dir, &j, v, n, note, &err) < 0)
    fail_msg ("journal_open: %s", err.msg);
  return j;
}

static off_t
file_size (void)
{
  char p[128];
  struct stat st;
  snprintf (p, sizeof p, "%s/journal", dir);
  return stat (p, &st) == 0 ? st.st_size : -1;
}

static void
test_round_trip (void **state)
{
  struct journal_entry *v;
  size_t n;
  struct buf note = BUF_INIT;
  struct nxerr err = { 0 };
  struct journal *j = reopen (&v, &n, &note);
  (void) state;
  assert_int_equal (n, 0);
  struct journal_entry a = entry ("a", 100), b = entry ("b", 200);
  b.autostart = true;
  assert_int_equal (journal_put (j, &a, &err), 0);
  assert_int_equal (journal_put (j, &b, &err), 0);
  a.restarts = 3; /* a put replaces */
  a.log_seq = 1000;
  a.log_limit = 1000 + 65536;
  assert_int_equal (journal_put (j, &a, &err), 0);
  assert_int_equal (journal_del (j, "b", &err), 0);
  assert_int_equal (journal_del (j, "nope", &err), 0);
  journal_close (j);
  j = reopen (&v, &n, &note);
  assert_int_equal (n, 1);
  assert_string_equal (v[0].id, "a");
  assert_int_equal (v[0].restarts, 3);
  assert_int_equal (v[0].agent_pid, 100);
  assert_int_equal (v[0].log_seq, 1000);
  assert_int_equal (v[0].log_limit, 1000 + 65536);
  assert_string_equal (v[0].request, "{\"type\":\"native\"}");
  assert_int_equal (note.len, 0);
  journal_entries_free (v, n);
  journal_close (j);
  buf_free (&note);
}

static void
test_torn_tail_is_dropped (void **state)
{
  struct journal_entry *v;
  size_t n;
  struct buf note = BUF_INIT;
  struct nxerr err = { 0 };
  char p[128];
  (void) state;
  struct journal *j = reopen (&v, &n, &note);
  journal_entries_free (v, n);
  struct journal_entry c = entry ("c", 300);
  assert_int_equal (journal_put (j, &c, &err), 0);
  journal_close (j);
  off_t before = file_size ();
  /* A crash in the middle of the next append: half a record. */
  snprintf (p, sizeof p, "%s/journal", dir);
  int fd = open (p, O_WRONLY | O_APPEND);
  assert_int_equal (write (fd, "\x00\x00\x01\x00garbage", 11), 11);
  close (fd);
  j = reopen (&v, &n, &note);
  assert_non_null (strstr (note.data, "torn"));
  assert_int_equal (file_size (), before); /* truncated back */
  bool found = false;
  for (size_t i = 0; i < n; i++)
    found |= strcmp (v[i].id, "c") == 0;
  assert_true (found);
  journal_entries_free (v, n);
  journal_close (j);
  buf_free (&note);
}

static void
test_corruption_is_moved_aside (void **state)
{
  struct journal_entry *v;
  size_t n;
  struct buf note = BUF_INIT;
  struct nxerr err = { 0 };
  char p[128];
  (void) state;
  struct journal *j = reopen (&v, &n, &note);
  journal_entries_free (v, n);
  struct journal_entry d = entry ("d", 400), e = entry ("e", 500);
  journal_put (j, &d, &err);
  journal_put (j, &e, &err);
  journal_close (j);
  /* Flip a byte inside the first record's body (not the tail). */
  snprintf (p, sizeof p, "%s/journal", dir);
  int fd = open (p, O_RDWR);
  char byte;
  assert_int_equal (pread (fd, &byte, 1, 20), 1);
  byte ^= 0x40;
  assert_int_equal (pwrite (fd, &byte, 1, 20), 1);
  close (fd);
  j = reopen (&v, &n, &note);
  assert_non_null (strstr (note.data, "corrupt"));
  assert_non_null (strstr (note.data, "moved aside"));
  assert_int_equal (n, 0);
  /* The corrupt copy is kept for inspection. */
  DIR *dd = opendir (dir);
  struct dirent *de;
  int aside = 0;
  while ((de = readdir (dd)))
    aside += strncmp (de->d_name, "journal.corrupt-", 16) == 0;
  closedir (dd);
  assert_int_equal (aside, 1);
  /* And the new journal works. */
  assert_int_equal (journal_put (j, &d, &err), 0);
  journal_close (j);
  j = reopen (&v, &n, &note);
  assert_int_equal (n, 1);
  journal_entries_free (v, n);
  journal_close (j);
  buf_free (&note);
}

static void
test_compaction_bounds_the_file (void **state)
{
  struct journal_entry *v;
  size_t n;
  struct buf note = BUF_INIT;
  struct nxerr err = { 0 };
  char id[32];
  (void) state;
  struct journal *j = reopen (&v, &n, &note);
  journal_entries_free (v, n);
  for (int i = 0; i < 20000; i++)
    {
      snprintf (id, sizeof id, "w%d", i);
      struct journal_entry x = entry (id, 1000 + (uint64_t) i);
      assert_int_equal (journal_put (j, &x, &err), 0);
      if (i >= 3)
        {
          snprintf (id, sizeof id, "w%d", i - 3);
          assert_int_equal (journal_del (j, id, &err), 0);
        }
    }
  journal_close (j);
  /* 20000 puts and dels (several MiB written), 3 live: compacted. */
  assert_true (file_size () < JOURNAL_SLACK + 64 * 1024);
  j = reopen (&v, &n, &note);
  size_t live = 0;
  for (size_t i = 0; i < n; i++)
    live += v[i].id[0] == 'w';
  assert_int_equal (live, 3);
  journal_entries_free (v, n);
  journal_close (j);
  buf_free (&note);
}

/* A put whose append compacts the log keeps the entry being put: put one
 * large entry again and again (each put a new version of it) until a put
 * shrinks the file; the reopened journal holds that last version. */
static void
test_put_that_compacts_is_kept (void **state)
{
  struct journal_entry *v;
  size_t n;
  struct buf note = BUF_INIT;
  struct nxerr err = { 0 };
  char *big = malloc (200000);
  int last = -1;
  (void) state;
  memset (big, 'r', 199999);
  big[199999] = '\0';
  struct journal *j = reopen (&v, &n, &note);
  journal_entries_free (v, n);
  struct journal_entry x = entry ("x", 100);
  x.request = big;
  for (int i = 0; i < 200 && last < 0; i++)
    {
      off_t before = file_size ();
      x.restarts = (uint64_t) i;
      assert_int_equal (journal_put (j, &x, &err), 0);
      if (file_size () < before)
        last = i;
    }
  assert_true (last >= 0);
  journal_close (j);
  j = reopen (&v, &n, &note);
  ssize_t found = -1;
  for (size_t i = 0; i < n; i++)
    if (strcmp (v[i].id, "x") == 0)
      found = (ssize_t) i;
  assert_true (found >= 0);
  assert_int_equal (v[found].restarts, last);
  assert_string_equal (v[found].request, big);
  journal_entries_free (v, n);
  journal_close (j);
  buf_free (&note);
  free (big);
}

static struct journal_event
event (const char *id, const char *text)
{
  struct journal_event e;
  e.id = (char *) id;
  e.subject = (char *) "$NEX.events.default.workload_stopped";
  e.data = (uint8_t *) text;
  e.len = strlen (text);
  return e;
}

/* Events put, some deleted (several in one record), survive a reopen in
 * their order, beside the workloads, and through a compaction. */
static void
test_events (void **state)
{
  struct journal_entry *v;
  size_t n;
  struct buf note = BUF_INIT;
  struct nxerr err = { 0 };
  const struct journal_event *ev;
  const char *gone[] = { "e2", "e4", "nope" };
  char id[32], path[128];
  (void) state;
  snprintf (path, sizeof path, "%s/journal", dir);
  unlink (path); /* the group shares the directory: start empty */
  struct journal *j = reopen (&v, &n, &note);
  journal_entries_free (v, n);
  struct journal_entry w = entry ("w1", 4242);
  assert_int_equal (journal_put (j, &w, &err), 0);
  for (int i = 1; i <= 5; i++)
    {
      snprintf (id, sizeof id, "e%d", i);
      struct journal_event e = event (id, i % 2 ? "{\"odd\":true}" : "{\"odd\":false}");
      assert_int_equal (journal_event_put (j, &e, &err), 0);
    }
  assert_int_equal (journal_event_del (j, gone, 3, &err), 0);
  assert_int_equal (journal_events (j, &ev), 3);
  journal_close (j);

  j = reopen (&v, &n, &note);
  assert_int_equal (n, 1);
  assert_string_equal (v[0].id, "w1");
  journal_entries_free (v, n);
  assert_int_equal (journal_events (j, &ev), 3);
  assert_string_equal (ev[0].id, "e1");
  assert_string_equal (ev[1].id, "e3");
  assert_string_equal (ev[2].id, "e5");
  assert_string_equal (ev[2].subject, "$NEX.events.default.workload_stopped");
  assert_int_equal (ev[2].len, strlen ("{\"odd\":true}"));
  assert_memory_equal (ev[2].data, "{\"odd\":true}", ev[2].len);

  /* Churn until the log is rewritten: the three stay, in order. */
  for (int i = 0; i < 20000; i++)
    {
      const char *one[1];
      snprintf (id, sizeof id, "x%d", i);
      struct journal_event e = event (id, "{\"churn\":1}");
      assert_int_equal (journal_event_put (j, &e, &err), 0);
      one[0] = id;
      assert_int_equal (journal_event_del (j, one, 1, &err), 0);
    }
  assert_true (file_size () < JOURNAL_SLACK + 64 * 1024);
  journal_close (j);
  j = reopen (&v, &n, &note);
  journal_entries_free (v, n);
  assert_int_equal (journal_events (j, &ev), 3);
  assert_string_equal (ev[0].id, "e1");
  assert_string_equal (ev[1].id, "e3");
  assert_string_equal (ev[2].id, "e5");
  journal_close (j);
  buf_free (&note);
}

/* A limit below the entry's own last number is no limit: the entry is not
 * taken back (a restarted run could number below what went out). */
static void
test_log_limit_below_seq_is_refused (void **state)
{
  struct journal_entry *v;
  size_t n;
  struct buf note = BUF_INIT;
  struct nxerr err = { 0 };
  struct journal *j = reopen (&v, &n, &note);
  struct journal_entry a = entry ("lim", 100);
  (void) state;
  journal_entries_free (v, n);
  a.log_seq = 5000;
  a.log_limit = 100;
  assert_int_equal (journal_put (j, &a, &err), 0);
  journal_close (j);
  j = reopen (&v, &n, &note);
  for (size_t i = 0; i < n; i++)
    assert_string_not_equal (v[i].id, "lim");
  journal_entries_free (v, n);
  journal_close (j);
  buf_free (&note);
}

static void
test_hostile_images (void **state)
{
  struct journal_entry *v;
  size_t n, good;
  struct nxerr err = { 0 };
  (void) state;
  /* Empty is fine; a huge length is corrupt unless it is the tail. */
  assert_int_equal (journal_parse ((const uint8_t *) "", 0, &v, &n, NULL, NULL, &good, &err), 0);
  const uint8_t big[16] = { 0x7f, 0xff, 0xff, 0xff };
  assert_int_equal (journal_parse (big, sizeof big, &v, &n, NULL, NULL, &good, &err), -1);
  /* A valid frame around CBOR that is not a record. */
  uint8_t img[64] = { 0, 0, 0, 1 };
  img[12] = 0x01; /* the integer 1 */

  crypto_generichash (img + 4, 8, img + 12, 1, NULL, 0); /* the journal's check */
  uint8_t two[26];
  memcpy (two, img, 13);
  memcpy (two + 13, img, 13);
  assert_int_equal (journal_parse (two, sizeof two, &v, &n, NULL, NULL, &good, &err), -1);
  assert_non_null (strstr (err.msg, "corrupt"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_round_trip),
    cmocka_unit_test (test_torn_tail_is_dropped),
    cmocka_unit_test (test_corruption_is_moved_aside),
    cmocka_unit_test (test_compaction_bounds_the_file),
    cmocka_unit_test (test_put_that_compacts_is_kept),
    cmocka_unit_test (test_events),
    cmocka_unit_test (test_hostile_images),
    cmocka_unit_test (test_log_limit_below_seq_is_refused),
  };
  return cmocka_run_group_tests_name ("journal", tests, setup, teardown);
}
