#include "node/control/stop.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/log.h"
#include "api/subjects.h"
#include "api/xalloc.h"
#include "node/bus/reply.h"
#include "node/control/bound.h"
#include "node/control/request.h"
#include "node/core/node.h"
#include "node/state/replay.h"
#include "node/workload/supervise.h"
#include "node/workload/workload.h"

static int
decode (const char *data, size_t len, char **wid, char **jwt, struct nxerr *err)
{
  json_error_t jerr;
  json_t *root, *v;
  const char *k;
  if (len == 0)
    return nxerr_set (err, EINVAL, "unexpected end of JSON input");
  root = json_loadb (data, len, 0, &jerr);
  if (root == NULL)
    return nxerr_set (err, EINVAL, "%s (line %d column %d)", jerr.text, jerr.line, jerr.column);
  if (!json_is_object (root))
    {
      json_decref (root);
      return nxerr_set (err, EINVAL,
                        "json: cannot unmarshal non-object into Go value of type "
                        "controlapi.StopRequest");
    }
  json_object_foreach (root, k, v)
  {
    char **dst = NULL;
    if (strcasecmp (k, "workload_id") == 0)
      dst = wid;
    else if (strcasecmp (k, "workload_jwt") == 0)
      dst = jwt;
    else if (strcasecmp (k, "target_node") == 0)
      continue;
    if (dst == NULL || json_is_null (v))
      continue;
    if (!json_is_string (v) || json_string_length (v) > 65536)
      {
        nxerr_set (err, EINVAL,
                   "json: cannot unmarshal %s into Go struct field StopRequest.%s of type string",
                   json_is_string (v) ? "long string" : "non-string", k);
        json_decref (root);
        return -1;
      }
    free (*dst);
    *dst = xstrdup (json_string_value (v));
  }
  json_decref (root);
  return 0;
}

/* §3.1 step 4, plus: the stop JWT must be newer than the deploy's and fresh. */
static int
check_stop_jwt (struct node *n, struct workload *w, const char *token, char *msg, size_t cap)
{
  struct jwt_claims c;
  struct nxerr err = { 0 };
  int rc = -1;
  memset (&c, 0, sizeof c);
  if (token == NULL || jwt_decode (token, &c, &err) < 0)
    {
      snprintf (msg, cap, "Invalid stop request: could not decode workload JWT: %s",
                token ? err.msg : "expected 3 chunks");
      goto out;
    }
  /* First: a token minted for something else says so, whatever else it got
   * right. */
  if (bound_check_stop (n, &c, w->id, msg, cap) < 0)
    goto out;
  if ((c.jti && w->claims.jti && strcmp (c.jti, w->claims.jti) == 0) || c.iat == w->claims.iat)
    {
      snprintf (msg, cap, "Invalid stop request: stop claims appear to be cloned or captured from "
                          "the original start claims. Rejecting for security reasons");
      goto out;
    }
  if (c.sub == NULL || strcmp (c.sub, w->claims.sub) != 0)
    {
      snprintf (msg, cap,
                "Invalid stop request: stop claims subject does not match original start claims "
                "subject");
      goto out;
    }
  /* An autostart workload is the node's own; its operator may stop it
   * through the configured stop issuer. */
  bool operator_stop = w->autostart && c.iss && n->cfg.autostart_stop_issuer
                       && strcmp (c.iss, n->cfg.autostart_stop_issuer) == 0;
  if (!operator_stop && (c.iss == NULL || strcmp (c.iss, w->claims.iss) != 0))
    {
      snprintf (msg, cap, "Invalid stop request: the only entity allowed to terminate a workload "
                          "is the issuer that originally started it");
      goto out;
    }
  if (!operator_stop && c.iat < w->claims.iat)
    {
      snprintf (msg, cap, "Invalid stop request: stop JWT is older than the deploy JWT");
      goto out;
    }
  if (!jwt_time_valid (&c, (int64_t) time (NULL)))
    {
      snprintf (msg, cap, "Invalid stop request: standard claims within JWT are not valid");
      goto out;
    }
  if (replay_check (n->replay, &c, (int64_t) time (NULL), &err) < 0)
    {
      snprintf (msg, cap, "Invalid stop request: stop %s", err.msg);
      goto out;
    }
  rc = 0;
out:
  jwt_claims_free (&c);
  return rc;
}

void
stop_handle (struct node *n, struct ctl_req *r)
{
  struct nxerr err = { 0 };
  char *wid = NULL, *token = NULL;
  char msg[700];
  char ns[300];
  struct workload *w;

  if (!subjects_namespace (r->subject, ns, sizeof ns))
    {
      reply_err (n, r->reply, NEX_TYPE_STOP_RESPONSE, "Invalid subject for workload stop");
      return;
    }
  if (decode (r->data, r->len, &wid, &token, &err) < 0)
    {
      snprintf (msg, sizeof msg, "Unable to deserialize stop request: %s", err.msg);
      reply_err (n, r->reply, NEX_TYPE_STOP_RESPONSE, msg);
      goto out;
    }
  w = wid ? workload_find (n, wid) : NULL;
  if (w == NULL || w->state == WL_ENDED)
    {
      reply_err (n, r->reply, NEX_TYPE_STOP_RESPONSE, "No such workload");
      goto out;
    }
  if (check_stop_jwt (n, w, token, msg, sizeof msg) < 0)
    {
      log_info ("stop of %s refused: %s", w->id, msg);
      reply_err (n, r->reply, NEX_TYPE_STOP_RESPONSE, msg);
      goto out;
    }
  /* After the JWT check, deliberately the same text: ids cannot be probed. */
  if (strcmp (ns, w->ns) != 0)
    {
      reply_err (n, r->reply, NEX_TYPE_STOP_RESPONSE, "No such workload");
      goto out;
    }
  if (w->stop_reply)
    {
      reply_err (n, r->reply, NEX_TYPE_STOP_RESPONSE, "Workload is already stopping");
      goto out;
    }
  n->counters.stops++;
  w->stop_reply = r->reply ? xstrdup (r->reply) : NULL;
  log_info ("stopping workload %s (%s)", w->id, w->name);
  supervise_stop (w);
out:
  free (wid);
  free (token);
}
