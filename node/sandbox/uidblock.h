/* uidblock: the host-wide lock on one block of sandbox uids.
 *
 * Every node of a host draws from the same uid_range unless told otherwise
 * (the default is the same for all), so two nodes must agree on who hands
 * out which uid. A block is UIDBLOCK_SIZE uids starting at a multiple of
 * UIDBLOCK_SIZE (absolute uids: nodes name a block alike whatever their
 * uid_range). Holding it means holding the lock file <lock dir>/<block
 * start> (node/core/lockfile.h: an OFD lock the kernel drops when the node
 * dies, so a crash frees its blocks with nothing to clean up; the file
 * names the holder for messages). The lock does not prove that nothing
 * runs with the block's uids (the workloads of a crashed node outlive its
 * locks): node/sandbox/uidrange.h checks /proc after taking one.
 *
 * The lock dir is made 0700 and must be owned by the node's euid and not
 * writable by others: anyone who could open a lock file could read-lock it
 * and keep nodes from a block, or plant files. Loop thread, or before it
 * runs (preflight). */
#ifndef NEXC_NODE_UIDBLOCK_H
#define NEXC_NODE_UIDBLOCK_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/nxerr.h"
#include "node/core/lockfile.h"

/* 64 uids: a node's warm pool and running workloads take one each, and a
 * node of a few dozen sandboxes fits in one block, while the default range
 * (65536 uids) still gives 1024 nodes a block each. Changing it would make
 * nodes of two versions disagree on block boundaries: it is part of the
 * host-wide protocol, like the lock dir. */
#define UIDBLOCK_SIZE 64u
#define UIDBLOCK_DIR "/run/nexc/uids"
/* When /run cannot hold UIDBLOCK_DIR (absent or read-only): still one
 * directory shared by every node of the host, on a tmpfs that age-based
 * cleaners (systemd-tmpfiles on /tmp) leave alone. */
#define UIDBLOCK_DIR_FALLBACK "/dev/shm/nexc-uids"

struct uidblock_dir {
  int fd; /* -1: not open */
  char path[PATH_MAX];
  bool fallback; /* UIDBLOCK_DIR was not usable: UIDBLOCK_DIR_FALLBACK */
};

/* Open (making it, 0700) the lock dir path; NULL: UIDBLOCK_DIR, or
 * UIDBLOCK_DIR_FALLBACK when /run cannot hold it. A dir owned by another
 * uid or writable by group or others is refused. */
int uidblock_dir_open (const char *path, struct uidblock_dir *d, struct nxerr *err);
void uidblock_dir_close (struct uidblock_dir *d);

/* Lock the block starting at start (a multiple of UIDBLOCK_SIZE), as
 * lockfile_lock: 0 with *fd, or -1 with err->code EAGAIN when another node
 * holds it (*holder, which may be NULL, says who), another code when its
 * file cannot be used. */
int uidblock_lock (const struct uidblock_dir *d, uint32_t start, const char *who, int *fd,
                   struct lockfile_holder *holder, struct nxerr *err);
/* Let go of a block locked by uidblock_lock (its file removed). fd < 0 is
 * a no-op. */
void uidblock_unlock (const struct uidblock_dir *d, uint32_t start, int fd);
/* Let go of a block locked with who NULL and not kept (busy with a crashed
 * node's survivors): its file stays, still naming its last holder, unless
 * this attempt made it. */
void uidblock_give_back (const struct uidblock_dir *d, uint32_t start, int fd);

static inline uint32_t
uidblock_start (uint32_t uid)
{
  return uid - uid % UIDBLOCK_SIZE;
}

#endif
