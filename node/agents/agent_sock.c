#include "node/agents/agent_sock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/log.h"
#include "api/xalloc.h"

#define LISTEN_FD_MIN 10 /* above 3 and 4, the child's link and socket */

struct agent_socks {
  char dir[PATH_MAX]; /* <state>/agents */
  bool usable;        /* socket paths fit in sun_path */
  bool abstract;
  char prefix[80]; /* "@nexc-<node id>-a" */
};

/* The address of a socket name: a path, or "@name" (abstract). */
static bool
sock_addr (const char *name, struct sockaddr_un *sa, socklen_t *len)
{
  size_t n = strlen (name);
  memset (sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (n == 0 || n >= sizeof sa->sun_path)
    return false;
  memcpy (sa->sun_path, name, n);
  if (name[0] == '@')
    sa->sun_path[0] = '\0';
  *len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + n + (name[0] == '@' ? 0 : 1));
  return true;
}

int
agent_socks_new (const char *state_dir, const char *node_id, bool abstract,
                 struct agent_socks **out, struct nxerr *err)
{
  struct agent_socks *s;
  char *abs = realpath (state_dir, NULL);
  if (abs == NULL)
    return nxerr_sys (err, errno, "state dir %s", state_dir);
  s = xcalloc (1, sizeof *s);
  snprintf (s->dir, sizeof s->dir, "%s/agents", abs);
  free (abs);
  s->abstract = abstract;
  snprintf (s->prefix, sizeof s->prefix, "@nexc-%s-a", node_id);
  if (mkdir (s->dir, 0700) < 0 && errno != EEXIST)
    {
      nxerr_sys (err, errno, "mkdir %s", s->dir);
      free (s);
      return -1;
    }
  chmod (s->dir, 0700);
  /* "/a" + 16 hex + ".sock" */
  s->usable = strlen (s->dir) + 24 < sizeof ((struct sockaddr_un *) 0)->sun_path;
  if (!s->usable)
    log_warn ("reattach off: %s is too long for unix socket paths; workloads will not survive "
              "a node restart",
              s->dir);
  *out = s;
  return 0;
}

void
agent_socks_free (struct agent_socks *s)
{
  free (s);
}

const char *
agent_socks_dir (const struct agent_socks *s)
{
  return s->dir;
}

bool
agent_socks_ours (const struct agent_socks *s, const char *name)
{
  size_t dl = strlen (s->dir), pl = strlen (s->prefix);
  if (name[0] == '@')
    return strncmp (name, s->prefix, pl) == 0 && strlen (name) == pl + 16
           && strspn (name + pl, "0123456789abcdef") == 16;
  return strncmp (name, s->dir, dl) == 0 && name[dl] == '/' && name[dl + 1] == 'a'
         && strchr (name + dl + 1, '/') == NULL;
}

void
agent_sock_remove (const char *name)
{
  if (name && name[0] == '/')
    unlink (name);
}

int
agent_sock_connect (const char *name)
{
  struct sockaddr_un sa;
  socklen_t len;
  int fd;
  if (!sock_addr (name, &sa, &len))
    return -1;
  fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  if (connect (fd, (struct sockaddr *) &sa, len) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

pid_t
agent_sock_peer_pid (int fd)
{
  struct ucred cr = { 0, 0, 0 };
  socklen_t len = sizeof cr;
  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
    return 0;
  return cr.pid;
}

int
agent_socks_bind (struct agent_socks *s, char **name, int *fd)
{
  struct sockaddr_un sa;
  socklen_t len;
  uint8_t rnd[8];
  char p[PATH_MAX];
  int l, hi;
  if (s == NULL || !s->usable)
    return -1;
  randombytes_buf (rnd, sizeof rnd);
  if (s->abstract)
    snprintf (p, sizeof p, "%s%02x%02x%02x%02x%02x%02x%02x%02x", s->prefix, rnd[0], rnd[1],
              rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
  else
    snprintf (p, sizeof p, "%s/a%02x%02x%02x%02x%02x%02x%02x%02x.sock", s->dir, rnd[0], rnd[1],
              rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
  if (!sock_addr (p, &sa, &len))
    return -1;
  l = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (l < 0)
    return -1;
  /* A file socket's mode is its inode's at bind (less the umask): set it on
   * the socket first, no chmod of the path after. */
  if ((!s->abstract && fchmod (l, 0600) < 0) || bind (l, (struct sockaddr *) &sa, len) < 0)
    {
      log_warn ("reattach: socket %s: %s", p, strerror (errno));
      close (l);
      agent_sock_remove (p);
      return -1;
    }
  hi = fcntl (l, F_DUPFD_CLOEXEC, LISTEN_FD_MIN);
  close (l);
  if (hi < 0)
    {
      agent_sock_remove (p);
      return -1;
    }
  *name = xstrdup (p);
  *fd = hi;
  return 0;
}
