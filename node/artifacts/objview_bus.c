/* objview_bus: the object store view's side on the bus. One subscription on
 * <inbox>.> carries every feed's replies: consumer create replies on
 * <inbox>.<feed>.c, pull statuses on <inbox>.<feed>.<pull>, and the
 * delivered metadata messages (their subject is the stream's, their reply
 * the $JS.ACK subject naming consumer and sequences). A single subscription,
 * so a single nats.c thread for all buckets; the subject of a pull's
 * reply need not be subscribed literally (a push consumer's would).
 *
 * The callback runs on that nats.c thread: it reads the message into an
 * event (strictly: it comes from the bus), destroys the message and posts
 * the event to the loop, which applies it (objview.c). It touches nothing of
 * the node but its loop handle. */
#include "node/artifacts/objview_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/buf.h"
#include "api/decimal.h"
#include "api/log.h"
#include "api/xalloc.h"
#include "node/bus/subgrave.h"
#include "node/core/node.h"

#define REPLY_MAX (OBJVIEW_MAX_INBOX + 48)

void
ov_event_free (struct ov_event *e)
{
  if (e == NULL)
    return;
  free (e->token);
  free (e);
}

static void
apply_cb (void *arg)
{
  struct ov_event *e = arg;
  objview_apply (e->n, e);
}

static void
drop_cb (void *arg)
{
  ov_event_free (arg);
}

/* ---- reading (nats.c thread) ---- */

static int
parse_u64 (const char *s, uint64_t *out)
{
  return s == NULL ? -1 : decimal_u64 (s, strlen (s), out);
}

/* The last two tokens of our reply subject: "<feed>.<suffix>". */
static int
reply_tokens (const char *subj, uint64_t *feed, char suffix[16])
{
  const char *last = strrchr (subj, '.'), *prev;
  char id[24];
  size_t n;
  if (last == NULL || last == subj)
    return -1;
  for (prev = last - 1; prev > subj && *prev != '.'; prev--)
    ;
  if (*prev != '.')
    return -1;
  n = (size_t) (last - prev - 1);
  if (n == 0 || n >= sizeof id || strlen (last + 1) >= 16)
    return -1;
  memcpy (id, prev + 1, n);
  id[n] = '\0';
  snprintf (suffix, 16, "%s", last + 1);
  return parse_u64 (id, feed);
}

static void
read_meta (struct ov_event *e, natsMsg *msg)
{
  const char *data = natsMsg_GetData (msg);
  const char *tok;
  e->kind = OV_META;
  tok = objstore_meta_token (natsMsg_GetSubject (msg), e->ack.stream);
  if (tok)
    {
      e->token_len = strlen (tok);
      e->token = xstrndup (tok, e->token_len);
    }
  objstore_meta_judge (data ? data : "", (size_t) natsMsg_GetDataLength (msg), &e->meta);
}

static void
read_created (struct ov_event *e, natsMsg *msg)
{
  const char *status = NULL;
  e->kind = OV_CREATED;
  if (natsMsgHeader_Get (msg, "Status", &status) == NATS_OK && status)
    {
      e->created = -1;
      if (strcmp (status, "503") == 0)
        nxerr_set (&e->err, EHOSTUNREACH, "nats: no responders available for request");
      else
        nxerr_set (&e->err, EIO, "nats: status %.8s", status);
      return;
    }
  e->created = objstore_watch_created (natsMsg_GetData (msg),
                                       (size_t) natsMsg_GetDataLength (msg), &e->cr, &e->err);
}

/* 0 when msg is a status message; -1 for anything else (dropped). */
static int
read_status (struct ov_event *e, natsMsg *msg, const char *suffix)
{
  const char *status = NULL, *desc = NULL, *last = NULL;
  uint64_t pull;
  if (parse_u64 (suffix, &pull) < 0 || pull > UINT32_MAX
      || natsMsgHeader_Get (msg, "Status", &status) != NATS_OK || status == NULL
      || strlen (status) != 3 || status[0] < '1' || status[0] > '5')
    return -1;
  e->kind = OV_STATUS;
  e->pull = (uint32_t) pull;
  e->status = atoi (status);
  natsMsgHeader_Get (msg, "Description", &desc);
  /* A consumer deleted (its stream too) ends pulls with 409; a pull to a
   * consumer that is no more finds no responder. */
  e->consumer_gone = e->status == 503
                     || (e->status == 409 && desc && strcmp (desc, "Consumer Deleted") == 0);
  if (e->status == 100 && natsMsgHeader_Get (msg, "Nats-Last-Consumer", &last) == NATS_OK)
    e->has_last = parse_u64 (last, &e->last_cseq) == 0;
  return 0;
}

static struct ov_event *
event_of (struct node *n, natsMsg *msg)
{
  struct ov_event *e = xcalloc (1, sizeof *e);
  const char *reply = natsMsg_GetReply (msg);
  char suffix[16];
  struct nxerr ignored;
  e->n = n;
  if (reply && strncmp (reply, "$JS.ACK.", 8) == 0)
    {
      /* Unreadable: dropped; the consumer sequence then shows a gap. */
      if (objstore_ack_parse (reply, &e->ack, &ignored) == 0)
        {
          read_meta (e, msg);
          return e;
        }
    }
  else if (reply_tokens (natsMsg_GetSubject (msg), &e->feed, suffix) == 0)
    {
      if (strcmp (suffix, "c") == 0)
        {
          read_created (e, msg);
          return e;
        }
      if (read_status (e, msg, suffix) == 0)
        return e; /* ("x", a deletion's reply, is not read) */
    }
  ov_event_free (e);
  return NULL;
}

static void
on_msg (natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
  struct node *n = closure;
  struct ov_event *e = event_of (n, msg);
  (void) nc;
  (void) sub;
  natsMsg_Destroy (msg);
  if (e)
    loop_post (n->loop, apply_cb, drop_cb, e);
}

/* ---- requests (loop thread) ---- */

int
ovbus_open (struct objview *v, struct nxerr *err)
{
  natsInbox *inbox = NULL;
  char subj[OBJVIEW_MAX_INBOX + 4];
  natsStatus s;
  if (v->sub)
    return 0;
  s = natsInbox_Create (&inbox);
  if (s != NATS_OK)
    return nxerr_set (err, EIO, "inbox: %s", natsStatus_GetText (s));
  snprintf (v->inbox, sizeof v->inbox, "%s", (const char *) inbox);
  natsInbox_Destroy (inbox);
  snprintf (subj, sizeof subj, "%s.>", v->inbox);
  /* The closure is the node, which outlives every callback; events find
   * the view through it, or find none once it is freed. */
  s = natsConnection_Subscribe (&v->sub, v->n->nc, subj, on_msg, v->n);
  if (s != NATS_OK)
    {
      v->sub = NULL;
      return nxerr_set (err, EIO, "subscribe %s: %s", subj, natsStatus_GetText (s));
    }
  natsSubscription_SetPendingLimits (v->sub, 65536, OBJVIEW_PENDING_BYTES);
  return 0;
}

void
ovbus_close (struct objview *v)
{
  if (v->sub == NULL)
    return;
  subgrave_sub (v->n, v->n->nc, v->sub);
  subgrave_settle (v->n, v->n->nc);
  v->sub = NULL;
}

static int
publish (struct objview *v, const struct buf *subj, const char *reply, const struct buf *body,
         struct nxerr *err)
{
  natsStatus s = natsConnection_PublishRequest (v->n->nc, subj->data, reply,
                                                body ? body->data : NULL,
                                                body ? (int) body->len : 0);
  if (s != NATS_OK)
    return nxerr_set (err, EIO, "publish %s: %s", subj->data, natsStatus_GetText (s));
  return 0;
}

int
ovbus_create (struct objview *v, const struct ov_feed *f, struct nxerr *err)
{
  cleanup_buf struct buf subj = BUF_INIT;
  cleanup_buf struct buf body = BUF_INIT;
  char reply[REPLY_MAX];
  snprintf (reply, sizeof reply, "%s.%" PRIu64 ".c", v->inbox, f->id);
  if (objstore_watch_create (f->b->name, f->b->jsdomain, f->consumer, OBJVIEW_INACTIVE_MS, &subj,
                             &body, err)
      < 0)
    return -1;
  return publish (v, &subj, reply, &body, err);
}

int
ovbus_pull (struct objview *v, struct ov_feed *f, struct nxerr *err)
{
  cleanup_buf struct buf subj = BUF_INIT;
  cleanup_buf struct buf body = BUF_INIT;
  char reply[REPLY_MAX];
  f->pull++;
  f->pull_left = OBJVIEW_BATCH;
  snprintf (reply, sizeof reply, "%s.%" PRIu64 ".%" PRIu32, v->inbox, f->id, f->pull);
  if (objstore_watch_pull (f->b->name, f->b->jsdomain, f->consumer, OBJVIEW_BATCH,
                           OBJVIEW_PULL_EXPIRES_MS, OBJVIEW_HEARTBEAT_MS, &subj, &body, err)
      < 0)
    return -1;
  return publish (v, &subj, reply, &body, err);
}

void
ovbus_delete (struct objview *v, const struct ov_feed *f)
{
  cleanup_buf struct buf subj = BUF_INIT;
  char reply[REPLY_MAX];
  struct nxerr err = { 0 };
  /* Best effort: a consumer left behind is removed by the server once
   * nobody pulls (OBJVIEW_INACTIVE_MS). The reply is not read, but a
   * JetStream request wants one. */
  snprintf (reply, sizeof reply, "%s.%" PRIu64 ".x", v->inbox, f->id);
  if (objstore_watch_delete (f->b->name, f->b->jsdomain, f->consumer, &subj, &err) < 0
      || publish (v, &subj, reply, NULL, &err) < 0)
    log_debug ("store view: delete consumer %s: %s", f->consumer, err.msg);
}
