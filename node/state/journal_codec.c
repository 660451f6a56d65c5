/* journal_codec: a journal's records as bytes and back, with no file I/O.
 * It builds each record (put, del, ev, evdel) as CBOR with libcbor and frames
 * it with its length and BLAKE2b-64 check (schemas/state.cddl), and reads a
 * whole image back into the live entries and events its records add up to,
 * which is why the in-memory set those records act on (a put replaces, a del
 * removes) lives here too. Kept apart from the store (journal.c) so that the
 * parser, which must survive whatever is on the disk, is pure functions that
 * tests and fuzzers can drive without a file (journal_parse). */
#include "node/state/journal.h"

#include <cbor.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <string.h>

#include "api/xalloc.h"
#include "node/state/journal_int.h"

#define FRAME_HEAD 12 /* length 4 + check 8 */
#define STRING_MAX (512 * 1024)

void
journal_entry_clear (struct journal_entry *e)
{
  free (e->id);
  free (e->ns);
  free (e->name);
  free (e->type);
  free (e->hash);
  free (e->request);
  free (e->sock);
  memset (e, 0, sizeof *e);
}

void
journal_entries_free (struct journal_entry *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    journal_entry_clear (&v[i]);
  free (v);
}

/* ---- the in-memory set of live entries ---- */

ssize_t
journal_live_find (struct journal_entry *v, size_t n, const char *id)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (v[i].id, id) == 0)
      return (ssize_t) i;
  return -1;
}

void
journal_live_put (struct journal_entry **v, size_t *n, struct journal_entry *e)
{
  ssize_t i = journal_live_find (*v, *n, e->id);
  if (i >= 0)
    {
      journal_entry_clear (&(*v)[i]);
      (*v)[i] = *e;
    }
  else
    {
      *v = xrealloc (*v, (*n + 1) * sizeof **v);
      (*v)[(*n)++] = *e;
    }
  memset (e, 0, sizeof *e);
}

void
journal_live_del (struct journal_entry *v, size_t *n, const char *id)
{
  ssize_t i = journal_live_find (v, *n, id);
  if (i < 0)
    return;
  journal_entry_clear (&v[i]);
  v[i] = v[*n - 1];
  (*n)--;
}

static void
event_clear (struct journal_event *e)
{
  free (e->id);
  free (e->subject);
  free (e->data);
  memset (e, 0, sizeof *e);
}

void
journal_events_free (struct journal_event *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    event_clear (&v[i]);
  free (v);
}

ssize_t
journal_ev_find (const struct journal_event *v, size_t n, const char *id)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (v[i].id, id) == 0)
      return (ssize_t) i;
  return -1;
}

/* Takes e's contents (a put of a known id replaces it, in place). */
void
journal_ev_put (struct journal_event **v, size_t *n, struct journal_event *e)
{
  ssize_t i = journal_ev_find (*v, *n, e->id);
  if (i >= 0)
    {
      event_clear (&(*v)[i]);
      (*v)[i] = *e;
    }
  else
    {
      *v = xrealloc (*v, (*n + 1) * sizeof **v);
      (*v)[(*n)++] = *e;
    }
  memset (e, 0, sizeof *e);
}

/* Keeps the order (events are published again oldest first). */
void
journal_ev_del (struct journal_event *v, size_t *n, const char *id)
{
  ssize_t i = journal_ev_find (v, *n, id);
  if (i < 0)
    return;
  event_clear (&v[i]);
  memmove (&v[i], &v[i + 1], (*n - (size_t) i - 1) * sizeof *v);
  (*n)--;
}

/* ---- CBOR ---- */

static void
add (cbor_item_t *map, const char *k, cbor_item_t *v)
{
  struct cbor_pair p = { .key = cbor_move (cbor_build_string (k)), .value = cbor_move (v) };
  cbor_map_add (map, p);
}

static cbor_item_t *
encode_workload (const struct journal_entry *e)
{
  cbor_item_t *m = cbor_new_definite_map (13);
  add (m, "id", cbor_build_string (e->id));
  add (m, "ns", cbor_build_string (e->ns));
  add (m, "name", cbor_build_string (e->name));
  add (m, "type", cbor_build_string (e->type));
  add (m, "hash", cbor_build_string (e->hash));
  add (m, "size", cbor_build_uint64 (e->size));
  add (m, "request", cbor_build_string (e->request));
  add (m, "agent_pid", cbor_build_uint64 (e->agent_pid));
  add (m, "sock", cbor_build_string (e->sock));
  add (m, "started_ms", cbor_build_uint64 (e->started_ms));
  add (m, "restarts", cbor_build_uint64 (e->restarts));
  if (e->autostart)
    add (m, "autostart", cbor_build_bool (true));
  if (e->sandbox_uid)
    add (m, "sandbox_uid", cbor_build_uint64 (e->sandbox_uid));
  if (e->log_seq)
    add (m, "log_seq", cbor_build_uint64 (e->log_seq));
  if (e->log_limit)
    add (m, "log_limit", cbor_build_uint64 (e->log_limit));
  return m;
}

static cbor_item_t *
encode_event (const struct journal_event *e)
{
  cbor_item_t *m = cbor_new_definite_map (3);
  add (m, "id", cbor_build_string (e->id));
  add (m, "subject", cbor_build_string (e->subject));
  add (m, "data", cbor_build_bytestring (e->data, e->len));
  return m;
}

/* Frame one record into out. */
static int
frame_record (cbor_item_t *rec, struct buf *out, struct nxerr *err)
{
  unsigned char *data = NULL;
  size_t cap = 0, len = cbor_serialize_alloc (rec, &data, &cap);
  uint8_t head[FRAME_HEAD];
  if (len == 0 || len > JOURNAL_RECORD_MAX)
    {
      free (data);
      return nxerr_set (err, EMSGSIZE, "journal record of %zu bytes", len);
    }
  head[0] = (uint8_t) (len >> 24);
  head[1] = (uint8_t) (len >> 16);
  head[2] = (uint8_t) (len >> 8);
  head[3] = (uint8_t) len;
  crypto_generichash (head + 4, 8, data, len, NULL, 0);
  buf_append (out, head, sizeof head);
  buf_append (out, data, len);
  free (data);
  return 0;
}

/* One record {op, key: v} (v's reference is taken) framed onto out. */
static int
frame_op (const char *op, const char *k, cbor_item_t *v, struct buf *out, struct nxerr *err)
{
  cbor_item_t *rec = cbor_new_definite_map (2);
  int rc;
  add (rec, "op", cbor_build_string (op));
  add (rec, k, v);
  rc = frame_record (rec, out, err);
  cbor_decref (&rec);
  return rc;
}

int
journal_record_put (const struct journal_entry *e, struct buf *out, struct nxerr *err)
{
  return frame_op ("put", "w", encode_workload (e), out, err);
}

int
journal_record_del (const char *id, struct buf *out, struct nxerr *err)
{
  return frame_op ("del", "id", cbor_build_string (id), out, err);
}

int
journal_record_ev (const struct journal_event *e, struct buf *out, struct nxerr *err)
{
  return frame_op ("ev", "e", encode_event (e), out, err);
}

int
journal_record_evdel (const char *const *ids, size_t n, struct buf *out, struct nxerr *err)
{
  cbor_item_t *arr = cbor_new_definite_array (n);
  for (size_t k = 0; k < n; k++)
    cbor_array_push (arr, cbor_move (cbor_build_string (ids[k])));
  return frame_op ("evdel", "ids", arr, out, err);
}

static char *
get_str (cbor_item_t *v, bool *ok)
{
  size_t n;
  if (!cbor_isa_string (v) || !cbor_string_is_definite (v))
    {
      *ok = false;
      return NULL;
    }
  n = cbor_string_length (v);
  if (n > STRING_MAX || memchr (cbor_string_handle (v), 0, n))
    {
      *ok = false;
      return NULL;
    }
  return xstrndup ((const char *) cbor_string_handle (v), n);
}

static uint64_t
get_uint (cbor_item_t *v, bool *ok)
{
  if (!cbor_isa_uint (v))
    {
      *ok = false;
      return 0;
    }
  return cbor_get_int (v);
}

static bool
key_is (cbor_item_t *k, const char *name)
{
  size_t n = strlen (name);
  return cbor_isa_string (k) && cbor_string_is_definite (k) && cbor_string_length (k) == n
         && memcmp (cbor_string_handle (k), name, n) == 0;
}

static bool
decode_workload (cbor_item_t *m, struct journal_entry *e)
{
  struct cbor_pair *p;
  size_t n;
  bool ok = true;
  if (!cbor_isa_map (m) || !cbor_map_is_definite (m))
    return false;
  p = cbor_map_handle (m);
  n = cbor_map_size (m);
  for (size_t i = 0; i < n && ok; i++)
    {
      cbor_item_t *k = p[i].key, *v = p[i].value;
      char **s = NULL;
      uint64_t *u = NULL;
      if (key_is (k, "id"))
        s = &e->id;
      else if (key_is (k, "ns"))
        s = &e->ns;
      else if (key_is (k, "name"))
        s = &e->name;
      else if (key_is (k, "type"))
        s = &e->type;
      else if (key_is (k, "hash"))
        s = &e->hash;
      else if (key_is (k, "request"))
        s = &e->request;
      else if (key_is (k, "sock"))
        s = &e->sock;
      else if (key_is (k, "size"))
        u = &e->size;
      else if (key_is (k, "agent_pid"))
        u = &e->agent_pid;
      else if (key_is (k, "started_ms"))
        u = &e->started_ms;
      else if (key_is (k, "restarts"))
        u = &e->restarts;
      else if (key_is (k, "sandbox_uid"))
        u = &e->sandbox_uid;
      else if (key_is (k, "log_seq"))
        u = &e->log_seq;
      else if (key_is (k, "log_limit"))
        u = &e->log_limit;
      else if (key_is (k, "autostart"))
        {
          ok = cbor_is_bool (v);
          e->autostart = ok && cbor_get_bool (v);
          continue;
        }
      else
        continue; /* a newer node's field: ignored */
      if (s)
        {
          free (*s);
          *s = get_str (v, &ok);
        }
      else
        *u = get_uint (v, &ok);
    }
  return ok && e->id && e->ns && e->name && e->type && e->hash && e->request && e->sock
         && *e->id && e->agent_pid > 1 && e->agent_pid < INT_MAX && e->sandbox_uid < UINT32_MAX && e->log_seq < (1ull << 62)
         && e->log_limit < (1ull << 62) && (e->log_limit == 0 || e->log_limit >= e->log_seq);
}

static bool
decode_event (cbor_item_t *m, struct journal_event *e)
{
  struct cbor_pair *p;
  bool ok = true;
  if (!cbor_isa_map (m) || !cbor_map_is_definite (m))
    return false;
  p = cbor_map_handle (m);
  for (size_t i = 0; i < cbor_map_size (m) && ok; i++)
    {
      cbor_item_t *k = p[i].key, *v = p[i].value;
      if (key_is (k, "id") || key_is (k, "subject"))
        {
          char **s = key_is (k, "id") ? &e->id : &e->subject;
          free (*s);
          *s = get_str (v, &ok);
        }
      else if (key_is (k, "data"))
        {
          size_t n;
          if (!cbor_isa_bytestring (v) || !cbor_bytestring_is_definite (v)
              || (n = cbor_bytestring_length (v)) == 0 || n > STRING_MAX)
            return false;
          free (e->data);
          e->data = xmalloc (n);
          memcpy (e->data, cbor_bytestring_handle (v), n);
          e->len = n;
        }
    }
  return ok && e->id && *e->id && e->subject && *e->subject && e->data;
}

/* "ids": the ids of an evdel, applied one by one. */
static bool
apply_evdel (cbor_item_t *ids, struct journal_state *st)
{
  if (!cbor_isa_array (ids) || !cbor_array_is_definite (ids))
    return false;
  for (size_t i = 0; i < cbor_array_size (ids); i++)
    {
      bool ok = true;
      char *s = get_str (cbor_array_handle (ids)[i], &ok);
      if (!ok)
        return false;
      journal_ev_del (st->ev, &st->n_ev, s);
      free (s);
    }
  return true;
}

/* Whether every definite array or map in the CBOR bytes claims no more
 * items than bytes follow it (each item takes at least one). libcbor 0.8
 * allocates a definite array's slots from its header before reading them:
 * a record of a few bytes claiming 2^31 items would make it ask for
 * gigabytes (found by fuzz_journal). Items are laid out header first,
 * children after, so one pass over the headers sees them all. */
static bool
cbor_counts_plausible (const uint8_t *p, size_t n)
{
  size_t i = 0;
  while (i < n)
    {
      uint8_t b = p[i++];
      unsigned major = b >> 5, info = b & 31;
      uint64_t arg = info;
      if (b == 0xff)
        continue; /* the end of an indefinite item */
      if (info >= 24 && info <= 27)
        {
          size_t len = (size_t) 1 << (info - 24);
          if (len > n - i)
            return false;
          arg = 0;
          for (size_t k = 0; k < len; k++)
            arg = arg << 8 | p[i++];
        }
      else if (info > 27 && info != 31)
        return false;
      if (info == 31)
        continue; /* indefinite: no count to trust */
      if ((major == 2 || major == 3))
        {
          if (arg > n - i)
            return false;
          i += (size_t) arg;
        }
      else if ((major == 4 && arg > n - i) || (major == 5 && arg > (n - i) / 2))
        return false;
    }
  return true;
}

/* One record: apply it to the live set. */
static bool
apply_record (const uint8_t *p, size_t n, struct journal_state *st)
{
  struct cbor_load_result res;
  cbor_item_t *rec = cbor_counts_plausible (p, n) ? cbor_load (p, n, &res) : NULL;
  bool ok = false;
  cbor_item_t *op = NULL, *w = NULL, *id = NULL, *ev = NULL, *ids = NULL;
  if (rec == NULL || res.error.code != CBOR_ERR_NONE || res.read != n)
    goto out;
  if (!cbor_isa_map (rec) || !cbor_map_is_definite (rec))
    goto out;
  for (size_t i = 0; i < cbor_map_size (rec); i++)
    {
      struct cbor_pair *pr = &cbor_map_handle (rec)[i];
      if (key_is (pr->key, "op"))
        op = pr->value;
      else if (key_is (pr->key, "w"))
        w = pr->value;
      else if (key_is (pr->key, "id"))
        id = pr->value;
      else if (key_is (pr->key, "e"))
        ev = pr->value;
      else if (key_is (pr->key, "ids"))
        ids = pr->value;
    }
  if (op && key_is (op, "put") && w)
    {
      struct journal_entry e;
      memset (&e, 0, sizeof e);
      ok = decode_workload (w, &e);
      if (ok)
        journal_live_put (&st->w, &st->n_w, &e);
      else
        journal_entry_clear (&e);
    }
  else if (op && key_is (op, "del") && id)
    {
      bool sok = true;
      char *s = get_str (id, &sok);
      ok = sok;
      if (ok)
        journal_live_del (st->w, &st->n_w, s);
      free (s);
    }
  else if (op && key_is (op, "ev") && ev)
    {
      struct journal_event e;
      memset (&e, 0, sizeof e);
      ok = decode_event (ev, &e);
      if (ok)
        journal_ev_put (&st->ev, &st->n_ev, &e);
      else
        event_clear (&e);
    }
  else if (op && key_is (op, "evdel") && ids)
    ok = apply_evdel (ids, st);
out:
  if (rec)
    cbor_decref (&rec);
  return ok;
}

void
journal_state_free (struct journal_state *st)
{
  journal_entries_free (st->w, st->n_w);
  journal_events_free (st->ev, st->n_ev);
  memset (st, 0, sizeof *st);
}

int
journal_state_parse (const uint8_t *p, size_t n, struct journal_state *st, size_t *good_len,
                     struct nxerr *err)
{
  size_t off = 0;
  memset (st, 0, sizeof *st);
  *good_len = 0;
  while (off < n)
    {
      uint8_t check[8];
      size_t len;
      if (n - off < FRAME_HEAD)
        break; /* torn head: the tail of a write cut short */
      len = (size_t) p[off] << 24 | (size_t) p[off + 1] << 16 | (size_t) p[off + 2] << 8
            | p[off + 3];
      if (len == 0 || len > JOURNAL_RECORD_MAX)
        goto corrupt;
      if (n - off - FRAME_HEAD < len)
        break; /* torn body */
      crypto_generichash (check, sizeof check, p + off + FRAME_HEAD, len, NULL, 0);
      if (memcmp (check, p + off + 4, 8) != 0)
        {
          /* A bad check on the very last record is a torn write too. */
          if (off + FRAME_HEAD + len == n)
            break;
          goto corrupt;
        }
      if (!apply_record (p + off + FRAME_HEAD, len, st))
        goto corrupt;
      off += FRAME_HEAD + len;
      *good_len = off;
    }
  return 0;
corrupt:
  journal_state_free (st);
  return nxerr_set (err, EBADMSG, "journal record at byte %zu is corrupt", off);
}

int
journal_parse (const uint8_t *p, size_t n, struct journal_entry **entries, size_t *count,
               struct journal_event **events, size_t *n_events, size_t *good_len,
               struct nxerr *err)
{
  struct journal_state st;
  int rc = journal_state_parse (p, n, &st, good_len, err);
  *entries = st.w;
  *count = st.n_w;
  if (events)
    {
      *events = st.ev;
      *n_events = st.n_ev;
    }
  else
    journal_events_free (st.ev, st.n_ev);
  return rc;
}
