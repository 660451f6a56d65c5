/* fuzz_fs_spec: the "filesystem" of a deploy request or a node config
 * (api/fs_spec.c), from JSON.
 *
 * Any JSON value is taken or refused with a message, never a crash. What
 * is taken holds only paths of the checked form (each passes fs_path_check
 * again, none repeats), at most FS_BIND_RO_MAX of them, and encodes to JSON
 * that is taken back as the same spec. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/buf.h"
#include "api/fs_spec.h"
#include "api/jsonw.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_form (const struct fs_spec *s)
{
  struct nxerr err = { 0 };
  if (s->n_bind_ro > FS_BIND_RO_MAX)
    abort ();
  for (size_t i = 0; i < s->n_bind_ro; i++)
    {
      if (fs_path_check (s->bind_ro[i], &err) < 0)
        {
          fprintf (stderr, "nexc-fuzz: taken path \"%s\" fails its own check: %s\n",
                   s->bind_ro[i], err.msg);
          abort ();
        }
      for (size_t k = 0; k < i; k++)
        if (strcmp (s->bind_ro[i], s->bind_ro[k]) == 0)
          abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fs_spec s = { 0 }, t = { 0 };
  struct nxerr err = { 0 };
  struct buf b = BUF_INIT;
  struct jsonw w;
  json_t *v = json_loadb ((const char *) data, size, JSON_DECODE_ANY, NULL), *back, *f;
  if (v == NULL)
    return 0;
  if (fs_spec_take (v, "filesystem", &s, &err) < 0)
    {
      if (err.msg[0] == '\0')
        abort ();
      json_decref (v);
      fs_spec_free (&s);
      return 0;
    }
  json_decref (v);
  check_form (&s);
  jsonw_init (&w, &b);
  jsonw_obj_begin (&w);
  fs_spec_encode (&w, &s);
  jsonw_obj_end (&w);
  back = json_loadb (b.data, b.len, 0, NULL);
  if (back == NULL)
    {
      fprintf (stderr, "nexc-fuzz: encoded spec is not JSON: %.*s\n", (int) b.len, b.data);
      abort ();
    }
  f = json_object_get (back, "filesystem");
  if (f != NULL && fs_spec_take (f, "filesystem", &t, &err) < 0)
    {
      fprintf (stderr, "nexc-fuzz: encoded spec refused: %s\n", err.msg);
      abort ();
    }
  if ((f != NULL || s.mode != FS_UNSET || s.n_bind_ro != 0)
      && (t.mode != s.mode || t.n_bind_ro != s.n_bind_ro))
    {
      /* An unset spec writes nothing; anything else must come back whole. */
      if (!(f == NULL && s.mode == FS_UNSET && s.n_bind_ro == 0))
        {
          fprintf (stderr, "nexc-fuzz: spec changed through JSON: %.*s\n", (int) b.len, b.data);
          abort ();
        }
    }
  for (size_t i = 0; i < s.n_bind_ro && i < t.n_bind_ro; i++)
    if (strcmp (s.bind_ro[i], t.bind_ro[i]) != 0)
      abort ();
  json_decref (back);
  buf_free (&b);
  fs_spec_free (&s);
  fs_spec_free (&t);
  return 0;
}
