/* lease_plan: which slots a node claims or lets go, given the claims, the
 * clock and itself. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "node/deployments/lease.h"

static char *ZK[] = { "zone" }, *Z1[] = { "z1" }, *Z2[] = { "z2" };

static struct lease_view
view (const char *me, struct lease_dep *d, size_t nd, struct lease_slot *s, size_t ns,
      struct lease_node *n, size_t nn)
{
  return (struct lease_view){ .now_ms = 10000,
                              .skew_ms = 500,
                              .me = me,
                              .my_tags = { ZK, Z1, 1 },
                              .capacity = 10,
                              .deps = d,
                              .n_deps = nd,
                              .slots = s,
                              .n_slots = ns,
                              .nodes = n,
                              .n_nodes = nn };
}

static struct lease_node NODES[] = {
  { .id = "A", .tags = { ZK, Z1, 1 }, .expires_ms = 12000 },
  { .id = "B", .tags = { ZK, Z2, 1 }, .expires_ms = 12000 },
  { .id = "C", .tags = { ZK, Z1, 1 }, .expires_ms = 12000 },
};

static void
test_free_slot_claimed_by_create (void **state)
{
  struct lease_dep d = { .key = "default.web", .replicas = 1, .spread = "node" };
  struct lease_view v = view ("A", &d, 1, NULL, 0, NULL, 0);
  struct lease_act a[8];
  (void) state;
  assert_int_equal (lease_plan (&v, a, 8), 1);
  assert_int_equal (a[0].kind, LEASE_CLAIM);
  assert_int_equal (a[0].slot, 0);
  assert_int_equal (a[0].rev, 0);
}

static void
test_live_claim_of_another_left_alone_expired_taken (void **state)
{
  struct lease_dep d = { .key = "default.web", .replicas = 1, .spread = "none" };
  struct lease_slot s
      = { .dep = "default.web", .slot = 0, .node = "B", .expires_ms = 9600, .rev = 7 };
  struct lease_view v = view ("A", &d, 1, &s, 1, NULL, 0);
  struct lease_act a[8];
  (void) state;
  /* Expired by 400 ms, within the 500 ms skew margin: still B's. */
  assert_int_equal (lease_plan (&v, a, 8), 0);
  v.now_ms = 10101;
  assert_int_equal (lease_plan (&v, a, 8), 1);
  assert_int_equal (a[0].kind, LEASE_CLAIM);
  assert_int_equal (a[0].rev, 7); /* compare-and-set on what was seen */
}

static void
test_spread_node_quota (void **state)
{
  /* 3 replicas, 3 live nodes: one each; A has one already. */
  struct lease_dep d = { .key = "default.web", .replicas = 3, .spread = "node" };
  struct lease_slot s[] = { { .dep = "default.web", .slot = 0, .node = "A", .held = true } };
  struct lease_view v = view ("A", &d, 1, s, 1, NODES, 3);
  struct lease_act a[8];
  (void) state;
  assert_int_equal (lease_plan (&v, a, 8), 0);
  /* B and C gone (leases expired): A may hold all three, one per round. */
  struct lease_node alone[] = { NODES[0], NODES[1], NODES[2] };
  alone[1].expires_ms = alone[2].expires_ms = 1000;
  v.nodes = alone;
  assert_int_equal (lease_plan (&v, a, 8), 1);
  assert_int_equal (a[0].kind, LEASE_CLAIM);
  assert_true (a[0].slot == 1 || a[0].slot == 2);
}

static void
test_spread_over_tag (void **state)
{
  /* 2 replicas over zones z1 (A, C) and z2 (B): one per zone. C holds one in z1. */
  struct lease_dep d = { .key = "default.web", .replicas = 2, .spread = "zone" };
  struct lease_slot s[] = { { .dep = "default.web", .slot = 0, .node = "C", .expires_ms = 12000 } };
  struct lease_view v = view ("A", &d, 1, s, 1, NODES, 3);
  struct lease_act a[8];
  (void) state;
  assert_int_equal (lease_plan (&v, a, 8), 0);
  v.me = "B";
  v.my_tags = (struct lease_tags){ ZK, Z2, 1 };
  assert_int_equal (lease_plan (&v, a, 8), 1);
  assert_int_equal (a[0].slot, 1);
}

static void
test_placement_and_capacity (void **state)
{
  char *k[] = { "zone" }, *val[] = { "z2" };
  struct lease_dep d
      = { .key = "default.web", .replicas = 1, .placement = { k, val, 1 }, .spread = "node" };
  struct lease_view v = view ("A", &d, 1, NULL, 0, NULL, 0);
  struct lease_act a[8];
  (void) state;
  assert_int_equal (lease_plan (&v, a, 8), 0); /* A is in z1 */
  v.my_tags = (struct lease_tags){ ZK, Z2, 1 };
  v.capacity = 0;
  assert_int_equal (lease_plan (&v, a, 8), 0); /* full */
  v.capacity = 1;
  assert_int_equal (lease_plan (&v, a, 8), 1);
}

static void
test_release_when_scaled_down_or_removed (void **state)
{
  struct lease_dep d = { .key = "default.web", .replicas = 1, .spread = "node" };
  struct lease_slot s[] = {
    { .dep = "default.web", .slot = 0, .node = "A", .held = true, .rev = 3 },
    { .dep = "default.web", .slot = 1, .node = "A", .held = true, .rev = 4 },
    { .dep = "default.gone", .slot = 0, .node = "A", .held = true, .rev = 5 },
  };
  struct lease_view v = view ("A", &d, 1, s, 3, NULL, 0);
  struct lease_act a[8];
  size_t n;
  (void) state;
  n = lease_plan (&v, a, 8);
  assert_int_equal (n, 2);
  assert_int_equal (a[0].kind, LEASE_RELEASE);
  assert_int_equal (a[0].slot, 1);
  assert_int_equal (a[1].kind, LEASE_RELEASE);
  assert_string_equal (a[1].dep, "default.gone");
}

static void
test_own_unconfirmed_claim_taken_back (void **state)
{
  /* After a restart within the lease: the bucket says A, this run does
   * not hold it yet: taken back (even past the spread quota). */
  struct lease_dep d = { .key = "default.web", .replicas = 3, .spread = "node" };
  struct lease_slot s[] = {
    { .dep = "default.web", .slot = 0, .node = "A", .expires_ms = 11000, .rev = 8 },
    { .dep = "default.web", .slot = 1, .node = "A", .expires_ms = 11000, .rev = 9 },
    { .dep = "default.web", .slot = 2, .node = "B", .expires_ms = 11000, .rev = 10 },
  };
  struct lease_view v = view ("A", &d, 1, s, 3, NODES, 3);
  struct lease_act a[8];
  (void) state;
  assert_int_equal (lease_plan (&v, a, 8), 2);
  assert_int_equal (a[0].kind, LEASE_CLAIM);
  assert_int_equal (a[0].rev, 8);
  assert_int_equal (a[1].rev, 9);
}

static void
test_lame_duck_takes_nothing_back (void **state)
{
  /* A lame duck has just released its slots: the bucket still naming it
   * is its own release not seen yet; nothing is claimed, back or new. */
  struct lease_dep d = { .key = "default.web", .replicas = 3, .spread = "node" };
  struct lease_slot s[] = {
    { .dep = "default.web", .slot = 0, .node = "A", .expires_ms = 11000, .rev = 8 },
  };
  struct lease_view v = view ("A", &d, 1, s, 1, NODES, 3);
  struct lease_act a[8];
  (void) state;
  v.giving_up = true;
  v.capacity = 0;
  assert_int_equal (lease_plan (&v, a, 8), 0);
  v.giving_up = false;
  assert_int_equal (lease_plan (&v, a, 8), 1);
}

static void
test_one_claim_per_round (void **state)
{
  struct lease_dep d = { .key = "default.web", .replicas = 5, .spread = "none" };
  struct lease_view v = view ("A", &d, 1, NULL, 0, NULL, 0);
  struct lease_act a[8];
  (void) state;
  assert_int_equal (lease_plan (&v, a, 8), 1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_free_slot_claimed_by_create),
    cmocka_unit_test (test_live_claim_of_another_left_alone_expired_taken),
    cmocka_unit_test (test_spread_node_quota),
    cmocka_unit_test (test_spread_over_tag),
    cmocka_unit_test (test_placement_and_capacity),
    cmocka_unit_test (test_release_when_scaled_down_or_removed),
    cmocka_unit_test (test_own_unconfirmed_claim_taken_back),
    cmocka_unit_test (test_lame_duck_takes_nothing_back),
    cmocka_unit_test (test_one_claim_per_round),
  };
  return cmocka_run_group_tests_name ("lease", tests, NULL, NULL);
}
