/* fuzz_objstore_watch: what a bucket watch reads from the bus
 * (api/objstore_watch.c): consumer create replies, $JS.ACK reply subjects,
 * metadata subjects and messages. The first byte picks the reader; the rest
 * is its input. What is accepted must hold what objstore.h promises, and a
 * refusal must leave its output zeroed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/objstore.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
created (const char *s, size_t n)
{
  struct objstore_created c;
  struct nxerr err = { 0 };
  int r = objstore_watch_created (s, n, &c, &err);
  if (r != 0 && (c.name[0] || c.num_pending || err.msg[0] == '\0'))
    abort ();
  if (r == 0 && (!objstore_valid_bucket (c.name) || strlen (c.name) > OBJSTORE_CONSUMER_MAX))
    abort (); /* a subject token (the bucket rule is the token rule) */
}

static void
ack (const char *s)
{
  static const struct objstore_ack zero;
  struct objstore_ack a;
  struct nxerr err = { 0 };
  if (objstore_ack_parse (s, &a, &err) < 0)
    {
      if (memcmp (&a, &zero, sizeof a) != 0)
        abort ();
      return;
    }
  if (strncmp (a.stream, "OBJ_", 4) != 0 || !objstore_valid_bucket (a.stream + 4)
      || !objstore_valid_bucket (a.consumer) || strlen (a.consumer) > OBJSTORE_CONSUMER_MAX
      || strncmp (s, "$JS.ACK.", 8) != 0)
    abort ();
}

static void
token (const char *s)
{
  const char *t = objstore_meta_token (s, "OBJ_b");
  if (t && (t < s || t > s + strlen (s) || strncmp (s, "$O.b.M.", 7) != 0 || t != s + 7
            || strlen (t) % 4 != 0 || strchr (t, '.')))
    abort ();
}

static void
judge (const char *s, size_t n)
{
  static const unsigned char zero[32];
  struct objstore_meta m;
  objstore_meta_judge (s, n, &m);
  if (m.state != OBJSTORE_META_PRESENT && (m.size || memcmp (m.sha256, zero, 32) != 0))
    abort ();
  if (m.state != OBJSTORE_META_PRESENT && m.state != OBJSTORE_META_DELETED
      && m.state != OBJSTORE_META_OPAQUE)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *s;
  if (size == 0)
    return 0;
  /* NUL-terminated copy: subjects are C strings in nats.c. */
  s = malloc (size);
  memcpy (s, data + 1, size - 1);
  s[size - 1] = '\0';
  switch (data[0] % 4)
    {
    case 0: created (s, size - 1); break;
    case 1: ack (s); break;
    case 2: token (s); break;
    default: judge (s, size - 1); break;
    }
  free (s);
  return 0;
}
