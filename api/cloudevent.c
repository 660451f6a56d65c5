#include "api/cloudevent.h"

#include <sodium.h>
#include <stdio.h>

#include "api/jsonw.h"
#include "api/timefmt.h"

void
cloudevent_uuid4 (char out[37])
{
  uint8_t r[16];
  randombytes_buf (r, sizeof r);
  r[6] = (uint8_t) ((r[6] & 0x0F) | 0x40);
  r[8] = (uint8_t) ((r[8] & 0x3F) | 0x80);
  snprintf (out, 37,
            "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
            r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
            r[15]);
}

void
cloudevent_encode (struct buf *out, const char *type, const char *source, struct timespec time,
                   const char *data_json, size_t data_len, const char *id, uint64_t seq)
{
  struct jsonw w;
  char uuid[37];
  char ts[TIMEFMT_RFC3339_MAX];
  if (id == NULL)
    {
      cloudevent_uuid4 (uuid);
      id = uuid;
    }
  timefmt_rfc3339 (ts, sizeof ts, time);
  jsonw_init (&w, out);
  jsonw_obj_begin (&w);
  jsonw_key (&w, "data");
  jsonw_raw (&w, data_json, data_len);
  jsonw_kstr (&w, "datacontenttype", "application/json");
  jsonw_kstr (&w, "id", id);
  if (seq)
    jsonw_kint (&w, "seq", (int64_t) seq);
  jsonw_kstr (&w, "source", source);
  jsonw_kstr (&w, "specversion", "1.0");
  jsonw_kstr (&w, "time", ts);
  jsonw_kstr (&w, "type", type);
  jsonw_obj_end (&w);
}
