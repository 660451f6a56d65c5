/* uidrange_proc.c: who runs with the ids of a uid range, from /proc (the
 * uidrange_scan_proc functions of node/sandbox/uidrange.h). Pure reading of
 * <proc>/<pid>/status, bounded per process; any thread. */
#include "node/sandbox/uidrange.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "Uid:\t0\t0\t0\t0" / "Gid:..." lines: fn for each of the four ids in the
 * range. */
static void
ids_in_range (const char *status, const char *key, uint32_t start, uint32_t count, int pid,
              void (*fn) (void *, int, uint32_t), void *ud)
{
  const char *p = strstr (status, key);
  if (p == NULL)
    return;
  p += strlen (key);
  for (int i = 0; i < 4; i++)
    {
      char *end;
      unsigned long v = strtoul (p, &end, 10);
      if (end == p)
        return;
      if (v >= start && v - start < count)
        fn (ud, pid, (uint32_t) v);
      p = end;
    }
}

void
uidrange_scan_proc_each (const char *proc_dir, uint32_t start, uint32_t count,
                         void (*fn) (void *ud, int pid, uint32_t id), void *ud)
{
  DIR *d = opendir (proc_dir);
  struct dirent *e;
  if (d == NULL)
    return;
  while ((e = readdir (d)) != NULL)
    {
      char path[512], buf[4096];
      ssize_t len;
      int fd;
      if (e->d_name[0] < '1' || e->d_name[0] > '9')
        continue;
      snprintf (path, sizeof path, "%s/%s/status", proc_dir, e->d_name);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue; /* exited meanwhile */
      len = read (fd, buf, sizeof buf - 1);
      close (fd);
      if (len <= 0)
        continue;
      buf[len] = '\0';
      /* A zombie holds no resource of the uid: it is only waiting to be
       * reaped (as in a pid namespace being torn down). */
      if (strstr (buf, "\nState:\tZ") || strstr (buf, "\nState:\tX"))
        continue;
      ids_in_range (buf, "\nUid:", start, count, atoi (e->d_name), fn, ud);
      ids_in_range (buf, "\nGid:", start, count, atoi (e->d_name), fn, ud);
    }
  closedir (d);
}

/* Counting wrapper: one hit per process. */
struct count_scan {
  int *pids;
  uint32_t *uids;
  size_t max, found;
  int last_pid;
};

static void
on_count (void *ud, int pid, uint32_t id)
{
  struct count_scan *c = ud;
  if (pid == c->last_pid)
    return;
  c->last_pid = pid;
  if (c->found < c->max)
    {
      if (c->pids)
        c->pids[c->found] = pid;
      if (c->uids)
        c->uids[c->found] = id;
    }
  c->found++;
}

size_t
uidrange_scan_proc (const char *proc_dir, uint32_t start, uint32_t count, int *pids,
                    uint32_t *uids, size_t max)
{
  struct count_scan c = { pids, uids, max, 0, 0 };
  uidrange_scan_proc_each (proc_dir, start, count, on_count, &c);
  return c.found;
}
