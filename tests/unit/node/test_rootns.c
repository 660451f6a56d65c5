/* Unit tests for node/sandbox/rootns's configuration: a rootless node's
 * defaults (uid_range inside its namespace, the lock dir and state dir in
 * the user's places) and a uid_range outside the map refused. Entering the
 * namespace itself is tests/integration/test_rootless.c. */
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

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_defaults_move_inside),
    cmocka_unit_test (test_named_settings_stay),
    cmocka_unit_test (test_range_outside_the_map_refused),
  };
  return cmocka_run_group_tests_name ("rootns", tests, NULL, NULL);
}
