#include "node/state/journal.h"

#include <cbor.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/xalloc.h"

#define FRAME_HEAD 12 /* length 4 + check 8 */
#define STRING_MAX (512 * 1024)

struct journal {
  char path[PATH_MAX];
  int fd;
  size_t file_len;
  /* the live state, to rewrite the log when it has grown */
  struct journal_entry *live;
  size_t n_live;
  struct journal_event *ev; /* unconfirmed events, oldest first */
  size_t n_ev;
  size_t live_bytes;
};

/* What a log's records add up to. */
struct state {
  struct journal_entry *w;
  size_t n_w;
  struct journal_event *ev;
  size_t n_ev;
};

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

static void
entry_copy (struct journal_entry *d, const struct journal_entry *s)
{
  d->id = xstrdup (s->id);
  d->ns = xstrdup (s->ns);
  d->name = xstrdup (s->name);
  d->type = xstrdup (s->type);
  d->hash = xstrdup (s->hash);
  d->size = s->size;
  d->request = xstrdup (s->request);
  d->agent_pid = s->agent_pid;
  d->sock = xstrdup (s->sock);
  d->started_ms = s->started_ms;
  d->restarts = s->restarts;
  d->autostart = s->autostart;
  d->sandbox_uid = s->sandbox_uid;
}

/* ---- the in-memory set of live entries ---- */

static ssize_t
live_find (struct journal_entry *v, size_t n, const char *id)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (v[i].id, id) == 0)
      return (ssize_t) i;
  return -1;
}

static void
live_put (struct journal_entry **v, size_t *n, struct journal_entry *e)
{
  ssize_t i = live_find (*v, *n, e->id);
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

static void
live_del (struct journal_entry *v, size_t *n, const char *id)
{
  ssize_t i = live_find (v, *n, id);
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

static void
event_copy (struct journal_event *d, const struct journal_event *s)
{
  d->id = xstrdup (s->id);
  d->subject = xstrdup (s->subject);
  d->data = xmalloc (s->len ? s->len : 1);
  memcpy (d->data, s->data, s->len);
  d->len = s->len;
}

static size_t
event_bytes (const struct journal_event *e)
{
  return strlen (e->id) + strlen (e->subject) + e->len + 64;
}

static ssize_t
ev_find (const struct journal_event *v, size_t n, const char *id)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (v[i].id, id) == 0)
      return (ssize_t) i;
  return -1;
}

/* Takes e's contents (a put of a known id replaces it, in place). */
static void
ev_put (struct journal_event **v, size_t *n, struct journal_event *e)
{
  ssize_t i = ev_find (*v, *n, e->id);
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
static void
ev_del (struct journal_event *v, size_t *n, const char *id)
{
  ssize_t i = ev_find (v, *n, id);
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
         && *e->id && e->agent_pid > 1 && e->agent_pid < INT_MAX && e->sandbox_uid < UINT32_MAX;
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
apply_evdel (cbor_item_t *ids, struct state *st)
{
  if (!cbor_isa_array (ids) || !cbor_array_is_definite (ids))
    return false;
  for (size_t i = 0; i < cbor_array_size (ids); i++)
    {
      bool ok = true;
      char *s = get_str (cbor_array_handle (ids)[i], &ok);
      if (!ok)
        return false;
      ev_del (st->ev, &st->n_ev, s);
      free (s);
    }
  return true;
}

/* One record: apply it to the live set. */
static bool
apply_record (const uint8_t *p, size_t n, struct state *st)
{
  struct cbor_load_result res;
  cbor_item_t *rec = cbor_load (p, n, &res);
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
        live_put (&st->w, &st->n_w, &e);
      else
        journal_entry_clear (&e);
    }
  else if (op && key_is (op, "del") && id)
    {
      bool sok = true;
      char *s = get_str (id, &sok);
      ok = sok;
      if (ok)
        live_del (st->w, &st->n_w, s);
      free (s);
    }
  else if (op && key_is (op, "ev") && ev)
    {
      struct journal_event e;
      memset (&e, 0, sizeof e);
      ok = decode_event (ev, &e);
      if (ok)
        ev_put (&st->ev, &st->n_ev, &e);
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

static void
state_free (struct state *st)
{
  journal_entries_free (st->w, st->n_w);
  journal_events_free (st->ev, st->n_ev);
  memset (st, 0, sizeof *st);
}

static int
parse (const uint8_t *p, size_t n, struct state *st, size_t *good_len, struct nxerr *err)
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
  state_free (st);
  return nxerr_set (err, EBADMSG, "journal record at byte %zu is corrupt", off);
}

int
journal_parse (const uint8_t *p, size_t n, struct journal_entry **entries, size_t *count,
               struct journal_event **events, size_t *n_events, size_t *good_len,
               struct nxerr *err)
{
  struct state st;
  int rc = parse (p, n, &st, good_len, err);
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

/* ---- the file ---- */

static int
read_all (int fd, struct buf *b, struct nxerr *err)
{
  for (;;)
    {
      ssize_t r;
      buf_reserve (b, 65536);
      r = read (fd, b->data + b->len, 65536);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return nxerr_sys (err, errno, "read journal");
      if (r == 0)
        return 0;
      b->len += (size_t) r;
      if (b->len > 512ull * 1024 * 1024)
        return nxerr_set (err, EFBIG, "journal larger than 512 MiB");
    }
}

static size_t
entry_bytes (const struct journal_entry *e)
{
  return strlen (e->request) + strlen (e->sock) + 256;
}

int
journal_open (const char *dir, struct journal **out, struct journal_entry **entries, size_t *n,
              struct buf *note, struct nxerr *err)
{
  struct journal *j = xcalloc (1, sizeof *j);
  cleanup_buf struct buf img = BUF_INIT;
  size_t good = 0;
  struct nxerr perr = { 0 };
  struct state st;
  snprintf (j->path, sizeof j->path, "%s/journal", dir);
  j->fd = open (j->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (j->fd < 0)
    {
      free (j);
      return nxerr_sys (err, errno, "open %s/journal", dir);
    }
  if (read_all (j->fd, &img, err) < 0)
    {
      close (j->fd);
      free (j);
      return -1;
    }
  if (parse ((const uint8_t *) img.data, img.len, &st, &good, &perr) < 0)
    {
      char aside[PATH_MAX + 64];
      struct timespec ts;
      clock_gettime (CLOCK_REALTIME, &ts);
      snprintf (aside, sizeof aside, "%s.corrupt-%lld", j->path,
                (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
      rename (j->path, aside);
      close (j->fd);
      buf_printf (note, "journal was corrupt (%s): moved aside to %s; starting empty", perr.msg,
                  aside);
      j->fd = open (j->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (j->fd < 0)
        {
          int e = errno;
          nxerr_sys (err, e, "recreate %s", j->path);
          free (j);
          return -1;
        }
      memset (&st, 0, sizeof st);
      good = 0;
    }
  else if (good < img.len)
    {
      buf_printf (note, "journal: dropped a torn last record (%zu bytes)", img.len - good);
      if (ftruncate (j->fd, (off_t) good) < 0)
        {
          int e = errno;
          state_free (&st);
          close (j->fd);
          free (j);
          return nxerr_sys (err, e, "truncate journal");
        }
    }
  *entries = st.w;
  *n = st.n_w;
  j->ev = st.ev; /* the journal keeps these; journal_events() shows them */
  j->n_ev = st.n_ev;
  for (size_t i = 0; i < j->n_ev; i++)
    j->live_bytes += event_bytes (&j->ev[i]);
  lseek (j->fd, (off_t) good, SEEK_SET);
  j->file_len = good;
  for (size_t i = 0; i < *n; i++)
    {
      struct journal_entry c;
      entry_copy (&c, &(*entries)[i]);
      j->live_bytes += entry_bytes (&c);
      live_put (&j->live, &j->n_live, &c);
    }
  *out = j;
  return 0;
}

static int
write_full (int fd, const char *p, size_t n, struct nxerr *err)
{
  while (n > 0)
    {
      ssize_t w = write (fd, p, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return nxerr_sys (err, errno, "write journal");
      p += w;
      n -= (size_t) w;
    }
  return 0;
}

/* Rewrite the log with only the live entries: temp, fsync, rename. */
static int
compact (struct journal *j, struct nxerr *err)
{
  char tmp[PATH_MAX + 8];
  cleanup_buf struct buf b = BUF_INIT;
  int fd;
  for (size_t i = 0; i < j->n_live; i++)
    {
      cbor_item_t *rec = cbor_new_definite_map (2);
      int rc;
      add (rec, "op", cbor_build_string ("put"));
      add (rec, "w", encode_workload (&j->live[i]));
      rc = frame_record (rec, &b, err);
      cbor_decref (&rec);
      if (rc < 0)
        return -1;
    }
  for (size_t i = 0; i < j->n_ev; i++)
    {
      cbor_item_t *rec = cbor_new_definite_map (2);
      int rc;
      add (rec, "op", cbor_build_string ("ev"));
      add (rec, "e", encode_event (&j->ev[i]));
      rc = frame_record (rec, &b, err);
      cbor_decref (&rec);
      if (rc < 0)
        return -1;
    }
  snprintf (tmp, sizeof tmp, "%s.tmp", j->path);
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return nxerr_sys (err, errno, "create %s", tmp);
  if (write_full (fd, b.data ? b.data : "", b.len, err) < 0 || fsync (fd) < 0
      || rename (tmp, j->path) < 0)
    {
      if (!err->msg[0])
        nxerr_sys (err, errno, "compact journal");
      close (fd);
      unlink (tmp);
      return -1;
    }
  close (j->fd);
  j->fd = fd;
  j->file_len = b.len;
  return 0;
}

static int
append (struct journal *j, cbor_item_t *rec, struct nxerr *err)
{
  cleanup_buf struct buf b = BUF_INIT;
  if (frame_record (rec, &b, err) < 0)
    return -1;
  if (write_full (j->fd, b.data, b.len, err) < 0)
    return -1;
  j->file_len += b.len;
  if (j->file_len > 4 * j->live_bytes + JOURNAL_SLACK)
    return compact (j, err);
  return 0;
}

int
journal_put (struct journal *j, const struct journal_entry *e, struct nxerr *err)
{
  cbor_item_t *rec = cbor_new_definite_map (2);
  struct journal_entry c;
  ssize_t i;
  int rc;
  add (rec, "op", cbor_build_string ("put"));
  add (rec, "w", encode_workload (e));
  rc = append (j, rec, err);
  cbor_decref (&rec);
  i = live_find (j->live, j->n_live, e->id);
  if (i >= 0)
    j->live_bytes -= entry_bytes (&j->live[i]);
  entry_copy (&c, e);
  j->live_bytes += entry_bytes (&c);
  live_put (&j->live, &j->n_live, &c);
  return rc;
}

int
journal_del (struct journal *j, const char *id, struct nxerr *err)
{
  cbor_item_t *rec;
  ssize_t i = live_find (j->live, j->n_live, id);
  int rc;
  if (i < 0)
    return 0;
  j->live_bytes -= entry_bytes (&j->live[i]);
  live_del (j->live, &j->n_live, id);
  rec = cbor_new_definite_map (2);
  add (rec, "op", cbor_build_string ("del"));
  add (rec, "id", cbor_build_string (id));
  rc = append (j, rec, err);
  cbor_decref (&rec);
  return rc;
}

int
journal_event_put (struct journal *j, const struct journal_event *e, struct nxerr *err)
{
  cbor_item_t *rec = cbor_new_definite_map (2);
  struct journal_event c;
  ssize_t i;
  int rc;
  add (rec, "op", cbor_build_string ("ev"));
  add (rec, "e", encode_event (e));
  rc = append (j, rec, err);
  cbor_decref (&rec);
  i = ev_find (j->ev, j->n_ev, e->id);
  if (i >= 0)
    j->live_bytes -= event_bytes (&j->ev[i]);
  event_copy (&c, e);
  j->live_bytes += event_bytes (&c);
  ev_put (&j->ev, &j->n_ev, &c);
  return rc;
}

int
journal_event_del (struct journal *j, const char *const *ids, size_t n, struct nxerr *err)
{
  cbor_item_t *rec, *arr;
  size_t known = 0;
  int rc;
  arr = cbor_new_definite_array (n);
  for (size_t k = 0; k < n; k++)
    {
      ssize_t i = ev_find (j->ev, j->n_ev, ids[k]);
      if (i < 0)
        continue;
      j->live_bytes -= event_bytes (&j->ev[i]);
      ev_del (j->ev, &j->n_ev, ids[k]);
      cbor_array_push (arr, cbor_move (cbor_build_string (ids[k])));
      known++;
    }
  if (known == 0)
    {
      cbor_decref (&arr);
      return 0;
    }
  rec = cbor_new_definite_map (2);
  add (rec, "op", cbor_build_string ("evdel"));
  add (rec, "ids", arr);
  rc = append (j, rec, err);
  cbor_decref (&rec);
  return rc;
}

size_t
journal_events (const struct journal *j, const struct journal_event **v)
{
  *v = j->ev;
  return j->n_ev;
}

void
journal_close (struct journal *j)
{
  if (j == NULL)
    return;
  close (j->fd);
  journal_entries_free (j->live, j->n_live);
  journal_events_free (j->ev, j->n_ev);
  free (j);
}
