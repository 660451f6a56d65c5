/* logstream: ensures the log stream exists (logstream.h). The thread: ask
 * for the stream's info; create it when the server says there is none;
 * compare it when there is one; otherwise wait for a reconnect or a minute
 * and ask again. The outcome is kept for INFO. */
#include "node/bus/logstream.h"

#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/buf.h"
#include "api/duration.h"
#include "api/log.h"
#include "api/xalloc.h"
#include "node/core/node.h"

#define LOGSTREAM_SUBJECT "$NEX.logs.>"
#define LOGSTREAM_REQ_MS 5000       /* one JetStream request's bound */
/* While not ensured, besides reconnects: 1 s doubling to a minute (a
 * JetStream cluster that just started has no meta leader for a moment). */
#define LOGSTREAM_RETRY_FIRST_MS 1000
#define LOGSTREAM_RETRY_MAX_MS 60000
#define LOGSTREAM_DETAIL_MAX 400

enum ls_state { LS_PENDING, LS_CREATED, LS_EXISTS, LS_DIFFERS, LS_UNAVAILABLE, LS_REFUSED };
static const char *const ls_state_names[]
    = { "pending", "created", "exists", "differs", "unavailable", "refused" };

struct logstream {
  struct logs_stream_cfg cfg; /* a copy: the thread never reads n->cfg */
  natsConnection *nc;
  pthread_t thread;
  bool started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  /* guarded by mu */
  bool quit, kicked;
  enum ls_state state;
  int64_t replicas; /* what the node asked for, or the stream has */
  char detail[LOGSTREAM_DETAIL_MAX];
};

/* ---- what the node wants, and how an existing stream differs ---- */

/* Replicas unset: 1 on a single server, 3 when the server told us of at
 * least two others (its cluster's client URLs; a list of three or more
 * given with --server counts too). */
static int64_t
want_replicas (const struct logstream *ls)
{
  char **servers = NULL;
  int count = 0;
  if (ls->cfg.replicas)
    return ls->cfg.replicas;
  if (natsConnection_GetServers (ls->nc, &servers, &count) != NATS_OK)
    return 1;
  for (int i = 0; i < count; i++)
    free (servers[i]);
  free (servers);
  return count >= 3 ? 3 : 1;
}

static void
want_config (const struct logstream *ls, int64_t replicas, jsStreamConfig *sc,
             const char **subjects)
{
  jsStreamConfig_Init (sc);
  subjects[0] = LOGSTREAM_SUBJECT;
  sc->Name = ls->cfg.name;
  sc->Description = "nexc workload logs ($NEX.logs.>), for nexc logs --since";
  sc->Subjects = subjects;
  sc->SubjectsLen = 1;
  sc->Retention = js_LimitsPolicy;
  sc->Storage = js_FileStorage;
  sc->Discard = js_DiscardOld;
  sc->MaxAge = ls->cfg.max_age_ms * 1000000; /* nanoseconds */
  sc->MaxBytes = ls->cfg.max_bytes;
  sc->Replicas = replicas;
}

static bool
covers_logs (const jsStreamConfig *c)
{
  for (int i = 0; i < c->SubjectsLen; i++)
    if (strcmp (c->Subjects[i], LOGSTREAM_SUBJECT) == 0 || strcmp (c->Subjects[i], "$NEX.>") == 0
        || strcmp (c->Subjects[i], ">") == 0)
      return true;
  return false;
}

static void
add_diff (struct buf *b, const char *what)
{
  if (b->len)
    buf_append (b, ", ", 2);
  buf_append (b, what, strlen (what));
}

/* The settings of have that are not what want says, in words. */
static void
diff_config (const jsStreamConfig *have, const jsStreamConfig *want, bool replicas_given,
             struct buf *out)
{
  char t[160], a[DURATION_TEXT_MAX], w[DURATION_TEXT_MAX];
  if (!covers_logs (have))
    add_diff (out, "its subjects do not cover " LOGSTREAM_SUBJECT);
  if (have->Storage != want->Storage)
    add_diff (out, "storage memory (config: file)");
  if (have->Retention != want->Retention)
    add_diff (out, "retention not limits");
  if (have->Discard != want->Discard)
    add_diff (out, "discard new (config: old)");
  if (have->MaxAge != want->MaxAge)
    {
      duration_format (have->MaxAge / 1000000, a);
      duration_format (want->MaxAge / 1000000, w);
      snprintf (t, sizeof t, "max_age %s (config: %s)", have->MaxAge ? a : "unlimited", w);
      add_diff (out, t);
    }
  if (have->MaxBytes != want->MaxBytes)
    {
      snprintf (t, sizeof t, "max_bytes %lld (config: %lld)", (long long) have->MaxBytes,
                (long long) want->MaxBytes);
      add_diff (out, t);
    }
  if (replicas_given && have->Replicas != want->Replicas)
    {
      snprintf (t, sizeof t, "replicas %lld (config: %lld)", (long long) have->Replicas,
                (long long) want->Replicas);
      add_diff (out, t);
    }
  buf_append (out, "", 1);
}

/* ---- the thread ---- */

static void
set_state (struct logstream *ls, enum ls_state st, int64_t replicas, const char *detail)
{
  bool news;
  pthread_mutex_lock (&ls->mu);
  news = st != ls->state || strcmp (detail, ls->detail) != 0;
  ls->state = st;
  ls->replicas = replicas;
  snprintf (ls->detail, sizeof ls->detail, "%s", detail);
  pthread_mutex_unlock (&ls->mu);
  if (!news)
    return;
  switch (st)
    {
    case LS_CREATED:
      log_info ("logs.stream: created JetStream stream %s on " LOGSTREAM_SUBJECT " (%s)",
                ls->cfg.name, detail);
      break;
    case LS_EXISTS: log_info ("logs.stream: JetStream stream %s is there", ls->cfg.name); break;
    case LS_DIFFERS:
      log_warn ("logs.stream: JetStream stream %s exists with other settings, left as it is "
                "(another node or the operator owns it): %s",
                ls->cfg.name, detail);
      break;
    case LS_UNAVAILABLE:
    case LS_REFUSED:
      log_warn ("logs.stream: no JetStream stream %s: %s; log lines are published as before, "
                "without retention",
                ls->cfg.name, detail);
      break;
    case LS_PENDING: break;
    }
}

static const char *
js_text (natsStatus s, jsErrCode jerr, char *buf, size_t cap)
{
  const char *last = nats_GetLastError (NULL);
  if (s == NATS_NO_RESPONDERS)
    return "JetStream is not enabled on the server (no responders)";
  if (s == NATS_TIMEOUT)
    return "JetStream did not answer within 5 s";
  snprintf (buf, cap, "%s (JetStream error %d)%s%s", natsStatus_GetText (s), (int) jerr,
            last ? ": " : "", last ? last : "");
  return buf;
}

/* One attempt; true when there is nothing more to do (until a restart). */
static bool
ensure (struct logstream *ls)
{
  jsCtx *js = NULL;
  jsOptions jo;
  jsStreamInfo *si = NULL;
  jsStreamConfig want;
  const char *subjects[1];
  jsErrCode jerr = 0;
  natsStatus s;
  char text[LOGSTREAM_DETAIL_MAX];
  int64_t replicas;
  if (natsConnection_Status (ls->nc) != NATS_CONN_STATUS_CONNECTED)
    {
      set_state (ls, LS_UNAVAILABLE, 0, "NATS is not connected");
      return false;
    }
  replicas = want_replicas (ls);
  want_config (ls, replicas, &want, subjects);
  jsOptions_Init (&jo);
  jo.Wait = LOGSTREAM_REQ_MS;
  if ((s = natsConnection_JetStream (&js, ls->nc, &jo)) != NATS_OK)
    {
      set_state (ls, LS_UNAVAILABLE, 0, natsStatus_GetText (s));
      return false;
    }
  s = js_GetStreamInfo (&si, js, ls->cfg.name, NULL, &jerr);
  if (s == NATS_OK)
    {
      cleanup_buf struct buf d = BUF_INIT;
      diff_config (si->Config, &want, ls->cfg.replicas != 0, &d);
      if (d.len > 1)
        set_state (ls, LS_DIFFERS, si->Config->Replicas, d.data);
      else
        set_state (ls, LS_EXISTS, si->Config->Replicas, "");
      jsStreamInfo_Destroy (si);
      jsCtx_Destroy (js);
      return true;
    }
  if (jerr == JSStreamNotFoundErr)
    {
      jerr = 0;
      s = js_AddStream (&si, js, &want, NULL, &jerr);
      if (s == NATS_OK)
        {
          char age[DURATION_TEXT_MAX];
          duration_format (ls->cfg.max_age_ms, age);
          snprintf (text, sizeof text, "max_age %s, max_bytes %lld, replicas %lld", age,
                    (long long) ls->cfg.max_bytes, (long long) replicas);
          set_state (ls, LS_CREATED, replicas, text);
          jsStreamInfo_Destroy (si);
          jsCtx_Destroy (js);
          return true;
        }
      /* Another stream already holds the subjects, too many replicas for
       * the cluster, no room: the operator has to act; we still retry after
       * a reconnect (a cluster may grow). */
      char t2[LOGSTREAM_DETAIL_MAX];
      snprintf (text, sizeof text, "creating it failed: %s", js_text (s, jerr, t2, sizeof t2));
      set_state (ls, jerr ? LS_REFUSED : LS_UNAVAILABLE, 0, text);
      jsCtx_Destroy (js);
      return false;
    }
  set_state (ls, LS_UNAVAILABLE, 0, js_text (s, jerr, text, sizeof text));
  jsCtx_Destroy (js);
  return false;
}

static void *
run (void *arg)
{
  struct logstream *ls = arg;
  bool done = false;
  int64_t delay_ms = LOGSTREAM_RETRY_FIRST_MS;
  pthread_mutex_lock (&ls->mu);
  while (!ls->quit)
    {
      struct timespec until;
      if (ls->kicked)
        delay_ms = LOGSTREAM_RETRY_FIRST_MS;
      ls->kicked = false;
      pthread_mutex_unlock (&ls->mu);
      if (!done)
        done = ensure (ls);
      pthread_mutex_lock (&ls->mu);
      clock_gettime (CLOCK_MONOTONIC, &until);
      until.tv_sec += delay_ms / 1000;
      delay_ms = delay_ms * 2 > LOGSTREAM_RETRY_MAX_MS ? LOGSTREAM_RETRY_MAX_MS : delay_ms * 2;
      /* Ensured: only a quit ends the wait. Else a kick or the delay. */
      while (!ls->quit && done)
        pthread_cond_wait (&ls->cv, &ls->mu);
      while (!ls->quit && !ls->kicked)
        if (pthread_cond_timedwait (&ls->cv, &ls->mu, &until) == ETIMEDOUT)
          break;
    }
  pthread_mutex_unlock (&ls->mu);
  return NULL;
}

/* ---- the node's side ---- */

int
logstream_start (struct node *n, struct nxerr *err)
{
  struct logstream *ls;
  pthread_condattr_t ca;
  int e;
  if (!n->cfg.logs_stream.on)
    return 0;
  ls = xcalloc (1, sizeof *ls);
  ls->cfg = n->cfg.logs_stream;
  ls->nc = n->nc;
  pthread_mutex_init (&ls->mu, NULL);
  pthread_condattr_init (&ca);
  pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
  pthread_cond_init (&ls->cv, &ca);
  pthread_condattr_destroy (&ca);
  __atomic_store_n (&n->logstream, ls, __ATOMIC_RELEASE);
  e = pthread_create (&ls->thread, NULL, run, ls);
  if (e != 0)
    {
      set_state (ls, LS_UNAVAILABLE, 0, "no thread to create it");
      return nxerr_sys (err, e, "logs.stream: thread");
    }
  ls->started = true;
  return 0;
}

void
logstream_kick (struct node *n)
{
  struct logstream *ls = __atomic_load_n (&n->logstream, __ATOMIC_ACQUIRE);
  if (ls == NULL)
    return;
  pthread_mutex_lock (&ls->mu);
  ls->kicked = true;
  pthread_cond_signal (&ls->cv);
  pthread_mutex_unlock (&ls->mu);
}

void
logstream_write_info (struct node *n, struct jsonw *w)
{
  struct logstream *ls = n->logstream;
  char age[DURATION_TEXT_MAX];
  jsonw_key (w, "logs");
  jsonw_obj_begin (w);
  jsonw_key (w, "stream");
  if (ls == NULL)
    {
      jsonw_null (w);
      jsonw_obj_end (w);
      return;
    }
  duration_format (ls->cfg.max_age_ms, age);
  jsonw_obj_begin (w);
  jsonw_kstr (w, "name", ls->cfg.name);
  jsonw_kstr (w, "subject", LOGSTREAM_SUBJECT);
  jsonw_kstr (w, "max_age", age);
  jsonw_kint (w, "max_bytes", ls->cfg.max_bytes);
  pthread_mutex_lock (&ls->mu);
  jsonw_kstr (w, "state", ls_state_names[ls->state]);
  if (ls->replicas)
    jsonw_kint (w, "replicas", ls->replicas);
  if (ls->detail[0])
    jsonw_kstr (w, "detail", ls->detail);
  pthread_mutex_unlock (&ls->mu);
  jsonw_obj_end (w);
  jsonw_obj_end (w);
}

void
logstream_stop (struct node *n)
{
  struct logstream *ls = n->logstream;
  if (ls == NULL || !ls->started)
    return;
  pthread_mutex_lock (&ls->mu);
  ls->quit = true;
  pthread_cond_signal (&ls->cv);
  pthread_mutex_unlock (&ls->mu);
  pthread_join (ls->thread, NULL);
  ls->started = false;
}

void
logstream_free (struct node *n)
{
  struct logstream *ls = n->logstream;
  if (ls == NULL)
    return;
  logstream_stop (n);
  __atomic_store_n (&n->logstream, NULL, __ATOMIC_RELEASE);
  pthread_mutex_destroy (&ls->mu);
  pthread_cond_destroy (&ls->cv);
  free (ls);
}
