/* test_output: agent/output.c, cutting workload output into Log lines.
 * The agent's sources are not in a library the unit tests link, so the
 * modules under test are compiled in directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "agent/logring.c"
#include "agent/output.c"

#define MS 1000000ull

struct fixture {
  struct log_ring ring;
  struct output out;
};

static int
setup (void **state)
{
  static struct fixture f; /* the line buffer is large */
  log_ring_init (&f.ring, 1000, 1 << 22);
  output_init (&f.out, -1, NEXC__AGENT__LOG__STREAM__STDERR);
  *state = &f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  output_close (&f->out);
  log_ring_free (&f->ring);
  return 0;
}

static void
feed (struct fixture *f, const char *s, uint64_t now)
{
  output_feed (&f->out, &f->ring, s, strlen (s), now);
}

/* Pop the next line and compare it. */
static void
expect_line (struct fixture *f, const char *s)
{
  const struct log_line *l = log_ring_peek (&f->ring);
  assert_non_null (l);
  assert_int_equal (l->stream, NEXC__AGENT__LOG__STREAM__STDERR);
  assert_int_equal (l->len, strlen (s));
  assert_memory_equal (l->data, s, l->len);
  log_ring_pop_sent (&f->ring, 1);
}

static void
expect_none (struct fixture *f)
{
  assert_null (log_ring_peek (&f->ring));
}

static void
test_lines (void **state)
{
  struct fixture *f = *state;
  feed (f, "one\ntwo\n\nthree\n", 1);
  expect_line (f, "one");
  expect_line (f, "two");
  expect_line (f, "");
  expect_line (f, "three");
  expect_none (f);
  assert_int_equal (output_deadline (&f->out, &f->ring), 0);
}

static void
test_line_across_reads (void **state)
{
  struct fixture *f = *state;
  feed (f, "hel", 10 * MS);
  expect_none (f);
  assert_int_equal (output_deadline (&f->out, &f->ring), 10 * MS + AGENT_PARTIAL_FLUSH_MS * MS);
  feed (f, "lo wor", 50 * MS);
  /* The deadline counts from the first byte, not the latest. */
  assert_int_equal (output_deadline (&f->out, &f->ring), 10 * MS + AGENT_PARTIAL_FLUSH_MS * MS);
  feed (f, "ld\nnext", 60 * MS);
  expect_line (f, "hello world");
  expect_none (f);
  assert_int_equal (output_deadline (&f->out, &f->ring), 60 * MS + AGENT_PARTIAL_FLUSH_MS * MS);
}

static void
test_partial_flush (void **state)
{
  struct fixture *f = *state;
  feed (f, "prompt> ", 0 + 1);
  output_tick (&f->out, &f->ring, 50 * MS, false);
  expect_none (f); /* too young */
  output_tick (&f->out, &f->ring, AGENT_PARTIAL_FLUSH_MS * MS + 1, false);
  expect_line (f, "prompt> ");
  /* The newline that ends the flushed line adds no empty line ... */
  feed (f, "\n", 200 * MS);
  expect_none (f);
  /* ... but a later empty line is one. */
  feed (f, "\n", 201 * MS);
  expect_line (f, "");
  /* More text after a flush, then the newline. */
  feed (f, "abc", 300 * MS);
  output_tick (&f->out, &f->ring, 500 * MS, false);
  feed (f, "def\n", 600 * MS);
  expect_line (f, "abc");
  expect_line (f, "def");
  expect_none (f);
}

static void
test_long_lines_chunked (void **state)
{
  struct fixture *f = *state;
  static char big[3 * FRAME_LOG_TEXT_MAX + 10];
  const struct log_line *l;
  memset (big, 'x', sizeof big);
  /* Exactly one Log text, then a newline: one line, no empty tail. */
  output_feed (&f->out, &f->ring, big, FRAME_LOG_TEXT_MAX, 1);
  feed (f, "\n", 1);
  l = log_ring_peek (&f->ring);
  assert_int_equal (l->len, FRAME_LOG_TEXT_MAX);
  log_ring_pop_sent (&f->ring, 1);
  expect_none (f);
  /* One byte more: a full chunk, then the byte. */
  output_feed (&f->out, &f->ring, big, FRAME_LOG_TEXT_MAX + 1, 1);
  l = log_ring_peek (&f->ring);
  assert_int_equal (l->len, FRAME_LOG_TEXT_MAX);
  log_ring_pop_sent (&f->ring, 1);
  expect_none (f);
  feed (f, "\n", 1);
  expect_line (f, "x");
  /* 3 chunks and a bit, fed in odd pieces. */
  output_feed (&f->out, &f->ring, big, 1000, 1);
  output_feed (&f->out, &f->ring, big, sizeof big - 1000, 1);
  feed (f, "\nend\n", 1);
  for (int i = 0; i < 3; i++)
    {
      l = log_ring_peek (&f->ring);
      assert_int_equal (l->len, FRAME_LOG_TEXT_MAX);
      log_ring_pop_sent (&f->ring, 1);
    }
  expect_line (f, "xxxxxxxxxx");
  expect_line (f, "end");
  expect_none (f);
}

static void
test_read_pipe_to_eof (void **state)
{
  struct fixture *f = *state;
  int p[2];
  assert_int_equal (pipe2 (p, O_CLOEXEC | O_NONBLOCK), 0);
  output_init (&f->out, p[0], NEXC__AGENT__LOG__STREAM__STDERR);
  assert_int_equal (output_read (&f->out, &f->ring, 1), 0); /* nothing yet */
  assert_int_equal (write (p[1], "a\nb\nlast", 8), 8);
  assert_int_equal (output_read (&f->out, &f->ring, 1), 1);
  expect_line (f, "a");
  expect_line (f, "b");
  expect_none (f);
  close (p[1]);
  /* EOF flushes the unterminated last line and closes the pipe. */
  assert_int_equal (output_read (&f->out, &f->ring, 2), -1);
  expect_line (f, "last");
  assert_int_equal (f->out.fd, -1);
  assert_int_equal (output_read (&f->out, &f->ring, 3), -1);
  expect_none (f);
}

/* BLOCK: a full ring stops the cut; the bytes not taken are left for
 * later, and nothing is lost or split. */
static void
test_block_keeps_input (void **state)
{
  struct fixture *f = *state;
  const char *in = "one\ntwo\nthree\n";
  size_t took;
  log_ring_free (&f->ring);
  log_ring_init (&f->ring, 2, 1 << 20);
  log_ring_configure (&f->ring, LOG_ON_FULL_BLOCK, 1, false);
  took = output_feed (&f->out, &f->ring, in, strlen (in), 0);
  assert_int_equal (took, strlen ("one\ntwo\n"));
  assert_int_equal (f->ring.count, 2);
  /* A partial line is not flushed while the ring is full. */
  output_feed (&f->out, &f->ring, "par", 3, 0);
  assert_int_equal (output_deadline (&f->out, &f->ring), 0);
  output_tick (&f->out, &f->ring, 1000 * MS, false);
  assert_int_equal (f->ring.count, 2);
  expect_line (f, "one");
  expect_line (f, "two");
  took = output_feed (&f->out, &f->ring, in + 8, strlen (in) - 8, 0);
  assert_int_equal (took, strlen ("three\n"));
  expect_line (f, "parthree");
  assert_int_equal (f->ring.total_dropped, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown (fn, setup, teardown)

int
main (void)
{
  const struct CMUnitTest tests[] = {
    T (test_lines),
    T (test_block_keeps_input),
    T (test_line_across_reads),
    T (test_partial_flush),
    T (test_long_lines_chunked),
    T (test_read_pipe_to_eof),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
