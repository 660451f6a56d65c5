/* The fork-server wire format between the node (node/agents/zygote.c) and the
 * agent's zygote mode (agent/zygote.c), on a SOCK_SEQPACKET socket.
 *
 * Request, node -> zygote: one message: a flags byte (ZYGOTE_F_*), then the
 * new agent's argv as NUL-terminated strings back to back (argv[0] first,
 * at most ZYGOTE_ARGV_MAX of them, ZYGOTE_REQUEST_MAX bytes in all), with
 * 1 to 3 descriptors attached by SCM_RIGHTS, in this order: the link
 * (becomes fd 3); the reattach socket (becomes fd 4) when ZYGOTE_F_LISTEN;
 * a cgroup v2 directory to clone the agent into when ZYGOTE_F_CGROUP.
 * Reply, zygote -> node: two int32: the agent's pid (> 0) or -errno, then
 * 1 when the agent was cloned into the cgroup, else 0. */
#ifndef NEXC_API_ZYGOTE_H
#define NEXC_API_ZYGOTE_H

#define ZYGOTE_REQUEST_MAX 4096
#define ZYGOTE_ARGV_MAX 32
#define ZYGOTE_FDS_MAX 3
#define ZYGOTE_F_LISTEN 1u
#define ZYGOTE_F_CGROUP 2u

#endif
