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
  char msg[2048];
  char line[4096];
  va_list ap;
  int n;
  size_t o;
  ssize_t r;
  if (level > log_level_cur)
    return;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  o = (size_t) snprintf (line, sizeof line, "%s: %s: ", log_prog, level_names[level]);
  /* One line per message, whatever the message holds: text from requests
   * (names, errors) must not be able to forge log lines of its own. */
  for (const unsigned char *p = (const unsigned char *) msg; *p && o + 5 < sizeof line; p++)
    {
      if (*p >= 0x20 && *p != 0x7f)
        line[o++] = (char) *p;
      else
        o += (size_t) snprintf (line + o, sizeof line - o, "\\x%02x", *p);
    }
  line[o++] = '\n';
  n = (int) o;
  r = write (STDERR_FILENO, line, (size_t) n);
  (void) r;
}
