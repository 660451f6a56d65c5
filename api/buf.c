#include "api/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/xalloc.h"

void
buf_reserve (struct buf *b, size_t extra)
{
  size_t need = b->len + extra + 1;
  size_t cap;
  if (need <= b->cap)
    return;
  cap = b->cap ? b->cap : 64;
  while (cap < need)
    cap *= 2;
  b->data = xrealloc (b->data, cap);
  b->cap = cap;
}

void
buf_append (struct buf *b, const void *p, size_t n)
{
  buf_reserve (b, n);
  if (n)
    memcpy (b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void
buf_puts (struct buf *b, const char *s)
{
  buf_append (b, s, strlen (s));
}

void
buf_putc (struct buf *b, char c)
{
  buf_append (b, &c, 1);
}

void
buf_printf (struct buf *b, const char *fmt, ...)
{
  va_list ap;
  int n;
  va_start (ap, fmt);
  n = vsnprintf (NULL, 0, fmt, ap);
  va_end (ap);
  if (n < 0)
    return;
  buf_reserve (b, (size_t) n);
  va_start (ap, fmt);
  vsnprintf (b->data + b->len, (size_t) n + 1, fmt, ap);
  va_end (ap);
  b->len += (size_t) n;
}

void
buf_reset (struct buf *b)
{
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

void
buf_free (struct buf *b)
{
  free (b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

char *
buf_steal (struct buf *b, size_t *len_out)
{
  char *p;
  if (b->data == NULL)
    buf_reserve (b, 0);
  p = b->data;
  if (len_out)
    *len_out = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}
