/* fs_spec: which file system a process-tier workload sees (our extension,
 * issue #19), as a node config and a deploy request spell it.
 *
 *   "filesystem": "minimal"     a fresh root holding only what a workload
 *                               needs (agent/rootfs.h): the default;
 *   "filesystem": "host-ro"     the host's tree, read-only (the older view);
 *   "filesystem": {"bind_ro": ["/lib64", "/lib/x86_64-linux-gnu"]}
 *                               minimal, plus these host paths read-only at
 *                               the same place (a dynamic executable's
 *                               loader and libraries, say).
 *
 * Paths are checked here for their form only: absolute, normalised (no
 * "//", "." or "..", no trailing "/"), printable, at most FS_PATH_MAX
 * bytes, at most FS_BIND_RO_MAX of them, no duplicates. Which host paths a
 * node refuses to show is the node's call (node/sandbox/fsview.h). */
#ifndef NEXC_API_FS_SPEC_H
#define NEXC_API_FS_SPEC_H

#include <jansson.h>
#include <stddef.h>

#include "api/jsonw.h"
#include "api/nxerr.h"

#define FS_BIND_RO_MAX 16
#define FS_PATH_MAX 256

enum fs_mode { FS_UNSET = 0, FS_MINIMAL = 1, FS_HOST_RO = 2 };

struct fs_spec {
  enum fs_mode mode;
  char **bind_ro; /* NULL-terminated when n_bind_ro > 0 */
  size_t n_bind_ro;
};

/* "minimal" / "host-ro"; -1 otherwise. */
int fs_mode_parse (const char *name, enum fs_mode *out);
/* "minimal", "host-ro" ("minimal" for FS_UNSET, the default). */
const char *fs_mode_name (enum fs_mode m);
/* A string or an object ({"mode": ..., "bind_ro": [...]}); where names the
 * field in the error ("filesystem"). JSON null leaves out untouched.
 * Errors are complete sentences. */
int fs_spec_take (json_t *v, const char *where, struct fs_spec *out, struct nxerr *err);
/* The form of one bind_ro path. */
int fs_path_check (const char *path, struct nxerr *err);
/* Writes "filesystem" only when something is set. */
void fs_spec_encode (struct jsonw *w, const struct fs_spec *s);
void fs_spec_free (struct fs_spec *s);

#endif
