/* workload: the one process tree the agent runs — spawn, reap, kill.
 *
 * The main process runs in its own process group (pgid = its pid). The agent
 * is a child subreaper, so processes that leave the group (setsid) or lose
 * their parent become the agent's children, and "kill the tree" means: kill
 * the group, then SIGKILL every child of the agent found in /proc, reap, and
 * repeat until the agent has no children left.
 *
 * The group is only signalled while the main process is unreaped: its zombie
 * pins the pid, so the group id cannot have been reused by someone else.
 * Owned by the agent loop. */
#ifndef NEXC_AGENT_WORKLOAD_H
#define NEXC_AGENT_WORKLOAD_H

#include <stdbool.h>
#include <sys/types.h>

#include "agent/sandbox.h"
#include "api/frame.h"
#include "api/nxerr.h"

struct workload {
  pid_t pid;      /* main process (and group id); 0 before spawn */
  bool reaped;    /* main process waited for; status is valid */
  int status;     /* its wait status */
  int out_fd;     /* read ends of its stdout/stderr pipes, non-blocking */
  int err_fd;
  /* Function mode: set before workload_spawn, borrowed (the caller closes
   * them): stdin and stdout are these files instead of /dev/null and a pipe
   * (out_fd then stays -1). */
  int in_file;
  int out_file;
};

void workload_init (struct workload *w);

/* Check the Deploy, then fork and fexecve exe_fd with argv = [name, argv...],
 * exactly the Deploy's environment, stdin /dev/null and stdout/stderr to two
 * pipes. Returns 0 once exec succeeded; -1 with err ("<what>: <reason>") when
 * the Deploy is refused or the exec failed (nothing is left running).
 * exe_fd stays the caller's. */
int workload_spawn (struct workload *w, const Nexc__Agent__Deploy *d, int exe_fd,
                    struct sandbox *sb, struct nxerr *err);

/* Reap every child that exited (after SIGCHLD). When the main process is
 * among them its group is SIGKILLed first (no process of a workload outlives
 * it). Returns true when the main process was reaped by this call. */
bool workload_reap (struct workload *w);

/* Signal the main process and its group (only while unreaped). */
void workload_signal (struct workload *w, int sig);

/* SIGKILL the group and every descendant, reaping them, until the agent has
 * no child left or budget_ms passed. Returns 0 when none is left, -1 when the
 * bound was hit (err says how many remained). */
int workload_kill_tree (struct workload *w, int budget_ms, struct nxerr *err);

/* The Exited fields from the main process's wait status. */
void workload_exit_info (const struct workload *w, int *code, int *signo);

#endif
