#include "api/jsonw.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void
jsonw_init (struct jsonw *w, struct buf *out)
{
  memset (w, 0, sizeof *w);
  w->out = out;
}

/* Emit the separator a new value needs at the current position. */
static void
before_value (struct jsonw *w)
{
  if (w->after_key)
    {
      w->after_key = false;
      return;
    }
  if (w->depth > 0)
    {
      if (w->need_comma[w->depth])
        buf_putc (w->out, ',');
      w->need_comma[w->depth] = true;
    }
}

static void
open (struct jsonw *w, char c)
{
  before_value (w);
  buf_putc (w->out, c);
  if (w->depth + 1 < JSONW_MAX_DEPTH)
    w->depth++;
  w->need_comma[w->depth] = false;
}

static void
close_ (struct jsonw *w, char c)
{
  buf_putc (w->out, c);
  if (w->depth > 0)
    w->depth--;
}

void
jsonw_obj_begin (struct jsonw *w)
{
  open (w, '{');
}
void
jsonw_obj_end (struct jsonw *w)
{
  close_ (w, '}');
}
void
jsonw_arr_begin (struct jsonw *w)
{
  open (w, '[');
}
void
jsonw_arr_end (struct jsonw *w)
{
  close_ (w, ']');
}

void
jsonw_key (struct jsonw *w, const char *key)
{
  before_value (w);
  jsonw_escape (w->out, key, strlen (key));
  buf_putc (w->out, ':');
  w->after_key = true;
}

/* Length of a valid UTF-8 sequence starting at p (at most n bytes), or 0. */
static size_t
utf8_valid_len (const unsigned char *p, size_t n)
{
  unsigned char c = p[0];
  size_t len, i;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, cp = c & 0x07;
  else
    return 0;
  if (len > n)
    return 0;
  for (i = 1; i < len; i++)
    {
      if ((p[i] & 0xC0) != 0x80)
        return 0;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))
      || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

void
jsonw_escape (struct buf *out, const char *s, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *) s;
  size_t i = 0;
  buf_reserve (out, n + 2);
  buf_putc (out, '"');
  while (i < n)
    {
      unsigned char c = p[i];
      size_t l;
      if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' && c < 0x80)
        {
          size_t start = i;
          while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\'
                 && p[i] != '<' && p[i] != '>' && p[i] != '&')
            i++;
          buf_append (out, s + start, i - start);
          continue;
        }
      switch (c)
        {
        case '"': buf_puts (out, "\\\""); i++; continue;
        case '\\': buf_puts (out, "\\\\"); i++; continue;
        case '\n': buf_puts (out, "\\n"); i++; continue;
        case '\r': buf_puts (out, "\\r"); i++; continue;
        case '\t': buf_puts (out, "\\t"); i++; continue;
        /* Go >= 1.22 (the Nex baseline's toolchain) writes these short. */
        case '\b': buf_puts (out, "\\b"); i++; continue;
        case '\f': buf_puts (out, "\\f"); i++; continue;
        default: break;
        }
      if (c < 0x20 || c == '<' || c == '>' || c == '&')
        {
          char e[7] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0 };
          buf_puts (out, e);
          i++;
          continue;
        }
      l = utf8_valid_len (p + i, n - i);
      if (l == 0)
        {
          buf_puts (out, "\xEF\xBF\xBD");
          i++;
          continue;
        }
      if (l == 3 && p[i] == 0xE2 && p[i + 1] == 0x80 && (p[i + 2] == 0xA8 || p[i + 2] == 0xA9))
        {
          buf_puts (out, p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
          i += 3;
          continue;
        }
      buf_append (out, s + i, l);
      i += l;
    }
  buf_putc (out, '"');
}

void
jsonw_strn (struct jsonw *w, const char *s, size_t n)
{
  before_value (w);
  jsonw_escape (w->out, s, n);
}

void
jsonw_str (struct jsonw *w, const char *s)
{
  jsonw_strn (w, s ? s : "", s ? strlen (s) : 0);
}

void
jsonw_int (struct jsonw *w, int64_t v)
{
  before_value (w);
  buf_printf (w->out, "%" PRId64, v);
}

void
jsonw_uint (struct jsonw *w, uint64_t v)
{
  before_value (w);
  buf_printf (w->out, "%" PRIu64, v);
}

void
jsonw_bool (struct jsonw *w, bool v)
{
  before_value (w);
  buf_puts (w->out, v ? "true" : "false");
}

void
jsonw_null (struct jsonw *w)
{
  before_value (w);
  buf_puts (w->out, "null");
}

void
jsonw_raw (struct jsonw *w, const char *json, size_t n)
{
  before_value (w);
  buf_append (w->out, json, n);
}

void
jsonw_kstr (struct jsonw *w, const char *key, const char *s)
{
  jsonw_key (w, key);
  jsonw_str (w, s);
}

void
jsonw_kint (struct jsonw *w, const char *key, int64_t v)
{
  jsonw_key (w, key);
  jsonw_int (w, v);
}

void
jsonw_kbool (struct jsonw *w, const char *key, bool v)
{
  jsonw_key (w, key);
  jsonw_bool (w, v);
}
