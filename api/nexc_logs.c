/* nexc_logs: follows log lines live or from a stream, deduplicated
 * (nexc_logs.h). */
#include "api/nexc_logs.h"

#include <errno.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/nexc.h"
#include "api/subfree.h"
#include "api/subjects.h"
#include "api/xalloc.h"

#define STREAM_REQ_MS 5000

/* The highest Nexc-Seq and drop-record end seen for one workload id. */
struct seen_id {
  char id[64];
  uint64_t seq, dropped_to;
  uint64_t used; /* for forgetting the least recently seen */
};

struct nexc_log_follow {
  jsCtx *js; /* NULL when live */
  natsConnection *nc; /* the client's */
  natsSubscription *sub;
  natsMsg *cur;
  char *storage; /* the current subject's tokens */
  struct seen_id *ids;
  size_t n_ids;
  uint64_t tick, repeats;
};

bool
nexc_logs_stream_name_ok (const char *name)
{
  size_t n = name ? strlen (name) : 0;
  if (n == 0 || n > 64)
    return false;
  for (; *name; name++)
    if (!(*name == '-' || *name == '_' || (*name >= 'a' && *name <= 'z')
          || (*name >= 'A' && *name <= 'Z') || (*name >= '0' && *name <= '9')))
      return false;
  return true;
}

static const char *
tok_or_any (const char *s)
{
  return s && *s ? s : "*";
}

static int
filter_subject (const struct nexc_client *c, const struct nexc_logs_filter *f, char *out,
                size_t cap, struct nxerr *err)
{
  const char *t[3] = { tok_or_any (f->node), tok_or_any (f->workload), tok_or_any (f->id) };
  static const char *const names[3] = { "node", "workload", "id" };
  for (int i = 0; i < 3; i++)
    if (strcmp (t[i], "*") != 0 && !subjects_token_ok (t[i]))
      return nxerr_set (err, EINVAL, "%s \"%.64s\" is not a valid subject token", names[i], t[i]);
  if ((size_t) snprintf (out, cap, "$NEX.logs.%s.%s.%s.%s", c->ns, t[0], t[1], t[2]) >= cap)
    return nxerr_set (err, EINVAL, "log subject longer than %zu bytes", cap - 1);
  return 0;
}

static int
no_stream (const char *stream, const char *why, struct nxerr *err)
{
  return nxerr_set (err, ENOENT,
                    "needs a JetStream stream of the logs (node config logs.stream); none named "
                    "%s%s%s",
                    stream, why ? ": " : "", why ? why : "");
}

/* The stream must exist before a consumer is asked for: the error then
 * says what the operator has to configure. */
static int
check_stream (jsCtx *js, const char *stream, struct nxerr *err)
{
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_GetStreamInfo (&si, js, stream, NULL, &jerr);
  if (s == NATS_OK)
    {
      jsStreamInfo_Destroy (si);
      return 0;
    }
  if (jerr == JSStreamNotFoundErr)
    return no_stream (stream, NULL, err);
  if (s == NATS_NO_RESPONDERS)
    return no_stream (stream, "JetStream is not enabled on the server", err);
  if (s == NATS_TIMEOUT)
    return nxerr_set (err, ETIMEDOUT, "stream %s: JetStream did not answer", stream);
  return nxerr_set (err, EIO, "stream %s: %s (JetStream error %d)", stream, natsStatus_GetText (s),
                    (int) jerr);
}

static int
subscribe_stream (struct nexc_client *c, struct nexc_log_follow *lf, const char *subject,
                  const char *stream, int64_t since_ms, struct nxerr *err)
{
  jsOptions jo;
  jsSubOptions so;
  jsErrCode jerr = 0;
  struct timespec now;
  natsStatus s;
  if (!nexc_logs_stream_name_ok (stream))
    return nxerr_set (err, EINVAL, "stream \"%.64s\": must match ^[A-Za-z0-9_-]{1,64}$", stream);
  jsOptions_Init (&jo);
  jo.Wait = STREAM_REQ_MS;
  if ((s = natsConnection_JetStream (&lf->js, c->nc, &jo)) != NATS_OK)
    return nxerr_set (err, EIO, "JetStream: %s", natsStatus_GetText (s));
  if (check_stream (lf->js, stream, err) < 0)
    return -1;
  clock_gettime (CLOCK_REALTIME, &now);
  jsSubOptions_Init (&so);
  so.Stream = stream;
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverByStartTime;
  so.Config.OptStartTime
      = (int64_t) now.tv_sec * 1000000000 + now.tv_nsec - since_ms * (int64_t) 1000000;
  s = js_SubscribeSync (&lf->sub, lf->js, subject, &jo, &so, &jerr);
  if (s != NATS_OK)
    {
      const char *last = nats_GetLastError (NULL);
      return nxerr_set (err, EIO, "consumer on stream %s for %s: %s%s%s", stream, subject,
                        natsStatus_GetText (s), last ? ": " : "", last ? last : "");
    }
  return 0;
}

int
nexc_logs_follow (struct nexc_client *c, const struct nexc_logs_filter *f, const char *stream,
                  int64_t since_ms, struct nexc_log_follow **out, struct nxerr *err)
{
  static const struct nexc_logs_filter any = { 0 };
  struct nexc_log_follow *lf;
  char subject[512];
  natsStatus s;
  if (filter_subject (c, f ? f : &any, subject, sizeof subject, err) < 0)
    return -1;
  if (stream && since_ms < 0)
    return nxerr_set (err, EINVAL, "since: must not be negative");
  lf = xcalloc (1, sizeof *lf);
  lf->nc = c->nc;
  if (stream)
    {
      if (subscribe_stream (c, lf, subject, stream, since_ms, err) < 0)
        {
          nexc_logs_close (lf);
          return -1;
        }
    }
  /* nats.c's default pending limits bound what a flood can queue here (past
   * them the server's lines are dropped and counted as a slow consumer). */
  else if ((s = natsConnection_SubscribeSync (&lf->sub, c->nc, subject)) != NATS_OK)
    {
      nexc_logs_close (lf);
      return nxerr_set (err, EIO, "subscribe to %s: %s", subject, natsStatus_GetText (s));
    }
  *out = lf;
  return 0;
}

static struct seen_id *
seen_for (struct nexc_log_follow *lf, const char *id)
{
  struct seen_id *e, *oldest = NULL;
  for (size_t i = 0; i < lf->n_ids; i++)
    {
      e = &lf->ids[i];
      if (strcmp (e->id, id) == 0)
        return e;
      if (oldest == NULL || e->used < oldest->used)
        oldest = e;
    }
  if (lf->n_ids < NEXC_LOGS_IDS_MAX)
    {
      lf->ids = xrealloc (lf->ids, (lf->n_ids + 1) * sizeof *lf->ids);
      e = &lf->ids[lf->n_ids++];
    }
  else
    e = oldest;
  memset (e, 0, sizeof *e);
  snprintf (e->id, sizeof e->id, "%s", id);
  return e;
}

/* Whether m adds something for its workload id (and note that it does). */
static bool
is_new (struct nexc_log_follow *lf, const struct nexc_log_line *l)
{
  struct seen_id *e = seen_for (lf, l->id);
  e->used = ++lf->tick;
  if (l->dropped)
    {
      unsigned long long a = 0, b = 0;
      if (sscanf (l->dropped, "%llu-%llu", &a, &b) != 2 || b < a)
        return true; /* not ours to judge: show it */
      if (b <= e->dropped_to)
        return false;
      e->dropped_to = b;
      return true;
    }
  if (l->seq == 0)
    return true; /* no number: nothing to compare */
  if (l->seq <= e->seq)
    return false;
  e->seq = l->seq;
  return true;
}

/* Fill l from m; false for a message that is not a log line. */
static bool
decode (struct nexc_log_follow *lf, natsMsg *m, struct nexc_log_line *l)
{
  const char *tok[8], *v = NULL;
  jsMsgMetaData *meta = NULL;
  int nt;
  memset (l, 0, sizeof *l);
  free (lf->storage);
  lf->storage = NULL;
  l->subject = natsMsg_GetSubject (m);
  nt = subjects_split (l->subject, &lf->storage, tok, 8);
  if (nt != 6)
    return false;
  l->node = tok[3];
  l->workload = tok[4];
  l->id = tok[5];
  l->data = natsMsg_GetData (m);
  l->len = natsMsg_GetDataLength (m);
  if (natsMsgHeader_Get (m, "Nexc-Seq", &v) == NATS_OK && v)
    l->seq = strtoull (v, NULL, 10);
  if (natsMsgHeader_Get (m, "Nexc-Dropped", &v) == NATS_OK && v)
    l->dropped = v;
  if (lf->js && natsMsg_GetMetaData (&meta, m) == NATS_OK)
    {
      l->stream_seq = meta->Sequence.Stream;
      jsMsgMetaData_Destroy (meta);
    }
  return true;
}

int
nexc_logs_next (struct nexc_log_follow *lf, int64_t wait_ms, struct nexc_log_line *line,
                struct nxerr *err)
{
  int64_t deadline = nats_Now () + wait_ms;
  for (;;)
    {
      natsMsg *m = NULL;
      int64_t left = deadline - nats_Now ();
      natsStatus s;
      natsMsg_Destroy (lf->cur);
      lf->cur = NULL;
      if (left <= 0)
        return 0;
      s = natsSubscription_NextMsg (&m, lf->sub, left);
      if (s == NATS_TIMEOUT)
        return 0;
      if (s != NATS_OK)
        return nxerr_set (err, EIO, "log subscription: %s", natsStatus_GetText (s));
      lf->cur = m;
      if (!decode (lf, m, line))
        continue;
      if (is_new (lf, line))
        return 1;
      lf->repeats++;
    }
}

uint64_t
nexc_logs_repeats (const struct nexc_log_follow *lf)
{
  return lf->repeats;
}

void
nexc_logs_close (struct nexc_log_follow *lf)
{
  if (lf == NULL)
    return;
  natsMsg_Destroy (lf->cur);
  if (lf->sub)
    {
      subfree (lf->nc, lf->sub);
    }
  jsCtx_Destroy (lf->js);
  free (lf->storage);
  free (lf->ids);
  free (lf);
}
