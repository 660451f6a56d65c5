#include "node/sandbox/rootns.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/log.h"
#include "api/xalloc.h"
#include "node/core/config.h"
#include "node/sandbox/uidblock.h"

/* Below this, inside ids are left alone (what programs take for system
 * ids); a block boundary, so the node's blocks (node/sandbox/uidblock.h)
 * start where the range does. */
#define ROOTNS_FIRST_ID 1024u

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
  if (rootns_inside_count (r) < ROOTNS_FIRST_ID + UIDBLOCK_SIZE)
    return nxerr_set (err, ERANGE,
                      "rootless: %s has %u subordinate ids, fewer than the %u a node needs (ids "
                      "1-%u are left to the namespace's own users, then one block of %u)",
                      r->name, rootns_inside_count (r), ROOTNS_FIRST_ID + UIDBLOCK_SIZE,
                      ROOTNS_FIRST_ID - 1, UIDBLOCK_SIZE);
  return 0;
}

/* prog <pid> 0 <own> 1 1 <start> <count>: the exit status, -1 when it
 * could not run. */
static int
run_mapper (const char *prog, pid_t target, uint32_t own, const struct subids_range *s)
{
  char pidtext[16], owntext[16], start[16], count[16];
  char *argv[] = { (char *) prog, pidtext, "0", owntext, "1", "1", start, count, NULL };
  /* Not the node's environment: it may hold NATS_PASSWORD or NATS_TOKEN. */
  char *envp[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *) "LC_ALL=C", NULL };
  pid_t pid;
  int st;
  snprintf (pidtext, sizeof pidtext, "%d", (int) target);
  snprintf (owntext, sizeof owntext, "%u", own);
  snprintf (start, sizeof start, "%u", s->start);
  snprintf (count, sizeof count, "%u", s->count);
  if (posix_spawn (&pid, prog, NULL, NULL, argv, envp) != 0)
    return -1;
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

/* The helper, still in the host's namespace: waits for the parent's byte
 * ("the namespace exists"), maps it, exits 0, or 1 for newuidmap's failure
 * and 2 for newgidmap's (their own messages are on stderr). */
static _Noreturn void
helper (const struct rootns *r, pid_t parent, int rfd)
{
  char go = 0;
  ssize_t n;
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  do
    n = read (rfd, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1 || go != 'g' || getppid () != parent)
    _exit (3);
  if (run_mapper (r->uidmap, parent, r->uid, &r->subuid) != 0)
    _exit (1);
  if (run_mapper (r->gidmap, parent, r->gid, &r->subgid) != 0)
    _exit (2);
  _exit (0);
}

int
rootns_enter (struct nxerr *err)
{
  struct rootns r = { 0 };
  int p[2], st = 0, e;
  pid_t h, self = getpid ();
  if (is_entered)
    return 0;
  if (prerequisites (&r, err) < 0)
    return -1;
  if (pipe2 (p, O_CLOEXEC) < 0)
    return nxerr_sys (err, errno, "rootless: pipe");
  h = fork ();
  if (h < 0)
    {
      e = errno;
      close (p[0]);
      close (p[1]);
      return nxerr_sys (err, e, "rootless: fork");
    }
  if (h == 0)
    {
      close (p[1]);
      helper (&r, self, p[0]);
    }
  close (p[0]);
  e = unshare (CLONE_NEWUSER) < 0 ? errno : 0;
  if (write (p[1], e ? "x" : "g", 1) != 1 && e == 0)
    e = errno;
  close (p[1]);
  while (waitpid (h, &st, 0) < 0 && errno == EINTR)
    ;
  if (e)
    return nxerr_sys (err, e, "rootless: unshare(CLONE_NEWUSER)"); /* nothing changed */
  if (!WIFEXITED (st) || WEXITSTATUS (st) != 0)
    {
      nxerr_set (err, EPERM,
                      "rootless: %s %d 0 %u 1 1 %u %u failed (its message is above): the "
                      "node is in a user namespace without ids and stops",
                      WIFEXITED (st) && WEXITSTATUS (st) == 2 ? r.gidmap : r.uidmap, (int) self,
                      WIFEXITED (st) && WEXITSTATUS (st) == 2 ? r.gid : r.uid,
                      WIFEXITED (st) && WEXITSTATUS (st) == 2 ? r.subgid.start : r.subuid.start,
                      WIFEXITED (st) && WEXITSTATUS (st) == 2 ? r.subgid.count : r.subuid.count);
      return ROOTNS_BROKEN;
    }
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

int
rootns_config (const struct rootns *r, struct config *cfg, struct nxerr *err)
{
  uint32_t count = rootns_inside_count (r);
  char path[4096];
  if (!cfg->uid_range_set)
    {
      cfg->uid_start = ROOTNS_FIRST_ID;
      cfg->uid_count = (count + 1 - ROOTNS_FIRST_ID) / UIDBLOCK_SIZE * UIDBLOCK_SIZE;
    }
  else if (cfg->uid_start < 1 || cfg->uid_start + cfg->uid_count - 1 > (int64_t) count)
    return nxerr_set (err, ERANGE,
                      "uid_range %lld-%lld: a rootless node's uid_range is in its own user "
                      "namespace, where only 1-%u exist (%s's /etc/subuid %u-%u); leave "
                      "uid_range out for %u-%u",
                      (long long) cfg->uid_start, (long long) (cfg->uid_start + cfg->uid_count - 1),
                      count, r->name, r->subuid.start, r->subuid.start + r->subuid.count - 1,
                      ROOTNS_FIRST_ID,
                      ROOTNS_FIRST_ID
                          + (count + 1 - ROOTNS_FIRST_ID) / UIDBLOCK_SIZE * UIDBLOCK_SIZE - 1);
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
