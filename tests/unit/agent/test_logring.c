/* test_logring: agent/logring.c, the bounded line queue with drop counting.
 * The agent's sources are not in a library the unit tests link, so the one
 * module under test is compiled in directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "agent/logring.c"

static void
push_str (struct log_ring *r, int stream, const char *s)
{
  log_ring_push (r, stream, s, strlen (s));
}

static void
expect_front (struct log_ring *r, int stream, const char *s)
{
  const struct log_line *l = log_ring_peek (r);
  assert_non_null (l);
  assert_int_equal (l->stream, stream);
  assert_int_equal (l->len, strlen (s));
  assert_memory_equal (l->data, s, l->len);
}

static void
test_fifo (void **state)
{
  struct log_ring r;
  (void) state;
  log_ring_init (&r, 8, 1024);
  assert_null (log_ring_peek (&r));
  push_str (&r, 1, "a");
  push_str (&r, 2, "bb");
  push_str (&r, 1, ""); /* an empty line is a line */
  assert_int_equal (r.count, 3);
  assert_int_equal (r.bytes, 3);
  expect_front (&r, 1, "a");
  log_ring_pop_sent (&r, 1);
  expect_front (&r, 2, "bb");
  log_ring_pop_sent (&r, 1);
  expect_front (&r, 1, "");
  log_ring_pop_sent (&r, 1);
  assert_null (log_ring_peek (&r));
  log_ring_pop_sent (&r, 1); /* harmless when empty */
  assert_int_equal (r.total_dropped, 0);
  log_ring_free (&r);
}

static void
test_line_cap_drops_oldest (void **state)
{
  struct log_ring r;
  char s[16];
  (void) state;
  log_ring_init (&r, 4, 1 << 20);
  for (int i = 0; i < 10; i++)
    {
      snprintf (s, sizeof s, "%d", i);
      push_str (&r, 1, s);
    }
  assert_int_equal (r.count, 4);
  assert_int_equal (r.pending_dropped, 6);
  assert_int_equal (r.total_dropped, 6);
  expect_front (&r, 1, "6"); /* the newest four survive */
  /* The next Log that gets through carries the count; then it restarts. */
  log_ring_pop_sent (&r, 1);
  assert_int_equal (r.pending_dropped, 0);
  assert_int_equal (r.total_dropped, 6);
  push_str (&r, 1, "10");
  push_str (&r, 1, "11");
  assert_int_equal (r.pending_dropped, 1);
  assert_int_equal (r.total_dropped, 7);
  expect_front (&r, 1, "8");
  log_ring_free (&r);
}

static void
test_byte_cap_drops_oldest (void **state)
{
  struct log_ring r;
  char big[600];
  (void) state;
  memset (big, 'x', sizeof big);
  log_ring_init (&r, 100, 1000);
  push_str (&r, 1, "first");
  log_ring_push (&r, 2, big, sizeof big);
  assert_int_equal (r.count, 2);
  /* 5 + 600 + 600 > 1000: both older lines must go. */
  log_ring_push (&r, 1, big, sizeof big);
  assert_int_equal (r.count, 1);
  assert_int_equal (r.bytes, 600);
  assert_int_equal (r.total_dropped, 2);
  log_ring_free (&r);
  /* A line larger than the whole budget is counted, not stored. */
  log_ring_init (&r, 10, 100);
  log_ring_push (&r, 1, big, sizeof big);
  assert_int_equal (r.count, 0);
  assert_int_equal (r.total_dropped, 1);
  log_ring_free (&r);
}

static void
test_discard_and_wrap (void **state)
{
  struct log_ring r;
  char s[16];
  (void) state;
  log_ring_init (&r, 3, 1 << 20);
  /* Wrap the indices around several times. */
  for (int i = 0; i < 20; i++)
    {
      snprintf (s, sizeof s, "%d", i);
      push_str (&r, 1, s);
      expect_front (&r, 1, s);
      log_ring_pop_sent (&r, 1);
    }
  assert_int_equal (r.total_dropped, 0);
  push_str (&r, 1, "a");
  push_str (&r, 1, "b");
  log_ring_discard (&r);
  assert_int_equal (r.count, 0);
  assert_int_equal (r.bytes, 0);
  assert_int_equal (r.total_dropped, 2);
  log_ring_free (&r);
}

/* The link reads a batch with log_ring_at and removes it with one
 * log_ring_pop_sent, across the wrap of the slots; the drops reported with
 * the batch restart at zero, the total stays. */
static void
test_batch_at_and_pop (void **state)
{
  struct log_ring r;
  char s[16];
  (void) state;
  log_ring_init (&r, 4, 1 << 20);
  for (int i = 0; i < 6; i++) /* 0 and 1 dropped; 2..5 queued, wrapped */
    {
      snprintf (s, sizeof s, "%d", i);
      push_str (&r, i % 2 ? 2 : 1, s);
    }
  assert_int_equal (r.pending_dropped, 2);
  for (size_t i = 0; i < 4; i++)
    {
      const struct log_line *l = log_ring_at (&r, i);
      snprintf (s, sizeof s, "%zu", i + 2);
      assert_non_null (l);
      assert_int_equal (l->stream, i % 2 ? 2 : 1);
      assert_int_equal (l->len, strlen (s));
      assert_memory_equal (l->data, s, l->len);
    }
  assert_null (log_ring_at (&r, 4));
  log_ring_pop_sent (&r, 3);
  assert_int_equal (r.count, 1);
  assert_int_equal (r.bytes, 1);
  assert_int_equal (r.pending_dropped, 0);
  assert_int_equal (r.total_dropped, 2);
  expect_front (&r, 2, "5");
  log_ring_pop_sent (&r, 0); /* nothing sent: nothing changes */
  assert_int_equal (r.count, 1);
  log_ring_pop_sent (&r, 10); /* at most what is queued */
  assert_int_equal (r.count, 0);
  assert_int_equal (r.bytes, 0);
  log_ring_free (&r);
}

/* BLOCK: the ring never drops; room says when to stop taking lines, and a
 * forced push may use the slack. Numbers go on from the configured first. */
static void
test_block_policy (void **state)
{
  struct log_ring r;
  (void) state;
  log_ring_init (&r, 3, 1 << 20);
  log_ring_configure (&r, LOG_ON_FULL_BLOCK, 41, false);
  for (int i = 0; i < 3; i++)
    {
      assert_true (log_ring_room (&r, 1));
      push_str (&r, 1, "x");
    }
  assert_false (log_ring_room (&r, 1));
  push_str (&r, 1, "forced"); /* the last partial line at EOF */
  push_str (&r, 1, "forced2");
  assert_int_equal (r.count, 3 + LOG_RING_SLACK);
  assert_int_equal (r.total_dropped, 0);
  assert_int_equal (log_ring_peek (&r)->seq, 41);
  assert_int_equal (log_ring_at (&r, 4)->seq, 45);
  assert_int_equal (r.next_seq, 46);
  /* Past the hard bound, even BLOCK drops (and counts). */
  push_str (&r, 1, "over");
  assert_int_equal (r.total_dropped, 1);
  assert_int_equal (log_ring_resume_seq (&r), 41);
  log_ring_free (&r);
}

/* Drops are a contiguous range right before the first line still held, so
 * the next frame's first_seq - dropped is where the last frame ended. */
static void
test_drop_range (void **state)
{
  struct log_ring r;
  (void) state;
  log_ring_init (&r, 2, 1 << 20);
  for (int i = 0; i < 5; i++)
    push_str (&r, 1, "l"); /* 1..5: 1, 2, 3 dropped */
  assert_int_equal (r.pending_dropped, 3);
  assert_int_equal (log_ring_peek (&r)->seq, 4);
  assert_int_equal (log_ring_resume_seq (&r), 1);
  log_ring_pop_sent (&r, 2);
  assert_int_equal (log_ring_resume_seq (&r), 6);
  log_ring_free (&r);
}

/* Acked: sent lines stay (and count against the limits) until the ack; a
 * rewind makes them unsent again for a new node; an ack past what was sent
 * frees only the sent ones. */
static void
test_acked (void **state)
{
  struct log_ring r;
  (void) state;
  log_ring_init (&r, 4, 1 << 20);
  log_ring_configure (&r, LOG_ON_FULL_BLOCK, 1, true);
  for (int i = 0; i < 4; i++)
    push_str (&r, 1, "a");
  log_ring_pop_sent (&r, 3);
  assert_int_equal (r.count, 4);
  assert_int_equal (log_ring_unsent (&r), 1);
  assert_int_equal (log_ring_peek (&r)->seq, 4);
  assert_false (log_ring_room (&r, 1));
  assert_int_equal (log_ring_ack (&r, 100), 3); /* seq 4 was never sent */
  assert_int_equal (r.count, 1);
  assert_true (log_ring_room (&r, 1));
  push_str (&r, 1, "b");
  log_ring_pop_sent (&r, 2);
  assert_int_equal (log_ring_ack (&r, 4), 1);
  assert_int_equal (log_ring_resume_seq (&r), 5);
  log_ring_rewind (&r); /* the node died before confirming 5 */
  assert_int_equal (log_ring_unsent (&r), 1);
  assert_int_equal (log_ring_peek (&r)->seq, 5);
  assert_int_equal (log_ring_ack (&r, 5), 0); /* not sent to this node yet */
  assert_int_equal (r.total_dropped, 0);
  log_ring_free (&r);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_fifo),
    cmocka_unit_test (test_block_policy),
    cmocka_unit_test (test_drop_range),
    cmocka_unit_test (test_acked),
    cmocka_unit_test (test_line_cap_drops_oldest),
    cmocka_unit_test (test_byte_cap_drops_oldest),
    cmocka_unit_test (test_discard_and_wrap),
    cmocka_unit_test (test_batch_at_and_pop),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
