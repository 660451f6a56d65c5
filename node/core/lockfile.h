/* lockfile: a file held with an OFD lock that names its holder.
 *
 * Used where a resource of the host must have one owner at a time: the uid
 * blocks (node/sandbox/uidblock.h) and a node's state dir
 * (node/state/statelock.h). Holding means holding an OFD write lock
 * (F_OFD_SETLK) on <dir>/<name> through an open file description kept for
 * as long as the resource is used, close-on-exec so no child inherits it.
 * The kernel drops the lock when the holder dies: a crash frees the
 * resource with nothing to clean up, and a file nobody locks is free. A
 * holder letting go unlinks the file while still holding the lock, and a
 * new holder checks after locking that the name still points at the inode
 * it locked (else it tries again): the classic lock-file protocol.
 *
 * The file says who holds it ("node <id>\npid <pid>\n"), for messages only:
 * read bounded, parsed defensively (garbage reads as "unknown"), never
 * trusted. Whatever sits at the name must be a regular file of our euid
 * before it is opened, so nothing planted there (a fifo, a device) is ever
 * opened. Any thread; each lock on its own fd. */
#ifndef NEXC_NODE_CORE_LOCKFILE_H
#define NEXC_NODE_CORE_LOCKFILE_H

#include <stddef.h>

#include "api/nxerr.h"

#define LOCKFILE_WHO_MAX 64
#define LOCKFILE_MAX 256 /* read at most this much of a lock file */

/* Who holds a lock, as its file says. */
struct lockfile_holder {
  char node[LOCKFILE_WHO_MAX]; /* "" when the file does not say */
  long pid;                    /* 0 when the file does not say */
};

/* Lock <dirfd>/<name> (dir is dirfd's path, for messages), creating it
 * 0600: 0 with *fd holding the lock and the file saying "node <who>, pid
 * <ours>" (who NULL: the file left as it was, for a caller that may still
 * give the lock back untouched: lockfile_rewrite when it keeps it); -1 with err->code EAGAIN when someone else holds it (*holder,
 * which may be NULL, filled from its file), EPERM when something else than
 * a regular file of ours sits at the name, another code on I/O errors. */
int lockfile_lock (int dirfd, const char *dir, const char *name, const char *who, int *fd,
                   struct lockfile_holder *holder, struct nxerr *err);
/* What the file held through fd says. */
void lockfile_read_holder (int fd, struct lockfile_holder *h);
/* What <dirfd>/<name> says, without locking it (a hint: it may change the
 * moment after): -1 when there is no regular file of ours at the name. */
int lockfile_peek (int dirfd, const char *name, struct lockfile_holder *h);
/* Say who holds it now (the node id once it is known). */
void lockfile_rewrite (int fd, const char *who);
/* Let go: the file is removed (if it is still the one locked), then the
 * lock dropped. fd < 0 is a no-op. */
void lockfile_unlock (int dirfd, const char *name, int fd);

/* A lock file's text, any bytes: "node <id>" and "pid <n>" lines. */
void lockfile_parse (const char *text, size_t len, struct lockfile_holder *h);
/* "node N... (pid 42)", "node N...", "pid 42" or "an unknown holder". */
void lockfile_holder_text (const struct lockfile_holder *h, char *out, size_t cap);

#endif
