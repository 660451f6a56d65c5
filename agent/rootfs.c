#include "agent/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "api/xalloc.h"

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

static const char *const etc_files[] = { "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf" };
/* The first that exists is the CA bundle. */
static const char *const ca_bundles[] = { "/etc/ssl/certs/ca-certificates.crt",
                                          "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem" };

static char *
join (const char *a, const char *b)
{
  size_t la = strlen (a), lb = strlen (b);
  char *s = xmalloc (la + lb + 1);
  memcpy (s, a, la);
  memcpy (s + la, b, lb + 1);
  return s;
}

static void
add (struct rootfs *r, enum rootfs_kind kind, const char *src, const char *path)
{
  if (r->n == r->cap)
    {
      r->cap = r->cap ? 2 * r->cap : 32;
      r->ops = xrealloc (r->ops, r->cap * sizeof *r->ops);
    }
  r->ops[r->n].kind = kind;
  r->ops[r->n].src = src ? xstrdup (src) : NULL;
  r->ops[r->n].dst = join (r->root, path);
  r->n++;
}

/* mkdir of path and each of its parents, top first. */
static void
add_dirs (struct rootfs *r, const char *path)
{
  char p[PATH_MAX];
  snprintf (p, sizeof p, "%s", path);
  for (char *s = p + 1;; s++)
    if (*s == '/' || *s == '\0')
      {
        char c = *s;
        *s = '\0';
        add (r, ROOTFS_MKDIR, NULL, p);
        *s = c;
        if (c == '\0')
          break;
      }
}

/* The mount point for a bind of src at path: a directory or a file. */
static int
add_point (struct rootfs *r, const char *path, struct nxerr *err)
{
  struct stat st;
  char parent[PATH_MAX], *slash;
  if (stat (path, &st) < 0)
    return nxerr_sys (err, errno, "%s", path);
  if (S_ISDIR (st.st_mode))
    {
      add_dirs (r, path);
      return 0;
    }
  if (!S_ISREG (st.st_mode))
    return nxerr_set (err, EINVAL, "%s is neither a directory nor a regular file", path);
  snprintf (parent, sizeof parent, "%s", path);
  slash = strrchr (parent, '/');
  if (slash && slash != parent)
    {
      *slash = '\0';
      add_dirs (r, parent);
    }
  add (r, ROOTFS_MKFILE, NULL, path);
  return 0;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
rootfs_plan (struct rootfs *r, const char *state_dir, const char *workdir,
             char *const *bind_ro, size_t n_bind_ro, struct nxerr *err)
{
  static const char *const own[] = { "/proc", "/dev", "/tmp" };
  cleanup_free char **sorted = NULL;
  rootfs_free (r);
  r->root = join (state_dir, ROOTFS_MOUNTPOINT);
  for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
    {
      add_dirs (r, own[i]);
      add (r, ROOTFS_BIND, own[i], own[i]);
    }
  for (size_t i = 0; i < sizeof etc_files / sizeof etc_files[0]; i++)
    if (access (etc_files[i], R_OK) == 0)
      {
        if (add_point (r, etc_files[i], err) < 0)
          return -1;
        add (r, ROOTFS_BIND_RO, etc_files[i], etc_files[i]);
      }
  for (size_t i = 0; i < sizeof ca_bundles / sizeof ca_bundles[0]; i++)
    if (access (ca_bundles[i], R_OK) == 0)
      {
        if (add_point (r, ca_bundles[i], err) < 0)
          return -1;
        add (r, ROOTFS_BIND_RO, ca_bundles[i], ca_bundles[i]);
        break;
      }
  add_dirs (r, workdir);
  add (r, ROOTFS_BIND, workdir, workdir);
  /* Parents before what they contain: the parent's bind then already shows
   * the child's mount point (and mkdir meets EEXIST, which is fine). */
  sorted = xcalloc (n_bind_ro + 1, sizeof *sorted);
  if (n_bind_ro > 0)
    {
      memcpy (sorted, bind_ro, n_bind_ro * sizeof *sorted);
      qsort (sorted, n_bind_ro, sizeof *sorted, cmp_str);
    }
  for (size_t i = 0; i < n_bind_ro; i++)
    {
      if (sorted[i][0] != '/' || strstr (sorted[i], "/..") || strlen (sorted[i]) >= PATH_MAX / 2)
        return nxerr_set (err, EINVAL, "bind_ro %.64s: not a normalised absolute path",
                          sorted[i]);
      if (add_point (r, sorted[i], err) < 0)
        return nxerr_wrap (err, "bind_ro");
      add (r, ROOTFS_BIND_RO, sorted[i], sorted[i]);
    }
  return 0;
}

/* ---- in the child: system calls only ---- */

static int
run_op (const struct rootfs_op *op)
{
  struct mount_attr attr;
  int fd;
  switch (op->kind)
    {
    case ROOTFS_MKDIR:
      return mkdir (op->dst, 0755) < 0 && errno != EEXIST ? errno : 0;
    case ROOTFS_MKFILE:
      fd = open (op->dst, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0)
        return errno;
      close (fd);
      return 0;
    case ROOTFS_BIND:
      return mount (op->src, op->dst, NULL, MS_BIND | MS_REC, NULL) < 0 ? errno : 0;
    case ROOTFS_BIND_RO:
      if (mount (op->src, op->dst, NULL, MS_BIND | MS_REC, NULL) < 0)
        return errno;
      memset (&attr, 0, sizeof attr);
      attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
      return syscall (SYS_mount_setattr, AT_FDCWD, op->dst, AT_RECURSIVE, &attr, sizeof attr) < 0
                 ? errno
                 : 0;
    }
  return EINVAL;
}

int
rootfs_enter (const struct rootfs *r, const char **what)
{
  int e;
  *what = "rootfs: unshare(CLONE_NEWNS)";
  if (unshare (CLONE_NEWNS) < 0)
    return errno;
  *what = "rootfs: mount tmpfs";
  if (mount ("tmpfs", r->root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
    return errno;
  for (size_t i = 0; i < r->n; i++)
    if ((e = run_op (&r->ops[i])) != 0)
      {
        static const char *const names[]
            = { "rootfs: mkdir", "rootfs: create file", "rootfs: bind", "rootfs: bind_ro" };
        *what = names[r->ops[i].kind];
        return e;
      }
  *what = "rootfs: read-only";
  if (mount (NULL, r->root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL)
      < 0)
    return errno;
  /* pivot_root(".", "."): the old root stacks under the new one and is
   * detached at once; no directory for it is needed. */
  *what = "rootfs: pivot_root";
  if (chdir (r->root) < 0 || syscall (SYS_pivot_root, ".", ".") < 0)
    return errno;
  *what = "rootfs: detach the old root";
  if (umount2 (".", MNT_DETACH) < 0 || chdir ("/") < 0)
    return errno;
  return 0;
}

void
rootfs_free (struct rootfs *r)
{
  for (size_t i = 0; i < r->n; i++)
    {
      free (r->ops[i].src);
      free (r->ops[i].dst);
    }
  free (r->ops);
  free (r->root);
  memset (r, 0, sizeof *r);
}
