#include "node/sandbox/uidrange.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/xalloc.h"

#define UID_NOBODY 65534u
#define UID_INVALID 0xffffffffu

static bool
bit_get (const uint8_t *v, uint32_t i)
{
  return (v[i >> 3] >> (i & 7)) & 1u;
}

static void
bit_set (uint8_t *v, uint32_t i, bool on)
{
  if (on)
    v[i >> 3] = (uint8_t) (v[i >> 3] | (1u << (i & 7)));
  else
    v[i >> 3] = (uint8_t) (v[i >> 3] & ~(1u << (i & 7)));
}

int
uidrange_check (uint32_t start, uint32_t count, struct nxerr *err)
{
  if (count == 0 || count > UIDRANGE_MAX_COUNT)
    return nxerr_set (err, EINVAL, "uid_range.count: %u is out of range [1, %u]", count,
                      UIDRANGE_MAX_COUNT);
  if (start == 0)
    return nxerr_set (err, EINVAL, "uid_range.start: 0 (root) cannot be a sandbox uid");
  if ((uint64_t) start + count > UID_INVALID)
    return nxerr_set (err, EINVAL, "uid_range: %u + %u goes past the last valid uid", start,
                      count);
  return 0;
}

static void
reserve (struct uidrange *r, uint32_t uid)
{
  if (uidrange_contains (r, uid) && !bit_get (r->used, uid - r->start))
    {
      bit_set (r->used, uid - r->start, true);
      r->reserved++;
    }
}

int
uidrange_init (struct uidrange *r, uint32_t start, uint32_t count, uint32_t own_uid,
               struct nxerr *err)
{
  memset (r, 0, sizeof *r);
  if (uidrange_check (start, count, err) < 0)
    return -1;
  r->start = start;
  r->count = count;
  r->used = xcalloc ((count + 7) / 8, 1);
  reserve (r, own_uid);
  reserve (r, UID_NOBODY);
  if (r->reserved == r->count)
    {
      uidrange_free (r);
      return nxerr_set (err, EINVAL, "uid_range: no usable uid (the range holds only %s)",
                        own_uid == start ? "the node's own uid" : "uid 65534 (nobody)");
    }
  return 0;
}

void
uidrange_free (struct uidrange *r)
{
  free (r->used);
  r->used = NULL;
  r->count = 0;
}

bool
uidrange_contains (const struct uidrange *r, uint32_t uid)
{
  return r->count > 0 && uid >= r->start && uid - r->start < r->count;
}

int
uidrange_alloc (struct uidrange *r, uint32_t *uid, struct nxerr *err)
{
  for (uint32_t k = 0; k < r->count; k++)
    {
      uint32_t i = (r->next + k) % r->count;
      if (!bit_get (r->used, i))
        {
          bit_set (r->used, i, true);
          r->in_use++;
          r->next = (i + 1) % r->count;
          *uid = r->start + i;
          return 0;
        }
    }
  return nxerr_set (err, ENOSPC, "no free uid in uid_range %u-%u (%u sandboxes use one each)",
                    r->start, r->start + r->count - 1, r->in_use);
}

int
uidrange_take (struct uidrange *r, uint32_t uid)
{
  if (!uidrange_contains (r, uid) || bit_get (r->used, uid - r->start))
    return -1;
  bit_set (r->used, uid - r->start, true);
  r->in_use++;
  return 0;
}

void
uidrange_release (struct uidrange *r, uint32_t uid)
{
  if (!uidrange_contains (r, uid) || !bit_get (r->used, uid - r->start) || r->in_use == 0)
    return;
  bit_set (r->used, uid - r->start, false);
  r->in_use--;
}

uint32_t
uidrange_available (const struct uidrange *r)
{
  return r->count - r->reserved - r->in_use;
}

/* "Uid:\t0\t0\t0\t0" / "Gid:..." lines: any of the four ids in the range. */
static bool
ids_in_range (const char *status, const char *key, uint32_t start, uint32_t count,
              uint32_t *hit)
{
  const char *p = strstr (status, key);
  if (p == NULL)
    return false;
  p += strlen (key);
  for (int i = 0; i < 4; i++)
    {
      char *end;
      unsigned long v = strtoul (p, &end, 10);
      if (end == p)
        return false;
      if (v >= start && v - start < count)
        {
          *hit = (uint32_t) v;
          return true;
        }
      p = end;
    }
  return false;
}

size_t
uidrange_scan_proc (const char *proc_dir, uint32_t start, uint32_t count, int *pids,
                    uint32_t *uids, size_t max)
{
  DIR *d = opendir (proc_dir);
  struct dirent *e;
  size_t found = 0;
  if (d == NULL)
    return 0;
  while ((e = readdir (d)) != NULL)
    {
      char path[512], buf[4096];
      uint32_t hit = 0;
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
      if (!ids_in_range (buf, "\nUid:", start, count, &hit)
          && !ids_in_range (buf, "\nGid:", start, count, &hit))
        continue;
      if (found < max)
        {
          if (pids)
            pids[found] = atoi (e->d_name);
          if (uids)
            uids[found] = hit;
        }
      found++;
    }
  closedir (d);
  return found;
}
