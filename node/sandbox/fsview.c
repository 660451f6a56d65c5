#include "node/sandbox/fsview.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/core/node.h"

static const char *const refused_paths[]
    = { "/proc", "/sys", "/dev", "/run", "/boot", "/root", "/home", "/etc/shadow", "/etc/gshadow",
        "/etc/sudoers", "/etc/sudoers.d", "/etc/ssh", NULL };

enum fs_mode
fsview_mode (const struct node *n, const struct fs_spec *fs)
{
  if (fs && fs->mode != FS_UNSET)
    return fs->mode;
  return n->cfg.filesystem == FS_HOST_RO ? FS_HOST_RO : FS_MINIMAL;
}

/* a == b, a below b or b below a (both absolute, normalised). */
static bool
overlaps (const char *a, const char *b)
{
  size_t la = strlen (a), lb = strlen (b);
  size_t l = la < lb ? la : lb;
  if (strncmp (a, b, l) != 0)
    return false;
  return la == lb || (la > lb ? a[lb] == '/' : b[la] == '/') || l == 1;
}

/* The node's own sensitive paths, resolved when they exist. */
static const char *
node_path (const struct node *n, int i, char *buf)
{
  const char *p = NULL;
  switch (i)
    {
    case 0:
      p = n->cfg.state_dir;
      break;
    case 1:
      p = n->cfg.uid_lock_dir ? n->cfg.uid_lock_dir : "/run/nexc";
      break;
    case 2:
      p = n->cfg.wcreds_key_file;
      break;
    default:
      return NULL;
    }
  if (p == NULL)
    return "";
  return realpath (p, buf) ? buf : p;
}

static const char *
refused_by (const struct node *n, const char *path, char *buf)
{
  for (int i = 0; refused_paths[i]; i++)
    if (overlaps (path, refused_paths[i]))
      return refused_paths[i];
  for (int i = 0; i < 3; i++)
    {
      const char *p = node_path (n, i, buf);
      if (p[0] == '/' && overlaps (path, p))
        return i == 0 ? "the node's state dir" : (i == 1 ? "the uid lock dir" : "a key file");
    }
  return NULL;
}

void
fsview_fill (const struct node *n, const struct fs_spec *fs, Nexc__Agent__Deploy *d)
{
  if (fsview_mode (n, fs) == FS_HOST_RO)
    {
      d->filesystem = NEXC__AGENT__DEPLOY__FILESYSTEM__HOST_RO;
      return;
    }
  d->filesystem = NEXC__AGENT__DEPLOY__FILESYSTEM__MINIMAL;
  if (fs && fs->n_bind_ro)
    {
      d->n_bind_ro = fs->n_bind_ro;
      d->bind_ro = fs->bind_ro;
    }
}

int
fsview_check (const struct node *n, const struct fs_spec *fs, char *msg, size_t cap)
{
  char real[PATH_MAX], buf[PATH_MAX];
  if (fs == NULL || (fs->mode == FS_UNSET && fs->n_bind_ro == 0))
    return 0;
  if (n->cfg.sandbox != SANDBOX_PROCESS)
    {
      snprintf (msg, cap, "Invalid deploy request: filesystem needs the process sandbox (this "
                          "node runs sandbox \"none\": workloads see the host as the node does)");
      return -1;
    }
  for (size_t i = 0; i < fs->n_bind_ro; i++)
    {
      const char *p = fs->bind_ro[i], *why;
      if (realpath (p, real) == NULL)
        {
          snprintf (msg, cap, "Invalid deploy request: filesystem.bind_ro[%zu] \"%s\": %s", i, p,
                    strerror (errno));
          return -1;
        }
      if ((why = refused_by (n, p, buf)) != NULL || (why = refused_by (n, real, buf)) != NULL)
        {
          snprintf (msg, cap,
                    "Invalid deploy request: filesystem.bind_ro[%zu] \"%s\"%s%s%s is refused: it "
                    "would show %s",
                    i, p, strcmp (p, real) ? " (" : "", strcmp (p, real) ? real : "",
                    strcmp (p, real) ? ")" : "", why);
          return -1;
        }
    }
  return 0;
}
