#include "node/state/statelock.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "node/core/identity.h"
#include "node/core/lockfile.h"

int
statelock_take (const char *state_dir, int *fd, struct nxerr *err)
{
  int dfd, rc;
  if (identity_mkdirs (state_dir, err) < 0)
    return nxerr_wrap (err, "state dir");
  dfd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return nxerr_sys (err, errno, "state dir %s", state_dir);
  /* The node id is not known yet (it is in the dir): "nexc-node" until
   * statelock_name. */
  rc = lockfile_lock (dfd, state_dir, STATELOCK_NAME, "nexc-node", fd, NULL, err);
  close (dfd);
  if (rc < 0 && err->code == EAGAIN)
    return nxerr_wrap (err, "state dir %s is another node's (every node needs a state dir of "
                            "its own: state_dir, --state-dir)",
                       state_dir);
  if (rc < 0)
    return nxerr_wrap (err, "state dir lock");
  return 0;
}

void
statelock_name (int fd, const char *node_id)
{
  if (fd >= 0)
    lockfile_rewrite (fd, node_id);
}

void
statelock_release (const char *state_dir, int fd)
{
  int dfd;
  if (fd < 0)
    return;
  dfd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  lockfile_unlock (dfd, STATELOCK_NAME, fd);
  if (dfd >= 0)
    close (dfd);
}
