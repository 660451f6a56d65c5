/* The control queue's bound (node/control/request.c): past CONTROL_QUEUE_MAX
 * requests or CONTROL_QUEUE_BYTES, ctl_req_new refuses and counts it; every
 * freed request gives its place back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "node/control/request.h"
#include "node/core/node.h"

static void
test_count_bound (void **state)
{
  static struct ctl_req *held[CONTROL_QUEUE_MAX];
  struct node *n = calloc (1, sizeof *n);
  (void) state;
  for (size_t i = 0; i < CONTROL_QUEUE_MAX; i++)
    assert_non_null (held[i] = ctl_req_new (n, 10));
  assert_int_equal (n->ctl_queue.n, CONTROL_QUEUE_MAX);
  assert_null (ctl_req_new (n, 10));
  assert_null (ctl_req_new (n, 0));
  assert_int_equal (n->ctl_queue.refused, 2);
  assert_int_equal (n->ctl_queue.n, CONTROL_QUEUE_MAX); /* refusals hold nothing */
  ctl_req_free (held[0]);
  assert_non_null (held[0] = ctl_req_new (n, 10));
  for (size_t i = 0; i < CONTROL_QUEUE_MAX; i++)
    ctl_req_free (held[i]);
  assert_int_equal (n->ctl_queue.n, 0);
  assert_int_equal (n->ctl_queue.bytes, 0);
  free (n);
}

static void
test_bytes_bound (void **state)
{
  struct ctl_req *held[128];
  size_t k = 0;
  struct node *n = calloc (1, sizeof *n);
  (void) state;
  /* Full-size payloads: the byte bound (64 MiB) comes long before the count. */
  while (k < 128 && (held[k] = ctl_req_new (n, CONTROL_PAYLOAD_MAX)) != NULL)
    k++;
  assert_true (k < 128);
  assert_true (k >= CONTROL_QUEUE_BYTES / (CONTROL_PAYLOAD_MAX + 256) - 1);
  assert_true (n->ctl_queue.bytes <= CONTROL_QUEUE_BYTES);
  assert_int_equal (n->ctl_queue.refused, 1);
  /* An oversized payload is not copied, so it weighs little: still admitted. */
  struct ctl_req *big = ctl_req_new (n, 100u * 1024 * 1024);
  assert_non_null (big);
  ctl_req_free (big);
  while (k)
    ctl_req_free (held[--k]);
  assert_int_equal (n->ctl_queue.bytes, 0);
  free (n);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_count_bound),
    cmocka_unit_test (test_bytes_bound),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
