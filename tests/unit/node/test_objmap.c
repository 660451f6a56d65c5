/* Unit tests of node/artifacts/objmap.c: the store view's per-bucket map
 * from metadata subject token to what the object's last message said. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "node/artifacts/objmap.h"

static const unsigned char KEY[OBJMAP_KEY_LEN] = "0123456789abcdef";

static struct objstore_meta
meta (enum objstore_meta_state st, uint64_t size)
{
  struct objstore_meta m;
  memset (&m, 0, sizeof m);
  m.state = st;
  m.size = size;
  m.sha256[0] = (unsigned char) size;
  return m;
}

static void
test_empty (void **state)
{
  struct objmap m;
  (void) state;
  objmap_init (&m, KEY);
  assert_null (objmap_get (&m, "YQ==", 4));
  assert_int_equal (m.count, 0);
  objmap_free (&m);
  objmap_free (&m); /* twice is harmless */
}

static void
test_put_get_update (void **state)
{
  struct objmap m;
  struct objstore_meta a = meta (OBJSTORE_META_PRESENT, 5), d = meta (OBJSTORE_META_DELETED, 0);
  const struct objmap_entry *e;
  bool added = false;
  (void) state;
  objmap_init (&m, KEY);
  objmap_put (&m, "YQ==", 4, &a, &added);
  assert_true (added);
  e = objmap_get (&m, "YQ==", 4);
  assert_non_null (e);
  assert_int_equal (e->meta.state, OBJSTORE_META_PRESENT);
  assert_int_equal (e->meta.size, 5);
  /* A deletion marker replaces the info. */
  objmap_put (&m, "YQ==", 4, &d, &added);
  assert_false (added);
  assert_int_equal (m.count, 1);
  assert_int_equal (objmap_get (&m, "YQ==", 4)->meta.state, OBJSTORE_META_DELETED);
  /* Lengths matter, not a NUL: a prefix is another key. */
  assert_null (objmap_get (&m, "YQ=", 3));
  assert_null (objmap_get (&m, "YQ==YQ==", 8));
  objmap_free (&m);
}

static void
test_many (void **state)
{
  struct objmap m;
  char tok[32];
  size_t bytes_at_100 = 0;
  (void) state;
  objmap_init (&m, KEY);
  for (uint64_t i = 0; i < 5000; i++)
    {
      struct objstore_meta x = meta (OBJSTORE_META_PRESENT, i);
      bool added = false;
      int n = snprintf (tok, sizeof tok, "tok%llu", (unsigned long long) i);
      objmap_put (&m, tok, (size_t) n, &x, &added);
      assert_true (added);
      if (i == 99)
        bytes_at_100 = m.bytes;
    }
  assert_int_equal (m.count, 5000);
  /* Half full at most, and what it holds is accounted. */
  assert_true (m.cap >= 10000);
  assert_true (m.bytes > bytes_at_100);
  assert_true (m.bytes >= m.cap * sizeof (struct objmap_entry));
  for (uint64_t i = 0; i < 5000; i++)
    {
      int n = snprintf (tok, sizeof tok, "tok%llu", (unsigned long long) i);
      const struct objmap_entry *e = objmap_get (&m, tok, (size_t) n);
      assert_non_null (e);
      assert_int_equal (e->meta.size, i);
    }
  assert_null (objmap_get (&m, "tok5000", 7));
  objmap_free (&m);
  assert_int_equal (m.count, 0);
  assert_int_equal (m.bytes, 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_empty),
    cmocka_unit_test (test_put_get_update),
    cmocka_unit_test (test_many),
  };
  return cmocka_run_group_tests_name ("objmap", tests, NULL, NULL);
}
