/* fuzz_frame: node–agent frames (api/frame.c). The node decodes what an
 * agent sends, and an agent may be under a workload's control.
 *
 * A frame that decodes, packed again, must decode again (the sender's and
 * the receiver's rules agree), and its strings must be clean C strings.
 *
 * KNOWN FINDING (reported, not fixed here): frame_decode accepts an unknown
 * field with field number 0 when its tag is a non-minimal varint (80 00);
 * protobuf-c keeps it, packs it back as tag 00, and then refuses its own
 * output. Crash input: tests/fuzz/crashes/frame/field-number-zero. Until
 * frame_decode refuses field number 0, the round trip is skipped for such
 * frames (set NEXC_FUZZ_STRICT_FIELD_ZERO to 1 to check it again). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/frame.h"
#include "api/xalloc.h"

#ifndef NEXC_FUZZ_STRICT_FIELD_ZERO
#define NEXC_FUZZ_STRICT_FIELD_ZERO 1 /* fixed: checked again */
#endif

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Does m, or any message inside it, hold an unknown field numbered 0? */
static bool
has_field_zero (const ProtobufCMessage *m)
{
  const ProtobufCMessageDescriptor *d;
  if (m == NULL)
    return false;
  for (unsigned i = 0; i < m->n_unknown_fields; i++)
    if (m->unknown_fields[i].tag == 0)
      return true;
  d = m->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++)
    {
      const ProtobufCFieldDescriptor *fd = &d->fields[i];
      const char *base = (const char *) m;
      if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
        continue;
      if (fd->label == PROTOBUF_C_LABEL_REPEATED)
        {
          size_t n = *(const size_t *) (base + fd->quantifier_offset);
          ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *) (base + fd->offset);
          for (size_t k = 0; k < n; k++)
            if (has_field_zero (v[k]))
              return true;
        }
      else if (has_field_zero (*(ProtobufCMessage *const *) (base + fd->offset)))
        return true;
    }
  return false;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Frame *f = NULL, *g = NULL;
  struct nxerr err = { 0 };
  uint8_t *buf;
  size_t len;
  if (frame_decode (data, size, &f, &err) < 0)
    {
      if (f != NULL || err.msg[0] == '\0')
        abort ();
      return 0;
    }
  if (strcmp (frame_kind (f), "unset") == 0 || strcmp (frame_kind (f), "none") == 0)
    abort ();
  len = nexc__agent__frame__get_packed_size (f);
  if (len + 4 <= FRAME_MAX
      && (NEXC_FUZZ_STRICT_FIELD_ZERO || !has_field_zero ((const ProtobufCMessage *) f)))
    {
      buf = xmalloc (len + 4);
      buf[0] = (uint8_t) (len >> 24);
      buf[1] = (uint8_t) (len >> 16);
      buf[2] = (uint8_t) (len >> 8);
      buf[3] = (uint8_t) len;
      if (nexc__agent__frame__pack (f, buf + 4) != len || frame_decode (buf, len + 4, &g, &err) < 0)
        {
          fprintf (stderr, "nexc-fuzz: a %s frame packed again does not decode: %s\n",
                   frame_kind (f), err.msg);
          abort ();
        }
      frame_free (g);
      free (buf);
    }
  if (f->body_case == NEXC__AGENT__FRAME__BODY_DEPLOY)
    {
      const Nexc__Agent__Deploy *d = f->deploy;
      size_t total = strlen (d->workload_id) + strlen (d->name);
      for (size_t i = 0; i < d->n_argv; i++)
        total += strlen (d->argv[i]);
      for (size_t i = 0; i < d->n_env; i++)
        total += strlen (d->env[i]->key) + strlen (d->env[i]->value);
      if (total > size)
        abort ();
    }
  frame_free (f);
  return 0;
}
