/* supervise: what the node does with a workload's lifecycle frames.
 * Called through supervise_agent_ops on the loop thread; each function may end the
 * workload (unlink + deferred free), after which w must not be used. */
#ifndef NEXC_NODE_SUPERVISE_H
#define NEXC_NODE_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/frame.h"
#include "node/agents/agent.h"

struct workload;

/* The lease of a workload's agent (owner: the struct workload). */
extern const struct agent_ops supervise_agent_ops;
/* Its frame handler (node/workload/reattach.c passes frames on to it). */
bool supervise_frame (void *owner, struct agent *a, Frame *f);

/* Whether w's agent keeps lines until acknowledged: the node confirms
 * them (node/bus/logack.h). Sets up w's stream for it. */
bool supervise_logs_acked (struct workload *w);
void supervise_started (struct workload *w, uint32_t pid);
void supervise_start_failed (struct workload *w, const char *message);
/* The agent's end: next_seq is the Nexc-Seq its next line would have had
 * (0: not known; the unreported lines are then counted only). */
void supervise_exited (struct workload *w, int code, int sig, bool stopped, uint64_t next_seq,
                       uint64_t log_dropped_unreported);
void supervise_agent_lost (struct workload *w, const char *why);
/* End a workload that is waiting to restart (STOP, drain, shutdown): its
 * workload_stopped was already sent when it exited. */
void supervise_end_quietly (struct workload *w);
/* The node exits and leaves w running under its agent (--detach-on-exit):
 * no event, the journal entry kept; false when w cannot be left (not
 * running, no reattach socket, a function). */
bool supervise_detach (struct workload *w);
/* Stop w (STOP, shutdown, drain): ask its agent, whose Exited ends it; an
 * agent that does not confirm within the grace period (+2 s) is killed. A
 * STARTING workload stops when Started arrives. */
void supervise_stop (struct workload *w);
/* STOP of a workload waiting to restart: answer the STOP, end it. */
void supervise_stop_restarting (struct workload *w);
/* Fail a workload that never reached its agent (deploy error after accept). */
void supervise_fail_deploy (struct workload *w, const char *reply_error);

#endif
