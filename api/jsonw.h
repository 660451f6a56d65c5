/* jsonw: a compact JSON writer that produces the bytes Go's encoding/json
 * produces: fields in the order written, no whitespace, "<", ">", "&",
 * U+2028 and U+2029 escaped, invalid UTF-8 replaced by U+FFFD.
 *
 * Byte compatibility with Nex matters (clients compare replies), which is why
 * we do not serialize with jansson (it neither escapes <>& nor orders maps as
 * Go does). The writer tracks commas itself; nesting depth is bounded. */
#ifndef NEXC_JSONW_H
#define NEXC_JSONW_H

#include <stdbool.h>
#include <stdint.h>

#include "api/buf.h"

#define JSONW_MAX_DEPTH 32

struct jsonw {
  struct buf *out;
  int depth;
  bool need_comma[JSONW_MAX_DEPTH];
  bool after_key;
};

void jsonw_init (struct jsonw *w, struct buf *out);
void jsonw_obj_begin (struct jsonw *w);
void jsonw_obj_end (struct jsonw *w);
void jsonw_arr_begin (struct jsonw *w);
void jsonw_arr_end (struct jsonw *w);
void jsonw_key (struct jsonw *w, const char *key);
void jsonw_str (struct jsonw *w, const char *s);
void jsonw_strn (struct jsonw *w, const char *s, size_t n);
void jsonw_int (struct jsonw *w, int64_t v);
void jsonw_uint (struct jsonw *w, uint64_t v);
void jsonw_bool (struct jsonw *w, bool v);
void jsonw_null (struct jsonw *w);
/* Insert already-encoded JSON as a value. */
void jsonw_raw (struct jsonw *w, const char *json, size_t n);

/* Key + value shorthands. */
void jsonw_kstr (struct jsonw *w, const char *key, const char *s);
void jsonw_kint (struct jsonw *w, const char *key, int64_t v);
void jsonw_kbool (struct jsonw *w, const char *key, bool v);

/* Append the Go-escaped form of s (with quotes) to out. */
void jsonw_escape (struct buf *out, const char *s, size_t n);

#endif
