#include "node/sandbox/subids.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "api/decimal.h"

/* A subordinate id file is a few lines per user; a bigger one is not ours
 * to parse whole. */
#define SUBIDS_FILE_MAX (4u << 20)

static bool
parse_u32 (const char *s, const char *end, uint32_t *out)
{
  uint64_t v;
  if (decimal_u64 (s, (size_t) (end - s), &v) < 0 || v > UINT32_MAX)
    return false;
  *out = (uint32_t) v;
  return true;
}

/* The next line of f into line (cap bytes), without its newline. A line
 * that does not fit is read to its end and dropped whole: its tail is no
 * line of its own. *read counts every byte taken from f, dropped ones
 * too; false at the end of f or at SUBIDS_FILE_MAX (a line cut there is
 * not the user's). */
static bool
next_line (FILE *f, char *line, size_t cap, size_t *read)
{
  size_t l = 0;
  bool fits = true;
  int c;
  while (*read < SUBIDS_FILE_MAX && (c = getc (f)) != EOF)
    {
      (*read)++;
      if (c != '\n')
        {
          if (l + 1 < cap)
            line[l++] = (char) c;
          else
            fits = false;
        }
      else if (fits)
        {
          line[l] = '\0';
          return true;
        }
      else
        {
          l = 0;
          fits = true;
        }
    }
  /* The last line without a newline. */
  line[l] = '\0';
  return feof (f) && fits && l > 0;
}

int
subids_find (const char *file, const char *name, uint32_t uid, struct subids_range *out,
             char *why, size_t cap)
{
  FILE *f = fopen (file, "re");
  char uidtext[16], line[512];
  size_t read = 0;
  snprintf (uidtext, sizeof uidtext, "%u", uid);
  if (f == NULL)
    {
      snprintf (why, cap, "no %s (%s)", file, strerror (errno));
      return -1;
    }
  while (next_line (f, line, sizeof line, &read))
    {
      char *c1 = strchr (line, ':'), *c2 = c1 ? strchr (c1 + 1, ':') : NULL;
      size_t l = strlen (line);
      struct subids_range r;
      if (c2 == NULL)
        continue;
      *c1 = '\0';
      if ((name == NULL || strcmp (line, name) != 0) && strcmp (line, uidtext) != 0)
        continue;
      if (!parse_u32 (c1 + 1, c2, &r.start) || !parse_u32 (c2 + 1, line + l, &r.count)
          || r.count == 0 || (uint64_t) r.start + r.count > UINT32_MAX)
        continue;
      *out = r;
      fclose (f);
      return 0;
    }
  fclose (f);
  snprintf (why, cap, "%s has no range for %s (uid %u)", file, name ? name : uidtext, uid);
  return -1;
}

bool
subids_overlap (const struct subids_range *r, uint64_t start, uint64_t count)
{
  return count > 0 && r->count > 0 && (uint64_t) r->start < start + count
         && (uint64_t) r->start + r->count > start;
}

const char *
subids_mapper (const char *prog, char *path, size_t cap, bool *privileged)
{
  static const char *const dirs[] = { "/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin" };
  struct stat st;
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    {
      snprintf (path, cap, "%s/%s", dirs[i], prog);
      if (stat (path, &st) == 0 && S_ISREG (st.st_mode))
        {
          bool suid = st.st_uid == 0 && (st.st_mode & S_ISUID);
          bool fcap = getxattr (path, "security.capability", NULL, 0) > 0;
          *privileged = suid || fcap;
          return suid ? "set-uid root" : fcap ? "file capabilities" : "neither set-uid nor capable";
        }
    }
  *privileged = false;
  return NULL;
}
