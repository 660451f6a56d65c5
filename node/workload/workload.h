/* Room node/workload/: a workload from acceptance to its end: launch,
 * supervision, restarts, functions, reattach after a node restart.
 *
 * workload: one deployed workload, from the accepted DEPLOY to its end.
 *
 * States (the agent lifecycle table in ARCHITECTURE.md):
 *   STARTING  agent leased, Deploy frame sent, waiting for Started
 *   RUNNING   workload process exec'd; run_response sent
 *   STOPPING  Stop sent to the agent (by STOP, shutdown or lame-duck drain)
 *   RESTARTING ended, workload_stopped sent, waiting out its restart backoff
 *             (no agent); then STARTING again under the same id
 *   ENDED     Exited/StartFailed received or agent lost; workload_stopped sent
 * A workload is unlinked and freed when ENDED. Owned by the loop thread. */
#ifndef NEXC_NODE_WORKLOAD_H
#define NEXC_NODE_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "api/jwt.h"
#include "node/bus/events.h"
#include "node/bus/logs.h"
#include "node/core/loop.h"
#include "node/workload/restart.h"

struct agent;
struct node;
struct deploy_request;
struct fn;

enum workload_state { WL_STARTING, WL_RUNNING, WL_STOPPING, WL_RESTARTING, WL_ENDED };

#define WORKLOAD_ID_LEN 20

struct workload {
  struct workload *next, *prev;
  struct node *node;
  char id[WORKLOAD_ID_LEN + 1];
  char *ns;
  char *name; /* JWT sub */
  char *type;
  char *description;
  char hash[65]; /* sha256 hex of the artifact */
  uint64_t artifact_size;
  struct jwt_claims claims;
  struct deploy_request *req; /* kept for restarts (environment stays sealed) */
  enum workload_state state;
  uint64_t created_mono_ns;
  uint64_t started_mono_ns; /* 0 until Started */
  struct agent *agent;
  char *creds_path; /* this run's NATS creds file (node/workload/creds.h); NULL: none */
  char *deploy_reply; /* reply subject of the DEPLOY, until answered */
  char *stop_reply;   /* reply subject of a STOP, until the agent confirms */
  struct loop_timer stop_timer;
  struct log_stream log; /* through workload_log */
  struct loop_timer logs_timer; /* its agent's link held: when to look again */
  /* metrics (node/control/metrics.c) */
  uint64_t cpu_ticks;      /* user+system of the workload's processes, last sample */
  uint64_t cpu_sample_ns;  /* when it was taken */
  uint64_t metrics_gen;    /* the node's last sample published for it (metrics.c) */
  double cpu_rate;         /* CPUs used since the previous sample */
  uint64_t mem_bytes, mem_peak_bytes;
  uint32_t pids;
  uint32_t restarts;
  struct restart_policy policy;
  bool reattach_refused; /* taken back after a restart only to be stopped (reattach.c) */
  bool stop_announced;   /* taken back with its workload_stopped already journaled (reattach.c) */
  uint64_t restart_streak;      /* restarts since the last stable run */
  struct loop_timer restart_timer;
  bool stop_requested;
  /* The agent's Exited came while the server had not yet confirmed all the
   * lines before it: the end waits for logack (node/workload/supervise.c),
   * with what the agent said kept here; announced: workload_stopped and the
   * STOP's reply went out already. */
  struct {
    bool pending;
    bool announced;
    bool stopped;
    int code, sig;
    uint64_t next_seq, dropped_unreported;
  } exit;
  bool autostart; /* deployed by the node from its config (trusted) */
  struct fn *fn;  /* type "function": subscriptions and invocations (node/workload/trigger.h) */
  void *info;     /* INFO's encoded entry and what it was made from (node/control/info.c) */
};

/* w's log stream, its names current (logs_* take it). */
static inline struct log_stream *
workload_log (struct workload *w)
{
  w->log.node = w->node;
  w->log.ns = w->ns;
  w->log.name = w->name;
  w->log.id = w->id;
  return &w->log;
}

/* What an event about w carries. */
static inline struct events_wl
workload_ev (const struct workload *w)
{
  return (struct events_wl){ .ns = w->ns, .id = w->id, .name = w->name, .restarts = w->restarts };
}

/* A fresh id: 20 chars of base32hex (xid-like, §8.6), time-ordered prefix. */
void workload_new_id (char out[WORKLOAD_ID_LEN + 1]);

struct workload *workload_new (struct node *n);
void workload_link (struct node *n, struct workload *w);
void workload_unlink (struct node *n, struct workload *w);
/* Frees what w owns; its function state (w->fn) must be gone already
 * (trigger_fn_free: node/workload/supervise.c does both). */
void workload_free (struct workload *w);
struct workload *workload_find (struct node *n, const char *id);
/* The oldest workload (listings go oldest first, in deploy order, as Nex's
 * did); walk to newer ones with ->prev. */
struct workload *workload_oldest (struct node *n);

#endif
