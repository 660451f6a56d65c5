/* fuzz_check_config: what `nexc-node check-config FILE` does: load the file
 * (config_load, here from a memfd), print the effective configuration
 * (config_dump). The printed configuration must itself be a valid file that
 * loads to the same configuration: dumping it again gives the same JSON,
 * except autostart environments, whose values are never printed (only
 * their names, as environment_keys). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "node/core/config.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* The dump as JSON, without what a reload cannot reproduce. */
static json_t *
comparable (const struct buf *dump)
{
  json_t *root = json_loadb (dump->data, dump->len, 0, NULL);
  json_t *auto_wl, *w;
  size_t i;
  if (root == NULL)
    {
      fprintf (stderr, "nexc-fuzz: check-config output is not JSON:\n%s\n", dump->data);
      abort ();
    }
  auto_wl = json_object_get (json_object_get (root, "autostart"), "workloads");
  json_array_foreach (auto_wl, i, w)
  {
    json_object_del (w, "environment_keys");
  }
  return root;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct config cfg, again;
  struct nxerr err = { 0 };
  struct buf out = BUF_INIT, out2 = BUF_INIT;
  json_t *a, *b;
  char path[64];
  int fd = memfd_create ("fuzz-config", MFD_CLOEXEC);
  if (fd < 0)
    abort ();
  if (size && write (fd, data, size) != (ssize_t) size)
    abort ();
  snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  config_defaults (&cfg);
  if (config_load (&cfg, path, &err) < 0)
    {
      if (err.msg[0] == '\0')
        abort ();
      config_free (&cfg);
      close (fd);
      return 0;
    }
  close (fd);
  config_dump (&cfg, &out);
  config_defaults (&again);
  if (config_parse (&again, out.data, out.len, &err) < 0)
    {
      fprintf (stderr, "nexc-fuzz: check-config output does not load: %s\n%s\n", err.msg, out.data);
      abort ();
    }
  config_dump (&again, &out2);
  a = comparable (&out);
  b = comparable (&out2);
  if (!json_equal (a, b))
    {
      fprintf (stderr, "nexc-fuzz: check-config output changes when loaded again:\n%s\n%s\n",
               out.data, out2.data);
      abort ();
    }
  json_decref (a);
  json_decref (b);
  config_free (&cfg);
  config_free (&again);
  buf_free (&out);
  buf_free (&out2);
  return 0;
}
