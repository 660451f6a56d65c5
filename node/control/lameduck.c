#include "node/control/lameduck.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/jsonw.h"
#include "api/jwt.h"
#include "api/log.h"
#include "api/subjects.h"
#include "node/bus/events.h"
#include "node/bus/reply.h"
#include "node/control/request.h"
#include "node/control/shutdown.h"
#include "node/control/tags.h"
#include "node/core/node.h"
#include "node/deployments/deployments.h"
#include "node/state/replay.h"
#include "node/workload/launch.h"
#include "node/workload/workload.h"

#define LAMEDUCK_DEADLINE_MAX_MS 86400000

int
lameduck_check_jwt (struct node *n, const char *token, bool drain, char *msg, size_t cap)
{
  struct jwt_claims c;
  struct nxerr err = { 0 };
  int64_t now = (int64_t) time (NULL);
  bool operator_key;
  int rc = -1;
  memset (&c, 0, sizeof c);
  if (token == NULL)
    {
      snprintf (msg, cap, "Lame duck refused: a signed lameduck_jwt is required");
      return -1;
    }
  if (jwt_decode (token, &c, &err) < 0)
    {
      snprintf (msg, cap, "Lame duck refused: could not decode lameduck_jwt: %s", err.msg);
      goto out;
    }
  if (c.name == NULL || strcmp (c.name, JWT_LAMEDUCK_NAME) != 0
      || (c.purpose && strcmp (c.purpose, JWT_PURPOSE_LAMEDUCK) != 0))
    {
      snprintf (msg, cap, "Lame duck refused: the token is not a lame-duck token (name claim "
                          "must be \"" JWT_LAMEDUCK_NAME "\")");
      goto out;
    }
  if (c.sub == NULL || strcmp (c.sub, n->node_id) != 0 || c.aud == NULL
      || strcmp (c.aud, n->node_id) != 0)
    {
      snprintf (msg, cap, "Lame duck refused: the token is for another node");
      goto out;
    }
  operator_key = c.iss && n->cfg.autostart_stop_issuer
                 && strcmp (c.iss, n->cfg.autostart_stop_issuer) == 0;
  /* A drain stops every workload: lameduck_issuers, when set, names the
   * only keys that may (tenants among valid_issuers included or not). */
  if (drain && n->cfg.lameduck_issuers.n)
    {
      if (!strlist_contains (&n->cfg.lameduck_issuers, c.iss))
        {
          snprintf (msg, cap,
                    "Lame duck refused: issuer %.64s may not drain this node (lameduck_issuers)",
                    c.iss);
          goto out;
        }
    }
  else if (!operator_key && n->cfg.valid_issuers.n
           && !strlist_contains (&n->cfg.valid_issuers, c.iss))
    {
      snprintf (msg, cap, "Lame duck refused: issuer %.64s is not allowed", c.iss);
      goto out;
    }
  if (!jwt_time_valid (&c, now))
    {
      snprintf (msg, cap, "Lame duck refused: standard claims within JWT are not valid");
      goto out;
    }
  if (replay_check (n->replay, &c, now, &err) < 0)
    {
      snprintf (msg, cap, "Lame duck refused: token %s", err.msg);
      goto out;
    }
  rc = 0;
out:
  jwt_claims_free (&c);
  return rc;
}

void
lameduck_handle (struct node *n, struct ctl_req *r)
{
  cleanup_buf struct buf b = BUF_INIT;
  struct jsonw w;
  char msg[300];
  json_t *body = r->len ? json_loadb (r->data, r->len, 0, NULL) : NULL;
  json_t *dl = json_object_get (body, "deadline_ms");
  json_t *tok = json_object_get (body, "lameduck_jwt");
  bool has_deadline = json_is_integer (dl);
  int64_t deadline = has_deadline ? json_integer_value (dl) : -1;
  if (has_deadline && (deadline < 0 || deadline > LAMEDUCK_DEADLINE_MAX_MS))
    {
      json_decref (body);
      reply_err (n, r->reply, NEX_TYPE_LAMEDUCK_RESPONSE,
                 "deadline_ms must be between 0 and 86400000");
      return;
    }
  /* A drain stops every workload: never on an unsigned request. A token
   * that is sent is checked even where none is needed: a client that signs
   * learns when its key is not accepted. */
  if ((has_deadline || n->cfg.lameduck_requires_jwt || tok)
      && lameduck_check_jwt (n, json_is_string (tok) ? json_string_value (tok) : NULL,
                             has_deadline, msg, sizeof msg)
             < 0)
    {
      json_decref (body);
      log_warn ("%s", msg);
      reply_err (n, r->reply, NEX_TYPE_LAMEDUCK_RESPONSE, msg);
      return;
    }
  json_decref (body); /* dl and tok are gone with it */
  if (!n->lameduck)
    {
      n->lameduck = true;
      node_tags_refresh (n);
      for (struct workload *wl = n->workloads; wl; wl = wl->next)
        launch_clear_essential (wl);
      events_lameduck (n);
      log_info ("entered lame duck mode: new deploys are refused");
      deployments_lameduck (n);
    }
  /* Nex never drains; with a deadline (our extension) the node does. */
  if (deadline >= 0)
    shutdown_drain (n, (uint64_t) deadline);
  jsonw_init (&w, &b);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "node_id", n->node_id);
  jsonw_kbool (&w, "success", true);
  jsonw_obj_end (&w);
  reply_ok (n, r->reply, NEX_TYPE_LAMEDUCK_RESPONSE, &b);
}
