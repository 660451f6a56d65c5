/* Uids allocated, not configured (issue 14), on real processes: three nodes
 * with the DEFAULT uid_range on one nats-server run sandboxed workloads at
 * once, with distinct uids from distinct blocks; each survives its own
 * SIGKILL, reattaches and keeps its uids and its block, while the others
 * run on untouched; a node started while another is down skips the dead
 * node's block (its workload still runs with a uid of it). A range left
 * without a free block refuses to start and says who holds what; two nodes
 * on one state dir are refused. Tier process (skipped where its preflight
 * fails), but the state dir test, which runs in tier none. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/nexc.h"
#include "harness.h"

#define NODES 3
#define BLOCK 64u /* UIDBLOCK_SIZE */
#define LOCK_DIR "/run/nexc/uids"
#define MAX_BLOCKS 16

struct node_h {
  struct harness h;
  char name[64];  /* its workload's name (argv[0]) */
  char *id;       /* its workload's id */
  pid_t wpid;     /* its workload's host pid */
  uint32_t uid;
  uint32_t blocks[MAX_BLOCKS];
  size_t n_blocks;
};

struct fixture {
  struct harness nats;
  struct node_h n[NODES + 1]; /* the last one: started while another is down */
  natsConnection *nc;
  struct nexc_client *c;
  struct nkey_pair issuer, sender;
  char config[1024];
  char hex[65];
  pid_t squatter;     /* a process of the test running with a sandbox uid */
  char fake_lock[128]; /* a lock file the test made */
};

static bool process_tier;

static void
sleep_ms (int ms)
{
  struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

static json_t *
parse (const char *s, size_t len)
{
  json_error_t e;
  json_t *j = json_loadb (s, len, 0, &e);
  if (j == NULL)
    fail_msg ("not JSON: %.*s", (int) len, s);
  return j;
}

/* ---- processes ---- */

static pid_t
wait_workload (const char *name)
{
  for (int i = 0; i < 250; i++)
    {
      pid_t p = harness_find_proc (name, NULL);
      if (p > 0)
        return p;
      sleep_ms (20);
    }
  fail_msg ("workload %s: no process", name);
  return 0;
}

/* Real uid of pid (and the same for every one of its ids), or (uint32_t) -1. */
static uint32_t
uid_of (pid_t pid)
{
  char p[64], line[256];
  uint32_t uid = (uint32_t) -1;
  FILE *f;
  snprintf (p, sizeof p, "/proc/%d/status", (int) pid);
  f = fopen (p, "re");
  while (f && fgets (line, sizeof line, f))
    if (strncmp (line, "Uid:", 4) == 0)
      {
        unsigned r, e, s, fs;
        if (sscanf (line + 4, "%u %u %u %u", &r, &e, &s, &fs) == 4 && r == e && e == s
            && s == fs)
          uid = r;
      }
  if (f)
    fclose (f);
  return uid;
}

static bool
alive (pid_t pid)
{
  char p[64], line[256];
  bool ok = false;
  FILE *f;
  snprintf (p, sizeof p, "/proc/%d/status", (int) pid);
  f = fopen (p, "re");
  while (f && fgets (line, sizeof line, f))
    if (strncmp (line, "State:", 6) == 0)
      ok = strchr (line, 'Z') == NULL && strchr (line, 'X') == NULL;
  if (f)
    fclose (f);
  return ok;
}

/* ---- lock files ---- */

/* Whether some process holds the lock of the block at start (F_OFD_GETLK
 * only looks: it takes nothing). */
static bool
block_locked (uint32_t start)
{
  char p[128];
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
  int fd;
  snprintf (p, sizeof p, LOCK_DIR "/%u", start);
  fd = open (p, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  if (fcntl (fd, F_OFD_GETLK, &fl) < 0)
    fl.l_type = F_UNLCK;
  close (fd);
  return fl.l_type != F_UNLCK;
}

static bool
lock_file_names (uint32_t start, const char *node_id)
{
  char p[128], buf[512];
  ssize_t n;
  int fd;
  snprintf (p, sizeof p, LOCK_DIR "/%u", start);
  fd = open (p, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  buf[n > 0 ? n : 0] = '\0';
  return strstr (buf, node_id) != NULL;
}

/* Lock files naming node_id: after a node stopped, none. */
static int
lock_files_naming (const char *node_id)
{
  DIR *d = opendir (LOCK_DIR);
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir (d)) != NULL)
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9'
        && lock_file_names ((uint32_t) strtoul (e->d_name, NULL, 10), node_id))
      {
        print_message ("lock file %s/%s names node %s (%s)\n", LOCK_DIR, e->d_name, node_id,
                       block_locked ((uint32_t) strtoul (e->d_name, NULL, 10)) ? "locked"
                                                                              : "not locked");
        n++;
      }
  if (d)
    closedir (d);
  return n;
}

/* ---- the nodes ---- */

static json_t *
info (struct fixture *f, struct node_h *n)
{
  char subj[128], *r;
  json_t *j;
  snprintf (subj, sizeof subj, "$NEX.INFO.default.%s", n->h.node_id);
  r = harness_request (f->nc, subj, "", 0, 3000);
  if (r == NULL)
    fail_msg ("no INFO from %s", n->h.node_id);
  j = parse (r, strlen (r));
  free (r);
  return j;
}

/* INFO data.nexc.sandbox.uid_range.blocks into n->blocks. */
static void
read_blocks (struct fixture *f, struct node_h *n)
{
  json_t *in = info (f, n), *e;
  json_t *u = json_object_get (
      json_object_get (json_object_get (json_object_get (in, "data"), "nexc"), "sandbox"),
      "uid_range");
  size_t i;
  assert_int_equal (json_integer_value (json_object_get (u, "block_size")), BLOCK);
  assert_string_equal (json_string_value (json_object_get (u, "lock_dir")), LOCK_DIR);
  n->n_blocks = 0;
  json_array_foreach (json_object_get (u, "blocks"), i, e)
    if (n->n_blocks < MAX_BLOCKS)
      n->blocks[n->n_blocks++] = (uint32_t) json_integer_value (e);
  json_decref (in);
}

static bool
holds (const struct node_h *n, uint32_t uid)
{
  for (size_t i = 0; i < n->n_blocks; i++)
    if (uid - uid % BLOCK == n->blocks[i])
      return true;
  return false;
}

static char *
deploy (struct fixture *f, struct node_h *n, const char *name)
{
  const char *env[] = { "TICK_MS=200", NULL };
  struct nexc_deploy_opts o = { 0 };
  struct nxerr err = { 0 };
  char *payload = NULL, subj[128], *r, *id;
  json_t *j, *data;
  o.node_id = n->h.node_id;
  o.name = name;
  o.key = "ticker";
  o.env = env;
  o.issuer = &f->issuer;
  o.sender = &f->sender;
  if (nexc_deploy_payload (f->c, &o, n->h.node_xkey, f->hex, &payload, &err) < 0)
    fail_msg ("payload: %s", err.msg);
  snprintf (subj, sizeof subj, "$NEX.DEPLOY.default.%s", n->h.node_id);
  r = harness_request (f->nc, subj, payload, strlen (payload), 10000);
  free (payload);
  if (r == NULL)
    fail_msg ("no reply to the deploy of %s", name);
  j = parse (r, strlen (r));
  free (r);
  data = json_object_get (j, "data");
  if (!json_is_true (json_object_get (data, "started")))
    {
      harness_dump_node_log (&n->h);
      fail_msg ("deploy of %s refused: %s", name,
                json_string_value (json_object_get (j, "error")));
    }
  id = strdup (json_string_value (json_object_get (data, "id")));
  json_decref (j);
  return id;
}

static bool
wping_lists (struct fixture *f, const char *name, const char *id)
{
  char subj[128], *r;
  bool ok;
  snprintf (subj, sizeof subj, "$NEX.WPING.default.%s", name);
  r = harness_request (f->nc, subj, "", 0, 2000);
  ok = r && strstr (r, id);
  free (r);
  return ok;
}

/* Start node i on the shared nats-server and run one workload on it. */
static void
start_with_workload (struct fixture *f, int i)
{
  struct node_h *n = &f->n[i];
  if (n->h.tmpdir[0] == '\0')
    harness_share_nats (&n->h, &f->nats);
  snprintf (n->name, sizeof n->name, "uidalloc-%d-%d", i, (int) getpid ());
  harness_start_node (&n->h, f->config, NULL);
  n->id = deploy (f, n, n->name);
  n->wpid = wait_workload (n->name);
  n->uid = uid_of (n->wpid);
  read_blocks (f, n);
  printf ("node %d (%.12s): workload pid %d uid %u, blocks", i, n->h.node_id, (int) n->wpid,
          n->uid);
  for (size_t k = 0; k < n->n_blocks; k++)
    printf (" %u", n->blocks[k]);
  printf ("\n");
  /* Its workload's uid is the gid too, in a block the node holds. */
  assert_true (n->uid >= 200000 && n->uid < 265536);
  assert_true (holds (n, n->uid));
  assert_true (block_locked (n->uid - n->uid % BLOCK));
  assert_true (lock_file_names (n->uid - n->uid % BLOCK, n->h.node_id));
}

static int
setup (void **state)
{
  struct fixture *f = calloc (1, sizeof *f);
  struct nxerr err = { 0 };
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &f->issuer, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_CURVE, &f->sender, &err), 0);
  /* No uid_range: the default, shared by every node here and by any other
   * test that runs meanwhile. */
  snprintf (f->config, sizeof f->config,
            "{\"machine_pool_size\":1,\"sandbox\":\"process\",\"stop_grace_ms\":300,"
            "\"valid_issuers\":[\"%s\"]}",
            f->issuer.public_text);
  harness_start_nats (&f->nats);
  f->nc = harness_connect (&f->nats);
  assert_int_equal (nexc_client_wrap (&f->c, f->nc, &err), 0);
  f->c->timeout_ms = 5000;
  harness_upload (f->nc, "NEXCLIFILES", "ticker", harness_bin ("examples/ticker"), f->hex);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  if (f->squatter > 0)
    {
      kill (f->squatter, SIGKILL);
      waitpid (f->squatter, NULL, 0);
    }
  if (f->fake_lock[0])
    unlink (f->fake_lock);
  int stop_failed = 0, left = 0, locks = 0;
  for (int i = 0; i <= NODES; i++)
    {
      struct node_h *n = &f->n[i];
      if (n->h.node_pid > 0 && harness_stop_node (&n->h, SIGTERM) != 0)
        stop_failed++;
    }
  /* Nothing left: no workload, no lock file of ours. What is left (a test
   * that failed between a node's SIGKILL and its restart leaves a detached
   * workload and its agent) is counted, then killed, so that no later run
   * finds its uids busy; the assertions come after the cleanup. */
  for (int i = 0; i <= NODES; i++)
    {
      struct node_h *n = &f->n[i];
      pid_t pid, agent = 0;
      if (n->name[0])
        {
          for (int t = 0; t < 100 && harness_find_proc (n->name, NULL) > 0; t++)
            sleep_ms (20);
          if ((pid = harness_find_proc (n->name, &agent)) > 0)
            {
              left++;
              kill (pid, SIGKILL);
              if (agent > 1)
                kill (agent, SIGKILL);
            }
        }
      if (n->h.node_id[0] && lock_files_naming (n->h.node_id) > 0)
        {
          locks++;
          harness_dump_node_log (&n->h);
        }
      free (n->id);
      if (n->h.tmpdir[0])
        harness_stop_all (&n->h);
    }
  nexc_client_free (f->c);
  natsConnection_Destroy (f->nc);
  harness_stop_all (&f->nats);
  free (f);
  assert_int_equal (stop_failed, 0);
  assert_int_equal (left, 0);
  assert_int_equal (locks, 0);
  return 0;
}

/* ---- tests ---- */

static void
assert_apart (struct fixture *f)
{
  for (int i = 0; i < NODES; i++)
    for (int j = i + 1; j < NODES; j++)
      {
        assert_true (f->n[i].uid != f->n[j].uid);
        for (size_t a = 0; a < f->n[i].n_blocks; a++)
          for (size_t b = 0; b < f->n[j].n_blocks; b++)
            assert_true (f->n[i].blocks[a] != f->n[j].blocks[b]);
      }
}

/* Node k is SIGKILLed and started again; nothing else may notice. */
static void
crash_and_reattach (struct fixture *f, int k)
{
  struct node_h *n = &f->n[k], saved[NODES];
  uint32_t block = n->uid - n->uid % BLOCK;
  memcpy (saved, f->n, sizeof saved);
  assert_int_equal (harness_stop_node (&n->h, SIGKILL), 128 + SIGKILL);
  sleep_ms (300);
  assert_true (alive (n->wpid));
  /* The kernel dropped the dead node's lock; its file stays. */
  assert_false (block_locked (block));
  assert_true (lock_file_names (block, n->h.node_id));
  if (k == 0)
    {
      /* A node started meanwhile must not take the dead node's block: its
       * workload still runs with a uid of it. */
      struct node_h *late = &f->n[NODES];
      start_with_workload (f, NODES);
      assert_true (late->uid - late->uid % BLOCK != block);
      /* Lowest first: a higher block means it looked at the dead node's. */
      if (late->uid > block)
        assert_true (harness_node_log_has (&late->h, "busy with processes no node accounts for"));
      assert_false (holds (late, n->uid));
      for (int j = 0; j < NODES; j++)
        assert_false (holds (late, f->n[j].uid));
      assert_int_equal (harness_stop_node (&late->h, SIGTERM), 0);
      for (int t = 0; t < 100 && harness_find_proc (late->name, NULL) > 0; t++)
        sleep_ms (20);
      assert_int_equal (harness_find_proc (late->name, NULL), 0);
    }
  harness_start_node (&n->h, f->config, NULL);
  for (int t = 0; t < 50 && !wping_lists (f, n->name, n->id); t++)
    sleep_ms (100);
  assert_true (wping_lists (f, n->name, n->id));
  /* Same workload, same uid, and its block is this node's again. */
  assert_int_equal (harness_find_proc (n->name, NULL), n->wpid);
  assert_int_equal (uid_of (n->wpid), n->uid);
  read_blocks (f, n);
  assert_true (holds (n, n->uid));
  assert_true (block_locked (block));
  assert_true (lock_file_names (block, n->h.node_id));
  if (!harness_node_log_has (&n->h, "reattached 1 workloads in"))
    {
      harness_dump_node_log (&n->h);
      fail_msg ("node %d: no \"reattached 1 workloads\" in its log", k);
    }
  /* The others: same processes, same uids, same blocks. */
  for (int j = 0; j < NODES; j++)
    {
      struct node_h *o = &f->n[j];
      if (j == k)
        continue;
      assert_true (o->h.node_pid > 0 && kill (o->h.node_pid, 0) == 0);
      assert_true (alive (o->wpid));
      assert_int_equal (uid_of (o->wpid), o->uid);
      read_blocks (f, o);
      assert_int_equal (o->n_blocks, saved[j].n_blocks);
      assert_memory_equal (o->blocks, saved[j].blocks, o->n_blocks * sizeof o->blocks[0]);
      assert_true (wping_lists (f, o->name, o->id));
    }
  assert_apart (f);
}

static void
test_three_nodes_default_range (void **state)
{
  struct fixture *f = *state;
  char *id;
  pid_t p;
  /* One after the other, each with a workload running: before #14 the
   * second exited 78 ("uid range ... is in use"). */
  for (int i = 0; i < NODES; i++)
    start_with_workload (f, i);
  assert_apart (f);
  for (int k = 0; k < NODES; k++)
    crash_and_reattach (f, k);
  /* A new sandbox on a restarted node: a uid of its own blocks, none
   * running. */
  id = deploy (f, &f->n[0], "uidalloc-more");
  p = wait_workload ("uidalloc-more");
  read_blocks (f, &f->n[0]);
  assert_true (holds (&f->n[0], uid_of (p)));
  for (int j = 0; j < NODES; j++)
    assert_true (uid_of (p) != f->n[j].uid);
  free (id);
}

static void
stop (struct fixture *f, struct node_h *n, const char *id, const char *name)
{
  struct nxerr err = { 0 };
  if (nexc_stop (f->c, n->h.node_id, id, name, &f->issuer, &err) < 0)
    {
      harness_dump_node_log (&n->h);
      fail_msg ("stop %s: %s", id, err.msg);
    }
}

/* Wait until the node holds exactly the blocks of want (n of them). */
static void
wait_blocks (struct fixture *f, struct node_h *n, const uint32_t *want, size_t k)
{
  for (int t = 0; t < 100; t++)
    {
      read_blocks (f, n);
      if (n->n_blocks == k && memcmp (n->blocks, want, k * sizeof *want) == 0)
        return;
      sleep_ms (50);
    }
  harness_dump_node_log (&n->h);
  fail_msg ("node holds %zu blocks (first %u), expected %zu (first %u)", n->n_blocks,
            n->n_blocks ? n->blocks[0] : 0, k, want[0]);
}

/* Until the node's pool has a warm agent: a deploy then leases it (no cold
 * spawn that would take a uid of its own). */
static void
wait_warm (struct fixture *f, struct node_h *n)
{
  for (int t = 0; t < 200; t++)
    {
      json_t *in = info (f, n);
      json_int_t warm = json_integer_value (json_object_get (
          json_object_get (json_object_get (json_object_get (in, "data"), "nexc"), "pool"),
          "warm"));
      json_decref (in);
      if (warm >= 1)
        return;
      sleep_ms (25);
    }
  fail_msg ("node %s: no warm agent", n->h.node_id);
}

/* Until INFO uid_range.in_use is k: a dead agent's uid is released once
 * its cgroup leaf is gone. */
static void
wait_in_use (struct fixture *f, struct node_h *n, json_int_t k)
{
  json_int_t v = -1;
  for (int t = 0; t < 200 && v != k; t++)
    {
      json_t *in = info (f, n);
      v = json_integer_value (json_object_get (
          json_object_get (
              json_object_get (json_object_get (json_object_get (in, "data"), "nexc"), "sandbox"),
              "uid_range"),
          "in_use"));
      json_decref (in);
      if (v != k)
        sleep_ms (25);
    }
  if (v != k)
    fail_msg ("node %s: %lld uids in use, expected %lld", n->h.node_id, (long long) v,
              (long long) k);
}

/* Blocks taken on demand on a real node, and no churn at a block boundary,
 * with a pool of 1 and a range of 3 uids across a boundary: the last uid
 * of the lower block, the first two of the upper. (Giving blocks back is
 * test_uidrange's; that none stays held after a stop, the teardown's.) */
static void
test_blocks_on_demand (void **state)
{
  struct fixture *f = *state;
  struct node_h *n = &f->n[0];
  uint32_t lo = 3200000u + (uint32_t) (getpid () % 1000) * 3 * BLOCK, hi = lo + BLOCK;
  uint32_t both[2] = { lo, hi };
  char cfg[512], names[3][64], took[128];
  char *ids[3];
  snprintf (cfg, sizeof cfg,
            "{\"machine_pool_size\":1,\"sandbox\":\"process\",\"stop_grace_ms\":300,"
            "\"uid_range\":{\"start\":%u,\"count\":3},\"valid_issuers\":[\"%s\"]}",
            hi - 1, f->issuer.public_text);
  for (int i = 0; i < 3; i++)
    snprintf (names[i], sizeof names[i], "ondemand-%d-%d", i, (int) getpid ());
  harness_share_nats (&n->h, &f->nats);
  harness_start_node (&n->h, cfg, NULL);
  /* The warm agent has the lower block's only uid. */
  wait_blocks (f, n, &lo, 1);
  wait_warm (f, n);
  ids[0] = deploy (f, n, names[0]);
  assert_int_equal (uid_of (wait_workload (names[0])), hi - 1);
  /* Its replacement needs a uid: the upper block is taken. */
  wait_blocks (f, n, both, 2);
  snprintf (took, sizeof took, "sandbox: took uids %u-%u (2 blocks held)", hi, hi + BLOCK - 1);
  assert_int_equal (harness_node_log_count (&n->h, took), 1);
  assert_true (block_locked (hi));
  /* The workload ends: the lower block is empty, the upper one is not: the
   * lower one stays, the one empty block a node keeps. */
  stop (f, n, ids[0], names[0]);
  wait_in_use (f, n, 1); /* the warm agent's uid only */
  wait_blocks (f, n, both, 2);
  assert_true (block_locked (lo));
  /* Two more deploys: the replacements find uids in the blocks held
   * (lowest block first), no block is taken again. */
  wait_warm (f, n);
  ids[1] = deploy (f, n, names[1]);
  assert_int_equal (uid_of (wait_workload (names[1])), hi);
  wait_warm (f, n);
  ids[2] = deploy (f, n, names[2]);
  assert_int_equal (uid_of (wait_workload (names[2])), hi - 1);
  wait_blocks (f, n, both, 2);
  assert_int_equal (harness_node_log_count (&n->h, "sandbox: took uids"), 1);
  assert_int_equal (harness_node_log_count (&n->h, "sandbox: gave back uids"), 0);
  for (int i = 0; i < 3; i++)
    free (ids[i]);
}

/* Run `nexc-node up` with config_json and an unreachable server: it stops
 * at the preflight (before NATS) or runs; returns its exit status within
 * timeout_s, its output in out. */
static int
run_node (const char *dir, const char *config_json, const char *state_dir, int timeout_s,
          char *out, size_t cap)
{
  char cfg[400], cmd[2048];
  size_t n = 0;
  FILE *p;
  int st;
  snprintf (cfg, sizeof cfg, "%s/run.json", dir);
  p = fopen (cfg, "w");
  assert_non_null (p);
  fputs (config_json, p);
  fclose (p);
  snprintf (cmd, sizeof cmd,
            "timeout -s KILL %d %s up --config %s --state-dir %s --server nats://127.0.0.1:1 "
            "2>&1",
            timeout_s, harness_bin ("node/nexc-node"), cfg, state_dir);
  p = popen (cmd, "r");
  assert_non_null (p);
  while (n < cap - 1)
    {
      size_t r = fread (out + n, 1, cap - 1 - n, p);
      if (r == 0)
        break;
      n += r;
    }
  out[n] = '\0';
  st = pclose (p);
  return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

/* Every block of a small range taken: one by a holder the node does not
 * know, one by a process that no lock covers. The node refuses to start
 * and names both; freed, the same config starts. */
static void
test_range_exhausted (void **state)
{
  struct fixture *f = *state;
  /* A range of our own, 2 blocks, far from the default and other tests'. */
  uint32_t a = 3000000u + (uint32_t) (getpid () % 1000) * 2 * BLOCK, b = a + BLOCK;
  char cfg[512], out[8192], path[128], want[256];
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
  int lock, sync[2];
  pid_t squatter;
  char c;
  snprintf (cfg, sizeof cfg,
            "{\"machine_pool_size\":1,\"sandbox\":\"process\",\"uid_range\":{\"start\":%u,"
            "\"count\":%u},\"valid_issuers\":[\"%s\"]}",
            a, 2 * BLOCK, f->issuer.public_text);
  /* Block a: its lock held by "another node" (this test). */
  mkdir ("/run/nexc", 0700);
  mkdir (LOCK_DIR, 0700);
  snprintf (path, sizeof path, LOCK_DIR "/%u", a);
  snprintf (f->fake_lock, sizeof f->fake_lock, "%s", path);
  lock = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  assert_true (lock >= 0);
  assert_int_equal (ftruncate (lock, 0), 0);
  assert_int_equal (write (lock, "node NFAKEHOLDER\npid 1\n", 23), 23);
  assert_int_equal (fcntl (lock, F_OFD_SETLK, &fl), 0);
  /* Block b: a process runs with one of its uids, and no lock covers it. */
  assert_int_equal (pipe (sync), 0);
  squatter = fork ();
  assert_true (squatter >= 0);
  if (squatter == 0)
    {
      close (lock);
      /* Dies with the test whatever happens to it (a failed assertion
       * longjmps past the kill below); set after the uid change, which
       * clears it. */
      if (setresgid (b + 5, b + 5, b + 5) < 0 || setresuid (b + 5, b + 5, b + 5) < 0
          || prctl (PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid () == 1
          || write (sync[1], "x", 1) != 1)
        _exit (1);
      pause ();
      _exit (0);
    }
  f->squatter = squatter;
  assert_int_equal (read (sync[0], &c, 1), 1);
  harness_share_nats (&f->n[0].h, &f->nats);
  snprintf (path, sizeof path, "%s/state", f->n[0].h.tmpdir);
  assert_int_equal (run_node (f->n[0].h.tmpdir, cfg, path, 30, out, sizeof out), 78);
  printf ("%s", out);
  assert_non_null (strstr (out, "no free uid"));
  snprintf (want, sizeof want,
            "this node holds none; 1 block held by another node (%u-%u by node NFAKEHOLDER "
            "(pid 1)); 1 busy with processes no node accounts for (pid %d runs as uid %u)",
            a, a + BLOCK - 1, (int) squatter, b + 5);
  assert_non_null (strstr (out, want));
  /* Both gone: the same config starts, on block a. */
  kill (squatter, SIGKILL);
  waitpid (squatter, NULL, 0);
  f->squatter = 0;
  unlink (f->fake_lock);
  f->fake_lock[0] = '\0';
  close (lock);
  harness_start_node (&f->n[0].h, cfg, NULL);
  read_blocks (f, &f->n[0]);
  assert_int_equal (f->n[0].n_blocks, 1);
  assert_int_equal (f->n[0].blocks[0], a);
  close (sync[0]);
  close (sync[1]);
}

/* Two nodes on one state dir (two nodes left with the default state_dir)
 * would share an identity, a journal and each other's sandboxes: the second
 * is refused, naming the first. */
static void
test_state_dir_taken (void **state)
{
  struct fixture *f = *state;
  char cfg[512], out[8192];
  const char *tier = process_tier ? "process" : "none";
  snprintf (cfg, sizeof cfg,
            "{\"machine_pool_size\":1,\"sandbox\":\"%s\",\"valid_issuers\":[\"%s\"]}", tier,
            f->issuer.public_text);
  harness_share_nats (&f->n[0].h, &f->nats);
  harness_start_node (&f->n[0].h, cfg, NULL);
  assert_int_equal (
      run_node (f->n[0].h.tmpdir, cfg, f->n[0].h.node_state_dir, 30, out, sizeof out), 78);
  printf ("%s", out);
  assert_non_null (strstr (out, "is another node's"));
  assert_non_null (strstr (out, f->n[0].h.node_id));
  /* The first one did not notice. */
  assert_true (kill (f->n[0].h.node_pid, 0) == 0);
  {
    char subj[128], *r;
    snprintf (subj, sizeof subj, "$NEX.PING.%s", f->n[0].h.node_id);
    r = harness_request (f->nc, subj, "", 0, 2000);
    assert_non_null (r);
    free (r);
  }
  /* A crash leaves the dir free: the next node starts at once. */
  assert_int_equal (harness_stop_node (&f->n[0].h, SIGKILL), 128 + SIGKILL);
  harness_start_node (&f->n[0].h, cfg, NULL);
}

int
main (void)
{
  const struct CMUnitTest both[] = {
    cmocka_unit_test_setup_teardown (test_state_dir_taken, setup, teardown),
  };
  const struct CMUnitTest sandboxed[] = {
    cmocka_unit_test_setup_teardown (test_three_nodes_default_range, setup, teardown),
    cmocka_unit_test_setup_teardown (test_range_exhausted, setup, teardown),
    cmocka_unit_test_setup_teardown (test_blocks_on_demand, setup, teardown),
  };
  int rc;
  process_tier = harness_process_tier_ok ();
  rc = cmocka_run_group_tests_name ("uid allocation: state dir", both, NULL, NULL);
  if (rc != 0)
    return rc;
  if (!process_tier)
    {
      printf ("test_uidalloc: tier process part skipped: its preflight fails here\n");
      return 0;
    }
  return cmocka_run_group_tests_name ("uid allocation (tier process)", sandboxed, NULL, NULL);
}
