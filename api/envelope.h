/* envelope: the reply envelope of every control response (reference §1.1).
 *   success: {"type":T,"data":{...}}
 *   failure: {"type":T,"data":"","error":"<reason>"}   (data is Go's empty []byte) */
#ifndef NEXC_ENVELOPE_H
#define NEXC_ENVELOPE_H

#include <stddef.h>

#include "api/buf.h"

void envelope_ok (struct buf *out, const char *type, const char *data_json, size_t n);
void envelope_err (struct buf *out, const char *type, const char *message);

#endif
