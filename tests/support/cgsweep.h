/* cgsweep: the cgroups of the nodes a test or benchmark started, removed
 * when it is done with them.
 *
 * A node makes "nexc-<12 chars of its id>" in each cgroup hierarchy
 * (node/sandbox/cgroup.h) and removes it on a clean stop. Killed, it leaves
 * them, and the next node of a test usually has another id, so no node
 * sweeps them: they piled up by the hundreds on a machine that ran the
 * suite all day. Shared by tests/integration/harness.c and bench/proc.c;
 * one process, one table; not for signal handlers (popen). */
#ifndef NEXC_TESTS_CGSWEEP_H
#define NEXC_TESTS_CGSWEEP_H

#include <sys/types.h>

/* Remember a node this process started (pid: its process). */
void cgsweep_remember (const char *node_id, pid_t pid);

/* For each remembered node that is dead by now: what still runs in its
 * cgroups is killed, each removed, in every hierarchy, and it is
 * forgotten. Nodes still alive are left alone and kept for a later run: a
 * test with several nodes stops them one harness at a time, and sweeping a
 * live node's cgroups took its agents and left them behind when that node
 * was killed later. */
void cgsweep_run (void);

#endif
