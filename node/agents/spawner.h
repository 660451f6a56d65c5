/* spawner: the process tier's agents created off the loop thread.
 *
 * Starting an agent in its sandbox costs the calling thread milliseconds:
 * clone(2) builds the pid, mount, ipc, uts and net namespaces inside the
 * call, CLONE_VFORK then waits for the child, which moves itself into its
 * cgroup leaf (on cgroup v1 the first such write waits for an RCU grace
 * period: 0.05-12 ms measured here) and execs. Done on the loop, the refill that follows a
 * lease blocked the Started frame of the very deploy that took the agent,
 * and so its reply (warm.process 3-4x the floor, against 1.6x with the
 * refill out of the way). The spawner's thread does the clone and waits
 * for the child's join and exec; the loop prepares the rest before (link,
 * reattach socket, sandbox slot) and finishes after (epoll, handshake
 * timer), in the job's done callback.
 *
 * The spawned agent is the node's child, so the loop's waitpid may see it
 * die before its result is applied: pool_reap leaves a zombie it does not
 * know alone while spawner_in_flight says spawns are out, and runs again
 * after each result (node/agents/pool.c). The thread is the agents' parent
 * for PR_SET_PDEATHSIG: it lives until spawner_stop, after the pools.
 *
 * Loop thread for every call; the job's fields below "thread" are written
 * by the thread and read by done, on the loop, once it runs. */
#ifndef NEXC_NODE_AGENTS_SPAWNER_H
#define NEXC_NODE_AGENTS_SPAWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "api/nxerr.h"
#include "node/sandbox/cgroup.h"
#include "node/sandbox/nsspawn.h"

struct node;

struct spawn_job {
  struct spawn_job *next;
  /* Set by the caller; argv, envp and join and every string in them are
   * the job's own (spawner_job_new copies them); fd3 and fd4 of spec are
   * closed by the thread once the child has its copies. */
  struct nsspawn spec;
  /* Instead of spec: run on the thread for a process that exists already
   * (pid set by the caller); on failure the thread SIGKILLs it. */
  int (*run) (struct spawn_job *job);
  const void *run_arg;
  void (*done) (struct spawn_job *job); /* on the loop; frees nothing: spawner does */
  void *ud;
  /* thread */
  pid_t pid;        /* > 0: the child exec'd (or run's process) */
  bool failed;      /* run failed: pid was SIGKILLed, reaped as usual */
  struct nxerr err; /* when pid <= 0 or failed */
};

/* A job for path with a copy of argv and envp (NULL-terminated) and of the
 * njoin cgroup.procs files in join (node/sandbox/nsspawn.h); for a run job
 * spawner_run_job_new. */
struct spawn_job *spawner_job_new (const char *path, char *const *argv, char *const *envp,
                                   const char (*join)[CG_PROCS_MAX], size_t njoin);
struct spawn_job *spawner_run_job_new (int (*run) (struct spawn_job *), const void *arg, pid_t pid);

/* Queue job (the spawner owns it from now on; starts the thread at the
 * first call). -1 with err when the thread cannot start: the job is freed
 * and its fds are not closed (the caller still owns them). */
int spawner_submit (struct node *n, struct spawn_job *job, struct nxerr *err);

/* Jobs submitted whose done has not run yet. */
size_t spawner_in_flight (const struct node *n);

/* Wait for every queued job and run their done callbacks now (before the
 * pools are freed at shutdown). */
void spawner_drain (struct node *n);

/* After the pools are gone: stop the thread. */
void spawner_stop (struct node *n);

#endif
