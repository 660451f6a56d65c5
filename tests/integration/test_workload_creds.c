/* Per-workload NATS credentials (node config workload_creds), on a real
 * nats-server in operator mode: operator, system account and an account
 * with a signing key, all minted here with the project's own JWT code
 * (api/natsjwt.h) and preloaded into a memory resolver. The node connects
 * as a user of that account (--creds) and mints each workload run a user
 * of its own; examples/natsprobe, deployed as that workload, reports what
 * its user may do. Asserted from what reaches the test over NATS: the
 * probe's own log lines (through the node), its declared publish, and that
 * its forged log line never arrives on $NEX.logs.>. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/natsjwt.h"
#include "api/nexc.h"
#include "harness.h"

#define WAIT_MS 30000
#define UID_COUNT 8

struct fixture {
  struct harness h;
  char dir[256];
  struct nkey_pair op, sys, acct, signing, issuer;
  char node_creds[300], key_file[300];
  natsConnection *nc;
  struct nexc_client *c;
  char hex[65];
  char lines[64][512]; /* the probe's log lines */
  int n_lines;
  bool forged_seen;
  bool hold; /* the probe stays until stopped (PROBE_HOLD) */
};

static void
write_secret (const char *path, const char *text, mode_t mode)
{
  FILE *f = fopen (path, "w");
  assert_non_null (f);
  fputs (text, f);
  fclose (f);
  assert_int_equal (chmod (path, mode), 0);
}

static void
user_creds (struct fixture *f, const char *path, const char *name)
{
  struct nkey_pair u;
  struct nxerr err = { 0 };
  struct buf jwt = BUF_INIT, text = BUF_INIT;
  char seed[NKEY_SEED_LEN + 1];
  assert_int_equal (nkey_pair_generate (NKEY_USER, &u, &err), 0);
  struct natsjwt_user claims = { .user_public = u.public_text, .name = name };
  if (natsjwt_user_encode (&claims, &f->acct, &jwt, &err) < 0)
    fail_msg ("user jwt: %s", err.msg);
  nkey_pair_seed_text (&u, seed);
  natsjwt_creds_text (jwt.data, seed, &text);
  write_secret (path, text.data, 0600);
  buf_free (&jwt);
  buf_free (&text);
  nkey_pair_wipe (&u);
}

/* The operator-mode server, a client on it, the probe in the object store. */
static void
start_server (struct fixture *f)
{
  struct nxerr err = { 0 };
  struct buf op = BUF_INIT, sys = BUF_INIT, acct = BUF_INIT, conf = BUF_INIT;
  char seed[NKEY_SEED_LEN + 1];
  const char *signing[] = { NULL, NULL };
  assert_int_equal (nkey_pair_generate (NKEY_OPERATOR, &f->op, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &f->sys, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &f->acct, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &f->signing, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &f->issuer, &err), 0);
  signing[0] = f->signing.public_text;
  assert_int_equal (natsjwt_operator_encode ("op", f->sys.public_text, &f->op, &op, &err), 0);
  assert_int_equal (natsjwt_account_encode ("SYS", f->sys.public_text, NULL, false, &f->op, &sys, &err),
                    0);
  assert_int_equal (
      natsjwt_account_encode ("APP", f->acct.public_text, signing, true, &f->op, &acct, &err), 0);
  buf_printf (&conf,
              "operator: \"%s\"\nsystem_account: %s\nresolver: MEMORY\n"
              "resolver_preload: {\n  %s: \"%s\"\n  %s: \"%s\"\n}\n",
              op.data, f->sys.public_text, f->sys.public_text, sys.data, f->acct.public_text,
              acct.data);
  harness_start_nats_conf (&f->h, conf.data);
  buf_free (&op);
  buf_free (&sys);
  buf_free (&acct);
  buf_free (&conf);
  snprintf (f->h.client_creds, sizeof f->h.client_creds, "%s/test.creds", f->dir);
  user_creds (f, f->h.client_creds, "test");
  snprintf (f->node_creds, sizeof f->node_creds, "%s/node.creds", f->dir);
  user_creds (f, f->node_creds, "node");
  snprintf (f->key_file, sizeof f->key_file, "%s/signing.nk", f->dir);
  nkey_pair_seed_text (&f->signing, seed);
  write_secret (f->key_file, seed, 0600);
  f->nc = harness_connect (&f->h);
  harness_upload (f->nc, "NEXCLIFILES", "natsprobe", harness_bin ("examples/natsprobe"), f->hex);
}

static void
start_node (struct fixture *f, bool process_tier)
{
  char cfg[2048], tier[256];
  struct nxerr err = { 0 };
  const char *args[] = { "--creds", f->node_creds, NULL };
  if (process_tier)
    snprintf (tier, sizeof tier,
              /* natsprobe links libnats dynamically: the node's default
               * minimal root has no loader for it. */
              "\"sandbox\":\"process\",\"filesystem\":\"host-ro\","
              "\"uid_range\":{\"start\":%u,\"count\":%d}",
              610000u + (unsigned) (getpid () % 4000) * UID_COUNT, UID_COUNT);
  else
    snprintf (tier, sizeof tier, "\"sandbox\":\"none\"");
  snprintf (cfg, sizeof cfg,
            "{\"machine_pool_size\":1,%s,\"stop_grace_ms\":300,\"valid_issuers\":[\"%s\"],"
            "\"workload_creds\":{\"account\":\"%s\",\"signing_key_file\":\"%s\",\"ttl_s\":600}}",
            tier, f->issuer.public_text, f->acct.public_text, f->key_file);
  harness_start_node (&f->h, cfg, args);
  assert_true (harness_node_log_has (&f->h, "workload credentials on"));
  assert_int_equal (nexc_client_wrap (&f->c, f->nc, &err), 0);
  f->c->timeout_ms = 10000;
}

static int
setup (void **state)
{
  struct fixture *f = calloc (1, sizeof *f);
  snprintf (f->dir, sizeof f->dir, "/tmp/nexc-wcreds-XXXXXX");
  assert_non_null (mkdtemp (f->dir));
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  char cmd[300];
  nexc_client_free (f->c);
  if (f->nc)
    natsConnection_Destroy (f->nc);
  harness_stop_all (&f->h);
  nkey_pair_wipe (&f->op);
  nkey_pair_wipe (&f->sys);
  nkey_pair_wipe (&f->acct);
  nkey_pair_wipe (&f->signing);
  nkey_pair_wipe (&f->issuer);
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system (cmd) != 0)
    fprintf (stderr, "could not remove %s\n", f->dir);
  free (f);
  return 0;
}

/* What the probe asks on probe.ask is answered here. */
static void
on_ask (natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
  (void) sub;
  (void) closure;
  if (natsMsg_GetReply (m))
    natsConnection_PublishString (nc, natsMsg_GetReply (m), "pong");
  natsMsg_Destroy (m);
}

static bool
has_line (struct fixture *f, const char *needle)
{
  for (int i = 0; i < f->n_lines; i++)
    if (strstr (f->lines[i], needle))
      return true;
  return false;
}

static void
dump_lines (struct fixture *f)
{
  for (int i = 0; i < f->n_lines; i++)
    fprintf (stderr, "  probe: %s\n", f->lines[i]);
}

#define ASSERT_LINE(f, needle)                                                                   \
  do                                                                                             \
    {                                                                                            \
      if (!has_line (f, needle))                                                                 \
        {                                                                                        \
          dump_lines (f);                                                                        \
          harness_dump_node_log (&(f)->h);                                                       \
          fail_msg ("no probe line contains: %s", needle);                                       \
        }                                                                                        \
    }                                                                                            \
  while (0)

/* Deploy the probe; collect its lines (and anything FORGED on the logs
 * subjects) until it says done. Returns the workload id. */
static void
run_probe (struct fixture *f, char id[64])
{
  struct nxerr err = { 0 };
  natsSubscription *logs = NULL, *out = NULL, *ask = NULL;
  natsMsg *m = NULL;
  char forge_logs[200], control[200], url[100];
  bool done = false;
  uint64_t waited = 0;
  snprintf (forge_logs, sizeof forge_logs, "PROBE_FORGE_LOGS=$NEX.logs.default.%s.natsprobe.FORGED",
            f->h.node_id);
  snprintf (control, sizeof control, "PROBE_CONTROL=$NEX.DEPLOY.%s", f->h.node_id);
  snprintf (url, sizeof url, "NATS_URL=%s", f->h.nats_url);
  const char *env[] = { url,
                        "PROBE_PUBLISH=probe.out",
                        "PROBE_REQUEST=probe.ask",
                        forge_logs,
                        "PROBE_FORGE_EVENTS=$NEX.events.default.workload_stopped",
                        control,
                        f->hold ? "PROBE_HOLD=1" : NULL,
                        NULL };
  const char *pub[] = { "probe.out", "probe.ask", NULL };
  assert_int_equal (natsConnection_SubscribeSync (&logs, f->nc, "$NEX.logs.>"), NATS_OK);
  assert_int_equal (natsConnection_SubscribeSync (&out, f->nc, "probe.out"), NATS_OK);
  assert_int_equal (natsConnection_Subscribe (&ask, f->nc, "probe.ask", on_ask, NULL), NATS_OK);
  natsConnection_Flush (f->nc);
  struct nexc_deploy_opts d = { 0 };
  struct nexc_deploy_result res;
  d.node_id = f->h.node_id;
  d.bucket = "NEXCLIFILES";
  d.key = "natsprobe";
  d.name = "natsprobe";
  d.hash = f->hex;
  d.issuer = &f->issuer;
  d.env = env;
  d.nats_publish = pub;
  if (nexc_deploy (f->c, &d, &res, &err) < 0)
    {
      harness_dump_node_log (&f->h);
      fail_msg ("deploy: %s", err.msg);
    }
  snprintf (id, 64, "%s", res.id);
  while (!done && waited < WAIT_MS)
    {
      if (natsSubscription_NextMsg (&m, logs, 100) != NATS_OK)
        {
          waited += 100;
          continue;
        }
      const char *data = natsMsg_GetData (m);
      int len = natsMsg_GetDataLength (m);
      if (memmem (data, (size_t) len, "FORGED", 6) && !memmem (data, (size_t) len, "natsprobe: ", 11))
        f->forged_seen = true;
      if (strstr (natsMsg_GetSubject (m), res.id) && f->n_lines < 64)
        {
          /* A log record: {"text": the line, ...} */
          json_t *rec = json_loadb (data, (size_t) len, 0, NULL);
          const char *text = json_string_value (json_object_get (rec, "text"));
          snprintf (f->lines[f->n_lines++], sizeof f->lines[0], "%s", text ? text : "");
          done = text && strcmp (text, "natsprobe: done") == 0;
          json_decref (rec);
        }
      natsMsg_Destroy (m);
    }
  if (!done)
    {
      dump_lines (f);
      harness_dump_node_log (&f->h);
      fail_msg ("the probe did not finish within %d ms", WAIT_MS);
    }
  /* Its declared publish arrived. */
  assert_int_equal (natsSubscription_NextMsg (&m, out, 2000), NATS_OK);
  assert_string_equal (natsMsg_GetData (m), "hello from natsprobe");
  natsMsg_Destroy (m);
  /* Anything still in flight on the logs subjects: never the forged line. */
  while (natsSubscription_NextMsg (&m, logs, 500) == NATS_OK)
    {
      const char *data = natsMsg_GetData (m);
      if (strstr (data, "FORGED") && !strstr (data, "natsprobe: "))
        f->forged_seen = true;
      natsMsg_Destroy (m);
    }
  natsSubscription_Destroy (logs);
  natsSubscription_Destroy (out);
  natsSubscription_Destroy (ask);
}

static void
assert_scoped (struct fixture *f)
{
  char subj[200];
  ASSERT_LINE (f, "natsprobe: connected with NATS_CREDS");
  ASSERT_LINE (f, "publish probe.out: allowed");
  ASSERT_LINE (f, "request probe.ask: answered pong");
  snprintf (subj, sizeof subj, "publish $NEX.logs.default.%s.natsprobe.FORGED: refused",
            f->h.node_id);
  ASSERT_LINE (f, subj);
  ASSERT_LINE (f, "publish $NEX.events.default.workload_stopped: refused");
  snprintf (subj, sizeof subj, "request $NEX.DEPLOY.%s: refused", f->h.node_id);
  ASSERT_LINE (f, subj);
  ASSERT_LINE (f, "subscribe _INBOX.>: refused");
  assert_false (f->forged_seen);
}

/* No user seed ("SU" and 56 base32 characters) in the node's log. */
static void
assert_no_seed_logged (struct fixture *f)
{
  regex_t re;
  FILE *log = fopen (f->h.node_log, "r");
  char line[8192];
  assert_non_null (log);
  assert_int_equal (regcomp (&re, "SU[A-Z2-7]{56}", REG_EXTENDED | REG_NOSUB), 0);
  while (fgets (line, sizeof line, log))
    if (regexec (&re, line, 0, NULL, 0) == 0)
      fail_msg ("a seed in the node's log: %s", line);
  regfree (&re);
  fclose (log);
}

/* The file is gone once the run ended (the probe exits by itself). */
static void
assert_removed (const char *path)
{
  struct stat st;
  for (int i = 0; i < 100 && stat (path, &st) == 0; i++)
    usleep (100 * 1000);
  if (stat (path, &st) == 0)
    fail_msg ("%s still exists after the workload ended", path);
}

static void
test_workload_user_is_scoped (void **state)
{
  struct fixture *f = *state;
  char id[64], path[600];
  start_server (f);
  start_node (f, false);
  run_probe (f, id);
  assert_scoped (f);
  /* tier none: the node's creds dir, the node's uid */
  ASSERT_LINE (f, "creds file mode 0600");
  snprintf (path, sizeof path, "%s/creds/%s.creds", f->h.node_state_dir, id);
  assert_removed (path);
  assert_no_seed_logged (f);
}

/* A run reattached by a restarted node: its file is still removed when it
 * ends (the node that wrote it is gone). */
static void
test_reattached_run_file_removed (void **state)
{
  struct fixture *f = *state;
  struct nxerr err = { 0 };
  char id[64], path[600];
  struct stat st;
  start_server (f);
  start_node (f, false);
  f->hold = true;
  run_probe (f, id);
  snprintf (path, sizeof path, "%s/creds/%s.creds", f->h.node_state_dir, id);
  assert_int_equal (stat (path, &st), 0);
  harness_stop_node (&f->h, SIGKILL);
  nexc_client_free (f->c);
  f->c = NULL;
  start_node (f, false);
  for (int i = 0; i < 100 && !harness_node_log_has (&f->h, "reattached: running"); i++)
    usleep (50000);
  assert_true (harness_node_log_has (&f->h, "reattached: running"));
  assert_int_equal (stat (path, &st), 0);
  if (nexc_stop (f->c, f->h.node_id, id, "natsprobe", &f->issuer, &err) < 0)
    fail_msg ("stop: %s", err.msg);
  assert_removed (path);
}

static void
test_process_tier_file_is_the_workloads (void **state)
{
  struct fixture *f = *state;
  char id[64];
  bool checked = false;
  if (!harness_process_tier_ok ())
    skip ();
  start_server (f);
  start_node (f, true);
  run_probe (f, id);
  assert_scoped (f);
  /* In the sandbox's working dir, owned by the workload's own uid. */
  for (int i = 0; i < f->n_lines; i++)
    {
      unsigned mode, fuid, uid;
      if (sscanf (strstr (f->lines[i], "natsprobe: creds") ? strstr (f->lines[i], "natsprobe: creds")
                                                           : "",
                  "natsprobe: creds file mode %o uid %u, running as uid %u", &mode, &fuid, &uid)
          == 3)
        {
          assert_int_equal (mode, 0600);
          assert_int_equal (fuid, uid);
          assert_int_not_equal (uid, 0);
          checked = true;
        }
    }
  if (!checked)
    {
      dump_lines (f);
      fail_msg ("the probe did not report its creds file");
    }
  assert_no_seed_logged (f);
}

/* The deploy's subjects follow the trigger deny list; a key file others can
 * read stops the node. */
static void
test_refusals (void **state)
{
  struct fixture *f = *state;
  struct nxerr err = { 0 };
  char cmd[1200], out[4096] = "";
  FILE *p;
  int st;
  start_server (f);
  start_node (f, false);
  const char *bad[] = { "$NEX.logs.>", NULL };
  struct nexc_deploy_opts d = { 0 };
  struct nexc_deploy_result res;
  d.node_id = f->h.node_id;
  d.bucket = "NEXCLIFILES";
  d.key = "natsprobe";
  d.name = "natsprobe";
  d.hash = f->hex;
  d.issuer = &f->issuer;
  d.nats_subscribe = bad;
  assert_int_equal (nexc_deploy (f->c, &d, &res, &err), -1);
  assert_non_null (strstr (err.msg, "nats.subscribe $NEX.logs.> overlaps"));
  const char *inbox[] = { "_INBOX.>", NULL };
  d.nats_subscribe = inbox; /* other clients' replies */
  assert_int_equal (nexc_deploy (f->c, &d, &res, &err), -1);
  assert_non_null (strstr (err.msg, "nats.subscribe _INBOX.> overlaps"));
  const char *fine[] = { "probe.in", NULL }, *trig[] = { "probe.trigger", NULL };
  d.nats_subscribe = fine;
  d.type = "function";
  d.trigger_subjects = trig;
  assert_int_equal (nexc_deploy (f->c, &d, &res, &err), -1);
  assert_non_null (strstr (err.msg, "nats: not supported for function workloads"));
  d.type = NULL;
  d.trigger_subjects = NULL;

  /* The signing key, then the node's own creds: each must be 0600. */
  for (int round = 0; round < 2; round++)
    {
      const char *loose = round == 0 ? f->key_file : f->node_creds;
      assert_int_equal (chmod (f->key_file, round == 0 ? 0644 : 0600), 0);
      assert_int_equal (chmod (f->node_creds, round == 1 ? 0644 : 0600), 0);
      snprintf (cmd, sizeof cmd,
                "%s up --config %s --server %s --creds %s --state-dir %s/s2 2>&1",
                harness_bin ("node/nexc-node"), f->h.node_config, f->h.nats_url, f->node_creds,
                f->dir);
      p = popen (cmd, "r");
      assert_non_null (p);
      size_t n = fread (out, 1, sizeof out - 1, p);
      out[n] = '\0';
      st = pclose (p);
      assert_true (WIFEXITED (st));
      assert_int_equal (WEXITSTATUS (st), 78);
      if (strstr (out, loose) == NULL || strstr (out, "readable by group or others") == NULL
          || strstr (out, "chmod 600") == NULL)
        fail_msg ("unexpected output: %s", out);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_workload_user_is_scoped, setup, teardown),
    cmocka_unit_test_setup_teardown (test_reattached_run_file_removed, setup, teardown),
    cmocka_unit_test_setup_teardown (test_process_tier_file_is_the_workloads, setup, teardown),
    cmocka_unit_test_setup_teardown (test_refusals, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
