#include "node/workload/fn_msg.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "api/xalloc.h"

void
fn_msg_free (struct fn_msg *m)
{
  if (m == NULL)
    return;
  free (m->subject);
  free (m->reply);
  free (m->data);
  for (size_t i = 0; i < 2 * m->n_hdr; i++)
    free (m->hdr[i]);
  free (m->hdr);
  free (m);
}

/* A header value goes into the environment only if it is printable ASCII
 * (the agent refuses frames with NUL or invalid UTF-8). */
static bool
header_value_ok (const char *v)
{
  for (; *v; v++)
    if ((unsigned char) *v < 0x20 || (unsigned char) *v >= 0x7f)
      return false;
  return true;
}

static void
copy_headers (struct fn_msg *m, natsMsg *msg)
{
  const char **keys = NULL;
  int count = 0;
  if (natsMsgHeader_Keys (msg, &keys, &count) != NATS_OK || count <= 0)
    return;
  m->hdr = xcalloc (2 * (size_t) (count < FN_HEADERS_MAX ? count : FN_HEADERS_MAX), sizeof *m->hdr);
  for (int i = 0; i < count && m->n_hdr < FN_HEADERS_MAX; i++)
    {
      const char *v = NULL;
      if (natsMsgHeader_Get (msg, keys[i], &v) != NATS_OK || v == NULL || !header_value_ok (v))
        continue;
      m->hdr[2 * m->n_hdr] = xstrdup (keys[i]);
      m->hdr[2 * m->n_hdr + 1] = xstrdup (v);
      m->n_hdr++;
    }
  free ((void *) keys);
}

struct fn_msg *
fn_msg_new (struct node *n, int64_t sid, natsMsg *msg)
{
  struct fn_msg *m = xcalloc (1, sizeof *m);
  const char *reply = natsMsg_GetReply (msg);
  int len = natsMsg_GetDataLength (msg);
  m->node = n;
  m->sid = sid;
  m->subject = xstrdup (natsMsg_GetSubject (msg));
  m->reply = reply && *reply ? xstrdup (reply) : NULL;
  if (len > FN_PAYLOAD_MAX)
    m->too_big = true;
  else if (len > 0)
    {
      m->data = xmalloc ((size_t) len);
      memcpy (m->data, natsMsg_GetData (msg), (size_t) len);
      m->len = (size_t) len;
    }
  copy_headers (m, msg);
  return m;
}

/* NEX_HEADER_<NAME>: letters and digits upper-cased, anything else '_'. */
char *
fn_msg_env_name (const char *h)
{
  size_t n = strlen (h);
  char *s = xmalloc (n + sizeof "NEX_HEADER_");
  memcpy (s, "NEX_HEADER_", sizeof "NEX_HEADER_" - 1);
  for (size_t i = 0; i < n; i++)
    s[sizeof "NEX_HEADER_" - 1 + i]
        = isalnum ((unsigned char) h[i]) ? (char) toupper ((unsigned char) h[i]) : '_';
  s[sizeof "NEX_HEADER_" - 1 + n] = '\0';
  return s;
}
