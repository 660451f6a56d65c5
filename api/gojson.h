/* gojson: how Go's encoding/json names a JSON value's type in its
 * "cannot unmarshal <type> into ..." errors, which Nex sends to clients and
 * our decoders reproduce. */
#ifndef NEXC_GOJSON_H
#define NEXC_GOJSON_H

#include <jansson.h>

static inline const char *
gojson_type_name (const json_t *v)
{
  switch (json_typeof (v))
    {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    default: return "null";
    }
}

#endif
