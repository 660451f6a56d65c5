/* decimal: an unsigned decimal number written by someone else (a reply
 * subject's token, a line of /etc/subuid, an echo's body): digits only, no
 * sign, no space, no trailing byte, within 64 bits. Leading zeros are
 * accepted, as strtoull does. */
#ifndef NEXC_API_DECIMAL_H
#define NEXC_API_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

/* The n bytes at s as a number into *out: 0, or -1 (out untouched). */
int decimal_u64 (const char *s, size_t n, uint64_t *out);

#endif
