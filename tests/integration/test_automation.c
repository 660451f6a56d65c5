/* The event-driven automation example (examples/automation): it keeps N
 * replicas of a workload across the nodes of a tag; kill a replica's process
 * and it is replaced. Two clustered servers, one node on each. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

static struct harness H[2];
static natsConnection *NC;
static pid_t AUTO;

static int
setup (void **state)
{
  (void) state;
  harness_start_cluster (H, 2);
  harness_start_node (&H[0], "{\"machine_pool_size\":2,\"sandbox\":\"none\",\"stop_grace_ms\":200,"
                             "\"tags\":{\"role\":\"web\"}}",
                      NULL);
  harness_start_node (&H[1], "{\"machine_pool_size\":2,\"sandbox\":\"none\",\"stop_grace_ms\":200,"
                             "\"tags\":{\"role\":\"web\"}}",
                      NULL);
  NC = harness_connect (&H[0]);
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  if (AUTO > 0)
    {
      kill (AUTO, SIGTERM);
      waitpid (AUTO, NULL, 0);
    }
  natsConnection_Destroy (NC);
  harness_stop_all (&H[0]);
  harness_stop_all (&H[1]);
  return 0;
}

/* Replicas of "web" per node, from WPING. */
static int
count (int *on0, int *on1)
{
  natsInbox *ib = NULL;
  natsSubscription *sub = NULL;
  int n = 0;
  *on0 = *on1 = 0;
  natsInbox_Create (&ib);
  natsConnection_SubscribeSync (&sub, NC, (const char *) ib);
  natsConnection_PublishRequestString (NC, "$NEX.WPING.default.web", (const char *) ib, "");
  for (int64_t end = nats_Now () + 300; nats_Now () < end;)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, sub, end - nats_Now ()) != NATS_OK)
        break;
      json_t *j = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
      json_t *d = json_object_get (j, "data");
      int k = (int) json_array_size (json_object_get (d, "running_machines"));
      const char *node = json_string_value (json_object_get (d, "node_id"));
      if (node && strcmp (node, H[0].node_id) == 0)
        *on0 += k;
      else
        *on1 += k;
      n += k;
      json_decref (j);
      natsMsg_Destroy (m);
    }
  natsSubscription_Destroy (sub);
  natsInbox_Destroy (ib);
  return n;
}

static void
test_replicas_kept (void **state)
{
  (void) state;
  char log[400];
  const char *argv[] = { harness_bin ("examples/automation"), "--name", "web", "--file",
                         NULL, "--replicas", "2", "--tag", "role=web", "--env", "TICK_MS=200",
                         "--server", H[0].nats_url, NULL };
  char file[512];
  snprintf (file, sizeof file, "%s", harness_bin ("examples/ticker"));
  argv[4] = file;
  snprintf (log, sizeof log, "%s/automation.log", H[0].tmpdir);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2 (&fa, 1, 2);
  assert_int_equal (posix_spawn (&AUTO, argv[0], &fa, NULL, (char *const *) argv, environ), 0);
  posix_spawn_file_actions_destroy (&fa);

  int a = 0, b = 0, n = 0;
  for (int i = 0; i < 100 && (n = count (&a, &b)) < 2; i++)
    usleep (100000);
  assert_int_equal (n, 2);
  /* Spread by the bids: one per node. */
  assert_int_equal (a, 1);
  assert_int_equal (b, 1);

  /* Kill one replica's process: it is replaced. */
  natsSubscription *ev = NULL;
  natsConnection_SubscribeSync (&ev, NC, "$NEX.events.default.workload_started");
  pid_t victim = harness_find_proc ("web", NULL);
  assert_true (victim > 0);
  struct timespec t0, t1;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  kill (victim, SIGKILL);
  natsMsg *m = NULL;
  bool replaced = false;
  for (int i = 0; i < 100 && !replaced; i++)
    if (natsSubscription_NextMsg (&m, ev, 100) == NATS_OK)
      {
        replaced = strstr (natsMsg_GetData (m), "\"workload_name\":\"web\"") != NULL;
        natsMsg_Destroy (m);
      }
  clock_gettime (CLOCK_MONOTONIC, &t1);
  assert_true (replaced);
  fprintf (stderr, "automation: replica replaced %.0f ms after its process was killed\n",
           (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6);
  for (int i = 0; i < 50 && count (&a, &b) != 2; i++)
    usleep (100000);
  assert_int_equal (count (&a, &b), 2);
  natsSubscription_Destroy (ev);
}

int
main (void)
{
  const struct CMUnitTest tests[] = { cmocka_unit_test (test_replicas_kept) };
  return cmocka_run_group_tests_name ("automation", tests, setup, teardown);
}
