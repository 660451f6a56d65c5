/* Unit tests of api/objstore_watch.c: the requests of a bucket watch and
 * the strict reading of what the bus brings back (create replies, $JS.ACK
 * subjects, metadata subjects and messages). Replies are what nats-server
 * 2.9.10 sent in a probe; the rest is hostile input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/objstore.h"

/* What nats.go writes for "hello" (sha256 2cf24dba...). */
#define GO_META                                                                                    \
  "{\"name\":\"echoservice\",\"options\":{\"max_chunk_size\":131072},"                            \
  "\"bucket\":\"NEXCLIFILES\",\"nuid\":\"8nwLEHwqkBNKqR3dWp6BrQ\",\"size\":5,"                   \
  "\"mtime\":\"2024-04-25T14:03:07.1234Z\",\"chunks\":1,"                                         \
  "\"digest\":\"SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=\"}"
#define HELLO_SHA "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

/* nats-server 2.9.10's reply to a create (trimmed of nothing we read). */
#define CREATED_REPLY                                                                              \
  "{\"type\":\"io.nats.jetstream.api.v1.consumer_create_response\",\"stream_name\":\"OBJ_b\","    \
  "\"name\":\"nexc_0123456789abcdef_1\",\"created\":\"2026-12-06T19:24:09.119432968Z\","          \
  "\"config\":{\"deliver_policy\":\"last_per_subject\",\"ack_policy\":\"none\"},"                 \
  "\"delivered\":{\"consumer_seq\":0,\"stream_seq\":1},\"num_ack_pending\":0,"                    \
  "\"num_redelivered\":0,\"num_waiting\":0,\"num_pending\":2}"

static json_t *
load (const struct buf *b)
{
  json_t *j = json_loadb (b->data, b->len, 0, NULL);
  assert_non_null (j);
  return j;
}

static void
hex_of (const unsigned char *sha, char out[65])
{
  for (int i = 0; i < 32; i++)
    snprintf (out + 2 * i, 3, "%02x", sha[i]);
}

/* ---- requests ---- */

static void
test_create_request (void **state)
{
  struct buf subj = BUF_INIT, body = BUF_INIT;
  struct nxerr err = { 0 };
  json_t *j, *cfg;
  (void) state;
  assert_int_equal (objstore_watch_create ("b", NULL, "nexc_t_1", 60000, &subj, &body, &err), 0);
  assert_string_equal (subj.data, "$JS.API.CONSUMER.CREATE.OBJ_b");
  j = load (&body);
  assert_string_equal (json_string_value (json_object_get (j, "stream_name")), "OBJ_b");
  cfg = json_object_get (j, "config");
  assert_string_equal (json_string_value (json_object_get (cfg, "name")), "nexc_t_1");
  assert_string_equal (json_string_value (json_object_get (cfg, "deliver_policy")),
                       "last_per_subject");
  assert_string_equal (json_string_value (json_object_get (cfg, "filter_subject")), "$O.b.M.>");
  assert_string_equal (json_string_value (json_object_get (cfg, "ack_policy")), "none");
  assert_true (json_is_true (json_object_get (cfg, "mem_storage")));
  assert_int_equal (json_integer_value (json_object_get (cfg, "inactive_threshold")),
                    60000LL * 1000000);
  /* A pull consumer: no deliver subject. */
  assert_null (json_object_get (cfg, "deliver_subject"));
  json_decref (j);

  assert_int_equal (objstore_watch_create ("b", "hub", "c", 1, &subj, &body, &err), 0);
  assert_string_equal (subj.data, "$JS.hub.API.CONSUMER.CREATE.OBJ_b");
  buf_free (&subj);
  buf_free (&body);
}

static void
test_pull_and_delete_requests (void **state)
{
  struct buf subj = BUF_INIT, body = BUF_INIT;
  struct nxerr err = { 0 };
  json_t *j;
  (void) state;
  assert_int_equal (objstore_watch_pull ("b", "", "c1", 64, 30000, 2000, &subj, &body, &err), 0);
  assert_string_equal (subj.data, "$JS.API.CONSUMER.MSG.NEXT.OBJ_b.c1");
  j = load (&body);
  assert_int_equal (json_integer_value (json_object_get (j, "batch")), 64);
  assert_int_equal (json_integer_value (json_object_get (j, "expires")), 30000LL * 1000000);
  assert_int_equal (json_integer_value (json_object_get (j, "idle_heartbeat")), 2000LL * 1000000);
  json_decref (j);
  /* The server wants the heartbeat under the expiry. */
  assert_int_equal (objstore_watch_pull ("b", "", "c1", 64, 2000, 2000, &subj, &body, &err), -1);
  assert_int_equal (objstore_watch_pull ("b", "", "c1", 0, 3000, 2000, &subj, &body, &err), -1);
  assert_int_equal (objstore_watch_delete ("b", "hub", "c1", &subj, &err), 0);
  assert_string_equal (subj.data, "$JS.hub.API.CONSUMER.DELETE.OBJ_b.c1");
  buf_free (&subj);
  buf_free (&body);
}

static void
test_request_names_checked (void **state)
{
  struct buf subj = BUF_INIT, body = BUF_INIT;
  struct nxerr err = { 0 };
  char longname[OBJSTORE_CONSUMER_MAX + 2];
  (void) state;
  memset (longname, 'c', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal (objstore_watch_create ("a.b", NULL, "c", 1, &subj, &body, &err), -1);
  assert_string_equal (err.msg, "nats: invalid object-store name");
  assert_int_equal (objstore_watch_create ("b*", NULL, "c", 1, &subj, &body, &err), -1);
  assert_int_equal (objstore_watch_create ("b", NULL, "c.d", 1, &subj, &body, &err), -1);
  assert_string_equal (err.msg, "nats: invalid consumer name");
  assert_int_equal (objstore_watch_create ("b", NULL, longname, 1, &subj, &body, &err), -1);
  assert_int_equal (objstore_watch_create ("b", "x.y", "c", 1, &subj, &body, &err), -1);
  assert_string_equal (err.msg, "nats: invalid domain name");
  assert_int_equal (objstore_watch_pull ("b", ">", "c", 1, 3000, 2000, &subj, &body, &err), -1);
  assert_string_equal (err.msg, "nats: invalid domain name");
  assert_int_equal (objstore_watch_delete ("b", NULL, "", &subj, &err), -1);
  buf_free (&subj);
  buf_free (&body);
}

/* ---- create replies ---- */

static void
test_created (void **state)
{
  struct objstore_created c;
  struct nxerr err = { 0 };
  (void) state;
  assert_int_equal (objstore_watch_created (CREATED_REPLY, strlen (CREATED_REPLY), &c, &err), 0);
  assert_string_equal (c.name, "nexc_0123456789abcdef_1");
  assert_int_equal (c.num_pending, 2);
}

static void
expect_created (const char *json, int want, const char *needle)
{
  struct objstore_created c;
  struct nxerr err = { 0 };
  int r = objstore_watch_created (json, strlen (json), &c, &err);
  if (r != want)
    fail_msg ("%s: %d, expected %d (%s)", json, r, want, err.msg);
  if (needle && strstr (err.msg, needle) == NULL)
    fail_msg ("%s: error \"%s\" lacks \"%s\"", json, err.msg, needle);
  if (r != 0)
    assert_string_equal (c.name, "");
}

static void
test_created_errors (void **state)
{
  char *big;
  (void) state;
  expect_created ("{\"type\":\"io.nats.jetstream.api.v1.consumer_create_response\",\"error\":{"
                  "\"code\":404,\"err_code\":10059,\"description\":\"stream not found\"}}",
                  1, "nats: stream not found");
  expect_created ("{\"error\":{\"code\":500,\"err_code\":10012,\"description\":\"insufficient "
                  "resources\"}}",
                  -1, "nats: insufficient resources");
  expect_created ("{\"error\":\"boom\"}", -1, "JetStream API error");
  expect_created ("", -1, "invalid consumer create reply");
  expect_created ("[]", -1, "invalid consumer create reply");
  expect_created ("{\"name\":\"c\"}", -1, "bad num_pending");
  expect_created ("{\"name\":\"c\",\"num_pending\":-1}", -1, "bad num_pending");
  expect_created ("{\"name\":\"c\",\"num_pending\":\"2\"}", -1, "bad num_pending");
  expect_created ("{\"num_pending\":1}", -1, "bad name");
  expect_created ("{\"name\":\"a.b\",\"num_pending\":1}", -1, "bad name");
  expect_created ("{\"name\":\"\",\"num_pending\":1}", -1, "bad name");
  expect_created ("{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
                  "\"num_pending\":1}",
                  -1, "bad name"); /* 65 bytes */
  expect_created ("{\"name\":\"c\",\"num_pending\":0}", 0, NULL);
  big = malloc (70 * 1024);
  memset (big, ' ', 70 * 1024 - 1);
  big[0] = '{';
  big[70 * 1024 - 2] = '}';
  big[70 * 1024 - 1] = '\0';
  expect_created (big, -1, "larger than");
  free (big);
}

/* ---- ack subjects ---- */

static void
test_ack_v1 (void **state)
{
  struct objstore_ack a;
  struct nxerr err = { 0 };
  (void) state;
  assert_int_equal (objstore_ack_parse ("$JS.ACK.OBJ_b.m2nhx9PI.1.3.2.1796585139324495560.0", &a,
                                        &err),
                    0);
  assert_string_equal (a.stream, "OBJ_b");
  assert_string_equal (a.consumer, "m2nhx9PI");
  assert_int_equal (a.delivered, 1);
  assert_int_equal (a.sseq, 3);
  assert_int_equal (a.cseq, 2);
  assert_int_equal (a.pending, 0);
}

static void
test_ack_v2 (void **state)
{
  struct objstore_ack a;
  struct nxerr err = { 0 };
  (void) state;
  assert_int_equal (
      objstore_ack_parse ("$JS.ACK.hub.ACCHASH.OBJ_b.cons.2.18446744073709551615.7.99.5.tok", &a,
                          &err),
      0);
  assert_string_equal (a.stream, "OBJ_b");
  assert_string_equal (a.consumer, "cons");
  assert_int_equal (a.delivered, 2);
  assert_true (a.sseq == UINT64_MAX);
  assert_int_equal (a.cseq, 7);
  assert_int_equal (a.pending, 5);
  assert_int_equal (objstore_ack_parse ("$JS.ACK._.ACCHASH.OBJ_b.cons.2.3.7.99.5", &a, &err), 0);
  assert_int_equal (a.pending, 5);
}

static void
expect_bad_ack (const char *s)
{
  struct objstore_ack a, zero;
  struct nxerr err = { 0 };
  memset (&zero, 0, sizeof zero);
  if (objstore_ack_parse (s, &a, &err) == 0)
    fail_msg ("accepted: %s", s ? s : "(null)");
  assert_memory_equal (&a, &zero, sizeof a);
}

static void
test_ack_hostile (void **state)
{
  char big[1200];
  (void) state;
  expect_bad_ack (NULL);
  expect_bad_ack ("");
  expect_bad_ack ("$JS.ACK");
  expect_bad_ack ("$JS.NAK.OBJ_b.c.1.3.2.1.0");
  expect_bad_ack ("$JS.ACK.OBJ_b.c.1.3.2.1");          /* 8 tokens */
  expect_bad_ack ("$JS.ACK.OBJ_b.c.1.3.2.1.0.x");      /* 10 */
  expect_bad_ack ("$JS.ACK.d.h.OBJ_b.c.1.3.2.1.0.x.y"); /* 13 */
  expect_bad_ack ("$JS.ACK.OBJ_b.c.1.3.x.1.0");
  expect_bad_ack ("$JS.ACK.OBJ_b.c.1.3.-2.1.0");
  expect_bad_ack ("$JS.ACK.OBJ_b.c.1.3.+2.1.0");
  expect_bad_ack ("$JS.ACK.OBJ_b.c.1.18446744073709551616.2.1.0"); /* 2^64 */
  expect_bad_ack ("$JS.ACK.OBJ_b.c.1.3..1.0");
  expect_bad_ack ("$JS.ACK.OBJ_b..1.3.2.1.0");
  expect_bad_ack ("$JS.ACK.KV_b.c.1.3.2.1.0");  /* not an object store's stream */
  expect_bad_ack ("$JS.ACK.OBJ_.c.1.3.2.1.0");
  expect_bad_ack ("$JS.ACK.OBJ_b*.c.1.3.2.1.0");
  memset (big, '1', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  memcpy (big, "$JS.ACK.OBJ_b.c.1.", 18);
  expect_bad_ack (big);
}

/* ---- metadata ---- */

static void
test_meta_token (void **state)
{
  char longer[1500];
  (void) state;
  assert_string_equal (objstore_meta_token ("$O.b.M.YQ==", "OBJ_b"), "YQ==");
  assert_string_equal (objstore_meta_token ("$O.NEXCLIFILES.M.dGljay1h", "OBJ_NEXCLIFILES"),
                       "dGljay1h");
  assert_string_equal (objstore_meta_token ("$O.b.M.a-_9", "OBJ_b"), "a-_9");
  assert_null (objstore_meta_token ("$O.bb.M.YQ==", "OBJ_b"));
  assert_null (objstore_meta_token ("$O.b.M.YQ==", "OBJ_bb"));
  assert_null (objstore_meta_token ("$O.b.C.YQ==", "OBJ_b"));
  assert_null (objstore_meta_token ("$O.b.M.", "OBJ_b"));
  assert_null (objstore_meta_token ("$O.b.M.YQ=", "OBJ_b"));   /* not a multiple of 4 */
  assert_null (objstore_meta_token ("$O.b.M.Y=QQ", "OBJ_b"));  /* padding inside */
  assert_null (objstore_meta_token ("$O.b.M.YQ+/", "OBJ_b"));  /* standard alphabet */
  assert_null (objstore_meta_token ("$O.b.M.YQ.=", "OBJ_b"));
  assert_null (objstore_meta_token ("$O.b.M.YQ==", "b"));
  assert_null (objstore_meta_token (NULL, "OBJ_b"));
  assert_null (objstore_meta_token ("x", NULL));
  memset (longer, 'A', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  memcpy (longer, "$O.b.M.", 7);
  longer[7 + 1372] = '\0'; /* longer than any valid name's token (1368) */
  assert_null (objstore_meta_token (longer, "OBJ_b"));
  longer[7 + 1368] = '\0';
  assert_non_null (objstore_meta_token (longer, "OBJ_b"));
}

static enum objstore_meta_state
judge (const char *json, struct objstore_meta *m)
{
  objstore_meta_judge (json, strlen (json), m);
  return m->state;
}

static void
test_meta_judge (void **state)
{
  struct objstore_meta m;
  char hex[65];
  (void) state;
  assert_int_equal (judge (GO_META, &m), OBJSTORE_META_PRESENT);
  assert_int_equal (m.size, 5);
  hex_of (m.sha256, hex);
  assert_string_equal (hex, HELLO_SHA);
  /* nats.go's deletion marker. */
  assert_int_equal (judge ("{\"name\":\"x\",\"bucket\":\"b\",\"nuid\":\"n\",\"size\":0,"
                           "\"chunks\":0,\"digest\":\"\",\"deleted\":true}",
                           &m),
                    OBJSTORE_META_DELETED);
  /* What only the read path may judge. */
  assert_int_equal (judge ("{\"name\":\"x\",\"bucket\":\"b\",\"nuid\":\"n\",\"size\":5,"
                           "\"chunks\":1,\"options\":{\"link\":{\"bucket\":\"c\",\"name\":\"y\"}},"
                           "\"digest\":\"SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=\"}",
                           &m),
                    OBJSTORE_META_OPAQUE);
  assert_int_equal (judge ("{\"name\":\"x\",\"bucket\":\"b\",\"nuid\":\"n\",\"size\":5,"
                           "\"chunks\":1}",
                           &m),
                    OBJSTORE_META_OPAQUE); /* no digest */
  assert_int_equal (judge ("{\"name\":\"x\",\"bucket\":\"b\",\"nuid\":\"n\",\"size\":5,"
                           "\"chunks\":1,\"digest\":\"SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ\"}",
                           &m),
                    OBJSTORE_META_OPAQUE); /* unpadded */
  assert_int_equal (judge ("{\"name\":\"x\",\"bucket\":\"b\",\"nuid\":\"n\",\"size\":5,"
                           "\"chunks\":1,\"digest\":\"SHA-512=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=\"}",
                           &m),
                    OBJSTORE_META_OPAQUE);
  assert_int_equal (judge ("{\"name\":\"x\",\"bucket\":\"b\",\"nuid\":\"\",\"size\":5,"
                           "\"chunks\":1,\"digest\":\"SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=\"}",
                           &m),
                    OBJSTORE_META_OPAQUE); /* no nuid */
  assert_int_equal (judge ("{\"name\":\"x\",\"bucket\":\"b\",\"nuid\":\"n\",\"size\":-5,"
                           "\"chunks\":1,\"digest\":\"SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=\"}",
                           &m),
                    OBJSTORE_META_OPAQUE);
  assert_int_equal (judge ("{\"name\":\"x\",\"bucket\":\"b\",\"nuid\":\"n\",\"size\":0,"
                           "\"chunks\":0,\"deleted\":\"yes\"}",
                           &m),
                    OBJSTORE_META_OPAQUE); /* deleted must be a boolean */
  assert_int_equal (judge ("not json", &m), OBJSTORE_META_OPAQUE);
  assert_int_equal (judge ("", &m), OBJSTORE_META_OPAQUE);
  assert_int_equal (judge ("[1]", &m), OBJSTORE_META_OPAQUE);
  for (int i = 0; i < 32; i++)
    assert_int_equal (m.sha256[i], 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_create_request),
    cmocka_unit_test (test_pull_and_delete_requests),
    cmocka_unit_test (test_request_names_checked),
    cmocka_unit_test (test_created),
    cmocka_unit_test (test_created_errors),
    cmocka_unit_test (test_ack_v1),
    cmocka_unit_test (test_ack_v2),
    cmocka_unit_test (test_ack_hostile),
    cmocka_unit_test (test_meta_token),
    cmocka_unit_test (test_meta_judge),
  };
  return cmocka_run_group_tests_name ("objstore_watch", tests, NULL, NULL);
}
