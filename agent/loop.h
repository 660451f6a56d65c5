/* loop: the agent's event loop, a phase × event table; each cell is one
 * function in loop.c.
 *
 *   phase   | Ping | Deploy              | Stop             | main exited | output done | ring empty
 *   --------+------+---------------------+------------------+-------------+-------------+------------
 *   IDLE    | Pong | spawn -> RUNNING,   | Exited{stopped}, |             |             |
 *           |      | or StartFailed, end | end              |             |             |
 *   RUNNING | Pong | StartFailed, end    | TERM group, arm  | kill tree   |             |
 *           |      |                     | KILL timer       | -> DRAIN    |             |
 *   DRAIN   | Pong | StartFailed, end    | ignored          |             | -> FLUSH    |
 *   FLUSH   | Pong | StartFailed, end    | ignored          |             |             | Exited, end
 *
 * FLUSH sends the Exited as soon as every line is sent, then waits (up to
 * AGENT_ACK_WAIT_MS) for the LogAck of the last ones before it ends: the
 * node ends the workload once its own flush confirmed them, and a resend
 * after a broken connection still finds them here.
 *
 * Function mode: FunctionIo frames (IDLE only) bring stdin/stdout before the
 * Deploy; the timeout kills the tree like a main exit; FunctionResult
 * replaces Exited.
 *
 * In every phase: link EOF or error, a frame the node may not send, or
 * SIGTERM/SIGINT/SIGHUP -> kill the tree and end; except that with
 * --listen-fd, link EOF outside IDLE detaches: the workload runs on, its
 * output fills the ring (then, under BLOCK, its writes block until a node
 * reattaches; under DROP_OLDEST the oldest lines drop, counted), an Exited
 * waits up to
 * AGENT_ORPHAN_WAIT_MS for a node to connect and collect it. "output done" is both pipes
 * at EOF, or AGENT_DRAIN_MS after the tree was killed (not counting the time
 * read output waits for room in the ring); FLUSH gives up after
 * AGENT_FLUSH_MS without progress (what is left counts as dropped).
 * LogAck (any phase) frees the lines it confirms (logring.h).
 *
 * One struct agent per process, owned by main; single-threaded. */
#ifndef NEXC_AGENT_LOOP_H
#define NEXC_AGENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/link.h"
#include "agent/logring.h"
#include "agent/output.h"
#include "agent/sandbox.h"
#include "agent/workload.h"
#include "api/nxerr.h"

enum phase { PHASE_IDLE, PHASE_RUNNING, PHASE_DRAIN, PHASE_FLUSH };

struct agent {
  struct sandbox sb;
  struct link link;
  struct log_ring ring;
  struct output out[2]; /* stdout, stderr */
  struct workload wl;
  int sigfd;               /* SIGCHLD, SIGTERM, SIGINT, SIGHUP */
  enum phase phase;
  bool stopped;            /* a Stop arrived while the workload ran */
  uint32_t deploy_grace_ms;
  uint64_t kill_at;        /* Stop: when the group gets SIGKILL; 0 = not armed */
  uint64_t drain_until;    /* DRAIN: stop waiting for EOF on the pipes */
  uint64_t flush_until;    /* FLUSH: stop waiting for the link (pushed on by progress) */
  uint64_t flush_sent;     /* ring.sent_total and ring.count when flush_until was set */
  size_t flush_count;
  uint64_t ack_until;      /* FLUSH, all sent: stop waiting for LogAck then */
  bool exited_sent;        /* FLUSH: the Exited went ahead of the last LogAck */
  bool done;
  int exit_code;
  /* Reattach (--listen-fd): once it has a workload the agent outlives its
   * node. Link EOF then detaches (link.sock -1) instead of ending; the next
   * node connects to listen_fd (one connection at a time) and gets a
   * Reattach frame, the buffered lines, and the Exited if it came to that. */
  int listen_fd;           /* -1: no reattach, the agent ends with its link */
  bool die_with_node;      /* Deploy said so: no detach even with listen_fd */
  char workload_id[64];
  uint64_t orphan_until;   /* FLUSH while detached: give up waiting then */
  /* Function mode (Deploy.function_mode): FunctionIo fds kept until the
   * Deploy, then one run with a deadline, answered by FunctionResult. */
  int fn_io[2];            /* stdin, stdout memfds from the node; -1 when absent */
  bool fn_mode;
  bool fn_timed_out;
  uint64_t fn_start_ns;
  uint64_t fn_elapsed_ns;
  uint64_t fn_deadline;    /* 0 = none */
};

/* Take over the link socket and the signalfd; sb is the parsed tier. a must
 * be all zero (static storage): it is not cleared here, because clearing its
 * ~40 KiB of line buffers would fault in pages a quiet workload never needs
 * (each agent is a fresh fork of the zygote, whose copy was never touched). */
int agent_init (struct agent *a, const struct sandbox *sb, int sock, int sigfd,
                struct nxerr *err);
/* Queue Hello, then run until the end; returns the process exit code. */
int agent_run (struct agent *a);
void agent_free (struct agent *a);

#endif
