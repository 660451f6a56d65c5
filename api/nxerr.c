#include "api/nxerr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
nxerr_set (struct nxerr *e, int code, const char *fmt, ...)
{
  va_list ap;
  if (e == NULL)
    return -1;
  e->code = code;
  va_start (ap, fmt);
  vsnprintf (e->msg, sizeof e->msg, fmt, ap);
  va_end (ap);
  return -1;
}

int
nxerr_sys (struct nxerr *e, int errno_value, const char *fmt, ...)
{
  va_list ap;
  size_t n;
  if (e == NULL)
    return -1;
  e->code = errno_value;
  va_start (ap, fmt);
  vsnprintf (e->msg, sizeof e->msg, fmt, ap);
  va_end (ap);
  n = strlen (e->msg);
  snprintf (e->msg + n, sizeof e->msg - n, ": %s", strerror (errno_value));
  return -1;
}

int
nxerr_wrap (struct nxerr *e, const char *fmt, ...)
{
  char ctx[NXERR_MSG_MAX];
  char old[NXERR_MSG_MAX];
  va_list ap;
  if (e == NULL)
    return -1;
  va_start (ap, fmt);
  vsnprintf (ctx, sizeof ctx, fmt, ap);
  va_end (ap);
  memcpy (old, e->msg, sizeof old);
  if (old[0] != '\0')
    snprintf (e->msg, sizeof e->msg, "%s: %s", ctx, old);
  else
    snprintf (e->msg, sizeof e->msg, "%s", ctx);
  return -1;
}
