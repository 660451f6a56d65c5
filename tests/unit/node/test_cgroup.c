/* Unit tests for node/cgroup's pure helpers: finding hierarchies in
 * mountinfo texts of a hybrid, a v2-only and a co-mounted v1 host, the
 * node's own cgroup from /proc/self/cgroup texts, path joining (no ".."),
 * node cgroup names, CPU quotas and keyed files (memory.events,
 * memory.oom_control). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "node/sandbox/cgroup.h"
#include "node/core/path.h"

/* This project's build machines: v1 controllers, an empty v2 beside them. */
static const char hybrid_mountinfo[]
    = "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
      "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
      "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
      "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
      "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

/* systemd's v1 layout co-mounts cpu and cpuacct; optional fields present. */
static const char comounted_mountinfo[]
    = "25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup "
      "rw,cpu,cpuacct\n"
      "26 24 0:23 / /sys/fs/cgroup/memory rw,nosuid shared:10 - cgroup cgroup rw,memory\n";

static const char v2_mountinfo[]
    = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
      "rw,nsdelegate,memory_recursiveprot\n";

static void
test_find_mount (void **state)
{
  char out[CG_PATH_MAX];
  (void) state;
  assert_int_equal (cgroup_find_mount (hybrid_mountinfo, "memory", out, sizeof out), 0);
  assert_string_equal (out, "/sys/fs/cgroup/memory");
  assert_int_equal (cgroup_find_mount (hybrid_mountinfo, "cpu", out, sizeof out), 0);
  assert_string_equal (out, "/sys/fs/cgroup/cpu"); /* not cpuacct, not cpuset */
  assert_int_equal (cgroup_find_mount (hybrid_mountinfo, "pids", out, sizeof out), 0);
  assert_string_equal (out, "/sys/fs/cgroup/pids");
  assert_int_equal (cgroup_find_mount (hybrid_mountinfo, NULL, out, sizeof out), 0);
  assert_string_equal (out, "/sys/fs/cgroup/unified");
  assert_int_equal (cgroup_find_mount (hybrid_mountinfo, "hugetlb", out, sizeof out), -1);

  assert_int_equal (cgroup_find_mount (comounted_mountinfo, "cpu", out, sizeof out), 0);
  assert_string_equal (out, "/sys/fs/cgroup/cpu,cpuacct");
  assert_int_equal (cgroup_find_mount (comounted_mountinfo, "pids", out, sizeof out), -1);
  assert_int_equal (cgroup_find_mount (comounted_mountinfo, NULL, out, sizeof out), -1);

  assert_int_equal (cgroup_find_mount (v2_mountinfo, NULL, out, sizeof out), 0);
  assert_string_equal (out, "/sys/fs/cgroup");
  assert_int_equal (cgroup_find_mount (v2_mountinfo, "memory", out, sizeof out), -1);
  /* Too small a buffer is "not found", never a truncated path. */
  assert_int_equal (cgroup_find_mount (v2_mountinfo, NULL, out, 5), -1);
  assert_int_equal (cgroup_find_mount ("", "memory", out, sizeof out), -1);
  assert_int_equal (cgroup_find_mount ("garbage without fields\n", NULL, out, sizeof out), -1);
}

static void
test_find_self (void **state)
{
  static const char hybrid[] = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/58c4\n"
                               "2:cpuacct:/\n1:cpu:/x\n0::/\n";
  static const char comounted[] = "3:cpu,cpuacct:/system.slice/nexc.service\n"
                                  "0::/system.slice/nexc.service\n";
  static const char v2[] = "0::/system.slice/nexc-node.service\n";
  char out[CG_PATH_MAX];
  (void) state;
  assert_int_equal (cgroup_find_self (hybrid, "memory", out, sizeof out), 0);
  assert_string_equal (out, "/process_api/58c4");
  assert_int_equal (cgroup_find_self (hybrid, "cpu", out, sizeof out), 0);
  assert_string_equal (out, "/x");
  assert_int_equal (cgroup_find_self (hybrid, "pids", out, sizeof out), 0);
  assert_string_equal (out, "/");
  assert_int_equal (cgroup_find_self (hybrid, NULL, out, sizeof out), 0);
  assert_string_equal (out, "/");
  assert_int_equal (cgroup_find_self (comounted, "cpu", out, sizeof out), 0);
  assert_string_equal (out, "/system.slice/nexc.service");
  assert_int_equal (cgroup_find_self (comounted, "memory", out, sizeof out), -1);
  assert_int_equal (cgroup_find_self (v2, NULL, out, sizeof out), 0);
  assert_string_equal (out, "/system.slice/nexc-node.service");
  assert_int_equal (cgroup_find_self (v2, "memory", out, sizeof out), -1);
}

static void
test_join (void **state)
{
  char out[64];
  (void) state;
  assert_int_equal (path_join (out, sizeof out, "/sys/fs/cgroup/memory", "/a/b"), 0);
  assert_string_equal (out, "/sys/fs/cgroup/memory/a/b");
  assert_int_equal (path_join (out, sizeof out, "/sys/fs/cgroup//pids/", "/"), 0);
  assert_string_equal (out, "/sys/fs/cgroup/pids");
  assert_int_equal (path_join (out, sizeof out, "/", "nexc-NABC"), 0);
  assert_string_equal (out, "/nexc-NABC");
  assert_int_equal (path_join (out, sizeof out, "", ""), 0);
  assert_string_equal (out, "/");
  assert_int_equal (path_join (out, sizeof out, "/sys/fs/cgroup", "/a/../../etc"), -1);
  assert_int_equal (path_join (out, sizeof out, "/sys/fs/cgroup", "/./a"), -1);
  assert_int_equal (path_join (out, sizeof out, "/sys/fs/cgroup", "/a..b"), 0);
  assert_int_equal (path_join (out, 10, "/sys/fs/cgroup", "x"), -1);
}

static void
test_names_quota_keyed (void **state)
{
  char name[64];
  (void) state;
  cgroup_node_name ("NB6CCQI5XKBP6K4MPR2E5PTPDW6VFP7NTN3SRYAIMI5JHAMVAM6FB7GL", name, sizeof name);
  assert_string_equal (name, "nexc-NB6CCQI5XKBP");
  assert_int_equal (cgroup_cpu_quota_us (1000), 100000);
  assert_int_equal (cgroup_cpu_quota_us (250), 25000);
  assert_int_equal (cgroup_cpu_quota_us (2500), 250000);
  assert_int_equal (cgroup_cpu_quota_us (1), 1000); /* the kernel's minimum */
  assert_int_equal (cgroup_keyed_value ("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"),
                    3);
  assert_int_equal (cgroup_keyed_value ("low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\n", "oom"), 2);
  assert_int_equal (cgroup_keyed_value ("oom_kill_disable 1\n", "oom_kill"), -1);
  assert_int_equal (cgroup_keyed_value ("", "oom_kill"), -1);
  assert_string_equal (cgroup_ctrl_name (CG_MEMORY), "memory");
  assert_string_equal (cgroup_ctrl_name (CG_CPU), "cpu");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_find_mount),
    cmocka_unit_test (test_find_self),
    cmocka_unit_test (test_join),
    cmocka_unit_test (test_names_quota_keyed),
  };
  return cmocka_run_group_tests_name ("cgroup", tests, NULL, NULL);
}
