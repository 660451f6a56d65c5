/* outbox_stop_announced: which workloads a dead node's journal already
 * announced the end of (their workload_stopped is its last lifecycle event). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/buf.h"
#include "api/cloudevent.h"
#include "node/bus/outbox.h"
#include "node/state/journal.h"

#define WL_A "dcb4s2mtcdn42ak99pt0"
#define WL_B "dcb4s1tfst8a9g52tpa0"

struct events {
  struct journal_event ev[8];
  struct buf data[8];
  char subject[8][96];
  size_t n;
};

/* One CloudEvent as events.c makes it, journaled as outbox_publish does. */
static void
add (struct events *e, const char *type, const char *source)
{
  struct timespec t = { 1700000000, 0 };
  size_t i = e->n++;
  e->data[i] = (struct buf) BUF_INIT;
  cloudevent_encode (&e->data[i], type, source, t, "{\"workload_name\":\"w\"}", 21, NULL, i + 1);
  snprintf (e->subject[i], sizeof e->subject[i], "$NEX.events.default.%s", type);
  e->ev[i].id = (char *) "id";
  e->ev[i].subject = e->subject[i];
  e->ev[i].data = (uint8_t *) e->data[i].data;
  e->ev[i].len = e->data[i].len;
}

static void
clear (struct events *e)
{
  for (size_t i = 0; i < e->n; i++)
    buf_free (&e->data[i]);
  e->n = 0;
}

static void
test_none (void **state)
{
  (void) state;
  assert_false (outbox_stop_announced (NULL, 0, WL_A));
}

static void
test_last_is_stop (void **state)
{
  struct events e = { .n = 0 };
  (void) state;
  add (&e, "workload_started", WL_A);
  add (&e, "workload_stopped", WL_A);
  add (&e, "node_started", WL_B); /* not a lifecycle event: passed over */
  assert_true (outbox_stop_announced (e.ev, e.n, WL_A));
  assert_false (outbox_stop_announced (e.ev, e.n, WL_B));
  clear (&e);
}

static void
test_restarted_after_stop (void **state)
{
  struct events e = { .n = 0 };
  (void) state;
  /* A restart policy ran it again: the end announced was an earlier run's. */
  add (&e, "workload_stopped", WL_A);
  add (&e, "workload_started", WL_A);
  add (&e, "workload_stopped", WL_B);
  assert_false (outbox_stop_announced (e.ev, e.n, WL_A));
  assert_true (outbox_stop_announced (e.ev, e.n, WL_B));
  clear (&e);
}

static void
test_hostile_bytes (void **state)
{
  struct events e = { .n = 0 };
  (void) state;
  /* A journal's event that is not JSON, or names no source, matches nobody. */
  add (&e, "workload_stopped", WL_A);
  e.ev[0].len = 5;
  add (&e, "workload_stopped", "");
  e.ev[1].subject = (char *) "nodot";
  assert_false (outbox_stop_announced (e.ev, e.n, WL_A));
  assert_false (outbox_stop_announced (e.ev, e.n, ""));
  clear (&e);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_none),
    cmocka_unit_test (test_last_is_stop),
    cmocka_unit_test (test_restarted_after_stop),
    cmocka_unit_test (test_hostile_bytes),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
