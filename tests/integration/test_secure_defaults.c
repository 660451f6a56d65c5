/* Secure defaults, as an operator meets them: the packaged config is refused
 * until `nexc-node init` names an issuer; init writes a 0600 seed and config;
 * a config holding autostart environment values must not be readable by
 * others; a node from the init'd config refuses strangers (deploy, unsigned
 * lame duck) and runs what its issuer signed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/jwt.h"
#include "api/nexc.h"
#include <time.h>
#include "harness.h"

struct fixture {
  struct harness h;
  char dir[256];
  /* trusting_node: a node whose valid_issuers names only this key */
  struct nkey_pair issuer;
  char cfg[512];
  char hex[65]; /* sha256 of examples/ticker, uploaded as NEXCLIFILES/ticker */
  natsConnection *nc;
  struct nexc_client *c;
};

/* Run a shell command line, its stdout+stderr into *out (malloc'd); exit code. */
static int
run (char **out, const char *fmt, ...)
{
  char cmd[2048];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (cmd, sizeof cmd, fmt, ap);
  va_end (ap);
  strncat (cmd, " 2>&1", sizeof cmd - strlen (cmd) - 1);
  FILE *p = popen (cmd, "r");
  assert_non_null (p);
  size_t cap = 65536, len = 0;
  char *buf = malloc (cap);
  size_t r;
  while ((r = fread (buf + len, 1, cap - 1 - len, p)) > 0)
    len += r;
  buf[len] = '\0';
  int st = pclose (p);
  *out = buf;
  return WIFEXITED (st) ? WEXITSTATUS (st) : 128;
}

static void
copy_file (const char *from, const char *to, mode_t mode)
{
  char *o = NULL;
  assert_int_equal (run (&o, "cp '%s' '%s' && chmod %o '%s'", from, to, (unsigned) mode, to), 0);
  free (o);
}

static mode_t
mode_of (const char *path)
{
  struct stat st;
  assert_int_equal (stat (path, &st), 0);
  return st.st_mode & 07777;
}

/* A request's reply, failing the test when there is none. */
static char *
ask (natsConnection *nc, const char *subj, const char *payload)
{
  char *r = harness_request (nc, subj, payload, strlen (payload), 10000);
  if (r == NULL)
    fail_msg ("no reply on %s", subj);
  return r;
}

static void
expect_error (natsConnection *nc, const char *subj, const char *payload, const char *text)
{
  char *r = ask (nc, subj, payload);
  if (strstr (r, text) == NULL)
    fail_msg ("want \"%s\" in %s", text, r);
  free (r);
}

/* The payload with one top-level field replaced. */
static char *
with_field (const char *payload, const char *key, json_t *value)
{
  json_t *j = json_loads (payload, 0, NULL);
  assert_non_null (j);
  json_object_set_new (j, key, value);
  char *out = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  return out;
}

static int
setup (void **state)
{
  struct fixture *f = calloc (1, sizeof *f);
  snprintf (f->dir, sizeof f->dir, "/tmp/nexc-secure-XXXXXX");
  assert_non_null (mkdtemp (f->dir));
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  char *o = NULL;
  nexc_client_free (f->c);
  if (f->nc)
    natsConnection_Destroy (f->nc);
  nkey_pair_wipe (&f->issuer);
  harness_stop_all (&f->h);
  run (&o, "rm -rf '%s'", f->dir);
  free (o);
  free (f);
  return 0;
}

static void
test_packaged_config_needs_init (void **state)
{
  struct fixture *f = *state;
  const char *node = harness_bin ("node/nexc-node");
  char cfg[300], seed[300], *o = NULL;
  snprintf (cfg, sizeof cfg, "%s/config.json", f->dir);
  snprintf (seed, sizeof seed, "%s/issuer.nk", f->dir);
  copy_file (NEXC_SOURCE_DIR "/dist/config.json", cfg, 0644);

  /* As packaged: refused, with the way out. */
  assert_int_equal (run (&o, "%s check-config %s", node, cfg), 78);
  assert_non_null (strstr (o, "valid_issuers is empty"));
  assert_non_null (strstr (o, "nexc-node init"));
  free (o);

  /* init: a key, its seed 0600 beside the config, the config 0600 naming it. */
  assert_int_equal (run (&o, "%s init --config %s", node, cfg), 0);
  char pub[64] = "";
  const char *p = strstr (o, "issuer ");
  assert_non_null (p);
  sscanf (p, "issuer %56s", pub);
  assert_int_equal (strlen (pub), 56);
  assert_int_equal (pub[0], 'A');
  free (o);
  assert_int_equal (mode_of (seed), 0600);
  assert_int_equal (mode_of (cfg), 0600);
  struct nkey_pair kp;
  struct nxerr err = { 0 };
  assert_int_equal (nkey_pair_from_file (seed, &kp, &err), 0);
  assert_string_equal (kp.public_text, pub);
  nkey_pair_wipe (&kp);
  json_t *j = json_load_file (cfg, 0, NULL);
  assert_non_null (j);
  assert_string_equal (json_string_value (json_array_get (json_object_get (j, "valid_issuers"), 0)),
                       pub);
  /* What the packaged config said is kept. */
  assert_string_equal (json_string_value (json_object_get (j, "sandbox")), "process");
  assert_true (json_is_true (json_object_get (j, "lameduck_requires_jwt")));
  json_decref (j);
  assert_int_equal (run (&o, "%s check-config %s", node, cfg), 0);
  free (o);

  /* Again: nothing changes, the seed is never overwritten. */
  assert_int_equal (run (&o, "%s init --config %s", node, cfg), 0);
  assert_non_null (strstr (o, "nothing to do"));
  free (o);
  assert_int_equal (nkey_pair_from_file (seed, &kp, &err), 0);
  assert_string_equal (kp.public_text, pub);
  nkey_pair_wipe (&kp);

  /* A fresh path: init creates the secure config itself; an existing seed
   * file is refused rather than replaced. */
  char cfg2[300];
  snprintf (cfg2, sizeof cfg2, "%s/new/config.json", f->dir);
  assert_int_equal (run (&o, "mkdir -p %s/new && %s init --config %s --seed-out %s", f->dir, node,
                         cfg2, seed),
                    78);
  assert_non_null (strstr (o, "File exists"));
  free (o);
  assert_int_equal (access (cfg2, F_OK), -1);
  assert_int_equal (run (&o, "%s init --config %s", node, cfg2), 0);
  free (o);
  j = json_load_file (cfg2, 0, NULL);
  assert_true (json_is_true (json_object_get (j, "require_valid_issuers")));
  assert_int_equal (json_array_size (json_object_get (j, "valid_issuers")), 1);
  json_decref (j);
}

static void
test_secrets_need_a_private_config (void **state)
{
  struct fixture *f = *state;
  const char *node = harness_bin ("node/nexc-node");
  char cfg[300], *o = NULL;
  snprintf (cfg, sizeof cfg, "%s/autostart.json", f->dir);
  copy_file (NEXC_SOURCE_DIR "/examples/nodeconfigs/autostart.json", cfg, 0644);
  assert_int_equal (run (&o, "%s check-config %s", node, cfg), 78);
  assert_non_null (strstr (o, "readable by group or others (mode 0644): chmod 600"));
  free (o);
  chmod (cfg, 0640);
  assert_int_equal (run (&o, "%s check-config %s", node, cfg), 78);
  free (o);
  chmod (cfg, 0600);
  assert_int_equal (run (&o, "%s check-config %s", node, cfg), 0);
  free (o);
  /* Without environment values the mode does not matter. */
  copy_file (NEXC_SOURCE_DIR "/examples/nodeconfigs/dev.json", cfg, 0644);
  assert_int_equal (run (&o, "%s check-config %s", node, cfg), 0);
  free (o);
}

/* A node from the init'd packaged config: strangers are refused. */
static void
test_initd_node_refuses_strangers (void **state)
{
  struct fixture *f = *state;
  const char *node = harness_bin ("node/nexc-node");
  char cfg[300], seed[300], subj[160], *o = NULL;
  struct nxerr err = { 0 };
  struct nkey_pair issuer, stranger;
  snprintf (cfg, sizeof cfg, "%s/run.json", f->dir);
  snprintf (seed, sizeof seed, "%s/run.nk", f->dir);
  copy_file (NEXC_SOURCE_DIR "/dist/config.json", cfg, 0644);
  assert_int_equal (run (&o, "%s init --config %s --seed-out %s", node, cfg, seed), 0);
  free (o);
  json_t *j = json_load_file (cfg, 0, NULL);
  /* Test-local settings: a uid range of its own (tests run in parallel), a
   * short grace; tier none where this machine cannot run tier process. */
  json_object_set_new (j, "uid_range",
                       json_pack ("{s:i,s:i}", "start", 400000 + (int) (getpid () % 64) * 1024,
                                  "count", 1024));
  json_object_set_new (j, "stop_grace_ms", json_integer (300));
  json_object_set_new (j, "machine_pool_size", json_integer (1));
  if (!harness_process_tier_ok ())
    json_object_set_new (j, "sandbox", json_string ("none"));
  char *text = json_dumps (j, 0);
  json_decref (j);
  harness_start_nats (&f->h);
  natsConnection *nc = harness_connect (&f->h);
  harness_start_node (&f->h, text, NULL);
  free (text);
  assert_false (harness_node_log_has (&f->h, "OPEN NODE"));
  /* Tier process on the host network without workload_creds: workloads
   * reach NATS as any client can, and the node says so. */
  if (harness_process_tier_ok ())
    assert_true (harness_node_log_has (&f->h, "a workload can reach NATS as any client can"));

  char *r = harness_request (nc, "$NEX.PING", "", 0, 2000);
  assert_non_null (r);
  assert_null (strstr (r, "nex.open"));
  free (r);

  /* The plain Nex lame duck, unsigned: refused by this config. */
  snprintf (subj, sizeof subj, "$NEX.LAMEDUCK.%s", f->h.node_id);
  r = harness_request (nc, subj, "", 0, 2000);
  assert_non_null (strstr (r, "a signed lameduck_jwt is required"));
  free (r);

  /* A deploy signed by a key of its own making: refused. */
  struct nexc_client *c = NULL;
  assert_int_equal (nexc_client_wrap (&c, nc, &err), 0);
  c->timeout_ms = 10000;
  assert_int_equal (nkey_pair_from_file (seed, &issuer, &err), 0);
  nkey_pair_generate (NKEY_ACCOUNT, &stranger, &err);
  struct nexc_deploy_opts d = { 0 };
  struct nexc_deploy_result res;
  d.node_id = f->h.node_id;
  d.file = harness_bin ("examples/ticker");
  d.name = "ticker";
  d.issuer = &stranger;
  assert_int_equal (nexc_deploy (c, &d, &res, &err), -1);
  assert_non_null (strstr (err.msg, "issuer"));
  /* Signed with init's key but unbound, as a Nex client sends it: this
   * config requires bound tokens. */
  {
    char hex[65], *p = NULL;
    harness_upload (nc, "NEXCLIFILES", "ticker", harness_bin ("examples/ticker"), hex);
    struct jwt_claims cl;
    struct buf tok = BUF_INIT;
    memset (&cl, 0, sizeof cl);
    cl.sub = (char *) "ticker";
    cl.hash = hex;
    cl.name = (char *) "nex-style";
    assert_int_equal (jwt_encode (&cl, &issuer, &tok, &err), 0);
    free (cl.jti);
    free (cl.iss);
    d.issuer = &issuer;
    d.key = "ticker";
    assert_int_equal (nexc_deploy_payload (c, &d, f->h.node_xkey, hex, &p, &err), 0);
    char *unbound = with_field (p, "workload_jwt", json_string (tok.data));
    snprintf (subj, sizeof subj, "$NEX.DEPLOY.default.%s", f->h.node_id);
    expect_error (nc, subj, unbound, "this node requires bound tokens");
    free (unbound);
    free (p);
    buf_free (&tok);
    d.key = NULL;
  }
  /* Signed with init's key: it runs, and its issuer stops it. */
  d.issuer = &issuer;
  if (nexc_deploy (c, &d, &res, &err) < 0)
    fail_msg ("deploy signed by the init'd issuer: %s", err.msg);
  if (nexc_stop (c, f->h.node_id, res.id, "ticker", &issuer, &err) < 0)
    fail_msg ("stop: %s", err.msg);
  /* The operator's key may put the node in lame duck mode. */
  if (nexc_lameduck_signed (c, f->h.node_id, -1, &issuer, &err) < 0)
    fail_msg ("signed lame duck: %s", err.msg);
  nkey_pair_wipe (&issuer);
  nkey_pair_wipe (&stranger);
  nexc_client_free (c);
  natsConnection_Destroy (nc);
}

/* nats-server, examples/ticker in the object store, and a node of pool
 * machines (tier none) that trusts one fresh issuer key; a client on it. */
static void
trusting_node (struct fixture *f, int pool)
{
  struct nxerr err = { 0 };
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &f->issuer, &err), 0);
  snprintf (f->cfg, sizeof f->cfg,
            "{\"machine_pool_size\":%d,\"sandbox\":\"none\",\"stop_grace_ms\":300,"
            "\"valid_issuers\":[\"%s\"]}",
            pool, f->issuer.public_text);
  harness_start_nats (&f->h);
  f->nc = harness_connect (&f->h);
  harness_upload (f->nc, "NEXCLIFILES", "ticker", harness_bin ("examples/ticker"), f->hex);
  harness_start_node (&f->h, f->cfg, NULL);
  assert_int_equal (nexc_client_wrap (&f->c, f->nc, &err), 0);
  f->c->timeout_ms = 10000;
}

/* A DEPLOY captured on the bus and sent again after the node restarted is
 * refused: the replay cache lives in the state dir. */
static void
test_replay_refused_after_restart (void **state)
{
  struct fixture *f = *state;
  struct nxerr err = { 0 };
  char subj[160];
  trusting_node (f, 1);
  natsConnection *nc = f->nc;
  struct nexc_client *c = f->c;
  struct nexc_deploy_opts d = { 0 };
  char *payload = NULL;
  d.node_id = f->h.node_id;
  d.name = "ticker";
  d.key = "ticker";
  d.issuer = &f->issuer;
  assert_int_equal (nexc_deploy_payload (c, &d, f->h.node_xkey, f->hex, &payload, &err), 0);
  snprintf (subj, sizeof subj, "$NEX.DEPLOY.default.%s", f->h.node_id);
  char *r = harness_request (nc, subj, payload, strlen (payload), 10000);
  assert_non_null (r);
  if (strstr (r, "\"error\""))
    fail_msg ("first deploy refused: %s", r);
  free (r);
  r = harness_request (nc, subj, payload, strlen (payload), 10000);
  assert_non_null (strstr (r, "used before"));
  free (r);
  /* Restart the node on the same state dir (it stops its workload). */
  harness_stop_node (&f->h, SIGTERM);
  harness_start_node (&f->h, f->cfg, NULL);
  r = harness_request (nc, subj, payload, strlen (payload), 10000);
  assert_non_null (r);
  if (strstr (r, "used before") == NULL)
    fail_msg ("a replayed deploy after a restart was not refused: %s", r);
  free (r);
  free (payload);
}

/* Tokens are bound to what they were minted for: a captured DEPLOY with
 * another argv or environment, a deploy token used as a stop, a stop of one
 * workload used on another, a token for another node: all refused. */
static void
test_bound_tokens (void **state)
{
  struct fixture *f = *state;
  struct nxerr err = { 0 };
  char dsubj[160], ssubj[160], ida[64], idb[64];
  trusting_node (f, 2);
  natsConnection *nc = f->nc;
  struct nexc_client *c = f->c;
  snprintf (dsubj, sizeof dsubj, "$NEX.DEPLOY.default.%s", f->h.node_id);
  snprintf (ssubj, sizeof ssubj, "$NEX.STOP.default.%s", f->h.node_id);
  struct nexc_deploy_opts d = { 0 };
  const char *env[] = { "TICK_MS=1000", NULL };
  d.node_id = f->h.node_id;
  d.name = "ticker";
  d.key = "ticker";
  d.issuer = &f->issuer;
  d.env = env;
  char *pa = NULL, *pb = NULL;
  assert_int_equal (nexc_deploy_payload (c, &d, f->h.node_xkey, f->hex, &pa, &err), 0);
  assert_int_equal (nexc_deploy_payload (c, &d, f->h.node_xkey, f->hex, &pb, &err), 0);

  /* Captured, then changed: refused before anything runs. */
  json_t *argv = json_pack ("[s]", "--evil");
  char *evil = with_field (pa, "argv", argv);
  expect_error (nc, dsubj, evil, "not the one its token was signed for");
  free (evil);
  json_t *pb_j = json_loads (pb, 0, NULL);
  /* Another request's environment (with its sender key, so it decrypts). */
  char *half = with_field (pa, "environment", json_incref (json_object_get (pb_j, "environment")));
  evil = with_field (half, "sender_public_key",
                     json_incref (json_object_get (pb_j, "sender_public_key")));
  free (half);
  expect_error (nc, dsubj, evil, "not the one its token was signed for");
  free (evil);
  /* The same payload for another node (its aud) is refused there. */
  char *other = NULL;
  d.node_id = "NOTHISNODE";
  assert_int_equal (nexc_deploy_payload (c, &d, f->h.node_xkey, f->hex, &other, &err), 0);
  d.node_id = f->h.node_id;
  expect_error (nc, dsubj, other, "the token is for another node");
  free (other);

  /* As signed: both run. */
  char *r = ask (nc, dsubj, pa);
  json_t *j = json_loads (r, 0, NULL);
  const char *id = json_string_value (json_object_get (json_object_get (j, "data"), "id"));
  if (id == NULL)
    fail_msg ("deploy a: %s", r);
  snprintf (ida, sizeof ida, "%s", id);
  json_decref (j);
  free (r);
  r = ask (nc, dsubj, pb);
  j = json_loads (r, 0, NULL);
  id = json_string_value (json_object_get (json_object_get (j, "data"), "id"));
  if (id == NULL)
    fail_msg ("deploy b: %s", r);
  snprintf (idb, sizeof idb, "%s", id);
  json_decref (j);
  free (r);

  /* A's deploy token as a stop of B: not a stop token. */
  json_t *pa_j = json_loads (pa, 0, NULL);
  json_t *stop = json_pack ("{s:s,s:O,s:s}", "workload_id", idb, "workload_jwt",
                            json_object_get (pa_j, "workload_jwt"), "target_node", f->h.node_id);
  char *sp = json_dumps (stop, JSON_COMPACT);
  expect_error (nc, ssubj, sp, "the token is a deploy token, not a stop token");
  free (sp);
  json_decref (stop);
  /* A stop of A used on B, and a stop for another node: refused. */
  int64_t later = (int64_t) time (NULL) + 1;
  assert_int_equal (nexc_stop_payload (f->h.node_id, ida, "ticker", &f->issuer, later, &sp, &err), 0);
  json_t *spj = json_loads (sp, 0, NULL);
  free (sp);
  json_object_set_new (spj, "workload_id", json_string (idb));
  sp = json_dumps (spj, JSON_COMPACT);
  json_decref (spj);
  expect_error (nc, ssubj, sp, "the token is for workload");
  free (sp);
  assert_int_equal (nexc_stop_payload ("NOTHISNODE", idb, "ticker", &f->issuer, later, &sp, &err), 0);
  expect_error (nc, ssubj, sp, "the token is for another node");
  free (sp);
  /* Both still run; their own stops work. */
  assert_int_equal (nexc_stop (c, f->h.node_id, ida, "ticker", &f->issuer, &err), 0);
  assert_int_equal (nexc_stop (c, f->h.node_id, idb, "ticker", &f->issuer, &err), 0);
  json_decref (pa_j);
  json_decref (pb_j);
  free (pa);
  free (pb);
}

/* Events carry the node's signature: a real workload_started verifies for
 * the node that sent it; the same event published by a client, as is or
 * with the node's headers on another payload, does not. */
static void
test_events_are_signed (void **state)
{
  struct fixture *f = *state;
  struct nxerr err = { 0 };
  natsSubscription *sub = NULL;
  char signer[NKEY_PUBLIC_LEN + 1];
  trusting_node (f, 1);
  natsConnection *nc = f->nc;
  struct nexc_client *c = f->c;
  assert_int_equal (natsConnection_SubscribeSync (&sub, nc, "$NEX.events.default.*"), NATS_OK);
  struct nexc_deploy_opts d = { 0 };
  struct nexc_deploy_result res;
  d.node_id = f->h.node_id;
  d.file = harness_bin ("examples/ticker");
  d.name = "ticker";
  d.issuer = &f->issuer;
  if (nexc_deploy (c, &d, &res, &err) < 0)
    fail_msg ("deploy: %s", err.msg);
  natsMsg *m = NULL, *started = NULL;
  for (int i = 0; i < 50 && started == NULL; i++)
    {
      if (natsSubscription_NextMsg (&m, sub, 100) != NATS_OK)
        continue;
      if (strstr (natsMsg_GetSubject (m), "workload_started"))
        started = m;
      else
        natsMsg_Destroy (m);
    }
  assert_non_null (started);
  if (nexc_event_verify (started, signer, &err) < 0)
    fail_msg ("a real event does not verify: %s", err.msg);
  assert_string_equal (signer, f->h.node_id);

  /* Forged: the same bytes from a client (no headers); the node's headers
   * on another payload. */
  const char *subj = natsMsg_GetSubject (started);
  const char *node_h = NULL, *sig_h = NULL;
  natsMsgHeader_Get (started, "Nexc-Node", &node_h);
  natsMsgHeader_Get (started, "Nexc-Sig", &sig_h);
  natsMsg *forged = NULL;
  assert_int_equal (natsMsg_Create (&forged, subj, NULL, natsMsg_GetData (started),
                                    natsMsg_GetDataLength (started)),
                    NATS_OK);
  assert_int_equal (natsConnection_PublishMsg (nc, forged), NATS_OK);
  natsMsg_Destroy (forged);
  const char *fake = "{\"type\":\"workload_stopped\",\"data\":{\"forged\":true}}";
  assert_int_equal (natsMsg_Create (&forged, subj, NULL, fake, (int) strlen (fake)), NATS_OK);
  natsMsgHeader_Set (forged, "Nexc-Node", node_h);
  natsMsgHeader_Set (forged, "Nexc-Sig", sig_h);
  assert_int_equal (natsConnection_PublishMsg (nc, forged), NATS_OK);
  natsMsg_Destroy (forged);
  int unsigned_seen = 0, bad_seen = 0;
  for (int i = 0; i < 50 && !(unsigned_seen && bad_seen); i++)
    {
      if (natsSubscription_NextMsg (&m, sub, 100) != NATS_OK)
        continue;
      const char *body = natsMsg_GetData (m);
      bool mine = strstr (body, "\"forged\":true") != NULL
                  || (natsMsg_GetDataLength (m) == natsMsg_GetDataLength (started)
                      && memcmp (body, natsMsg_GetData (started),
                                 (size_t) natsMsg_GetDataLength (m))
                             == 0);
      if (mine)
        {
          assert_int_equal (nexc_event_verify (m, signer, &err), -1);
          if (err.code == ENOENT)
            unsigned_seen = 1;
          else
            bad_seen = 1;
        }
      natsMsg_Destroy (m);
    }
  assert_true (unsigned_seen);
  assert_true (bad_seen);
  natsMsg_Destroy (started);
  natsSubscription_Destroy (sub);
  nexc_stop (c, f->h.node_id, res.id, "ticker", &f->issuer, &err);
}

/* A loopback port nobody listens on now. */
static int
free_port (void)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t sl = sizeof sa;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true (fd >= 0);
  assert_int_equal (bind (fd, (struct sockaddr *) &sa, sizeof sa), 0);
  assert_int_equal (getsockname (fd, (struct sockaddr *) &sa, &sl), 0);
  close (fd);
  return ntohs (sa.sin_port);
}

/* Background a shell command (its output into log); its pid. */
static pid_t
start_bg (const char *log, const char *fmt, ...)
{
  char cmd[2048], *o = NULL;
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (cmd, sizeof cmd, fmt, ap);
  va_end (ap);
  assert_int_equal (run (&o, "%s >%s 2>&1 & echo $!", cmd, log), 0);
  pid_t pid = (pid_t) atol (o);
  free (o);
  assert_true (pid > 0);
  return pid;
}

static void
stop_bg (pid_t pid)
{
  kill (pid, SIGTERM);
  for (int i = 0; i < 200 && kill (pid, 0) == 0; i++)
    usleep (10000);
  kill (pid, SIGKILL);
}

static bool
file_has (const char *path, const char *needle)
{
  char *o = NULL;
  int rc = run (&o, "grep -qF -- '%s' '%s'", needle, path);
  free (o);
  return rc == 0;
}

/* Secrets from a file or the environment, never the command line: the CLI
 * and the node reach a token-protected nats-server with --token-file (and
 * NATS_TOKEN), and the node's command line does not hold the token. */
static void
test_token_from_file (void **state)
{
  struct fixture *f = *state;
  const char *node = harness_bin ("node/nexc-node"), *cli = harness_bin ("api/nexc");
  const char *token = "tok-1c9a0f7e55b3";
  char tokfile[300], natslog[300], nodelog[300], cfg[300], url[64], *o = NULL;
  int port = free_port ();
  snprintf (tokfile, sizeof tokfile, "%s/token", f->dir);
  snprintf (natslog, sizeof natslog, "%s/nats.log", f->dir);
  snprintf (nodelog, sizeof nodelog, "%s/node.log", f->dir);
  snprintf (cfg, sizeof cfg, "%s/node.json", f->dir);
  snprintf (url, sizeof url, "nats://127.0.0.1:%d", port);
  assert_int_equal (run (&o, "printf '%s\\n' >%s && chmod 600 %s && "
                             "printf '{\"sandbox\":\"none\",\"machine_pool_size\":1}' >%s",
                         token, tokfile, tokfile, cfg),
                    0);
  free (o);
  pid_t nats = start_bg (natslog, "exec nats-server -a 127.0.0.1 -p %d --auth %s", port, token);
  int ready = 0;
  for (int i = 0; i < 200 && !ready; i++, usleep (20000))
    ready = file_has (natslog, "Server is ready");
  assert_true (ready);

  /* The CLI: no token, refused (exit 3); from a file, or NATS_TOKEN: in. */
  int rc = run (&o, "%s --server %s --timeout 300 nodes ls", cli, url);
  free (o);
  assert_int_equal (rc, 3);
  rc = run (&o, "%s --server %s --token-file %s --timeout 300 nodes ls", cli, url, tokfile);
  free (o);
  assert_int_equal (rc, 0);
  rc = run (&o, "NATS_TOKEN=%s %s --server %s --timeout 300 nodes ls", token, cli, url);
  free (o);
  assert_int_equal (rc, 0);

  /* The node: --token-file; it says nothing of the token and lists. */
  char state_dir[300];
  snprintf (state_dir, sizeof state_dir, "%s/state", f->dir);
  pid_t nd = start_bg (nodelog, "exec %s up --config %s --server %s --token-file %s --state-dir %s",
                       node, cfg, url, tokfile, state_dir);
  int up = 0;
  for (int i = 0; i < 300 && !up; i++, usleep (20000))
    up = file_has (nodelog, " up, nexc ");
  if (!up)
    {
      run (&o, "cat %s", nodelog);
      fail_msg ("node did not come up with --token-file: %s", o);
    }
  rc = run (&o, "%s --server %s --token-file %s --timeout 1000 --json nodes ls", cli, url, tokfile);
  assert_int_equal (rc, 0);
  assert_non_null (strstr (o, "node_id"));
  free (o);
  char cmdline[128];
  snprintf (cmdline, sizeof cmdline, "/proc/%d/cmdline", (int) nd);
  assert_false (file_has (cmdline, token));
  assert_false (file_has (nodelog, token));
  stop_bg (nd);
  stop_bg (nats);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_packaged_config_needs_init, setup, teardown),
    cmocka_unit_test_setup_teardown (test_secrets_need_a_private_config, setup, teardown),
    cmocka_unit_test_setup_teardown (test_initd_node_refuses_strangers, setup, teardown),
    cmocka_unit_test_setup_teardown (test_replay_refused_after_restart, setup, teardown),
    cmocka_unit_test_setup_teardown (test_token_from_file, setup, teardown),
    cmocka_unit_test_setup_teardown (test_bound_tokens, setup, teardown),
    cmocka_unit_test_setup_teardown (test_events_are_signed, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
