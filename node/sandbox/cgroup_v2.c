/* cgroup_v2: the v2 backend, one node cgroup in the unified hierarchy. A
 * controller reaches a leaf only when it is enabled in the subtree_control of
 * every cgroup above it, and v2 forbids processes in a cgroup that delegates
 * (no internal processes), so setup here may move the node into a leaf of
 * its own before it can enable anything. Kept apart from v1 because the two
 * share almost no file name or rule. */
#include "node/sandbox/cgroup_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
v2_create (struct cgroups *cg, const char *leaf, struct nxerr *err)
{
  char p[CG_PATH_MAX + 64];
  if (cg_leaf_path (p, sizeof p, cg->dir[0], leaf) < 0)
    return nxerr_set (err, ENAMETOOLONG, "cgroup path too long");
  return cg_make_dir (p, err);
}

static int
v2_attach (struct cgroups *cg, const char *leaf, pid_t pid, struct nxerr *err)
{
  char p[CG_PATH_MAX + 64], pidtext[32];
  snprintf (pidtext, sizeof pidtext, "%d", (int) pid);
  cg_leaf_path (p, sizeof p, cg->dir[0], leaf);
  return cg_write_file (p, "cgroup.procs", pidtext, err);
}

static int
v2_set_limits (struct cgroups *cg, const char *leaf, const struct cg_limits *l, struct nxerr *err)
{
  char p[CG_PATH_MAX + 64], v[64];
  struct nxerr ignore = { 0 };
  cg_leaf_path (p, sizeof p, cg->dir[0], leaf);
  if (l->memory_bytes && cg->have[CG_MEMORY])
    {
      snprintf (v, sizeof v, "%" PRIu64, l->memory_bytes);
      if (cg_write_file (p, "memory.max", v, err) < 0)
        return -1;
      cg_write_file (p, "memory.swap.max", "0", &ignore); /* absent without swap */
    }
  if (l->pids && cg->have[CG_PIDS])
    {
      snprintf (v, sizeof v, "%" PRIu64, l->pids);
      if (cg_write_file (p, "pids.max", v, err) < 0)
        return -1;
    }
  if (l->cpu_milli && cg->have[CG_CPU])
    {
      snprintf (v, sizeof v, "%" PRIu64 " %d", cgroup_cpu_quota_us (l->cpu_milli),
                CG_CPU_PERIOD_US);
      if (cg_write_file (p, "cpu.max", v, err) < 0)
        return -1;
    }
  return 0;
}

static int
v2_oom_kills (struct cgroups *cg, const char *leaf, uint64_t *out, struct nxerr *err)
{
  char p[CG_PATH_MAX + 96], text[1024];
  int64_t v;
  *out = 0;
  if (!cg->have[CG_MEMORY])
    return 0;
  snprintf (p, sizeof p, "%s/%s/memory.events", cg->dir[0], leaf);
  if (cg_read_text (p, text, sizeof text) < 0)
    return nxerr_sys (err, errno, "read %s", p);
  v = cgroup_keyed_value (text, "oom_kill");
  *out = v > 0 ? (uint64_t) v : 0;
  return 0;
}

static void
v2_kill_all (struct cgroups *cg, const char *leaf)
{
  char p[CG_PATH_MAX + 64];
  struct nxerr ignore = { 0 };
  cg_leaf_path (p, sizeof p, cg->dir[0], leaf);
  if (cg_write_file (p, "cgroup.kill", "1", &ignore) == 0)
    return;
  for (int i = 0; i < CG_KILL_ROUNDS && cg_kill_listed (p) > 0; i++)
    cg_sleep_ms (1);
}

static int
v2_remove (struct cgroups *cg, const char *leaf, struct nxerr *err)
{
  char p[CG_PATH_MAX + 64];
  cg_leaf_path (p, sizeof p, cg->dir[0], leaf);
  if (rmdir (p) < 0 && errno != ENOENT)
    return nxerr_sys (err, errno, "rmdir %s", p);
  return 0;
}

const struct cgroup_ops cgroup_v2_ops = { "v2", v2_create, v2_attach, v2_set_limits,
                                          v2_oom_kills, v2_kill_all, v2_remove };

/* The node alone in its v2 cgroup cannot enable controllers for children
 * (no internal processes): move it into a leaf of its own first. */
static int
v2_leave_base (struct cgroups *cg, struct nxerr *err)
{
  char procs[CG_PATH_MAX + 32], self_leaf[CG_PATH_MAX + 80], text[256], pidtext[32];
  long only;
  char *end;
  snprintf (procs, sizeof procs, "%s/cgroup.procs", cg->base[0]);
  if (cg_read_text (procs, text, sizeof text) < 0)
    return nxerr_sys (err, errno, "read %s", procs);
  only = strtol (text, &end, 10);
  if (only != (long) getpid () || (*end != '\0' && strcmp (end, "\n") != 0))
    return nxerr_set (err, EBUSY,
                      "%s holds other processes than the node: controllers cannot be enabled "
                      "below it; set cgroup_root to a cgroup delegated to the node",
                      cg->base[0]);
  snprintf (self_leaf, sizeof self_leaf, "%s/%s.self", cg->base[0], cg->node_name);
  if (cg_make_dir (self_leaf, err) < 0)
    return -1;
  snprintf (pidtext, sizeof pidtext, "%d", (int) getpid ());
  return cg_write_file (self_leaf, "cgroup.procs", pidtext, err);
}

void
cg_v2_setup (struct cgroups *cg, const char *probe_leaf)
{
  char text[512], p[CG_PATH_MAX + 64];
  struct nxerr e = { 0 };
  bool avail[CG_NCTRL] = { false };
  snprintf (p, sizeof p, "%s/cgroup.controllers", cg->base[0]);
  if (cg_read_text (p, text, sizeof text) < 0)
    text[0] = '\0';
  for (int c = 0; c < CG_NCTRL; c++)
    {
      char *t = strstr (text, cg_ctrl_names[c]);
      size_t n = strlen (cg_ctrl_names[c]);
      avail[c] = t && (t == text || t[-1] == ' ') && (t[n] == ' ' || t[n] == '\n' || t[n] == 0);
      if (!avail[c])
        snprintf (cg->why[c], sizeof cg->why[c],
                  "not in %s (bound to a v1 hierarchy, or not delegated)", p);
    }
  for (int c = 0; c < CG_NCTRL; c++)
    {
      char tok[32];
      if (!avail[c])
        continue;
      snprintf (tok, sizeof tok, "+%s", cg_ctrl_names[c]);
      if (cg_write_file (cg->base[0], "cgroup.subtree_control", tok, &e) < 0 && e.code == EBUSY)
        {
          nxerr_clear (&e);
          if (v2_leave_base (cg, &e) == 0)
            cg_write_file (cg->base[0], "cgroup.subtree_control", tok, &e);
        }
      if (e.code)
        {
          snprintf (cg->why[c], sizeof cg->why[c], "%s", e.msg);
          avail[c] = false;
          nxerr_clear (&e);
        }
    }
  if (cg_make_dir (cg->dir[0], &e) < 0)
    {
      for (int c = 0; c < CG_NCTRL; c++)
        snprintf (cg->why[c], sizeof cg->why[c], "%s", e.msg);
      return;
    }
  cg->created = true;
  for (int c = 0; c < CG_NCTRL; c++)
    {
      char tok[32];
      if (!avail[c])
        continue;
      snprintf (tok, sizeof tok, "+%s", cg_ctrl_names[c]);
      if (cg_write_file (cg->dir[0], "cgroup.subtree_control", tok, &e) < 0)
        {
          snprintf (cg->why[c], sizeof cg->why[c], "%s", e.msg);
          avail[c] = false;
          nxerr_clear (&e);
        }
    }
  cg_leaf_path (p, sizeof p, cg->dir[0], probe_leaf);
  if (cg_make_dir (p, &e) < 0)
    {
      for (int c = 0; c < CG_NCTRL; c++)
        if (avail[c])
          snprintf (cg->why[c], sizeof cg->why[c], "%s", e.msg);
      return;
    }
  for (int c = 0; c < CG_NCTRL; c++)
    {
      struct cg_limits l = { 0 };
      if (!avail[c])
        continue;
      memset (cg->have, 0, sizeof cg->have);
      cg->have[c] = true;
      l.memory_bytes = 64u << 20;
      l.pids = 64;
      l.cpu_milli = 500;
      avail[c] = v2_set_limits (cg, probe_leaf, &l, &e) == 0;
      if (!avail[c])
        {
          snprintf (cg->why[c], sizeof cg->why[c], "%s", e.msg);
          nxerr_clear (&e);
        }
    }
  rmdir (p);
  memcpy (cg->have, avail, sizeof avail);
}
