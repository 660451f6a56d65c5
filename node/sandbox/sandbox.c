#include "node/sandbox/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "api/log.h"
#include "api/xalloc.h"
#include "node/core/identity.h"
#include "node/core/node.h"
#include "node/sandbox/cgnone.h"
#include "node/sandbox/preflight.h"
#include "node/sandbox/rootns.h"
#include "node/core/rmtree.h"
#include "node/sandbox/uidrange.h"

#define RECLAIM_EVERY_MS 100
#define RECLAIM_TRIES 100 /* then the uid stays retired, never reused */
#define TRASH_PREFIX ".trash-"

/* A working dir moved aside, waiting for the cleaner thread. */
struct trash {
  struct trash *next;
  char name[64];
};

struct sandbox {
  struct node *node;
  struct cgroups cg;
  struct uidrange uids;
  char state_dir[PATH_MAX];
  char dir[PATH_MAX]; /* <state>/sandboxes */
  int dirfd;
  const char *disabled[CG_NCTRL + 2];
  size_t n_disabled;
  double selftest_ms;
  bool userns;          /* each agent gets --user-namespace (agent/userns.h) */
  char userns_why[200]; /* why not, under "auto" */
  struct sandbox_slot *reclaim; /* leaves that were still busy */
  struct loop_timer reclaim_timer;
  uint64_t trash_seq;
  uint64_t retired_uids;
  /* the cleaner thread */
  pthread_t thread;
  bool thread_started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct trash *head, *tail;
  bool quit;
};

int
sandbox_clone_flags (const struct config *cfg)
{
  return CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
         | (cfg->network == SANDBOX_NET_NONE ? CLONE_NEWNET : 0);
}

int
sandbox_mkdirs (const char *dir, struct nxerr *err)
{
  return identity_mkdirs (dir, err);
}

int
sandbox_make_workdir (const char *path, uint32_t uid, struct nxerr *err)
{
  if (mkdir (path, 0700) < 0)
    return nxerr_sys (err, errno, "mkdir %s", path);
  if (chown (path, (uid_t) uid, (gid_t) uid) < 0)
    {
      int e = errno;
      rmdir (path);
      return nxerr_sys (err, e, "chown %s to %u", path, uid);
    }
  return 0;
}

/* The limits of a sandbox without per-deploy resources. */
static struct cg_limits
template_limits (const struct config *cfg)
{
  struct cg_limits l;
  l.memory_bytes = (uint64_t) cfg->memsize_mib << 20;
  l.cpu_milli = (uint32_t) (cfg->vcpu_count * 1000);
  l.pids = (uint64_t) cfg->pids_limit;
  return l;
}

static int64_t
max_memory_mib (const struct config *cfg)
{
  return cfg->max_memory_mib ? cfg->max_memory_mib : cfg->memsize_mib;
}

static int64_t
max_vcpus_milli (const struct config *cfg)
{
  return cfg->max_vcpus_milli ? cfg->max_vcpus_milli : cfg->vcpu_count * 1000;
}

static int64_t
max_pids (const struct config *cfg)
{
  return cfg->max_pids ? cfg->max_pids : cfg->pids_limit;
}

/* ---- the cleaner thread ---- */

static void *
cleaner (void *arg)
{
  struct sandbox *sb = arg;
  pthread_mutex_lock (&sb->mu);
  for (;;)
    {
      struct trash *t;
      struct nxerr err = { 0 };
      while (sb->head == NULL && !sb->quit)
        pthread_cond_wait (&sb->cv, &sb->mu);
      if (sb->head == NULL)
        break; /* quit, and nothing left */
      t = sb->head;
      sb->head = t->next;
      if (sb->head == NULL)
        sb->tail = NULL;
      pthread_mutex_unlock (&sb->mu);
      if (rmtree_at (sb->dirfd, t->name, &err) < 0)
        log_warn ("sandbox: removing %s/%s: %s", sb->dir, t->name, err.msg);
      free (t);
      pthread_mutex_lock (&sb->mu);
    }
  pthread_mutex_unlock (&sb->mu);
  return NULL;
}

/* Move a working dir out of the way at once (the uid may be handed out
 * again right after) and delete it off the loop thread. */
static void
discard_workdir (struct sandbox *sb, const char *name)
{
  struct trash *t = xcalloc (1, sizeof *t);
  snprintf (t->name, sizeof t->name, TRASH_PREFIX "%s-%llu", name,
            (unsigned long long) ++sb->trash_seq);
  if (renameat (sb->dirfd, name, sb->dirfd, t->name) < 0)
    {
      if (errno != ENOENT)
        log_warn ("sandbox: cannot move %s/%s aside: %s", sb->dir, name, strerror (errno));
      free (t);
      return;
    }
  pthread_mutex_lock (&sb->mu);
  if (!sb->thread_started)
    sb->thread_started = pthread_create (&sb->thread, NULL, cleaner, sb) == 0;
  if (sb->tail)
    sb->tail->next = t;
  else
    sb->head = t;
  sb->tail = t;
  pthread_cond_signal (&sb->cv);
  pthread_mutex_unlock (&sb->mu);
  if (!sb->thread_started)
    {
      /* No thread: do it here rather than leave it. */
      struct nxerr err = { 0 };
      pthread_mutex_lock (&sb->mu);
      sb->head = sb->tail = NULL;
      pthread_mutex_unlock (&sb->mu);
      rmtree_at (sb->dirfd, t->name, &err);
      free (t);
    }
}

/* ---- start and stop ---- */

/* "u<uid>" of a sandbox a restarted node reattaches to (keep). */
static bool
kept_name (const void *ud, const char *name)
{
  const struct sandbox_keep *keep = ud;
  char *end;
  unsigned long uid;
  if (name[0] != 'u' || keep == NULL)
    return false;
  uid = strtoul (name + 1, &end, 10);
  if (*end != '\0' || end == name + 1 || uid > UINT32_MAX)
    return false;
  for (size_t i = 0; i < keep->n; i++)
    if (keep->uids[i] == uid)
      return true;
  return false;
}

/* Working dirs (and trash) of a previous run: nothing of theirs runs, but
 * the sandboxes being reattached. */
static int
sweep_workdirs (struct sandbox *sb, const struct sandbox_keep *keep)
{
  DIR *d = opendir (sb->dir);
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir (d)) != NULL)
    {
      struct nxerr err = { 0 };
      if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0
          || kept_name (keep, e->d_name))
        continue;
      if (rmtree_at (sb->dirfd, e->d_name, &err) < 0)
        log_warn ("sandbox: leftover %s/%s: %s", sb->dir, e->d_name, err.msg);
      else
        n++;
    }
  if (d)
    closedir (d);
  return n;
}

static void
on_reclaim (struct loop_timer *t);

int
sandbox_start (struct node *n, const struct sandbox_keep *keep, struct nxerr *err)
{
  struct preflight pf;
  struct preflight_opts o;
  struct sandbox *sb;
  char cgname[64], *abs;
  int removed = 0, leftovers;
  if (n->cfg.sandbox != SANDBOX_PROCESS)
    {
      n->sandbox = NULL;
      return 0;
    }
  if (sandbox_mkdirs (n->cfg.state_dir, err) < 0)
    return nxerr_wrap (err, "state dir");
  abs = realpath (n->cfg.state_dir, NULL);
  if (abs == NULL)
    return nxerr_sys (err, errno, "state dir %s", n->cfg.state_dir);
  cgroup_node_name (n->node_id, cgname, sizeof cgname);
  o = (struct preflight_opts){ .cfg = &n->cfg, .state_dir = abs, .agent_path = n->agent_path,
                               .servers = NULL, .cgroup_name = cgname, .who = n->node_id,
                               .keep_uids = keep ? keep->uids : NULL, .n_keep = keep ? keep->n : 0 };
  preflight_run (&o, &pf);
  preflight_log (&pf);
  if (!preflight_ready (&pf))
    {
      /* The preflight made the node cgroup: a refused start leaves none
       * (one it found, a previous run's, is not its to remove). */
      if (pf.cg.created)
        cgroup_teardown (&pf.cg);
      uidrange_free (&pf.uids);
      free (abs);
      return nxerr_set (err, EPERM,
                        "sandbox \"process\" cannot start: a prerequisite is missing (the lines "
                        "above; `nexc-node preflight` shows the table). Fix it, or set "
                        "\"sandbox\": \"none\" to run workloads without isolation");
    }
  sb = xcalloc (1, sizeof *sb);
  sb->node = n;
  sb->cg = pf.cg;
  sb->uids = pf.uids; /* moved: its blocks are the sandbox's now */
  sb->selftest_ms = pf.selftest_ms;
  sb->userns = pf.userns;
  snprintf (sb->userns_why, sizeof sb->userns_why, "%s", pf.userns_why);
  snprintf (sb->state_dir, sizeof sb->state_dir, "%s", abs);
  snprintf (sb->dir, sizeof sb->dir, "%s/sandboxes", abs);
  free (abs);
  pthread_mutex_init (&sb->mu, NULL);
  pthread_cond_init (&sb->cv, NULL);
  loop_timer_init (&sb->reclaim_timer, on_reclaim);
  sb->dirfd = -1;
  if (sandbox_mkdirs (sb->dir, err) < 0
      || (sb->dirfd = open (sb->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    {
      if (err->msg[0] == '\0')
        nxerr_sys (err, errno, "open %s", sb->dir);
      n->sandbox = sb;
      sandbox_stop (n);
      return -1;
    }
  for (int c = 0; c < CG_NCTRL; c++)
    if (!sb->cg.have[c])
      sb->disabled[sb->n_disabled++]
          = c == CG_MEMORY ? "cgroup.memory" : (c == CG_PIDS ? "cgroup.pids" : "cgroup.cpu");
  if (!sb->userns)
    sb->disabled[sb->n_disabled++] = "user_namespace";
  if (cgroup_sweep_except (&sb->cg, kept_name, keep, &removed, err) < 0)
    log_error ("sandbox: %s", err->msg);
  nxerr_clear (err);
  leftovers = sweep_workdirs (sb, keep);
  if (removed || leftovers)
    log_info ("sandbox: removed what a previous run left: %d cgroups, %d working dirs", removed,
              leftovers);
  if (sb->n_disabled)
    {
      char list[128] = "";
      for (size_t i = 0; i < sb->n_disabled; i++)
        snprintf (list + strlen (list), sizeof list - strlen (list), "%s%s", i ? ", " : "",
                  sb->disabled[i]);
      log_warn ("sandbox \"process\" runs with %zu part%s off (INFO nexc.sandbox.disabled, tag "
                "nex.sandbox.disabled): %s",
                sb->n_disabled, sb->n_disabled > 1 ? "s" : "", list);
    }
  if (!sb->userns && n->cfg.user_namespace == USERNS_AUTO)
    log_warn ("sandbox: \"user_namespace\": \"auto\": this host does not allow it (%s): "
              "workloads run as their host uid in the host's user namespace",
              sb->userns_why);
  {
    uint32_t first = 0;
    size_t held = uidrange_held (&sb->uids, &first, 1);
    log_info ("sandbox \"process\": namespaces pid, mount, ipc, uts%s%s; file system %s by "
              "default; seccomp default-deny; uids from "
              "%u-%u in blocks of %u (%s), holding %u-%u%s%s%s; cgroup %s%s%s; self-test "
              "%.1f ms",
              n->cfg.network == SANDBOX_NET_NONE ? ", net" : "",
              sb->userns ? ", user (one id: the sandbox's uid)" : "",
              fs_mode_name (n->cfg.filesystem), sb->uids.start,
              sb->uids.start + sb->uids.count - 1, UIDBLOCK_SIZE, uidrange_lock_dir (&sb->uids),
              first, first + UIDBLOCK_SIZE - 1, held > 1 ? " and more" : "",
              sb->uids.note[0] ? "; skipped: " : "", sb->uids.note[0] ? sb->uids.note : "",
              sb->cg.ops ? sb->cg.ops->name : "none", sb->cg.created ? " " : "",
              sb->cg.created ? sb->cg.node_name : "", sb->selftest_ms);
  }
  if (n->cfg.filesystem == FS_HOST_RO)
    log_warn ("sandbox: \"filesystem\": \"host-ro\": workloads see the host's whole tree "
              "(read-only) unless a deploy asks for \"minimal\" (INFO nexc.sandbox.filesystem, "
              "tag nex.sandbox.filesystem)");
  n->sandbox = sb;
  return 0;
}

void
sandbox_stop (struct node *n)
{
  struct sandbox *sb = n->sandbox;
  if (sb == NULL)
    return;
  if (n->loop)
    loop_timer_cancel (n->loop, &sb->reclaim_timer);
  /* Last attempt for busy leaves: everything was reaped by now. */
  while (sb->reclaim)
    {
      struct sandbox_slot *s = sb->reclaim;
      struct nxerr err = { 0 };
      sb->reclaim = s->next;
      sb->cg.ops->kill_all (&sb->cg, s->id);
      if (sb->cg.ops->remove (&sb->cg, s->id, &err) < 0)
        log_error ("sandbox: %s", err.msg);
      free (s);
    }
  pthread_mutex_lock (&sb->mu);
  sb->quit = true;
  pthread_cond_signal (&sb->cv);
  pthread_mutex_unlock (&sb->mu);
  if (sb->thread_started)
    pthread_join (sb->thread, NULL); /* drains the queue first */
  if (sb->cg.ops)
    cgroup_teardown (&sb->cg);
  if (sb->dirfd >= 0)
    close (sb->dirfd);
  uidrange_free (&sb->uids);
  pthread_mutex_destroy (&sb->mu);
  pthread_cond_destroy (&sb->cv);
  free (sb);
  n->sandbox = NULL;
}

/* ---- one sandbox ---- */

/* A uid, and a line when that took a new block (node/sandbox/uidrange.h). */
static int
take_uid (struct sandbox *sb, uint32_t *uid, struct nxerr *err)
{
  uint32_t held = sb->uids.held;
  if (uidrange_alloc (&sb->uids, uid, err) < 0)
    return -1;
  if (sb->uids.held > held)
    log_info ("sandbox: took uids %u-%u (%u blocks held)%s%s", uidblock_start (*uid),
              uidblock_start (*uid) + UIDBLOCK_SIZE - 1, sb->uids.held,
              sb->uids.note[0] ? "; skipped: " : "", sb->uids.note);
  return 0;
}

static void
release_uid (struct sandbox *sb, uint32_t uid)
{
  uint32_t held = sb->uids.held;
  uidrange_release (&sb->uids, uid);
  if (sb->uids.held < held)
    log_info ("sandbox: gave back uids %u-%u (%u blocks held)", uidblock_start (uid),
              uidblock_start (uid) + UIDBLOCK_SIZE - 1, sb->uids.held);
}

int
sandbox_slot_new (struct sandbox *sb, struct sandbox_slot **out, struct nxerr *err)
{
  struct sandbox_slot *s = xcalloc (1, sizeof *s);
  if (take_uid (sb, &s->uid, err) < 0)
    {
      free (s);
      return -1;
    }
  snprintf (s->id, sizeof s->id, "u%u", s->uid);
  snprintf (s->uidtext, sizeof s->uidtext, "%u", s->uid);
  snprintf (s->workdir, sizeof s->workdir, "%s/%s", sb->dir, s->id);
  discard_workdir (sb, s->id); /* a stale one, should there be any */
  if (sandbox_make_workdir (s->workdir, s->uid, err) < 0)
    goto fail;
  if (sb->cg.ops)
    {
      s->limits = template_limits (&sb->node->cfg);
      if (sb->cg.ops->create (&sb->cg, s->id, err) < 0)
        goto fail;
      s->leaf = true;
      if (sb->cg.ops->set_limits (&sb->cg, s->id, &s->limits, err) < 0)
        goto fail;
    }
  else
    s->limits.pids = (uint64_t) sb->node->cfg.pids_limit;
  *out = s;
  return 0;
fail:
  nxerr_wrap (err, "sandbox %s", s->id);
  sandbox_slot_release (sb, s);
  return -1;
}

size_t
sandbox_slot_argv (const struct sandbox *sb, const struct sandbox_slot *s, char **argv,
                   size_t room)
{
  char *const a[] = { "--uid",       (char *) s->uidtext,     "--gid",     (char *) s->uidtext,
                      "--workdir",   (char *) s->workdir,     "--state-dir",
                      (char *) sb->state_dir,                 "--network",
                      sb->node->cfg.network == SANDBOX_NET_NONE ? "none" : "host",
                      "--user-namespace" };
  /* Every agent of this node, or none: the last option only with it. */
  size_t n = sizeof a / sizeof a[0] - (sb->userns ? 0 : 1);
  if (n > room)
    return 0;
  memcpy (argv, a, n * sizeof a[0]);
  return n;
}

size_t
sandbox_slot_join (const struct sandbox *sb, const struct sandbox_slot *s,
                   char (*out)[CG_PROCS_MAX], size_t max)
{
  if (!s->leaf)
    return 0;
  return cgroup_procs_files (&sb->cg, s->id, out, max);
}

int
sandbox_slot_apply (struct sandbox *sb, struct sandbox_slot *s, const struct deploy_resources *res,
                    struct nxerr *err)
{
  struct cg_limits want = template_limits (&sb->node->cfg), write;
  if (res->memory_mib)
    want.memory_bytes = res->memory_mib << 20;
  if (res->vcpus_milli)
    want.cpu_milli = res->vcpus_milli;
  if (res->pids)
    want.pids = res->pids;
  /* Only what differs from the leaf's current limits: usually nothing. */
  write.memory_bytes = want.memory_bytes != s->limits.memory_bytes ? want.memory_bytes : 0;
  write.cpu_milli = want.cpu_milli != s->limits.cpu_milli ? want.cpu_milli : 0;
  write.pids = want.pids != s->limits.pids ? want.pids : 0;
  if (s->leaf && (write.memory_bytes || write.cpu_milli || write.pids)
      && sb->cg.ops->set_limits (&sb->cg, s->id, &write, err) < 0)
    return nxerr_wrap (err, "sandbox %s: resources", s->id);
  s->limits = want;
  return 0;
}

uint64_t
sandbox_slot_oom_kills (struct sandbox *sb, struct sandbox_slot *s)
{
  struct nxerr err = { 0 };
  uint64_t n = 0;
  if (!s->leaf || sb->cg.ops->oom_kills (&sb->cg, s->id, &n, &err) < 0)
    return 0;
  return n;
}

static void
retire (struct sandbox *sb, struct sandbox_slot *s, const char *why)
{
  sb->retired_uids++;
  log_error ("sandbox %s: %s; its uid %u is retired (never handed out again by this node)", s->id,
             why, s->uid);
  free (s);
}

static void
on_reclaim (struct loop_timer *t)
{
  struct sandbox *sb = (struct sandbox *) ((char *) t - offsetof (struct sandbox, reclaim_timer));
  struct sandbox_slot **pp = &sb->reclaim;
  while (*pp)
    {
      struct sandbox_slot *s = *pp;
      struct nxerr err = { 0 };
      sb->cg.ops->kill_all (&sb->cg, s->id);
      if (sb->cg.ops->remove (&sb->cg, s->id, &err) == 0)
        {
          *pp = s->next;
          release_uid (sb, s->uid);
          free (s);
        }
      else if (++s->reclaim_tries >= RECLAIM_TRIES)
        {
          *pp = s->next;
          retire (sb, s, err.msg);
        }
      else
        pp = &s->next;
    }
  if (sb->reclaim && sb->node->loop)
    loop_timer_arm (sb->node->loop, t, RECLAIM_EVERY_MS);
}

void
sandbox_slot_release (struct sandbox *sb, struct sandbox_slot *s)
{
  struct nxerr err = { 0 };
  if (s == NULL)
    return;
  discard_workdir (sb, s->id);
  if (s->leaf)
    {
      sb->cg.ops->kill_all (&sb->cg, s->id);
      if (sb->cg.ops->remove (&sb->cg, s->id, &err) < 0)
        {
          /* Still busy (a process on its way out): the uid stays taken
           * until the leaf is gone. */
          log_debug ("sandbox %s: %s; retrying", s->id, err.msg);
          s->next = sb->reclaim;
          sb->reclaim = s;
          if (sb->node->loop && !loop_timer_armed (&sb->reclaim_timer))
            loop_timer_arm (sb->node->loop, &sb->reclaim_timer, RECLAIM_EVERY_MS);
          return;
        }
    }
  release_uid (sb, s->uid);
  free (s);
}

int
sandbox_slot_adopt (struct sandbox *sb, uint32_t uid, struct sandbox_slot **out, struct nxerr *err)
{
  struct sandbox_slot *s;
  (void) err;
  /* Its uid was adopted at start (the preflight, from the keep list). */
  s = xcalloc (1, sizeof *s);
  s->uid = uid;
  snprintf (s->id, sizeof s->id, "u%u", uid);
  snprintf (s->uidtext, sizeof s->uidtext, "%u", uid);
  snprintf (s->workdir, sizeof s->workdir, "%s/%s", sb->dir, s->id);
  s->leaf = sb->cg.ops != NULL;
  /* What the leaf holds is not known any more: the template (a deploy's
   * own resources stay written in the leaf). */
  s->limits = template_limits (&sb->node->cfg);
  *out = s;
  return 0;
}

/* The user namespace of pid ("user:[4026531837]"), or "" when gone. */
static void
userns_of (const char *pid, char *out, size_t cap)
{
  char path[64];
  ssize_t n;
  snprintf (path, sizeof path, "/proc/%s/ns/user", pid);
  n = readlink (path, out, cap - 1);
  out[n > 0 ? n : 0] = '\0';
}

void
sandbox_slot_check_adopted (const struct sandbox *sb, const struct sandbox_slot *s,
                            pid_t agent_pid, const char *workload_id)
{
  char path[96], kids[64] = "", mine[64], theirs[64];
  int fd;
  ssize_t n;
  bool own;
  snprintf (path, sizeof path, "/proc/%d/task/%d/children", (int) agent_pid, (int) agent_pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  n = fd >= 0 ? read (fd, kids, sizeof kids - 1) : -1;
  if (fd >= 0)
    close (fd);
  kids[n > 0 ? n : 0] = '\0';
  kids[strcspn (kids, " \n")] = '\0';
  if (kids[0] == '\0')
    return; /* its workload ended meanwhile (or no CONFIG_PROC_CHILDREN) */
  userns_of ("self", mine, sizeof mine);
  userns_of (kids, theirs, sizeof theirs);
  if (theirs[0] == '\0')
    return;
  own = strcmp (mine, theirs) != 0;
  if (own != sb->userns)
    log_warn ("workload %s (sandbox %s, reattached): runs %s, as the node that started it "
              "set; this node's user_namespace gives %s; it changes at its next start",
              workload_id, s->id,
              own ? "in a user namespace of its own" : "in the host's user namespace",
              sb->userns ? "each workload one" : "none");
}

/* ---- deploys, INFO, tags ---- */

int
sandbox_check_resources (const struct node *n, const struct deploy_resources *res, char *msg,
                         size_t cap)
{
  const struct sandbox *sb = n->sandbox;
  const struct config *cfg = &n->cfg;
  if (res->memory_mib == 0 && res->vcpus_milli == 0 && res->pids == 0)
    return 0;
  if (sb == NULL)
    {
      snprintf (msg, cap, "Invalid deploy request: resources cannot be enforced by this node "
                          "(sandbox \"none\")");
      return -1;
    }
  if (res->memory_mib && !sb->cg.have[CG_MEMORY])
    {
      snprintf (msg, cap, "Invalid deploy request: resources.memory_mib cannot be enforced by "
                          "this node (no memory cgroup controller)");
      return -1;
    }
  if (res->vcpus_milli && !sb->cg.have[CG_CPU])
    {
      snprintf (msg, cap, "Invalid deploy request: resources.vcpus cannot be enforced by this "
                          "node (no cpu cgroup controller)");
      return -1;
    }
  if (res->memory_mib && (int64_t) res->memory_mib > max_memory_mib (cfg))
    {
      snprintf (msg, cap,
                "Invalid deploy request: resources.memory_mib %llu exceeds this node's maximum "
                "%lld",
                (unsigned long long) res->memory_mib, (long long) max_memory_mib (cfg));
      return -1;
    }
  if (res->vcpus_milli && (int64_t) res->vcpus_milli > max_vcpus_milli (cfg))
    {
      snprintf (msg, cap,
                "Invalid deploy request: resources.vcpus %g exceeds this node's maximum %g",
                res->vcpus_milli / 1000.0, (double) max_vcpus_milli (cfg) / 1000.0);
      return -1;
    }
  if (res->pids && (int64_t) res->pids > max_pids (cfg))
    {
      snprintf (msg, cap,
                "Invalid deploy request: resources.pids %llu exceeds this node's maximum %lld",
                (unsigned long long) res->pids, (long long) max_pids (cfg));
      return -1;
    }
  return 0;
}

static void
write_milli (struct jsonw *w, const char *key, int64_t milli)
{
  char num[32];
  int len = snprintf (num, sizeof num, "%lld.%03lld", (long long) (milli / 1000),
                      (long long) (milli % 1000));
  jsonw_key (w, key);
  jsonw_raw (w, num, (size_t) len);
}

/* The first uid of each block this node holds (uidrange.h). */
static void
write_blocks (struct jsonw *w, const struct uidrange *u)
{
  size_t n = uidrange_held (u, NULL, 0);
  uint32_t *v = xcalloc (n + 1, sizeof *v);
  uidrange_held (u, v, n);
  jsonw_key (w, "blocks");
  jsonw_arr_begin (w);
  for (size_t i = 0; i < n; i++)
    jsonw_int (w, v[i]);
  jsonw_arr_end (w);
  free (v);
}

void
sandbox_write_info (const struct node *n, struct jsonw *w)
{
  const struct sandbox *sb = n->sandbox;
  const struct config *cfg = &n->cfg;
  jsonw_key (w, "sandbox");
  jsonw_obj_begin (w);
  if (sb == NULL)
    {
      jsonw_kstr (w, "tier", "none");
      jsonw_kbool (w, "unsafe", true);
      cgnone_write_info (n, w);
      jsonw_obj_end (w);
      return;
    }
  jsonw_kstr (w, "tier", "process");
  jsonw_key (w, "namespaces");
  jsonw_arr_begin (w);
  jsonw_str (w, "pid");
  jsonw_str (w, "mount");
  jsonw_str (w, "ipc");
  jsonw_str (w, "uts");
  if (cfg->network == SANDBOX_NET_NONE)
    jsonw_str (w, "net");
  if (sb->userns)
    jsonw_str (w, "user");
  jsonw_arr_end (w);
  jsonw_key (w, "user_namespace");
  jsonw_obj_begin (w);
  jsonw_kstr (w, "mode", cfg->user_namespace == USERNS_ON    ? "on"
                         : cfg->user_namespace == USERNS_OFF ? "off"
                                                             : "auto");
  jsonw_kbool (w, "active", sb->userns);
  if (sb->userns)
    jsonw_kstr (w, "map", "one id: the sandbox's host uid and gid, the same number inside");
  else if (sb->userns_why[0])
    jsonw_kstr (w, "why_not", sb->userns_why);
  jsonw_obj_end (w);
  {
    /* Ids are the node's namespace's (node/sandbox/rootns.h): what they
     * are on the host. */
    const struct rootns *ns = rootns_get ();
    jsonw_key (w, "rootless");
    jsonw_obj_begin (w);
    jsonw_kbool (w, "active", ns != NULL);
    if (ns)
      {
        jsonw_kint (w, "host_uid", ns->uid);
        jsonw_kint (w, "host_gid", ns->gid);
        jsonw_kint (w, "ids", rootns_inside_count (ns));
        jsonw_kint (w, "subuid_start", ns->subuid.start);
        jsonw_kint (w, "subgid_start", ns->subgid.start);
      }
    jsonw_obj_end (w);
  }
  jsonw_kstr (w, "network", cfg->network == SANDBOX_NET_NONE ? "none" : "host");
  /* The default of deploys that do not say (each may: "filesystem"). */
  jsonw_kstr (w, "filesystem", fs_mode_name (cfg->filesystem));
  jsonw_kstr (w, "seccomp_policy", "default-deny");
  {
    /* The agents probe the same kernel: writes confined, and reads to the
     * workload's own root, with any ABI; abstract sockets and signals
     * scoped from ABI 6 (agent/landlock.h). */
    long abi = syscall (SYS_landlock_create_ruleset, NULL, 0, 1u /* _VERSION */);
    jsonw_key (w, "landlock");
    jsonw_obj_begin (w);
    jsonw_kint (w, "abi", abi > 0 ? abi : 0);
    jsonw_kbool (w, "writes_confined", abi > 0);
    jsonw_kbool (w, "reads_confined", abi > 0);
    jsonw_kbool (w, "scoped", abi >= 6);
    jsonw_obj_end (w);
  }
  jsonw_kbool (w, "seccomp", true);
  jsonw_kbool (w, "no_new_privs", true);
  jsonw_kstr (w, "cgroup", sb->cg.ops ? sb->cg.ops->name : "none");
  if (sb->cg.created)
    jsonw_kstr (w, "cgroup_name", sb->cg.node_name);
  jsonw_key (w, "limits");
  jsonw_obj_begin (w);
  if (sb->cg.have[CG_MEMORY])
    jsonw_kint (w, "memory_mib", cfg->memsize_mib);
  if (sb->cg.have[CG_CPU])
    write_milli (w, "vcpus", cfg->vcpu_count * 1000);
  jsonw_kint (w, "pids", cfg->pids_limit);
  jsonw_kstr (w, "pids_by", sb->cg.have[CG_PIDS] ? "cgroup+rlimit" : "rlimit");
  jsonw_kint (w, "open_files", cfg->open_files_limit);
  jsonw_kint (w, "core_size", 0);
  jsonw_obj_end (w);
  jsonw_key (w, "max_resources");
  jsonw_obj_begin (w);
  jsonw_kint (w, "memory_mib", max_memory_mib (cfg));
  write_milli (w, "vcpus", max_vcpus_milli (cfg));
  jsonw_kint (w, "pids", max_pids (cfg));
  jsonw_obj_end (w);
  jsonw_key (w, "uid_range");
  jsonw_obj_begin (w);
  jsonw_kint (w, "start", sb->uids.start);
  jsonw_kint (w, "count", sb->uids.count);
  jsonw_kint (w, "block_size", UIDBLOCK_SIZE);
  jsonw_kstr (w, "lock_dir", uidrange_lock_dir (&sb->uids));
  write_blocks (w, &sb->uids);
  jsonw_kint (w, "in_use", sb->uids.in_use);
  jsonw_kint (w, "available", uidrange_available (&sb->uids));
  jsonw_kint (w, "retired", (int64_t) sb->retired_uids);
  jsonw_obj_end (w);
  jsonw_kint (w, "oom_kills", (int64_t) n->counters.oom_kills);
  jsonw_key (w, "disabled");
  jsonw_arr_begin (w);
  for (size_t i = 0; i < sb->n_disabled; i++)
    jsonw_str (w, sb->disabled[i]);
  jsonw_arr_end (w);
  jsonw_obj_end (w);
}

void
sandbox_tags (const struct node *n, struct strmap *tags)
{
  const struct sandbox *sb = n->sandbox;
  char list[128] = "";
  if (sb == NULL)
    return;
  /* The weaker view is said where schedulers look. */
  if (n->cfg.filesystem == FS_HOST_RO)
    strmap_set (tags, "nex.sandbox.filesystem", "host-ro");
  if (rootns_get ())
    strmap_set (tags, "nex.sandbox.rootless", "true");
  if (sb->n_disabled == 0)
    return;
  for (size_t i = 0; i < sb->n_disabled; i++)
    snprintf (list + strlen (list), sizeof list - strlen (list), "%s%s", i ? "," : "",
              sb->disabled[i]);
  strmap_set (tags, "nex.sandbox.disabled", list);
}
