#include "node/core/path.h"

#include <string.h>

#include "api/buf.h"

int
path_join (char *out, size_t cap, const char *a, const char *b)
{
  struct buf t = BUF_INIT;
  const char *parts[2] = { a, b };
  int rc = 0;
  for (int i = 0; i < 2; i++)
    {
      const char *p = parts[i];
      while (*p)
        {
          const char *s;
          size_t n;
          while (*p == '/')
            p++;
          if (*p == '\0')
            break;
          s = strchr (p, '/');
          n = s ? (size_t) (s - p) : strlen (p);
          if ((n == 2 && p[0] == '.' && p[1] == '.') || (n == 1 && p[0] == '.'))
            rc = -1;
          buf_append (&t, "/", 1);
          buf_append (&t, p, n);
          p += n;
        }
    }
  if (t.len == 0)
    buf_append (&t, "/", 1);
  if (rc == 0 && t.len < cap)
    {
      memcpy (out, t.data, t.len);
      out[t.len] = '\0';
    }
  else
    rc = -1;
  buf_free (&t);
  return rc;
}
