/* cloudevent: CloudEvents 1.0 structured JSON as Nex emits them (reference
 * §4.2): a map, so keys come out sorted: data, datacontenttype, id, source,
 * specversion, time, type. Our extension "seq" (a per-node sequence number so
 * consumers can detect gaps) sorts between "id" and "source"; it is omitted
 * when 0. */
#ifndef NEXC_CLOUDEVENT_H
#define NEXC_CLOUDEVENT_H

#include <stdint.h>
#include <time.h>

#include "api/buf.h"

/* id may be NULL: a random UUID v4 is generated. */
void cloudevent_encode (struct buf *out, const char *type, const char *source, struct timespec time,
                        const char *data_json, size_t data_len, const char *id, uint64_t seq);
/* A random RFC 4122 version 4 UUID, lowercase hyphenated (37 bytes with NUL). */
void cloudevent_uuid4 (char out[37]);

#endif
