#include "agent/sandbox.h"

#include <errno.h>
#include <string.h>

static const char *const tier_names[] = { [SANDBOX_NONE] = "none" };

int
sandbox_parse (const char *name, struct sandbox *out, struct nxerr *err)
{
  for (size_t i = 0; i < sizeof tier_names / sizeof tier_names[0]; i++)
    if (strcmp (name, tier_names[i]) == 0)
      {
        out->tier = (enum sandbox_tier) i;
        return 0;
      }
  return nxerr_set (err, EINVAL, "unknown sandbox tier \"%s\" (known: none)", name);
}

const char *
sandbox_name (const struct sandbox *sb)
{
  return tier_names[sb->tier];
}

int
sandbox_prepare (struct sandbox *sb, struct nxerr *err)
{
  (void) err;
  switch (sb->tier)
    {
    case SANDBOX_NONE:
      return 0;
    }
  return 0;
}

int
sandbox_enter_child (const struct sandbox *sb, const char **what)
{
  *what = "sandbox";
  switch (sb->tier)
    {
    case SANDBOX_NONE:
      return 0;
    }
  return 0;
}

void
sandbox_cleanup (struct sandbox *sb)
{
  (void) sb;
}
