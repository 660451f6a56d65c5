#include "agent/seccomp.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "api/xalloc.h"

/* The calls an ordinary Linux program makes, allowed without condition.
 * Checked against what the container runtimes let an unprivileged
 * container do (Docker's and Podman's default profiles), less what our
 * threat model refuses even there: io_uring (its own syscall-free path
 * into the kernel), ptrace and the cross-process memory calls, modify_ldt,
 * name_to_handle_at, fanotify. Names this architecture lacks are skipped
 * (the 32-bit-only ones, the arm or s390 ones). */
static const char *const seccomp_allowed[] = {
  /* files and directories */
  "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
  "pwritev2", "open", "openat", "openat2", "creat", "close", "close_range", "lseek", "_llseek",
  "stat", "fstat", "lstat", "newfstatat", "statx", "stat64", "fstat64", "lstat64", "fstatat64",
  "statfs", "fstatfs", "statfs64", "fstatfs64", "access", "faccessat", "faccessat2", "getdents",
  "getdents64", "getcwd", "chdir", "fchdir", "mkdir", "mkdirat", "rmdir", "rename", "renameat",
  "renameat2", "link", "linkat", "unlink", "unlinkat", "symlink", "symlinkat", "readlink",
  "readlinkat", "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat", "chown32",
  "fchown32", "lchown32", "umask", "truncate", "ftruncate", "truncate64", "ftruncate64",
  "fallocate", "fadvise64", "fadvise64_64", "readahead", "fsync", "fdatasync", "sync", "syncfs",
  "sync_file_range", "flock", "utime", "utimes", "utimensat", "futimesat", "mknod", "mknodat",
  "copy_file_range", "sendfile", "sendfile64", "splice", "tee", "vmsplice", "getxattr",
  "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr", "setxattr", "lsetxattr",
  "fsetxattr", "removexattr", "lremovexattr", "fremovexattr", "inotify_init", "inotify_init1",
  "inotify_add_watch", "inotify_rm_watch",
  /* fds */
  "dup", "dup2", "dup3", "fcntl", "fcntl64", "pipe", "pipe2", "eventfd", "eventfd2",
  "signalfd", "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_gettime",
  "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
  "poll", "ppoll", "select", "_newselect", "pselect6", "memfd_create",
  /* memory */
  "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync",
  "mlock", "mlock2", "munlock", "mlockall", "munlockall", "membarrier", "pkey_alloc",
  "pkey_free", "pkey_mprotect", "get_mempolicy", "remap_file_pages",
  /* processes and threads (clone has its own rule) */
  "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "waitpid",
  "kill", "tkill", "tgkill", "pidfd_open", "pidfd_send_signal", "getpid", "getppid", "gettid",
  "getpgid", "setpgid", "getpgrp", "getsid", "setsid", "set_tid_address", "set_robust_list",
  "get_robust_list", "rseq", "futex", "futex_waitv", "arch_prctl", "set_thread_area",
  "get_thread_area", "prctl", "seccomp", "landlock_create_ruleset", "landlock_add_rule",
  "landlock_restrict_self", "restart_syscall", "pause",
  /* signals */
  "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend",
  "rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "sigreturn",
  "sigprocmask", "alarm", "getitimer", "setitimer",
  /* ids, limits and scheduling of the process itself */
  "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setuid",
  "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid",
  "setfsgid", "capget", "capset", "getrlimit", "setrlimit", "prlimit64", "ugetrlimit",
  "getrusage", "getpriority", "setpriority", "ioprio_get", "ioprio_set", "sched_yield",
  "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
  "sched_getscheduler", "sched_setscheduler", "sched_getattr", "sched_setattr",
  "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval", "getcpu",
  /* time */
  "clock_gettime", "clock_getres", "clock_nanosleep", "gettimeofday", "time", "nanosleep",
  "times", "adjtimex", "clock_adjtime", "timer_create", "timer_settime", "timer_gettime",
  "timer_getoverrun", "timer_delete",
  /* the machine, read-only */
  "uname", "sysinfo", "getrandom",
  /* sockets (socket has its own rule) */
  "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername",
  "getsockopt", "setsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg",
  "recvmmsg", "shutdown",
  /* System V and POSIX IPC (the sandbox has its own ipc namespace) */
  "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl", "msgget",
  "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
  "mq_notify", "mq_getsetattr",
  /* asynchronous I/O (the old interface; io_uring stays out) */
  "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
  NULL
};

/* Flags of clone that make a new namespace: refused (the sandbox's own
 * namespaces are the only ones its workload lives in). */
#define NS_FLAGS                                                                                   \
  ((unsigned long) (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID      \
                    | CLONE_NEWNET | CLONE_NEWCGROUP))

#define LOW32 0xffffffffull

/* Allow nr when the low 32 bits of argument arg are none of v[0..n): the
 * kernel reads an ioctl request, a socket domain or a personality as 32
 * bits, so a high half set by the caller must not change the verdict, and
 * libseccomp has no "masked not-equal". The set of other values is cut
 * into prefixes, one rule each: walk the bits from the top, and wherever no
 * refused value continues with this bit, every value that does is allowed
 * (at most 32 rules per refused value). */
static int
allow_except (scmp_filter_ctx ctx, int nr, unsigned arg, const uint32_t *v, size_t n,
              uint32_t prefix, int depth)
{
  uint32_t lo[8] = { 0 }, hi[8] = { 0 }, bit; /* zeroed: gcc -O2 cannot see nh bounds the reads */
  size_t nl = 0, nh = 0;
  int rc;
  if (n == 0)
    {
      struct scmp_arg_cmp c = { arg, SCMP_CMP_MASKED_EQ,
                                depth == 0 ? 0 : (uint64_t) (0xffffffffu << (32 - depth)), prefix };
      return seccomp_rule_add_array (ctx, SCMP_ACT_ALLOW, nr, 1, &c);
    }
  if (depth == 32 || n > sizeof lo / sizeof lo[0])
    return n > sizeof lo / sizeof lo[0] ? -E2BIG : 0; /* depth 32: v itself, refused */
  bit = 1u << (31 - depth);
  for (size_t i = 0; i < n; i++)
    {
      if (v[i] & bit)
        hi[nh++] = v[i];
      else
        lo[nl++] = v[i];
    }
  if ((rc = allow_except (ctx, nr, arg, lo, nl, prefix, depth + 1)) < 0)
    return rc;
  return allow_except (ctx, nr, arg, hi, nh, prefix | bit, depth + 1);
}

/* The calls allowed for some arguments only. */
static int
build_args (scmp_filter_ctx ctx, struct nxerr *err)
{
  /* Typing into a terminal, and the console's special requests. */
  static const uint32_t ioctls[] = { TIOCSTI, TIOCLINUX };
  /* vsock reaches the hypervisor; netlink beyond NETLINK_ROUTE (which
   * getaddrinfo uses) reaches audit, netfilter, udev and the like. */
  static const uint32_t domains[] = { AF_VSOCK, AF_NETLINK };
  /* Turning address randomization off, or making every mapping executable. */
  const uint64_t bad_persona = ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC;
  int rc;
  if ((rc = allow_except (ctx, SCMP_SYS (ioctl), 1, ioctls, 2, 0, 0)) < 0)
    return nxerr_sys (err, -rc, "seccomp: ioctl");
  if ((rc = allow_except (ctx, SCMP_SYS (socket), 0, domains, 2, 0, 0)) < 0
      || (rc = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (socket), 2,
                                 SCMP_A0 (SCMP_CMP_MASKED_EQ, LOW32, AF_NETLINK),
                                 SCMP_A2 (SCMP_CMP_MASKED_EQ, LOW32, NETLINK_ROUTE)))
             < 0)
    return nxerr_sys (err, -rc, "seccomp: socket");
  /* 0xffffffff only asks for the current persona. */
  if ((rc = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (personality), 1,
                              SCMP_A0 (SCMP_CMP_MASKED_EQ, bad_persona, 0)))
          < 0
      || (rc = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (personality), 1,
                                 SCMP_A0 (SCMP_CMP_MASKED_EQ, LOW32, LOW32)))
             < 0)
    return nxerr_sys (err, -rc, "seccomp: personality");
  /* clone(flags, ...) without a namespace flag. clone3 keeps its flags in
   * memory a filter cannot read: ENOSYS, and libc falls back to clone. */
  if ((rc = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (clone), 1,
                              SCMP_A0 (SCMP_CMP_MASKED_EQ, NS_FLAGS, 0)))
      < 0)
    return nxerr_sys (err, -rc, "seccomp: clone");
  rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (ENOSYS), SCMP_SYS (clone3), 0);
  if (rc < 0 && rc != -EDOM)
    return nxerr_sys (err, -rc, "seccomp: clone3");
  return 0;
}

static int
build (scmp_filter_ctx ctx, struct nxerr *err)
{
  int rc = seccomp_attr_set (ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc < 0)
    return nxerr_sys (err, -rc, "seccomp: bad-arch action");
  for (int i = 0; seccomp_allowed[i]; i++)
    {
      int nr = seccomp_syscall_resolve_name (seccomp_allowed[i]);
      if (nr == __NR_SCMP_ERROR || nr < 0)
        continue; /* not a system call of this architecture */
      rc = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, nr, 0);
      if (rc < 0)
        return nxerr_sys (err, -rc, "seccomp: allow %s", seccomp_allowed[i]);
    }
  return build_args (ctx, err);
}

int
seccomp_build (struct sock_filter **prog, unsigned short *len, struct nxerr *err)
{
  scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_ERRNO (EPERM));
  cleanup_close int fd = -1;
  struct sock_filter *p = NULL;
  off_t size;
  int rc;
  if (ctx == NULL)
    return nxerr_set (err, ENOMEM, "seccomp_init failed");
  if (build (ctx, err) < 0)
    {
      seccomp_release (ctx);
      return -1;
    }
  /* libseccomp 2.5 exports to an fd only: go through a memfd. */
  fd = memfd_create ("nexc-seccomp", MFD_CLOEXEC);
  if (fd < 0)
    {
      seccomp_release (ctx);
      return nxerr_sys (err, errno, "memfd_create");
    }
  rc = seccomp_export_bpf (ctx, fd);
  seccomp_release (ctx);
  if (rc < 0)
    return nxerr_sys (err, -rc, "seccomp_export_bpf");
  size = lseek (fd, 0, SEEK_END);
  if (size <= 0 || size % (off_t) sizeof *p != 0 || size / (off_t) sizeof *p > BPF_MAXINSNS)
    return nxerr_set (err, EINVAL, "seccomp: exported program has %lld bytes", (long long) size);
  p = xmalloc ((size_t) size);
  if (pread (fd, p, (size_t) size, 0) != size)
    {
      free (p);
      return nxerr_sys (err, errno, "seccomp: read program");
    }
  *prog = p;
  *len = (unsigned short) (size / (off_t) sizeof *p);
  return 0;
}

void
seccomp_prog_free (struct sock_filter *prog)
{
  free (prog);
}

int
seccomp_load_prog (const struct sock_filter *prog, unsigned short len)
{
  struct sock_fprog fp = { .len = len, .filter = (struct sock_filter *) prog };
  if (prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) < 0)
    return errno;
  return 0;
}
