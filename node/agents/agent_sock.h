/* agent_sock: the agents' reattach sockets. Every agent gets a listening
 * unix socket made by the node before its spawn (the agent's fd 4); once it
 * runs a workload it no longer dies with the node, and a node restarted on
 * the same state dir connects to it there (node/workload/reattach.h).
 *
 * Tier none: abstract names "@nexc-<node id>-a<16 hex>" (journaled with the
 * '@'): nothing is created on the state disk per agent, where a bind cost
 * ~50-190 us of inode churn on ext4. The tier has no boundary between the
 * node's uid and its workloads anyway; the agent accepts only its own uid
 * (SO_PEERCRED). Tier process agents may sit in their own network namespace,
 * out of reach of abstract names: they keep a file <state>/agents/a<16
 * hex>.sock, mode 0600 in a 0700 dir. Loop thread, or before it runs. */
#ifndef NEXC_NODE_AGENTS_AGENT_SOCK_H
#define NEXC_NODE_AGENTS_AGENT_SOCK_H

#include <stdbool.h>
#include <sys/types.h>

#include "api/nxerr.h"

struct agent_socks;

/* Make <state_dir>/agents (0700). Socket paths that do not fit sun_path turn
 * listening off (logged: workloads would not survive a restart). */
int agent_socks_new (const char *state_dir, const char *node_id, bool abstract,
                     struct agent_socks **out, struct nxerr *err);
void agent_socks_free (struct agent_socks *s);

/* A bound socket for a new agent, which calls listen itself: the kernel
 * then gives the agent's pid as the SO_PEERCRED of every connection to it,
 * so a restarted node adopts only the process its journal names. 0 with a
 * malloc'd name (a path, or "@name" for an abstract socket) and an fd >= 10
 * (close-on-exec), or -1 when sockets are off (path too long) or the socket
 * failed (logged). */
int agent_socks_bind (struct agent_socks *s, char **name, int *fd);
/* The pid that listens on a connected socket's other end (SO_PEERCRED), or
 * 0 when it cannot be read. */
pid_t agent_sock_peer_pid (int fd);
/* Only sockets this node makes: <dir>/a<hex>.sock, or @nexc-<our id>-a<hex>. */
bool agent_socks_ours (const struct agent_socks *s, const char *name);
/* <state>/agents, absolute. */
const char *agent_socks_dir (const struct agent_socks *s);

/* A non-blocking connected SEQPACKET socket to name, or -1. */
int agent_sock_connect (const char *name);
/* Remove a socket of agent_socks_bind (nothing to do for abstract ones). */
void agent_sock_remove (const char *name);

#endif
