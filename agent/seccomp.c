#include "agent/seccomp.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "api/xalloc.h"

/* Denied with EPERM (names libseccomp resolves; absent ones are skipped). */
static const char *const seccomp_denied[] = {
  /* mounts and the root */
  "mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
  "fsconfig", "fsmount", "fspick", "mount_setattr",
  /* leaving or entering namespaces */
  "unshare", "setns",
  /* other processes' memory, state and fds */
  "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
  /* the kernel itself */
  "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
  "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
  "iopl", "ioperm", "syslog", "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
  "lookup_dcookie", "nfsservctl", "uselib", "vhangup", "fanotify_init", "open_by_handle_at",
  "name_to_handle_at",
  /* keys */
  "keyctl", "add_key", "request_key",
  /* setting the clocks (reading them with adjtimex stays allowed) */
  "settimeofday", "clock_settime",
  /* the segment table (x86), other NUMA nodes' and processes' memory */
  "modify_ldt", "mbind", "move_pages", "migrate_pages", "set_mempolicy_home_node",
  "process_madvise",
  NULL
};

static const unsigned long ns_flags[] = { CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,
                                          CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
                                          CLONE_NEWCGROUP };

/* Calls allowed in general and refused for some arguments. The kernel
 * reads an ioctl request and a personality as 32 bits, so the comparisons
 * mask to 32 bits (a high half set by the caller must not slip past). */
static int
build_args (scmp_filter_ctx ctx, struct nxerr *err)
{
  static const unsigned long ioctls[] = { TIOCSTI, TIOCLINUX };
  static const unsigned long personas[] = { ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC };
  int rc;
  /* Typing into a terminal, and the console's special requests. */
  for (size_t i = 0; i < sizeof ioctls / sizeof ioctls[0]; i++)
    if ((rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (ioctl), 1,
                                SCMP_A1 (SCMP_CMP_MASKED_EQ, 0xffffffffu, ioctls[i])))
        < 0)
      return nxerr_sys (err, -rc, "seccomp: ioctl");
  /* Turning address randomization off, or making every mapping executable. */
  for (size_t i = 0; i < sizeof personas / sizeof personas[0]; i++)
    if ((rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (personality), 1,
                                SCMP_A0 (SCMP_CMP_MASKED_EQ, personas[i], personas[i])))
        < 0)
      return nxerr_sys (err, -rc, "seccomp: personality");
  /* vsock reaches the hypervisor; netlink beyond NETLINK_ROUTE (which
   * getaddrinfo uses) reaches audit, netfilter, udev and the like. */
  if ((rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (socket), 1,
                              SCMP_A0 (SCMP_CMP_EQ, AF_VSOCK)))
          < 0
      || (rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (socket), 2,
                                 SCMP_A0 (SCMP_CMP_EQ, AF_NETLINK),
                                 SCMP_A2 (SCMP_CMP_NE, NETLINK_ROUTE)))
             < 0)
    return nxerr_sys (err, -rc, "seccomp: socket");
  return 0;
}

static int
build (scmp_filter_ctx ctx, struct nxerr *err)
{
  int rc;
  rc = seccomp_attr_set (ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc < 0)
    return nxerr_sys (err, -rc, "seccomp: bad-arch action");
  for (int i = 0; seccomp_denied[i]; i++)
    {
      int nr = seccomp_syscall_resolve_name (seccomp_denied[i]);
      if (nr == __NR_SCMP_ERROR)
        continue; /* not a system call on this architecture */
      rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), nr, 0);
      if (rc < 0)
        return nxerr_sys (err, -rc, "seccomp: deny %s", seccomp_denied[i]);
    }
  /* clone(flags, ...) with any namespace flag. */
  for (size_t i = 0; i < sizeof ns_flags / sizeof ns_flags[0]; i++)
    {
      rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (clone), 1,
                             SCMP_A0 (SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
      if (rc < 0)
        return nxerr_sys (err, -rc, "seccomp: clone flags");
    }
  rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (ENOSYS), SCMP_SYS (clone3), 0);
  if (rc < 0 && rc != -EDOM)
    return nxerr_sys (err, -rc, "seccomp: clone3");
  return build_args (ctx, err);
}

int
seccomp_build (struct sock_filter **prog, unsigned short *len, struct nxerr *err)
{
  scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_ALLOW);
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
