#include "cgsweep.h"

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NODE_CGROUPS 256

static struct {
  char name[24];
  pid_t pid;
} node_cgroups[MAX_NODE_CGROUPS];
static int n_node_cgroups;

void
cgsweep_remember (const char *node_id, pid_t pid)
{
  char name[24];
  snprintf (name, sizeof name, "nexc-%.12s", node_id);
  for (int i = 0; i < n_node_cgroups; i++)
    if (strcmp (node_cgroups[i].name, name) == 0)
      {
        node_cgroups[i].pid = pid; /* restarted on the same state dir */
        return;
      }
  if (n_node_cgroups < MAX_NODE_CGROUPS)
    {
      snprintf (node_cgroups[n_node_cgroups].name, sizeof node_cgroups[0].name, "%s", name);
      node_cgroups[n_node_cgroups++].pid = pid;
    }
}

/* Alive and not a zombie. */
static bool
running (pid_t pid)
{
  char path[64], buf[256], *rp;
  FILE *f;
  bool alive = false;
  if (pid <= 0 || kill (pid, 0) < 0)
    return false;
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  f = fopen (path, "r");
  if (f && fgets (buf, sizeof buf, f) && (rp = strrchr (buf, ')')) != NULL)
    alive = rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
  if (f)
    fclose (f);
  return alive;
}

/* One cgroup tree, deepest first: what still runs in it killed, each dir
 * removed (a killed process leaves its cgroup a moment later). */
static void
remove_cgroup_tree (const char *top)
{
  char cmd[600], dir[1024], procs[1100];
  FILE *p;
  snprintf (cmd, sizeof cmd, "find '%s' -depth -type d 2>/dev/null", top);
  p = popen (cmd, "r");
  while (p && fgets (dir, sizeof dir, p))
    {
      FILE *fp;
      long pid;
      dir[strcspn (dir, "\n")] = '\0';
      snprintf (procs, sizeof procs, "%s/cgroup.procs", dir);
      fp = fopen (procs, "r");
      while (fp && fscanf (fp, "%ld", &pid) == 1)
        if (pid > 1 && pid != (long) getpid ())
          kill ((pid_t) pid, SIGKILL);
      if (fp)
        fclose (fp);
      for (int i = 0; i < 100 && rmdir (dir) < 0 && errno == EBUSY; i++)
        usleep (10000);
    }
  if (p)
    pclose (p);
}

void
cgsweep_run (void)
{
  char cmd[MAX_NODE_CGROUPS * 48 + 128], top[1024];
  size_t len;
  int n_dead = 0, kept = 0;
  FILE *p;
  if (n_node_cgroups == 0)
    return;
  len = (size_t) snprintf (cmd, sizeof cmd, "find /sys/fs/cgroup -type d \\(");
  for (int i = 0; i < n_node_cgroups; i++)
    {
      const char *name = node_cgroups[i].name;
      if (running (node_cgroups[i].pid))
        {
          node_cgroups[kept++] = node_cgroups[i];
          continue;
        }
      len += (size_t) snprintf (cmd + len, sizeof cmd - len, "%s -name %s -o -name %s.self",
                                n_dead++ ? " -o" : "", name, name);
    }
  n_node_cgroups = kept;
  if (n_dead == 0)
    return;
  snprintf (cmd + len, sizeof cmd - len, " \\) -prune -print 2>/dev/null");
  p = popen (cmd, "r");
  while (p && fgets (top, sizeof top, p))
    {
      top[strcspn (top, "\n")] = '\0';
      remove_cgroup_tree (top);
    }
  if (p)
    pclose (p);
}
