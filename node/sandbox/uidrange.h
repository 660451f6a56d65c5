/* uidrange: the unprivileged uids handed to sandboxes (config uid_range).
 *
 * One uid per agent of the process tier, and the gid of the same number;
 * allocated at spawn, released once the agent was reaped, its cgroup removed
 * and its working dir moved out of reach. Allocation goes round-robin from
 * the last uid handed out, so a uid just released is the last to come back.
 * Never handed out: 0, the node's own uid, 65534 (nobody) and (uid_t) -1.
 * Owned by the loop thread (plain data, no locking). */
#ifndef NEXC_NODE_UIDRANGE_H
#define NEXC_NODE_UIDRANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/nxerr.h"

#define UIDRANGE_MAX_COUNT (1u << 24)

struct uidrange {
  uint32_t start, count;
  uint8_t *used; /* one bit per uid of the range */
  uint32_t next; /* index where the next search starts */
  uint32_t in_use;
  uint32_t reserved; /* never handed out (see above) */
};

/* A range is valid when count >= 1, count <= UIDRANGE_MAX_COUNT and it ends
 * below (uid_t) -1; err names the problem otherwise. */
int uidrange_check (uint32_t start, uint32_t count, struct nxerr *err);
int uidrange_init (struct uidrange *r, uint32_t start, uint32_t count, uint32_t own_uid,
                   struct nxerr *err);
void uidrange_free (struct uidrange *r);
bool uidrange_contains (const struct uidrange *r, uint32_t uid);
/* Hand out a free uid; ENOSPC when all are taken. */
int uidrange_alloc (struct uidrange *r, uint32_t *uid, struct nxerr *err);
void uidrange_release (struct uidrange *r, uint32_t uid);
/* Mark uid taken (a sandbox reattached after a restart); -1 if it is not
 * in the range or already taken. */
int uidrange_take (struct uidrange *r, uint32_t uid);
uint32_t uidrange_available (const struct uidrange *r);

/* Processes under proc_dir (normally "/proc") that run with a uid or gid in
 * [start, start + count): real, effective, saved or filesystem ids, from
 * each <pid>/status; zombies do not count. Returns how many; the first max
 * pids and their uids go to pids/uids (either may be NULL). */
size_t uidrange_scan_proc (const char *proc_dir, uint32_t start, uint32_t count, int *pids,
                           uint32_t *uids, size_t max);

#endif
