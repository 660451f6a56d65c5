/* cli: what the nexc CLI's files share: the parsed flags, the exit codes,
 * the helpers in cli.c and cmd_keygen.c, and the commands main.c dispatches
 * to (one cmd_*.c per command or family of commands). */
#ifndef NEXC_CLI_H
#define NEXC_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api/nexc.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_CONN 3

struct opts {
  const char *server;
  struct nexc_conn_opts conn;
  const char *ns;
  int64_t timeout_ms;
  bool json;
  const char *issuer;
  int64_t drain_ms; /* lameduck --drain; -1 when not given */
  int64_t wait_ms;  /* run --wait: how long to watch for an early end (default 500) */
  const char *name;
  const char *node;
  const char *tag;
  const char *workload;
  const char *id;
  int64_t since_ms;   /* logs --since: -1 when not given */
  const char *stream; /* logs --stream: the stream --since reads (default NEXC_LOGS) */
  const char *type;
  const char *out;
  const char *xkey; /* seal --xkey */
  bool essential;
  const char *env[256];
  int n_env;
  const char *argv[256];
  int n_argv;
  const char *triggers[65]; /* run --type function --trigger SUBJECT ... */
  int n_triggers;
  const char *nats_pub[65]; /* run --nats-pub SUBJECT ...: its NATS user's */
  int n_nats_pub;
  const char *nats_sub[65]; /* run --nats-sub SUBJECT ... */
  int n_nats_sub;
  enum fs_mode fs_mode;        /* run --filesystem; FS_UNSET: the node's default */
  char *bind_ro[FS_BIND_RO_MAX + 1]; /* run --bind-ro PATH ... */
  int n_bind_ro;
};

/* Set by cli_on_sigint (SIGINT, SIGTERM): the followers stop. */
extern volatile sig_atomic_t cli_interrupted;
void cli_on_sigint (int sig);

/* "nexc: " + fmt with arg, then the --help hint, on stderr; EXIT_USAGE. */
int cli_usage_error (const char *fmt, const char *arg) __attribute__ ((format (printf, 1, 0)));
/* Print obj (taken: decref'd) as one line of JSON on stdout. NULL (a failed
 * json_pack) prints nothing and returns EXIT_REFUSED. */
int cli_print_json (json_t *obj);
/* Print err; EXIT_CONN for timeouts and unreachable servers, else EXIT_REFUSED. */
int cli_fail (struct nxerr *err);
/* Connect with the global flags; 0, or EXIT_CONN after saying why. */
int cli_connect_client (struct opts *o, struct nexc_client **c);

/* The issuer key at path, or at ~/.nexc/issuer.nk when path is NULL (then
 * created if create is set and it does not exist). */
int cli_load_issuer (const char *path, struct nkey_pair *kp, bool create, struct nxerr *err);

int cmd_keygen (struct opts *o, int argc, char **argv);
int cmd_seal (struct opts *o, int argc, char **argv);
int cmd_nodes (struct opts *o, int argc, char **argv);
int cmd_lameduck (struct opts *o, int argc, char **argv);
int cmd_run (struct opts *o, int argc, char **argv);
int cmd_ls (struct opts *o);
int cmd_stop (struct opts *o, int argc, char **argv);
int cmd_logs (struct opts *o);
int cmd_events (struct opts *o);
int cmd_req (struct opts *o, int argc, char **argv);
int cmd_top (struct opts *o);
int cmd_apply (struct opts *o, int argc, char **argv);
int cmd_deployments (struct opts *o, int argc, char **argv);
int cmd_scale_deployment (struct opts *o, int argc, char **argv);
/* Put value at key of the deployments bucket (made when missing); last: 0,
 * or the revision it must still have (compare-and-set). */
int cli_deployments_put (struct nexc_client *c, const char *key, const char *value, uint64_t last,
                         uint64_t *rev, struct nxerr *err);

#endif
