#include "node/agents/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/deploy_request.h"
#include "api/frame.h"
#include "api/log.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/agents/agent_sock.h"
#include "node/core/node.h"
#include "node/sandbox/cgnone.h"
#include "node/sandbox/fsview.h"
#include "node/agents/pool.h"
#include "node/agents/spawner.h"
#include "node/sandbox/sandbox.h"
#include "node/core/spawn.h"
#include "node/agents/zygote.h"

/* Bounded work per wake so one chatty agent cannot starve the control plane:
 * frames are read until this many frames or this many log lines were handled
 * (a batched Log frame is handled whole, so up to FRAME_LOG_LINES_MAX more). */
#define AGENT_FRAMES_PER_WAKE 64
#define AGENT_LINES_PER_WAKE 512
#define AGENT_ARGV_MAX 32

static void on_link (struct loop_source *src, uint32_t events);
static void read_link (struct agent *a, size_t frames, size_t lines);
static void on_timer (struct loop_timer *t);

/* Tier none: forked by the zygote (into the leaf of cgfd when >= 0: *born_in
 * says whether it was), or exec'd when it cannot serve. On ZYGOTE_LOST an
 * agent may hold copies of link and lfd: fail this spawn (the pool retries
 * with fresh ones). */
static int
start_plain (struct node *n, char **argv, char **envp, int link, int lfd, int cgfd, pid_t *pid,
             bool *born_in, struct nxerr *err)
{
  struct nxerr zerr = { 0 };
  int rc = zygote_spawn (n, argv, link, lfd, cgfd, pid, born_in, &zerr);
  if (rc == 0)
    return 0;
  if (rc == ZYGOTE_LOST)
    {
      *err = zerr;
      return -1;
    }
  if (zerr.code != EAGAIN)
    log_debug ("%s", zerr.msg);
  return spawn_with_link (n->agent_path, argv, envp, link, lfd, pid, err);
}

/* Tier none: the agent is in a cgroup leaf of its own before its Hello, so
 * before any Deploy: its workload and everything that forks inside it are
 * there, and are killed with the leaf once the agent is reaped, even when
 * the agent was SIGKILLed and could not kill them. Either way it is our
 * child (the zygote clones with CLONE_PARENT). The leaf is made first; the
 * zygote clones the agent into it on v2, else (*join) the pid goes in on
 * the spawner's thread (join_leaf). */
static int
spawn_plain (struct node *n, char **argv, char **envp, int link, int lfd,
             char leaf[CGNONE_LEAF_MAX], bool *join, pid_t *pid, struct nxerr *err)
{
  int cgfd = -1, rc;
  bool born_in = false;
  if (cgnone_make_leaf (n->cgnone, leaf, &cgfd, err) < 0)
    return -1;
  rc = start_plain (n, argv, envp, link, lfd, cgfd, pid, &born_in, err);
  if (cgfd >= 0)
    close (cgfd);
  if (rc < 0)
    {
      cgnone_release (n->cgnone, leaf);
      leaf[0] = '\0';
      return -1;
    }
  *join = leaf[0] && !born_in;
  return 0;
}

/* On the spawner's thread; the agent's leaf name is not written while its
 * spawn is pending. */
static int
join_leaf (struct spawn_job *j)
{
  const struct agent *a = j->ud;
  return cgnone_join (j->run_arg, a->cg_leaf, j->pid, &j->err);
}

static struct agent *
agent_new (struct node *n, pid_t pid, struct sandbox_slot *slot, char *sock, int link)
{
  struct agent *a = xcalloc (1, sizeof *a);
  fcntl (link, F_SETFL, fcntl (link, F_GETFL) | O_NONBLOCK);
  a->node = n;
  a->pid = pid;
  a->slot = slot;
  a->sock = sock;
  a->pidfd = -1;
  a->src.fd = link;
  a->src.cb = on_link;
  a->state = AGENT_SPAWNING;
  a->spawned_ns = timefmt_mono_ns ();
  loop_timer_init (&a->timer, on_timer);
  return a;
}

/* The process exists: read its link, and give it until the handshake
 * timeout to say Hello. */
static int
agent_watch (struct agent *a, struct nxerr *err)
{
  if (loop_add (a->node->loop, &a->src, EPOLLIN, err) < 0)
    return -1;
  loop_timer_arm (a->node->loop, &a->timer, (uint64_t) a->node->cfg.agent_handshake_timeout_ms);
  return 0;
}

/* The spawner's result, on the loop (node/agents/spawner.h). */
static void
on_spawned (struct spawn_job *j)
{
  struct agent *a = j->ud;
  struct node *n = a->node;
  struct nxerr err = { 0 };
  a->spawn_pending = false;
  if (j->pid <= 0)
    {
      log_warn ("agent spawn failed: %s", j->err.msg);
      a->reaped = true; /* there is no process */
      if (a->state != AGENT_DEAD)
        agent_kill (a, NULL);
      else
        pool_agent_gone (a->pool, a);
    }
  else
    {
      a->pid = j->pid;
      if (a->state == AGENT_DEAD)
        {
          /* Given up while it was being made, or (tier none, its pid known
           * from the start) reaped meanwhile: free it now if so. */
          if (!a->reaped)
            kill (a->pid, SIGKILL);
          pool_agent_gone (a->pool, a);
        }
      else if (j->failed)
        agent_kill (a, j->err.msg);
      else if (agent_watch (a, &err) < 0)
        agent_kill (a, err.msg);
    }
  /* pool_reap may have left this child's death for after its result. */
  if (n->pool)
    pool_reap (n->pool);
}

/* Tier process: a prepared sandbox (uid, working dir, cgroup leaf), the
 * agent as pid 1 of new namespaces, in its leaf before it runs (it moves
 * itself in before its exec). The clone runs on the spawner's thread; the agent
 * is SPAWNING with no pid (and no epoll) until on_spawned. Takes link[1]
 * and lfd in every case. */
static int
spawn_sandboxed (struct node *n, char **argv, size_t argc, size_t room, char **envp,
                 int link[2], int lfd, char *sock, struct agent **out, struct nxerr *err)
{
  struct sandbox_slot *s = NULL;
  char join[CG_NCTRL][CG_PROCS_MAX];
  size_t njoin;
  struct spawn_job *j;
  struct agent *a;
  if (sandbox_slot_new (n->sandbox, &s, err) < 0)
    goto fail;
  argc += sandbox_slot_argv (n->sandbox, s, argv + argc, room - argc - 1);
  argv[argc] = NULL;
  njoin = sandbox_slot_join (n->sandbox, s, join, CG_NCTRL);
  j = spawner_job_new (n->agent_path, argv, envp, join, njoin);
  j->spec.fd3 = link[1];
  j->spec.fd4 = lfd >= 0 ? lfd : 0;
  j->spec.clone_flags = sandbox_clone_flags (&n->cfg);
  j->done = on_spawned;
  a = agent_new (n, 0, s, sock, link[0]);
  a->spawn_pending = true;
  j->ud = a;
  if (spawner_submit (n, j, err) < 0)
    {
      free (a);
      goto fail;
    }
  *out = a;
  return 0;
fail:
  if (s)
    sandbox_slot_release (n->sandbox, s);
  close (link[0]);
  close (link[1]);
  if (lfd >= 0)
    close (lfd);
  agent_sock_remove (sock);
  free (sock);
  return -1;
}

int
agent_spawn (struct node *n, struct agent **out, struct nxerr *err)
{
  int sv[2];
  char ppid[32];
  char *argv[AGENT_ARGV_MAX];
  size_t argc = 0;
  char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
  struct agent *a;
  char *sock = NULL;
  char leaf[CGNONE_LEAF_MAX];
  bool join = false;
  int lfd = -1;
  pid_t pid;
  int rc;

  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return nxerr_sys (err, errno, "socketpair");
  snprintf (ppid, sizeof ppid, "%d", (int) getpid ());
  argv[argc++] = "nexc-agent";
  argv[argc++] = "--fd";
  argv[argc++] = "3";
  argv[argc++] = "--parent-pid";
  argv[argc++] = ppid;
  argv[argc++] = "--sandbox";
  argv[argc++] = n->sandbox ? "process" : "none";
  argv[argc++] = "--log-level";
  argv[argc++] = log_get_level () >= LOG_DEBUG ? "debug" : "info";
  if (agent_socks_bind (n->agent_socks, &sock, &lfd) == 0)
    {
      argv[argc++] = "--listen-fd";
      argv[argc++] = "4";
    }
  argv[argc] = NULL;
  if (n->sandbox)
    return spawn_sandboxed (n, argv, argc, AGENT_ARGV_MAX, envp, sv, lfd, sock, out, err);
  rc = spawn_plain (n, argv, envp, sv[1], lfd, leaf, &join, &pid, err);
  close (sv[1]);
  if (lfd >= 0)
    close (lfd);
  if (rc < 0)
    {
      close (sv[0]);
      agent_sock_remove (sock);
      free (sock);
      return -1;
    }
  a = agent_new (n, pid, NULL, sock, sv[0]);
  snprintf (a->cg_leaf, sizeof a->cg_leaf, "%s", leaf);
  *out = a; /* even when it cannot be watched: still reaped through the pool */
  if (join)
    {
      struct spawn_job *j = spawner_run_job_new (join_leaf, n->cgnone, pid);
      j->done = on_spawned;
      j->ud = a;
      a->spawn_pending = true;
      if (spawner_submit (n, j, err) == 0)
        return 0;
      a->spawn_pending = false;
      kill (pid, SIGKILL);
      close (sv[0]);
      a->src.fd = -1;
      a->state = AGENT_DEAD;
      return -1;
    }
  if (agent_watch (a, err) < 0)
    {
      kill (pid, SIGKILL);
      close (sv[0]);
      a->src.fd = -1;
      a->state = AGENT_DEAD;
      return -1;
    }
  return 0;
}

static int
send_frame (struct agent *a, Frame *f, int fd, struct nxerr *err)
{
  if (a->state == AGENT_DEAD || a->src.fd < 0)
    return nxerr_set (err, EPIPE, "agent %d is gone", (int) a->pid);
  return frame_send (a->src.fd, f, fd, err);
}

int
agent_send_frame (struct agent *a, Frame *f, int fd, struct nxerr *err)
{
  return send_frame (a, f, fd, err);
}

int
agent_send_deploy (struct agent *a, const struct agent_deploy *dep, int exe_fd,
                   struct nxerr *err)
{
  Frame f = NEXC__AGENT__FRAME__INIT;
  Nexc__Agent__Deploy d = NEXC__AGENT__DEPLOY__INIT;
  Nexc__Agent__EnvVar *vars = xcalloc (dep->n_env + 1, sizeof *vars);
  Nexc__Agent__EnvVar **pvars = xcalloc (dep->n_env + 1, sizeof *pvars);
  int rc;
  for (size_t i = 0; i < dep->n_env; i++)
    {
      nexc__agent__env_var__init (&vars[i]);
      vars[i].key = dep->env_kv[2 * i];
      vars[i].value = dep->env_kv[2 * i + 1];
      pvars[i] = &vars[i];
    }
  d.workload_id = (char *) dep->id;
  d.name = (char *) dep->name;
  d.n_argv = dep->argc;
  d.argv = dep->argv;
  d.n_env = dep->n_env;
  d.env = pvars;
  d.artifact_size = dep->artifact_size;
  d.stop_grace_ms = (uint32_t) a->node->cfg.stop_grace_ms;
  d.logs_on_full = dep->logs_drop_oldest ? NEXC__AGENT__DEPLOY__LOGS_ON_FULL__DROP_OLDEST
                                         : NEXC__AGENT__DEPLOY__LOGS_ON_FULL__BLOCK;
  d.logs_first_seq = dep->logs_first_seq;
  d.logs_acked = dep->logs_acked;
  d.die_with_node = dep->die_with_node;
  if (a->slot)
    {
      /* Per-deploy sizing goes to the warm agent's cgroup leaf now. */
      static const struct deploy_resources none;
      if (sandbox_slot_apply (a->node->sandbox, a->slot, dep->resources ? dep->resources : &none,
                              err)
          < 0)
        {
          free (pvars);
          free (vars);
          return -1;
        }
      d.rlimit_nproc = a->slot->limits.pids;
      d.rlimit_nofile = (uint64_t) a->node->cfg.open_files_limit;
      fsview_fill (a->node, dep->filesystem, &d);
    }
  f.body_case = NEXC__AGENT__FRAME__BODY_DEPLOY;
  f.deploy = &d;
  rc = send_frame (a, &f, exe_fd, err);
  free (pvars);
  free (vars);
  return rc;
}

void
agent_lease (struct agent *a, const struct agent_ops *ops, void *owner, const char *wl_id)
{
  a->ops = ops;
  a->owner = owner;
  a->wl_id = wl_id;
  a->state = AGENT_LEASED;
}

void
agent_unlease (struct agent *a)
{
  a->ops = NULL;
  a->owner = NULL;
  a->wl_id = NULL;
}

int
agent_send_stop (struct agent *a, uint32_t grace_ms, struct nxerr *err)
{
  Frame f = NEXC__AGENT__FRAME__INIT;
  Nexc__Agent__Stop s = NEXC__AGENT__STOP__INIT;
  s.grace_ms = grace_ms;
  f.body_case = NEXC__AGENT__FRAME__BODY_STOP;
  f.stop = &s;
  return send_frame (a, &f, -1, err);
}

static int
send_log_ack (struct agent *a, uint64_t seq, bool resend, struct nxerr *err)
{
  Frame f = NEXC__AGENT__FRAME__INIT;
  Nexc__Agent__LogAck k = NEXC__AGENT__LOG_ACK__INIT;
  k.seq = seq;
  k.resend = resend;
  f.body_case = NEXC__AGENT__FRAME__BODY_LOG_ACK;
  f.log_ack = &k;
  return send_frame (a, &f, -1, err);
}

int
agent_send_log_ack (struct agent *a, uint64_t seq, struct nxerr *err)
{
  return send_log_ack (a, seq, false, err);
}

int
agent_send_log_resend (struct agent *a, uint64_t seq, struct nxerr *err)
{
  return send_log_ack (a, seq, true, err);
}

int
agent_send_ping (struct agent *a, struct nxerr *err)
{
  Frame f = NEXC__AGENT__FRAME__INIT;
  Nexc__Agent__Ping p = NEXC__AGENT__PING__INIT;
  p.nonce = ++a->ping_nonce;
  f.body_case = NEXC__AGENT__FRAME__BODY_PING;
  f.ping = &p;
  if (send_frame (a, &f, -1, err) < 0)
    return -1;
  a->ping_pending = true;
  return 0;
}

static void
close_link (struct agent *a)
{
  if (a->src.fd < 0)
    return;
  if (!a->held)
    loop_del (a->node->loop, &a->src);
  a->held = false;
  close (a->src.fd);
  a->src.fd = -1;
}

void
agent_detach (struct agent *a)
{
  if (a->state == AGENT_DEAD)
    return;
  a->state = AGENT_DEAD;
  a->detached = true;
  a->reaped = true; /* it outlives us: no waitpid, no kill */
  close_link (a);
  loop_timer_cancel (a->node->loop, &a->timer);
  agent_unlease (a);
}

void
agent_kill (struct agent *a, const char *why)
{
  const struct agent_ops *ops = a->ops;
  void *owner = a->owner;
  if (a->state == AGENT_DEAD)
    return;
  if (why)
    log_warn ("agent %d%s%s: %s", (int) a->pid, a->wl_id ? " of workload " : "",
              a->wl_id ? a->wl_id : "", why);
  a->state = AGENT_DEAD;
  if (a->adopted)
    {
      /* Not our child: no waitpid will ever say it is gone. */
      if (a->pidfd >= 0)
        syscall (SYS_pidfd_send_signal, a->pidfd, SIGKILL, NULL, 0);
      a->reaped = true;
    }
  else if (!a->reaped && a->pid > 0) /* no pid yet: on_spawned kills it */
    kill (a->pid, SIGKILL);
  close_link (a);
  loop_timer_cancel (a->node->loop, &a->timer);
  agent_unlease (a);
  a->awaiting_reattach = false;
  if (ops)
    ops->lost (owner, a, why ? why : "agent exited");
  if (a->on_ready)
    {
      void (*cb) (struct agent *, bool, void *) = a->on_ready;
      a->on_ready = NULL;
      cb (a, false, a->ud);
    }
  pool_agent_started (a->pool, a);
  pool_agent_gone (a->pool, a);
}

void
agent_reaped (struct agent *a, int status)
{
  a->reaped = true;
  if (a->state != AGENT_DEAD)
    {
      char why[96];
      if (WIFSIGNALED (status))
        snprintf (why, sizeof why, "agent killed by signal %d", WTERMSIG (status));
      else
        snprintf (why, sizeof why, "agent exited with status %d", WEXITSTATUS (status));
      /* The link may still hold the agent's last frames (logs, Exited): read
       * them all before declaring the agent lost, or lines would vanish
       * uncounted. Bounded by the socket buffer: the agent is gone. */
      if (a->src.fd >= 0)
        read_link (a, SIZE_MAX, SIZE_MAX);
      if (a->state != AGENT_DEAD)
        agent_kill (a, a->wl_id ? why : NULL);
    }
}

/* ---- frames from the agent ---- */

bool
agent_violation (struct agent *a, const Frame *f)
{
  char why[96];
  snprintf (why, sizeof why, "protocol violation: unexpected %s frame", frame_kind (f));
  agent_kill (a, why);
  return false;
}

void
agent_hold (struct agent *a, bool hold)
{
  struct nxerr err = { 0 };
  if (a->held == hold || a->state == AGENT_DEAD || a->src.fd < 0)
    return;
  a->held = hold;
  if (hold)
    {
      /* Out of epoll altogether: a level-triggered hang-up would wake the
       * loop again and again while nobody may read. */
      loop_del (a->node->loop, &a->src);
      return;
    }
  if (loop_add (a->node->loop, &a->src, EPOLLIN, &err) < 0)
    agent_kill (a, err.msg);
}

void
agent_reattached (struct agent *a)
{
  a->awaiting_reattach = false;
  loop_timer_cancel (a->node->loop, &a->timer);
}

static bool
hello (struct agent *a, const Frame *f)
{
  /* An agent of the process tier that does not say so is not one. */
  if (a->state != AGENT_SPAWNING || a->adopted
      || (a->slot && (f->hello->sandbox == NULL || strcmp (f->hello->sandbox, "process") != 0)))
    return agent_violation (a, f);
  a->state = AGENT_READY;
  loop_timer_cancel (a->node->loop, &a->timer);
  log_debug ("agent %d ready in %.2f ms", (int) a->pid,
             (double) (timefmt_mono_ns () - a->spawned_ns) / 1e6);
  if (a->on_ready)
    {
      void (*cb) (struct agent *, bool, void *) = a->on_ready;
      a->on_ready = NULL;
      cb (a, true, a->ud);
    }
  else
    pool_agent_ready (a->pool, a);
  return a->state != AGENT_DEAD;
}

static bool
handle_frame (struct agent *a, Frame *f, int fd)
{
  if (fd >= 0) /* agents never send fds */
    {
      close (fd);
      agent_kill (a, "protocol violation: unexpected fd from agent");
      return false;
    }
  if (f->body_case == NEXC__AGENT__FRAME__BODY_PONG)
    {
      if (!a->ping_pending || f->pong->nonce != a->ping_nonce)
        return agent_violation (a, f);
      a->ping_pending = false;
      if (a->state == AGENT_READY)
        loop_timer_arm (a->node->loop, &a->timer, (uint64_t) a->node->cfg.agent_ping_interval_ms);
      return true;
    }
  if (a->starting)
    pool_agent_started (a->pool, a);
  if (a->state == AGENT_LEASED && a->ops)
    return a->ops->frame (a->owner, a, f);
  if (f->body_case == NEXC__AGENT__FRAME__BODY_HELLO)
    return hello (a, f);
  return agent_violation (a, f);
}

/* Read frames from the link until frames frames or lines log lines were
 * handled. */
static void
read_link (struct agent *a, size_t frames, size_t lines)
{
  struct nxerr err = { 0 };
  size_t done = 0;
  for (size_t i = 0; i < frames && done < lines && a->state != AGENT_DEAD; i++)
    {
      Frame *f = NULL;
      int fd = -1;
      int rc = frame_recv (a->src.fd, &f, &fd, &err);
      if (rc == 0)
        return;
      if (rc < 0)
        {
          agent_kill (a, err.code == ECONNRESET ? (a->wl_id ? "agent link closed" : NULL) : err.msg);
          return;
        }
      if (f->body_case == NEXC__AGENT__FRAME__BODY_LOG)
        done += f->log->n_lines > 0 ? f->log->n_lines : 1;
      bool go_on = handle_frame (a, f, fd);
      frame_free (f);
      if (!go_on)
        return;
    }
}

static void
on_link (struct loop_source *src, uint32_t events)
{
  struct agent *a = (struct agent *) ((char *) src - offsetof (struct agent, src));
  (void) events;
  if (a->held)
    return; /* an event of the batch that held it */
  read_link (a, AGENT_FRAMES_PER_WAKE, AGENT_LINES_PER_WAKE);
}

static void
on_timer (struct loop_timer *t)
{
  struct agent *a = (struct agent *) ((char *) t - offsetof (struct agent, timer));
  struct nxerr err = { 0 };
  struct node *n = a->node;
  if (a->state == AGENT_SPAWNING)
    {
      agent_kill (a, "no handshake within agent_handshake_timeout_ms");
      return;
    }
  if (a->awaiting_reattach)
    {
      agent_kill (a, "reattach: no Reattach frame in time");
      return;
    }
  if (a->state != AGENT_READY)
    return;
  if (a->ping_pending)
    {
      n->counters.agents_replaced++;
      agent_kill (a, "warm agent missed its ping: replacing it");
      return;
    }
  if (agent_send_ping (a, &err) < 0)
    {
      agent_kill (a, err.msg);
      return;
    }
  loop_timer_arm (n->loop, t, (uint64_t) n->cfg.agent_ping_timeout_ms);
}

struct agent *
agent_adopt (struct node *n, const struct agent_ops *ops, void *owner, const char *wl_id,
             pid_t pid, int link, const char *sock, uint64_t timeout_ms, struct nxerr *err)
{
  struct agent *a = xcalloc (1, sizeof *a);
  a->node = n;
  a->pid = pid;
  a->sock = xstrdup (sock);
  a->adopted = true;
  a->awaiting_reattach = true;
  a->pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  a->src.fd = link;
  a->src.cb = on_link;
  a->spawned_ns = timefmt_mono_ns ();
  agent_lease (a, ops, owner, wl_id);
  loop_timer_init (&a->timer, on_timer);
  fcntl (link, F_SETFL, fcntl (link, F_GETFL) | O_NONBLOCK);
  pool_adopt (n->pool, a);
  if (loop_add (n->loop, &a->src, EPOLLIN, err) < 0)
    {
      agent_kill (a, err->msg);
      return NULL;
    }
  loop_timer_arm (n->loop, &a->timer, timeout_ms);
  return a;
}
