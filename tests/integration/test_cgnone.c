/* Tier none's containment, on real processes: every agent and whatever its
 * workload forks sit in a cgroup leaf of their own, killed as a whole when
 * the agent ends. examples/forker's children ignore SIGTERM and one of them
 * calls setsid, so only the cgroup can find them once their agent is
 * SIGKILLed (the agent, a subreaper, kills them only while it lives). A
 * restarted node keeps the leaf of an agent it reattaches, processes and
 * all, and owns it again: that agent's SIGKILL later still takes its
 * workload's processes with it. Without a cgroup (cgroup "none") the tier
 * runs as before and INFO and the start log say so. The first two run on
 * v2 where cgroup2 is mounted ("auto"), then again with cgroup "v1" where a
 * v1 hierarchy is. Skipped (77) where the node cannot make a cgroup (not
 * root, no cgroup file system). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/nexc.h"
#include "harness.h"

#define CHILDREN 3
#define CHILDREN_ENV "CHILDREN=3"
#define GONE_DEADLINE_MS 15000 /* generous: only how long we wait for what must happen */

struct fixture {
  struct harness h;
  natsConnection *nc;
  struct nexc_client *c;
  struct nkey_pair issuer;
  char config[1024];
  char names[4][64]; /* workloads started, for the teardown's sweep */
  int n_names;
};

static json_t *
info (struct fixture *f)
{
  char subj[128], *r;
  json_t *j;
  snprintf (subj, sizeof subj, "$NEX.INFO.default.%s", f->h.node_id);
  r = harness_request (f->nc, subj, "", 0, 3000);
  assert_non_null (r);
  j = json_loads (r, 0, NULL);
  free (r);
  assert_non_null (j);
  return j;
}

/* INFO nexc.sandbox says so, and why not. */
static bool
contained (struct fixture *f)
{
  json_t *in = info (f);
  json_t *sb = json_object_get (json_object_get (json_object_get (in, "data"), "nexc"), "sandbox");
  bool on = json_is_true (json_object_get (sb, "descendants_contained"));
  if (!on)
    printf ("test_cgnone: INFO: not contained: %s\n",
            json_string_value (json_object_get (sb, "not_contained")));
  json_decref (in);
  return on;
}

/* Whether a cgroup file system of type type ("cgroup2", "cgroup": v1) is
 * mounted; NULL: either. */
static bool
have_cgroupfs (const char *type)
{
  FILE *fp = fopen ("/proc/self/mounts", "r");
  char line[512], v1[16] = " cgroup ", v2[16] = " cgroup2 ";
  bool found = false;
  while (fp && !found && fgets (line, sizeof line, fp))
    found = ((type == NULL || strcmp (type, "cgroup") == 0) && strstr (line, v1) != NULL)
            || ((type == NULL || strcmp (type, "cgroup2") == 0) && strstr (line, v2) != NULL);
  if (fp)
    fclose (fp);
  return found;
}

static int
start (void **state, const char *cgroup_mode)
{
  struct fixture *f = calloc (1, sizeof *f);
  struct nxerr err = { 0 };
  if (geteuid () != 0 || !have_cgroupfs (NULL))
    {
      printf ("test_cgnone: skipped: the node makes cgroups as root, on a cgroup file system\n");
      free (f);
      exit (77);
    }
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &f->issuer, &err), 0);
  snprintf (f->config, sizeof f->config,
            "{\"machine_pool_size\":1,\"sandbox\":\"none\",\"stop_grace_ms\":300,"
            "\"cgroup\":\"%s\",\"valid_issuers\":[\"%s\"]}",
            cgroup_mode, f->issuer.public_text);
  harness_start_nats (&f->h);
  f->nc = harness_connect (&f->h);
  assert_int_equal (nexc_client_wrap (&f->c, f->nc, &err), 0);
  f->c->timeout_ms = 10000;
  harness_start_node (&f->h, f->config, NULL);
  *state = f;
  return 0;
}

static int
setup (void **state)
{
  return start (state, "auto"); /* v2 wherever cgroup2 is mounted */
}

/* The v1 backend too, where there is a v1 hierarchy (hybrid hosts). */
static int
setup_v1 (void **state)
{
  if (!have_cgroupfs ("cgroup"))
    {
      printf ("test_cgnone: no v1 hierarchy here: the v1 part is skipped\n");
      *state = NULL;
      return 0;
    }
  return start (state, "v1");
}

static int
setup_cgroups_off (void **state)
{
  return start (state, "none");
}

/* Pids of processes whose whole command line is name (a workload and the
 * children it forked: its agent sets argv to its name). */
static int
pids_named (const char *name, pid_t *out, int max)
{
  DIR *d = opendir ("/proc");
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir (d)) != NULL)
    {
      char p[300], buf[256];
      ssize_t got;
      int fd;
      if (e->d_name[0] < '1' || e->d_name[0] > '9')
        continue;
      snprintf (p, sizeof p, "/proc/%s/cmdline", e->d_name);
      if ((fd = open (p, O_RDONLY | O_CLOEXEC)) < 0)
        continue;
      got = read (fd, buf, sizeof buf - 1);
      close (fd);
      if (got <= 0)
        continue;
      buf[got] = '\0';
      if (strcmp (buf, name) == 0 && n < max)
        out[n++] = (pid_t) atoi (e->d_name);
    }
  if (d)
    closedir (d);
  return n;
}

static int
count_named (const char *name)
{
  pid_t p[64];
  return pids_named (name, p, 64);
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  if (f == NULL)
    return 0;
  if (f->h.node_pid > 0)
    harness_stop_node (&f->h, SIGTERM);
  /* What a failed assertion left (on the old code: forker's orphans). */
  for (int i = 0; i < f->n_names; i++)
    {
      int left = harness_kill_procs (f->names[i]);
      if (left)
        printf ("test_cgnone: %d processes of %s were left: killed\n", left, f->names[i]);
    }
  nexc_client_free (f->c);
  natsConnection_Destroy (f->nc);
  harness_stop_all (&f->h);
  free (f);
  return 0;
}

/* Its parent's pid, and its own comm. */
static pid_t
parent_of (pid_t pid, char comm[64])
{
  char p[64];
  int self, pp = 0;
  char st;
  FILE *fp;
  comm[0] = '\0';
  snprintf (p, sizeof p, "/proc/%d/stat", (int) pid);
  if ((fp = fopen (p, "r")) == NULL)
    return 0;
  if (fscanf (fp, "%d (%63[^)]) %c %d", &self, comm, &st, &pp) != 4)
    pp = 0;
  fclose (fp);
  return (pid_t) pp;
}

/* The agent of workload name: the parent named nexc-agent of one of its
 * processes (the others are forker's children). */
static pid_t
agent_of (const char *name)
{
  pid_t p[64];
  int n = pids_named (name, p, 64);
  for (int i = 0; i < n; i++)
    {
      char comm[64];
      pid_t pp = parent_of (p[i], comm);
      if (pp > 1)
        parent_of (pp, comm);
      if (pp > 1 && strcmp (comm, "nexc-agent") == 0)
        return pp;
    }
  return 0;
}

/* /proc/<pid>/cgroup: the line of the node's leaf for it, "" when none. */
static void
cgroup_of (pid_t pid, char *out, size_t cap)
{
  char p[64], line[512];
  FILE *fp;
  out[0] = '\0';
  snprintf (p, sizeof p, "/proc/%d/cgroup", (int) pid);
  if ((fp = fopen (p, "r")) == NULL)
    return;
  while (fgets (line, sizeof line, fp))
    if (strstr (line, "/nexc-") != NULL)
      {
        line[strcspn (line, "\n")] = '\0';
        snprintf (out, cap, "%s", line);
        break;
      }
  fclose (fp);
}

static char *
deploy_forker (struct fixture *f, const char *base, char name[64])
{
  const char *env[] = { CHILDREN_ENV, NULL };
  struct nexc_deploy_opts o = { 0 };
  struct nexc_deploy_result r;
  struct nxerr err = { 0 };
  /* Our pid in the name: another run of this test may be going on. */
  snprintf (name, 64, "%s-%d", base, (int) getpid ());
  assert_true (f->n_names < 4);
  snprintf (f->names[f->n_names++], sizeof f->names[0], "%s", name);
  o.node_id = f->h.node_id;
  o.file = harness_bin ("examples/forker");
  o.name = name;
  o.env = env;
  o.issuer = &f->issuer;
  if (nexc_deploy (f->c, &o, &r, &err) < 0)
    fail_msg ("deploy %s: %s", name, err.msg);
  for (int i = 0; i < 250 && count_named (name) < 1 + CHILDREN; i++)
    usleep (20000);
  assert_int_equal (count_named (name), 1 + CHILDREN);
  return strdup (r.id);
}

/* Until none of name's processes is left, or the deadline; how many are. */
static int
wait_gone (const char *name)
{
  for (int waited = 0; waited < GONE_DEADLINE_MS && count_named (name) > 0; waited += 50)
    usleep (50000);
  return count_named (name);
}

/* The agent is SIGKILLed: nothing of its workload survives it. */
static void
test_killed_agent_takes_its_workload (void **state)
{
  struct fixture *f = *state;
  if (f == NULL)
    skip ();
  char name[64], leaf[512];
  char *id = deploy_forker (f, "cgnkill", name);
  pid_t agent = agent_of (name);
  assert_true (agent > 1);
  cgroup_of (agent, leaf, sizeof leaf);
  printf ("agent %d: cgroup %s\n", (int) agent, leaf[0] ? leaf : "(none of the node's)");
  kill (agent, SIGKILL);
  if (wait_gone (name) != 0)
    {
      harness_dump_node_log (&f->h);
      fail_msg ("%d processes of %s outlived their SIGKILLed agent", count_named (name), name);
    }
  assert_true (contained (f));
  free (id);
}

/* A node restart with a live agent: the new node reattaches it, keeps its
 * leaf and every process in it, and owns the leaf: when that agent is
 * SIGKILLed afterwards, its workload goes with it. */
static void
test_reattached_agent_keeps_its_leaf (void **state)
{
  struct fixture *f = *state;
  if (f == NULL)
    skip ();
  char name[64], before[512], after[512];
  pid_t pids[16], again[16];
  char *id = deploy_forker (f, "cgnkeep", name);
  pid_t agent = agent_of (name);
  int n = pids_named (name, pids, 16);
  assert_true (agent > 1);
  /* The agent and every process of its workload share its leaf. */
  cgroup_of (agent, before, sizeof before);
  assert_true (before[0] != '\0');
  for (int i = 0; i < n; i++)
    {
      cgroup_of (pids[i], after, sizeof after);
      assert_string_equal (after, before);
    }

  harness_stop_node (&f->h, SIGKILL);
  harness_start_node (&f->h, f->config, NULL);
  for (int i = 0; i < 100 && !harness_node_log_has (&f->h, "reattached 1 workloads"); i++)
    usleep (50000);
  if (!harness_node_log_has (&f->h, "reattached 1 workloads"))
    {
      harness_dump_node_log (&f->h);
      fail_msg ("the restarted node did not reattach %s", name);
    }
  /* The start's leftover sweep spared it: the same processes, the same leaf. */
  assert_int_equal (pids_named (name, again, 16), n);
  for (int i = 0; i < n; i++)
    assert_true (kill (pids[i], 0) == 0);
  assert_int_equal (agent_of (name), agent);
  cgroup_of (agent, after, sizeof after);
  assert_string_equal (after, before);
  for (int i = 0; i < n; i++)
    {
      cgroup_of (pids[i], after, sizeof after);
      assert_string_equal (after, before);
    }

  kill (agent, SIGKILL);
  if (wait_gone (name) != 0)
    {
      harness_dump_node_log (&f->h);
      fail_msg ("%d processes of %s outlived their reattached agent", count_named (name), name);
    }
  free (id);
}

/* Without a cgroup the tier runs as before, and says what it cannot do:
 * at start, and in INFO. */
static void
test_uncontained_is_said (void **state)
{
  struct fixture *f = *state;
  json_t *in = info (f);
  json_t *sb = json_object_get (json_object_get (json_object_get (in, "data"), "nexc"), "sandbox");
  assert_true (json_is_false (json_object_get (sb, "descendants_contained")));
  assert_string_equal (json_string_value (json_object_get (sb, "cgroup")), "none");
  assert_non_null (strstr (json_string_value (json_object_get (sb, "not_contained")),
                           "cgroups are off in the configuration"));
  json_decref (in);
  assert_true (harness_node_log_has (&f->h, "no cgroup to contain workloads"));
  /* Deploys still run and stop as before. */
  char name[64];
  char *id = deploy_forker (f, "cgnoff", name);
  struct nxerr err = { 0 };
  if (nexc_stop (f->c, f->h.node_id, id, name, &f->issuer, &err) < 0)
    fail_msg ("stop %s: %s", name, err.msg);
  assert_int_equal (wait_gone (name), 0);
  free (id);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_killed_agent_takes_its_workload, setup, teardown),
    cmocka_unit_test_setup_teardown (test_reattached_agent_keeps_its_leaf, setup, teardown),
    cmocka_unit_test_setup_teardown (test_uncontained_is_said, setup_cgroups_off, teardown),
    cmocka_unit_test_setup_teardown (test_killed_agent_takes_its_workload, setup_v1, teardown),
    cmocka_unit_test_setup_teardown (test_reattached_agent_keeps_its_leaf, setup_v1, teardown),
  };
  return cmocka_run_group_tests_name ("cgnone", tests, NULL, NULL);
}
