/* tags: the node's effective tag map (reference §8.4), recomputed from the
 * config and the runtime facts (sandbox, lame duck) into n->tags, which
 * PING, INFO and the events read. Loop thread only. */
#ifndef NEXC_NODE_CONTROL_TAGS_H
#define NEXC_NODE_CONTROL_TAGS_H

struct node;

/* Recompute the effective tags from config + runtime facts. */
void node_tags_refresh (struct node *n);

#endif
