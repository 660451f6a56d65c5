/* trigger_check: a deploy's function rules (§2.2 steps 4-5, §10): the
 * type/trigger rules, each trigger a valid pattern of at most FN_SUBJECT_MAX
 * bytes that does not overlap the deny list ($SYS.>, $JS.> and $NEX.>
 * always in it). The same rules hold for the subjects of a deploy's "nats"
 * (the workload's own NATS permissions, node/workload/creds.h), which a
 * node without workload_creds refuses. Loop thread. */
#ifndef NEXC_NODE_WORKLOAD_TRIGGER_CHECK_H
#define NEXC_NODE_WORKLOAD_TRIGGER_CHECK_H

#include <stddef.h>

struct node;
struct deploy_request;

/* 0, or -1 with the refusal text in msg. */
int trigger_check (struct node *n, const struct deploy_request *req, char *msg, size_t cap);

#endif
