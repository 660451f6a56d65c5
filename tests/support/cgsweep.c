#include "cgsweep.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NODE_CGROUPS 256

static char node_cgroups[MAX_NODE_CGROUPS][24];
static int n_node_cgroups;

void
cgsweep_remember (const char *node_id)
{
  char name[24];
  snprintf (name, sizeof name, "nexc-%.12s", node_id);
  for (int i = 0; i < n_node_cgroups; i++)
    if (strcmp (node_cgroups[i], name) == 0)
      return;
  if (n_node_cgroups < MAX_NODE_CGROUPS)
    snprintf (node_cgroups[n_node_cgroups++], sizeof node_cgroups[0], "%s", name);
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
  FILE *p;
  if (n_node_cgroups == 0)
    return;
  len = (size_t) snprintf (cmd, sizeof cmd, "find /sys/fs/cgroup -type d \\(");
  for (int i = 0; i < n_node_cgroups; i++)
    len += (size_t) snprintf (cmd + len, sizeof cmd - len, "%s -name %s -o -name %s.self",
                              i ? " -o" : "", node_cgroups[i], node_cgroups[i]);
  snprintf (cmd + len, sizeof cmd - len, " \\) -prune -print 2>/dev/null");
  p = popen (cmd, "r");
  while (p && fgets (top, sizeof top, p))
    {
      top[strcspn (top, "\n")] = '\0';
      remove_cgroup_tree (top);
    }
  if (p)
    pclose (p);
  n_node_cgroups = 0;
}
