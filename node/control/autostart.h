/* autostart: the workloads of the config's autostart list (Nex 0.2.4 shape),
 * deployed by the node itself at start. Their JWT is signed with the node's
 * own key and their environment sealed node-to-self, so they run through the
 * normal pipeline (and restart like any essential workload). Besides the
 * node, only autostart.stop_issuer may stop them. */
#ifndef NEXC_NODE_AUTOSTART_H
#define NEXC_NODE_AUTOSTART_H

struct node;

void autostart_run (struct node *n);

#endif
