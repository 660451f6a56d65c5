/* seccomp: the system call filter of a process-tier workload.
 *
 * Default allow, with a deny list answered by EPERM (the workload sees an
 * ordinary "operation not permitted", not a crash): mounting and moving
 * mounts, pivot_root/chroot, unshare/setns and clone with namespace flags,
 * ptrace and the cross-process memory/fd calls, kexec, kernel modules, bpf,
 * perf_event_open, userfaultfd, io_uring, the key ring, open_by_handle_at,
 * setting the clock, swap, reboot, acct, quotactl, iopl/ioperm, syslog.
 * clone3 answers ENOSYS (its flags sit in memory a filter cannot read; libc
 * falls back to clone, whose flags it can). System calls of another
 * architecture (32-bit entry on x86-64, x32) kill the process.
 * A stricter allow-list is left for later: a deny list keeps every
 * ordinary program working.
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
