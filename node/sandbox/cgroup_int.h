/* cgroup_int: what cgroup.c, cgroup_v1.c and cgroup_v2.c share, and no other
 * file may include. Both backends write the same kind of control files and
 * kill a leaf the same way, so those helpers live once in cgroup.c; setup
 * probes each backend in its own way, so cgroup_setup calls into the backend
 * files through cg_v1_setup and cg_v2_setup rather than through the public
 * struct cgroup_ops. */
#ifndef NEXC_NODE_CGROUP_INT_H
#define NEXC_NODE_CGROUP_INT_H

#include <stddef.h>

#include "api/nxerr.h"
#include "node/sandbox/cgroup.h"

#define CG_KILL_ROUNDS 50 /* x 1 ms: a leaf whose processes keep forking */

/* Indexed by enum cg_ctrl; also the controllers' names in the kernel files. */
extern const char *const cg_ctrl_names[CG_NCTRL];

/* ---- files (cgroup.c) ---- */

/* Up to cap - 1 bytes of path into out, NUL-terminated; -1 when it cannot
 * be opened (errno set). */
int cg_read_text (const char *path, char *out, size_t cap);
/* Write value to <dir>/<name> in one write(2), as the kernel wants it. */
int cg_write_file (const char *dir, const char *name, const char *value, struct nxerr *err);
/* <dir>/<leaf> into out; -1 when it does not fit. */
int cg_leaf_path (char *out, size_t cap, const char *dir, const char *leaf);
/* mkdir 0755; an existing directory counts as made. */
int cg_make_dir (const char *path, struct nxerr *err);
/* SIGKILL every pid listed in <dir>/cgroup.procs; returns how many. */
int cg_kill_listed (const char *dir);
void cg_sleep_ms (int ms);

/* ---- backend setup (cgroup_v1.c, cgroup_v2.c) ---- */

/* Create the node cgroup and set have[] and why[] for each controller by
 * writing a limit to probe_leaf. */
void cg_v1_setup (struct cgroups *cg, const char *probe_leaf);
void cg_v2_setup (struct cgroups *cg, const char *probe_leaf);

#endif
