/* What node/bus/logs.c (the messages) and node/bus/logseq.c (the
 * numbering) share; nothing else includes it. Loop thread only. */
#ifndef NEXC_NODE_LOGS_INT_H
#define NEXC_NODE_LOGS_INT_H

#include <stddef.h>
#include <stdint.h>

struct log_stream;

/* A message that is not published again when it fails: counted lost. One
 * header (Nexc-Seq for a line, Nexc-Dropped for a drop record). */
void logs_publish_record (struct log_stream *w, const char *level, const char *text, size_t len,
                          const char *hname, const char *hvalue);
/* Number seq is about to go out: journaled first (see struct log_stream). */
void logs_reserve (struct log_stream *w, uint64_t seq);
/* Decimal digits of v into out (at least 21 bytes), NUL-terminated. */
void logs_u64_dec (uint64_t v, char *out);

#endif
