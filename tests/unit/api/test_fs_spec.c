/* Unit tests for the "filesystem" extension of the DEPLOY request
 * (api/fs_spec.c, through api/deploy_request.c): the three spellings, the
 * form of bind_ro paths (absolute, normalised, bounded, no duplicates),
 * unknown keys refused, the encoding round trip and the digest covering
 * the field. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/buf.h"
#include "api/deploy_request.h"

#define BASE                                                                                    \
  "\"type\":\"native\",\"location\":\"nats://B/k\",\"workload_jwt\":\"j\",\"environment\":\"e\"," \
  "\"sender_public_key\":\"X\""

static struct deploy_request *
decode_ok (const char *fs)
{
  char json[4096];
  struct deploy_request *r = NULL;
  struct nxerr err = { 0 };
  snprintf (json, sizeof json, "{" BASE ",\"filesystem\":%s}", fs);
  if (deploy_request_decode (json, strlen (json), &r, &err) < 0)
    fail_msg ("decode failed: %s\ninput: %s", err.msg, json);
  return r;
}

static void
decode_fails (const char *fs, const char *want)
{
  char json[4096];
  struct deploy_request *r = NULL;
  struct nxerr err = { 0 };
  snprintf (json, sizeof json, "{" BASE ",\"filesystem\":%s}", fs);
  assert_int_equal (deploy_request_decode (json, strlen (json), &r, &err), -1);
  assert_null (r);
  assert_int_equal (err.code, EPROTO);
  if (strncmp (err.msg, "Invalid deploy request: filesystem", 34) != 0 || !strstr (err.msg, want))
    fail_msg ("%s: got \"%s\", want \"%s\"", fs, err.msg, want);
}

static void
test_spellings (void **state)
{
  struct deploy_request *r;
  (void) state;
  r = decode_ok ("\"minimal\"");
  assert_int_equal (r->filesystem.mode, FS_MINIMAL);
  deploy_request_free (r);
  r = decode_ok ("\"host-ro\"");
  assert_int_equal (r->filesystem.mode, FS_HOST_RO);
  deploy_request_free (r);
  r = decode_ok ("null");
  assert_int_equal (r->filesystem.mode, FS_UNSET);
  deploy_request_free (r);
  r = decode_ok ("{\"bind_ro\":[\"/lib64\",\"/lib/x86_64-linux-gnu\"]}");
  assert_int_equal (r->filesystem.mode, FS_MINIMAL);
  assert_int_equal (r->filesystem.n_bind_ro, 2);
  assert_string_equal (r->filesystem.bind_ro[1], "/lib/x86_64-linux-gnu");
  deploy_request_free (r);
}

static void
test_refusals (void **state)
{
  (void) state;
  decode_fails ("\"rw\"", "is not \"minimal\" or \"host-ro\"");
  decode_fails ("7", "must be \"minimal\", \"host-ro\" or");
  decode_fails ("{\"bind_rw\":[]}", "bind_rw is not a known setting");
  decode_fails ("{\"mode\":\"host-ro\",\"bind_ro\":[\"/usr\"]}", "needs mode \"minimal\"");
  decode_fails ("{\"bind_ro\":\"/usr\"}", "must be an array");
  decode_fails ("{\"bind_ro\":[1]}", "must be a string");
  decode_fails ("{\"bind_ro\":[\"usr\"]}", "not an absolute path");
  decode_fails ("{\"bind_ro\":[\"/\"]}", "the whole host");
  decode_fails ("{\"bind_ro\":[\"/usr/\"]}", "ends with");
  decode_fails ("{\"bind_ro\":[\"/usr//lib\"]}", "not normalised");
  decode_fails ("{\"bind_ro\":[\"/usr/./lib\"]}", "not normalised");
  decode_fails ("{\"bind_ro\":[\"/usr/lib/..\"]}", "not normalised");
  decode_fails ("{\"bind_ro\":[\"/usr\\tlib\"]}", "control character");
  decode_fails ("{\"bind_ro\":[\"/a,b\"]}", "control character, ','");
  decode_fails ("{\"bind_ro\":[\"/usr\",\"/usr\"]}", "listed twice");
  {
    char many[1024] = "{\"bind_ro\":[", big[600] = "{\"bind_ro\":[\"/";
    for (int i = 0; i < FS_BIND_RO_MAX + 1; i++)
      snprintf (many + strlen (many), sizeof many - strlen (many), "%s\"/p%d\"", i ? "," : "",
                i);
    strcat (many, "]}");
    decode_fails (many, "more than 16 paths");
    memset (big + strlen (big), 'a', FS_PATH_MAX);
    strcat (big, "\"]}");
    decode_fails (big, "longer than 256 bytes");
  }
}

static void
test_round_trip_and_digest (void **state)
{
  struct deploy_request *r = decode_ok ("{\"bind_ro\":[\"/lib64\"]}"), *back = NULL;
  struct buf b = BUF_INIT;
  struct nxerr err = { 0 };
  char d1[DEPLOY_DIGEST_HEX_LEN], d2[DEPLOY_DIGEST_HEX_LEN];
  (void) state;
  deploy_request_encode (r, &b);
  assert_non_null (
      strstr (b.data, "\"filesystem\":{\"mode\":\"minimal\",\"bind_ro\":[\"/lib64\"]}"));
  assert_int_equal (deploy_request_decode (b.data, b.len, &back, &err), 0);
  assert_int_equal (back->filesystem.n_bind_ro, 1);
  deploy_request_digest (r, d1);
  /* Another path, another digest: a bound token covers the view. */
  free (back->filesystem.bind_ro[0]);
  back->filesystem.bind_ro[0] = strdup ("/lib");
  deploy_request_digest (back, d2);
  assert_string_not_equal (d1, d2);
  buf_free (&b);
  deploy_request_free (r);
  deploy_request_free (back);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_spellings),
    cmocka_unit_test (test_refusals),
    cmocka_unit_test (test_round_trip_and_digest),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
