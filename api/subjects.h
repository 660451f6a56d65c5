/* subjects: every NATS subject and response/event type string of the
 * protocol, in one place (reference §1, §4, §5), and the helpers that build
 * and split them. Namespaces, names and ids that go into a subject are
 * validated with subjects_token_ok first. */
#ifndef NEXC_SUBJECTS_H
#define NEXC_SUBJECTS_H

#include <stdbool.h>
#include <stddef.h>

#include "api/buf.h"

#define NEX_PREFIX "$NEX"
#define NEX_SUBJ_PING "$NEX.PING"
#define NEX_SUBJ_WPING_ALL "$NEX.WPING.>"
#define NEX_SUBJ_AUCTION "$NEX.AUCTION"

#define NEX_TYPE_PING_RESPONSE "io.nats.nex.v1.ping_response"
#define NEX_TYPE_INFO_RESPONSE "io.nats.nex.v1.info_response"
#define NEX_TYPE_RUN_RESPONSE "io.nats.nex.v1.run_response"
#define NEX_TYPE_STOP_RESPONSE "io.nats.nex.v1.stop_response"
#define NEX_TYPE_LAMEDUCK_RESPONSE "io.nats.nex.v1.lameduck_response"
#define NEX_TYPE_AUCTION_RESPONSE "io.nats.nex.v1.auction_response"

#define NEX_NS_SYSTEM "system"

#define NEX_EVENT_NODE_STARTED "node_started"
#define NEX_EVENT_NODE_STOPPED "node_stopped"
#define NEX_EVENT_HEARTBEAT "heartbeat"
#define NEX_EVENT_LAMEDUCK "node_entered_lameduck"
#define NEX_EVENT_WORKLOAD_STARTED "workload_started"
#define NEX_EVENT_WORKLOAD_STOPPED "workload_stopped"

/* A subject token: non-empty, bounded, no '.', '*', '>', whitespace or
 * control characters. */
bool subjects_token_ok (const char *s);

#define NEX_EVENT_FUNCTION_OK "function_exec_succeeded"
#define NEX_EVENT_FUNCTION_FAILED "function_exec_failed"

/* A subscription pattern: 1..max bytes of tokens separated by '.', each
 * non-empty and free of whitespace/control characters; '*' and '>' only as
 * whole tokens, '>' only last. */
bool subjects_pattern_ok (const char *s, size_t max);

/* Whether two valid patterns can match a common subject ('*' one token,
 * '>' one or more trailing tokens). */
bool subjects_overlap (const char *a, const char *b);

/* Whether every subject that valid pattern s matches is matched by valid
 * pattern within ("a.b" and "a.*" are within "a.>"; "a.>" is not within
 * "a.*"). */
bool subjects_within (const char *s, const char *within);

/* "$NEX.<op>.<node>" or "$NEX.<op>.<ns>.<node>" (ns may be "*"). */
void subjects_node_op (struct buf *out, const char *op, const char *ns, const char *node);
void subjects_event (struct buf *out, const char *ns, const char *type);
/* $NEX.logs.{ns}.{node}.{workload}.{id} (the documented order, §5). */
void subjects_log (struct buf *out, const char *ns, const char *node, const char *workload,
                   const char *id);

/* The namespace of a control subject ($NEX.<op>.<ns>....: token 2) into
 * out; false when there is none or it is not a valid token. */
bool subjects_namespace (const char *subject, char *out, size_t cap);

/* Split subject into at most max tokens (pointers into a copy kept in
 * storage, which the caller frees). Returns the token count, or -1 when there
 * are more than max tokens. */
int subjects_split (const char *subject, char **storage, const char **tokens, int max);

#endif
