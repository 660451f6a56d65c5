#include "node/control/bound.h"

#include <stdio.h>
#include <string.h>

#include "api/deploy_request.h"
#include "api/jwt.h"
#include "node/core/node.h"

/* Purpose and audience, common to both kinds. */
static int
check_common (struct node *n, const struct jwt_claims *c, const char *kind, const char *purpose,
              char *msg, size_t cap)
{
  if (c->purpose && strcmp (c->purpose, purpose) != 0)
    {
      snprintf (msg, cap, "Invalid %s request: the token is a %.32s token, not a %s token", kind,
                c->purpose, purpose);
      return -1;
    }
  if (c->aud && strcmp (c->aud, n->node_id) != 0)
    {
      snprintf (msg, cap, "Invalid %s request: the token is for another node (aud %.64s)", kind,
                c->aud);
      return -1;
    }
  return 0;
}

int
bound_check_deploy (struct node *n, const struct jwt_claims *c, const struct deploy_request *req,
                    char *msg, size_t cap)
{
  char digest[DEPLOY_DIGEST_HEX_LEN];
  if (check_common (n, c, "deploy", JWT_PURPOSE_DEPLOY, msg, cap) < 0)
    return -1;
  if (n->cfg.require_bound_tokens && (c->purpose == NULL || c->bind == NULL))
    {
      snprintf (msg, cap,
                "Invalid deploy request: this node requires bound tokens (JWT nats.nexc_purpose "
                "\"deploy\" and nats.nexc_bind, the digest of the request)");
      return -1;
    }
  if (c->bind == NULL)
    return 0;
  deploy_request_digest (req, digest);
  if (strcmp (c->bind, digest) != 0)
    {
      snprintf (msg, cap,
                "Invalid deploy request: the request is not the one its token was signed for "
                "(nats.nexc_bind)");
      return -1;
    }
  return 0;
}

int
bound_check_stop (struct node *n, const struct jwt_claims *c, const char *workload_id, char *msg,
                  size_t cap)
{
  if (check_common (n, c, "stop", JWT_PURPOSE_STOP, msg, cap) < 0)
    return -1;
  if (n->cfg.require_bound_tokens && (c->purpose == NULL || c->bind == NULL))
    {
      snprintf (msg, cap,
                "Invalid stop request: this node requires bound tokens (JWT nats.nexc_purpose "
                "\"stop\" and nats.nexc_bind, the workload id)");
      return -1;
    }
  if (c->bind && strcmp (c->bind, workload_id) != 0)
    {
      snprintf (msg, cap, "Invalid stop request: the token is for workload %.64s", c->bind);
      return -1;
    }
  return 0;
}
