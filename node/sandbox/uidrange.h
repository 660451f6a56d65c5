/* uidrange: the unprivileged uids this node hands to its sandboxes, drawn
 * from the config's uid_range.
 *
 * One uid per agent of the process tier, and the gid of the same number;
 * allocated at spawn, released once the agent was reaped, its cgroup removed
 * and its working dir moved out of reach. Every node of a host may draw from
 * the same range (the default is the same for all), so a node hands out
 * uids only from blocks it holds (node/sandbox/uidblock.h: UIDBLOCK_SIZE
 * uids, locked host-wide; a block at an edge of the range is used for its
 * part inside the range).
 *
 *   taking a block  when every uid of the blocks held is in use (and at
 *                   start, for the preflight's self-test): the lowest block
 *                   of the range that is neither ours nor locked by another
 *                   node, and, once its lock is ours, that no process runs
 *                   with any of its ids (/proc: a crashed node's workloads
 *                   outlive its locks). A busy block is skipped, never waited
 *                   for; when none is left the error names who holds what.
 *   giving one back when its last uid is released and another held block
 *                   is empty too: a node keeps one empty block at most. That
 *                   is the floor when it holds just one (the warm pool
 *                   refills at once), and a node whose load hovers at a
 *                   block boundary does not take and give back a block
 *                   (lock, /proc scan, unlink) per spawn. A held block costs
 *                   a file and an fd.
 *   adopting        a restarted node takes back the uids of the sandboxes it
 *                   reattaches (uidrange_adopt) and with them their blocks;
 *                   uidrange_settle then waits a moment for other processes
 *                   in those blocks (the dying sandboxes of the previous
 *                   run) and, when some stay, keeps such a block for its
 *                   adopted sandboxes only. uidrange_reclaim takes back a
 *                   block of the previous run that no reattached sandbox
 *                   holds, once its dying agents are gone, and removes the
 *                   files of the others: a crash leaves no file naming the
 *                   node after its next start.
 *
 * Inside the held blocks allocation goes to the lowest block with a free
 * uid (so extra blocks drain and go back), round-robin inside a block from
 * the last uid handed out, so a uid just released is the last to come back.
 * Never handed out: 0, the node's own uid, 65534 (nobody) and (uid_t) -1.
 * Owned by the loop thread (before it runs: the preflight). */
#ifndef NEXC_NODE_UIDRANGE_H
#define NEXC_NODE_UIDRANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/nxerr.h"
#include "node/sandbox/uidblock.h"

#define UIDRANGE_MAX_COUNT (1u << 24)

struct uidrange_opts {
  uint32_t start, count;
  uint32_t own_uid;
  const char *lock_dir; /* NULL: UIDBLOCK_DIR (or its fallback) */
  const char *proc_dir; /* NULL: "/proc" */
  const char *who;      /* written into the lock files: the node id */
};

/* A block overlapping the range. */
struct uidrange_block {
  int fd;          /* its lock (uidblock.h); -1: not held */
  uint32_t in_use; /* its uids handed out or adopted, held or not */
  uint32_t size;   /* its uids in the range that may be handed out */
  uint32_t next;   /* round-robin cursor, an offset into the block's span */
  bool no_new;     /* held for adopted sandboxes only */
};

struct uidrange {
  uint32_t start, count;
  uint8_t *used; /* one bit per uid of the range: handed out, adopted or reserved */
  uint32_t in_use;
  uint32_t reserved; /* never handed out (see above) */
  uint32_t own_uid;
  uint32_t first;    /* block index (uid / UIDBLOCK_SIZE) of start */
  uint32_t n_blocks;
  struct uidrange_block *blocks;
  uint32_t held, held_no_new;
  struct uidblock_dir dir;
  char who[LOCKFILE_WHO_MAX];
  char proc_dir[256];
  char note[320]; /* what the last block search passed over, "" if nothing */
};

/* A range is valid when count >= 1, count <= UIDRANGE_MAX_COUNT and it ends
 * below (uid_t) -1; err names the problem otherwise. */
int uidrange_check (uint32_t start, uint32_t count, struct nxerr *err);
/* Holds no block yet: the first uidrange_alloc (or uidrange_adopt) takes one. */
int uidrange_init (struct uidrange *r, const struct uidrange_opts *o, struct nxerr *err);
/* Gives back every block held. */
void uidrange_free (struct uidrange *r);
bool uidrange_contains (const struct uidrange *r, uint32_t uid);
/* Hand out a free uid of a held block, taking a new block when they are
 * full; ENOSPC when no block can be taken (the message says why). */
int uidrange_alloc (struct uidrange *r, uint32_t *uid, struct nxerr *err);
void uidrange_release (struct uidrange *r, uint32_t uid);
/* Mark uid taken: a sandbox reattached after a restart. 0 when its block is
 * held (taken again if needed, without the /proc check: uidrange_settle
 * does that for all at once); 1 when another node holds the block now (err
 * says who): the uid stays marked, so this node never hands it out, and
 * the caller may still adopt the sandbox; -1 when uid is outside the range
 * or already taken. */
int uidrange_adopt (struct uidrange *r, uint32_t uid, struct nxerr *err);
/* Processes running with ids of a held block that this node did not hand
 * out: waited for up to wait_ms, then their blocks are kept for their
 * adopted sandboxes only. Returns how many blocks that was; note (may be
 * NULL) says which and why. */
size_t uidrange_settle (struct uidrange *r, int wait_ms, char *note, size_t cap);
/* The blocks a previous run of this node held (their files still name it,
 * nobody locks them) and that no reattached sandbox took back: once the
 * processes of that run in them are gone (waited for up to wait_ms), the
 * first is held again when none is held yet, and the others are removed;
 * a block still busy after the wait is left as it is, naming this node.
 * Returns how many blocks were taken back (0 or 1). */
size_t uidrange_reclaim (struct uidrange *r, int wait_ms);
/* Free uids in the held blocks that may hand out uids. */
uint32_t uidrange_available (const struct uidrange *r);
/* The first uid of each held block, lowest first; returns how many are
 * held (up to max written). */
size_t uidrange_held (const struct uidrange *r, uint32_t *starts, size_t max);
const char *uidrange_lock_dir (const struct uidrange *r);

/* (uidrange_proc.c) Processes under proc_dir (normally "/proc") that run
 * with a uid or gid in [start, start + count): real, effective, saved or
 * filesystem ids, from each <pid>/status; zombies do not count. uidrange_scan_proc_each calls fn
 * once for each such id of each such process (a process may have several);
 * uidrange_scan_proc returns how many processes, the first max pids and
 * one of their ids into pids/uids (either may be NULL). */
void uidrange_scan_proc_each (const char *proc_dir, uint32_t start, uint32_t count,
                              void (*fn) (void *ud, int pid, uint32_t id), void *ud);
size_t uidrange_scan_proc (const char *proc_dir, uint32_t start, uint32_t count, int *pids,
                           uint32_t *uids, size_t max);

#endif
