/* agent: the limits and exit codes of nexc-agent, in one place.
 *
 * nexc-agent is the one-shot process the node keeps warm: it says Hello on
 * its link (fd 3), runs exactly one workload when a Deploy arrives, forwards
 * the workload's output as Log frames, and reports Exited when every process
 * of the workload is gone. Single-threaded: one poll loop (loop.c) owns all
 * state; workload.c spawns and kills, output.c turns pipe bytes into lines,
 * logring.c queues lines for a slow link, link.c sends frames, sandbox.c
 * isolates the workload (tiers "none" and "process"; mounts.c and seccomp.c
 * are the process tier's file system view and system call filter). */
#ifndef NEXC_AGENT_AGENT_H
#define NEXC_AGENT_AGENT_H

/* Exit codes the node can read in the agent's wait status. */
enum agent_exit {
  AGENT_EXIT_OK = 0,        /* Exited or StartFailed sent, or the node closed the link */
  AGENT_EXIT_LINK = 1,      /* link error or a protocol violation by the node */
  AGENT_EXIT_USAGE = 2,     /* bad command line */
  AGENT_EXIT_ORPHAN = 3,    /* the parent died before we could tie our life to it */
  AGENT_EXIT_INTERNAL = 4,  /* setup failed (signalfd, bad link fd, ...) */
  AGENT_EXIT_SIGNAL = 128,  /* + signal number: SIGTERM/SIGINT/SIGHUP received */
};

/* Lines held for the link: waiting to be sent, or sent and waiting for the
 * node's LogAck. Whichever limit is reached first makes the ring full
 * (logring.h: block or drop the oldest). The line count is what limits a
 * flood of short lines: at 4,096 the agent sat idle waiting for acks while
 * the link's socket buffer and one flush round trip held most of them
 * (the logs bench: ~300,000 lines/s at 4,096, ~310-360,000 at 8,192,
 * ~435-470,000 at 16,384, on the same machine). The slots are allocated
 * once and touched only when used. */
#define AGENT_RING_LINES 16384
#define AGENT_RING_BYTES (4u << 20)

/* A partial line (no newline yet) is sent once its first byte is this old. */
#define AGENT_PARTIAL_FLUSH_MS 100

/* Bounded work per loop iteration, so Ping answers never wait long. */
#define AGENT_READ_CHUNK 32768     /* bytes read from each output pipe */
#define AGENT_LINK_FRAMES_IN 16    /* frames read from the link */
#define AGENT_LINK_FRAMES_OUT 256  /* frames sent to the link */

/* Control frames (Pong, ...) waiting for a full link; Pongs beyond are dropped. */
#define AGENT_CTL_QUEUE_MAX 64

/* After the workload's main process exits: */
#define AGENT_KILL_TREE_MS 3000  /* bound on killing the remaining descendants */
#define AGENT_DRAIN_MS 500       /* read leftover output until EOF or this long */
#define AGENT_FLUSH_MS 10000     /* send queued lines until done or this long */
#define AGENT_EXITED_SEND_MS 2000 /* last, blocking send of Exited */
/* Every line sent, some not yet acknowledged (LogAck): how long Exited
 * waits for the acks. Bounded: while NATS is away none can come, and the
 * node should learn of the end meanwhile (its lifecycle events are kept
 * until delivered anyway). */
#define AGENT_ACK_WAIT_MS 1000
/* A workload that ended while no node was connected: how long its Exited
 * waits for a restarted node before the agent gives up and exits. */
#define AGENT_ORPHAN_WAIT_MS (10 * 60 * 1000)

#endif
