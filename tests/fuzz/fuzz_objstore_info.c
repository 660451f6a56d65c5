/* fuzz_objstore_info: object store metadata (api/objstore_info.c), which the
 * node reads from a JetStream stream any writer of the bucket controls.
 * Accepted metadata must hold what objstore.h promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/objstore.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct objstore_info info;
  struct nxerr err = { 0 };
  if (objstore_info_parse ((const char *) data, size, &info, &err) < 0)
    {
      static const struct objstore_info zero;
      if (memcmp (&info, &zero, sizeof info) != 0 || err.msg[0] == '\0')
        abort (); /* "On failure *info is left zeroed" */
      return 0;
    }
  if (info.name == NULL || info.name[0] == '\0' || strlen (info.name) > OBJSTORE_NAME_MAX
      || !objstore_valid_bucket (info.bucket) || info.nuid == NULL
      || strlen (info.nuid) > OBJSTORE_NUID_MAX || strchr (info.nuid, '.')
      || strchr (info.nuid, '*') || strchr (info.nuid, '>')
      || (info.link_bucket && !objstore_valid_bucket (info.link_bucket)))
    abort ();
  objstore_info_free (&info);
  return 0;
}
