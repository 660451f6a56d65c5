/* landlock: a second line behind the minimal root (issue #19, optional
 * part), when the kernel has Landlock (Linux >= 5.13).
 *
 * In the workload's child, after no_new_privs and before seccomp, one
 * ruleset restricts what the workload may change: writing, creating,
 * removing, renaming into and truncating files is allowed beneath its
 * working dir, /tmp, /dev (null, /dev/shm) and /proc (its own
 * /proc/self files) only, whatever the mounts would allow. A second
 * ruleset, right before the exec (landlock_enter_reads), allows reading
 * files and listing directories beneath its own root only (the minimal
 * root after pivot_root; the host's under host-ro), and its executable: a
 * host path reachable another way (an fd from outside, /proc/self/exe,
 * another process's /proc/<pid>/root) stays unreadable. With ABI >= 6
 * the ruleset also scopes abstract UNIX sockets and signals: the workload
 * cannot connect to an abstract socket of a process outside its sandbox
 * (the host's, with network "host"), nor signal one.
 *
 * landlock_probe runs in the agent at start (the ABI, 0 when absent);
 * landlock_enter in the child (system calls only). */
#ifndef NEXC_AGENT_LANDLOCK_H
#define NEXC_AGENT_LANDLOCK_H

/* Landlock's ABI version, 0 when the kernel has none (or it is off). */
int landlock_probe (void);
/* abi from landlock_probe; paths NULL-terminated. 0, or an errno value
 * with *what naming the step. */
int landlock_enter (int abi, const char *const *writable, const char **what);
/* The reads layer, last before fexecve (exe_fd: the executable; -1: none,
 * the self-test). */
int landlock_enter_reads (int abi, int exe_fd, const char **what);

#endif
