#include "node/sandbox/rootless.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/xalloc.h"
#include "node/core/config.h"
#include "node/sandbox/cgroup.h"
#include "node/sandbox/rootns.h"
#include "node/sandbox/subids.h"
#include "node/sandbox/userns_probe.h"

/* A whole (small) file, or NULL. */
static char *
read_all (const char *path)
{
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n;
  if (fd < 0)
    return NULL;
  do
    {
      if (cap - len < 4096)
        buf = xrealloc (buf, cap = cap ? 2 * cap : 8192);
      n = read (fd, buf + len, cap - len - 1);
      if (n > 0)
        len += (size_t) n;
    }
  while (n > 0);
  close (fd);
  buf[len] = '\0';
  return buf;
}

static void
check_userns (const struct rootns *ns, struct rootless_check *c)
{
  struct userns_probe p;
  c->name = "rootless userns";
  if (ns)
    {
      c->ok = true;
      snprintf (c->detail, sizeof c->detail,
                "this node runs in its own: uid %u is 0 there, 1-%u are the subordinate ids",
                ns->uid, rootns_inside_count (ns));
      return;
    }
  userns_probe (geteuid (), &p);
  c->ok = p.unprivileged;
  if (c->ok)
    snprintf (c->detail, sizeof c->detail,
              "an ordinary user makes a user namespace and maps its own id");
  else
    {
      snprintf (c->detail, sizeof c->detail, "%s", p.unprivileged_why);
      snprintf (c->fix, sizeof c->fix,
                "allow unprivileged user namespaces (user.max_user_namespaces > 0, "
                "kernel.unprivileged_userns_clone=1 on Debian kernels, an AppArmor profile "
                "for nexc-node on Ubuntu)");
    }
}

/* One range file's detail: "file start-end (count ids)" or why not;
 * *overlap when it shares ids with root nodes' default uid_range. */
static bool
sub_range (const char *file, const char *name, unsigned uid, char *out, size_t cap,
           bool *overlap)
{
  struct subids_range r;
  if (subids_find (file, name, uid, &r, out, cap) < 0)
    return false;
  snprintf (out, cap, "%s %u-%u (%u ids)", file, r.start, r.start + r.count - 1, r.count);
  *overlap |= subids_overlap (&r, CONFIG_UID_START, CONFIG_UID_COUNT);
  return true;
}

static void
check_subuid (const struct rootns *ns, struct rootless_check *c)
{
  struct passwd pw, *res = NULL;
  char buf[1024], name[128], u[160], g[160];
  unsigned uid = ns ? ns->uid : (unsigned) geteuid ();
  bool ok_u, ok_g;
  c->name = "rootless subuid";
  if (ns)
    snprintf (name, sizeof name, "%s", ns->name);
  else if (getpwuid_r (geteuid (), &pw, buf, sizeof buf, &res) == 0 && res)
    snprintf (name, sizeof name, "%s", res->pw_name);
  else
    snprintf (name, sizeof name, "%u", uid);
  bool overlap = false;
  ok_u = sub_range ("/etc/subuid", name, uid, u, sizeof u, &overlap);
  ok_g = sub_range ("/etc/subgid", name, uid, g, sizeof g, &overlap);
  c->ok = ok_u && ok_g;
  /* A sandbox of a root node and one of this user's could then share a
   * host uid: each side skips blocks whose ids it sees running, but both
   * can pick the same one at once. */
  c->warn = c->ok && overlap;
  if (c->warn)
    snprintf (c->detail, sizeof c->detail,
              "%s; %s: overlaps root nodes' default uid_range %d-%d", u, g, CONFIG_UID_START,
              CONFIG_UID_START + CONFIG_UID_COUNT - 1);
  else
    snprintf (c->detail, sizeof c->detail, "%s; %s%s", u, g,
              c->ok ? ": the ids the node gives its sandboxes" : "");
  if (c->warn)
    snprintf (c->fix, sizeof c->fix,
              "give %s a range outside every root node's uid_range (usermod --del-subuids, "
              "--add-subuids 400000-465535, the same for subgids), or give those nodes another "
              "uid_range",
              name);
  if (!c->ok)
    snprintf (c->fix, sizeof c->fix,
              "give %s subordinate ids: usermod --add-subuids 100000-165535 --add-subgids "
              "100000-165535 %s (outside any node's uid_range)",
              name, name);
}

static void
check_newuidmap (const struct rootns *ns, struct rootless_check *c)
{
  char pu[64], pg[64];
  bool privu, privg;
  if (ns)
    {
      /* Inside, root's files read as the overflow uid: say what was used. */
      c->name = "rootless newuidmap";
      c->ok = true;
      snprintf (c->detail, sizeof c->detail, "%s and %s mapped this node's namespace",
                ns->uidmap, ns->gidmap);
      return;
    }
  const char *hu = subids_mapper ("newuidmap", pu, sizeof pu, &privu);
  const char *hg = subids_mapper ("newgidmap", pg, sizeof pg, &privg);
  c->name = "rootless newuidmap";
  c->ok = hu && hg && privu && privg;
  snprintf (c->detail, sizeof c->detail, "%s%s%s%s; %s%s%s%s", hu ? pu : "newuidmap not found",
            hu ? " (" : "", hu ? hu : "", hu ? ")" : "", hg ? pg : "newgidmap not found",
            hg ? " (" : "", hg ? hg : "", hg ? ")" : "");
  if (!c->ok)
    snprintf (c->fix, sizeof c->fix,
              "install newuidmap and newgidmap set-uid root (Debian, Ubuntu: apt-get install "
              "uidmap; Fedora: shadow-utils): they map the /etc/subuid range into a namespace");
}

static void
check_cgroup (struct rootless_check *c)
{
  cleanup_free char *mi = read_all ("/proc/self/mountinfo");
  cleanup_free char *self = read_all ("/proc/self/cgroup");
  cleanup_free char *ctrl = NULL;
  char mnt[1024], path[2048], dir[3100], f[3200], missing[64] = "";
  bool procs, subtree, mk;
  c->name = "rootless cgroup";
  snprintf (c->fix, sizeof c->fix,
            "run the node where systemd delegates a cgroup v2 subtree to the user (a unit or "
            "scope with Delegate=yes, e.g. systemd-run --user --scope -p Delegate=yes; "
            "user@.service delegates memory, pids and cpu on a unified hierarchy)");
  if (mi == NULL || self == NULL || cgroup_find_mount (mi, NULL, mnt, sizeof mnt) < 0)
    {
      snprintf (c->detail, sizeof c->detail, "no cgroup2 file system is mounted: no limits "
                                             "without root");
      return;
    }
  if (cgroup_find_self (self, NULL, path, sizeof path) < 0)
    {
      snprintf (c->detail, sizeof c->detail, "no cgroup v2 line in /proc/self/cgroup");
      return;
    }
  snprintf (dir, sizeof dir, "%s%s", mnt, strcmp (path, "/") == 0 ? "" : path);
  snprintf (f, sizeof f, "%s/cgroup.procs", dir);
  procs = access (f, W_OK) == 0;
  snprintf (f, sizeof f, "%s/cgroup.subtree_control", dir);
  subtree = access (f, W_OK) == 0;
  mk = access (dir, W_OK) == 0;
  snprintf (f, sizeof f, "%s/cgroup.controllers", dir);
  ctrl = read_all (f);
  for (int i = 0; i < CG_NCTRL; i++)
    {
      const char *name = cgroup_ctrl_name ((enum cg_ctrl) i);
      const char *hit = ctrl ? strstr (ctrl, name) : NULL;
      size_t l = strlen (name);
      if (hit == NULL || (hit != ctrl && hit[-1] != ' ') || (hit[l] != ' ' && hit[l] != '\n'
                                                             && hit[l] != '\0'))
        snprintf (missing + strlen (missing), sizeof missing - strlen (missing), "%s%s",
                  missing[0] ? ", " : "", name);
    }
  c->ok = procs && subtree && mk && missing[0] == '\0';
  if (c->ok)
    snprintf (c->detail, sizeof c->detail,
              "%s is delegated to us (cgroup.procs, cgroup.subtree_control and mkdir writable) "
              "with memory, pids and cpu",
              dir);
  else if (!(procs && subtree && mk))
    snprintf (c->detail, sizeof c->detail, "%s is not delegated to us: not writable: %s%s%s%s%s%s%s",
              dir, subtree ? "" : "cgroup.subtree_control", !subtree && !procs ? ", " : "",
              procs ? "" : "cgroup.procs", (!subtree || !procs) && !mk ? ", " : "",
              mk ? "" : "the directory (mkdir)", missing[0] ? "; controllers missing: " : "",
              missing);
  else
    snprintf (c->detail, sizeof c->detail,
              "%s is writable but offers no %s (cgroup.controllers: %.*s)%s", dir, missing,
              ctrl ? (int) strcspn (ctrl, "\n") : 0, ctrl ? ctrl : "",
              ctrl && ctrl[0] == '\n' ? "none" : "");
}

static void
check_namespaces (const struct rootns *ns, struct rootless_check *c)
{
  c->name = "rootless pid/mount";
  if (ns)
    {
      c->ok = true;
      snprintf (c->detail, sizeof c->detail,
                "the node's own namespace owns its sandboxes' pid, mount, ipc and uts "
                "namespaces (the self-test row above built one)");
      return;
    }
  c->ok = userns_probe_rootless_ns (c->detail, sizeof c->detail);
  if (c->ok)
    snprintf (c->detail, sizeof c->detail,
              "new pid, mount, ipc and uts namespaces in a user namespace; a tmpfs and a "
              "hidepid /proc mount there");
  else
    snprintf (c->fix, sizeof c->fix,
              "unprivileged user namespaces must be allowed, and the host's /proc fully visible "
              "(no container covering parts of it)");
}

/* A filter that allows everything, loaded in a child under no_new_privs:
 * 0 or an errno value. */
static int
load_filter (void)
{
  struct sock_filter allow[] = { BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
  struct sock_fprog prog = { 1, allow };
  int st = 0;
  pid_t pid = fork ();
  if (pid < 0)
    return errno;
  if (pid == 0)
    {
      if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        _exit (errno & 0x7f);
      _exit (prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0 ? errno & 0x7f : 0);
    }
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED (st) ? WEXITSTATUS (st) : EINTR;
}

static void
check_seccomp (struct rootless_check *c)
{
  int e = load_filter ();
  c->name = "rootless seccomp";
  c->ok = e == 0;
  if (c->ok)
    snprintf (c->detail, sizeof c->detail, "a filter loads under no_new_privs, no privilege "
                                           "needed");
  else
    {
      snprintf (c->detail, sizeof c->detail, "loading a filter: %s", strerror (e));
      snprintf (c->fix, sizeof c->fix, "a kernel with CONFIG_SECCOMP_FILTER");
    }
}

static void
check_landlock (struct rootless_check *c)
{
  long abi = syscall (SYS_landlock_create_ruleset, NULL, 0, 1u /* _VERSION */);
  c->name = "rootless landlock";
  c->ok = abi > 0;
  if (c->ok)
    snprintf (c->detail, sizeof c->detail, "ABI %ld, no privilege needed", abi);
  else
    {
      snprintf (c->detail, sizeof c->detail, "not available: %s", strerror (errno));
      snprintf (c->fix, sizeof c->fix, "Linux >= 5.13 with landlock in the lsm= list");
    }
}

void
rootless_check (const struct rootns *ns, struct rootless_check *out)
{
  memset (out, 0, ROOTLESS_CHECKS * sizeof *out);
  check_userns (ns, &out[0]);
  check_subuid (ns, &out[1]);
  check_newuidmap (ns, &out[2]);
  check_cgroup (&out[3]);
  check_namespaces (ns, &out[4]);
  check_seccomp (&out[5]);
  check_landlock (&out[6]);
}
