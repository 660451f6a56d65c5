/* path: joining absolute paths from parts that came from outside (config,
 * /proc). Pure, unit tested, any thread. */
#ifndef NEXC_NODE_CORE_PATH_H
#define NEXC_NODE_CORE_PATH_H

#include <stddef.h>

/* Longest path path_join builds for the node (cgroup directories). */
#define PATH_JOIN_MAX 1024

/* "/" + a + "/" + b with duplicate slashes folded ("/" when both are empty);
 * -1 when it does not fit in cap or a part holds a "." or ".." component. */
int path_join (char *out, size_t cap, const char *a, const char *b);

#endif
