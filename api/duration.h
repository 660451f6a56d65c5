/* duration: the one written form of a span of time that nexc accepts from
 * people: config values (logs.stream.max_age) and command-line flags
 * (nexc logs --since). A number followed by a unit, or several such groups
 * from the largest unit down: "90s", "10m", "2h", "1d", "1h30m", "500ms".
 * Units: d (24 h), h, m, s, ms. No sign, no spaces, no fractions, no bare
 * number (a bare number is where "ms or s?" goes wrong). Any other text is
 * refused, as is a value outside the caller's bounds. */
#ifndef NEXC_DURATION_H
#define NEXC_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "api/nxerr.h"

#define DURATION_TEXT_MAX 32

/* s → *ms, within [min_ms, max_ms]. The error names s (at most 40 bytes
 * of it: the text may be hostile) and the bounds. */
int duration_parse (const char *s, int64_t min_ms, int64_t max_ms, int64_t *ms,
                    struct nxerr *err);
/* ms ≥ 0 in the form duration_parse reads, with the fewest groups
 * ("24h", "1h30m", "1500ms"). */
void duration_format (int64_t ms, char out[DURATION_TEXT_MAX]);

#endif
