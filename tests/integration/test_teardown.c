/* A node frees what it subscribed to while messages keep arriving for it,
 * on real processes: SIGTERM while its deployments watchers are being fed
 * (every write to the claims bucket reaches both of the node's KV watchers)
 * and its control subjects get requests, several rounds; each node exits
 * 0, which under ASan also means no use-after-free and no leak. nats.c
 * 3.4.1 hands a message to a subscription without holding a reference to
 * it, so one freed at the wrong moment crashes the node
 * (node/bus/subgrave.h). The nodes run under tests/slow_msg.so, which
 * holds each message 1 ms in that window, so the race is hit, not hoped
 * for. Tier none. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/deployment.h"
#include "api/nkeys.h"
#include "harness.h"

#define ROUNDS 6
#define READY_MS 20000

static struct harness H;

static uint64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/* Writes into the claims bucket (keys no node uses, values no node can
 * read: ignored) and publishes a PING, one of each a round, a round every
 * 2 ms: the node reads each message in 1 ms or more, so it is about half
 * the time inside the widened window, and never so far behind that the
 * server cuts it off. */
static int
publish_claim_and_ping (natsConnection *nc, uint64_t round, void *arg)
{
  char subj[128];
  int n = 0;
  (void) arg;
  snprintf (subj, sizeof subj, "$KV.%s.teardown.k%d", DEPLOYMENT_CLAIMS_BUCKET_DEFAULT,
            (int) (round % 8));
  n += natsConnection_PublishString (nc, subj, "junk") == NATS_OK;
  n += natsConnection_PublishString (nc, "$NEX.PING", "") == NATS_OK;
  return n;
}

static struct harness_flood flood = { .publish = publish_claim_and_ping, .every_us = 2000 };

/* A node config with deployments on (an issuer and the deployments'
 * xkey: both are required), written into h's temp dir. */
static void
deployments_config (struct harness *h, char *out, size_t cap)
{
  struct nxerr err = { 0 };
  struct nkey_pair issuer, xk;
  char seed[NKEY_SEED_LEN + 2], path[400];
  int fd;
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &issuer, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_CURVE, &xk, &err), 0);
  snprintf (path, sizeof path, "%s/deployments.xk", h->tmpdir);
  nkey_pair_seed_text (&xk, seed);
  strcat (seed, "\n");
  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, seed, strlen (seed)), (ssize_t) strlen (seed));
  close (fd);
  snprintf (out, cap,
            "{\"machine_pool_size\":1,\"sandbox\":\"none\",\"valid_issuers\":[\"%s\"],"
            "\"deployments\":{\"enabled\":true,\"xkey_seed_file\":\"%s\"}}",
            issuer.public_text, path);
  nkey_pair_wipe (&xk);
  nkey_pair_wipe (&issuer);
}

static void
test_sigterm_while_watchers_fed (void **state)
{
  struct harness *h = &H;
  uint64_t total = 0;
  char cfg[1024];
  (void) state;
  harness_start_nats (h);
  h->slow_msg_us = 1000;
  deployments_config (h, cfg, sizeof cfg);
  for (int round = 0; round < ROUNDS; round++)
    {
      uint64_t deadline;
      int rc;
      harness_start_node (h, cfg, NULL);
      deadline = now_ms () + READY_MS;
      /* This start's line: the log holds the earlier rounds' too. */
      while (harness_node_log_count (h, "deployments: buckets") <= round && now_ms () < deadline)
        usleep (50 * 1000);
      if (harness_node_log_count (h, "deployments: buckets") <= round)
        {
          harness_dump_node_log (h);
          fail_msg ("round %d: deployments not ready within %d ms", round + 1, READY_MS);
        }
      harness_flood_start (&flood, h);
      usleep (200 * 1000);
      rc = harness_stop_node (h, SIGTERM);
      harness_flood_stop (&flood);
      total += flood.sent;
      if (rc != 0)
        fail_msg ("round %d: the node exited with %d on SIGTERM while %llu messages reached it "
                  "(log above)",
                  round + 1, rc, (unsigned long long) flood.sent);
    }
  fprintf (stderr, "teardown: %d SIGTERMs under %llu bucket writes and PINGs, each node exited 0\n", ROUNDS,
           (unsigned long long) total);
}

/* ---- a node started before its server ---- */

static pid_t early_pid;

/* nexc-node up on h's server URL, tier none, its output in h's temp dir. */
static pid_t
start_node_early (struct harness *h, char *log, size_t cap)
{
  char cfg[400], state[400];
  FILE *f;
  pid_t pid;
  snprintf (cfg, sizeof cfg, "%s/early.json", h->tmpdir);
  snprintf (state, sizeof state, "%s/early-state", h->tmpdir);
  snprintf (log, cap, "%s/early.log", h->tmpdir);
  f = fopen (cfg, "w");
  assert_non_null (f);
  fputs ("{\"machine_pool_size\":1,\"sandbox\":\"none\"}", f);
  fclose (f);
  assert_int_equal (mkdir (state, 0700), 0);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      int fd = open (log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd < 0 || dup2 (fd, 1) < 0 || dup2 (fd, 2) < 0)
        _exit (126);
      execl (harness_bin ("node/nexc-node"), "nexc-node", "up", "--config", cfg, "--state-dir",
             state, "--server", h->nats_url, "--ephemeral-identity", (char *) NULL);
      _exit (127);
    }
  early_pid = pid;
  return pid;
}

static bool
file_has (const char *path, const char *needle)
{
  char buf[16384];
  size_t n;
  FILE *f = fopen (path, "r");
  if (f == NULL)
    return false;
  n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  return strstr (buf, needle) != NULL;
}

static void
wait_log (const char *log, const char *needle, int ms)
{
  uint64_t deadline = now_ms () + (uint64_t) ms;
  while (!file_has (log, needle) && now_ms () < deadline)
    usleep (20 * 1000);
  if (!file_has (log, needle))
    fail_msg ("no \"%s\" in %s within %d ms", needle, log, ms);
}

/* Exit status of pid within ms, or fail. */
static int
reap_within (pid_t pid, int ms)
{
  uint64_t deadline = now_ms () + (uint64_t) ms;
  int st = 0;
  while (now_ms () < deadline)
    {
      if (waitpid (pid, &st, WNOHANG) == pid)
        {
          early_pid = 0;
          return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
        }
      usleep (20 * 1000);
    }
  fail_msg ("nexc-node %d still running %d ms after SIGTERM", (int) pid, ms);
  return -1;
}

/* Its server not there yet: a SIGTERM stops it, at once and cleanly (nats.c
 * retried the connect inside natsConnection_Connect, where no signal reached
 * the node: it ran until SIGKILL). */
static void
test_sigterm_before_the_server_is_up (void **state)
{
  struct harness *h = &H;
  char log[400];
  pid_t pid;
  (void) state;
  harness_start_nats (h);
  harness_stop_nats (h); /* its port stays ours, nobody listens on it */
  pid = start_node_early (h, log, sizeof log);
  wait_log (log, "NATS server not reachable yet", 10000);
  usleep (300 * 1000);
  assert_int_equal (kill (pid, SIGTERM), 0);
  assert_int_equal (reap_within (pid, 5000), 0);
  assert_true (file_has (log, "before NATS was reachable: stopping"));
}

/* And once its server comes, it serves: PING answered. */
static void
test_node_waits_for_its_server (void **state)
{
  struct harness *h = &H;
  natsConnection *nc;
  char log[400], *reply = NULL;
  pid_t pid;
  (void) state;
  harness_start_nats (h);
  harness_stop_nats (h);
  pid = start_node_early (h, log, sizeof log);
  wait_log (log, "NATS server not reachable yet", 10000);
  harness_restart_nats (h);
  nc = harness_connect (h);
  /* No responder yet answers at once: ask again, for up to ~10 s. */
  for (int i = 0; i < 50 && reply == NULL; i++)
    if ((reply = harness_request (nc, "$NEX.PING", "", 0, 200)) == NULL)
      usleep (200 * 1000);
  natsConnection_Destroy (nc);
  if (reply == NULL)
    fail_msg ("the node did not answer PING after its server came (log %s)", log);
  assert_non_null (strstr (reply, "node_id"));
  free (reply);
  wait_log (log, "NATS connected to", 5000);
  assert_int_equal (kill (pid, SIGTERM), 0);
  assert_int_equal (reap_within (pid, 10000), 0);
}

static int
teardown (void **state)
{
  (void) state;
  if (early_pid > 0)
    {
      kill (early_pid, SIGKILL);
      waitpid (early_pid, NULL, 0);
      early_pid = 0;
    }
  harness_flood_stop (&flood);
  harness_stop_all (&H);
  return 0;
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown (test_sigterm_while_watchers_fed, teardown),
    cmocka_unit_test_teardown (test_sigterm_before_the_server_is_up, teardown),
    cmocka_unit_test_teardown (test_node_waits_for_its_server, teardown),
  };
  return cmocka_run_group_tests_name ("teardown", tests, NULL, NULL);
}
