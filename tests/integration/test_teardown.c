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

static int
teardown (void **state)
{
  (void) state;
  harness_flood_stop (&flood);
  harness_stop_all (&H);
  return 0;
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown (test_sigterm_while_watchers_fed, teardown),
  };
  return cmocka_run_group_tests_name ("teardown", tests, NULL, NULL);
}
