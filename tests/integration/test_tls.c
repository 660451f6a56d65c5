/* The node over TLS: a nats-server that requires TLS (a CA and a server
 * certificate made for the run with the openssl command), a node started
 * with --tlsca, a client trusting the same CA. The control connection is
 * read and written by the node's loop (node/bus/natsloop.h), TLS records
 * included: a deploy is answered, its log lines and events arrive, a STOP
 * ends it, and after the server restarts the node answers again. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/nexc.h"
#include "harness.h"

struct fixture {
  struct harness h;
  char certs[64];
  natsConnection *nc;
  struct nexc_client *c;
  natsSubscription *events, *logs;
  struct nkey_pair issuer, sender;
};

/* A CA, and a certificate it signed for 127.0.0.1, in dir. */
static void
make_certs (const char *dir)
{
  char cmd[2048];
  snprintf (cmd, sizeof cmd,
            "(cd %s && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext"
            " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
            " -keyout ca.key -out ca.pem -days 1 -subj /CN=nexc-test-ca"
            " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
            " -keyout server.key -out server.csr -subj /CN=127.0.0.1"
            " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
            " -out server.pem -days 1 -extfile san.ext) > %s/openssl.log 2>&1",
            dir, dir);
  if (system (cmd) != 0)
    {
      snprintf (cmd, sizeof cmd, "cat %s/openssl.log >&2", dir);
      if (system (cmd) != 0)
        fprintf (stderr, "test_tls: no openssl log\n");
      fail_msg ("openssl could not make the test certificates in %s", dir);
    }
}

static int
setup (void **state)
{
  struct fixture *f = calloc (1, sizeof *f);
  struct nxerr err = { 0 };
  char conf[1024], config[1024];
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &f->issuer, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_CURVE, &f->sender, &err), 0);
  snprintf (f->certs, sizeof f->certs, "/tmp/nexc-tls-XXXXXX");
  assert_non_null (mkdtemp (f->certs));
  make_certs (f->certs);
  snprintf (conf, sizeof conf,
            "tls { cert_file: \"%s/server.pem\", key_file: \"%s/server.key\", timeout: 5 }",
            f->certs, f->certs);
  harness_start_nats_conf (&f->h, conf);
  snprintf (f->h.tls_ca, sizeof f->h.tls_ca, "%s/ca.pem", f->certs);
  harness_client (&f->h, &f->nc, &f->c, &f->events, &f->logs);
  snprintf (config, sizeof config,
            "{\"machine_pool_size\":1,\"sandbox\":\"none\",\"stop_grace_ms\":500,"
            "\"valid_issuers\":[\"%s\"]}",
            f->issuer.public_text);
  const char *args[] = { "--tlsca", f->h.tls_ca, NULL };
  harness_start_node (&f->h, config, args);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  char cmd[128];
  natsSubscription_Destroy (f->events);
  natsSubscription_Destroy (f->logs);
  nexc_client_free (f->c);
  natsConnection_Destroy (f->nc);
  harness_stop_all (&f->h);
  snprintf (cmd, sizeof cmd, "rm -rf %s", f->certs);
  if (system (cmd) != 0)
    fprintf (stderr, "test_tls: could not remove %s\n", f->certs);
  free (f);
  return 0;
}

static void
test_deploy_logs_stop_over_tls (void **state)
{
  struct fixture *f = *state;
  struct nexc_deploy_opts o = { 0 };
  struct nxerr err = { 0 };
  const char *env[] = { "TICK_MS=50", NULL };
  char hex[65], path[512], subj[128], *payload = NULL, *r;
  json_t *j, *ev;
  const char *id;
  snprintf (path, sizeof path, "%s/examples/ticker", NEXC_BUILD_DIR);
  harness_upload (f->nc, "NEXCLIFILES", "ticker", path, hex);
  o.node_id = f->h.node_id;
  o.name = o.key = "ticker";
  o.env = env;
  o.issuer = &f->issuer;
  o.sender = &f->sender;
  assert_int_equal (nexc_deploy_payload (f->c, &o, f->h.node_xkey, hex, &payload, &err), 0);
  snprintf (subj, sizeof subj, "$NEX.DEPLOY.default.%s", f->h.node_id);
  r = harness_request (f->nc, subj, payload, strlen (payload), 10000);
  free (payload);
  if (r == NULL)
    {
      harness_dump_node_log (&f->h);
      fail_msg ("no reply to the deploy over TLS");
    }
  j = json_loads (r, 0, NULL);
  free (r);
  assert_non_null (j);
  assert_null (json_object_get (j, "error"));
  id = json_string_value (json_object_get (json_object_get (j, "data"), "id"));
  assert_non_null (id);
  ev = harness_wait_event (&f->h, f->events, "workload_started", id, 5000);
  json_decref (ev);

  /* Its lines come over the data connection, TLS too. */
  bool line = false;
  for (int i = 0; i < 50 && !line; i++)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, f->logs, 100) != NATS_OK)
        continue;
      line = strstr (natsMsg_GetData (m), "tick ") != NULL;
      natsMsg_Destroy (m);
    }
  assert_true (line);

  assert_int_equal (nexc_stop (f->c, f->h.node_id, id, "ticker", &f->issuer, &err), 0);
  ev = harness_wait_event (&f->h, f->events, "workload_stopped", id, 5000);
  json_decref (ev);
  json_decref (j);
}

static void
test_reconnect_over_tls (void **state)
{
  struct fixture *f = *state;
  char subj[128], *r = NULL;
  harness_restart_nats (&f->h);
  snprintf (subj, sizeof subj, "$NEX.PING.%s", f->h.node_id);
  for (int i = 0; i < 100 && r == NULL; i++)
    {
      r = harness_request (f->nc, subj, "", 0, 200);
      if (r == NULL)
        usleep (100000);
    }
  if (r == NULL)
    harness_dump_node_log (&f->h);
  assert_non_null (r);
  assert_non_null (strstr (r, f->h.node_id));
  free (r);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_deploy_logs_stop_over_tls, setup, teardown),
    cmocka_unit_test_setup_teardown (test_reconnect_over_tls, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
