/* Autostart (config-deployed workloads, from a local path and from the
 * object store) and lame duck with a deadline (drain, then exit 0); an
 * autostart environment sealed to the node's xkey (`nexc seal`) in a 0644
 * config, and a drain limited to lameduck_issuers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <time.h>

#include "api/nexc.h"
#include "api/objstore.h"
#include "harness.h"

struct fixture {
  struct harness h;
  natsConnection *nc;
  struct nexc_client *c;
  natsSubscription *events;
  struct nkey_pair op, stranger, user; /* user: the only valid issuer */
};

static json_t *
next_event (struct fixture *f, const char *type, int timeout_ms)
{
  for (int waited = 0; waited < timeout_ms;)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, f->events, 100) != NATS_OK)
        {
          waited += 100;
          continue;
        }
      json_t *j = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
      natsMsg_Destroy (m);
      if (j && strcmp (json_string_value (json_object_get (j, "type")), type) == 0)
        return j;
      json_decref (j);
    }
  fail_msg ("no %s event within %d ms", type, timeout_ms);
  return NULL;
}

static int
setup (void **state)
{
  struct fixture *f = calloc (1, sizeof *f);
  struct nxerr err = { 0 };
  char cfg[4096];
  const char *const args[] = { "--exit-on-drain", NULL };
  nkey_pair_generate (NKEY_ACCOUNT, &f->op, &err);
  nkey_pair_generate (NKEY_ACCOUNT, &f->stranger, &err);
  nkey_pair_generate (NKEY_ACCOUNT, &f->user, &err);
  harness_start_nats (&f->h);
  f->nc = harness_connect (&f->h);
  nexc_client_wrap (&f->c, f->nc, &err);
  f->c->timeout_ms = 5000;
  natsConnection_SubscribeSync (&f->events, f->nc, "$NEX.events.*.*");
  /* An object for the nats:// autostart entry, uploaded before the node starts. */
  int fd = open (harness_bin ("examples/ticker"), O_RDONLY);
  assert_true (fd >= 0);
  assert_int_equal (objstore_put_file (f->nc, "AUTOBUCKET", "tick2", fd, NULL, NULL, NULL, NULL,
                                       &err),
                    0);
  close (fd);
  snprintf (cfg, sizeof cfg,
            "{\"machine_pool_size\":1,\"sandbox\":\"none\",\"stop_grace_ms\":300,"
            "\"valid_issuers\":[\"%s\"],\"lameduck_requires_jwt\":true,"
            "\"autostart\":{\"stop_issuer\":\"%s\",\"workloads\":["
            "{\"name\":\"autotick\",\"namespace\":\"ops\",\"type\":\"native\","
            "\"location\":\"%s\",\"environment\":{\"TICK_MS\":\"100\"},\"essential\":true},"
            "{\"name\":\"autotick2\",\"type\":\"native\",\"location\":{\"Scheme\":\"nats\","
            "\"Host\":\"AUTOBUCKET\",\"Path\":\"/tick2\"},\"environment\":{\"TICK_MS\":\"100\"}}"
            "]}}",
            f->user.public_text, f->op.public_text, harness_bin ("examples/ticker"));
  harness_start_node (&f->h, cfg, args);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  natsSubscription_Destroy (f->events);
  nexc_client_free (f->c);
  natsConnection_Destroy (f->nc);
  harness_stop_all (&f->h);
  free (f);
  return 0;
}

static char *
find_workload (struct fixture *f, const char *ns, const char *name)
{
  char subj[128];
  snprintf (subj, sizeof subj, "$NEX.WPING.%s.%s", ns, name);
  for (int i = 0; i < 50; i++)
    {
      char *r = harness_request (f->nc, subj, "", 0, 300);
      if (r)
        {
          json_t *j = json_loads (r, 0, NULL);
          free (r);
          json_t *m = json_array_get (
              json_object_get (json_object_get (j, "data"), "running_machines"), 0);
          char *id = strdup (json_string_value (json_object_get (m, "id")));
          json_decref (j);
          return id;
        }
      usleep (100000);
    }
  fail_msg ("autostart workload %s/%s never listed", ns, name);
  return NULL;
}

static void
test_autostart_and_operator_stop (void **state)
{
  struct fixture *f = *state;
  struct nxerr err = { 0 };
  char *id = find_workload (f, "ops", "autotick");
  char *id2 = find_workload (f, "default", "autotick2");
  /* Logs flow from both. */
  natsSubscription *logs = NULL;
  char subj[256];
  snprintf (subj, sizeof subj, "$NEX.logs.ops.%s.autotick.%s", f->h.node_id, id);
  natsConnection_SubscribeSync (&logs, f->nc, subj);
  natsMsg *m = NULL;
  assert_int_equal (natsSubscription_NextMsg (&m, logs, 3000), NATS_OK);
  natsMsg_Destroy (m);
  natsSubscription_Destroy (logs);
  /* Only the configured operator issuer may stop it (with a JWT minted in a
   * later second than the node's own: Nex's cloned-claims rule). */
  sleep (1);
  snprintf (f->c->ns, sizeof f->c->ns, "ops");
  assert_int_equal (nexc_stop (f->c, f->h.node_id, id, "autotick", &f->stranger, &err), -1);
  assert_non_null (strstr (err.msg, "the only entity allowed"));
  assert_int_equal (nexc_stop (f->c, f->h.node_id, id, "autotick", &f->op, &err), 0);
  snprintf (f->c->ns, sizeof f->c->ns, "default");
  free (id);
  free (id2);
}

static void
test_drain_with_deadline_exits (void **state)
{
  struct fixture *f = *state;
  char subj[128];
  snprintf (subj, sizeof subj, "$NEX.LAMEDUCK.%s", f->h.node_id);
  const char *bad = "{\"deadline_ms\":-5}";
  char *good = NULL, *stranger = NULL;
  struct nxerr err = { 0 };
  char *r = harness_request (f->nc, subj, bad, strlen (bad), 2000);
  assert_non_null (strstr (r, "deadline_ms must be"));
  free (r);
  /* The config requires a token even without a deadline. */
  r = harness_request (f->nc, subj, "", 0, 2000);
  assert_non_null (strstr (r, "a signed lameduck_jwt is required"));
  free (r);
  /* valid_issuers holds neither key: only the operator key may drain. */
  assert_int_equal (nexc_lameduck_payload (f->h.node_id, 700, &f->stranger, (int64_t) time (NULL),
                                           &stranger, &err),
                    0);
  r = harness_request (f->nc, subj, stranger, strlen (stranger), 2000);
  assert_non_null (strstr (r, "is not allowed"));
  free (r);
  free (stranger);
  assert_int_equal (nexc_lameduck_payload (f->h.node_id, 700, &f->op, (int64_t) time (NULL), &good,
                                           &err),
                    0);
  r = harness_request (f->nc, subj, good, strlen (good), 2000);
  assert_non_null (strstr (r, "\"success\":true"));
  free (r);
  free (good);
  json_decref (next_event (f, "node_entered_lameduck", 2000));
  /* autotick2 still runs until the deadline, then is stopped; the node exits 0. */
  json_decref (next_event (f, "workload_stopped", 3000));
  json_decref (next_event (f, "node_stopped", 5000));
  int status = -1;
  for (int i = 0; i < 100; i++)
    {
      pid_t p = waitpid (f->h.node_pid, &status, WNOHANG);
      if (p == f->h.node_pid)
        break;
      usleep (50000);
    }
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
  f->h.node_pid = 0;
}

/* `nexc seal --xkey XKEY PAIR`: its one line of output (malloc'd). */
static char *
seal (const char *xkey, const char *pair)
{
  char cmd[600], line[4096] = "";
  FILE *p;
  snprintf (cmd, sizeof cmd, "%s seal --xkey %s '%s'", harness_bin ("api/nexc"), xkey, pair);
  p = popen (cmd, "r");
  assert_non_null (p);
  if (fgets (line, sizeof line, p) == NULL)
    line[0] = '\0';
  assert_int_equal (pclose (p), 0);
  line[strcspn (line, "\n")] = '\0';
  assert_non_null (strstr (line, "\"sealed_environment\": \""));
  return strdup (line);
}

/* A second node on the same server, first started bare to learn its xkey,
 * then from a 0644 config whose autostart environments are sealed: one to
 * it (the workload prints the value), one to another key (refused, said in
 * the log). Its lameduck_issuers names a key that is not a valid issuer:
 * only that key drains it; a valid issuer may not. */
static void
test_sealed_env_and_who_may_drain (void **state)
{
  struct fixture *f = *state;
  struct harness h2;
  struct nkey_pair drainer, other;
  struct nxerr err = { 0 };
  char base[1024], cfg[8192], path[400], subj[128];
  char *good_seal, *wrong_seal, *payload = NULL, *r;
  natsSubscription *logs = NULL;
  bool said = false;
  const char *args[] = { "--config", path, "--exit-on-drain", NULL };
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &drainer, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_CURVE, &other, &err), 0);
  harness_share_nats (&h2, &f->h);
  snprintf (base, sizeof base,
            "{\"machine_pool_size\":1,\"sandbox\":\"none\",\"stop_grace_ms\":300,"
            "\"valid_issuers\":[\"%s\"],\"lameduck_issuers\":[\"%s\"]",
            f->user.public_text, drainer.public_text);
  snprintf (cfg, sizeof cfg, "%s}", base);
  harness_start_node (&h2, cfg, NULL);
  assert_int_equal (harness_stop_node (&h2, SIGTERM), 0);

  good_seal = seal (h2.node_xkey, "PROBE_SAY=sealed:swordfish");
  wrong_seal = seal (other.public_text, "PROBE_SAY=never");
  snprintf (cfg, sizeof cfg,
            "%s,\"autostart\":{\"workloads\":["
            "{\"name\":\"sealedprobe\",\"type\":\"native\",\"location\":\"%s\",%s},"
            "{\"name\":\"wrongkey\",\"type\":\"native\",\"location\":\"%s\",%s}]}}",
            base, harness_bin ("examples/natsprobe"), good_seal, harness_bin ("examples/natsprobe"),
            wrong_seal);
  /* Sealed values only: a config others may read. */
  snprintf (path, sizeof path, "%s/sealed.json", h2.tmpdir);
  FILE *cf = fopen (path, "w");
  assert_non_null (cf);
  fputs (cfg, cf);
  fclose (cf);
  assert_int_equal (chmod (path, 0644), 0);
  assert_int_equal (natsConnection_SubscribeSync (&logs, f->nc, "$NEX.logs.default.>"), NATS_OK);
  harness_start_node (&h2, "{}", args);
  for (int waited = 0; waited < 10000 && !said;)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, logs, 100) != NATS_OK)
        {
          waited += 100;
          continue;
        }
      said = strstr (natsMsg_GetData (m), "natsprobe: say sealed:swordfish") != NULL;
      assert_null (strstr (natsMsg_GetData (m), "natsprobe: say never"));
      natsMsg_Destroy (m);
    }
  if (!said)
    harness_dump_node_log (&h2);
  assert_true (said);
  if (!harness_node_log_has (&h2, "autostart default/wrongkey: sealed_environment does not open "
                                  "with this node's xkey"))
    {
      harness_dump_node_log (&h2);
      fail_msg ("no clear refusal of the wrongly sealed environment");
    }
  assert_false (harness_node_log_has (&h2, "swordfish")); /* the value never logged */

  /* Who may drain: a valid issuer may not, the lameduck_issuers key may. */
  snprintf (subj, sizeof subj, "$NEX.LAMEDUCK.%s", h2.node_id);
  assert_int_equal (nexc_lameduck_payload (h2.node_id, 500, &f->user, (int64_t) time (NULL),
                                           &payload, &err),
                    0);
  r = harness_request (f->nc, subj, payload, strlen (payload), 2000);
  assert_non_null (r);
  assert_non_null (strstr (r, "may not drain this node (lameduck_issuers)"));
  free (r);
  free (payload);
  assert_int_equal (nexc_lameduck_payload (h2.node_id, 500, &drainer, (int64_t) time (NULL),
                                           &payload, &err),
                    0);
  r = harness_request (f->nc, subj, payload, strlen (payload), 2000);
  assert_non_null (r);
  assert_non_null (strstr (r, "\"success\":true"));
  free (r);
  free (payload);
  /* --exit-on-drain: the drain ends the node, with status 0. */
  assert_int_equal (harness_stop_node (&h2, 0), 0);
  natsSubscription_Destroy (logs);
  free (good_seal);
  free (wrong_seal);
  nkey_pair_wipe (&drainer);
  nkey_pair_wipe (&other);
  harness_stop_all (&h2);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_autostart_and_operator_stop),
    cmocka_unit_test (test_sealed_env_and_who_may_drain),
    cmocka_unit_test (test_drain_with_deadline_exits),
  };
  return cmocka_run_group_tests_name ("autostart_drain", tests, setup, teardown);
}
