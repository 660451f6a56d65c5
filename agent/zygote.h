/* zygote: a fork server for agents (tier none).
 *
 *   nexc-agent --zygote --fd 3 --parent-pid <node pid>
 *
 * Exec'ing an agent costs more than the agent's whole idle life: the loader,
 * glibc's start-up (in a VM each of its ~20 CPUID probes traps to the
 * hypervisor) and faulting in the text. The zygote is one agent process,
 * exec'd once, that forks a fresh agent per request instead. Each request is
 * one SOCK_SEQPACKET message on --fd: the agent's argv, NUL-separated, with
 * the link and (optionally) the reattach socket attached (SCM_RIGHTS). The
 * child is cloned with CLONE_PARENT, so it is the node's child exactly as an
 * exec'd agent is (the node reaps it, its death signal and getppid() are the
 * node's), then runs agent_main() with that argv. The reply is the child's
 * pid as an int32, or -errno.
 *
 * The zygote keeps no state a child could inherit beyond its own pristine
 * memory: it never runs agent code itself. It exits when the node closes the
 * socket or dies. Shared across agents: the address-space layout (as with
 * any fork server); agents only ever talk to the node. */
#ifndef NEXC_AGENT_ZYGOTE_H
#define NEXC_AGENT_ZYGOTE_H

#include <sys/types.h>

#include "api/zygote.h"

/* Serve requests on fd until end-of-file; returns the process exit code.
 * agent_main is what each child runs; cmdline/cmdline_len is the zygote's
 * own argv area, which each child overwrites with "nexc-agent" so that ps
 * and /proc/<pid>/cmdline tell agents from the zygote. */
int zygote_run (int fd, pid_t parent, int (*agent_main) (int argc, char **argv), char *cmdline,
                size_t cmdline_len);

#endif
