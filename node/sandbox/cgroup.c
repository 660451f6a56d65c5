#include "node/sandbox/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/buf.h"
#include "api/xalloc.h"
#include "node/core/path.h"

#define SWEEP_TRIES 200   /* x 5 ms: how long a leftover leaf may take to empty */
#define KILL_ROUNDS 50

static const char *const ctrl_names[CG_NCTRL] = { "memory", "pids", "cpu" };

const char *
cgroup_ctrl_name (enum cg_ctrl c)
{
  return c < CG_NCTRL ? ctrl_names[c] : "?";
}

/* ---- pure helpers ---- */

void
cgroup_node_name (const char *node_id, char *out, size_t cap)
{
  snprintf (out, cap, "nexc-%.12s", node_id);
}

static bool
has_token (const char *list, size_t len, const char *tok)
{
  size_t tl = strlen (tok);
  const char *p = list, *end = list + len;
  while (p < end)
    {
      const char *comma = memchr (p, ',', (size_t) (end - p));
      size_t n = comma ? (size_t) (comma - p) : (size_t) (end - p);
      if (n == tl && memcmp (p, tok, tl) == 0)
        return true;
      if (comma == NULL)
        break;
      p = comma + 1;
    }
  return false;
}

int
cgroup_find_mount (const char *mountinfo, const char *controller, char *out, size_t cap)
{
  const char *line = mountinfo;
  while (line && *line)
    {
      const char *nl = strchr (line, '\n');
      size_t len = nl ? (size_t) (nl - line) : strlen (line);
      char copy[2048];
      char *f[8], *save = NULL, *tok, *dash;
      int nf = 0;
      if (len < sizeof copy)
        {
          memcpy (copy, line, len);
          copy[len] = '\0';
          /* "id parent maj:min root mountpoint opts [optional...] - type source superopts" */
          dash = strstr (copy, " - ");
          if (dash)
            {
              *dash = '\0';
              for (tok = strtok_r (copy, " ", &save); tok && nf < 5; tok = strtok_r (NULL, " ", &save))
                f[nf++] = tok;
              save = NULL;
              if (nf == 5)
                {
                  char *type = strtok_r (dash + 3, " ", &save);
                  char *source = strtok_r (NULL, " ", &save);
                  char *super = strtok_r (NULL, " ", &save);
                  (void) source;
                  if (type && super)
                    {
                      bool match = controller == NULL
                                       ? strcmp (type, "cgroup2") == 0
                                       : strcmp (type, "cgroup") == 0
                                             && has_token (super, strlen (super), controller);
                      if (match && strlen (f[4]) < cap)
                        {
                          snprintf (out, cap, "%s", f[4]);
                          return 0;
                        }
                    }
                }
            }
        }
      line = nl ? nl + 1 : NULL;
    }
  return -1;
}

int
cgroup_find_self (const char *self_cgroup, const char *controller, char *out, size_t cap)
{
  const char *line = self_cgroup;
  while (line && *line)
    {
      const char *nl = strchr (line, '\n');
      size_t len = nl ? (size_t) (nl - line) : strlen (line);
      const char *c1 = memchr (line, ':', len);
      const char *c2 = c1 ? memchr (c1 + 1, ':', len - (size_t) (c1 + 1 - line)) : NULL;
      if (c2)
        {
          size_t clen = (size_t) (c2 - c1 - 1);
          size_t plen = len - (size_t) (c2 + 1 - line);
          bool match = controller == NULL
                           ? (c1 - line == 1 && line[0] == '0' && clen == 0)
                           : has_token (c1 + 1, clen, controller);
          if (match && plen < cap)
            {
              memcpy (out, c2 + 1, plen);
              out[plen] = '\0';
              return 0;
            }
        }
      line = nl ? nl + 1 : NULL;
    }
  return -1;
}

uint64_t
cgroup_cpu_quota_us (uint32_t milli)
{
  uint64_t q = (uint64_t) milli * CG_CPU_PERIOD_US / 1000u;
  return q < 1000 ? 1000 : q; /* the kernel's minimum quota is 1 ms */
}

int64_t
cgroup_keyed_value (const char *text, const char *key)
{
  size_t kl = strlen (key);
  const char *line = text;
  while (line && *line)
    {
      if (strncmp (line, key, kl) == 0 && line[kl] == ' ')
        return strtoll (line + kl + 1, NULL, 10);
      line = strchr (line, '\n');
      if (line)
        line++;
    }
  return -1;
}

/* ---- files ---- */

static int
read_text (const char *path, char *out, size_t cap)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  size_t got = 0;
  if (fd < 0)
    return -1;
  while (got + 1 < cap)
    {
      ssize_t r = read (fd, out + got, cap - 1 - got);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      got += (size_t) r;
    }
  close (fd);
  out[got] = '\0';
  return 0;
}

/* Whole file into a malloc'd string (mountinfo can be long). */
static char *
slurp (const char *path)
{
  struct buf b = BUF_INIT;
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  for (;;)
    {
      ssize_t r;
      buf_reserve (&b, 8192);
      r = read (fd, b.data + b.len, 8192);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      b.len += (size_t) r;
    }
  close (fd);
  buf_append (&b, "", 1);
  return buf_steal (&b, NULL);
}

static int
write_file (const char *dir, const char *name, const char *value, struct nxerr *err)
{
  char path[CG_PATH_MAX + 64];
  size_t len = strlen (value);
  ssize_t w;
  int fd;
  snprintf (path, sizeof path, "%s/%s", dir, name);
  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return nxerr_sys (err, errno, "open %s", path);
  w = write (fd, value, len);
  if (w != (ssize_t) len)
    {
      int e = w < 0 ? errno : EIO;
      close (fd);
      return nxerr_sys (err, e, "write \"%s\" to %s", value, path);
    }
  close (fd);
  return 0;
}

static int
leaf_path (char *out, size_t cap, const char *dir, const char *leaf)
{
  if (snprintf (out, cap, "%s/%s", dir, leaf) >= (int) cap)
    return -1;
  return 0;
}

static int
make_dir (const char *path, struct nxerr *err)
{
  if (mkdir (path, 0755) < 0 && errno != EEXIST)
    return nxerr_sys (err, errno, "mkdir %s", path);
  return 0;
}

/* SIGKILL every pid listed in <dir>/cgroup.procs; returns how many. */
static int
kill_listed (const char *dir)
{
  char path[CG_PATH_MAX + 32];
  char *text, *p;
  int n = 0;
  snprintf (path, sizeof path, "%s/cgroup.procs", dir);
  text = slurp (path);
  if (text == NULL)
    return 0;
  for (p = text; *p;)
    {
      char *end;
      long pid = strtol (p, &end, 10);
      if (end == p)
        break;
      if (pid > 0)
        {
          kill ((pid_t) pid, SIGKILL);
          n++;
        }
      p = end;
      while (*p == '\n')
        p++;
    }
  free (text);
  return n;
}

static void
sleep_ms (int ms)
{
  struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* ---- v1 ---- */

static int
v1_create (struct cgroups *cg, const char *leaf, struct nxerr *err)
{
  for (int c = 0; c < CG_NCTRL; c++)
    {
      char p[CG_PATH_MAX + 64];
      if (!cg->have[c])
        continue;
      if (leaf_path (p, sizeof p, cg->dir[c], leaf) < 0)
        return nxerr_set (err, ENAMETOOLONG, "cgroup path too long");
      if (make_dir (p, err) < 0)
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
      leaf_path (p, sizeof p, cg->dir[c], leaf);
      if (write_file (p, "cgroup.procs", pidtext, err) < 0)
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
  if (write_file (p, "memory.limit_in_bytes", v, err) < 0)
    {
      if (err->code != EINVAL || write_file (p, "memory.memsw.limit_in_bytes", v, &ignore) < 0)
        return -1;
      nxerr_clear (err);
      if (write_file (p, "memory.limit_in_bytes", v, err) < 0)
        return -1;
    }
  write_file (p, "memory.memsw.limit_in_bytes", v, &ignore); /* no swapping past the limit */
  return 0;
}

static int
v1_set_limits (struct cgroups *cg, const char *leaf, const struct cg_limits *l, struct nxerr *err)
{
  char p[CG_PATH_MAX + 64], v[32];
  if (l->memory_bytes && cg->have[CG_MEMORY])
    {
      leaf_path (p, sizeof p, cg->dir[CG_MEMORY], leaf);
      if (v1_set_memory (p, l->memory_bytes, err) < 0)
        return -1;
    }
  if (l->pids && cg->have[CG_PIDS])
    {
      leaf_path (p, sizeof p, cg->dir[CG_PIDS], leaf);
      snprintf (v, sizeof v, "%" PRIu64, l->pids);
      if (write_file (p, "pids.max", v, err) < 0)
        return -1;
    }
  if (l->cpu_milli && cg->have[CG_CPU])
    {
      leaf_path (p, sizeof p, cg->dir[CG_CPU], leaf);
      snprintf (v, sizeof v, "%d", CG_CPU_PERIOD_US);
      if (write_file (p, "cpu.cfs_period_us", v, err) < 0)
        return -1;
      snprintf (v, sizeof v, "%" PRIu64, cgroup_cpu_quota_us (l->cpu_milli));
      if (write_file (p, "cpu.cfs_quota_us", v, err) < 0)
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
  if (read_text (p, text, sizeof text) < 0)
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
  leaf_path (p, sizeof p, d, leaf);
  /* Each round kills what is listed; a fork in between shows up next round. */
  for (int i = 0; i < KILL_ROUNDS && kill_listed (p) > 0; i++)
    sleep_ms (1);
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
      leaf_path (p, sizeof p, cg->dir[c], leaf);
      if (rmdir (p) < 0 && errno != ENOENT)
        rc = nxerr_sys (err, errno, "rmdir %s", p);
    }
  return rc;
}

const struct cgroup_ops cgroup_v1_ops = { "v1", v1_create, v1_attach, v1_set_limits,
                                          v1_oom_kills, v1_kill_all, v1_remove };

/* ---- v2 ---- */

static int
v2_create (struct cgroups *cg, const char *leaf, struct nxerr *err)
{
  char p[CG_PATH_MAX + 64];
  if (leaf_path (p, sizeof p, cg->dir[0], leaf) < 0)
    return nxerr_set (err, ENAMETOOLONG, "cgroup path too long");
  return make_dir (p, err);
}

static int
v2_attach (struct cgroups *cg, const char *leaf, pid_t pid, struct nxerr *err)
{
  char p[CG_PATH_MAX + 64], pidtext[32];
  snprintf (pidtext, sizeof pidtext, "%d", (int) pid);
  leaf_path (p, sizeof p, cg->dir[0], leaf);
  return write_file (p, "cgroup.procs", pidtext, err);
}

static int
v2_set_limits (struct cgroups *cg, const char *leaf, const struct cg_limits *l, struct nxerr *err)
{
  char p[CG_PATH_MAX + 64], v[64];
  struct nxerr ignore = { 0 };
  leaf_path (p, sizeof p, cg->dir[0], leaf);
  if (l->memory_bytes && cg->have[CG_MEMORY])
    {
      snprintf (v, sizeof v, "%" PRIu64, l->memory_bytes);
      if (write_file (p, "memory.max", v, err) < 0)
        return -1;
      write_file (p, "memory.swap.max", "0", &ignore); /* absent without swap */
    }
  if (l->pids && cg->have[CG_PIDS])
    {
      snprintf (v, sizeof v, "%" PRIu64, l->pids);
      if (write_file (p, "pids.max", v, err) < 0)
        return -1;
    }
  if (l->cpu_milli && cg->have[CG_CPU])
    {
      snprintf (v, sizeof v, "%" PRIu64 " %d", cgroup_cpu_quota_us (l->cpu_milli),
                CG_CPU_PERIOD_US);
      if (write_file (p, "cpu.max", v, err) < 0)
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
  if (read_text (p, text, sizeof text) < 0)
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
  leaf_path (p, sizeof p, cg->dir[0], leaf);
  if (write_file (p, "cgroup.kill", "1", &ignore) == 0)
    return;
  for (int i = 0; i < KILL_ROUNDS && kill_listed (p) > 0; i++)
    sleep_ms (1);
}

static int
v2_remove (struct cgroups *cg, const char *leaf, struct nxerr *err)
{
  char p[CG_PATH_MAX + 64];
  leaf_path (p, sizeof p, cg->dir[0], leaf);
  if (rmdir (p) < 0 && errno != ENOENT)
    return nxerr_sys (err, errno, "rmdir %s", p);
  return 0;
}

const struct cgroup_ops cgroup_v2_ops = { "v2", v2_create, v2_attach, v2_set_limits,
                                          v2_oom_kills, v2_kill_all, v2_remove };

/* ---- detection and setup ---- */

static int
base_for (char *out, const char *mount, const char *root, const char *self_text,
          const char *controller)
{
  char self[CG_PATH_MAX];
  if (root == NULL)
    {
      if (cgroup_find_self (self_text, controller, self, sizeof self) < 0)
        return -1;
      root = self;
    }
  return path_join (out, CG_PATH_MAX, mount, root);
}

int
cgroup_detect (struct cgroups *cg, enum cg_mode mode, const char *root, const char *node_name,
               struct nxerr *err)
{
  cleanup_free char *mi = slurp ("/proc/self/mountinfo");
  cleanup_free char *self = slurp ("/proc/self/cgroup");
  char v1m[CG_NCTRL][CG_PATH_MAX], v2m[CG_PATH_MAX];
  bool any_v1 = false, has_v2;
  memset (cg, 0, sizeof *cg);
  snprintf (cg->node_name, sizeof cg->node_name, "%s", node_name);
  for (int c = 0; c < CG_NCTRL; c++)
    snprintf (cg->why[c], sizeof cg->why[c], "no cgroup hierarchy carries it");
  if (mode == CG_MODE_OFF)
    {
      for (int c = 0; c < CG_NCTRL; c++)
        snprintf (cg->why[c], sizeof cg->why[c], "cgroups are off in the configuration");
      return 0;
    }
  if (mi == NULL || self == NULL)
    return nxerr_sys (err, errno, "read /proc/self/mountinfo or /proc/self/cgroup");
  for (int c = 0; c < CG_NCTRL; c++)
    {
      v1m[c][0] = '\0';
      if (cgroup_find_mount (mi, ctrl_names[c], v1m[c], sizeof v1m[c]) == 0)
        any_v1 = true;
    }
  has_v2 = cgroup_find_mount (mi, NULL, v2m, sizeof v2m) == 0;
  if (mode == CG_MODE_V1 && !any_v1)
    return nxerr_set (err, ENOENT, "cgroup \"v1\": no v1 hierarchy with memory, pids or cpu");
  if (mode == CG_MODE_V2 && !has_v2)
    return nxerr_set (err, ENOENT, "cgroup \"v2\": no cgroup2 file system is mounted");
  if (mode == CG_MODE_V1 || (mode == CG_MODE_AUTO && any_v1))
    {
      cg->version = CG_V1;
      cg->ops = &cgroup_v1_ops;
      if (has_v2)
        snprintf (cg->note, sizeof cg->note,
                  "hybrid layout: limits go through v1 (the v2 mount %s is left alone)", v2m);
      for (int c = 0; c < CG_NCTRL; c++)
        {
          if (v1m[c][0] == '\0')
            continue;
          if (base_for (cg->base[c], v1m[c], root, self, ctrl_names[c]) < 0
              || path_join (cg->dir[c], CG_PATH_MAX, cg->base[c], node_name) < 0)
            return nxerr_set (err, EINVAL, "cgroup %s: cannot place the node cgroup under %s",
                              ctrl_names[c], root ? root : "the node's own cgroup");
        }
      return 0;
    }
  if (has_v2)
    {
      cg->version = CG_V2;
      cg->ops = &cgroup_v2_ops;
      if (base_for (cg->base[0], v2m, root, self, NULL) < 0
          || path_join (cg->dir[0], CG_PATH_MAX, cg->base[0], node_name) < 0)
        return nxerr_set (err, EINVAL, "cgroup v2: cannot place the node cgroup under %s",
                          root ? root : "the node's own cgroup");
    }
  return 0;
}

static bool
probe_v1 (struct cgroups *cg, enum cg_ctrl c, const char *probe_leaf)
{
  char p[CG_PATH_MAX + 64];
  struct nxerr e = { 0 };
  struct cg_limits l = { 0 };
  bool saved[CG_NCTRL];
  int rc;
  if (make_dir (cg->dir[c], &e) < 0)
    {
      snprintf (cg->why[c], sizeof cg->why[c], "%s", e.msg);
      return false;
    }
  cg->created = true;
  leaf_path (p, sizeof p, cg->dir[c], probe_leaf);
  if (make_dir (p, &e) < 0)
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

/* The node alone in its v2 cgroup cannot enable controllers for children
 * (no internal processes): move it into a leaf of its own first. */
static int
v2_leave_base (struct cgroups *cg, struct nxerr *err)
{
  char procs[CG_PATH_MAX + 32], self_leaf[CG_PATH_MAX + 80], text[256], pidtext[32];
  long only;
  char *end;
  snprintf (procs, sizeof procs, "%s/cgroup.procs", cg->base[0]);
  if (read_text (procs, text, sizeof text) < 0)
    return nxerr_sys (err, errno, "read %s", procs);
  only = strtol (text, &end, 10);
  if (only != (long) getpid () || (*end != '\0' && strcmp (end, "\n") != 0))
    return nxerr_set (err, EBUSY,
                      "%s holds other processes than the node: controllers cannot be enabled "
                      "below it; set cgroup_root to a cgroup delegated to the node",
                      cg->base[0]);
  snprintf (self_leaf, sizeof self_leaf, "%s/%s.self", cg->base[0], cg->node_name);
  if (make_dir (self_leaf, err) < 0)
    return -1;
  snprintf (pidtext, sizeof pidtext, "%d", (int) getpid ());
  return write_file (self_leaf, "cgroup.procs", pidtext, err);
}

static void
setup_v2 (struct cgroups *cg, const char *probe_leaf)
{
  char text[512], p[CG_PATH_MAX + 64];
  struct nxerr e = { 0 };
  bool avail[CG_NCTRL] = { false };
  snprintf (p, sizeof p, "%s/cgroup.controllers", cg->base[0]);
  if (read_text (p, text, sizeof text) < 0)
    text[0] = '\0';
  for (int c = 0; c < CG_NCTRL; c++)
    {
      char *t = strstr (text, ctrl_names[c]);
      size_t n = strlen (ctrl_names[c]);
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
      snprintf (tok, sizeof tok, "+%s", ctrl_names[c]);
      if (write_file (cg->base[0], "cgroup.subtree_control", tok, &e) < 0 && e.code == EBUSY)
        {
          nxerr_clear (&e);
          if (v2_leave_base (cg, &e) == 0)
            write_file (cg->base[0], "cgroup.subtree_control", tok, &e);
        }
      if (e.code)
        {
          snprintf (cg->why[c], sizeof cg->why[c], "%s", e.msg);
          avail[c] = false;
          nxerr_clear (&e);
        }
    }
  if (make_dir (cg->dir[0], &e) < 0)
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
      snprintf (tok, sizeof tok, "+%s", ctrl_names[c]);
      if (write_file (cg->dir[0], "cgroup.subtree_control", tok, &e) < 0)
        {
          snprintf (cg->why[c], sizeof cg->why[c], "%s", e.msg);
          avail[c] = false;
          nxerr_clear (&e);
        }
    }
  leaf_path (p, sizeof p, cg->dir[0], probe_leaf);
  if (make_dir (p, &e) < 0)
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

int
cgroup_setup (struct cgroups *cg, const char *probe_leaf, struct nxerr *err)
{
  (void) err;
  if (cg->version == CG_V1)
    {
      bool have[CG_NCTRL];
      for (int c = 0; c < CG_NCTRL; c++)
        have[c] = cg->dir[c][0] != '\0' && probe_v1 (cg, (enum cg_ctrl) c, probe_leaf);
      memcpy (cg->have, have, sizeof have);
    }
  else if (cg->version == CG_V2)
    setup_v2 (cg, probe_leaf);
  for (int c = 0; c < CG_NCTRL; c++)
    if (cg->have[c])
      cg->why[c][0] = '\0';
  return 0;
}

/* The distinct node cgroup directories (v1 hierarchies may be co-mounted). */
static size_t
node_dirs (const struct cgroups *cg, const char *out[CG_NCTRL])
{
  size_t n = 0;
  for (int c = 0; c < CG_NCTRL; c++)
    {
      bool dup = false;
      if (cg->dir[c][0] == '\0' || (cg->version == CG_V1 && !cg->have[c]))
        continue;
      for (size_t i = 0; i < n; i++)
        dup |= strcmp (out[i], cg->dir[c]) == 0;
      if (!dup)
        out[n++] = cg->dir[c];
    }
  return n;
}

int
cgroup_sweep (struct cgroups *cg, int *removed, struct nxerr *err)
{
  return cgroup_sweep_except (cg, NULL, NULL, removed, err);
}

int
cgroup_sweep_except (struct cgroups *cg, bool (*keep) (const void *ud, const char *leaf),
                     const void *ud, int *removed, struct nxerr *err)
{
  const char *dirs[CG_NCTRL];
  size_t nd = node_dirs (cg, dirs);
  int rc = 0;
  *removed = 0;
  if (cg->ops == NULL)
    return 0;
  for (size_t i = 0; i < nd; i++)
    {
      DIR *d = opendir (dirs[i]);
      struct dirent *e;
      if (d == NULL)
        continue;
      while ((e = readdir (d)) != NULL)
        {
          char p[CG_PATH_MAX + 300];
          int tries;
          if (e->d_type != DT_DIR || e->d_name[0] == '.')
            continue;
          if (keep && keep (ud, e->d_name))
            continue;
          snprintf (p, sizeof p, "%s/%s", dirs[i], e->d_name);
          cg->ops->kill_all (cg, e->d_name);
          for (tries = 0; tries < SWEEP_TRIES && rmdir (p) < 0 && errno == EBUSY; tries++)
            {
              kill_listed (p);
              sleep_ms (5);
            }
          if (access (p, F_OK) == 0)
            rc = nxerr_set (err, EBUSY, "leftover cgroup %s cannot be removed", p);
          else if (i == 0) /* count each leaf once, not once per hierarchy */
            (*removed)++;
        }
      closedir (d);
    }
  return rc;
}

void
cgroup_teardown (struct cgroups *cg)
{
  const char *dirs[CG_NCTRL];
  size_t nd = node_dirs (cg, dirs);
  for (size_t i = 0; i < nd; i++)
    rmdir (dirs[i]);
}
