/* buf: a growable byte buffer, always NUL-terminated after len.
 *
 * Owner: whoever declares it. buf_free releases the memory and leaves an
 * empty buffer. Allocation failure aborts: a daemon that cannot allocate a
 * few hundred bytes has nothing better to do. */
#ifndef NEXC_BUF_H
#define NEXC_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
  char *data;
  size_t len;
  size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_reserve (struct buf *b, size_t extra);
void buf_append (struct buf *b, const void *p, size_t n);
void buf_puts (struct buf *b, const char *s);
void buf_putc (struct buf *b, char c);
void buf_printf (struct buf *b, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
void buf_reset (struct buf *b);
void buf_free (struct buf *b);
/* Hand the storage to the caller (who frees it); the buffer becomes empty. */
char *buf_steal (struct buf *b, size_t *len_out);

static inline void
buf_cleanup (struct buf *b)
{
  buf_free (b);
}
#define cleanup_buf __attribute__ ((cleanup (buf_cleanup)))

#endif
