/* cgnone: tier none's process containment (cgnone.h). Built on the cgroup
 * module's detection and backends; what is its own: choosing a hierarchy
 * that needs no controller, the "a<n>" leaves, and emptying them. A leaf is
 * made before its agent exists (so that the zygote can clone the agent into
 * it), hence named by a counter, not by the pid; a restarted node finds the
 * leaf of an agent it reattaches from the journal's pid, which the reattach
 * sockets vouch for (SO_PEERCRED, node/workload/reattach.c), in
 * /proc/<pid>/cgroup. */
#include "node/sandbox/cgnone.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/log.h"
#include "api/xalloc.h"
#include "node/core/config.h"
#include "node/core/node.h"

#define RECLAIM_EVERY_MS 100
#define RECLAIM_TRIES 100 /* then the leaf is given up on, said */
#define STOP_TRIES 50     /* x 10 ms at shutdown */
#define LEAF_NAME_MAX CGNONE_LEAF_MAX

/* A leaf whose processes were killed but had not all exited yet. */
struct busy_leaf {
  struct busy_leaf *next;
  char name[LEAF_NAME_MAX];
  unsigned tries;
};

/* The leaf of an agent a restarted node may reattach (cgnone_start). */
struct kept_leaf {
  pid_t pid;
  char name[LEAF_NAME_MAX];
};

struct cgnone {
  struct node *node;
  struct cgroups cg;
  bool on;        /* the node cgroup exists: agents are contained */
  char why[400];  /* why not, when !on */
  struct busy_leaf *busy;
  struct loop_timer timer;
  struct kept_leaf *kept;
  size_t n_kept;
  unsigned next_leaf; /* the counter of "a<n>" */
};

/* Where the leaves are: the v2 node cgroup, or the one v1 hierarchy's. */
const char *
cgnone_leaves_dir (const struct cgroups *cg)
{
  if (cg->version == CG_V2)
    return cg->dir[0];
  for (int c = 0; c < CG_NCTRL; c++)
    if (cg->have[c])
      return cg->dir[c];
  return "";
}

int
cgnone_probe (struct cgroups *cg, const struct config *cfg, const char *node_name,
              struct nxerr *err)
{
  enum cg_mode mode = (enum cg_mode) cfg->cgroup_mode;
  memset (cg, 0, sizeof *cg);
  if (mode == CG_MODE_OFF)
    return nxerr_set (err, EPERM, "cgroups are off in the configuration (cgroup: \"none\")");
  if (mode == CG_MODE_AUTO)
    {
      /* v2 wherever it is mounted, hybrid hosts included: a leaf needs no
       * controller there, and cgroup.kill ends a leaf at once. */
      struct nxerr v2err = { 0 };
      if (cgroup_detect (cg, CG_MODE_V2, cfg->cgroup_root, node_name, &v2err) < 0
          && cgroup_detect (cg, CG_MODE_V1, cfg->cgroup_root, node_name, err) < 0)
        return nxerr_set (err, ENOENT, "no cgroup file system is mounted");
    }
  else if (cgroup_detect (cg, mode, cfg->cgroup_root, node_name, err) < 0)
    return -1;
  if (cg->version == CG_NONE)
    return nxerr_set (err, ENOENT, "no cgroup file system is mounted");
  return cgroup_setup_contain (cg, err);
}

/* ---- emptying a leaf ---- */

static int
empty_leaf (struct cgnone *c, const char *name, struct nxerr *err)
{
  c->cg.ops->kill_all (&c->cg, name);
  return c->cg.ops->remove (&c->cg, name, err);
}

static void
on_reclaim (struct loop_timer *t)
{
  struct cgnone *c = (struct cgnone *) ((char *) t - offsetof (struct cgnone, timer));
  struct busy_leaf **pp = &c->busy;
  while (*pp)
    {
      struct busy_leaf *b = *pp;
      struct nxerr err = { 0 };
      if (empty_leaf (c, b->name, &err) == 0 || ++b->tries >= RECLAIM_TRIES)
        {
          if (err.code)
            log_error ("sandbox \"none\": cgroup leaf %s/%s: %s; given up (its processes may "
                       "still run)",
                       cgnone_leaves_dir (&c->cg), b->name, err.msg);
          *pp = b->next;
          free (b);
        }
      else
        pp = &b->next;
    }
  if (c->busy && c->node->loop)
    loop_timer_arm (c->node->loop, t, RECLAIM_EVERY_MS);
}

/* Off the busy list, if it is there. */
static bool
take_busy (struct cgnone *c, const char *name)
{
  for (struct busy_leaf **pp = &c->busy; *pp; pp = &(*pp)->next)
    if (strcmp ((*pp)->name, name) == 0)
      {
        struct busy_leaf *b = *pp;
        *pp = b->next;
        free (b);
        return true;
      }
  return false;
}

static void
queue_busy (struct cgnone *c, const char *name)
{
  struct busy_leaf *b = xcalloc (1, sizeof *b);
  snprintf (b->name, sizeof b->name, "%s", name);
  b->next = c->busy;
  c->busy = b;
  if (c->node->loop && !loop_timer_armed (&c->timer))
    loop_timer_arm (c->node->loop, &c->timer, RECLAIM_EVERY_MS);
}

/* ---- start and stop ---- */

/* The leaf pid is in, when it is one of this node cgroup's: the last
 * component of its path in /proc/<pid>/cgroup (the unified line on v2, the
 * line of the hierarchy the leaves are in on v1), whose parent must be the
 * node cgroup. */
static bool
leaf_of_pid (const struct cgnone *c, pid_t pid, char out[LEAF_NAME_MAX])
{
  char p[64], text[4096], path[CG_PATH_MAX];
  const char *ctrl = NULL, *leaf;
  size_t got, nl = strlen (c->cg.node_name), plen;
  FILE *f;
  snprintf (p, sizeof p, "/proc/%d/cgroup", (int) pid);
  if ((f = fopen (p, "re")) == NULL)
    return false;
  got = fread (text, 1, sizeof text - 1, f);
  fclose (f);
  text[got] = '\0';
  if (c->cg.version != CG_V2)
    for (int i = 0; i < CG_NCTRL && ctrl == NULL; i++)
      if (c->cg.have[i])
        ctrl = cgroup_ctrl_name ((enum cg_ctrl) i);
  if (cgroup_find_self (text, ctrl, path, sizeof path) < 0 || (leaf = strrchr (path, '/')) == NULL)
    return false;
  plen = (size_t) (leaf - path);
  leaf++;
  if (leaf[0] == '\0' || strlen (leaf) >= LEAF_NAME_MAX || plen < nl + 1
      || path[plen - nl - 1] != '/' || strncmp (path + plen - nl, c->cg.node_name, nl) != 0)
    return false;
  snprintf (out, LEAF_NAME_MAX, "%s", leaf);
  return true;
}

static bool
kept_leaf (const void *ud, const char *name)
{
  const struct cgnone *c = ud;
  for (size_t i = 0; i < c->n_kept; i++)
    if (strcmp (c->kept[i].name, name) == 0)
      return true;
  return false;
}

/* The leaves of the agents with these pids (a pid in none of this node's
 * leaves keeps nothing: another process has it now). */
static void
find_kept (struct cgnone *c, const pid_t *keep, size_t n_keep)
{
  c->kept = xcalloc (n_keep + 1, sizeof *c->kept);
  for (size_t i = 0; i < n_keep; i++)
    if (leaf_of_pid (c, keep[i], c->kept[c->n_kept].name))
      c->kept[c->n_kept++].pid = keep[i];
}

void
cgnone_start (struct node *n, const pid_t *keep, size_t n_keep)
{
  struct cgnone *c = xcalloc (1, sizeof *c);
  struct nxerr err = { 0 };
  char name[64];
  int removed = 0;
  c->node = n;
  loop_timer_init (&c->timer, on_reclaim);
  n->cgnone = c;
  cgroup_node_name (n->node_id, name, sizeof name);
  if (cgnone_probe (&c->cg, &n->cfg, name, &err) < 0)
    {
      snprintf (c->why, sizeof c->why, "%s", err.msg);
      log_warn ("sandbox \"none\": no cgroup to contain workloads (%s): a workload's processes "
                "that leave its process group (setsid) outlive its agent when the agent is "
                "killed (INFO nexc.sandbox.descendants_contained false); run the node as root "
                "with a cgroup file system mounted for that",
                c->why);
      return;
    }
  c->on = true;
  find_kept (c, keep, n_keep);
  if (cgroup_sweep_except (&c->cg, kept_leaf, c, &removed, &err) < 0)
    log_error ("sandbox \"none\": %s", err.msg);
  if (removed)
    log_info ("sandbox \"none\": removed %d cgroup leaves a previous run left (their processes "
              "killed)",
              removed);
  log_info ("sandbox \"none\": each agent with its workload's processes in a cgroup leaf of "
            "its own under %s (%s), killed as a whole when the agent ends",
            cgnone_leaves_dir (&c->cg), c->cg.ops->name);
}

void
cgnone_stop (struct node *n)
{
  struct cgnone *c = n->cgnone;
  if (c == NULL)
    return;
  if (n->loop)
    loop_timer_cancel (n->loop, &c->timer);
  /* Everything was reaped by now: what is left is on its way out. */
  while (c->busy)
    {
      struct busy_leaf *b = c->busy;
      struct nxerr err = { 0 };
      for (int i = 0; i < STOP_TRIES && empty_leaf (c, b->name, &err) < 0; i++)
        {
          struct timespec ts = { 0, 10 * 1000000L };
          nxerr_clear (&err);
          nanosleep (&ts, NULL);
        }
      if (err.code)
        log_error ("sandbox \"none\": %s", err.msg);
      c->busy = b->next;
      free (b);
    }
  /* Fails while a detached agent's leaf is left in it: kept for the next node. */
  if (c->on)
    cgroup_teardown (&c->cg);
  free (c->kept);
  free (c);
  n->cgnone = NULL;
}

/* ---- one agent ---- */

int
cgnone_make_leaf (struct cgnone *c, char name[CGNONE_LEAF_MAX], int *dirfd, struct nxerr *err)
{
  char path[CG_PATH_MAX + LEAF_NAME_MAX + 2];
  struct nxerr ignore = { 0 };
  name[0] = '\0';
  *dirfd = -1;
  if (c == NULL || !c->on)
    return 0;
  /* A name no leaf has: one kept for a reattached agent, or one still
   * being emptied, keeps its name until it is gone. */
  for (int tries = 0;; tries++)
    {
      snprintf (name, LEAF_NAME_MAX, "a%u", ++c->next_leaf);
      snprintf (path, sizeof path, "%s/%s", cgnone_leaves_dir (&c->cg), name);
      if (access (path, F_OK) < 0)
        break;
      if (tries == 1000)
        {
          name[0] = '\0';
          return nxerr_set (err, EEXIST, "cgroup leaves under %s: no free name",
                            cgnone_leaves_dir (&c->cg));
        }
    }
  if (c->cg.ops->create (&c->cg, name, err) < 0)
    {
      c->cg.ops->remove (&c->cg, name, &ignore);
      name[0] = '\0';
      return nxerr_wrap (err, "an agent's cgroup leaf");
    }
  /* On v2 the zygote clones the agent straight into it (CLONE_INTO_CGROUP):
   * no migration, so no write side of the kernel's threadgroup lock, which
   * every fork and exec on the host would wait behind. */
  if (c->cg.version == CG_V2)
    *dirfd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return 0;
}

int
cgnone_join (const struct cgnone *c, const char *leaf, pid_t pid, struct nxerr *err)
{
  if (c == NULL || !c->on || leaf[0] == '\0')
    return 0;
  /* The backends take a non-const handle; attach writes nothing in it. */
  if (c->cg.ops->attach ((struct cgroups *) &c->cg, leaf, pid, err) < 0)
    return nxerr_wrap (err, "agent %d: its cgroup leaf %s", (int) pid, leaf);
  return 0;
}

bool
cgnone_adopt (struct cgnone *c, pid_t pid, char name[CGNONE_LEAF_MAX])
{
  char path[CG_PATH_MAX + LEAF_NAME_MAX + 2];
  name[0] = '\0';
  if (c == NULL || !c->on)
    return false;
  for (size_t i = 0; i < c->n_kept; i++)
    if (c->kept[i].pid == pid)
      {
        snprintf (path, sizeof path, "%s/%s", cgnone_leaves_dir (&c->cg), c->kept[i].name);
        if (access (path, F_OK) < 0)
          return false;
        snprintf (name, LEAF_NAME_MAX, "%s", c->kept[i].name);
        return true;
      }
  return false;
}

void
cgnone_release (struct cgnone *c, const char *name)
{
  struct nxerr err = { 0 };
  if (c == NULL || !c->on || name[0] == '\0')
    return;
  take_busy (c, name);
  if (empty_leaf (c, name, &err) == 0)
    return;
  /* A process on its way out (killed a moment ago): try again soon. */
  log_debug ("sandbox \"none\": %s; retrying", err.msg);
  queue_busy (c, name);
}

void
cgnone_write_info (const struct node *n, struct jsonw *w)
{
  const struct cgnone *c = n->cgnone;
  bool on = c && c->on;
  jsonw_kstr (w, "cgroup", on ? c->cg.ops->name : "none");
  if (on)
    jsonw_kstr (w, "cgroup_name", c->cg.node_name);
  jsonw_kbool (w, "descendants_contained", on);
  if (!on)
    jsonw_kstr (w, "not_contained", c ? c->why : "no containment");
}
