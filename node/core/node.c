#include "node/core/node.h"

#include "api/timefmt.h"

void
node_uptime (const struct node *n, bool since_api, char *out, size_t cap)
{
  uint64_t start = since_api ? n->api_start_mono_ns : n->start_mono_ns;
  timefmt_uptime (out, cap, (timefmt_mono_ns () - start) / 1000000000ull);
}
