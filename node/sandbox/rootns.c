#include "node/sandbox/rootns.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/log.h"
#include "api/xalloc.h"
#include "node/core/config.h"
#include "node/sandbox/uidblock.h"
#include "node/sandbox/uidrange.h"

/* Below this, inside ids are left alone (what programs take for system
 * ids); a block boundary, so the node's blocks (node/sandbox/uidblock.h)
 * start where the range does. */
#define ROOTNS_FIRST_ID 1024u

/* The map is 0 -> the user, then 1..count: inside id N exists when count >=
 * N, so one block above the ids left alone, 1024..1087, needs 1087. */
#define ROOTNS_MIN_IDS (ROOTNS_FIRST_ID + UIDBLOCK_SIZE - 1)

/* The helper's exit statuses. */
enum helper_status {
  HELPER_MAPPED = 0,
  HELPER_UIDMAP_FAILED = 1,
  HELPER_GIDMAP_FAILED = 2,
  HELPER_NO_GO = 3, /* no "g" from the node, or the node is not its parent */
};

#define ROOTNS_STOPS "the node is in a user namespace without ids and stops"

static struct rootns entered;
static bool is_entered;

const struct rootns *
rootns_get (void)
{
  return is_entered ? &entered : NULL;
}

uint32_t
rootns_inside_count (const struct rootns *r)
{
  return r->subuid.count < r->subgid.count ? r->subuid.count : r->subgid.count;
}

int
rootns_check_ids (const struct rootns *r, struct nxerr *err)
{
  if (rootns_inside_count (r) < ROOTNS_MIN_IDS)
    return nxerr_set (err, ERANGE,
                      "rootless: %s has %u subordinate ids, fewer than the %u a node needs (ids "
                      "1-%u are left to the namespace's own users, then one block of %u)",
                      r->name, rootns_inside_count (r), ROOTNS_MIN_IDS, ROOTNS_FIRST_ID - 1,
                      UIDBLOCK_SIZE);
  return 0;
}

/* Everything that can be missing, before the namespace exists. */
static int
prerequisites (struct rootns *r, struct nxerr *err)
{
  struct passwd pw, *res = NULL;
  char buf[2048], why_u[200], why_g[200];
  bool pu, pg;
  const char *hu, *hg;
  r->uid = (uint32_t) geteuid ();
  r->gid = (uint32_t) getegid ();
  if (getpwuid_r (r->uid, &pw, buf, sizeof buf, &res) == 0 && res)
    snprintf (r->name, sizeof r->name, "%s", res->pw_name);
  else
    snprintf (r->name, sizeof r->name, "%u", r->uid);
  if (subids_find ("/etc/subuid", r->name, r->uid, &r->subuid, why_u, sizeof why_u) < 0
      || subids_find ("/etc/subgid", r->name, r->uid, &r->subgid, why_g, sizeof why_g) < 0)
    return nxerr_set (err, ENOENT,
                      "rootless: %s: give %s subordinate ids (usermod --add-subuids "
                      "100000-165535 --add-subgids 100000-165535 %s, outside any node's "
                      "uid_range)",
                      r->subuid.count ? why_g : why_u, r->name, r->name);
  hu = subids_mapper ("newuidmap", r->uidmap, sizeof r->uidmap, &pu);
  hg = subids_mapper ("newgidmap", r->gidmap, sizeof r->gidmap, &pg);
  if (!hu || !hg || !pu || !pg)
    return nxerr_set (err, ENOENT,
                      "rootless: %s %s: install newuidmap and newgidmap set-uid root "
                      "(apt-get install uidmap)",
                      !hu ? "newuidmap" : !hg ? "newgidmap" : !pu ? r->uidmap : r->gidmap,
                      !hu || !hg ? "not found" : "is neither set-uid root nor capable");
  return rootns_check_ids (r, err);
}

/* One mapper's run: newuidmap with the user's uid and /etc/subuid range,
 * or newgidmap with its gid and /etc/subgid range. */
struct mapping {
  const char *prog;
  uint32_t own;
  const struct subids_range *ids;
};

static struct mapping
mapping_of (const struct rootns *r, bool gids)
{
  return gids ? (struct mapping){ r->gidmap, r->gid, &r->subgid }
              : (struct mapping){ r->uidmap, r->uid, &r->subuid };
}

/* prog <pid> 0 <own> 1 1 <start> <count>: the exit status, -1 when it
 * could not run (said on stderr, where the mapper's own messages go). */
static int
run_mapper (const struct mapping *m, pid_t target)
{
  char pidtext[16], owntext[16], start[16], count[16];
  char *argv[] = { (char *) m->prog, pidtext, "0", owntext, "1", "1", start, count, NULL };
  /* Not the node's environment: it may hold NATS_PASSWORD or NATS_TOKEN. */
  char *envp[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *) "LC_ALL=C", NULL };
  pid_t pid;
  int st, e;
  snprintf (pidtext, sizeof pidtext, "%d", (int) target);
  snprintf (owntext, sizeof owntext, "%u", m->own);
  snprintf (start, sizeof start, "%u", m->ids->start);
  snprintf (count, sizeof count, "%u", m->ids->count);
  e = posix_spawn (&pid, m->prog, NULL, NULL, argv, envp);
  if (e != 0)
    {
      dprintf (STDERR_FILENO, "rootless: cannot run %s: %s\n", m->prog, strerror (e));
      return -1;
    }
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      {
        dprintf (STDERR_FILENO, "rootless: waitpid %s: %s\n", m->prog, strerror (errno));
        return -1;
      }
  return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

/* The helper, still in the host's namespace: waits for the parent's byte
 * ("the namespace exists"), maps it and exits with a HELPER_ status. */
static _Noreturn void
helper (const struct rootns *r, pid_t parent, int rfd)
{
  struct mapping uids = mapping_of (r, false), gids = mapping_of (r, true);
  char go = 0;
  ssize_t n;
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  do
    n = read (rfd, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1 || go != 'g' || getppid () != parent)
    _exit (HELPER_NO_GO);
  if (run_mapper (&uids, parent) != 0)
    _exit (HELPER_UIDMAP_FAILED);
  if (run_mapper (&gids, parent) != 0)
    _exit (HELPER_GIDMAP_FAILED);
  _exit (HELPER_MAPPED);
}

/* err for the helper's wait status st, anything but HELPER_MAPPED. */
static void
helper_failed (const struct rootns *r, pid_t self, int st, struct nxerr *err)
{
  struct mapping m;
  if (WIFSIGNALED (st))
    {
      nxerr_set (err, EPERM, "rootless: the mapping helper was killed by signal %d: " ROOTNS_STOPS,
                 WTERMSIG (st));
      return;
    }
  switch (WEXITSTATUS (st))
    {
    case HELPER_UIDMAP_FAILED:
    case HELPER_GIDMAP_FAILED:
      m = mapping_of (r, WEXITSTATUS (st) == HELPER_GIDMAP_FAILED);
      nxerr_set (err, EPERM,
                 "rootless: %s %d 0 %u 1 1 %u %u failed (its message is above): " ROOTNS_STOPS,
                 m.prog, (int) self, m.own, m.ids->start, m.ids->count);
      break;
    case HELPER_NO_GO:
      nxerr_set (err, EPERM,
                 "rootless: the mapping helper did not get the node's go-ahead and mapped "
                 "nothing: " ROOTNS_STOPS);
      break;
    default:
      nxerr_set (err, EPERM, "rootless: the mapping helper exited with status %d: " ROOTNS_STOPS,
                 WEXITSTATUS (st));
    }
}

/* Fork the helper, unshare, tell it to map, wait for it. -1 when the
 * unshare failed (nothing changed); ROOTNS_BROKEN once the namespace
 * exists and the maps may not. */
static int
unshare_mapped (const struct rootns *r, struct nxerr *err)
{
  int sv[2], st, e;
  ssize_t sent;
  pid_t h, w, self = getpid ();
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return nxerr_sys (err, errno, "rootless: socketpair");
  h = fork ();
  if (h < 0)
    {
      e = errno;
      close (sv[0]);
      close (sv[1]);
      return nxerr_sys (err, e, "rootless: fork");
    }
  if (h == 0)
    {
      close (sv[1]);
      helper (r, self, sv[0]);
    }
  close (sv[0]);
  e = unshare (CLONE_NEWUSER) < 0 ? errno : 0;
  /* A helper already dead must not kill the node with SIGPIPE. */
  sent = send (sv[1], e ? "x" : "g", 1, MSG_NOSIGNAL);
  if (sent != 1 && e == 0)
    nxerr_sys (err, sent < 0 ? errno : EPIPE,
               "rootless: telling the mapping helper to map: " ROOTNS_STOPS);
  close (sv[1]);
  while ((w = waitpid (h, &st, 0)) < 0 && errno == EINTR)
    ;
  if (e)
    return nxerr_sys (err, e, "rootless: unshare(CLONE_NEWUSER)"); /* nothing changed */
  if (sent != 1)
    return ROOTNS_BROKEN;
  if (w < 0)
    {
      nxerr_sys (err, errno, "rootless: waitpid of the mapping helper: " ROOTNS_STOPS);
      return ROOTNS_BROKEN;
    }
  if (!WIFEXITED (st) || WEXITSTATUS (st) != HELPER_MAPPED)
    {
      helper_failed (r, self, st, err);
      return ROOTNS_BROKEN;
    }
  return 0;
}

int
rootns_enter (struct nxerr *err)
{
  struct rootns r = { 0 };
  struct sigaction dfl = { .sa_handler = SIG_DFL }, old;
  int rc;
  if (is_entered)
    return 0;
  if (prerequisites (&r, err) < 0)
    return -1;
  /* An inherited SIGCHLD = SIG_IGN would reap the helper (and, inherited
   * by it, the mappers) unasked: waitpid fails with ECHILD, the status is
   * lost. The default until they are waited for. */
  sigemptyset (&dfl.sa_mask);
  if (sigaction (SIGCHLD, &dfl, &old) < 0)
    return nxerr_sys (err, errno, "rootless: sigaction(SIGCHLD)");
  rc = unshare_mapped (&r, err);
  sigaction (SIGCHLD, &old, NULL);
  if (rc < 0)
    return rc;
  /* The maps are written: the same kernel ids now read as 0, with the
   * capabilities the unshare gave. Supplementary groups of the host are
   * not mapped (they would read as the overflow gid): none. */
  if (getuid () != 0 || getgid () != 0 || setgroups (0, NULL) < 0)
    {
      nxerr_sys (err, errno ? errno : EPERM,
                 "rootless: after the maps the node is uid %u gid %u, not 0", getuid (),
                 getgid ());
      return ROOTNS_BROKEN;
    }
  entered = r;
  is_entered = true;
  return 0;
}

/* $XDG_<var> when it is an absolute path, else $HOME/<fallback>, with
 * suffix; false when neither is set. */
static bool
user_dir (const char *var, const char *fallback, const char *suffix, char *out, size_t cap)
{
  const char *x = getenv (var), *home = getenv ("HOME");
  if (x && x[0] == '/')
    return (size_t) snprintf (out, cap, "%s/%s", x, suffix) < cap;
  if (fallback && home && home[0] == '/')
    return (size_t) snprintf (out, cap, "%s/%s/%s", home, fallback, suffix) < cap;
  return false;
}

/* Whole blocks of the map from start up, at most uid_range's largest
 * count; 0 or less when none fits. 64-bit: the map may end at UINT32_MAX. */
static int64_t
default_count (const struct rootns *r, int64_t start)
{
  int64_t end = ((int64_t) rootns_inside_count (r) + 1) / UIDBLOCK_SIZE * UIDBLOCK_SIZE;
  return end - start < UIDRANGE_MAX_COUNT ? end - start : UIDRANGE_MAX_COUNT;
}

static bool
range_fits (const struct config *cfg, int64_t last)
{
  return cfg->uid_start >= 1 && cfg->uid_count >= 1
         && cfg->uid_start + cfg->uid_count - 1 <= last;
}

/* uid_range_set says the config named start or count (node/core/config.c),
 * not which: the half not named keeps root's default. A named range is
 * taken whole and refused when outside the map, the refusal saying that a
 * half may be root's default; it is not guessed at, since {"count": 64}
 * reads the same as {"start": 200000, "count": 64}. */
static int
set_uid_range (const struct rootns *r, struct config *cfg, struct nxerr *err)
{
  char hint[128] = "";
  if (!cfg->uid_range_set)
    {
      cfg->uid_start = ROOTNS_FIRST_ID;
      cfg->uid_count = default_count (r, ROOTNS_FIRST_ID);
    }
  if (range_fits (cfg, rootns_inside_count (r)))
    return 0;
  if (cfg->uid_range_set
      && (cfg->uid_start == CONFIG_UID_START || cfg->uid_count == CONFIG_UID_COUNT))
    snprintf (hint, sizeof hint,
              ", or name both start and count (one not named is root's default: start %d, "
              "count %d)",
              CONFIG_UID_START, CONFIG_UID_COUNT);
  return nxerr_set (err, ERANGE,
                    "uid_range %lld-%lld: a rootless node's uid_range is in its own user "
                    "namespace, where only 1-%u exist (%s's /etc/subuid %u-%llu); leave "
                    "uid_range out for %u-%lld%s",
                    (long long) cfg->uid_start, (long long) (cfg->uid_start + cfg->uid_count - 1),
                    rootns_inside_count (r), r->name, r->subuid.start,
                    (unsigned long long) r->subuid.start + r->subuid.count - 1, ROOTNS_FIRST_ID,
                    (long long) (ROOTNS_FIRST_ID + default_count (r, ROOTNS_FIRST_ID) - 1), hint);
}

int
rootns_config (const struct rootns *r, struct config *cfg, struct nxerr *err)
{
  char path[4096];
  if (set_uid_range (r, cfg, err) < 0)
    return -1;
  /* Two rootless nodes of one user share its ids, so they must share the
   * lock dir whatever their environment (a login session's
   * XDG_RUNTIME_DIR, a service's none): one fixed path per user. Other
   * users' nodes have other ids. */
  if (cfg->uid_lock_dir == NULL)
    {
      snprintf (path, sizeof path, "/dev/shm/nexc-uids-%u", r->uid);
      cfg->uid_lock_dir = xstrdup (path);
    }
  if (!cfg->state_dir_set && user_dir ("XDG_STATE_HOME", ".local/state", "nexc", path, sizeof path))
    {
      free (cfg->state_dir);
      cfg->state_dir = xstrdup (path);
    }
  return 0;
}
