#include "api/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *log_prog = "nexc";
static volatile enum log_level log_level_cur = LOG_INFO;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
log_init (const char *prog, enum log_level level)
{
  log_prog = prog;
  log_level_cur = level;
}

void
log_set_level (enum log_level level)
{
  log_level_cur = level;
}

enum log_level
log_get_level (void)
{
  return log_level_cur;
}

int
log_level_parse (const char *s, enum log_level *out)
{
  for (int i = 0; i < 4; i++)
    if (strcmp (s, level_names[i]) == 0)
      {
        *out = (enum log_level) i;
        return 0;
      }
  return -1;
}

void
log_msg (enum log_level level, const char *fmt, ...)
{
  char line[2048];
  va_list ap;
  int n;
  ssize_t r;
  if (level > log_level_cur)
    return;
  n = snprintf (line, sizeof line, "%s: %s: ", log_prog, level_names[level]);
  va_start (ap, fmt);
  n += vsnprintf (line + n, sizeof line - (size_t) n - 1, fmt, ap);
  va_end (ap);
  if (n > (int) sizeof line - 2)
    n = (int) sizeof line - 2;
  line[n++] = '\n';
  r = write (STDERR_FILENO, line, (size_t) n);
  (void) r;
}
