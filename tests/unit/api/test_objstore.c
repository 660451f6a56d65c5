/* Unit tests of api/objstore: metadata parsing, names, digests, and the
 * checks made before any request (no server here; see
 * tests/integration/test_objstore.c for the live ones). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/objstore.h"

/* What nats.go 1.31 writes for a put of "hello" (field order included). */
#define GO_META                                                                                    \
  "{\"name\":\"echoservice\",\"description\":\"an echo\",\"options\":{\"max_chunk_size\":131072}," \
  "\"bucket\":\"NEXCLIFILES\",\"nuid\":\"8nwLEHwqkBNKqR3dWp6BrQ\",\"size\":5,"                   \
  "\"mtime\":\"2024-04-25T14:03:07.1234Z\",\"chunks\":1,"                                         \
  "\"digest\":\"SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=\"}"

static int
parse (const char *json, struct objstore_info *info, struct nxerr *err)
{
  nxerr_clear (err);
  return objstore_info_parse (json, strlen (json), info, err);
}

/* The parse must fail, leave info zeroed, and mention `needle`. */
static void
expect_bad (const char *json, const char *needle)
{
  struct objstore_info info, zero;
  struct nxerr err;
  memset (&zero, 0, sizeof zero);
  if (parse (json, &info, &err) == 0)
    {
      objstore_info_free (&info);
      fail_msg ("accepted: %s", json);
    }
  assert_memory_equal (&info, &zero, sizeof info);
  if (needle && strstr (err.msg, needle) == NULL)
    fail_msg ("error \"%s\" lacks \"%s\" for %s", err.msg, needle, json);
}

static void
test_parse_go_meta (void **state)
{
  struct objstore_info info;
  struct nxerr err;
  (void) state;
  assert_int_equal (parse (GO_META, &info, &err), 0);
  assert_string_equal (info.name, "echoservice");
  assert_string_equal (info.description, "an echo");
  assert_string_equal (info.bucket, "NEXCLIFILES");
  assert_string_equal (info.nuid, "8nwLEHwqkBNKqR3dWp6BrQ");
  assert_int_equal (info.size, 5);
  assert_int_equal (info.chunks, 1);
  assert_int_equal (info.max_chunk_size, 131072);
  assert_string_equal (info.mtime, "2024-04-25T14:03:07.1234Z");
  assert_string_equal (info.digest, "SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=");
  assert_false (info.deleted);
  assert_null (info.link_bucket);
  assert_null (info.link_name);
  objstore_info_free (&info);
  assert_null (info.name);
  objstore_info_free (&info); /* twice is fine */
  objstore_info_free (NULL);
}

/* What nats.js 2.29 writes: the same fields in another order, plus
 * "deleted":false, an empty description and "revision". */
static void
test_parse_js_meta (void **state)
{
  struct objstore_info info;
  struct nxerr err;
  (void) state;
  assert_int_equal (
      parse ("{\"bucket\":\"jsb\",\"nuid\":\"FHH3GS3Z4OTYWK4565YN4N\",\"size\":1000000,"
             "\"chunks\":8,\"name\":\"../x\",\"description\":\"\",\"options\":{"
             "\"max_chunk_size\":131072},\"mtime\":\"2026-11-22T01:53:11.573Z\",\"digest\":"
             "\"SHA-256=mSZDtUOTkNOQoUVHxYSCEeNEGR_I043CllElA2K-whE=\",\"deleted\":false,"
             "\"revision\":9}",
             &info, &err),
      0);
  assert_string_equal (info.name, "../x");
  assert_string_equal (info.description, "");
  assert_int_equal (info.size, 1000000);
  assert_int_equal (info.chunks, 8);
  assert_false (info.deleted);
  objstore_info_free (&info);
  /* nats.js writes links without nuid/size/chunks; nats.go refuses to read
   * them (empty NUID: ErrBadObjectMeta) and so do we. */
  expect_bad ("{\"name\":\"lnk\",\"bucket\":\"cb\",\"options\":{\"link\":{\"bucket\":\"cb\","
              "\"name\":\"small\"}},\"revision\":25}",
              "nuid");
}

static void
test_parse_minimal_and_nulls (void **state)
{
  struct objstore_info info;
  struct nxerr err;
  (void) state;
  assert_int_equal (parse ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"\",\"size\":0,\"chunks\":0}",
                           &info, &err),
                    0);
  assert_string_equal (info.nuid, "");
  assert_null (info.digest);
  assert_null (info.mtime);
  assert_null (info.description);
  objstore_info_free (&info);
  /* null optional fields are absent (Go semantics); unknown keys ignored. */
  assert_int_equal (parse ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,\"chunks\":1,"
                           "\"digest\":null,\"description\":null,\"mtime\":null,\"deleted\":null,"
                           "\"options\":null,\"headers\":null,\"metadata\":null,\"extra\":[1,{}]}",
                           &info, &err),
                    0);
  assert_null (info.digest);
  assert_false (info.deleted);
  objstore_info_free (&info);
  /* headers as nats.go writes them (map of arrays) */
  assert_int_equal (parse ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,\"chunks\":1,"
                           "\"headers\":{\"A\":[\"1\"]},\"metadata\":{\"k\":\"v\"}}",
                           &info, &err),
                    0);
  objstore_info_free (&info);
}

static void
test_parse_missing_fields (void **state)
{
  (void) state;
  expect_bad ("{\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,\"chunks\":1}", "name");
  expect_bad ("{\"name\":\"n\",\"nuid\":\"x\",\"size\":1,\"chunks\":1}", "bucket");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"size\":1,\"chunks\":1}", "nuid");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"chunks\":1}", "size");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1}", "chunks");
  /* required fields may not be null either */
  expect_bad ("{\"name\":null,\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,\"chunks\":1}", "name");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":null,\"chunks\":1}", "size");
}

#define BASE "\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,\"chunks\":1"

static void
test_parse_wrong_types (void **state)
{
  (void) state;
  expect_bad ("{\"name\":1,\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,\"chunks\":1}", "name");
  expect_bad ("{\"name\":\"n\",\"bucket\":true,\"nuid\":\"x\",\"size\":1,\"chunks\":1}", "bucket");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":[],\"size\":1,\"chunks\":1}", "nuid");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":\"1\",\"chunks\":1}", "size");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1.0,\"chunks\":1}", "size");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":-1,\"chunks\":1}", "size");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,\"chunks\":{}}", "chunks");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,\"chunks\":-3}", "chunks");
  expect_bad ("{" BASE ",\"digest\":5}", "digest");
  expect_bad ("{" BASE ",\"mtime\":false}", "mtime");
  expect_bad ("{" BASE ",\"description\":[]}", "description");
  expect_bad ("{" BASE ",\"deleted\":\"yes\"}", "deleted");
  expect_bad ("{" BASE ",\"deleted\":1}", "deleted");
  expect_bad ("{" BASE ",\"options\":[]}", "options");
  expect_bad ("{" BASE ",\"options\":{\"max_chunk_size\":\"big\"}}", "max_chunk_size");
  expect_bad ("{" BASE ",\"options\":{\"max_chunk_size\":-1}}", "max_chunk_size");
  expect_bad ("{" BASE ",\"options\":{\"link\":\"b/x\"}}", "link");
  expect_bad ("{" BASE ",\"options\":{\"link\":{\"name\":\"x\"}}}", "bucket");
  expect_bad ("{" BASE ",\"options\":{\"link\":{\"bucket\":7}}}", "bucket");
  expect_bad ("{" BASE ",\"options\":{\"link\":{\"bucket\":\"a.b\"}}}", "bucket");
  expect_bad ("{" BASE ",\"options\":{\"link\":{\"bucket\":\"b\",\"name\":1}}}", "name");
  expect_bad ("{" BASE ",\"headers\":\"x\"}", "headers");
  expect_bad ("{" BASE ",\"metadata\":[]}", "metadata");
}

static void
test_parse_semantic (void **state)
{
  (void) state;
  /* empty name, bad bucket, a nuid that would change the chunk subject */
  expect_bad ("{\"name\":\"\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,\"chunks\":1}", "name");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b.c\",\"nuid\":\"x\",\"size\":1,\"chunks\":1}", "bucket");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"\",\"nuid\":\"x\",\"size\":1,\"chunks\":1}", "bucket");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x.>\",\"size\":1,\"chunks\":1}", "nuid");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"*\",\"size\":1,\"chunks\":1}", "nuid");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"a b\",\"size\":1,\"chunks\":1}", "nuid");
}

static void
test_parse_deleted_and_link (void **state)
{
  struct objstore_info info;
  struct nxerr err;
  (void) state;
  assert_int_equal (parse ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":0,\"chunks\":0,"
                           "\"deleted\":true}",
                           &info, &err),
                    0);
  assert_true (info.deleted);
  objstore_info_free (&info);
  assert_int_equal (parse ("{\"name\":\"l\",\"options\":{\"link\":{\"bucket\":\"other\",\"name\":"
                           "\"target\"}},\"bucket\":\"b\",\"nuid\":\"y\",\"size\":0,\"chunks\":0}",
                           &info, &err),
                    0);
  assert_string_equal (info.link_bucket, "other");
  assert_string_equal (info.link_name, "target");
  objstore_info_free (&info);
  /* a link to a whole bucket has no name */
  assert_int_equal (parse ("{\"name\":\"l\",\"options\":{\"link\":{\"bucket\":\"other\"}},"
                           "\"bucket\":\"b\",\"nuid\":\"y\",\"size\":0,\"chunks\":0}",
                           &info, &err),
                    0);
  assert_string_equal (info.link_bucket, "other");
  assert_null (info.link_name);
  objstore_info_free (&info);
}

static char *
repeat (char c, size_t n)
{
  char *s = malloc (n + 1);
  assert_non_null (s);
  memset (s, c, n);
  s[n] = '\0';
  return s;
}

static void
test_parse_huge_values (void **state)
{
  struct objstore_info info;
  struct nxerr err;
  char *big, *json;
  size_t n;
  (void) state;
  assert_int_equal (parse ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\","
                           "\"size\":9223372036854775807,\"chunks\":4294967295}",
                           &info, &err),
                    0);
  assert_true (info.size == INT64_MAX);
  assert_true (info.chunks == UINT32_MAX);
  objstore_info_free (&info);
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":18446744073709551615,"
              "\"chunks\":1}",
              NULL);
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,\"chunks\":4294967296}",
              "chunks");
  expect_bad ("{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1e30,\"chunks\":1}", "size");

  /* names at and over the bound */
  big = repeat ('a', OBJSTORE_NAME_MAX);
  n = strlen (big) + 100;
  json = malloc (n);
  snprintf (json, n, "{\"name\":\"%s\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,\"chunks\":1}", big);
  assert_int_equal (parse (json, &info, &err), 0);
  objstore_info_free (&info);
  free (json);
  free (big);
  big = repeat ('a', OBJSTORE_NAME_MAX + 1);
  n = strlen (big) + 100;
  json = malloc (n);
  snprintf (json, n, "{\"name\":\"%s\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,\"chunks\":1}", big);
  expect_bad (json, "name");
  free (json);
  free (big);

  big = repeat ('d', OBJSTORE_DESCRIPTION_MAX + 1);
  n = strlen (big) + 100;
  json = malloc (n);
  snprintf (json, n, "{" BASE ",\"description\":\"%s\"}", big);
  expect_bad (json, "description");
  free (json);
  free (big);

  big = repeat ('n', OBJSTORE_NUID_MAX + 1);
  n = strlen (big) + 100;
  json = malloc (n);
  snprintf (json, n, "{\"name\":\"n\",\"bucket\":\"b\",\"nuid\":\"%s\",\"size\":1,\"chunks\":1}", big);
  expect_bad (json, "nuid");
  free (json);
  free (big);

  /* the whole document is bounded before it is parsed */
  big = repeat (' ', OBJSTORE_META_MAX);
  n = strlen (big) + 100;
  json = malloc (n);
  snprintf (json, n, "{" BASE "}%s", big);
  expect_bad (json, "larger");
  free (json);
  free (big);

  /* deep nesting inside an ignored field */
  big = malloc (200001);
  memset (big, '[', 100000);
  memset (big + 100000, ']', 100000);
  big[200000] = '\0';
  n = strlen (big) + 100;
  json = malloc (n);
  snprintf (json, n, "{" BASE ",\"extra\":%s}", big);
  expect_bad (json, NULL);
  free (json);
  free (big);
}

static void
test_parse_not_json (void **state)
{
  struct objstore_info info;
  struct nxerr err;
  static const char nul_name[] = "{\"name\":\"a\\u0000b\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,"
                                 "\"chunks\":1}";
  static const char raw_nul[] = "{\"name\":\"a\0b\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,"
                                "\"chunks\":1}";
  (void) state;
  expect_bad ("", "not JSON");
  expect_bad ("nope", "not JSON");
  expect_bad ("{", "not JSON");
  expect_bad ("{" BASE "}x", "not JSON");
  expect_bad ("[]", "object");
  expect_bad ("null", "not JSON");
  expect_bad ("\"str\"", NULL);
  expect_bad ("{\"name\":\"\xff\",\"bucket\":\"b\",\"nuid\":\"x\",\"size\":1,\"chunks\":1}", NULL);
  expect_bad (nul_name, NULL);
  nxerr_clear (&err);
  assert_int_equal (objstore_info_parse (raw_nul, sizeof raw_nul - 1, &info, &err), -1);
  /* a length that stops early */
  assert_int_equal (objstore_info_parse (GO_META, 10, &info, &err), -1);
  assert_int_equal (objstore_info_parse (NULL, 0, &info, &err), -1);
}

static void
test_name_token (void **state)
{
  struct buf b = BUF_INIT;
  (void) state;
  objstore_name_token ("echoservice", &b);
  assert_string_equal (b.data, "ZWNob3NlcnZpY2U=");
  buf_reset (&b);
  objstore_name_token ("../x", &b);
  assert_string_equal (b.data, "Li4veA==");
  buf_reset (&b);
  objstore_name_token ("\xc3\xa9t\xc3\xa9?>", &b); /* "été?>": needs the URL alphabet */
  assert_string_equal (b.data, "w6l0w6k_Pg==");
  buf_reset (&b);
  objstore_name_token ("a", &b);
  assert_string_equal (b.data, "YQ==");
  buf_free (&b);
}

static void
test_digest (void **state)
{
  char d[OBJSTORE_DIGEST_LEN];
  (void) state;
  objstore_digest ("hello", 5, d);
  assert_string_equal (d, "SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=");
  objstore_digest ("", 0, d);
  assert_string_equal (d, "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=");
}

static void
test_valid_bucket_and_name (void **state)
{
  char *s;
  (void) state;
  assert_true (objstore_valid_bucket ("NEXCLIFILES"));
  assert_true (objstore_valid_bucket ("a"));
  assert_true (objstore_valid_bucket ("A-b_9"));
  assert_false (objstore_valid_bucket (""));
  assert_false (objstore_valid_bucket (NULL));
  assert_false (objstore_valid_bucket ("a.b"));
  assert_false (objstore_valid_bucket ("a b"));
  assert_false (objstore_valid_bucket ("a*"));
  assert_false (objstore_valid_bucket (">"));
  assert_false (objstore_valid_bucket ("b/c"));
  assert_false (objstore_valid_bucket ("\xc3\xa9"));
  s = repeat ('b', OBJSTORE_BUCKET_MAX);
  assert_true (objstore_valid_bucket (s));
  free (s);
  s = repeat ('b', OBJSTORE_BUCKET_MAX + 1);
  assert_false (objstore_valid_bucket (s));
  free (s);

  assert_true (objstore_valid_name ("../x"));
  assert_true (objstore_valid_name ("a.b c*>"));
  assert_true (objstore_valid_name ("\xe2\x98\x83"));
  assert_false (objstore_valid_name (""));
  assert_false (objstore_valid_name (NULL));
  s = repeat ('n', OBJSTORE_NAME_MAX);
  assert_true (objstore_valid_name (s));
  free (s);
  s = repeat ('n', OBJSTORE_NAME_MAX + 1);
  assert_false (objstore_valid_name (s));
  free (s);
}

/* These fail before touching the connection, so a NULL one is fine. */
static void
test_checks_before_requests (void **state)
{
  struct objstore_info info;
  struct objstore_opts o = { 0 };
  struct nxerr err;
  char hex[OBJSTORE_HEX_LEN];
  (void) state;

  assert_int_equal (objstore_get_info (NULL, "bad.bucket", "x", NULL, &info, &err), -1);
  assert_string_equal (err.msg, "nats: invalid object-store name");
  assert_int_equal (objstore_get_info (NULL, "", "x", NULL, &info, &err), -1);
  assert_string_equal (err.msg, "nats: invalid object-store name");
  assert_int_equal (objstore_get_info (NULL, "b", "", NULL, &info, &err), -1);
  assert_string_equal (err.msg, "nats: name is required");
  o.jsdomain = "a.b";
  assert_int_equal (objstore_get_info (NULL, "b", "x", &o, &info, &err), -1);
  assert_string_equal (err.msg, "nats: invalid connection");

  assert_int_equal (objstore_put (NULL, "b c", "x", "d", 1, NULL, NULL, NULL, NULL, &err), -1);
  assert_string_equal (err.msg, "nats: invalid object-store name");

  /* max_size is enforced from the metadata alone */
  assert_int_equal (parse (GO_META, &info, &err), 0);
  o.jsdomain = NULL;
  o.max_size = 4;
  assert_int_equal (objstore_read (NULL, &info, &o, NULL, NULL, hex, &err), -1);
  assert_int_equal (err.code, EFBIG);
  assert_non_null (strstr (err.msg, "5 bytes"));
  assert_string_equal (hex, "");
  /* inconsistent counts and digests are refused before reading */
  o.max_size = 0;
  info.chunks = 6;
  assert_int_equal (objstore_read (NULL, &info, &o, NULL, NULL, NULL, &err), -1);
  assert_non_null (strstr (err.msg, "meta information invalid"));
  info.chunks = 1;
  free (info.digest);
  info.digest = strdup ("SHA-256=nope");
  assert_int_equal (objstore_read (NULL, &info, &o, NULL, NULL, NULL, &err), -1);
  assert_non_null (strstr (err.msg, "digest"));
  free (info.nuid);
  info.nuid = strdup ("");
  assert_int_equal (objstore_read (NULL, &info, &o, NULL, NULL, NULL, &err), -1);
  assert_string_equal (err.msg, "nats: object-store meta information invalid");
  objstore_info_free (&info);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_parse_go_meta),
    cmocka_unit_test (test_parse_js_meta),
    cmocka_unit_test (test_parse_minimal_and_nulls),
    cmocka_unit_test (test_parse_missing_fields),
    cmocka_unit_test (test_parse_wrong_types),
    cmocka_unit_test (test_parse_semantic),
    cmocka_unit_test (test_parse_deleted_and_link),
    cmocka_unit_test (test_parse_huge_values),
    cmocka_unit_test (test_parse_not_json),
    cmocka_unit_test (test_name_token),
    cmocka_unit_test (test_digest),
    cmocka_unit_test (test_valid_bucket_and_name),
    cmocka_unit_test (test_checks_before_requests),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
