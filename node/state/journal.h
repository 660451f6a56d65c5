/* Room node/state/: what the node keeps on its state disk: the journal of
 * workloads and pending events, the replay cache (node/state/replay.h).
 *
 * journal: what the node started, kept in its state dir so a restarted node
 * can reattach to running workloads (layout: schemas/state.cddl).
 *
 * An append-only log of CBOR records (put/del), each framed with a length
 * and a BLAKE2b-64 check, read back defensively: a torn tail is dropped, a
 * corrupt file moved aside and reported, never a crash. Appends are plain
 * writes: they survive a node crash (the page cache keeps them); the log is
 * compacted with write + fsync + rename. Owned by the loop thread.
 * journal.c is the store (the file and the live set kept in memory),
 * journal_codec.c the records' CBOR both ways (journal_parse among them); what
 * they share is in journal_int.h, which is not for other callers. */
#ifndef NEXC_NODE_JOURNAL_H
#define NEXC_NODE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/buf.h"
#include "api/nxerr.h"

#define JOURNAL_RECORD_MAX (1024 * 1024)
/* The log is rewritten when dead records outweigh live ones 3:1 and by this
 * much: each rewrite is a new file and an fsync on the loop thread (a few ms
 * on ext4, and inode churn), and a put holds the whole DEPLOY request
 * (~2-3 KiB), so a 64 KiB slack meant a rewrite every ~25 deploys. At 1 MiB
 * it is one per ~400 deploy+stop cycles; reading 1 MiB at start is nothing. */
#define JOURNAL_SLACK (1024 * 1024)

struct journal_entry {
  char *id;
  char *ns;
  char *name;
  char *type;
  char *hash;
  uint64_t size;
  char *request; /* DEPLOY request JSON */
  uint64_t agent_pid;
  char *sock;
  uint64_t started_ms;
  uint64_t restarts;
  bool autostart;
  uint64_t sandbox_uid; /* process tier: the sandbox's uid (cgroup leaf and
                         * working dir are named u<uid>); 0 = tier none */
  uint64_t log_seq;     /* the last Nexc-Seq the server had confirmed (or,
                         * for an agent that keeps nothing, published) when
                         * the entry was put */
  uint64_t log_limit;   /* no Nexc-Seq above it has gone out (logs.h's limit);
                         * 0: not said (an older journal) */
};

/* An event the node published but the server has not yet confirmed having
 * (node/bus/outbox.h): kept so a node that dies first publishes it again. */
struct journal_event {
  char *id;      /* CloudEvent id: the same on every publication */
  char *subject;
  uint8_t *data; /* the CloudEvent JSON */
  size_t len;
};

struct journal;

/* Open (creating) <dir>/journal and return its live entries. When the file
 * was corrupt, *note says what was done about it (caller logs it). */
int journal_open (const char *dir, struct journal **out, struct journal_entry **entries,
                  size_t *n, struct buf *note, struct nxerr *err);
int journal_put (struct journal *j, const struct journal_entry *e, struct nxerr *err);
int journal_del (struct journal *j, const char *id, struct nxerr *err);
/* Events: put when published, del (several at once) when confirmed. */
int journal_event_put (struct journal *j, const struct journal_event *e, struct nxerr *err);
int journal_event_del (struct journal *j, const char *const *ids, size_t n, struct nxerr *err);
/* The events not yet confirmed (those read at open among them); valid until
 * the next change to the journal. */
size_t journal_events (const struct journal *j, const struct journal_event **v);
void journal_close (struct journal *j);
void journal_entries_free (struct journal_entry *v, size_t n);
void journal_entry_clear (struct journal_entry *e);

/* Parse a whole journal image (exposed for tests and fuzzing). Returns 0 with
 * the live entries, the unconfirmed events (events may be NULL: dropped) and
 * *good_len = bytes of valid records; -1 when corrupt before the tail. */
int journal_parse (const uint8_t *p, size_t n, struct journal_entry **entries, size_t *count,
                   struct journal_event **events, size_t *n_events, size_t *good_len,
                   struct nxerr *err);
void journal_events_free (struct journal_event *v, size_t n);

#endif
