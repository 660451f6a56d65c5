#include "node/state/replay.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/buf.h"
#include "api/log.h"
#include "api/xalloc.h"

#define RECORD 24 /* key[16], expires (int64, big-endian) */

struct entry {
  uint8_t key[16];
  int64_t expires;
};

struct replay {
  struct entry *slots; /* open addressing; key all-zero = empty */
  size_t cap, used;
  int fd;              /* <state>/replay, append only; -1: memory only */
  char *path;
  size_t file_records; /* records in the file, live or not */
  bool write_failed;   /* said once in the log */
};

struct replay *
replay_new (void)
{
  struct replay *r = xcalloc (1, sizeof *r);
  r->cap = 1024;
  r->slots = xcalloc (r->cap, sizeof *r->slots);
  r->fd = -1;
  return r;
}

void
replay_free (struct replay *r)
{
  if (r == NULL)
    return;
  if (r->fd >= 0)
    close (r->fd);
  free (r->path);
  free (r->slots);
  free (r);
}

static bool
empty (const struct entry *e)
{
  static const uint8_t zero[16];
  return memcmp (e->key, zero, 16) == 0;
}

static void
insert (struct entry *slots, size_t cap, const struct entry *e)
{
  size_t i;
  memcpy (&i, e->key, sizeof i);
  for (i %= cap; !empty (&slots[i]); i = (i + 1) % cap)
    ;
  slots[i] = *e;
}

/* Rebuild without expired entries, growing when still crowded. */
static void
rebuild (struct replay *r, int64_t now)
{
  size_t live = 0, cap;
  struct entry *slots;
  for (size_t i = 0; i < r->cap; i++)
    if (!empty (&r->slots[i]) && r->slots[i].expires >= now)
      live++;
  cap = r->cap;
  while (live * 2 >= cap)
    cap *= 2;
  slots = xcalloc (cap, sizeof *slots);
  for (size_t i = 0; i < r->cap; i++)
    if (!empty (&r->slots[i]) && r->slots[i].expires >= now)
      insert (slots, cap, &r->slots[i]);
  free (r->slots);
  r->slots = slots;
  r->cap = cap;
  r->used = live;
}

/* ---- the file ---- */

static void
encode (const struct entry *e, uint8_t out[RECORD])
{
  uint64_t x = (uint64_t) e->expires;
  memcpy (out, e->key, 16);
  for (int i = 0; i < 8; i++)
    out[16 + i] = (uint8_t) (x >> (56 - 8 * i));
}

static void
decode (const uint8_t in[RECORD], struct entry *e)
{
  uint64_t x = 0;
  memcpy (e->key, in, 16);
  for (int i = 0; i < 8; i++)
    x = x << 8 | in[16 + i];
  e->expires = (int64_t) x;
}

static int
write_all (int fd, const void *p, size_t n)
{
  const uint8_t *b = p;
  while (n)
    {
      ssize_t w = write (fd, b, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return -1;
      b += w;
      n -= (size_t) w;
    }
  return 0;
}

/* Rewrite the file with the live entries (temp, fsync, rename) and append
 * to the new one. */
static int
compact (struct replay *r, struct nxerr *err)
{
  char tmp[PATH_MAX];
  cleanup_buf struct buf b = BUF_INIT;
  size_t n = 0;
  int fd;
  for (size_t i = 0; i < r->cap; i++)
    if (!empty (&r->slots[i]))
      {
        uint8_t rec[RECORD];
        encode (&r->slots[i], rec);
        buf_append (&b, rec, RECORD);
        n++;
      }
  snprintf (tmp, sizeof tmp, "%s.tmp", r->path);
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return nxerr_sys (err, errno, "create %s", tmp);
  if (write_all (fd, b.data ? b.data : "", b.len) < 0 || fsync (fd) < 0 || rename (tmp, r->path) < 0)
    {
      int e = errno;
      close (fd);
      unlink (tmp);
      return nxerr_sys (err, e, "write %s", r->path);
    }
  if (r->fd >= 0)
    close (r->fd);
  r->fd = fd;
  r->file_records = n;
  return 0;
}

int
replay_open (struct replay *r, const char *state_dir, int64_t now, struct nxerr *err)
{
  cleanup_buf struct buf b = BUF_INIT;
  struct stat st;
  int fd;
  free (r->path);
  if (asprintf (&r->path, "%s/replay", state_dir) < 0)
    abort ();
  fd = open (r->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno != ENOENT)
    return nxerr_sys (err, errno, "open %s", r->path);
  if (fd >= 0)
    {
      if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
          || (size_t) st.st_size > (size_t) REPLAY_MAX * 2 * RECORD)
        {
          close (fd);
          return nxerr_set (err, EINVAL, "%s: not a replay file of at most %d records", r->path,
                            REPLAY_MAX * 2);
        }
      buf_reserve (&b, (size_t) st.st_size + 1);
      for (;;)
        {
          ssize_t n = read (fd, b.data + b.len, (size_t) st.st_size + 1 - b.len);
          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            break;
          b.len += (size_t) n;
          if (b.len > (size_t) st.st_size)
            break;
        }
      close (fd);
      /* Whole records only: a torn tail is a write the node died in. */
      for (size_t off = 0; off + RECORD <= b.len && r->used < REPLAY_MAX; off += RECORD)
        {
          struct entry e;
          decode ((const uint8_t *) b.data + off, &e);
          if (empty (&e) || e.expires < now)
            continue;
          if ((r->used + 1) * 4 >= r->cap * 3)
            rebuild (r, now);
          insert (r->slots, r->cap, &e);
          r->used++;
        }
    }
  return compact (r, err);
}

/* Remember e on disk before the token it stands for is acted on. A failed
 * write is logged once and the token still accepted: the cache in memory
 * holds it, only a restart would forget it. */
static void
persist (struct replay *r, const struct entry *e, int64_t now)
{
  uint8_t rec[RECORD];
  struct nxerr err = { 0 };
  if (r->fd < 0)
    return;
  encode (e, rec);
  if (write_all (r->fd, rec, RECORD) < 0)
    {
      if (!r->write_failed)
        log_error ("replay cache: cannot append to %s (%s): tokens accepted from now on are "
                   "forgotten by a restart",
                   r->path, strerror (errno));
      r->write_failed = true;
      return;
    }
  r->file_records++;
  /* Mostly expired: rewrite (live records only). */
  if (r->file_records > 4096 && r->file_records > 4 * r->used)
    {
      rebuild (r, now);
      if (compact (r, &err) < 0)
        log_warn ("replay cache: %s", err.msg);
    }
}

int
replay_check (struct replay *r, const struct jwt_claims *c, int64_t now, struct nxerr *err)
{
  struct entry e;
  size_t i;
  if (c->iat > now + REPLAY_SKEW_S)
    return nxerr_set (err, EINVAL, "JWT issued in the future (iat %lld)", (long long) c->iat);
  if (c->iat < now - REPLAY_WINDOW_S)
    return nxerr_set (err, EINVAL,
                      "JWT is older than %d seconds (iat %lld): mint a fresh one",
                      REPLAY_WINDOW_S, (long long) c->iat);
  crypto_generichash (e.key, sizeof e.key, c->sig, sizeof c->sig, NULL, 0);
  e.key[0] |= 1; /* never all-zero */
  e.expires = c->iat + REPLAY_WINDOW_S + REPLAY_SKEW_S;
  if (c->exp > 0 && c->exp < e.expires)
    e.expires = c->exp;
  memcpy (&i, e.key, sizeof i);
  for (i %= r->cap; !empty (&r->slots[i]); i = (i + 1) % r->cap)
    if (memcmp (r->slots[i].key, e.key, 16) == 0 && r->slots[i].expires >= now)
      return nxerr_set (err, EALREADY, "JWT has been used before (replay refused)");
  if ((r->used + 1) * 4 >= r->cap * 3)
    rebuild (r, now);
  if (r->used >= REPLAY_MAX)
    return nxerr_set (err, EBUSY, "too many recent JWTs to track; retry later");
  insert (r->slots, r->cap, &e);
  r->used++;
  persist (r, &e, now);
  return 0;
}
