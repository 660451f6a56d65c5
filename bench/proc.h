/* proc: the processes a benchmark run starts, and what it reads about them.
 *
 * One temp dir per run (/tmp/nexc-bench-XXXXXX, removed at exit unless
 * NEXC_BENCH_KEEP=1 is set) holds the nats-server store and one directory
 * per node started. Every child is recorded; an atexit handler and the
 * terminating signals kill what is left, and with setpriv(1) installed the
 * children also get a parent-death SIGKILL (spawn from the main thread: the
 * death signal follows the spawning thread). */
#ifndef NEXC_BENCH_PROC_H
#define NEXC_BENCH_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "api/nxerr.h"

struct bench;

struct bench_nats {
  int port, monitor_port;
  pid_t pid;
  char url[64];
  char store[512];
  char log[512];
};

struct bench_node {
  pid_t pid;
  char dir[512];
  char log[600];
  char config[600];
  char node_id[64];
  char xkey[64];
};

/* The run's temp dir (created on first use). */
const char *proc_tmpdir (void);

/* Start argv[0] (PATH lookup) with stdin /dev/null and stdout+stderr
 * appended to log_path (or /dev/null when NULL); default signal dispositions
 * and an empty mask in the child. */
pid_t proc_spawn (char *const argv[], const char *log_path, struct nxerr *err);
/* Wait for pid to exit for at most timeout_ms; 0 when it did (reaped). */
int proc_wait (pid_t pid, int timeout_ms, int *status);
/* SIGKILL and reap. */
void proc_kill (pid_t pid);

int nats_start (struct bench_nats *n, struct nxerr *err);
void nats_stop (struct bench_nats *n);

/* Write config_json, start nexc-node on b's nats-server, wait until it
 * answers PING (fills node_id, xkey) and, when wait_pool, until its warm
 * pool is full. */
int node_start (struct bench *b, struct bench_node *nd, const char *config_json, bool wait_pool,
                struct nxerr *err);
/* SIGTERM, wait up to timeout_ms, then SIGKILL. Returns the exit code or -1. */
int node_stop (struct bench_node *nd, int timeout_ms);
/* When the node has died, rewrite err as "nexc-node died (how): <log tail>:
 * <err>" so a failed row says why; no-op while it runs. Returns -1. */
int node_explain (struct bench_node *nd, struct nxerr *err);
/* The last lines of the node's log, for error messages (static buffer). */
const char *node_log_tail (const struct bench_node *nd, size_t max);

/* Memory of a process in KiB: resident (VmRSS), proportional (Pss) and
 * unique (Private_Clean + Private_Dirty, from smaps_rollup). */
struct mem_usage {
  long rss_kb, pss_kb, uss_kb;
};
int proc_mem (pid_t pid, struct mem_usage *m);
/* Direct children of parent (from /proc/<pid>/stat); returns the count
 * (at most max stored). */
size_t proc_children (pid_t parent, pid_t *out, size_t max);
/* Number of processes on the machine. */
size_t proc_count_all (void);

/* CPU time of a process in ms: its own (utime + stime) and that of its
 * reaped children (cutime + cstime: for the node, every finished agent and,
 * through the agents, every finished workload). */
int proc_cpu (pid_t pid, double *self_ms, double *children_ms);

/* Every process's pid and parent, in one pass over /proc (malloc'd). */
struct proc_ent {
  pid_t pid, ppid;
};
size_t proc_table (struct proc_ent **out);

#endif
