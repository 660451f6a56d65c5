#include "agent/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The rights and fields newer than the build host's headers (Debian 12's
 * know ABI 2). Values from the kernel's uapi. */
#define LL_FS_TRUNCATE (1ULL << 14)       /* ABI 3 */
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)        /* ABI 6 */

/* The ruleset attribute as ABI 6 knows it; older kernels get a prefix. */
struct ll_ruleset {
  uint64_t handled_access_fs;
  uint64_t handled_access_net; /* ABI 4; 0: network not handled */
  uint64_t scoped;             /* ABI 6 */
};

int
landlock_probe (void)
{
  long abi = syscall (SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi > 0 ? (int) abi : 0;
}

static uint64_t
write_rights (int abi)
{
  uint64_t r = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR
               | LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR
               | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG
               | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO
               | LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
  if (abi >= 2)
    r |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3)
    r |= LL_FS_TRUNCATE;
  return r;
}

#define READ_RIGHTS (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

static int
allow (int ruleset, const char *path, int flags, uint64_t rights)
{
  struct landlock_path_beneath_attr pb;
  int fd = open (path, O_PATH | O_CLOEXEC | flags), e = 0;
  if (fd < 0)
    return 0; /* not in this view: nothing to allow */
  pb.allowed_access = rights;
  pb.parent_fd = fd;
  if (syscall (SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
    e = errno;
  close (fd);
  return e;
}

int
landlock_enter (int abi, const char *const *writable, const char **what)
{
  struct ll_ruleset rs;
  size_t size;
  int ruleset, e = 0;
  if (abi <= 0)
    return 0;
  memset (&rs, 0, sizeof rs);
  rs.handled_access_fs = write_rights (abi);
  size = sizeof rs.handled_access_fs;
  if (abi >= 6)
    {
      rs.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
      size = sizeof rs;
    }
  *what = "landlock_create_ruleset";
  ruleset = (int) syscall (SYS_landlock_create_ruleset, &rs, size, 0);
  if (ruleset < 0)
    return errno;
  *what = "landlock_add_rule";
  for (size_t i = 0; writable[i] && e == 0; i++)
    e = allow (ruleset, writable[i], O_DIRECTORY, rs.handled_access_fs);
  *what = "landlock_restrict_self";
  if (e == 0 && syscall (SYS_landlock_restrict_self, ruleset, 0) < 0)
    e = errno;
  close (ruleset);
  return e;
}

/* A second layer, handling reads only (the first keeps the writes): reads
 * beneath its own root, the minimal root (or, under host-ro, the host's),
 * and of the executable, whose fd comes from outside the root (exec opens
 * it for reading). What else is outside the root and still reachable (an
 * fd from outside, /proc/self/exe, another process's /proc/<pid>/root)
 * cannot be read. Last before the exec: in the stem that is after the
 * deploy came, when the executable is known. */
int
landlock_enter_reads (int abi, int exe_fd, const char **what)
{
  struct ll_ruleset rs;
  struct landlock_path_beneath_attr pb;
  int ruleset, e;
  if (abi <= 0)
    return 0;
  memset (&rs, 0, sizeof rs);
  rs.handled_access_fs = READ_RIGHTS;
  *what = "landlock_create_ruleset (reads)";
  ruleset = (int) syscall (SYS_landlock_create_ruleset, &rs, sizeof rs.handled_access_fs, 0);
  if (ruleset < 0)
    return errno;
  *what = "landlock_add_rule (reads)";
  e = allow (ruleset, "/", O_DIRECTORY, READ_RIGHTS);
  pb.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE;
  pb.parent_fd = exe_fd;
  if (e == 0 && exe_fd >= 0
      && syscall (SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
    e = errno;
  *what = "landlock_restrict_self (reads)";
  if (e == 0 && syscall (SYS_landlock_restrict_self, ruleset, 0) < 0)
    e = errno;
  close (ruleset);
  return e;
}
