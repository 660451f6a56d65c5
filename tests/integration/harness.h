/* harness: what every integration test needs, on real processes.
 *
 *   struct harness h;
 *   harness_start_nats (&h);            nats-server -js on 127.0.0.1:<free port>,
 *                                       store in a fresh temp dir, monitor port too
 *   harness_connect (&h, &nc);          a nats.c client connection to it
 *   harness_start_node (&h, config_json, extra_args...)  nexc-node up on it
 *   ...
 *   harness_stop_all (&h);              kills what it started, removes temp dirs
 *
 * Binaries come from NEXC_BUILD_DIR (compile definition); the nats-server
 * binary from PATH. Every function fails the test (cmocka fail_msg) when it
 * cannot do its job, so tests read straight. */
#ifndef NEXC_HARNESS_H
#define NEXC_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>
#include <nats/nats.h>

struct harness {
  char tmpdir[256];        /* removed by harness_stop_all */
  int nats_port;
  int monitor_port;
  pid_t nats_pid;
  char nats_url[64];
  char store_dir[300];
  pid_t node_pid;
  char node_state_dir[300];
  char node_config[300];
  char node_log[300];      /* node's stderr goes here; dumped on failure */
  char nats_conf[300];     /* cluster members start from this config file */
  int cluster_port;
  char node_id[57];        /* filled by harness_start_node from PING */
  char node_xkey[57];
  char client_creds[300];  /* set: harness_connect and the node's start-up PING use it */
  char tls_ca[300];        /* set: harness_connect speaks TLS, trusting this CA file */
  int slow_msg_us;         /* > 0: nodes start under tests/slow_msg.so (harness.c) */
  uid_t run_as_uid;        /* > 0: the node runs as this uid and gid (setpriv), */
  gid_t run_as_gid;        /* its state dir given to them */
};

/* Create the temp dir and start nats-server with JetStream. */
void harness_start_nats (struct harness *h);
/* The same from a config file: listen, monitor and JetStream store are
 * written by the harness, then extra_conf (e.g. an operator-mode resolver).
 * Set client_creds afterwards when the server needs credentials. */
void harness_start_nats_conf (struct harness *h, const char *extra_conf);
/* Start n (<= 8) nats-servers with JetStream, clustered by routes on
 * loopback, one per harness struct (each gets its own temp dir). Waits until
 * the JetStream meta leader exists. */
void harness_start_cluster (struct harness *h, int n);

/* Another node's harness on the nats-server of with (not started again, not
 * stopped by harness_stop_all (h)): a temp dir of its own for the node's
 * config, state dir and log. */
void harness_share_nats (struct harness *h, const struct harness *with);

/* Kill nats-server (SIGKILL) and start it again on the same ports and store. */
void harness_restart_nats (struct harness *h);
/* The same after a clean shutdown (SIGTERM): the server writes out what its
 * JetStream streams hold, so a stream witnesses everything it confirmed. A
 * SIGKILLed server can lose what it had confirmed but not yet written. */
void harness_restart_nats_clean (struct harness *h);
void harness_stop_nats (struct harness *h);

/* Connect a client (SendAsap on, no reconnect buffering surprises). */
natsConnection *harness_connect (struct harness *h);
/* The client a deploy test starts with: harness_connect, wrapped as a nexc
 * client (5 s timeout), subscribed to the default namespace's events and,
 * with no pending limit, its logs. */
struct nexc_client;
void harness_client (struct harness *h, natsConnection **nc, struct nexc_client **c,
                     natsSubscription **events, natsSubscription **logs);

/* Write config_json to the temp dir and start nexc-node up with it, plus extra
 * argv (NULL-terminated, may be NULL). Waits until the node answers
 * $NEX.PING.<id> and fills node_id/node_xkey. */
void harness_start_node (struct harness *h, const char *config_json, const char *const *extra_args);
/* Send sig to the node and wait for it to exit; returns its exit status
 * (or 128+signal). */
int harness_stop_node (struct harness *h, int sig);

void harness_stop_all (struct harness *h);

/* Request/reply helper: returns the reply payload (malloc'd, NUL-terminated)
 * or NULL on timeout. */
char *harness_request (natsConnection *nc, const char *subject, const char *payload,
                       size_t len, int timeout_ms);

/* Fetch http://127.0.0.1:<monitor_port><path> (e.g. "/subsz?subs=1");
 * malloc'd body or NULL. */
char *harness_http_get (struct harness *h, const char *path);

/* Live (not zombie) children of ppid whose comm is comm (any when NULL):
 * up to max pids into out (may be NULL); returns how many there are. */
int harness_children (pid_t ppid, const char *comm, pid_t *out, int max);

/* Count processes whose /proc/<pid>/cmdline contains needle. */
int harness_count_procs (const char *needle);

/* Path of a built binary: NEXC_BUILD_DIR/<rel>. */
const char *harness_bin (const char *rel);

/* A JetStream stream (file storage) capturing subject, so that a test counts
 * what reached the server even across a server restart, when a plain
 * subscription misses what others send before it is back. */
void harness_stream_create (natsConnection *nc, const char *name, const char *subject);
/* Every message the stream holds, oldest first, to cb; returns how many. */
int harness_stream_read (natsConnection *nc, const char *name, const char *subject,
                         void (*cb) (const char *data, int len, void *arg), void *arg);
/* The same, each message whole (subject, headers) to cb, which must not
 * keep or destroy it. */
int harness_stream_read_msgs (natsConnection *nc, const char *name, const char *subject,
                              void (*cb) (natsMsg *m, void *arg), void *arg);

/* Upload the file at path to bucket/key in the object store and read it
 * back through the object store reader: hex is its sha256 (what a deploy's
 * JWT names). Fails the test on any error. */
void harness_upload (natsConnection *nc, const char *bucket, const char *key, const char *path,
                     char hex[65]);

/* Whether tier process can run here: `nexc-node preflight` does not refuse
 * it (root, namespaces, cgroups). Tests of that tier skip otherwise. */
bool harness_process_tier_ok (void);

/* The next CloudEvent of type whose source is id on events (a subscription
 * to $NEX.events.>), others skipped; fails the test, with the node's log,
 * when none comes within timeout_ms. The caller decrefs it. */
json_t *harness_wait_event (struct harness *h, natsSubscription *events, const char *type,
                            const char *id, int timeout_ms);
/* The value of the "key:" line of /proc/<pid>/status in out, "" when the
 * process or the line is absent. */
void harness_proc_status (pid_t pid, const char *key, char *out, size_t cap);

/* Whether a line of the node's log contains needle. */
bool harness_node_log_has (struct harness *h, const char *needle);
/* How many lines of the node's log (appended to by every start) hold needle. */
int harness_node_log_count (const struct harness *h, const char *needle);

/* A thread that publishes on a connection of its own until
 * harness_flood_stop: each round calls publish (nc, round, arg), which
 * returns how many messages it published, flushes and sleeps every_us.
 * Keep the struct static and stop it in the teardown too: a failed check
 * leaves the test function at once, and the thread must not outlive what
 * it reads. */
struct harness_flood {
  int (*publish) (natsConnection *nc, uint64_t round, void *arg);
  void *arg;
  int every_us;
  uint64_t sent; /* read after harness_flood_stop */
  /* the harness's */
  natsConnection *nc;
  pthread_t thread;
  atomic_bool stop;
  bool running;
};
void harness_flood_start (struct harness_flood *fl, struct harness *h);
void harness_flood_stop (struct harness_flood *fl);

/* The host pid of the first process whose whole command line is argv0 (a
 * workload: its agent sets argv to its name), and its parent's in ppid
 * (when not NULL); 0 when there is none. */
pid_t harness_find_proc (const char *argv0, pid_t *ppid);

/* SIGKILL every process whose whole command line is argv0 (what a failed
 * test left of a workload); returns how many there were. */
int harness_kill_procs (const char *argv0);

/* The row of a `nexc-node preflight` table whose check is name (a static
 * buffer), or fail the test. */
const char *harness_pf_row (const char *table, const char *name);
/* That row has status, and detail (when not NULL) in it; or fail. */
void harness_pf_expect (const char *table, const char *name, const char *status,
                        const char *detail);

/* Dump the node's log to stderr (called on failures to help debugging). */
void harness_dump_node_log (struct harness *h);

#endif
