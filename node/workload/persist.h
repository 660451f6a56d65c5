/* persist: a running workload's entry in the journal (node/state/journal.h,
 * schemas/state.cddl), what a restarted node needs to take it over: its
 * request, its agent's pid and reattach socket, its sandbox uid. Remembered
 * when the workload reaches RUNNING, forgotten where its workload_stopped
 * is sent. Nothing happens without a journal (--ephemeral). Loop thread. */
#ifndef NEXC_NODE_WORKLOAD_PERSIST_H
#define NEXC_NODE_WORKLOAD_PERSIST_H

struct workload;

void persist_remember (struct workload *w);
void persist_forget (struct workload *w);

#endif
