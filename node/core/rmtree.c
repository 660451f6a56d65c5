#include "node/core/rmtree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "api/xalloc.h"

/* The names from the top of the tree down to the current directory; the
 * way back up is "..", which is the real parent (no link is ever followed). */
struct trail {
  char **names;
  size_t depth, cap;
};

static void
trail_push (struct trail *t, const char *name)
{
  if (t->depth == t->cap)
    {
      t->cap = t->cap ? 2 * t->cap : 64;
      t->names = xrealloc (t->names, t->cap * sizeof *t->names);
    }
  t->names[t->depth++] = xstrdup (name);
}

static void
trail_free (struct trail *t)
{
  for (size_t i = 0; i < t->depth; i++)
    free (t->names[i]);
  free (t->names);
}

/* One pass over the directory cur: unlink what is not a directory; on the
 * first directory, return its name in sub (malloc'd). Returns 1 when
 * something was removed or a subdirectory found, 0 when cur is empty, -1 on
 * error. */
static int
scan (int cur, char **sub, struct nxerr *err)
{
  int fd = dup (cur);
  DIR *d;
  struct dirent *e;
  int rc = 0;
  *sub = NULL;
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      if (fd >= 0)
        close (fd);
      return nxerr_sys (err, errno, "opendir");
    }
  while ((e = readdir (d)) != NULL)
    {
      if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
        continue;
      if (e->d_type != DT_DIR && unlinkat (cur, e->d_name, 0) == 0)
        {
          rc = 1;
          continue;
        }
      if (e->d_type == DT_DIR || errno == EISDIR)
        {
          *sub = xstrdup (e->d_name);
          rc = 1;
          break;
        }
      if (errno != ENOENT)
        {
          rc = nxerr_sys (err, errno, "unlink %s", e->d_name);
          break;
        }
    }
  closedir (d);
  return rc;
}

int
rmtree_at (int dirfd, const char *name, struct nxerr *err)
{
  struct trail t = { NULL, 0, 0 };
  int cur, rc = 0;
  if (unlinkat (dirfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR)
    return nxerr_sys (err, errno, "unlink %s", name);
  cur = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (cur < 0)
    return errno == ENOENT ? 0 : nxerr_sys (err, errno, "open %s", name);
  for (;;)
    {
      char *sub = NULL;
      int r = scan (cur, &sub, err);
      if (r < 0)
        {
          rc = -1;
          break;
        }
      if (sub)
        {
          int next = openat (cur, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (next < 0)
            {
              rc = nxerr_sys (err, errno, "open %s", sub);
              free (sub);
              break;
            }
          close (cur);
          cur = next;
          trail_push (&t, sub);
          free (sub);
          continue;
        }
      if (r > 0)
        continue; /* removed files: look once more before calling it empty */
      /* cur is empty: step up and remove it. */
      if (t.depth == 0)
        break;
      {
        int up = openat (cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *child = t.names[--t.depth];
        if (up < 0)
          {
            rc = nxerr_sys (err, errno, "open ..");
            free (child);
            break;
          }
        close (cur);
        cur = up;
        if (unlinkat (cur, child, AT_REMOVEDIR) < 0 && errno != ENOENT)
          rc = nxerr_sys (err, errno, "rmdir %s", child);
        free (child);
        if (rc < 0)
          break;
      }
    }
  close (cur);
  trail_free (&t);
  if (rc == 0 && unlinkat (dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    rc = nxerr_sys (err, errno, "rmdir %s", name);
  return rc;
}
