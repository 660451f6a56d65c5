/* Live tests of api/objstore against a real nats-server -js: round trips,
 * overwrite, the error texts a node replies with, corrupt and hostile
 * metadata published by hand, limits, odd names, and a server restart. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "api/objstore.h"
#include "harness.h"

struct fixture {
  struct harness h;
  natsConnection *nc;
};

static int
setup (void **state)
{
  struct fixture *f = calloc (1, sizeof *f);
  assert_non_null (f);
  harness_start_nats (&f->h);
  f->nc = harness_connect (&f->h);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  natsConnection_Destroy (f->nc);
  harness_stop_all (&f->h);
  free (f);
  nats_Close ();
  return 0;
}

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int
collect (const void *data, size_t len, void *ud, struct nxerr *err)
{
  (void) err;
  buf_append (ud, data, len);
  return 0;
}

static int
count_only (const void *data, size_t len, void *ud, struct nxerr *err)
{
  (void) data;
  (void) err;
  *(uint64_t *) ud += len;
  return 0;
}

static void
sha_hex (const void *data, size_t len, char out[OBJSTORE_HEX_LEN])
{
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest (data, len, md, &n, EVP_sha256 (), NULL);
  for (int i = 0; i < 32; i++)
    snprintf (out + 2 * i, 3, "%02x", md[i]);
}

static void
fill_random (unsigned char *p, size_t n, uint32_t seed)
{
  uint32_t x = seed ? seed : 1;
  for (size_t i = 0; i < n; i++)
    {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      p[i] = (unsigned char) x;
    }
}

/* Put data, read it back whole, compare bytes and hex digest. */
static void
round_trip (natsConnection *nc, const char *bucket, const char *name, const void *data,
            size_t len, const struct objstore_opts *opts)
{
  struct objstore_info put = { 0 }, info = { 0 };
  struct buf got = BUF_INIT;
  struct nxerr err;
  char hex[OBJSTORE_HEX_LEN], want_hex[OBJSTORE_HEX_LEN];

  if (objstore_put (nc, bucket, name, data, len, opts, NULL, NULL, &put, &err) < 0)
    fail_msg ("put %s/%s: %s", bucket, name, err.msg);
  assert_int_equal (put.size, len);
  if (objstore_get_info (nc, bucket, name, opts, &info, &err) < 0)
    fail_msg ("get_info %s/%s: %s", bucket, name, err.msg);
  assert_string_equal (info.name, name);
  assert_string_equal (info.bucket, bucket);
  assert_string_equal (info.nuid, put.nuid);
  assert_string_equal (info.digest, put.digest);
  assert_int_equal (info.size, len);
  assert_int_equal (info.chunks, put.chunks);
  if (objstore_read (nc, &info, opts, collect, &got, hex, &err) < 0)
    fail_msg ("read %s/%s: %s", bucket, name, err.msg);
  assert_int_equal (got.len, len);
  if (len)
    assert_memory_equal (got.data, data, len);
  sha_hex (data, len, want_hex);
  assert_string_equal (hex, want_hex);
  buf_free (&got);
  objstore_info_free (&put);
  objstore_info_free (&info);
}

/* Publish metadata JSON by hand (what a broken or hostile writer could do). */
static void
publish_meta (natsConnection *nc, const char *bucket, const char *name, const char *json)
{
  struct buf subj = BUF_INIT;
  natsMsg *m = NULL, *reply = NULL;
  natsStatus s;
  buf_printf (&subj, "$O.%s.M.", bucket);
  objstore_name_token (name, &subj);
  s = natsMsg_Create (&m, subj.data, NULL, json, (int) strlen (json));
  assert_int_equal (s, NATS_OK);
  assert_int_equal (natsMsgHeader_Set (m, "Nats-Rollup", "sub"), NATS_OK);
  s = natsConnection_RequestMsg (&reply, nc, m, 2000);
  if (s != NATS_OK)
    fail_msg ("publish meta: %s", natsStatus_GetText (s));
  if (strstr (natsMsg_GetData (reply), "\"error\"") != NULL)
    fail_msg ("publish meta: %s", natsMsg_GetData (reply));
  natsMsg_Destroy (reply);
  natsMsg_Destroy (m);
  buf_free (&subj);
}

static void
expect_info_error (natsConnection *nc, const char *bucket, const char *name,
                   const struct objstore_opts *opts, const char *msg)
{
  struct objstore_info info;
  struct nxerr err;
  nxerr_clear (&err);
  if (objstore_get_info (nc, bucket, name, opts, &info, &err) == 0)
    {
      objstore_info_free (&info);
      fail_msg ("get_info %s/%s succeeded, wanted \"%s\"", bucket, name, msg);
    }
  if (strcmp (err.msg, msg) != 0)
    fail_msg ("get_info %s/%s: \"%s\", wanted \"%s\"", bucket, name, err.msg, msg);
}

/* ---- tests ------------------------------------------------------------ */

static void
test_small_and_empty (void **state)
{
  struct fixture *f = *state;
  struct objstore_info info;
  struct nxerr err;
  char hex[OBJSTORE_HEX_LEN];
  uint64_t n = 0;
  round_trip (f->nc, "small", "hello", "hello", 5, NULL);
  assert_int_equal (objstore_get_info (f->nc, "small", "hello", NULL, &info, &err), 0);
  assert_string_equal (info.digest, "SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=");
  assert_int_equal (info.chunks, 1);
  assert_int_equal (objstore_read (f->nc, &info, NULL, NULL, NULL, hex, &err), 0);
  assert_string_equal (hex, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  objstore_info_free (&info);

  round_trip (f->nc, "small", "empty", "", 0, NULL);
  assert_int_equal (objstore_get_info (f->nc, "small", "empty", NULL, &info, &err), 0);
  assert_int_equal (info.chunks, 0);
  assert_int_equal (objstore_read (f->nc, &info, NULL, count_only, &n, hex, &err), 0);
  assert_int_equal (n, 0);
  objstore_info_free (&info);
}

/* A read right after get_info asks the server for the bucket once: the
 * second STREAM.INFO round trip was the cold deploy's overhead. A bare
 * objstore_info (parsed, not looked up) still binds the bucket itself. */
static void
test_read_binds_bucket_once (void **state)
{
  struct fixture *f = *state;
  natsConnection *spy = harness_connect (&f->h);
  natsSubscription *sub = NULL;
  struct objstore_info info, bare;
  struct nxerr err;
  char hex[OBJSTORE_HEX_LEN];
  int asked = 0;
  natsMsg *m = NULL;
  round_trip (f->nc, "once", "hello", "hello", 5, NULL);
  assert_int_equal (natsConnection_SubscribeSync (&sub, spy, "$JS.API.STREAM.INFO.OBJ_once"),
                    NATS_OK);
  assert_int_equal (natsConnection_Flush (spy), NATS_OK);
  assert_int_equal (objstore_get_info (f->nc, "once", "hello", NULL, &info, &err), 0);
  assert_true (info.bucket_bound);
  assert_int_equal (objstore_read (f->nc, &info, NULL, NULL, NULL, hex, &err), 0);
  memset (&bare, 0, sizeof bare);
  bare.bucket = info.bucket;
  bare.nuid = info.nuid;
  bare.digest = info.digest;
  bare.size = info.size;
  bare.chunks = info.chunks;
  assert_int_equal (objstore_read (f->nc, &bare, NULL, NULL, NULL, hex, &err), 0);
  assert_string_equal (hex, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  assert_int_equal (natsConnection_Flush (f->nc), NATS_OK);
  assert_int_equal (natsConnection_Flush (spy), NATS_OK);
  while (natsSubscription_NextMsg (&m, sub, 200) == NATS_OK)
    {
      asked++;
      natsMsg_Destroy (m);
    }
  assert_int_equal (asked, 2); /* get_info's, and the bare info's read */
  objstore_info_free (&info);
  natsSubscription_Destroy (sub);
  natsConnection_Destroy (spy);
}

struct progress {
  uint64_t last, total, calls;
  int bad;
};

static void
on_progress (uint64_t sent, uint64_t total, void *ud)
{
  struct progress *p = ud;
  if (sent < p->last || sent > total)
    p->bad = 1;
  p->last = sent;
  p->total = total;
  p->calls++;
}

static void
test_multi_chunk (void **state)
{
  struct fixture *f = *state;
  const size_t len = 1024 * 1024 + 123;
  unsigned char *data = malloc (len);
  struct objstore_opts o = { .chunk_size = 128 * 1024 };
  struct objstore_info put;
  struct progress p = { 0 };
  struct nxerr err;
  fill_random (data, len, 7);
  round_trip (f->nc, "multi", "one-mb", data, len, &o);
  assert_int_equal (objstore_put (f->nc, "multi", "one-mb", data, len, &o, on_progress, &p, &put,
                                  &err),
                    0);
  assert_int_equal (put.chunks, 9);
  assert_int_equal (p.calls, 9);
  assert_int_equal (p.last, len);
  assert_int_equal (p.total, len);
  assert_false (p.bad);
  objstore_info_free (&put);
  /* a small chunk size gives many chunks */
  o.chunk_size = 1000;
  round_trip (f->nc, "multi", "small-chunks", data, 100 * 1000 + 1, &o);
  free (data);
}

/* A 20 MB object through a file, timed against moving the same bytes as
 * plain messages (the cost of JetStream + JSON + base64 on the read path). */
static void
test_file_20mb_timed (void **state)
{
  struct fixture *f = *state;
  const size_t len = 20 * 1024 * 1024;
  char path[] = "/tmp/nexc-it-objfile-XXXXXX";
  unsigned char *data = malloc (len);
  struct objstore_info info;
  struct nxerr err;
  char hex[OBJSTORE_HEX_LEN], want[OBJSTORE_HEX_LEN];
  uint64_t got = 0;
  double t0, t_put, t_read;
  int fd = mkstemp (path);
  assert_true (fd >= 0);
  fill_random (data, len, 20);
  assert_int_equal (write (fd, data, len), (ssize_t) len);
  lseek (fd, 0, SEEK_SET);
  unlink (path);
  sha_hex (data, len, want);

  t0 = now_s ();
  if (objstore_put_file (f->nc, "big", "twenty", fd, NULL, NULL, NULL, &info, &err) < 0)
    fail_msg ("put_file: %s", err.msg);
  t_put = now_s () - t0;
  close (fd);
  assert_int_equal (info.size, len);
  assert_int_equal (info.chunks, 160);
  objstore_info_free (&info);

  t0 = now_s ();
  assert_int_equal (objstore_get_info (f->nc, "big", "twenty", NULL, &info, &err), 0);
  if (objstore_read (f->nc, &info, NULL, count_only, &got, hex, &err) < 0)
    fail_msg ("read: %s", err.msg);
  t_read = now_s () - t0;
  assert_int_equal (got, len);
  assert_string_equal (hex, want);
  objstore_info_free (&info);

  {
    /* the same bytes as plain messages: a fairer "raw" figure */
    natsSubscription *sub = NULL;
    natsConnection *rx = harness_connect (&f->h);
    double t_plain;
    assert_int_equal (natsConnection_SubscribeSync (&sub, rx, "raw.bytes"), NATS_OK);
    assert_int_equal (natsConnection_Flush (rx), NATS_OK);
    t0 = now_s ();
    for (size_t off = 0; off < len; off += 128 * 1024)
      {
        natsMsg *m = NULL;
        assert_int_equal (natsConnection_Publish (f->nc, "raw.bytes", data + off, 128 * 1024),
                          NATS_OK);
        assert_int_equal (natsSubscription_NextMsg (&m, sub, 2000), NATS_OK);
        natsMsg_Destroy (m);
      }
    t_plain = now_s () - t0;
    natsSubscription_Destroy (sub);
    natsConnection_Destroy (rx);
    fprintf (stderr,
             "objstore 20 MiB: put_file %.1f ms, get_info+read %.1f ms (%.0f MB/s); raw: the "
             "same bytes as 160 plain 128 KiB messages, publish+receive one by one %.1f ms\n",
             t_put * 1e3, t_read * 1e3, (double) len / 1e6 / t_read, t_plain * 1e3);
  }
  free (data);
}

/* A bucket whose stream does not allow direct gets (older clients created
 * them so): reads fall back to STREAM.MSG.GET. */
static void
test_without_direct_get (void **state)
{
  struct fixture *f = *state;
  static const char cfg[] = "{\"name\":\"OBJ_nodirect\",\"subjects\":[\"$O.nodirect.C.>\","
                            "\"$O.nodirect.M.>\"],\"storage\":\"file\",\"discard\":\"new\","
                            "\"allow_rollup_hdrs\":true}";
  const size_t len = 4 * 1024 * 1024 + 5;
  unsigned char *data = malloc (len);
  char *reply;
  double t0;
  reply = harness_request (f->nc, "$JS.API.STREAM.CREATE.OBJ_nodirect", cfg, sizeof cfg - 1, 2000);
  assert_non_null (reply);
  assert_null (strstr (reply, "\"error\""));
  assert_non_null (strstr (reply, "\"allow_direct\":false"));
  free (reply);
  fill_random (data, len, 3);
  t0 = now_s ();
  round_trip (f->nc, "nodirect", "four-mb", data, len, NULL);
  fprintf (stderr, "objstore 4 MiB put+read through STREAM.MSG.GET: %.1f ms\n",
           (now_s () - t0) * 1e3);
  free (data);
}

static void
test_overwrite (void **state)
{
  struct fixture *f = *state;
  struct objstore_info first, info;
  struct buf got = BUF_INIT;
  struct nxerr err;
  char *si;
  const char *msgs;
  round_trip (f->nc, "over", "obj", "version one", 11, NULL);
  assert_int_equal (objstore_get_info (f->nc, "over", "obj", NULL, &first, &err), 0);
  round_trip (f->nc, "over", "obj", "two", 3, NULL);
  assert_int_equal (objstore_get_info (f->nc, "over", "obj", NULL, &info, &err), 0);
  assert_string_not_equal (info.nuid, first.nuid);
  assert_int_equal (objstore_read (f->nc, &info, NULL, collect, &got, NULL, &err), 0);
  assert_int_equal (got.len, 3);
  assert_memory_equal (got.data, "two", 3);
  /* the old chunks were purged: the stream holds 1 chunk + 1 meta */
  si = harness_request (f->nc, "$JS.API.STREAM.INFO.OBJ_over", "", 0, 2000);
  assert_non_null (si);
  msgs = strstr (si, "\"messages\":");
  assert_non_null (msgs);
  assert_int_equal (atoi (msgs + 11), 2);
  /* and reading the old version now fails cleanly */
  assert_int_equal (objstore_read (f->nc, &first, NULL, NULL, NULL, NULL, &err), -1);
  assert_non_null (strstr (err.msg, "corrupt object"));
  free (si);
  buf_free (&got);
  objstore_info_free (&first);
  objstore_info_free (&info);
}

static void
test_not_found_errors (void **state)
{
  struct fixture *f = *state;
  struct objstore_opts dom = { .jsdomain = "elsewhere", .timeout_ms = 500 };
  round_trip (f->nc, "exists", "a", "a", 1, NULL);
  expect_info_error (f->nc, "exists", "missing", NULL, "nats: object not found");
  expect_info_error (f->nc, "nobucket", "a", NULL, "nats: stream not found");
  expect_info_error (f->nc, "bad.bucket", "a", NULL, "nats: invalid object-store name");
  expect_info_error (f->nc, "bad bucket", "a", NULL, "nats: invalid object-store name");
  expect_info_error (f->nc, "exists", "", NULL, "nats: name is required");
  /* nobody serves $JS.elsewhere.API. */
  expect_info_error (f->nc, "exists", "a", &dom, "nats: no responders available for request");
}

static void
test_timeout (void **state)
{
  struct fixture *f = *state;
  struct objstore_opts dom = { .jsdomain = "slow", .timeout_ms = 200 };
  natsSubscription *sub = NULL;
  /* a responder that never answers */
  assert_int_equal (natsConnection_SubscribeSync (&sub, f->nc, "$JS.slow.API.>"), NATS_OK);
  expect_info_error (f->nc, "exists", "a", &dom, "nats: timeout");
  natsSubscription_Destroy (sub);
}

static void
test_corrupt_meta (void **state)
{
  struct fixture *f = *state;
  struct objstore_info put, info;
  struct nxerr err;
  struct buf json = BUF_INIT;
  uint64_t n = 0;

  assert_int_equal (objstore_put (f->nc, "corrupt", "x", "hello", 5, NULL, NULL, NULL, &put, &err),
                    0);
  /* digest of "world" over the chunks of "hello" */
  buf_printf (&json,
              "{\"name\":\"x\",\"bucket\":\"corrupt\",\"nuid\":\"%s\",\"size\":5,"
              "\"mtime\":\"2024-01-01T00:00:00Z\",\"chunks\":1,"
              "\"digest\":\"SHA-256=SG6kYiTRu0-2gPNPfJrZao8k7Ii-c-qOWmxlJg6cuKc=\"}",
              put.nuid);
  publish_meta (f->nc, "corrupt", "x", json.data);
  assert_int_equal (objstore_get_info (f->nc, "corrupt", "x", NULL, &info, &err), 0);
  assert_int_equal (objstore_read (f->nc, &info, NULL, count_only, &n, NULL, &err), -1);
  assert_string_equal (err.msg, "nats: received a corrupt object, digests do not match");
  objstore_info_free (&info);

  /* a size that does not match the chunks */
  buf_reset (&json);
  buf_printf (&json,
              "{\"name\":\"x\",\"bucket\":\"corrupt\",\"nuid\":\"%s\",\"size\":4,\"chunks\":1,"
              "\"digest\":\"%s\"}",
              put.nuid, put.digest);
  publish_meta (f->nc, "corrupt", "x", json.data);
  assert_int_equal (objstore_get_info (f->nc, "corrupt", "x", NULL, &info, &err), 0);
  assert_int_equal (objstore_read (f->nc, &info, NULL, NULL, NULL, NULL, &err), -1);
  assert_non_null (strstr (err.msg, "corrupt object"));
  objstore_info_free (&info);

  /* more chunks claimed than exist */
  buf_reset (&json);
  buf_printf (&json,
              "{\"name\":\"x\",\"bucket\":\"corrupt\",\"nuid\":\"%s\",\"size\":10,\"chunks\":2,"
              "\"digest\":\"%s\"}",
              put.nuid, put.digest);
  publish_meta (f->nc, "corrupt", "x", json.data);
  assert_int_equal (objstore_get_info (f->nc, "corrupt", "x", NULL, &info, &err), 0);
  assert_int_equal (objstore_read (f->nc, &info, NULL, NULL, NULL, NULL, &err), -1);
  assert_non_null (strstr (err.msg, "chunk 2 of 2 missing"));
  objstore_info_free (&info);

  /* a nuid that tries to widen the chunk subject is refused by the parser */
  publish_meta (f->nc, "corrupt", "x",
                "{\"name\":\"x\",\"bucket\":\"corrupt\",\"nuid\":\">\",\"size\":5,\"chunks\":1}");
  expect_info_error (f->nc, "corrupt", "x", NULL,
                     "nats: object-store meta information invalid: field nuid: not a subject token");
  /* empty nuid, not JSON, deleted */
  publish_meta (f->nc, "corrupt", "x",
                "{\"name\":\"x\",\"bucket\":\"corrupt\",\"nuid\":\"\",\"size\":5,\"chunks\":1}");
  expect_info_error (f->nc, "corrupt", "x", NULL, "nats: object-store meta information invalid");
  publish_meta (f->nc, "corrupt", "x", "garbage");
  assert_int_equal (objstore_get_info (f->nc, "corrupt", "x", NULL, &info, &err), -1);
  assert_non_null (strstr (err.msg, "nats: object-store meta information invalid: not JSON"));
  buf_reset (&json);
  buf_printf (&json,
              "{\"name\":\"x\",\"bucket\":\"corrupt\",\"nuid\":\"%s\",\"size\":0,\"chunks\":0,"
              "\"deleted\":true}",
              put.nuid);
  publish_meta (f->nc, "corrupt", "x", json.data);
  expect_info_error (f->nc, "corrupt", "x", NULL, "nats: object not found");

  buf_free (&json);
  objstore_info_free (&put);
}

static void
test_links (void **state)
{
  struct fixture *f = *state;
  struct objstore_info info;
  struct buf got = BUF_INIT;
  struct nxerr err;
  round_trip (f->nc, "target", "real", "linked bytes", 12, NULL);
  round_trip (f->nc, "links", "placeholder", "p", 1, NULL); /* creates the bucket */
  publish_meta (f->nc, "links", "ln",
                "{\"name\":\"ln\",\"options\":{\"link\":{\"bucket\":\"target\",\"name\":\"real\"}},"
                "\"bucket\":\"links\",\"nuid\":\"abc\",\"size\":0,\"mtime\":\"2024-01-01T00:00:00Z\","
                "\"chunks\":0}");
  assert_int_equal (objstore_get_info (f->nc, "links", "ln", NULL, &info, &err), 0);
  assert_string_equal (info.bucket, "target");
  assert_string_equal (info.name, "real");
  assert_int_equal (objstore_read (f->nc, &info, NULL, collect, &got, NULL, &err), 0);
  assert_int_equal (got.len, 12);
  assert_memory_equal (got.data, "linked bytes", 12);
  objstore_info_free (&info);
  buf_free (&got);

  /* a link to a link (here: to itself) is not followed */
  publish_meta (f->nc, "links", "loop",
                "{\"name\":\"loop\",\"options\":{\"link\":{\"bucket\":\"links\",\"name\":\"loop\"}},"
                "\"bucket\":\"links\",\"nuid\":\"abc\",\"size\":0,\"chunks\":0}");
  expect_info_error (f->nc, "links", "loop", NULL, "nats: object is a link to a link");
  publish_meta (f->nc, "links", "whole",
                "{\"name\":\"whole\",\"options\":{\"link\":{\"bucket\":\"target\"}},"
                "\"bucket\":\"links\",\"nuid\":\"abc\",\"size\":0,\"chunks\":0}");
  expect_info_error (f->nc, "links", "whole", NULL, "nats: link is a bucket");
  publish_meta (f->nc, "links", "dangling",
                "{\"name\":\"dangling\",\"options\":{\"link\":{\"bucket\":\"nope\",\"name\":\"x\"}},"
                "\"bucket\":\"links\",\"nuid\":\"abc\",\"size\":0,\"chunks\":0}");
  expect_info_error (f->nc, "links", "dangling", NULL, "nats: stream not found");
}

static void
test_max_size (void **state)
{
  struct fixture *f = *state;
  const size_t len = 1024 * 1024;
  unsigned char *data = calloc (1, len);
  struct objstore_opts o = { .max_size = 1000 };
  struct objstore_info info;
  struct nxerr err;
  uint64_t n = 0;
  assert_int_equal (objstore_put (f->nc, "limits", "big", data, len, NULL, NULL, NULL, NULL, &err),
                    0);
  assert_int_equal (objstore_get_info (f->nc, "limits", "big", &o, &info, &err), 0);
  assert_int_equal (objstore_read (f->nc, &info, &o, count_only, &n, NULL, &err), -1);
  assert_int_equal (err.code, EFBIG);
  assert_int_equal (n, 0); /* refused before any chunk */
  o.max_size = len;
  assert_int_equal (objstore_read (f->nc, &info, &o, count_only, &n, NULL, &err), 0);
  assert_int_equal (n, len);
  objstore_info_free (&info);
  free (data);
}

static void
test_odd_names (void **state)
{
  struct fixture *f = *state;
  static const char *names[] = { "../x", "a/b/c", "\xc3\xa9t\xc3\xa9 \xe2\x98\x83", "a.b*>",
                                 " spaces ", "echoservice", "<&>\"'\\", "x" };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    {
      char content[64];
      snprintf (content, sizeof content, "content of %zu", i);
      round_trip (f->nc, "names", names[i], content, strlen (content), NULL);
    }
  /* distinct names do not collide */
  {
    struct objstore_info info;
    struct buf got = BUF_INIT;
    struct nxerr err;
    assert_int_equal (objstore_get_info (f->nc, "names", "../x", NULL, &info, &err), 0);
    assert_int_equal (objstore_read (f->nc, &info, NULL, collect, &got, NULL, &err), 0);
    assert_string_equal (got.data, "content of 0");
    objstore_info_free (&info);
    buf_free (&got);
  }
}

static int
stop_at_first (const void *data, size_t len, void *ud, struct nxerr *err)
{
  (void) data;
  (void) len;
  (void) ud;
  return nxerr_set (err, ECANCELED, "enough");
}

static void
test_callback_stops_read (void **state)
{
  struct fixture *f = *state;
  unsigned char data[3000];
  struct objstore_opts o = { .chunk_size = 1000 };
  struct objstore_info info;
  struct nxerr err;
  memset (data, 'z', sizeof data);
  assert_int_equal (objstore_put (f->nc, "cb", "z", data, sizeof data, &o, NULL, NULL, NULL, &err),
                    0);
  assert_int_equal (objstore_get_info (f->nc, "cb", "z", NULL, &info, &err), 0);
  assert_int_equal (objstore_read (f->nc, &info, NULL, stop_at_first, NULL, NULL, &err), -1);
  assert_string_equal (err.msg, "enough");
  objstore_info_free (&info);
}

/* Objects survive a server restart; the client reconnects. */
static void
test_restart (void **state)
{
  struct fixture *f = *state;
  struct objstore_info info;
  struct nxerr err;
  char *varz;
  int ok = 0;
  round_trip (f->nc, "durable", "d", "persisted", 9, NULL);
  assert_int_equal (harness_count_procs (f->h.store_dir), 1);
  varz = harness_http_get (&f->h, "/varz");
  assert_non_null (varz);
  assert_non_null (strstr (varz, "\"server_id\""));
  free (varz);
  harness_restart_nats (&f->h);
  for (int i = 0; i < 50 && !ok; i++)
    {
      ok = objstore_get_info (f->nc, "durable", "d", NULL, &info, &err) == 0;
      if (!ok)
        usleep (100 * 1000);
    }
  if (!ok)
    fail_msg ("after restart: %s", err.msg);
  assert_int_equal (objstore_read (f->nc, &info, NULL, NULL, NULL, NULL, &err), 0);
  objstore_info_free (&info);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_small_and_empty),
    cmocka_unit_test (test_read_binds_bucket_once),
    cmocka_unit_test (test_multi_chunk),
    cmocka_unit_test (test_file_20mb_timed),
    cmocka_unit_test (test_without_direct_get),
    cmocka_unit_test (test_overwrite),
    cmocka_unit_test (test_not_found_errors),
    cmocka_unit_test (test_timeout),
    cmocka_unit_test (test_corrupt_meta),
    cmocka_unit_test (test_links),
    cmocka_unit_test (test_max_size),
    cmocka_unit_test (test_odd_names),
    cmocka_unit_test (test_callback_stops_read),
    cmocka_unit_test (test_restart),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
