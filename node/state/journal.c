/* journal (the store): the file <dir>/journal and the live set mirrored in
 * memory. Open reads the file whole and moves a corrupt one aside or
 * truncates a torn tail; put, del and the events' put and del each append
 * one record and update the set, from which the log is compacted (temp file,
 * fsync, rename) once dead records outweigh it. Only I/O and byte accounting
 * are here: the records' bytes, both ways, are journal_codec.c's, so this
 * file has no libcbor. */
#include "node/state/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/xalloc.h"
#include "node/state/journal_int.h"

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
  d->log_seq = s->log_seq;
  d->log_limit = s->log_limit;
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
  struct journal_state st;
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
  if (journal_state_parse ((const uint8_t *) img.data, img.len, &st, &good, &perr) < 0)
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
          journal_state_free (&st);
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
      journal_live_put (&j->live, &j->n_live, &c);
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
    if (journal_record_put (&j->live[i], &b, err) < 0)
      return -1;
  for (size_t i = 0; i < j->n_ev; i++)
    if (journal_record_ev (&j->ev[i], &b, err) < 0)
      return -1;
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

/* Write one framed record (journal_record_*) at the end of the log. */
static int
append (struct journal *j, const struct buf *b, struct nxerr *err)
{
  if (write_full (j->fd, b->data, b->len, err) < 0)
    return -1;
  j->file_len += b->len;
  if (j->file_len > 4 * j->live_bytes + JOURNAL_SLACK)
    return compact (j, err);
  return 0;
}

int
journal_put (struct journal *j, const struct journal_entry *e, struct nxerr *err)
{
  cleanup_buf struct buf b = BUF_INIT;
  struct journal_entry c;
  ssize_t i;
  int rc = journal_record_put (e, &b, err);
  /* The set first: an append may compact the log from it, and the entry
   * being put must be in what is written. */
  i = journal_live_find (j->live, j->n_live, e->id);
  if (i >= 0)
    j->live_bytes -= entry_bytes (&j->live[i]);
  entry_copy (&c, e);
  j->live_bytes += entry_bytes (&c);
  journal_live_put (&j->live, &j->n_live, &c);
  return rc == 0 ? append (j, &b, err) : rc;
}

int
journal_del (struct journal *j, const char *id, struct nxerr *err)
{
  cleanup_buf struct buf b = BUF_INIT;
  ssize_t i = journal_live_find (j->live, j->n_live, id);
  if (i < 0)
    return 0;
  j->live_bytes -= entry_bytes (&j->live[i]);
  journal_live_del (j->live, &j->n_live, id);
  if (journal_record_del (id, &b, err) < 0)
    return -1;
  return append (j, &b, err);
}

int
journal_event_put (struct journal *j, const struct journal_event *e, struct nxerr *err)
{
  cleanup_buf struct buf b = BUF_INIT;
  struct journal_event c;
  ssize_t i;
  int rc = journal_record_ev (e, &b, err);
  /* The set first, as in journal_put. */
  i = journal_ev_find (j->ev, j->n_ev, e->id);
  if (i >= 0)
    j->live_bytes -= event_bytes (&j->ev[i]);
  event_copy (&c, e);
  j->live_bytes += event_bytes (&c);
  journal_ev_put (&j->ev, &j->n_ev, &c);
  return rc == 0 ? append (j, &b, err) : rc;
}

int
journal_event_del (struct journal *j, const char *const *ids, size_t n, struct nxerr *err)
{
  cleanup_buf struct buf b = BUF_INIT;
  cleanup_free const char **del = xcalloc (n ? n : 1, sizeof *del);
  size_t known = 0;
  for (size_t k = 0; k < n; k++)
    {
      ssize_t i = journal_ev_find (j->ev, j->n_ev, ids[k]);
      if (i < 0)
        continue;
      j->live_bytes -= event_bytes (&j->ev[i]);
      journal_ev_del (j->ev, &j->n_ev, ids[k]);
      del[known++] = ids[k];
    }
  if (known == 0)
    return 0;
  if (journal_record_evdel (del, known, &b, err) < 0)
    return -1;
  return append (j, &b, err);
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
