/* fuzz_config: the node configuration parser (node/core/config.c, config_parse)
 * over the defaults, as `nexc-node up` applies it. */
#include <stdint.h>
#include <stdlib.h>

#include "node/core/config.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct config cfg;
  struct nxerr err = { 0 };
  config_defaults (&cfg);
  if (config_parse (&cfg, (const char *) data, size, &err) < 0 && err.msg[0] == '\0')
    abort ();
  if (cfg.workload_types.n == 0 || cfg.state_dir == NULL)
    abort (); /* the defaults the node relies on survive any input */
  config_free (&cfg);
  return 0;
}
