/* Unit tests for node/sandbox/rootns's configuration: a rootless node's
 * defaults (uid_range inside its namespace, the lock dir and state dir in
 * the user's places), a uid_range outside the map refused, and how many
 * subordinate ids a node needs. Entering the namespace itself is
 * tests/integration/test_rootless.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/core/config.h"
#include "node/sandbox/rootns.h"

static const struct rootns ns = { .uid = 1001,
                                  .gid = 1001,
                                  .name = "alice",
                                  .subuid = { 100000, 65536 },
                                  .subgid = { 300000, 70000 } };

static void
test_defaults_move_inside (void **state)
{
  struct config cfg;
  struct nxerr err = { 0 };
  (void) state;
  setenv ("XDG_RUNTIME_DIR", "/run/user/1001", 1);
  setenv ("XDG_STATE_HOME", "/home/alice/.state", 1);
  config_defaults (&cfg);
  assert_int_equal (rootns_config (&ns, &cfg, &err), 0);
  /* The smaller of the two ranges; whole blocks from 1024 up. */
  assert_int_equal (rootns_inside_count (&ns), 65536);
  assert_int_equal (cfg.uid_start, 1024);
  assert_int_equal (cfg.uid_count, 64512);
  assert_true (cfg.uid_start + cfg.uid_count - 1 <= 65536);
  /* Not the session's runtime dir: a node started by a service of the
   * same user must find the same locks. */
  assert_string_equal (cfg.uid_lock_dir, "/dev/shm/nexc-uids-1001");
  assert_string_equal (cfg.state_dir, "/home/alice/.state/nexc");
  config_free (&cfg);
  /* Without XDG: ~/.local/state. */
  unsetenv ("XDG_RUNTIME_DIR");
  unsetenv ("XDG_STATE_HOME");
  setenv ("HOME", "/home/alice", 1);
  config_defaults (&cfg);
  assert_int_equal (rootns_config (&ns, &cfg, &err), 0);
  assert_string_equal (cfg.uid_lock_dir, "/dev/shm/nexc-uids-1001");
  assert_string_equal (cfg.state_dir, "/home/alice/.local/state/nexc");
  config_free (&cfg);
}

/* What the operator named stays: an explicit state dir, lock dir and a
 * uid_range inside the map. */
static void
test_named_settings_stay (void **state)
{
  struct config cfg;
  struct nxerr err = { 0 };
  (void) state;
  setenv ("HOME", "/home/alice", 1);
  config_defaults (&cfg);
  free (cfg.state_dir);
  cfg.state_dir = strdup ("/srv/nexc");
  cfg.state_dir_set = true;
  cfg.uid_lock_dir = strdup ("/srv/locks");
  cfg.uid_start = 2048;
  cfg.uid_count = 128;
  cfg.uid_range_set = true;
  assert_int_equal (rootns_config (&ns, &cfg, &err), 0);
  assert_string_equal (cfg.state_dir, "/srv/nexc");
  assert_string_equal (cfg.uid_lock_dir, "/srv/locks");
  assert_int_equal (cfg.uid_start, 2048);
  assert_int_equal (cfg.uid_count, 128);
  /* The last id of the map is still inside. */
  cfg.uid_start = 65536 - 63;
  cfg.uid_count = 64;
  assert_int_equal (rootns_config (&ns, &cfg, &err), 0);
  config_free (&cfg);
}

static void
test_range_outside_the_map_refused (void **state)
{
  struct config cfg;
  struct nxerr err = { 0 };
  (void) state;
  config_defaults (&cfg);
  cfg.uid_range_set = true; /* the root default, 200000-265535, named */
  assert_int_equal (rootns_config (&ns, &cfg, &err), -1);
  assert_non_null (strstr (err.msg, "uid_range 200000-265535: a rootless node's uid_range is in "
                                    "its own user namespace, where only 1-65536 exist"));
  assert_non_null (strstr (err.msg, "/etc/subuid 100000-165535"));
  assert_non_null (strstr (err.msg, "leave uid_range out for 1024-65535"));
  /* One id past the end. */
  cfg.uid_start = 65536 - 62;
  cfg.uid_count = 64;
  nxerr_clear (&err);
  assert_int_equal (rootns_config (&ns, &cfg, &err), -1);
  config_free (&cfg);
}

/* Inside id N needs a count of N (0 is the user, 1..count the range): one
 * block over the ids left alone, 1024-1087, is 1087 ids. */
static void
test_ids_a_node_needs (void **state)
{
  struct rootns small = ns;
  struct config cfg;
  struct nxerr err = { 0 };
  (void) state;
  small.subgid.count = 1087;
  assert_int_equal (rootns_check_ids (&small, &err), 0);
  setenv ("HOME", "/home/alice", 1);
  config_defaults (&cfg);
  assert_int_equal (rootns_config (&small, &cfg, &err), 0);
  assert_int_equal (cfg.uid_start, 1024);
  assert_int_equal (cfg.uid_count, 64);
  config_free (&cfg);
  small.subgid.count = 1086;
  assert_int_equal (rootns_check_ids (&small, &err), -1);
  assert_non_null (strstr (err.msg, "alice has 1086 subordinate ids, fewer than the 1087 a node "
                                    "needs (ids 1-1023 are left to the namespace's own users, "
                                    "then one block of 64)"));
}

/* However big the map, the default uid_range is at most uid_range's
 * largest count, and a map ending at the last uid does not wrap. */
static void
test_default_count_capped (void **state)
{
  struct rootns big = ns;
  struct config cfg;
  struct nxerr err = { 0 };
  (void) state;
  setenv ("HOME", "/home/alice", 1);
  big.subuid = big.subgid = (struct subids_range){ 1000000, 100000000 };
  config_defaults (&cfg);
  assert_int_equal (rootns_config (&big, &cfg, &err), 0);
  assert_int_equal (cfg.uid_start, 1024);
  assert_int_equal (cfg.uid_count, 16777216);
  config_free (&cfg);
  big.subuid = big.subgid = (struct subids_range){ 0, UINT32_MAX };
  config_defaults (&cfg);
  assert_int_equal (rootns_config (&big, &cfg, &err), 0);
  assert_int_equal (cfg.uid_start, 1024);
  assert_int_equal (cfg.uid_count, 16777216);
  /* And the refusal's hint names that default. */
  cfg.uid_start = 4294967000;
  cfg.uid_count = 1000;
  cfg.uid_range_set = true;
  assert_int_equal (rootns_config (&big, &cfg, &err), -1);
  assert_non_null (strstr (err.msg, "leave uid_range out for 1024-16778239"));
  config_free (&cfg);
}

/* The config names only one half: the other is root's default, outside
 * the map; refused, saying so (an explicit start 200000 reads the same). */
static void
test_one_half_named_refused_saying_so (void **state)
{
  struct config cfg;
  struct nxerr err = { 0 };
  const char *hint = ", or name both start and count (one not named is root's default: start "
                     "200000, count 65536)";
  (void) state;
  config_defaults (&cfg);
  cfg.uid_count = 4096; /* "uid_range": {"count": 4096} */
  cfg.uid_range_set = true;
  assert_int_equal (rootns_config (&ns, &cfg, &err), -1);
  assert_non_null (strstr (err.msg, "uid_range 200000-204095: "));
  assert_non_null (strstr (err.msg, hint));
  config_free (&cfg);
  config_defaults (&cfg);
  cfg.uid_start = 2048; /* "uid_range": {"start": 2048} */
  cfg.uid_range_set = true;
  nxerr_clear (&err);
  assert_int_equal (rootns_config (&ns, &cfg, &err), -1);
  assert_non_null (strstr (err.msg, "uid_range 2048-67583: "));
  assert_non_null (strstr (err.msg, hint));
  /* Both named: no such hint. */
  cfg.uid_count = 70000;
  nxerr_clear (&err);
  assert_int_equal (rootns_config (&ns, &cfg, &err), -1);
  assert_null (strstr (err.msg, "root's default"));
  config_free (&cfg);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_defaults_move_inside),
    cmocka_unit_test (test_named_settings_stay),
    cmocka_unit_test (test_range_outside_the_map_refused),
    cmocka_unit_test (test_ids_a_node_needs),
    cmocka_unit_test (test_default_count_capped),
    cmocka_unit_test (test_one_half_named_refused_saying_so),
  };
  return cmocka_run_group_tests_name ("rootns", tests, NULL, NULL);
}
