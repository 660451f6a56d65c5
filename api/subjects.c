#include "api/subjects.h"

#include <string.h>

#include "api/xalloc.h"

#define TOKEN_MAX 256

bool
subjects_token_ok (const char *s)
{
  size_t n = 0;
  if (s == NULL || *s == '\0')
    return false;
  for (; s[n]; n++)
    {
      unsigned char c = (unsigned char) s[n];
      if (c <= ' ' || c == 0x7f || c == '.' || c == '*' || c == '>')
        return false;
      if (n >= TOKEN_MAX)
        return false;
    }
  return true;
}

void
subjects_node_op (struct buf *out, const char *op, const char *ns, const char *node)
{
  buf_reset (out);
  if (ns)
    buf_printf (out, NEX_PREFIX ".%s.%s.%s", op, ns, node);
  else
    buf_printf (out, NEX_PREFIX ".%s.%s", op, node);
}

void
subjects_event (struct buf *out, const char *ns, const char *type)
{
  buf_reset (out);
  buf_printf (out, NEX_PREFIX ".events.%s.%s", ns, type);
}

void
subjects_log (struct buf *out, const char *ns, const char *node, const char *workload,
              const char *id)
{
  buf_reset (out);
  buf_printf (out, NEX_PREFIX ".logs.%s.%s.%s.%s", ns, node, workload, id);
}

int
subjects_split (const char *subject, char **storage, const char **tokens, int max)
{
  char *copy = xstrdup (subject);
  char *p = copy;
  int n = 0;
  *storage = copy;
  for (;;)
    {
      char *dot = strchr (p, '.');
      if (n == max)
        return -1;
      tokens[n++] = p;
      if (dot == NULL)
        break;
      *dot = '\0';
      p = dot + 1;
    }
  return n;
}
