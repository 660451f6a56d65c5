/* seccomp: the system call filter of a process-tier workload.
 *
 * Default deny: an allow-list of the calls ordinary Linux programs make
 * (checked against the container runtimes' default profiles, less
 * io_uring, ptrace and the cross-process memory calls, modify_ldt,
 * name_to_handle_at), every other call answered EPERM (the workload sees an
 * ordinary "operation not permitted", not a crash). So mount, pivot_root,
 * unshare/setns, kexec, modules, bpf, perf_event_open, userfaultfd, keys,
 * syslog, clock setting, swap, reboot and any number the list does not
 * name (a new kernel's new call included) fail. Some calls are allowed for
 * some arguments only: clone without namespace flags; ioctl but TIOCSTI and
 * TIOCLINUX; socket but AF_VSOCK and netlink other than NETLINK_ROUTE;
 * personality without ADDR_NO_RANDOMIZE or READ_IMPLIES_EXEC. clone3
 * answers ENOSYS (its flags sit in memory a filter cannot read; libc falls
 * back to clone, whose flags it can). System calls of another architecture
 * (32-bit entry on x86-64, x32) kill the process.
 *
 * The program is compiled once with libseccomp (seccomp_build, at agent
 * start) and loaded in the workload's child with one prctl. */
#ifndef NEXC_AGENT_SECCOMP_H
#define NEXC_AGENT_SECCOMP_H

#include <linux/filter.h>

#include "api/nxerr.h"

/* Compile the filter; *prog is malloc'd (free with seccomp_prog_free). */
int seccomp_build (struct sock_filter **prog, unsigned short *len, struct nxerr *err);
void seccomp_prog_free (struct sock_filter *prog);
/* In the child, after no_new_privs: 0 or an errno value. */
int seccomp_load_prog (const struct sock_filter *prog, unsigned short len);

#endif
