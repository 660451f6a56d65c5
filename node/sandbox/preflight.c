#include "node/sandbox/preflight.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/log.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/sandbox/cgnone.h"
#include "node/sandbox/nsspawn.h"
#include "node/sandbox/rootless.h"
#include "node/sandbox/rootns.h"
#include "node/core/rmtree.h"
#include "node/sandbox/sandbox.h"
#include "node/sandbox/uidrange.h"
#include "node/sandbox/userns_probe.h"

#define SELFTEST_TIMEOUT_MS 10000
#define NATS_CONNECT_TIMEOUT_MS 1000
#define UID_SETTLE_MS 3000

/* Capabilities the process tier needs (bit numbers of CapEff). */
static const struct {
  int bit;
  const char *name;
} needed_caps[] = { { 0, "CAP_CHOWN" },   { 5, "CAP_KILL" },       { 6, "CAP_SETGID" },
                    { 7, "CAP_SETUID" },  { 8, "CAP_SETPCAP" },    { 21, "CAP_SYS_ADMIN" } };

static const char *const status_names[] = { "ok", "MISSING", "degraded", "warning", "skipped" };

__attribute__ ((format (printf, 5, 6))) static struct pf_row *
row (struct preflight *pf, const char *check, enum pf_status st, bool hard, const char *fmt, ...)
{
  struct pf_row *r;
  va_list ap;
  if (pf->n == PF_MAX_ROWS)
    return &pf->rows[PF_MAX_ROWS - 1];
  r = &pf->rows[pf->n++];
  memset (r, 0, sizeof *r);
  snprintf (r->check, sizeof r->check, "%s", check);
  r->status = st;
  r->hard = hard;
  va_start (ap, fmt);
  vsnprintf (r->detail, sizeof r->detail, fmt, ap);
  va_end (ap);
  return r;
}

__attribute__ ((format (printf, 2, 3))) static void
fix (struct pf_row *r, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (r->fix, sizeof r->fix, fmt, ap);
  va_end (ap);
}

static uint64_t
cap_eff (void)
{
  char buf[4096];
  int fd = open ("/proc/self/status", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read (fd, buf, sizeof buf - 1) : -1;
  const char *p;
  if (fd >= 0)
    close (fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  p = strstr (buf, "\nCapEff:");
  return p ? strtoull (p + 8, NULL, 16) : 0;
}

/* ---- both tiers ---- */

static void
check_state_dir (const struct preflight_opts *o, struct preflight *pf)
{
  struct statvfs sv;
  struct nxerr err = { 0 };
  char probe[4200];
  struct pf_row *r;
  int fd;
  if (sandbox_mkdirs (o->state_dir, &err) < 0)
    {
      r = row (pf, "state dir", PF_MISSING, true, "%s", err.msg);
      fix (r, "state_dir (or --state-dir) must name a directory the node can create and write");
      return;
    }
  snprintf (probe, sizeof probe, "%s/.preflight-%d", o->state_dir, (int) getpid ());
  fd = open (probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      r = row (pf, "state dir", PF_MISSING, true, "%s is not writable: %s", o->state_dir,
               strerror (errno));
      fix (r, "make state_dir writable by the node");
      return;
    }
  close (fd);
  unlink (probe);
  if (statvfs (o->state_dir, &sv) == 0 && (sv.f_flag & ST_NOEXEC))
    {
      r = row (pf, "state dir", PF_MISSING, true,
               "%s is on a noexec mount: cached artifacts cannot be executed", o->state_dir);
      fix (r, "put state_dir on a file system mounted without noexec");
      return;
    }
  row (pf, "state dir", PF_OK, true, "%s", o->state_dir);
}

static void
check_agent (const struct preflight_opts *o, struct preflight *pf)
{
  if (access (o->agent_path, X_OK) == 0)
    row (pf, "agent", PF_OK, true, "%s", o->agent_path);
  else
    fix (row (pf, "agent", PF_MISSING, true, "%s: %s", o->agent_path, strerror (errno)),
         "install nexc-agent beside nexc-node or set agent_path");
}

/* host:port of a nats:// (or tls://, plain host:port) URL. */
static int
split_url (const char *url, char *host, size_t hcap, char *port, size_t pcap)
{
  const char *h = strstr (url, "://"), *at, *colon, *end;
  h = h ? h + 3 : url;
  at = strchr (h, '@');
  if (at)
    h = at + 1;
  end = h + strcspn (h, "/?#");
  if (*h == '[')
    {
      const char *rb = memchr (h, ']', (size_t) (end - h));
      if (rb == NULL)
        return -1;
      snprintf (host, hcap, "%.*s", (int) (rb - h - 1), h + 1);
      colon = rb[1] == ':' ? rb + 1 : NULL;
    }
  else
    {
      colon = memchr (h, ':', (size_t) (end - h));
      snprintf (host, hcap, "%.*s", (int) ((colon ? colon : end) - h), h);
    }
  if (colon)
    snprintf (port, pcap, "%.*s", (int) (end - colon - 1), colon + 1);
  else
    snprintf (port, pcap, "4222");
  return host[0] ? 0 : -1;
}

static int
tcp_probe (const char *host, const char *port, char *why, size_t cap)
{
  struct addrinfo hints, *res = NULL, *ai;
  int rc, ok = -1;
  memset (&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  rc = getaddrinfo (host, port, &hints, &res);
  if (rc != 0)
    {
      snprintf (why, cap, "%s", gai_strerror (rc));
      return -1;
    }
  snprintf (why, cap, "no address");
  for (ai = res; ai && ok < 0; ai = ai->ai_next)
    {
      int fd = socket (ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      struct pollfd p;
      int e = 0;
      socklen_t el = sizeof e;
      if (fd < 0)
        continue;
      if (connect (fd, ai->ai_addr, ai->ai_addrlen) == 0)
        ok = 0;
      else if (errno == EINPROGRESS)
        {
          p.fd = fd;
          p.events = POLLOUT;
          if (poll (&p, 1, NATS_CONNECT_TIMEOUT_MS) == 1
              && getsockopt (fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)
            ok = 0;
          else
            snprintf (why, cap, "%s", e ? strerror (e) : "timed out");
        }
      else
        snprintf (why, cap, "%s", strerror (errno));
      close (fd);
    }
  freeaddrinfo (res);
  return ok;
}

static void
check_nats (const struct preflight_opts *o, struct preflight *pf)
{
  char *copy = xstrdup (o->servers), *save = NULL, *tok;
  char why[256] = "";
  struct pf_row *r;
  for (tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
    {
      char host[256], port[32];
      if (split_url (tok, host, sizeof host, port, sizeof port) < 0)
        {
          snprintf (why, sizeof why, "%s: not a URL", tok);
          continue;
        }
      if (tcp_probe (host, port, why, sizeof why) == 0)
        {
          row (pf, "nats-server", PF_OK, true, "%s:%s accepts connections", host, port);
          free (copy);
          return;
        }
    }
  r = row (pf, "nats-server", PF_MISSING, true, "%s: %s", o->servers, why);
  fix (r, "start nats-server, or pass --server URL (NATS_URL)");
  free (copy);
}

/* ---- the process tier ---- */

static bool
check_privileges (struct preflight *pf)
{
  uint64_t eff = cap_eff ();
  char missing[256] = "";
  struct pf_row *r;
  for (size_t i = 0; i < sizeof needed_caps / sizeof needed_caps[0]; i++)
    if (!(eff & (1ull << needed_caps[i].bit)))
      snprintf (missing + strlen (missing), sizeof missing - strlen (missing), "%s%s",
                missing[0] ? ", " : "", needed_caps[i].name);
  if (geteuid () == 0 && missing[0] == '\0')
    {
      const struct rootns *ns = rootns_get ();
      if (ns)
        row (pf, "privileges", PF_OK, true,
             "rootless: uid %u (%s) is root of the node's own user namespace, with the "
             "capabilities the tier needs there (the rootless rows below)",
             ns->uid, ns->name);
      else
        row (pf, "privileges", PF_OK, true, "root with the capabilities the tier needs");
      return true;
    }
  r = row (pf, "privileges", PF_MISSING, true, "euid %u%s%s", (unsigned) geteuid (),
           missing[0] ? ", missing " : "", missing);
  fix (r, "run nexc-node as root, or as a user with an /etc/subuid and /etc/subgid range and "
          "newuidmap installed (the rootless rows below): the process tier creates namespaces "
          "and switches workloads to their own uids");
  return false;
}

/* What the self-test showed the host offers, one row each (issue #19). */
static void
feature_rows (const struct preflight_opts *o, struct preflight *pf, const char *report)
{
  long abi = syscall (SYS_landlock_create_ruleset, NULL, 0, 1u /* _VERSION */);
  if (strstr (report, "ok minimal root: no host /usr"))
    row (pf, "minimal root", PF_OK, false,
         "pivot_root into a fresh read-only tmpfs works; default for deploys: %s%s",
         fs_mode_name (o->cfg->filesystem),
         o->cfg->filesystem == FS_HOST_RO ? " (workloads see the host's tree, read-only)" : "");
  if (strstr (report, "ok seccomp default deny"))
    row (pf, "seccomp policy", PF_OK, false,
         "default deny: calls off the list answer EPERM, clone3 ENOSYS, other architectures "
         "are killed");
  if (abi >= 6 && strstr (report, "ok landlock scopes abstract sockets"))
    row (pf, "landlock", PF_OK, false,
         "ABI %ld: workloads write only below their working dir, /tmp, /dev and /proc, and "
         "reach no abstract socket or process outside their sandbox",
         abi);
  else if (abi > 0)
    row (pf, "landlock", PF_OK, false,
         "ABI %ld: workloads write only below their working dir, /tmp, /dev and /proc (abstract "
         "socket scoping needs ABI 6, Linux >= 6.12)",
         abi);
  else
    row (pf, "landlock", PF_OK, false,
         "not available (%s): the minimal root and read-only mounts are the only file "
         "boundary",
         strerror (errno));
}

static void
check_kernel (struct preflight *pf)
{
  struct utsname u;
  char avail[256] = "";
  int fd = open ("/proc/sys/kernel/seccomp/actions_avail", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read (fd, avail, sizeof avail - 1) : -1;
  struct pf_row *r;
  if (fd >= 0)
    close (fd);
  avail[n > 0 ? n : 0] = '\0';
  uname (&u);
  row (pf, "kernel", PF_OK, false, "Linux %s (needs >= 5.12 for mount_setattr)", u.release);
  if (strstr (avail, "errno") && strstr (avail, "kill_process"))
    row (pf, "seccomp", PF_OK, true, "filters with errno and kill_process actions");
  else
    {
      r = row (pf, "seccomp", PF_MISSING, true, "%s",
               n > 0 ? "the kernel lacks the errno or kill_process action"
                     : "no /proc/sys/kernel/seccomp/actions_avail: seccomp filters unavailable");
      fix (r, "a kernel with CONFIG_SECCOMP_FILTER (Linux >= 4.14)");
    }
}

/* Whether workloads get a user namespace here: what the config asks, what
 * the host allows (both kinds said, for a rootless node's sake). */
static void
check_userns (const struct preflight_opts *o, struct preflight *pf, uid_t uid)
{
  struct userns_probe p;
  char unpriv[240];
  struct pf_row *r;
  int mode = o->cfg->user_namespace;
  userns_probe (uid, &p);
  snprintf (unpriv, sizeof unpriv, "unprivileged ones %s%s", p.unprivileged ? "work too" : "do not: ",
            p.unprivileged ? "" : p.unprivileged_why);
  if (mode == USERNS_OFF)
    {
      r = row (pf, "user namespace", PF_DEGRADED, false,
               "off in the configuration: workloads run as their host uid in the host's user "
               "namespace (privileged ones %s%s; %s)",
               p.privileged ? "work here" : "do not work here: ",
               p.privileged ? "" : p.privileged_why, unpriv);
      fix (r, "\"user_namespace\": \"auto\"");
      return;
    }
  if (p.privileged)
    {
      pf->userns = true;
      row (pf, "user namespace", PF_OK, mode == USERNS_ON,
           "each workload in its own, mapping only its host uid and gid (to the same number); "
           "%s",
           unpriv);
      return;
    }
  snprintf (pf->userns_why, sizeof pf->userns_why, "%s", p.privileged_why);
  r = row (pf, "user namespace", mode == USERNS_ON ? PF_MISSING : PF_DEGRADED, mode == USERNS_ON,
           "%s%s; %s", mode == USERNS_ON ? "\"user_namespace\": \"on\", but " : "",
           p.privileged_why, unpriv);
  if (geteuid () != 0)
    fix (r, "run nexc-node as root, or make it rootless (the rootless rows below)");
  else
    fix (r, "a kernel with user namespaces (CONFIG_USER_NS, user.max_user_namespaces > 0) and "
            "no policy around the node that forbids them%s",
         mode == USERNS_ON ? ", or \"user_namespace\": \"auto\" to run without" : "");
}

/* Run as an ordinary user: what a rootless node has here, one row each
 * (node/sandbox/rootless.h); none counts toward "ready" (the rows above
 * decide, as for root). */
static void
rootless_rows (struct preflight *pf)
{
  const struct rootns *ns = rootns_get ();
  struct rootless_check c[ROOTLESS_CHECKS];
  if (ns)
    row (pf, "rootless", PF_OK, false,
         "on: as uid %u the node runs in its own user namespace; ids 1-%u there are host uids "
         "%u-%u and gids %u-%u",
         ns->uid, rootns_inside_count (ns), ns->subuid.start,
         ns->subuid.start + rootns_inside_count (ns) - 1, ns->subgid.start,
         ns->subgid.start + rootns_inside_count (ns) - 1);
  else
    row (pf, "rootless", PF_MISSING, false,
         "off: as uid %u, the node cannot enter a user namespace of its own (the rows below "
         "say why); this host offers:",
         (unsigned) geteuid ());
  rootless_check (ns, c);
  /* What counts is whether the node's own cgroups took limits (the cgroup
   * rows above): a v2 subtree delegated to the user, or cgroup_root naming
   * one of v1 given to it. */
  if (ns && pf->cg.ops && pf->cg.have[CG_MEMORY] && pf->cg.have[CG_PIDS] && pf->cg.have[CG_CPU])
    {
      c[3].ok = true;
      snprintf (c[3].detail, sizeof c[3].detail,
                "the node's cgroup (%s, below %s) is writable in its namespace: memory, pids "
                "and cpu limits hold",
                pf->cg.ops->name, pf->cg.base[0]);
    }
  for (size_t i = 0; i < ROOTLESS_CHECKS; i++)
    {
      struct pf_row *r = row (pf, c[i].name, c[i].warn ? PF_WARN : c[i].ok ? PF_OK : PF_MISSING,
                              false, "%s", c[i].detail);
      if (!c[i].ok || c[i].warn)
        fix (r, "%s", c[i].fix);
    }
}

/* The sandboxes a restarted node reattaches to keep their uids, and their
 * blocks come back to this node (or stay with the node that took them
 * meanwhile: then their uids are never handed out here). */
static void
adopt_kept (const struct preflight_opts *o, struct preflight *pf, char *note, size_t cap)
{
  size_t foreign = 0;
  for (size_t i = 0; i < o->n_keep; i++)
    {
      struct nxerr err = { 0 };
      int rc = uidrange_adopt (&pf->uids, o->keep_uids[i], &err);
      if (rc != 0)
        log_warn ("sandbox u%u (reattached): %s", o->keep_uids[i], err.msg);
      if (rc > 0 && foreign++ == 0)
        snprintf (note, cap, "%s", err.msg);
    }
}

/* "200000-200063" or "200000-200063 and 2 more blocks". */
static void
held_text (const struct uidrange *r, char *out, size_t cap)
{
  uint32_t first = 0;
  size_t n = uidrange_held (r, &first, 1);
  if (n == 0)
    snprintf (out, cap, "no block");
  else if (n == 1)
    snprintf (out, cap, "%u-%u", first, first + UIDBLOCK_SIZE - 1);
  else
    snprintf (out, cap, "%u-%u and %zu more blocks", first, first + UIDBLOCK_SIZE - 1, n - 1);
}

/* The row turns into a warning: the lock dir is the fallback, a reattached
 * sandbox's block is another node's now, or a foreign process runs in one
 * of ours. */
static void
warn_uid_range (struct pf_row *r, const struct uidrange *u, const char *adopt_note,
                const char *settle_note)
{
  const char *what, *how;
  if (u->dir.fallback)
    {
      what = UIDBLOCK_DIR " cannot be made (/run is missing or read-only)";
      how = "make /run writable: every node of the host must lock uid blocks in the same "
            "directory";
    }
  else if (adopt_note[0])
    {
      what = adopt_note;
      how = "nothing to do: another node took the block while this one was down (the "
            "sandbox's workload had ended); this node never hands out that uid";
    }
  else if (settle_note[0])
    {
      what = settle_note;
      how = "find the process (ps -eo pid,uid,gid,cmd): no node gave it that uid";
    }
  else
    return;
  r->status = PF_WARN;
  snprintf (r->detail + strlen (r->detail), sizeof r->detail - strlen (r->detail), "; %s", what);
  fix (r, "%s", how);
}

static bool
check_uid_range (const struct preflight_opts *o, struct preflight *pf, uint32_t *uid)
{
  const struct config *cfg = o->cfg;
  struct nxerr err = { 0 };
  uint32_t start = (uint32_t) cfg->uid_start, count = (uint32_t) cfg->uid_count;
  struct uidrange_opts uo = { .start = start, .count = count, .own_uid = (uint32_t) getuid (),
                              .lock_dir = cfg->uid_lock_dir, .proc_dir = NULL,
                              .who = o->who ? o->who : "nexc-node-preflight" };
  char adopt_note[256] = "", settle_note[256] = "", held[64];
  struct pf_row *r;
  FILE *f;
  char line[512];
  if (uidrange_check (start, count, &err) < 0)
    {
      fix (row (pf, "uid range", PF_MISSING, true, "%s", err.msg), "fix uid_range");
      return false;
    }
  if (getuid () >= start && getuid () - start < count)
    {
      r = row (pf, "uid range", PF_MISSING, true, "%u-%u contains the node's own uid %u", start,
               start + count - 1, (unsigned) getuid ());
      fix (r, "choose a uid_range that does not contain the node's uid");
      return false;
    }
  if (uidrange_init (&pf->uids, &uo, &err) < 0)
    {
      r = row (pf, "uid range", PF_MISSING, true, "%s", err.msg);
      fix (r, "uid_range.lock_dir (default " UIDBLOCK_DIR ") must be a directory of the node's "
              "uid that no one else may write, the same for every node of the host");
      return false;
    }
  adopt_kept (o, pf, adopt_note, sizeof adopt_note);
  uidrange_reclaim (&pf->uids, UID_SETTLE_MS);
  uidrange_settle (&pf->uids, UID_SETTLE_MS, settle_note, sizeof settle_note);
  /* The self-test's uid, and with it the node's first block (the floor). */
  if (uidrange_alloc (&pf->uids, uid, &err) < 0)
    {
      r = row (pf, "uid range", PF_MISSING, true, "%s", err.msg);
      fix (r, "every block of uid_range is taken: stop a node, or give this one a uid_range of "
              "its own; a busy block stays refused until the processes running with its uids "
              "are gone");
      return false;
    }
  held_text (&pf->uids, held, sizeof held);
  r = row (pf, "uid range", PF_OK, true, "%u-%u (%u uids, blocks of %u locked in %s): this node "
           "holds %s%s%s",
           start, start + count - 1, count, UIDBLOCK_SIZE, uidrange_lock_dir (&pf->uids), held,
           pf->uids.note[0] ? "; skipped: " : "", pf->uids.note);
  warn_uid_range (r, &pf->uids, adopt_note, settle_note);
  /* Rootless containers allocate from /etc/subuid: overlapping is a trap. */
  f = fopen ("/etc/subuid", "re");
  while (f && fgets (line, sizeof line, f))
    {
      char *c1 = strchr (line, ':'), *c2 = c1 ? strchr (c1 + 1, ':') : NULL;
      unsigned long s, n;
      if (c2 == NULL)
        continue;
      s = strtoul (c1 + 1, NULL, 10);
      n = strtoul (c2 + 1, NULL, 10);
      if (s < (unsigned long) start + count && (unsigned long) start < s + n)
        {
          *c1 = '\0';
          r->status = PF_WARN;
          snprintf (r->detail + strlen (r->detail), sizeof r->detail - strlen (r->detail),
                    "; overlaps /etc/subuid of %s (%lu-%lu)", line, s, s + n - 1);
          fix (r, "move uid_range away from the subordinate ids of rootless containers");
          break;
        }
    }
  if (f)
    fclose (f);
  return true;
}

static void
check_cgroups (const struct preflight_opts *o, struct preflight *pf)
{
  struct nxerr err = { 0 };
  struct cgroups *cg = &pf->cg;
  char probe[64];
  struct pf_row *r;
  if (cgroup_detect (cg, (enum cg_mode) o->cfg->cgroup_mode, o->cfg->cgroup_root,
                     o->cgroup_name, &err) < 0)
    {
      r = row (pf, "cgroup", PF_MISSING, true, "%s", err.msg);
      fix (r, "set cgroup to \"auto\", or mount the hierarchy it names");
      return;
    }
  if (cg->version == CG_NONE)
    {
      r = row (pf, "cgroup", PF_DEGRADED, false, "%s",
               o->cfg->cgroup_mode == CG_MODE_OFF ? "off in the configuration (cgroup: none)"
                                                  : "no cgroup file system is mounted");
      fix (r, "mount cgroup2 on /sys/fs/cgroup (or the v1 memory, pids and cpu controllers) for "
              "memory, CPU and pids limits");
      for (int c = 0; c < CG_NCTRL; c++)
        {
          char name[32];
          snprintf (name, sizeof name, "cgroup %s", cgroup_ctrl_name ((enum cg_ctrl) c));
          row (pf, name, PF_DEGRADED, false, "%s", cg->why[c]);
        }
      return;
    }
  snprintf (probe, sizeof probe, "preflight-%d", (int) getpid ());
  cgroup_setup (cg, probe, &err);
  row (pf, "cgroup", PF_OK, false, "%s%s%s", cg->ops->name, cg->note[0] ? ", " : "", cg->note);
  for (int c = 0; c < CG_NCTRL; c++)
    {
      char name[32];
      snprintf (name, sizeof name, "cgroup %s", cgroup_ctrl_name ((enum cg_ctrl) c));
      if (cg->have[c])
        {
          row (pf, name, PF_OK, false, "%s", cg->dir[c][0] ? cg->dir[c] : cg->dir[0]);
          continue;
        }
      r = row (pf, name, PF_DEGRADED, false, "%s", cg->why[c]);
      if (cg->version == CG_V2)
        fix (r, "delegate the %s controller to the node: enable it in the subtree_control of "
                "the node's cgroup's parents (systemd: Delegate=yes), or set cgroup_root",
             cgroup_ctrl_name ((enum cg_ctrl) c));
      else
        fix (r, "mount the v1 %s controller, writable by the node, or use cgroup v2",
             cgroup_ctrl_name ((enum cg_ctrl) c));
      if (c == CG_PIDS)
        snprintf (r->detail + strlen (r->detail), sizeof r->detail - strlen (r->detail),
                  " (the pids limit still holds through RLIMIT_NPROC of the sandbox's uid)");
    }
}

/* Tier none: whether each agent's processes can be held in a cgroup leaf
 * (node/sandbox/cgnone.h). Soft: without it the tier runs as before. */
static void
check_containment (const struct preflight_opts *o, struct preflight *pf)
{
  struct nxerr err = { 0 };
  struct pf_row *r;
  if (cgnone_probe (&pf->cg, o->cfg, o->cgroup_name, &err) == 0)
    {
      row (pf, "containment", PF_OK, false,
           "each agent with its workload's processes in a cgroup leaf under %s (%s), killed as "
           "a whole when the agent ends",
           cgnone_leaves_dir (&pf->cg), pf->cg.ops->name);
      return;
    }
  r = row (pf, "containment", PF_DEGRADED, false,
           "%s: descendants not contained: a workload's processes that leave its process group "
           "(setsid) outlive its agent when the agent is killed",
           err.msg);
  fix (r, "run the node as root with a cgroup file system mounted (cgroup2, or a v1 pids, cpu "
          "or memory hierarchy), and cgroup not \"none\"");
}

/* A real agent, spawned as agents are, builds a sandbox and checks it. */

/* The self-test's agent has reported (or closed its end): it exits at once.
 * One that lingers is killed when the self-test's own bound is over, so a
 * preflight never waits on it for ever. */
static void
reap_selftest (pid_t pid, int *st)
{
  uint64_t deadline = timefmt_mono_ns () + (uint64_t) SELFTEST_TIMEOUT_MS * 1000000u;
  pid_t r;
  while ((r = waitpid (pid, st, WNOHANG)) == 0 && timefmt_mono_ns () < deadline)
    usleep (1000);
  if (r == 0)
    {
      kill (pid, SIGKILL);
      r = -1;
    }
  if (r < 0)
    while (waitpid (pid, st, 0) < 0 && errno == EINTR)
      ;
}
static void
check_selftest (const struct preflight_opts *o, struct preflight *pf, uint32_t uid)
{
  struct nxerr err = { 0 };
  char sandboxes[4200], workdir[4300], name[64], uidtext[16];
  char report[8192] = "";
  size_t got = 0;
  int p[2] = { -1, -1 };
  uint64_t t0 = timefmt_mono_ns ();
  struct pf_row *r;
  pid_t pid = 0;
  int st = 0, rc;
  char *argv[22];
  char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
  char ppid[16];
  struct nsspawn s;

  snprintf (sandboxes, sizeof sandboxes, "%s/sandboxes", o->state_dir);
  snprintf (name, sizeof name, ".preflight-%d", (int) getpid ());
  snprintf (workdir, sizeof workdir, "%s/%s", sandboxes, name);
  snprintf (uidtext, sizeof uidtext, "%u", uid);
  snprintf (ppid, sizeof ppid, "%d", (int) getpid ());
  if (sandbox_mkdirs (sandboxes, &err) < 0 || sandbox_make_workdir (workdir, uid, &err) < 0
      || pipe2 (p, O_CLOEXEC) < 0)
    {
      r = row (pf, "sandbox self-test", PF_MISSING, true, "%s",
               err.msg[0] ? err.msg : strerror (errno));
      fix (r, "make state_dir writable by the node");
      goto out;
    }
  {
    char *a[] = { "nexc-agent", "--fd", "3", "--parent-pid", ppid, "--sandbox", "process",
                  "--uid", uidtext, "--gid", uidtext, "--workdir", workdir,
                  "--state-dir", (char *) o->state_dir, "--network",
                  o->cfg->network == SANDBOX_NET_NONE ? "none" : "host", "--selftest", NULL,
                  NULL };
    memcpy (argv, a, sizeof a);
    if (pf->userns)
      argv[sizeof a / sizeof a[0] - 2] = "--user-namespace";
  }
  s = (struct nsspawn){ .path = o->agent_path, .argv = argv, .envp = envp, .fd3 = p[1],
                        .clone_flags = sandbox_clone_flags (o->cfg) };
  rc = nsspawn (&s, &pid, &err);
  close (p[1]);
  p[1] = -1;
  if (rc < 0)
    {
      r = row (pf, "namespaces", PF_MISSING, true, "%s", err.msg);
      fix (r, "new pid, mount, ipc, uts%s namespaces must be allowed: run on the host as root, "
              "or in a container allowed to create namespaces (no seccomp/AppArmor profile "
              "that forbids them)",
           o->cfg->network == SANDBOX_NET_NONE ? " and network" : "");
      goto out;
    }
  row (pf, "namespaces", PF_OK, true, "pid, mount, ipc, uts%s (network: %s)",
       o->cfg->network == SANDBOX_NET_NONE ? ", net" : "",
       o->cfg->network == SANDBOX_NET_NONE ? "none, loopback only" : "host");
  if (o->cfg->network != SANDBOX_NET_NONE && o->cfg->wcreds_account == NULL)
    {
      /* The sandbox does not filter the network: say what that means for
       * the control plane, which lives on the same NATS. */
      r = row (pf, "network", PF_WARN, false,
               "workload_creds is off and workloads share the host network: a workload can "
               "reach NATS as any client can, and on a server without accounts publish on "
               "$NEX.> (forged log lines, unsigned events, requests)");
      fix (r, "\"workload_creds\" on an operator-mode NATS server (each workload its own user, "
              "$NEX.> denied), or \"network\": \"none\" for untrusted workloads");
    }
  else if (o->cfg->network != SANDBOX_NET_NONE)
    row (pf, "network", PF_OK, false,
         "host network; workload_creds on: each workload connects as its own NATS user "
         "(account %s), $NEX.> denied",
         o->cfg->wcreds_account);
  for (;;)
    {
      struct pollfd pp = { p[0], POLLIN, 0 };
      ssize_t n;
      if (poll (&pp, 1, SELFTEST_TIMEOUT_MS) <= 0)
        {
          kill (pid, SIGKILL);
          snprintf (report + got, sizeof report - got, "fail self-test: no answer in %d ms\n",
                    SELFTEST_TIMEOUT_MS);
          break;
        }
      n = read (p[0], report + got, sizeof report - 1 - got);
      if (n <= 0)
        break;
      got += (size_t) n;
      report[got] = '\0';
    }
  reap_selftest (pid, &st);
  pf->selftest_ms = (double) (timefmt_mono_ns () - t0) / 1e6;
  {
    const char *fail = strstr (report, "fail ");
    int checks = 0;
    for (const char *q = report; (q = strstr (q, "ok ")) != NULL; q += 3)
      checks++;
    if (fail == NULL && WIFEXITED (st) && WEXITSTATUS (st) == 0)
      {
        row (pf, "sandbox self-test", PF_OK, true,
             "an agent built a sandbox and a workload-like child verified %d properties "
             "(%.1f ms)",
             checks, pf->selftest_ms);
        feature_rows (o, pf, report);
      }
    else
      {
        size_t len = fail ? strcspn (fail, "\n") : 0;
        r = row (pf, "sandbox self-test", PF_MISSING, true, "%.*s%s", (int) len,
                 fail ? fail + 5 : "", fail ? "" : "the agent failed without a report");
        fix (r, "the failed step names the missing primitive; mount_setattr needs Linux >= "
                "5.12, hidepid=invisible Linux >= 5.8");
      }
  }
out:
  if (p[0] >= 0)
    close (p[0]);
  if (p[1] >= 0)
    close (p[1]);
  {
    int dfd = open (sandboxes, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
      {
        rmtree_at (dfd, name, &err);
        close (dfd);
      }
  }
}

void
preflight_run (const struct preflight_opts *o, struct preflight *pf)
{
  memset (pf, 0, sizeof *pf);
  pf->uids.dir.fd = -1; /* uidrange_free may be called whatever the tier */
  if (o->config_error)
    fix (row (pf, "config", PF_MISSING, true, "%s", o->config_error),
         "correct the file: `nexc-node check-config FILE` shows what up would refuse");
  check_agent (o, pf);
  check_state_dir (o, pf);
  if (o->cfg->sandbox == SANDBOX_PROCESS)
    {
      uint32_t uid = 0;
      bool have_uid, ok = check_privileges (pf);
      check_kernel (pf);
      have_uid = check_uid_range (o, pf, &uid);
      check_userns (o, pf, have_uid ? (uid_t) uid : 65534);
      check_cgroups (o, pf);
      if (ok && have_uid && preflight_ready (pf))
        check_selftest (o, pf, uid);
      else
        row (pf, "sandbox self-test", PF_SKIPPED, false, "skipped: fix the rows above first");
      if (geteuid () != 0 || rootns_get ())
        rootless_rows (pf);
      /* Its block stays held: the node's first sandboxes take uids from it. */
      if (have_uid)
        uidrange_release (&pf->uids, uid);
    }
  else
    {
      row (pf, "sandbox", PF_SKIPPED, false,
           "tier \"none\": workloads run as plain processes with the node's privileges");
      check_containment (o, pf);
    }
  if (o->servers)
    check_nats (o, pf);
}

bool
preflight_ready (const struct preflight *pf)
{
  for (size_t i = 0; i < pf->n; i++)
    if (pf->rows[i].hard && pf->rows[i].status == PF_MISSING)
      return false;
  return true;
}

void
preflight_print (const struct preflight *pf, const struct config *cfg, FILE *out)
{
  size_t missing = 0, degraded = 0, nats_missing = 0;
  fprintf (out, "nexc-node preflight: sandbox \"%s\"%s\n\n",
           cfg->sandbox == SANDBOX_PROCESS ? "process" : "none",
           cfg->sandbox == SANDBOX_PROCESS ? "" : " (unsafe: no isolation)");
  fprintf (out, "  %-18s %-9s %s\n", "CHECK", "STATUS", "DETAIL");
  for (size_t i = 0; i < pf->n; i++)
    {
      const struct pf_row *r = &pf->rows[i];
      fprintf (out, "  %-18s %-9s %s\n", r->check, status_names[r->status], r->detail);
      if (r->status != PF_OK && r->status != PF_SKIPPED && r->fix[0])
        fprintf (out, "  %-18s %-9s fix: %s\n", "", "", r->fix);
      missing += r->status == PF_MISSING && r->hard;
      nats_missing += r->status == PF_MISSING && strcmp (r->check, "nats-server") == 0;
      degraded += r->status == PF_DEGRADED;
    }
  fprintf (out, "\n  %s: %zu missing, %zu degraded%s\n", missing ? "NOT READY" : "ready", missing,
           degraded,
           missing > nats_missing ? " (nexc-node up refuses to start)"
           : missing              ? " (up starts and keeps trying to connect)"
           : degraded             ? " (up starts, with those parts off: see INFO and tags)"
                                  : "");
}

void
preflight_log (const struct preflight *pf)
{
  for (size_t i = 0; i < pf->n; i++)
    {
      const struct pf_row *r = &pf->rows[i];
      if (r->status == PF_OK || r->status == PF_SKIPPED)
        continue;
      if (r->status == PF_MISSING && r->hard)
        log_error ("preflight: %s: %s; fix: %s", r->check, r->detail, r->fix);
      else
        log_warn ("preflight: %s %s: %s%s%s", r->check, status_names[r->status], r->detail,
                  r->fix[0] ? "; fix: " : "", r->fix);
    }
}
