/* lameduck: the LAMEDUCK request (reference §3.2): the node refuses new
 * deploys from then on. With "deadline_ms" (our extension) it also drains:
 * every workload is stopped by the deadline and the node exits. A drain
 * stops other people's work, so it needs a signed token ("lameduck_jwt",
 * JWT_LAMEDUCK_NAME); so does the plain lame duck when the config says
 * "lameduck_requires_jwt". Loop thread. */
#ifndef NEXC_NODE_CONTROL_LAMEDUCK_H
#define NEXC_NODE_CONTROL_LAMEDUCK_H

#include <stdbool.h>
#include <stddef.h>

struct node;
struct ctl_req;

void lameduck_handle (struct node *n, struct ctl_req *r);

/* A lame-duck token for node_id: signed by an issuer of valid_issuers (any
 * key when the list is empty) or the configured operator key
 * (autostart.stop_issuer) — for a drain (a deadline), by one of
 * lameduck_issuers instead when that list is set — sub = node_id, name =
 * JWT_LAMEDUCK_NAME, aud = node_id, within exp/nbf, not replayed. 0, or -1
 * with the refusal in msg. */
int lameduck_check_jwt (struct node *n, const char *token, bool drain, char *msg, size_t cap);

#endif
