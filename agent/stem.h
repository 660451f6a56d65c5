/* stem: the workload's process, made before its deploy and already inside
 * the sandbox, waiting only for what to exec.
 *
 * Entering the process tier's sandbox costs the workload's child ~150
 * system calls before fexecve: a mount namespace of its own with the
 * minimal root (a tmpfs, ~8 binds, pivot_root, the old root detached), the
 * capability sets emptied, setresuid, no_new_privs, Landlock, and the
 * seccomp program (its attach alone ~0.3 ms: the kernel checks and JIT-
 * compiles ~500 instructions). None of that depends on the deploy as long
 * as it keeps the default view (the minimal root without bind_ro). So the
 * agent forks the stem once it is set up, before its Hello: the stem does
 * all of it (sandbox_enter_rest) and blocks in recvmsg on its end of a
 * socketpair, once it said so (one byte: the agent waits for it before
 * its Hello, so a warm agent's deploy never waits for the stem's setup).
 * At the deploy, stem_go sends argv, the environment, the rlimits and
 * four fds (stdin, stdout, stderr, the executable); the stem lowers its
 * limits, puts the fds in place and execs. The socket is
 * close-on-exec: EOF means the exec happened, a struct exec_failure
 * record that it did not.
 *
 * The stem is a fork of the agent before any deploy: it holds no secret
 * (the agent has none yet) and closes every fd but its socket before it
 * enters the sandbox. Its process group is its own pid (the workload's).
 * A deploy the stem cannot serve (host-ro, bind_ro) discards it and takes
 * the direct path (agent/workload.c). Agent only; tier process only. */
#ifndef NEXC_AGENT_STEM_H
#define NEXC_AGENT_STEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/nxerr.h"

struct sandbox;

/* What a child reports when it could not exec (the status channel). */
struct exec_failure {
  int err;
  char what[48];
};

/* In a child that could not exec: the record to status_fd, then _exit 127. */
void exec_fail (int status_fd, const char *what, int e) __attribute__ ((noreturn));

struct stem {
  pid_t pid;  /* 0: none */
  int sock;   /* our end; -1: none */
  bool ready; /* its "inside" byte was read */
};

void stem_init (struct stem *s);
/* Fork the stem for sb (set up, minimal root planned without bind_ro). */
int stem_start (struct stem *s, const struct sandbox *sb, struct nxerr *err);
#define STEM_GONE 1
bool stem_ready (const struct stem *s);
/* Wait (at most timeout_ms) for the stem to be inside the sandbox: 0, or
 * STEM_GONE when it ended or is stuck in its setup (then discarded). */
#define STEM_AWAIT_MS 2000
int stem_await (struct stem *s, int timeout_ms);

struct stem_exec {
  char *const *argv;
  char *const *envp;
  int fds[4]; /* stdin, stdout, stderr, the executable */
  bool script; /* the executable's fd must survive the exec (#! through /proc/self/fd) */
  uint64_t nofile, nproc;
};

/* Hand x to the stem and wait for its exec. 0 with *pid (the stem's, now
 * the workload's); STEM_GONE when the stem was not there to take it
 * (nothing happened: take the direct path); -1 with err when it took it
 * and the exec failed (*what and the errno in err). The stem is used up in
 * every case. */
int stem_go (struct stem *s, const struct stem_exec *x, pid_t *pid, char *what, size_t what_n,
             struct nxerr *err);

/* Kill and reap it, if there is one. */
void stem_discard (struct stem *s);

#endif
