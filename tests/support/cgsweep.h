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

/* Remember a node this process started. */
void cgsweep_remember (const char *node_id);

/* Once every remembered node is dead: what still runs in their cgroups is
 * killed, each cgroup removed, in every hierarchy; the table emptied. */
void cgsweep_run (void);

#endif
