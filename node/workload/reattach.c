#include "node/workload/reattach.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/deploy_request.h"
#include "api/log.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/agents/agent.h"
#include "node/agents/agent_sock.h"
#include "node/bus/outbox.h"
#include "node/workload/launch.h"
#include "node/workload/creds.h"
#include "node/workload/persist.h"
#include "node/state/journal.h"
#include "node/core/node.h"
#include "node/workload/restart.h"
#include "node/sandbox/cgnone.h"
#include "node/sandbox/sandbox.h"
#include "node/workload/supervise.h"
#include "node/workload/workload.h"

#define ORPHAN_STOP_WAIT_MS 2000

struct reattach {
  struct journal *j;
  struct agent_socks *socks; /* node/agents/agent_sock.h */
  struct journal_entry *entries; /* from the journal, until reattach_run */
  int *fds;                      /* connected link per entry, or -1 */
  bool *adopted;                 /* per entry: its agent is ours again */
  bool *announced;               /* per entry: its end is in the journal (outbox_stop_announced) */
  size_t n;
  uint64_t start_ns;
  size_t pending, reattached, lost;
  bool reported;
};

/* A socket no journal entry owns: its agent (if it answers) is stopped at
 * once and waited for a moment; the socket file goes. */
static void
clean_orphan (const char *path)
{
  Frame f = NEXC__AGENT__FRAME__INIT;
  Nexc__Agent__Stop s = NEXC__AGENT__STOP__INIT;
  struct nxerr err = { 0 };
  uint64_t deadline = timefmt_mono_ns () + ORPHAN_STOP_WAIT_MS * 1000000ull;
  int fd = agent_sock_connect (path);
  bool stopped = false;
  if (fd >= 0)
    {
      s.grace_ms = 1; /* 0 would mean the deploy's grace */
      f.body_case = NEXC__AGENT__FRAME__BODY_STOP;
      f.stop = &s;
      if (frame_send (fd, &f, -1, &err) == 0)
        for (;;)
          {
            struct pollfd p = { .fd = fd, .events = POLLIN };
            uint64_t now = timefmt_mono_ns ();
            Frame *in = NULL;
            int rc;
            if (now >= deadline || poll (&p, 1, (int) ((deadline - now) / 1000000ull) + 1) <= 0)
              break;
            rc = frame_recv (fd, &in, NULL, &err);
            if (rc < 0)
              {
                stopped = true; /* the agent closed: it is done */
                break;
              }
            if (in && in->body_case == NEXC__AGENT__FRAME__BODY_EXITED)
              stopped = true;
            frame_free (in);
            if (stopped)
              break;
          }
      close (fd);
    }
  log_warn ("reattach: orphan agent socket %s (no journal entry)%s: removed", path,
            fd < 0 ? "" : stopped ? ", its agent stopped" : ", its agent did not answer");
  agent_sock_remove (path);
}

static bool
known (const struct reattach *r, const char *name)
{
  for (size_t i = 0; i < r->n; i++)
    if (strcmp (r->entries[i].sock, name) == 0)
      return true;
  return false;
}

/* Listening abstract sockets of ours that no entry knows, from
 * /proc/net/unix (the last column: "@name" for abstract ones). */
static void
sweep_abstract (struct reattach *r)
{
  FILE *f = fopen ("/proc/net/unix", "re");
  char line[512];
  char (*seen)[96] = NULL;
  size_t n_seen = 0;
  while (f && fgets (line, sizeof line, f))
    {
      char *name = strrchr (line, ' ');
      size_t k;
      if (name == NULL)
        continue;
      name++;
      name[strcspn (name, "\n")] = '\0';
      if (!agent_socks_ours (r->socks, name) || known (r, name))
        continue;
      for (k = 0; k < n_seen && strcmp (seen[k], name) != 0; k++)
        ;
      if (k < n_seen || n_seen == 256)
        continue; /* a listener and its connections share the name */
      seen = xrealloc (seen, (n_seen + 1) * sizeof *seen);
      snprintf (seen[n_seen++], sizeof seen[0], "%s", name);
    }
  if (f)
    fclose (f);
  for (size_t k = 0; k < n_seen; k++)
    clean_orphan (seen[k]);
  free (seen);
}

static void
sweep_orphans (struct reattach *r)
{
  const char *dir = agent_socks_dir (r->socks);
  DIR *d = opendir (dir);
  struct dirent *e;
  while (d && (e = readdir (d)) != NULL)
    {
      char path[PATH_MAX + 300];
      size_t len = strlen (e->d_name);
      if (e->d_name[0] != 'a' || len < 6 || strcmp (e->d_name + len - 5, ".sock") != 0)
        continue;
      snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
      if (!known (r, path))
        clean_orphan (path);
    }
  if (d)
    closedir (d);
  sweep_abstract (r);
}

/* A link to the entry's agent, or -1. Only the process the journal names
 * may answer: it listened on the socket itself (agent/main.c), so the
 * kernel vouches for its pid; a socket whose listener is another process
 * (the agent died and its pid or its socket's name is someone else's now)
 * is not adopted, whatever it would say. */
static int
connect_agent (const struct agent_socks *socks, const struct journal_entry *e)
{
  pid_t peer;
  int fd;
  if (!agent_socks_ours (socks, e->sock) || (fd = agent_sock_connect (e->sock)) < 0)
    return -1;
  peer = agent_sock_peer_pid (fd);
  if (peer > 0 && (uint64_t) peer == e->agent_pid)
    return fd;
  log_warn ("workload %s: the socket %s is listened on by pid %d, not by its agent %llu: not "
            "adopted",
            e->id, e->sock, (int) peer, (unsigned long long) e->agent_pid);
  close (fd);
  return -1;
}

int
reattach_open (struct node *n, struct nxerr *err)
{
  struct reattach *r = xcalloc (1, sizeof *r);
  cleanup_buf struct buf note = BUF_INIT;
  r->start_ns = timefmt_mono_ns ();
  n->reattach = r;
  if (identity_mkdirs (n->cfg.state_dir, err) < 0)
    return nxerr_wrap (err, "state dir");
  /* Tier process agents may sit in their own network namespace, out of
   * reach of abstract socket names. */
  if (agent_socks_new (n->cfg.state_dir, n->node_id, n->cfg.sandbox != SANDBOX_PROCESS, &r->socks,
                       err)
      < 0)
    return -1;
  if (journal_open (n->cfg.state_dir, &r->j, &r->entries, &r->n, &note, err) < 0)
    return nxerr_wrap (err, "journal");
  if (note.len)
    log_error ("%s", note.data);
  /* Agents get sockets, and the outbox keeps events, once there is a journal. */
  n->journal = r->j;
  n->agent_socks = r->socks;
  r->fds = xcalloc (r->n + 1, sizeof *r->fds);
  r->adopted = xcalloc (r->n + 1, sizeof *r->adopted);
  r->announced = xcalloc (r->n + 1, sizeof *r->announced);
  {
    const struct journal_event *ev;
    size_t nev = journal_events (r->j, &ev);
    for (size_t i = 0; i < r->n; i++)
      r->announced[i] = outbox_stop_announced (ev, nev, r->entries[i].id);
  }
  /* Before the sandbox's leftover sweep and preflight: orphans stopped (an
   * agent no entry knows would keep its uid busy), then a connection to each
   * entry's agent; what answers keeps its sandbox. */
  sweep_orphans (r);
  for (size_t i = 0; i < r->n; i++)
    r->fds[i] = connect_agent (r->socks, &r->entries[i]);
  return 0;
}

size_t
reattach_kept_uids (const struct node *n, uint32_t **out)
{
  const struct reattach *r = n->reattach;
  size_t k = 0;
  *out = NULL;
  if (r == NULL || r->n == 0)
    return 0;
  *out = xcalloc (r->n, sizeof **out);
  for (size_t i = 0; i < r->n; i++)
    if (r->fds[i] >= 0 && r->entries[i].sandbox_uid && r->entries[i].sandbox_uid <= UINT32_MAX)
      (*out)[k++] = (uint32_t) r->entries[i].sandbox_uid;
  return k;
}

size_t
reattach_kept_pids (const struct node *n, pid_t **out)
{
  const struct reattach *r = n->reattach;
  size_t k = 0;
  *out = NULL;
  if (r == NULL || r->n == 0)
    return 0;
  *out = xcalloc (r->n, sizeof **out);
  for (size_t i = 0; i < r->n; i++)
    if (r->fds[i] >= 0 && r->entries[i].agent_pid > 0 && r->entries[i].agent_pid <= INT32_MAX)
      (*out)[k++] = (pid_t) r->entries[i].agent_pid;
  return k;
}

/* A kept sandbox (its uid taken back at start), or in tier none a kept
 * cgroup leaf, whose workload is not reattached after all: taken apart like
 * any other, its uid released, what runs in the leaf killed. */
static void
drop_kept_sandbox (struct node *n, const struct journal_entry *e)
{
  struct sandbox_slot *s = NULL;
  struct nxerr err = { 0 };
  char leaf[CGNONE_LEAF_MAX];
  if (e->agent_pid > 0 && e->agent_pid <= INT32_MAX
      && cgnone_adopt (n->cgnone, (pid_t) e->agent_pid, leaf))
    cgnone_release (n->cgnone, leaf);
  if (n->sandbox && e->sandbox_uid && e->sandbox_uid <= UINT32_MAX
      && sandbox_slot_adopt (n->sandbox, (uint32_t) e->sandbox_uid, &s, &err) == 0)
    sandbox_slot_release (n->sandbox, s);
}

static void
report (struct node *n)
{
  struct reattach *r = n->reattach;
  if (r->reported || r->pending > 0)
    return;
  r->reported = true;
  if (r->reattached == 0 && r->lost == 0)
    return;
  log_info ("reattached %zu workloads in %.1f ms (%zu lost)", r->reattached,
            (double) (timefmt_mono_ns () - r->start_ns) / 1e6, r->lost);
}

void
reattach_settled (struct node *n, bool ok)
{
  struct reattach *r = n->reattach;
  if (r == NULL || r->pending == 0)
    return;
  r->pending--;
  if (ok)
    r->reattached++;
  else
    r->lost++;
  report (n);
}

/* Whether this run's policy still allows w, which a previous run accepted:
 * the config may have changed in between (an issuer removed from
 * valid_issuers), and the journal is only a file. An autostart workload is
 * the node's own. why: the reason when not. */
static bool
still_allowed (struct node *n, const struct workload *w, char *why, size_t cap)
{
  if (w->autostart)
    return true;
  /* A deployment's replica: signed by this node (node/deployments/ decides
   * whether it still holds its slot). */
  if (w->claims.iss && strcmp (w->claims.iss, n->node_id) == 0)
    return true;
  if (w->claims.sub == NULL || strcmp (w->claims.sub, w->name) != 0)
    {
      snprintf (why, cap, "its JWT names another workload");
      return false;
    }
  if (n->cfg.valid_issuers.n && !strlist_contains (&n->cfg.valid_issuers, w->claims.iss))
    {
      snprintf (why, cap, "its issuer %.64s is not in valid_issuers any more", w->claims.iss);
      return false;
    }
  return true;
}

/* The workload of a journal entry, RUNNING, linked; NULL when the entry
 * cannot be turned back into one (logged). */
static struct workload *
rebuild (struct node *n, const struct journal_entry *e)
{
  struct deploy_request *req = NULL;
  struct jwt_claims claims;
  struct nxerr err = { 0 };
  struct workload *w;
  struct timespec now = timefmt_now ();
  uint64_t now_ms = (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
  uint64_t ran_ms = e->started_ms && e->started_ms < now_ms ? now_ms - e->started_ms : 0;
  memset (&claims, 0, sizeof claims);
  if (strlen (e->id) != WORKLOAD_ID_LEN || strlen (e->hash) != 64)
    {
      log_error ("journal: workload %.40s: malformed id or hash: not reattached", e->id);
      return NULL;
    }
  if (deploy_request_decode (e->request, strlen (e->request), &req, &err) < 0
      || jwt_decode (req->workload_jwt, &claims, &err) < 0)
    {
      log_error ("journal: workload %s: its request: %s: not reattached", e->id, err.msg);
      deploy_request_free (req);
      jwt_claims_free (&claims);
      return NULL;
    }
  w = workload_new (n);
  memcpy (w->id, e->id, WORKLOAD_ID_LEN + 1);
  w->ns = xstrdup (e->ns);
  w->name = xstrdup (e->name);
  w->type = xstrdup (e->type);
  w->description = xstrdup (req->description ? req->description : "");
  memcpy (w->hash, e->hash, 65);
  w->artifact_size = e->size;
  w->claims = claims;
  w->req = req;
  w->autostart = e->autostart;
  w->restarts = (uint32_t) e->restarts;
  w->log.seq = e->log_seq; /* the agent's Reattach moves it on */
  persist_adopt_logs (w, e->log_limit);
  if (e->sandbox_uid == 0)
    creds_adopt (w);
  restart_policy_from (req, &w->policy);
  launch_adopt (w);
  loop_timer_init (&w->stop_timer, NULL);
  w->state = WL_RUNNING;
  /* Monotonic clocks do not survive: carry the run time over from the wall clock. */
  w->started_mono_ns = timefmt_mono_ns ();
  if (ran_ms * 1000000ull < w->started_mono_ns)
    w->started_mono_ns -= ran_ms * 1000000ull;
  w->created_mono_ns = w->started_mono_ns;
  workload_link (n, w);
  return w;
}

/* ---- an adopted agent, until its Reattach frame ---- */

static void on_reattach (struct workload *w, struct agent *a, const Nexc__Agent__Reattach *m);

/* Its Reattach frame first; from then on it is the workload's agent like
 * any other (supervise_agent_ops). An Exited before it is still taken. */
static bool
adopt_frame (void *owner, struct agent *a, Frame *f)
{
  struct workload *w = owner;
  if (f->body_case != NEXC__AGENT__FRAME__BODY_REATTACH)
    return supervise_frame (owner, a, f);
  agent_reattached (a);
  agent_lease (a, &supervise_agent_ops, w, w->id);
  on_reattach (w, a, f->reattach);
  return a->state != AGENT_DEAD;
}

static void
adopt_lost (void *owner, struct agent *a, const char *why)
{
  reattach_settled (a->node, false);
  /* Its Reattach never came: where its numbering stood is unknown. */
  logs_report_lost (workload_log (owner), "agent lost before it reattached");
  supervise_agent_lost (owner, why);
}

static const struct agent_ops adopt_ops = { adopt_frame, adopt_lost };

void
reattach_run (struct node *n)
{
  struct reattach *r = n->reattach;
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->n; i++)
    {
      const struct journal_entry *e = &r->entries[i];
      struct nxerr err = { 0 };
      char why[200];
      struct workload *w = rebuild (n, e);
      struct agent *a;
      if (w == NULL)
        {
          bool kept = r->fds[i] >= 0;
          journal_del (r->j, e->id, &err);
          if (r->fds[i] >= 0)
            close (r->fds[i]);
          r->fds[i] = -1;
          if (agent_socks_ours (r->socks, e->sock))
            clean_orphan (e->sock);
          if (kept)
            drop_kept_sandbox (n, e);
          continue;
        }
      r->pending++;
      w->stop_announced = r->announced[i];
      if (w->stop_announced) /* that event stays journaled while the journal has w */
        outbox_hold (n, w->id, true);
      if (!still_allowed (n, w, why, sizeof why))
        {
          /* Taken back to be stopped (by on_reattach), never restarted. */
          w->policy.policy = DEPLOY_RESTART_NEVER;
          launch_clear_essential (w);
          w->reattach_refused = true;
          log_warn ("workload %s (%s): %s: it is stopped, not taken over", w->id, w->name, why);
        }
      if (r->fds[i] < 0)
        {
          log_warn ("workload %s (%s): its agent %llu is gone", w->id, w->name,
                    (unsigned long long) e->agent_pid);
          if (agent_socks_ours (r->socks, e->sock))
            agent_sock_remove (e->sock);
          reattach_settled (n, false);
          logs_report_lost (workload_log (w), "agent lost while the node was down");
          supervise_agent_lost (w, "agent lost while the node was down");
          continue;
        }
      log_info ("workload %s (%s): reattaching to agent %llu", w->id, w->name,
                (unsigned long long) e->agent_pid);
      r->adopted[i] = true;
      a = agent_adopt (n, &adopt_ops, w, w->id, (pid_t) e->agent_pid, r->fds[i], e->sock,
                       REATTACH_TIMEOUT_MS, &err);
      r->fds[i] = -1; /* the agent's now */
      if (a != NULL)
        {
          w->agent = a;
          cgnone_adopt (n->cgnone, a->pid, a->cg_leaf); /* spared by cgnone_start's sweep */
        }
      if (a == NULL)
        {
          log_error ("workload %s: reattach: %s", w->id, err.msg);
          drop_kept_sandbox (n, e);
        }
      else if (n->sandbox && e->sandbox_uid && e->sandbox_uid <= UINT32_MAX)
        {
          if (sandbox_slot_adopt (n->sandbox, (uint32_t) e->sandbox_uid, &a->slot, &err) < 0)
            log_error ("workload %s: reattach: %s", w->id, err.msg);
          else
            sandbox_slot_check_adopted (n->sandbox, a->slot, a->pid, w->id);
        }
    }
  journal_entries_free (r->entries, r->n);
  free (r->fds);
  free (r->adopted);
  free (r->announced);
  r->entries = NULL;
  r->fds = NULL;
  r->adopted = NULL;
  r->announced = NULL;
  r->n = 0;
  report (n);
}

static void
on_reattach (struct workload *w, struct agent *a, const Nexc__Agent__Reattach *m)
{
  struct node *n = a->node;
  struct nxerr err = { 0 };
  if (m->workload_id == NULL || strcmp (m->workload_id, w->id) != 0)
    {
      reattach_settled (n, false);
      agent_kill (a, "reattach: the agent runs another workload");
      return;
    }
  /* The agent owns the numbering: its lines go on from where it stands. */
  if (logs_resume (workload_log (w), m->next_seq, &err) < 0)
    {
      reattach_settled (n, false);
      agent_kill (a, err.msg);
      return;
    }
  /* It keeps lines until acknowledged (it was deployed so): confirm them. */
  supervise_logs_acked (w);
  if (m->exited)
    log_info ("workload %s (%s) reattached: it ended while the node was down (code %d, signal "
              "%d); %llu lines buffered, %llu dropped",
              w->id, w->name, m->code, m->signal, (unsigned long long) m->buffered,
              (unsigned long long) m->dropped);
  else
    log_info ("workload %s (%s) reattached: running, pid %u; %llu lines buffered, %llu dropped",
              w->id, w->name, m->pid, (unsigned long long) m->buffered,
              (unsigned long long) m->dropped);
  reattach_settled (n, true);
  /* Running: the end announced was of a run before this one (the node died
   * while restarting it); this run's end is still to come. */
  if (!m->exited && w->stop_announced)
    {
      w->stop_announced = false;
      outbox_hold (w->node, w->id, false);
    }
  if (w->reattach_refused && !m->exited)
    supervise_stop (w); /* workload_stopped follows, as for a STOP */
  /* The journal entry stays: same agent, same socket. */
}

void
reattach_close (struct node *n)
{
  struct reattach *r = n->reattach;
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->n; i++)
    if (r->fds && r->fds[i] >= 0)
      close (r->fds[i]);
  journal_entries_free (r->entries, r->n);
  free (r->fds);
  free (r->adopted);
  free (r->announced);
  journal_close (r->j);
  agent_socks_free (r->socks);
  free (r);
  n->reattach = NULL;
  n->journal = NULL;
  n->agent_socks = NULL;
}
