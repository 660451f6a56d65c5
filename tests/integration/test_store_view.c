/* A cache that tells the truth (issue #14): a deploy means what the object
 * store holds at its location now, whatever the node has cached. Each test
 * first deploys an artifact successfully (so its bytes are in the node's
 * cache), then changes the store under it: a bucket or key that was never
 * there, a deletion, a replacement, the whole bucket deleted, a server
 * restart in between, a JetStream domain. The refusals must carry the words
 * of an uncached miss, start nothing, lease no agent and count as failed
 * deploys; once the node's view of a bucket is live, a deploy it confirms
 * must cost no request to the store (INFO data.nexc.artifacts.store_view),
 * and an object stored just before its deploy must never be refused (the
 * view may be a message behind the store). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/nexc.h"
#include "api/objstore.h"
#include "harness.h"

#define BUCKET "NEXCLIFILES"
#define POOL 2
#define NOT_FOUND "Failed to cache workload bytes: nats: object not found"
#define NO_BUCKET "Failed to cache workload bytes: nats: stream not found"
/* How long a change in the store may take to reach the node: a consumer
 * delivers it as it is stored, well under this. */
#define PROPAGATION_US 200000

struct fixture {
  struct harness h;
  natsConnection *nc;
  struct nexc_client *c;
  natsSubscription *events;
  struct nkey_pair issuer, sender;
  int seq; /* unique workload names */
};

static json_t *
parse (const char *s)
{
  json_error_t e;
  json_t *j = json_loads (s, 0, &e);
  if (j == NULL)
    fail_msg ("not JSON: %s", s);
  return j;
}

static int
setup (void **state)
{
  struct fixture *f = calloc (1, sizeof *f);
  struct nxerr err = { 0 };
  char config[1024];
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &f->issuer, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_CURVE, &f->sender, &err), 0);
  snprintf (config, sizeof config,
            "{\"machine_pool_size\":%d,\"sandbox\":\"none\",\"stop_grace_ms\":300,"
            "\"valid_issuers\":[\"%s\"],\"requester_public_keys\":[\"%s\"]}",
            POOL, f->issuer.public_text, f->sender.public_text);
  harness_start_nats (&f->h);
  f->nc = harness_connect (&f->h);
  assert_int_equal (nexc_client_wrap (&f->c, f->nc, &err), 0);
  f->c->timeout_ms = 5000;
  assert_int_equal (natsConnection_SubscribeSync (&f->events, f->nc, "$NEX.events.default.*"),
                    NATS_OK);
  harness_start_node (&f->h, config, NULL);
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

static const char *
example (const char *name)
{
  static char path[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf (path[k], sizeof path[k], "%s/examples/%s", NEXC_BUILD_DIR, name);
  return path[k];
}

/* ---- requests ---- */

struct dep {
  const char *bucket, *key, *hash, *jsdomain;
};

/* The DEPLOY's reply envelope. */
static json_t *
deploy (struct fixture *f, const struct dep *d)
{
  struct nexc_deploy_opts o = { 0 };
  struct nxerr err = { 0 };
  char *payload = NULL, *r, name[64], subj[128];
  snprintf (name, sizeof name, "truth%d", ++f->seq);
  o.node_id = f->h.node_id;
  o.name = name;
  o.bucket = d->bucket ? d->bucket : BUCKET;
  o.key = d->key;
  o.issuer = &f->issuer;
  o.sender = &f->sender;
  o.jsdomain = d->jsdomain; /* part of what the token is bound to */
  if (nexc_deploy_payload (f->c, &o, f->h.node_xkey, d->hash, &payload, &err) < 0)
    fail_msg ("payload: %s", err.msg);
  snprintf (subj, sizeof subj, "$NEX.DEPLOY.default.%s", f->h.node_id);
  r = harness_request (f->nc, subj, payload, strlen (payload), 10000);
  free (payload);
  if (r == NULL)
    fail_msg ("no reply to the deploy of %s/%s", o.bucket, d->key);
  json_t *j = parse (r);
  free (r);
  return j;
}

static json_t *
wait_event (struct fixture *f, const char *type, const char *id)
{
  for (int waited = 0; waited < 5000; waited += 100)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, f->events, 100) != NATS_OK)
        continue;
      json_t *j = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, NULL);
      natsMsg_Destroy (m);
      if (j && strcmp (json_string_value (json_object_get (j, "type")), type) == 0
          && strcmp (json_string_value (json_object_get (j, "source")), id) == 0)
        return j;
      json_decref (j);
    }
  fail_msg ("no %s for %s", type, id);
  return NULL;
}

/* Deploy, expect it started, stop it again. */
static void
deploy_and_stop (struct fixture *f, const struct dep *d)
{
  struct nxerr err = { 0 };
  json_t *j = deploy (f, d);
  json_t *data = json_object_get (j, "data");
  const char *e = json_string_value (json_object_get (j, "error"));
  if (e)
    fail_msg ("deploy of %s/%s refused: %s", d->bucket ? d->bucket : BUCKET, d->key, e);
  assert_true (json_is_true (json_object_get (data, "started")));
  const char *id = json_string_value (json_object_get (data, "id"));
  const char *name = json_string_value (json_object_get (data, "name"));
  if (nexc_stop (f->c, f->h.node_id, id, name, &f->issuer, &err) < 0)
    fail_msg ("stop %s: %s", id, err.msg);
  json_decref (wait_event (f, "workload_stopped", id));
  json_decref (j);
}

static json_t *
info_nexc (struct fixture *f, json_t **root)
{
  char subj[128];
  snprintf (subj, sizeof subj, "$NEX.INFO.default.%s", f->h.node_id);
  char *r = harness_request (f->nc, subj, "", 0, 3000);
  assert_non_null (r);
  *root = parse (r);
  free (r);
  return json_object_get (json_object_get (*root, "data"), "nexc");
}

struct counts {
  long long failed, warm, machines, served, asked, live;
};

static struct counts
counts (struct fixture *f)
{
  json_t *root;
  json_t *nexc = info_nexc (f, &root);
  json_t *view = json_object_get (json_object_get (nexc, "artifacts"), "store_view");
  struct counts c;
  assert_non_null (view);
  c.failed = json_integer_value (json_object_get (nexc, "deploys_failed"));
  c.warm = json_integer_value (json_object_get (json_object_get (nexc, "pool"), "warm"));
  c.machines = (long long) json_array_size (json_object_get (json_object_get (root, "data"),
                                                             "machines"));
  c.served = json_integer_value (json_object_get (view, "served"));
  c.asked = json_integer_value (json_object_get (view, "asked_store"));
  c.live = json_integer_value (json_object_get (view, "live"));
  json_decref (root);
  return c;
}

/* Until the node's view of n buckets is live (first use starts it; after
 * a failure, say JetStream not ready yet after a server restart, it is
 * tried again 1 s later, then 2 s...). */
static void
wait_live (struct fixture *f, long long n)
{
  for (int i = 0; i < 500 && counts (f).live < n; i++)
    usleep (20000);
  assert_true (counts (f).live >= n);
}

static void
wait_pool_full (struct fixture *f)
{
  for (int i = 0; i < 100 && counts (f).warm < POOL; i++)
    usleep (20000);
  assert_int_equal (counts (f).warm, POOL);
}

/* The deploy is refused with exactly text, and leaves nothing: no
 * workload, no agent leased, one more failed deploy, nothing served from
 * the cache. */
static void
expect_refused (struct fixture *f, const struct dep *d, const char *text)
{
  struct counts before, after;
  wait_pool_full (f);
  before = counts (f);
  json_t *j = deploy (f, d);
  const char *e = json_string_value (json_object_get (j, "error"));
  if (e == NULL || strcmp (e, text) != 0)
    fail_msg ("deploy of %s/%s: expected \"%s\", got %s", d->bucket ? d->bucket : BUCKET, d->key,
              text, e ? e : "success");
  assert_string_equal (json_string_value (json_object_get (j, "data")), "");
  json_decref (j);
  after = counts (f);
  assert_int_equal (after.failed, before.failed + 1);
  assert_int_equal (after.machines, 0);
  assert_int_equal (after.warm, POOL);
  assert_int_equal (after.served, before.served);
}

static void
cached (struct fixture *f, const char *hex)
{
  char p[512];
  struct stat st;
  snprintf (p, sizeof p, "%s/artifacts/%s", f->h.node_state_dir, hex);
  /* A download becomes a cache entry once fsynced, after its deploy got
   * the file: it may trail the deploy's reply a little. */
  for (int i = 0; i < 100 && stat (p, &st) != 0; i++)
    usleep (20000);
  if (stat (p, &st) != 0)
    fail_msg ("%s is not in the node's cache", hex);
}

/* ---- tests ---- */

static void
test_never_there (void **state)
{
  struct fixture *f = *state;
  char hex[65];
  harness_upload (f->nc, BUCKET, "tick-a", example ("ticker"), hex);
  deploy_and_stop (f, &(struct dep){ .key = "tick-a", .hash = hex });
  cached (f, hex);

  /* The same bytes named by a bucket or a key the store does not have. */
  expect_refused (f, &(struct dep){ .bucket = "NOSUCHBUCKET", .key = "tick-a", .hash = hex },
                  NO_BUCKET);
  wait_live (f, 1);
  expect_refused (f, &(struct dep){ .key = "tick-b", .hash = hex }, NOT_FOUND);
  /* What a node that never cached them answers: the same words. */
  expect_refused (f,
                  &(struct dep){ .key = "tick-c",
                                 .hash = "1111111111111111111111111111111111111111111111111111111111111111" },
                  NOT_FOUND);
  /* A key stored just before its deploy. */
  for (int i = 0; i < 10; i++)
    {
      char key[32];
      snprintf (key, sizeof key, "fresh-%d", i);
      harness_upload (f->nc, BUCKET, key, example ("ticker"), hex);
      deploy_and_stop (f, &(struct dep){ .key = key, .hash = hex });
    }
  /* A bucket created since is seen. */
  harness_upload (f->nc, "LATER", "tick-a", example ("ticker"), hex);
  deploy_and_stop (f, &(struct dep){ .bucket = "LATER", .key = "tick-a", .hash = hex });

  /* The warm path: served on the view's word, no request to the store. */
  struct counts before = counts (f);
  deploy_and_stop (f, &(struct dep){ .key = "tick-a", .hash = hex });
  struct counts after = counts (f);
  assert_int_equal (after.served, before.served + 1);
  assert_int_equal (after.asked, before.asked);
}

static void
test_deleted_object (void **state)
{
  struct fixture *f = *state;
  struct nxerr err = { 0 };
  char hex[65];
  harness_upload (f->nc, BUCKET, "del-me", example ("ticker"), hex);
  deploy_and_stop (f, &(struct dep){ .key = "del-me", .hash = hex });
  wait_live (f, 1);
  cached (f, hex);
  if (objstore_delete (f->nc, BUCKET, "del-me", NULL, &err) < 0)
    fail_msg ("delete: %s", err.msg);
  usleep (PROPAGATION_US);
  expect_refused (f, &(struct dep){ .key = "del-me", .hash = hex }, NOT_FOUND);
  /* Deleting what is gone says so, as nats.go does. */
  assert_int_equal (objstore_delete (f->nc, BUCKET, "del-me", NULL, &err), -1);
  assert_string_equal (err.msg, "nats: object not found");
  /* Put back, it deploys again. */
  harness_upload (f->nc, BUCKET, "del-me", example ("ticker"), hex);
  usleep (PROPAGATION_US);
  deploy_and_stop (f, &(struct dep){ .key = "del-me", .hash = hex });
}

static void
test_replaced_object (void **state)
{
  struct fixture *f = *state;
  char old_hex[65], new_hex[65], want[400];
  harness_upload (f->nc, BUCKET, "replace-me", example ("ticker"), old_hex);
  deploy_and_stop (f, &(struct dep){ .key = "replace-me", .hash = old_hex });
  wait_live (f, 1);
  harness_upload (f->nc, BUCKET, "replace-me", example ("crasher"), new_hex);
  assert_string_not_equal (old_hex, new_hex);
  usleep (PROPAGATION_US);
  snprintf (want, sizeof want,
            "Failed to cache workload bytes: artifact digest sha256 %s does not match the "
            "workload JWT hash claim %s",
            new_hex, old_hex);
  cached (f, old_hex);
  expect_refused (f, &(struct dep){ .key = "replace-me", .hash = old_hex }, want);
  /* The new bytes, by their hash: fetched, started. */
  deploy_and_stop (f, &(struct dep){ .key = "replace-me", .hash = new_hex });

  /* What `nexc run` does every time: store the file under the workload's
   * key, deploy its hash at once, before the view can have seen the put. */
  for (int i = 0; i < 10; i++)
    {
      char hex[65];
      harness_upload (f->nc, BUCKET, "replace-me", example (i % 2 ? "ticker" : "crasher"), hex);
      deploy_and_stop (f, &(struct dep){ .key = "replace-me", .hash = hex });
    }
}

static void
test_bucket_deleted (void **state)
{
  struct fixture *f = *state;
  char hex[65];
  harness_upload (f->nc, "DOOMED", "tick", example ("ticker"), hex);
  deploy_and_stop (f, &(struct dep){ .bucket = "DOOMED", .key = "tick", .hash = hex });
  wait_live (f, 1);
  char *r = harness_request (f->nc, "$JS.API.STREAM.DELETE.OBJ_DOOMED", "", 0, 3000);
  assert_non_null (r);
  assert_non_null (strstr (r, "\"success\":true"));
  free (r);
  usleep (PROPAGATION_US);
  expect_refused (f, &(struct dep){ .bucket = "DOOMED", .key = "tick", .hash = hex }, NO_BUCKET);
}

/* A server restart: the view made before it may have missed changes, so
 * it is not trusted until loaded again. */
static void
test_reconnect (void **state)
{
  struct fixture *f = *state;
  struct nxerr err = { 0 };
  char hex[65], subj[128];
  harness_upload (f->nc, BUCKET, "across", example ("ticker"), hex);
  deploy_and_stop (f, &(struct dep){ .key = "across", .hash = hex });
  wait_live (f, 1);
  harness_restart_nats (&f->h);
  snprintf (subj, sizeof subj, "$NEX.PING.%s", f->h.node_id);
  char *r = NULL;
  for (int i = 0; i < 100 && r == NULL; i++)
    if ((r = harness_request (f->nc, subj, "", 0, 200)) == NULL)
      usleep (100000);
  assert_non_null (r);
  free (r);
  /* Deleted before the node's view can have loaded again. */
  if (objstore_delete (f->nc, BUCKET, "across", NULL, &err) < 0)
    fail_msg ("delete: %s", err.msg);
  expect_refused (f, &(struct dep){ .key = "across", .hash = hex }, NOT_FOUND);
  /* And the view comes back. */
  harness_upload (f->nc, BUCKET, "across", example ("ticker"), hex);
  deploy_and_stop (f, &(struct dep){ .key = "across", .hash = hex });
  wait_live (f, 1);
}

/* A JetStream domain: its API is $JS.<domain>.API.>, here forwarded to
 * the server's own by this test (what a leaf node's domain looks like to
 * a client). */
static void
domain_forward (natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
  const char *rest = strstr (natsMsg_GetSubject (m), ".API.");
  char target[512];
  (void) sub;
  (void) closure;
  if (rest)
    {
      snprintf (target, sizeof target, "$JS.API.%s", rest + 5);
      natsConnection_PublishRequest (nc, target, natsMsg_GetReply (m), natsMsg_GetData (m),
                                     natsMsg_GetDataLength (m));
    }
  natsMsg_Destroy (m);
}

static void
test_jsdomain (void **state)
{
  struct fixture *f = *state;
  natsSubscription *proxy = NULL;
  struct nxerr err = { 0 };
  char hex[65];
  assert_int_equal (
      natsConnection_Subscribe (&proxy, f->nc, "$JS.hubdom.API.>", domain_forward, NULL), NATS_OK);
  natsConnection_Flush (f->nc);
  harness_upload (f->nc, "DOMAINED", "tick", example ("ticker"), hex);
  struct dep d = { .bucket = "DOMAINED", .key = "tick", .hash = hex, .jsdomain = "hubdom" };
  deploy_and_stop (f, &d);
  for (int i = 0; i < 100; i++)
    {
      struct counts before = counts (f);
      deploy_and_stop (f, &d);
      if (counts (f).served == before.served + 1)
        break; /* served on the domain's view */
      usleep (20000);
    }
  if (objstore_delete (f->nc, "DOMAINED", "tick", NULL, &err) < 0)
    fail_msg ("delete: %s", err.msg);
  usleep (PROPAGATION_US);
  expect_refused (f, &d, NOT_FOUND);
  natsSubscription_Destroy (proxy);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_never_there, setup, teardown),
    cmocka_unit_test_setup_teardown (test_deleted_object, setup, teardown),
    cmocka_unit_test_setup_teardown (test_replaced_object, setup, teardown),
    cmocka_unit_test_setup_teardown (test_bucket_deleted, setup, teardown),
    cmocka_unit_test_setup_teardown (test_reconnect, setup, teardown),
    cmocka_unit_test_setup_teardown (test_jsdomain, setup, teardown),
  };
  return cmocka_run_group_tests_name ("store_view", tests, NULL, NULL);
}
