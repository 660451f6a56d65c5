#include "api/fs_spec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/xalloc.h"

static const char *const mode_names[] = { [FS_UNSET] = "minimal", [FS_MINIMAL] = "minimal",
                                          [FS_HOST_RO] = "host-ro" };

int
fs_mode_parse (const char *name, enum fs_mode *out)
{
  if (strcmp (name, "minimal") == 0)
    *out = FS_MINIMAL;
  else if (strcmp (name, "host-ro") == 0)
    *out = FS_HOST_RO;
  else
    return -1;
  return 0;
}

const char *
fs_mode_name (enum fs_mode m)
{
  return (unsigned) m < sizeof mode_names / sizeof mode_names[0] ? mode_names[m] : "minimal";
}

int
fs_path_check (const char *p, struct nxerr *err)
{
  size_t n = strlen (p);
  if (p[0] != '/')
    return nxerr_set (err, EINVAL, "\"%.64s\" is not an absolute path", p);
  if (n > FS_PATH_MAX)
    return nxerr_set (err, EINVAL, "\"%.64s...\" is longer than %d bytes", p, FS_PATH_MAX);
  if (n == 1)
    return nxerr_set (err, EINVAL, "\"/\" is the whole host");
  if (p[n - 1] == '/')
    return nxerr_set (err, EINVAL, "\"%s\" ends with \"/\" (not normalised)", p);
  for (const char *s = p; *s; s++)
    if ((unsigned char) *s < 0x20 || *s == 0x7f || *s == ',' || *s == '\\')
      return nxerr_set (err, EINVAL, "\"%.64s\" contains a control character, ',' or '\\'", p);
  /* Each component: not empty, not "." nor "..". */
  for (const char *c = p + 1;;)
    {
      const char *e = strchr (c, '/');
      size_t len = e ? (size_t) (e - c) : strlen (c);
      if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
        return nxerr_set (err, EINVAL, "\"%s\" is not normalised (empty, \".\" or \"..\" part)",
                          p);
      if (e == NULL)
        break;
      c = e + 1;
    }
  return 0;
}

static int
take_bind_ro (json_t *v, const char *where, struct fs_spec *out, struct nxerr *err)
{
  size_t i;
  json_t *e;
  if (!json_is_array (v))
    return nxerr_set (err, EINVAL, "%s.bind_ro must be an array of absolute paths", where);
  if (json_array_size (v) > FS_BIND_RO_MAX)
    return nxerr_set (err, EINVAL, "%s.bind_ro has more than %d paths", where, FS_BIND_RO_MAX);
  json_array_foreach (v, i, e)
  {
    const char *p = json_string_value (e);
    if (p == NULL || strlen (p) != json_string_length (e))
      return nxerr_set (err, EINVAL, "%s.bind_ro[%zu] must be a string without NUL", where, i);
    if (fs_path_check (p, err) < 0)
      return nxerr_wrap (err, "%s.bind_ro[%zu]", where, i);
    for (size_t j = 0; j < i; j++)
      if (strcmp (p, json_string_value (json_array_get (v, j))) == 0)
        return nxerr_set (err, EINVAL, "%s.bind_ro[%zu]: \"%s\" is listed twice", where, i, p);
  }
  out->n_bind_ro = json_array_size (v);
  out->bind_ro = xcalloc (out->n_bind_ro + 1, sizeof *out->bind_ro);
  json_array_foreach (v, i, e) out->bind_ro[i] = xstrdup (json_string_value (e));
  return 0;
}

int
fs_spec_take (json_t *v, const char *where, struct fs_spec *out, struct nxerr *err)
{
  struct fs_spec s = { 0 };
  const char *k;
  json_t *e;
  if (json_is_null (v))
    return 0;
  if (json_is_string (v))
    {
      if (fs_mode_parse (json_string_value (v), &s.mode) < 0)
        return nxerr_set (err, EINVAL, "%s \"%.64s\" is not \"minimal\" or \"host-ro\"", where,
                          json_string_value (v));
      fs_spec_free (out);
      *out = s;
      return 0;
    }
  if (!json_is_object (v))
    return nxerr_set (err, EINVAL,
                      "%s must be \"minimal\", \"host-ro\" or {\"bind_ro\": [paths]}", where);
  s.mode = FS_MINIMAL;
  json_object_foreach (v, k, e)
  {
    int rc;
    if (strcmp (k, "mode") == 0)
      rc = json_is_string (e) && fs_mode_parse (json_string_value (e), &s.mode) == 0
               ? 0
               : nxerr_set (err, EINVAL, "%s.mode must be \"minimal\" or \"host-ro\"", where);
    else if (strcmp (k, "bind_ro") == 0)
      rc = take_bind_ro (e, where, &s, err);
    else
      rc = nxerr_set (err, EINVAL, "%s.%.64s is not a known setting (mode, bind_ro)", where, k);
    if (rc < 0)
      {
        fs_spec_free (&s);
        return -1;
      }
  }
  if (s.mode == FS_HOST_RO && s.n_bind_ro)
    {
      fs_spec_free (&s);
      return nxerr_set (err, EINVAL, "%s.bind_ro needs mode \"minimal\" (host-ro shows the "
                                     "whole host already)",
                        where);
    }
  fs_spec_free (out);
  *out = s;
  return 0;
}

void
fs_spec_encode (struct jsonw *w, const struct fs_spec *s)
{
  if (s->mode == FS_UNSET && s->n_bind_ro == 0)
    return;
  if (s->n_bind_ro == 0)
    {
      jsonw_kstr (w, "filesystem", fs_mode_name (s->mode));
      return;
    }
  jsonw_key (w, "filesystem");
  jsonw_obj_begin (w);
  jsonw_kstr (w, "mode", fs_mode_name (s->mode));
  jsonw_key (w, "bind_ro");
  jsonw_arr_begin (w);
  for (size_t i = 0; i < s->n_bind_ro; i++)
    jsonw_str (w, s->bind_ro[i]);
  jsonw_arr_end (w);
  jsonw_obj_end (w);
}

void
fs_spec_free (struct fs_spec *s)
{
  for (size_t i = 0; i < s->n_bind_ro; i++)
    free (s->bind_ro[i]);
  free (s->bind_ro);
  s->bind_ro = NULL;
  s->n_bind_ro = 0;
}
