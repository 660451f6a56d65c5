/* persist: a running workload's entry in the journal (node/state/journal.h,
 * schemas/state.cddl), what a restarted node needs to take it over: its
 * request, its agent's pid and reattach socket, its sandbox uid. Remembered
 * when the workload reaches RUNNING, forgotten where its workload_stopped
 * is sent; put again each time its log stream is about to number past the
 * limit the entry holds (struct log_stream's limit). Nothing happens without
 * a journal (--ephemeral). Loop thread. */
#ifndef NEXC_NODE_WORKLOAD_PERSIST_H
#define NEXC_NODE_WORKLOAD_PERSIST_H

#include <stdint.h>

struct workload;

/* Every PERSIST_LOG_BLOCK numbers a journal put (one ~3 KiB append): a
 * flood of 500,000 lines costs 8 of them. It is also the most numbers a lost
 * agent can leave unused. */
#define PERSIST_LOG_BLOCK (1ull << 16)

void persist_remember (struct workload *w);
/* A reattached workload's log limit, from its journal entry: kept moving. */
void persist_adopt_logs (struct workload *w, uint64_t log_limit);
void persist_forget (struct workload *w);

#endif
