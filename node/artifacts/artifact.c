#include "node/artifacts/artifact.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "api/b64.h"
#include "api/jsonw.h"
#include "api/log.h"
#include "api/objstore.h"
#include "api/xalloc.h"
#include "node/artifacts/objview.h"
#include "node/core/identity.h"
#include "node/core/node.h"

struct fetch_job {
  struct fetch_job *next;
  struct artifact_cache *cache;
  char *bucket, *key, *jsdomain;
  uint64_t max_size;
  char expect_hex[65];
  artifact_done_fn done;
  void *ud;
  struct artifact_result res;
};

struct artifact_cache {
  struct node *node;
  struct objview *view;
  uint64_t by_view, asked_store; /* artifact_get's decisions (loop thread) */
  char dir[PATH_MAX];
  int dirfd;
  pthread_t thread;
  bool thread_started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct fetch_job *head, *tail;
  bool quit;
};

/* What the store says of the object against what the deploy asks: the
 * same words whether the view or the fetcher found it out. */
static int
check_object (uint64_t size, const char *hex, uint64_t max_size, const char *expect_hex,
              struct nxerr *err)
{
  if (max_size && size > max_size)
    return nxerr_set (err, EFBIG, "object is %llu bytes, over the limit of %llu",
                      (unsigned long long) size, (unsigned long long) max_size);
  /* Refuse before downloading when the object is not what the JWT names. */
  if (expect_hex && expect_hex[0] && hex[0] && strcmp (hex, expect_hex) != 0)
    return nxerr_set (err, EBADMSG,
                      "artifact digest sha256 %s does not match the workload JWT hash claim %s",
                      hex, expect_hex);
  return 0;
}

bool
artifact_hex_ok (const char *s)
{
  size_t i;
  for (i = 0; s[i]; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return i == 64;
}

int
artifact_cache_open (struct artifact_cache *c, const char *hex, uint64_t *size)
{
  struct stat st;
  int fd;
  if (!artifact_hex_ok (hex))
    return -1;
  fd = openat (c->dirfd, hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return -1;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      return -1;
    }
  *size = (uint64_t) st.st_size;
  /* Files cached by an older build are 0500: make them executable by the
   * sandbox uids too. */
  if ((st.st_mode & 07777) != 0555)
    fchmod (fd, 0555);
  /* Touch for LRU eviction. */
  futimens (fd, NULL);
  return fd;
}

/* Remove least recently used files until the cache fits its budget. */
static void
evict (struct artifact_cache *c, uint64_t budget)
{
  for (;;)
    {
      DIR *d = opendir (c->dir);
      struct dirent *e;
      uint64_t total = 0;
      char oldest[NAME_MAX + 1] = "";
      struct timespec oldest_t = { 0, 0 };
      if (d == NULL)
        return;
      while ((e = readdir (d)))
        {
          struct stat st;
          if (!artifact_hex_ok (e->d_name) || fstatat (c->dirfd, e->d_name, &st, 0) < 0)
            continue;
          total += (uint64_t) st.st_size;
          if (oldest[0] == '\0' || st.st_mtim.tv_sec < oldest_t.tv_sec
              || (st.st_mtim.tv_sec == oldest_t.tv_sec && st.st_mtim.tv_nsec < oldest_t.tv_nsec))
            {
              snprintf (oldest, sizeof oldest, "%s", e->d_name);
              oldest_t = st.st_mtim;
            }
        }
      closedir (d);
      if (total <= budget || oldest[0] == '\0')
        return;
      log_info ("artifact cache over budget (%llu > %llu bytes): evicting %s",
                (unsigned long long) total, (unsigned long long) budget, oldest);
      unlinkat (c->dirfd, oldest, 0);
    }
}

struct sink {
  int fd;
  uint64_t written;
};

static int
write_chunk (const void *data, size_t len, void *ud, struct nxerr *err)
{
  struct sink *s = ud;
  const char *p = data;
  while (len > 0)
    {
      ssize_t w = write (s->fd, p, len);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return nxerr_sys (err, errno, "write artifact");
      p += w;
      len -= (size_t) w;
      s->written += (uint64_t) w;
    }
  return 0;
}

/* A download delivered before it was made durable: the fetcher makes it
 * a cache entry after the deploy has its fd. */
struct keep {
  bool pending;
  int fd; /* read-only, for fsync */
  char tmp[PATH_MAX];
  char hex[65];
};

/* Fetcher thread: the whole download of one job. The deploy gets a
 * read-only fd of the verified file at once (the content is what the digest
 * covered, in the page cache); it becomes the cache entry <hex> only after
 * its fsync (finish_keep), so a crash never leaves a cache entry that is not
 * the object. */
static void
run_job (struct fetch_job *j, struct keep *k)
{
  struct artifact_cache *c = j->cache;
  struct node *n = c->node;
  struct objstore_info info;
  struct objstore_opts o = { 0 };
  struct nxerr *err = &j->res.err;
  char tmp[PATH_MAX];
  char hex[65];
  struct sink s = { -1, 0 };

  j->res.fd = -1;
  o.jsdomain = j->jsdomain;
  o.max_size = j->max_size;
  o.timeout_ms = 5000;
  memset (&info, 0, sizeof info);
  if (objstore_get_info (n->nc, j->bucket, j->key, &o, &info, err) < 0)
    return;
  objstore_digest_hex (info.digest, hex);
  if (check_object (info.size, hex, j->max_size, j->expect_hex, err) < 0)
    goto out;
  if (hex[0])
    {
      j->res.fd = artifact_cache_open (c, hex, &j->res.size);
      if (j->res.fd >= 0)
        {
          memcpy (j->res.hex, hex, 65);
          goto out;
        }
    }
  snprintf (tmp, sizeof tmp, "%s/.fetch-%d-XXXXXX", c->dir, (int) getpid ());
  s.fd = mkostemp (tmp, O_CLOEXEC);
  if (s.fd < 0)
    {
      nxerr_sys (err, errno, "create temp file in %s", c->dir);
      goto out;
    }
  /* 0555: a process-tier workload execs its fd as the sandbox's own uid.
   * Nobody else reaches the file: the state dir is 0700 root, and hidden
   * inside sandboxes. */
  fchmod (s.fd, 0555);
  if (objstore_read (n->nc, &info, &o, write_chunk, &s, hex, err) < 0)
    {
      unlink (tmp);
      goto out;
    }
  /* Read-only fds only from here: a workload cannot exec a file that is
   * still open for writing (ETXTBSY). fsync works on a read-only fd. */
  k->fd = open (tmp, O_RDONLY | O_CLOEXEC);
  j->res.fd = k->fd >= 0 ? open (tmp, O_RDONLY | O_CLOEXEC) : -1;
  if (j->res.fd < 0)
    {
      nxerr_sys (err, errno, "reopen fetched artifact");
      if (k->fd >= 0)
        close (k->fd);
      unlink (tmp);
      goto out;
    }
  j->res.size = s.written;
  memcpy (j->res.hex, hex, 65);
  k->pending = true;
  snprintf (k->tmp, sizeof k->tmp, "%s", tmp);
  memcpy (k->hex, hex, 65);
out:
  if (s.fd >= 0)
    close (s.fd);
  objstore_info_free (&info);
}

/* The delivered download becomes the cache entry once it is on disk; a
 * download that cannot be made durable is not kept (the deploy that has it
 * runs all the same: its content was verified). */
static void
finish_keep (struct artifact_cache *c, struct keep *k)
{
  char final[PATH_MAX];
  struct node *n = c->node;
  if (fsync (k->fd) < 0)
    {
      log_warn ("artifact %s: fsync: %s (not kept in the cache)", k->hex, strerror (errno));
      unlink (k->tmp);
      goto out;
    }
  snprintf (final, sizeof final, "%s/%s", c->dir, k->hex);
  if (rename (k->tmp, final) < 0)
    {
      log_warn ("artifact %s: rename into cache: %s", k->hex, strerror (errno));
      unlink (k->tmp);
      goto out;
    }
  if (n->cfg.artifact_cache_max_bytes > 0)
    evict (c, (uint64_t) n->cfg.artifact_cache_max_bytes);
out:
  close (k->fd);
  k->pending = false;
}

static void
deliver (void *arg)
{
  struct fetch_job *j = arg;
  j->done (j->ud, &j->res);
  free (j->bucket);
  free (j->key);
  free (j->jsdomain);
  free (j);
}

static void
drop_job (void *arg)
{
  struct fetch_job *j = arg;
  if (j->res.fd >= 0)
    close (j->res.fd);
  nxerr_set (&j->res.err, ECANCELED, "node is shutting down");
  j->res.fd = -1;
  deliver (j);
}

static void *
fetcher (void *arg)
{
  struct artifact_cache *c = arg;
  for (;;)
    {
      struct fetch_job *j;
      pthread_mutex_lock (&c->mu);
      while (c->head == NULL && !c->quit)
        pthread_cond_wait (&c->cv, &c->mu);
      if (c->quit)
        {
          pthread_mutex_unlock (&c->mu);
          return NULL;
        }
      j = c->head;
      c->head = j->next;
      if (c->head == NULL)
        c->tail = NULL;
      pthread_mutex_unlock (&c->mu);
      struct keep k = { .pending = false, .fd = -1 };
      run_job (j, &k);
      loop_post (c->node->loop, deliver, drop_job, j);
      if (k.pending)
        finish_keep (c, &k);
    }
}

int
artifact_cache_new (struct node *n, struct artifact_cache **out, struct nxerr *err)
{
  struct artifact_cache *c = xcalloc (1, sizeof *c);
  c->node = n;
  snprintf (c->dir, sizeof c->dir, "%s/artifacts", n->cfg.state_dir);
  if (identity_mkdirs (c->dir, err) < 0)
    {
      free (c);
      return -1;
    }
  c->dirfd = open (c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (c->dirfd < 0)
    {
      free (c);
      return nxerr_sys (err, errno, "open %s", n->cfg.state_dir);
    }
  /* Leftover partial downloads of a previous run. */
  {
    DIR *d = opendir (c->dir);
    struct dirent *e;
    while (d && (e = readdir (d)))
      if (strncmp (e->d_name, ".fetch-", 7) == 0)
        unlinkat (c->dirfd, e->d_name, 0);
    if (d)
      closedir (d);
  }
  pthread_mutex_init (&c->mu, NULL);
  pthread_cond_init (&c->cv, NULL);
  c->view = objview_new (n);
  *out = c;
  return 0;
}

void
artifact_fetch (struct artifact_cache *c, const struct artifact_loc *loc, artifact_done_fn done,
                void *ud)
{
  struct fetch_job *j = xcalloc (1, sizeof *j);
  j->cache = c;
  j->bucket = xstrdup (loc->bucket);
  j->key = xstrdup (loc->key);
  j->jsdomain = xstrdup (loc->jsdomain ? loc->jsdomain : "");
  j->max_size = loc->max_size;
  if (loc->expect_hex)
    snprintf (j->expect_hex, sizeof j->expect_hex, "%s", loc->expect_hex);
  j->done = done;
  j->ud = ud;
  j->res.fd = -1;
  pthread_mutex_lock (&c->mu);
  if (!c->thread_started)
    {
      /* Started lazily: most nodes serve from the cache most of the time. */
      c->thread_started = pthread_create (&c->thread, NULL, fetcher, c) == 0;
    }
  if (c->tail)
    c->tail->next = j;
  else
    c->head = j;
  c->tail = j;
  pthread_cond_signal (&c->cv);
  pthread_mutex_unlock (&c->mu);
}

void
artifact_get (struct artifact_cache *c, const struct artifact_loc *loc, artifact_done_fn done,
              void *ud)
{
  struct artifact_result res;
  struct objview_fact fact;
  struct nxerr ignored;
  memset (&res, 0, sizeof res);
  res.fd = -1;
  objview_lookup (c->view, loc->jsdomain, loc->bucket, loc->key, &fact);
  /* The view's word is final when it confirms; anything else (absent,
   * deleted, another digest: it may be a put ahead of the view) is asked of
   * the store, which refuses in its own words. */
  if (fact.found == OBJVIEW_PRESENT
      && check_object (fact.size, fact.hex, loc->max_size, loc->expect_hex, &ignored) == 0
      && (res.fd = artifact_cache_open (c, fact.hex, &res.size)) >= 0)
    {
      c->by_view++;
      memcpy (res.hex, fact.hex, sizeof res.hex);
      done (ud, &res);
      return;
    }
  c->asked_store++;
  artifact_fetch (c, loc, done, ud);
}

struct objview *
artifact_objview (struct artifact_cache *c)
{
  return c->view;
}

void
artifact_write_info (struct artifact_cache *c, struct jsonw *w)
{
  jsonw_key (w, "artifacts");
  jsonw_obj_begin (w);
  jsonw_key (w, "store_view");
  jsonw_obj_begin (w);
  /* Deploys served on the view's word (cached bytes, no request), and
   * deploys whose location the fetcher asked the store about. */
  jsonw_kint (w, "served", (int64_t) c->by_view);
  jsonw_kint (w, "asked_store", (int64_t) c->asked_store);
  objview_write_info (c->view, w);
  jsonw_obj_end (w);
  jsonw_obj_end (w);
}

void
artifact_cache_free (struct artifact_cache *c)
{
  struct fetch_job *j, *next;
  if (c == NULL)
    return;
  objview_free (c->view);
  pthread_mutex_lock (&c->mu);
  c->quit = true;
  pthread_cond_signal (&c->cv);
  pthread_mutex_unlock (&c->mu);
  if (c->thread_started)
    pthread_join (c->thread, NULL);
  for (j = c->head; j; j = next)
    {
      next = j->next;
      drop_job (j);
    }
  close (c->dirfd);
  pthread_mutex_destroy (&c->mu);
  pthread_cond_destroy (&c->cv);
  free (c);
}

int
artifact_cache_import (struct artifact_cache *c, const char *path, char hex[65],
                       struct nxerr *err)
{
  char tmp[PATH_MAX], final[PATH_MAX];
  unsigned char md[32];
  unsigned int mdlen = 0;
  char blk[65536];
  int in, out;
  ssize_t r;
  EVP_MD_CTX *ctx;
  in = open (path, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return nxerr_sys (err, errno, "open %s", path);
  snprintf (tmp, sizeof tmp, "%s/.fetch-%d-XXXXXX", c->dir, (int) getpid ());
  out = mkostemp (tmp, O_CLOEXEC);
  if (out < 0)
    {
      close (in);
      return nxerr_sys (err, errno, "create temp file in %s", c->dir);
    }
  ctx = EVP_MD_CTX_new ();
  EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL);
  while ((r = read (in, blk, sizeof blk)) > 0)
    {
      struct sink s = { out, 0 };
      EVP_DigestUpdate (ctx, blk, (size_t) r);
      if (write_chunk (blk, (size_t) r, &s, err) < 0)
        break;
    }
  EVP_DigestFinal_ex (ctx, md, &mdlen);
  EVP_MD_CTX_free (ctx);
  close (in);
  if (r < 0 || err->msg[0] || fchmod (out, 0555) < 0 || fsync (out) < 0)
    {
      if (!err->msg[0])
        nxerr_sys (err, errno, "copy %s", path);
      close (out);
      unlink (tmp);
      return -1;
    }
  close (out);
  for (int i = 0; i < 32; i++)
    snprintf (hex + 2 * i, 3, "%02x", md[i]);
  snprintf (final, sizeof final, "%s/%s", c->dir, hex);
  if (rename (tmp, final) < 0)
    {
      int e = errno;
      unlink (tmp);
      return nxerr_sys (err, e, "rename into cache");
    }
  return 0;
}
