/* cgroup: what both backends share. Detection reads /proc once and decides
 * between v1 and v2; from then on the public entry points dispatch through
 * cg->ops, or into cg_v1_setup / cg_v2_setup, so neither backend knows the
 * other exists. The pure helpers live here because detection and both
 * backends use them, and the unit tests reach them without a file system;
 * the file helpers live here because both backends write control files and
 * kill a leaf's processes the same way. */
#include "node/sandbox/cgroup_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

const char *const cg_ctrl_names[CG_NCTRL] = { "memory", "pids", "cpu" };

const char *
cgroup_ctrl_name (enum cg_ctrl c)
{
  return c < CG_NCTRL ? cg_ctrl_names[c] : "?";
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

int
cg_read_text (const char *path, char *out, size_t cap)
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

int
cg_write_file (const char *dir, const char *name, const char *value, struct nxerr *err)
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

int
cg_leaf_path (char *out, size_t cap, const char *dir, const char *leaf)
{
  if (snprintf (out, cap, "%s/%s", dir, leaf) >= (int) cap)
    return -1;
  return 0;
}

size_t
cgroup_procs_files (const struct cgroups *cg, const char *leaf, char (*out)[CG_PROCS_MAX],
                    size_t max)
{
  size_t n = 0;
  for (int c = 0; c < CG_NCTRL && n < max; c++)
    {
      /* The same hierarchies as the backends' attach: v2's one directory,
       * v1's directory of each controller that is used. */
      if (cg->version == CG_V2 ? c != 0 : !cg->have[c])
        continue;
      if (snprintf (out[n], CG_PROCS_MAX, "%s/%s/cgroup.procs", cg->dir[c], leaf) < CG_PROCS_MAX)
        n++;
    }
  return n;
}

int
cg_make_dir (const char *path, struct nxerr *err)
{
  if (mkdir (path, 0755) < 0 && errno != EEXIST)
    return nxerr_sys (err, errno, "mkdir %s", path);
  return 0;
}

/* SIGKILL every pid listed in <dir>/cgroup.procs; returns how many. */
int
cg_kill_listed (const char *dir)
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

void
cg_sleep_ms (int ms)
{
  struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

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
      if (cgroup_find_mount (mi, cg_ctrl_names[c], v1m[c], sizeof v1m[c]) == 0)
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
          if (base_for (cg->base[c], v1m[c], root, self, cg_ctrl_names[c]) < 0
              || path_join (cg->dir[c], CG_PATH_MAX, cg->base[c], node_name) < 0)
            return nxerr_set (err, EINVAL, "cgroup %s: cannot place the node cgroup under %s",
                              cg_ctrl_names[c], root ? root : "the node's own cgroup");
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

int
cgroup_setup (struct cgroups *cg, const char *probe_leaf, struct nxerr *err)
{
  (void) err;
  if (cg->version == CG_V1)
    cg_v1_setup (cg, probe_leaf);
  else if (cg->version == CG_V2)
    cg_v2_setup (cg, probe_leaf);
  for (int c = 0; c < CG_NCTRL; c++)
    if (cg->have[c])
      cg->why[c][0] = '\0';
  return 0;
}

int
cgroup_setup_contain (struct cgroups *cg, struct nxerr *err)
{
  /* pids first: the cheapest to create, and a v1 memory cgroup is costly. */
  static const enum cg_ctrl order[] = { CG_PIDS, CG_CPU, CG_MEMORY };
  int c = -1;
  memset (cg->have, 0, sizeof cg->have);
  if (cg->version == CG_V2)
    c = 0;
  else if (cg->version == CG_V1)
    for (size_t i = 0; i < sizeof order / sizeof order[0] && c < 0; i++)
      if (cg->dir[order[i]][0] != '\0')
        c = (int) order[i];
  if (c < 0)
    return nxerr_set (err, ENOENT, "no cgroup hierarchy is mounted");
  if (cg_make_dir (cg->dir[c], err) < 0)
    return -1;
  cg->created = true;
  if (cg->version == CG_V1)
    cg->have[c] = true;
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
              cg_kill_listed (p);
              cg_sleep_ms (5);
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
