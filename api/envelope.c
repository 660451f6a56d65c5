#include "api/envelope.h"

#include <string.h>

#include "api/jsonw.h"

void
envelope_ok (struct buf *out, const char *type, const char *data_json, size_t n)
{
  struct jsonw w;
  jsonw_init (&w, out);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "type", type);
  jsonw_key (&w, "data");
  jsonw_raw (&w, data_json, n);
  jsonw_obj_end (&w);
}

void
envelope_err (struct buf *out, const char *type, const char *message)
{
  struct jsonw w;
  jsonw_init (&w, out);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "type", type);
  jsonw_kstr (&w, "data", "");
  jsonw_kstr (&w, "error", message);
  jsonw_obj_end (&w);
}
