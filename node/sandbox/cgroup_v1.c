/* cgroup_v1: the v1 backend, for hosts (often hybrid ones) where memory, pids
 * and cpu are bound to v1 hierarchies. Each controller has its own tree, so
 * the node cgroup and every leaf exist once per hierarchy (cg->dir[c]), and
 * each controller is probed, and may fail, on its own. Kept apart from v2
 * because the two share almost no file name or rule. */
#include "node/sandbox/cgroup_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int
v1_create (struct cgroups *cg, const char *leaf, struct nxerr *err)
{
  for (int c = 0; c < CG_NCTRL; c++)
    {
      char p[CG_PATH_MAX + 64];
      if (!cg->have[c])
        continue;
      if (cg_leaf_path (p, sizeof p, cg->dir[c], leaf) < 0)
        return nxerr_set (err, ENAMETOOLONG, "cgroup path too long");
      if (cg_make_dir (p, err) < 0)
        return -1;
    }
  return 0;
}

static int
v1_attach (struct cgroups *cg, const char *leaf, pid_t pid, struct nxerr *err)
{
  char pidtext[32];
  snprintf (pidtext, sizeof pidtext, "%d", (int) pid);
  for (int c = 0; c < CG_NCTRL; c++)
    {
      char p[CG_PATH_MAX + 64];
      if (!cg->have[c])
        continue;
      cg_leaf_path (p, sizeof p, cg->dir[c], leaf);
      if (cg_write_file (p, "cgroup.procs", pidtext, err) < 0)
        return -1;
    }
  return 0;
}

static int
v1_set_memory (const char *p, uint64_t bytes, struct nxerr *err)
{
  char v[32];
  struct nxerr ignore = { 0 };
  snprintf (v, sizeof v, "%" PRIu64, bytes);
  /* memsw (memory + swap) must stay >= the memory limit: when raising, the
   * memsw write has to come first. Without swap accounting it is absent. */
  if (cg_write_file (p, "memory.limit_in_bytes", v, err) < 0)
    {
      if (err->code != EINVAL || cg_write_file (p, "memory.memsw.limit_in_bytes", v, &ignore) < 0)
        return -1;
      nxerr_clear (err);
      if (cg_write_file (p, "memory.limit_in_bytes", v, err) < 0)
        return -1;
    }
  cg_write_file (p, "memory.memsw.limit_in_bytes", v, &ignore); /* no swapping past the limit */
  return 0;
}

static int
v1_set_limits (struct cgroups *cg, const char *leaf, const struct cg_limits *l, struct nxerr *err)
{
  char p[CG_PATH_MAX + 64], v[32];
  if (l->memory_bytes && cg->have[CG_MEMORY])
    {
      cg_leaf_path (p, sizeof p, cg->dir[CG_MEMORY], leaf);
      if (v1_set_memory (p, l->memory_bytes, err) < 0)
        return -1;
    }
  if (l->pids && cg->have[CG_PIDS])
    {
      cg_leaf_path (p, sizeof p, cg->dir[CG_PIDS], leaf);
      snprintf (v, sizeof v, "%" PRIu64, l->pids);
      if (cg_write_file (p, "pids.max", v, err) < 0)
        return -1;
    }
  if (l->cpu_milli && cg->have[CG_CPU])
    {
      cg_leaf_path (p, sizeof p, cg->dir[CG_CPU], leaf);
      snprintf (v, sizeof v, "%d", CG_CPU_PERIOD_US);
      if (cg_write_file (p, "cpu.cfs_period_us", v, err) < 0)
        return -1;
      snprintf (v, sizeof v, "%" PRIu64, cgroup_cpu_quota_us (l->cpu_milli));
      if (cg_write_file (p, "cpu.cfs_quota_us", v, err) < 0)
        return -1;
    }
  return 0;
}

static int
v1_oom_kills (struct cgroups *cg, const char *leaf, uint64_t *out, struct nxerr *err)
{
  char p[CG_PATH_MAX + 96], text[512];
  int64_t v;
  *out = 0;
  if (!cg->have[CG_MEMORY])
    return 0;
  snprintf (p, sizeof p, "%s/%s/memory.oom_control", cg->dir[CG_MEMORY], leaf);
  if (cg_read_text (p, text, sizeof text) < 0)
    return nxerr_sys (err, errno, "read %s", p);
  v = cgroup_keyed_value (text, "oom_kill");
  *out = v > 0 ? (uint64_t) v : 0;
  return 0;
}

static const char *
v1_first_dir (const struct cgroups *cg)
{
  for (int c = 0; c < CG_NCTRL; c++)
    if (cg->have[c])
      return cg->dir[c];
  return NULL;
}

static void
v1_kill_all (struct cgroups *cg, const char *leaf)
{
  const char *d = v1_first_dir (cg);
  char p[CG_PATH_MAX + 64];
  if (d == NULL)
    return;
  cg_leaf_path (p, sizeof p, d, leaf);
  /* Each round kills what is listed; a fork in between shows up next round. */
  for (int i = 0; i < CG_KILL_ROUNDS && cg_kill_listed (p) > 0; i++)
    cg_sleep_ms (1);
}

static int
v1_remove (struct cgroups *cg, const char *leaf, struct nxerr *err)
{
  int rc = 0;
  for (int c = 0; c < CG_NCTRL; c++)
    {
      char p[CG_PATH_MAX + 64];
      if (!cg->have[c])
        continue;
      cg_leaf_path (p, sizeof p, cg->dir[c], leaf);
      if (rmdir (p) < 0 && errno != ENOENT)
        rc = nxerr_sys (err, errno, "rmdir %s", p);
    }
  return rc;
}

const struct cgroup_ops cgroup_v1_ops = { "v1", v1_create, v1_attach, v1_set_limits,
                                          v1_oom_kills, v1_kill_all, v1_remove };

static bool
probe_v1 (struct cgroups *cg, enum cg_ctrl c, const char *probe_leaf)
{
  char p[CG_PATH_MAX + 64];
  struct nxerr e = { 0 };
  struct cg_limits l = { 0 };
  bool saved[CG_NCTRL];
  int rc;
  if (cg_make_dir (cg->dir[c], &e) < 0)
    {
      snprintf (cg->why[c], sizeof cg->why[c], "%s", e.msg);
      return false;
    }
  cg->created = true;
  cg_leaf_path (p, sizeof p, cg->dir[c], probe_leaf);
  if (cg_make_dir (p, &e) < 0)
    {
      snprintf (cg->why[c], sizeof cg->why[c], "%s", e.msg);
      return false;
    }
  /* Write one limit through the backend itself, this controller only. */
  memcpy (saved, cg->have, sizeof saved);
  memset (cg->have, 0, sizeof cg->have);
  cg->have[c] = true;
  l.memory_bytes = 64u << 20;
  l.pids = 64;
  l.cpu_milli = 500;
  rc = v1_set_limits (cg, probe_leaf, &l, &e);
  memcpy (cg->have, saved, sizeof saved);
  rmdir (p);
  if (rc < 0)
    {
      snprintf (cg->why[c], sizeof cg->why[c], "%s", e.msg);
      return false;
    }
  return true;
}

void
cg_v1_setup (struct cgroups *cg, const char *probe_leaf)
{
  bool have[CG_NCTRL];
  for (int c = 0; c < CG_NCTRL; c++)
    have[c] = cg->dir[c][0] != '\0' && probe_v1 (cg, (enum cg_ctrl) c, probe_leaf);
  memcpy (cg->have, have, sizeof have);
}
