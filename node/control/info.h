/* info: INFO's list of machines (§1.4), one entry per running workload.
 *
 * At a thousand workloads the list is ~500 KB and encoding it was most of
 * an INFO's cost. Each workload keeps its encoded entry with the inputs it
 * was made from (the figures that change: state, uptime second, restarts,
 * log counters, metrics, function counters); an INFO copies the entries
 * whose inputs are unchanged and encodes again only the others, so a reply
 * is byte for byte what encoding everything anew would give. Loop thread
 * only. */
#ifndef NEXC_NODE_CONTROL_INFO_H
#define NEXC_NODE_CONTROL_INFO_H

#include "api/jsonw.h"

struct node;

/* The "machines" array of namespace ns (case-insensitive) into w. */
void info_write_machines (struct node *n, const char *ns, struct jsonw *w);

#endif
