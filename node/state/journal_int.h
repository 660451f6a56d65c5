/* journal_int: what journal.c (the store: the file, appends, compaction) and
 * journal_codec.c (records to and from CBOR, and the live set they add up
 * to) share. Private to them: the API is node/state/journal.h. */
#ifndef NEXC_NODE_JOURNAL_INT_H
#define NEXC_NODE_JOURNAL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/buf.h"
#include "api/nxerr.h"
#include "node/state/journal.h"

/* What a log's records add up to. */
struct journal_state {
  struct journal_entry *w;
  size_t n_w;
  struct journal_event *ev;
  size_t n_ev;
};

/* Apply the records of the image p[0..n) to *st (emptied first): 0 with
 * *good_len = bytes of valid records (a torn tail left out); -1 when a record
 * before the tail is corrupt, *st then empty. */
int journal_state_parse (const uint8_t *p, size_t n, struct journal_state *st, size_t *good_len,
                         struct nxerr *err);
void journal_state_free (struct journal_state *st);

/* Append one framed record (length, check, CBOR item) to out; -1 (EMSGSIZE)
 * when it would exceed JOURNAL_RECORD_MAX. */
int journal_record_put (const struct journal_entry *e, struct buf *out, struct nxerr *err);
int journal_record_del (const char *id, struct buf *out, struct nxerr *err);
int journal_record_ev (const struct journal_event *e, struct buf *out, struct nxerr *err);
int journal_record_evdel (const char *const *ids, size_t n, struct buf *out, struct nxerr *err);

/* The live set as the records define it, in memory only (not to be mistaken
 * for journal_event_put/del, which write records). A put takes *e's contents
 * and replaces an entry of the same id in place; entries are kept in any
 * order, events oldest first. */
ssize_t journal_live_find (struct journal_entry *v, size_t n, const char *id);
void journal_live_put (struct journal_entry **v, size_t *n, struct journal_entry *e);
void journal_live_del (struct journal_entry *v, size_t *n, const char *id);
ssize_t journal_ev_find (const struct journal_event *v, size_t n, const char *id);
void journal_ev_put (struct journal_event **v, size_t *n, struct journal_event *e);
void journal_ev_del (struct journal_event *v, size_t *n, const char *id);

#endif
