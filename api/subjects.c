#include "api/subjects.h"

#include <stdio.h>
#include <stdlib.h>
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

bool
subjects_pattern_ok (const char *s, size_t max)
{
  size_t n, tok = 0; /* length of the current token */
  if (s == NULL || *s == '\0')
    return false;
  n = strlen (s);
  if (n > max)
    return false;
  for (size_t i = 0; i <= n; i++)
    {
      unsigned char c = (unsigned char) s[i];
      if (c == '.' || c == '\0')
        {
          if (tok == 0)
            return false; /* empty token: leading, trailing or doubled dot */
          if (tok == 1 && s[i - 1] == '>' && c != '\0')
            return false; /* '>' must be the last token */
          tok = 0;
          continue;
        }
      if (c <= ' ' || c == 0x7f)
        return false;
      if ((c == '*' || c == '>') && (tok != 0 || (s[i + 1] != '.' && s[i + 1] != '\0')))
        return false; /* a wildcard inside a token */
      if (tok > 0 && (s[i - 1] == '*' || s[i - 1] == '>'))
        return false;
      tok++;
    }
  return true;
}

/* Next token of *p (advanced past it and its dot); its length in *len. */
static const char *
next_token (const char **p, size_t *len)
{
  const char *t = *p, *dot;
  if (*t == '\0')
    return NULL;
  dot = strchr (t, '.');
  *len = dot ? (size_t) (dot - t) : strlen (t);
  *p = dot ? dot + 1 : t + *len;
  return t;
}

bool
subjects_overlap (const char *a, const char *b)
{
  for (;;)
    {
      size_t la = 0, lb = 0;
      const char *ta = next_token (&a, &la), *tb = next_token (&b, &lb);
      if (ta == NULL || tb == NULL)
        return ta == NULL && tb == NULL; /* same length: every token matched */
      /* '>' takes this token and any that follow; the other has one here. */
      if ((la == 1 && *ta == '>') || (lb == 1 && *tb == '>'))
        return true;
      if ((la == 1 && *ta == '*') || (lb == 1 && *tb == '*'))
        continue;
      if (la != lb || memcmp (ta, tb, la) != 0)
        return false;
    }
}

bool
subjects_within (const char *s, const char *within)
{
  for (;;)
    {
      size_t ls = 0, lw = 0;
      const char *ts = next_token (&s, &ls), *tw = next_token (&within, &lw);
      if (ts == NULL || tw == NULL)
        return ts == NULL && tw == NULL;
      if (lw == 1 && *tw == '>')
        return true; /* ts exists: '>' takes it and the rest */
      if (ls == 1 && *ts == '>')
        return false; /* s reaches further than one token */
      if (lw == 1 && *tw == '*')
        continue;
      if (ls != lw || memcmp (ts, tw, ls) != 0)
        return false; /* includes s '*' against a literal */
    }
}

bool
subjects_namespace (const char *subject, char *out, size_t cap)
{
  char *storage = NULL;
  const char *tok[8];
  int nt = subjects_split (subject, &storage, tok, 8);
  bool ok = nt >= 3 && subjects_token_ok (tok[2]);
  if (ok)
    snprintf (out, cap, "%s", tok[2]);
  free (storage);
  return ok;
}
