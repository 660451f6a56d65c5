#include "api/evsig.h"

#include <errno.h>
#include <string.h>

#include "api/b64.h"
#include "api/buf.h"

#define EVSIG_DOMAIN "nexc-event-v1\n"

/* What is signed: a domain prefix (so no other signature of the node key
 * can pass for an event's), the subject (so an event cannot be replayed
 * under another namespace or type), the payload. */
static void
signed_bytes (const char *subject, const void *data, size_t len, struct buf *out)
{
  buf_puts (out, EVSIG_DOMAIN);
  buf_puts (out, subject);
  buf_putc (out, '\n');
  buf_append (out, data, len);
}

int
evsig_sign (const struct nkey_pair *node, const char *subject, const void *data, size_t len,
            char out[EVSIG_TEXT_LEN], struct nxerr *err)
{
  cleanup_buf struct buf msg = BUF_INIT;
  cleanup_buf struct buf text = BUF_INIT;
  uint8_t sig[64];
  signed_bytes (subject, data, len, &msg);
  if (nkey_sign (node, msg.data, msg.len, sig, err) < 0)
    return -1;
  b64_encode (B64_URL_NOPAD, sig, sizeof sig, &text);
  if (text.len + 1 != EVSIG_TEXT_LEN)
    return nxerr_set (err, EINVAL, "event signature: unexpected length %zu", text.len);
  memcpy (out, text.data, EVSIG_TEXT_LEN);
  return 0;
}

int
evsig_verify (const char *node_id, const char *subject, const void *data, size_t len,
              const char *sig, struct nxerr *err)
{
  cleanup_buf struct buf msg = BUF_INIT;
  cleanup_buf struct buf raw = BUF_INIT;
  if (node_id == NULL || sig == NULL)
    return nxerr_set (err, ENOENT, "event is not signed (no " EVSIG_NODE_HEADER " or "
                                   EVSIG_SIG_HEADER " header)");
  if (!nkey_is_valid_public (node_id, NKEY_SERVER))
    return nxerr_set (err, EINVAL, "event signer %.60s is not a node id", node_id);
  if (strlen (sig) != EVSIG_TEXT_LEN - 1
      || b64_decode (B64_URL_NOPAD, sig, strlen (sig), &raw, err) < 0 || raw.len != 64)
    return nxerr_set (err, EINVAL, "event signature is malformed");
  signed_bytes (subject, data, len, &msg);
  if (nkey_verify (node_id, msg.data, msg.len, (const uint8_t *) raw.data, err) < 0)
    return nxerr_set (err, EBADMSG, "event signature does not verify for node %.60s", node_id);
  return 0;
}
