/* tags: the node's effective tag map (reference §8.4). */
#include "node/control/tags.h"

#include <sched.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "api/timefmt.h"
#include "node/core/node.h"
#include "node/sandbox/sandbox.h"

static const char *const adjectives[]
    = { "quiet",  "bold",  "calm",   "eager", "gentle", "brave", "lively", "misty",
        "rapid",  "sunny", "silent", "amber", "crisp",  "dusty", "fancy",  "hidden",
        "polite", "proud", "rustic", "swift", "tidy",   "vivid", "wild",   "young" };
static const char *const nouns[]
    = { "river", "forest", "meadow", "canyon", "harbor", "island", "glacier", "valley",
        "summit", "prairie", "lagoon", "delta", "ridge", "brook", "cliff", "dune",
        "fjord", "grove", "marsh", "mesa", "orchard", "reef", "spring", "tundra" };

static void
random_name (char *out, size_t cap)
{
  uint32_t a = randombytes_uniform (sizeof adjectives / sizeof adjectives[0]);
  uint32_t b = randombytes_uniform (sizeof nouns / sizeof nouns[0]);
  snprintf (out, cap, "%s-%s", adjectives[a], nouns[b]);
}

static const char *
go_arch (void)
{
  static char arch[65];
  struct utsname u;
  if (uname (&u) < 0)
    return "unknown";
  if (strcmp (u.machine, "x86_64") == 0)
    return "amd64";
  if (strcmp (u.machine, "aarch64") == 0)
    return "arm64";
  snprintf (arch, sizeof arch, "%s", u.machine);
  return arch;
}

void
node_tags_refresh (struct node *n)
{
  char buf[64];
  cpu_set_t set;
  int cpus = 1;
  const char *name = strmap_get (&n->tags, "node_name");
  char keep[128] = "";
  /* node_name is chosen once per process unless configured. */
  if (name && strmap_get (&n->cfg.tags, "node_name") == NULL)
    snprintf (keep, sizeof keep, "%s", name);
  strmap_free (&n->tags);
  for (size_t i = 0; i < n->cfg.tags.n; i++)
    strmap_set (&n->tags, n->cfg.tags.keys[i], n->cfg.tags.vals[i]);
  if (strmap_get (&n->tags, "node_name") == NULL)
    {
      if (keep[0] == '\0')
        random_name (keep, sizeof keep);
      strmap_set (&n->tags, "node_name", keep);
    }
  strmap_set (&n->tags, "nex.os", "linux");
  strmap_set (&n->tags, "nex.arch", go_arch ());
  if (sched_getaffinity (0, sizeof set, &set) == 0)
    cpus = CPU_COUNT (&set);
  snprintf (buf, sizeof buf, "%d", cpus);
  strmap_set (&n->tags, "nex.cpucount", buf);
  if (n->cfg.sandbox == SANDBOX_NONE)
    strmap_set (&n->tags, "nex.unsafe", "true");
  if (n->cfg.valid_issuers.n == 0)
    strmap_set (&n->tags, "nex.open", "true"); /* anyone may deploy: say so where clients look */
  strmap_set (&n->tags, "nex.sandbox", n->cfg.sandbox == SANDBOX_NONE ? "none" : "process");
  sandbox_tags (n, &n->tags); /* nex.sandbox.disabled when a part is off */
  if (n->lameduck)
    strmap_set (&n->tags, "nex.lameduck", "true");
}
