/* The fork-server wire format between the node (node/agents/zygote.c) and the
 * agent's zygote mode (agent/zygote.c), on a SOCK_SEQPACKET socket.
 *
 * Request, node -> zygote: one message holding the new agent's argv as
 * NUL-terminated strings back to back (argv[0] first, at most
 * ZYGOTE_ARGV_MAX of them, ZYGOTE_REQUEST_MAX bytes in all), with 1 or 2
 * descriptors attached by SCM_RIGHTS: the link (becomes fd 3) and, when
 * present, the reattach socket (becomes fd 4).
 * Reply, zygote -> node: one int32: the agent's pid (> 0), or -errno. */
#ifndef NEXC_API_ZYGOTE_H
#define NEXC_API_ZYGOTE_H

#define ZYGOTE_REQUEST_MAX 4096
#define ZYGOTE_ARGV_MAX 32
#define ZYGOTE_FDS_MAX 2

#endif
