#include "node/sandbox/uidrange.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/timefmt.h"
#include "api/xalloc.h"

#define UID_NOBODY 65534u
#define UID_INVALID 0xffffffffu
#define SETTLE_POLL_MS 50
#define RECLAIM_MAX 16 /* blocks of a previous run looked at, at most */

static bool
bit_get (const uint8_t *v, uint32_t i)
{
  return (v[i >> 3] >> (i & 7)) & 1u;
}

static void
bit_set (uint8_t *v, uint32_t i, bool on)
{
  if (on)
    v[i >> 3] = (uint8_t) (v[i >> 3] | (1u << (i & 7)));
  else
    v[i >> 3] = (uint8_t) (v[i >> 3] & ~(1u << (i & 7)));
}

int
uidrange_check (uint32_t start, uint32_t count, struct nxerr *err)
{
  if (count == 0 || count > UIDRANGE_MAX_COUNT)
    return nxerr_set (err, EINVAL, "uid_range.count: %u is out of range [1, %u]", count,
                      UIDRANGE_MAX_COUNT);
  if (start == 0)
    return nxerr_set (err, EINVAL, "uid_range.start: 0 (root) cannot be a sandbox uid");
  if ((uint64_t) start + count > UID_INVALID)
    return nxerr_set (err, EINVAL, "uid_range: %u + %u goes past the last valid uid", start,
                      count);
  return 0;
}

bool
uidrange_contains (const struct uidrange *r, uint32_t uid)
{
  return r->count > 0 && uid >= r->start && uid - r->start < r->count;
}

/* ---- blocks: index b of r->blocks is block r->first + b ---- */

static uint32_t
block_of (const struct uidrange *r, uint32_t uid)
{
  return uid / UIDBLOCK_SIZE - r->first;
}

static uint32_t
block_start (const struct uidrange *r, uint32_t b)
{
  return (r->first + b) * UIDBLOCK_SIZE;
}

/* The part of block b inside the range: [*lo, *lo + n). */
static uint32_t
span (const struct uidrange *r, uint32_t b, uint32_t *lo)
{
  uint64_t s = block_start (r, b), e = s + UIDBLOCK_SIZE;
  uint64_t rs = r->start, re = (uint64_t) r->start + r->count;
  s = s > rs ? s : rs;
  e = e < re ? e : re;
  *lo = (uint32_t) s;
  return (uint32_t) (e - s);
}

static uint32_t
free_in (const struct uidrange *r, uint32_t b)
{
  uint32_t lo, n = span (r, b, &lo), used = 0;
  for (uint32_t i = 0; i < n; i++)
    used += bit_get (r->used, lo + i - r->start);
  return n - used;
}

static bool
is_reserved (uint32_t uid, uint32_t own_uid)
{
  return uid == own_uid || uid == UID_NOBODY;
}

static void
reserve (struct uidrange *r, uint32_t uid)
{
  if (uidrange_contains (r, uid) && !bit_get (r->used, uid - r->start))
    {
      bit_set (r->used, uid - r->start, true);
      r->reserved++;
    }
}

int
uidrange_init (struct uidrange *r, const struct uidrange_opts *o, struct nxerr *err)
{
  memset (r, 0, sizeof *r);
  r->dir.fd = -1;
  if (uidrange_check (o->start, o->count, err) < 0)
    return -1;
  r->start = o->start;
  r->count = o->count;
  r->first = o->start / UIDBLOCK_SIZE;
  r->n_blocks = (o->start + o->count - 1) / UIDBLOCK_SIZE - r->first + 1;
  r->used = xcalloc ((o->count + 7) / 8, 1);
  r->blocks = xcalloc (r->n_blocks, sizeof *r->blocks);
  for (uint32_t b = 0; b < r->n_blocks; b++)
    r->blocks[b].fd = -1;
  r->own_uid = o->own_uid;
  snprintf (r->who, sizeof r->who, "%s", o->who ? o->who : "nexc-node");
  snprintf (r->proc_dir, sizeof r->proc_dir, "%s", o->proc_dir ? o->proc_dir : "/proc");
  reserve (r, o->own_uid);
  reserve (r, UID_NOBODY);
  if (r->reserved == r->count)
    {
      nxerr_set (err, EINVAL, "uid_range: no usable uid (the range holds only %s)",
                 o->own_uid == o->start ? "the node's own uid" : "uid 65534 (nobody)");
      uidrange_free (r);
      return -1;
    }
  for (uint32_t b = 0; b < r->n_blocks; b++)
    r->blocks[b].size = free_in (r, b);
  if (uidblock_dir_open (o->lock_dir, &r->dir, err) < 0)
    {
      uidrange_free (r);
      return -1;
    }
  return 0;
}

static void
give_back (struct uidrange *r, uint32_t b)
{
  struct uidrange_block *k = &r->blocks[b];
  uidblock_unlock (&r->dir, block_start (r, b), k->fd);
  k->fd = -1;
  r->held--;
  if (k->no_new)
    r->held_no_new--;
  k->no_new = false;
}

void
uidrange_free (struct uidrange *r)
{
  for (uint32_t b = 0; r->blocks && b < r->n_blocks; b++)
    if (r->blocks[b].fd >= 0)
      give_back (r, b);
  uidblock_dir_close (&r->dir);
  free (r->blocks);
  free (r->used);
  r->blocks = NULL;
  r->used = NULL;
  r->count = 0;
  r->n_blocks = 0;
}

/* ---- who runs with the range's ids (/proc) ---- */

/* Per block: the first process found running with an id of it that this
 * node did not hand out (pid 0: none). */
struct busy {
  int pid;
  uint32_t id;
};

struct scan {
  const struct uidrange *r;
  struct busy *busy;
};

static void
on_id (void *ud, int pid, uint32_t id)
{
  struct scan *s = ud;
  uint32_t b = block_of (s->r, id);
  /* Our own sandboxes, adopted ones included, and the ids never handed out
   * (nobody) do not make a block busy. */
  if (bit_get (s->r->used, id - s->r->start) || s->busy[b].pid)
    return;
  s->busy[b].pid = pid;
  s->busy[b].id = id;
}

static void
scan_busy (const struct uidrange *r, struct busy *busy)
{
  struct scan s = { r, busy };
  memset (busy, 0, r->n_blocks * sizeof *busy);
  uidrange_scan_proc_each (r->proc_dir, r->start, r->count, on_id, &s);
}

/* ---- taking a block ---- */

/* What a block search passed over, for its messages. */
struct search {
  uint32_t others, busy, unusable;
  char other_ex[2][192];
  char busy_ex[96];
  char unusable_ex[192];
};

static void
note_other (struct search *s, const struct uidrange *r, uint32_t b,
            const struct lockfile_holder *h)
{
  char who[128];
  if (s->others < 2)
    {
      lockfile_holder_text (h, who, sizeof who);
      snprintf (s->other_ex[s->others], sizeof s->other_ex[0], "%u-%u by %s", block_start (r, b),
                block_start (r, b) + UIDBLOCK_SIZE - 1, who);
    }
  s->others++;
}

static void
note_busy (struct search *s, const struct busy *x)
{
  if (s->busy++ == 0)
    snprintf (s->busy_ex, sizeof s->busy_ex, "pid %d runs as uid %u", x->pid, x->id);
}

static void
note_unusable (struct search *s, const struct nxerr *e)
{
  if (s->unusable++ == 0)
    snprintf (s->unusable_ex, sizeof s->unusable_ex, "%s", e->msg);
}

/* "1 block held by another node (...); 2 busy with ... (...)", or "". */
static void
search_text (const struct search *s, char *out, size_t cap)
{
  size_t n = 0;
  out[0] = '\0';
  if (s->others)
    n += (size_t) snprintf (out + n, cap - n, "%u block%s held by %s (%s%s%s%s)", s->others,
                            s->others > 1 ? "s" : "",
                            s->others > 1 ? "other nodes" : "another node", s->other_ex[0],
                            s->others > 1 ? ", " : "", s->others > 1 ? s->other_ex[1] : "",
                            s->others > 2 ? ", ..." : "");
  if (s->busy && n < cap)
    n += (size_t) snprintf (out + n, cap - n,
                            "%s%u busy with processes no node accounts for (%s)", n ? "; " : "",
                            s->busy, s->busy_ex);
  if (s->unusable && n < cap)
    snprintf (out + n, cap - n, "%s%u not usable (%s)", n ? "; " : "", s->unusable,
              s->unusable_ex);
}

static int
exhausted (struct uidrange *r, const struct search *s, struct nxerr *err)
{
  char text[400], mine[64];
  search_text (s, text, sizeof text);
  if (r->held)
    snprintf (mine, sizeof mine, "holds %u block%s (%u uids in use)", r->held,
              r->held == 1 ? "" : "s", r->in_use);
  else
    snprintf (mine, sizeof mine, "holds none");
  return nxerr_set (err, ENOSPC,
                    "uid_range %u-%u (%u block%s of %u): no free uid: this node %s%s%s",
                    r->start, r->start + r->count - 1, r->n_blocks, r->n_blocks == 1 ? "" : "s",
                    UIDBLOCK_SIZE, mine, text[0] ? "; " : "", text);
}

/* Lock block b and make sure no process runs with its ids; busy is the last
 * scan (pid 0 everywhere before the first, *scanned false). 0: b is ours. */
static int
try_block (struct uidrange *r, uint32_t b, struct busy *busy, bool *scanned, struct search *s)
{
  struct lockfile_holder h;
  struct nxerr e = { 0 };
  int fd;
  /* Locked without saying so: a block found busy goes back as it was, its
   * file still naming the crashed node whose survivors hold it. */
  if (uidblock_lock (&r->dir, block_start (r, b), NULL, &fd, &h, &e) < 0)
    {
      if (e.code == EAGAIN)
        note_other (s, r, b, &h);
      else
        note_unusable (s, &e);
      return -1;
    }
  /* Scan after locking: from now on only the crashed holders' survivors can
   * run with its ids, and they are already there. A block an earlier scan
   * found busy is not scanned again. */
  if (!*scanned || busy[b].pid == 0)
    {
      scan_busy (r, busy);
      *scanned = true;
    }
  if (busy[b].pid == 0)
    {
      lockfile_rewrite (fd, r->who);
      r->blocks[b].fd = fd;
      r->held++;
      return 0;
    }
  note_busy (s, &busy[b]);
  uidblock_give_back (&r->dir, block_start (r, b), fd);
  return -1;
}

static int
take_block (struct uidrange *r, uint32_t *out, struct nxerr *err)
{
  struct search s;
  struct busy *busy = xcalloc (r->n_blocks, sizeof *busy);
  bool scanned = false;
  memset (&s, 0, sizeof s);
  for (uint32_t b = 0; b < r->n_blocks; b++)
    {
      if (r->blocks[b].fd >= 0 || r->blocks[b].in_use >= r->blocks[b].size)
        continue;
      if (try_block (r, b, busy, &scanned, &s) == 0)
        {
          search_text (&s, r->note, sizeof r->note);
          free (busy);
          *out = b;
          return 0;
        }
    }
  free (busy);
  return exhausted (r, &s, err);
}

/* ---- uids ---- */

/* A free uid of block b, round-robin from its cursor. */
static bool
pick (struct uidrange *r, uint32_t b, uint32_t *uid)
{
  struct uidrange_block *k = &r->blocks[b];
  uint32_t lo, n = span (r, b, &lo);
  for (uint32_t j = 0; j < n; j++)
    {
      uint32_t i = (k->next + j) % n;
      if (!bit_get (r->used, lo + i - r->start))
        {
          bit_set (r->used, lo + i - r->start, true);
          k->in_use++;
          r->in_use++;
          k->next = (i + 1) % n;
          *uid = lo + i;
          return true;
        }
    }
  return false;
}

int
uidrange_alloc (struct uidrange *r, uint32_t *uid, struct nxerr *err)
{
  uint32_t b;
  for (b = 0; b < r->n_blocks; b++)
    {
      const struct uidrange_block *k = &r->blocks[b];
      if (k->fd >= 0 && !k->no_new && k->in_use < k->size && pick (r, b, uid))
        return 0;
    }
  if (take_block (r, &b, err) < 0)
    return -1;
  if (!pick (r, b, uid))
    return nxerr_set (err, ENOSPC, "uid block %u: no free uid", block_start (r, b));
  return 0;
}

/* Whether a held block other than b, from which uids may be handed out,
 * has none in use. A node keeps one such empty block: the floor when it is
 * the only one held, and no lock + /proc scan + unlink per spawn for a node
 * whose load hovers at a block boundary. Only looked at when a block
 * empties. */
static bool
another_empty (const struct uidrange *r, uint32_t b)
{
  for (uint32_t i = 0; i < r->n_blocks; i++)
    if (i != b && r->blocks[i].fd >= 0 && !r->blocks[i].no_new && r->blocks[i].in_use == 0)
      return true;
  return false;
}

void
uidrange_release (struct uidrange *r, uint32_t uid)
{
  struct uidrange_block *k;
  uint32_t b;
  if (!uidrange_contains (r, uid) || !bit_get (r->used, uid - r->start)
      || is_reserved (uid, r->own_uid) || r->in_use == 0)
    return;
  b = block_of (r, uid);
  k = &r->blocks[b];
  bit_set (r->used, uid - r->start, false);
  r->in_use--;
  if (k->in_use > 0)
    k->in_use--;
  if (k->fd >= 0 && k->in_use == 0 && (k->no_new || another_empty (r, b)))
    give_back (r, b);
}

int
uidrange_adopt (struct uidrange *r, uint32_t uid, struct nxerr *err)
{
  struct uidrange_block *k;
  struct nxerr e = { 0 };
  int fd;
  if (!uidrange_contains (r, uid) || bit_get (r->used, uid - r->start))
    return nxerr_set (err, EEXIST, "uid %u: not in uid_range %u-%u, or already taken", uid,
                      r->start, r->start + r->count - 1);
  k = &r->blocks[block_of (r, uid)];
  bit_set (r->used, uid - r->start, true);
  k->in_use++;
  r->in_use++;
  if (k->fd >= 0)
    return 0;
  if (uidblock_lock (&r->dir, uidblock_start (uid), r->who, &fd, NULL, &e) < 0)
    {
      nxerr_set (err, e.code, "uid %u: its block is not this node's any more: %s", uid, e.msg);
      return 1;
    }
  k->fd = fd;
  r->held++;
  return 0;
}

static void
sleep_ms (int ms)
{
  struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* Held blocks (not yet no_new) in which busy shows a foreign process. */
static size_t
count_stale (const struct uidrange *r, const struct busy *busy)
{
  size_t n = 0;
  for (uint32_t b = 0; b < r->n_blocks; b++)
    n += r->blocks[b].fd >= 0 && !r->blocks[b].no_new && busy[b].pid;
  return n;
}

size_t
uidrange_settle (struct uidrange *r, int wait_ms, char *note, size_t cap)
{
  struct busy *busy;
  uint64_t deadline = timefmt_mono_ns () + (uint64_t) (wait_ms > 0 ? wait_ms : 0) * 1000000ull;
  size_t stale, n = 0;
  if (note && cap)
    note[0] = '\0';
  if (r->held == 0)
    return 0;
  busy = xcalloc (r->n_blocks, sizeof *busy);
  /* Right after a crash the previous run's sandboxes may still be dying
   * (their namespaces are torn down after the node): give them a moment. */
  for (scan_busy (r, busy); (stale = count_stale (r, busy)) > 0 && timefmt_mono_ns () < deadline;
       scan_busy (r, busy))
    sleep_ms (SETTLE_POLL_MS);
  for (uint32_t b = 0; stale && b < r->n_blocks; b++)
    {
      struct uidrange_block *k = &r->blocks[b];
      if (k->fd < 0 || k->no_new || busy[b].pid == 0)
        continue;
      k->no_new = true;
      r->held_no_new++;
      if (n++ == 0 && note && cap)
        snprintf (note, cap,
                  "uids %u-%u serve the sandboxes reattached to only: pid %d runs as uid %u, "
                  "which this node did not hand out",
                  block_start (r, b), block_start (r, b) + UIDBLOCK_SIZE - 1, busy[b].pid,
                  busy[b].id);
    }
  free (busy);
  return n;
}

/* A lock file name that is a block of the range: its index, or -1. */
static long
block_named (const struct uidrange *r, const char *name)
{
  char *end;
  unsigned long v;
  if (name[0] < '0' || name[0] > '9' || (name[0] == '0' && name[1]))
    return -1;
  errno = 0;
  v = strtoul (name, &end, 10);
  if (errno || *end || v > UINT32_MAX || v % UIDBLOCK_SIZE || v / UIDBLOCK_SIZE < r->first
      || v / UIDBLOCK_SIZE - r->first >= r->n_blocks)
    return -1;
  return (long) (v / UIDBLOCK_SIZE - r->first);
}

/* Blocks not held whose files name this node: locked (their files left as
 * they are), up to max; returns how many, indexes in bs and fds in fds. */
static size_t
lock_previous (struct uidrange *r, uint32_t *bs, int *fds, size_t max)
{
  int dfd = dup (r->dir.fd);
  DIR *d = dfd >= 0 ? fdopendir (dfd) : NULL;
  struct dirent *e;
  size_t n = 0;
  if (d == NULL)
    {
      if (dfd >= 0)
        close (dfd);
      return 0;
    }
  while (n < max && (e = readdir (d)) != NULL)
    {
      struct lockfile_holder h;
      struct nxerr err = { 0 };
      long b = block_named (r, e->d_name);
      int fd;
      /* Peek first: the files of other nodes are not even locked for a
       * moment (a node trying one then would pass it over). */
      if (b < 0 || r->blocks[b].fd >= 0 || lockfile_peek (r->dir.fd, e->d_name, &h) < 0
          || strcmp (h.node, r->who) != 0)
        continue;
      if (uidblock_lock (&r->dir, block_start (r, (uint32_t) b), NULL, &fd, NULL, &err) < 0)
        continue;
      lockfile_read_holder (fd, &h);
      if (strcmp (h.node, r->who) != 0)
        {
          uidblock_give_back (&r->dir, block_start (r, (uint32_t) b), fd);
          continue;
        }
      bs[n] = (uint32_t) b;
      fds[n++] = fd;
    }
  closedir (d);
  return n;
}

size_t
uidrange_reclaim (struct uidrange *r, int wait_ms)
{
  uint32_t bs[RECLAIM_MAX];
  int fds[RECLAIM_MAX];
  size_t n = lock_previous (r, bs, fds, RECLAIM_MAX), kept = 0, keep;
  uint64_t deadline = timefmt_mono_ns () + (uint64_t) (wait_ms > 0 ? wait_ms : 0) * 1000000ull;
  struct busy *busy;
  bool any;
  if (n == 0)
    return 0;
  keep = n;
  busy = xcalloc (r->n_blocks, sizeof *busy);
  /* The previous run's sandboxes are being stopped (orphans, warm agents
   * whose parent died): a moment for them to go. */
  for (;;)
    {
      scan_busy (r, busy);
      any = false;
      for (size_t i = 0; i < n; i++)
        any |= busy[bs[i]].pid != 0;
      if (!any || timefmt_mono_ns () >= deadline)
        break;
      sleep_ms (SETTLE_POLL_MS);
    }
  /* The lowest free one is kept: the one a fresh node would take first. */
  for (size_t i = 0; i < n; i++)
    if (busy[bs[i]].pid == 0 && (keep == n || bs[i] < bs[keep]))
      keep = i;
  for (size_t i = 0; i < n; i++)
    {
      uint32_t b = bs[i];
      if (busy[b].pid != 0)
        uidblock_give_back (&r->dir, block_start (r, b), fds[i]); /* still names us: rightly */
      else if (i == keep && r->held == 0)
        {
          lockfile_rewrite (fds[i], r->who);
          r->blocks[b].fd = fds[i];
          r->held++;
          kept++;
        }
      else
        uidblock_unlock (&r->dir, block_start (r, b), fds[i]);
    }
  free (busy);
  return kept;
}

uint32_t
uidrange_available (const struct uidrange *r)
{
  uint32_t n = 0;
  for (uint32_t b = 0; b < r->n_blocks; b++)
    if (r->blocks[b].fd >= 0 && !r->blocks[b].no_new)
      n += r->blocks[b].size - r->blocks[b].in_use;
  return n;
}

size_t
uidrange_held (const struct uidrange *r, uint32_t *starts, size_t max)
{
  size_t n = 0;
  for (uint32_t b = 0; b < r->n_blocks; b++)
    if (r->blocks[b].fd >= 0 && n++ < max)
      starts[n - 1] = block_start (r, b);
  return n;
}

const char *
uidrange_lock_dir (const struct uidrange *r)
{
  return r->dir.path;
}
