/* objstore_info: the object store's metadata (ObjectInfo JSON), parsed
 * strictly and within bounds, for it comes from whoever can write the bucket. */
#include "api/objstore.h"

#include "api/objstore_int.h"

#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "api/xalloc.h"

void
objstore_info_free (struct objstore_info *info)
{
  if (info == NULL)
    return;
  free (info->name);
  free (info->bucket);
  free (info->nuid);
  free (info->description);
  free (info->mtime);
  free (info->digest);
  free (info->link_bucket);
  free (info->link_name);
  memset (info, 0, sizeof *info);
}

/* A string field. Absent or null: error when required, else *out = NULL. */
static int
field_str (json_t *obj, const char *key, bool required, size_t max, char **out, struct nxerr *err)
{
  json_t *v = json_object_get (obj, key);
  *out = NULL;
  if (v == NULL || json_is_null (v))
    {
      if (required)
        return nxerr_set (err, EINVAL, "missing field %s", key);
      return 0;
    }
  if (!json_is_string (v))
    return nxerr_set (err, EINVAL, "field %s: expected a string", key);
  if (json_string_length (v) > max)
    return nxerr_set (err, EINVAL, "field %s: longer than %zu bytes", key, max);
  *out = xstrndup (json_string_value (v), json_string_length (v));
  return 0;
}

static int
field_uint (json_t *obj, const char *key, bool required, uint64_t max, uint64_t *out,
            struct nxerr *err)
{
  json_t *v = json_object_get (obj, key);
  json_int_t i;
  *out = 0;
  if (v == NULL || json_is_null (v))
    {
      if (required)
        return nxerr_set (err, EINVAL, "missing field %s", key);
      return 0;
    }
  if (!json_is_integer (v))
    return nxerr_set (err, EINVAL, "field %s: expected an integer", key);
  i = json_integer_value (v);
  if (i < 0 || (uint64_t) i > max)
    return nxerr_set (err, EINVAL, "field %s: %lld out of range", key, (long long) i);
  *out = (uint64_t) i;
  return 0;
}

/* An optional object field; *out = NULL when absent or null. */
static int
field_obj (json_t *obj, const char *key, json_t **out, struct nxerr *err)
{
  json_t *v = json_object_get (obj, key);
  *out = NULL;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return nxerr_set (err, EINVAL, "field %s: expected an object", key);
  *out = v;
  return 0;
}

static int
parse_options (json_t *root, struct objstore_info *info, struct nxerr *err)
{
  json_t *opts, *link, *ignored;
  uint64_t u;
  if (field_obj (root, "headers", &ignored, err) < 0 || field_obj (root, "metadata", &ignored, err) < 0)
    return -1;
  if (field_obj (root, "options", &opts, err) < 0)
    return -1;
  if (opts == NULL)
    return 0;
  if (field_uint (opts, "max_chunk_size", false, UINT32_MAX, &u, err) < 0)
    return nxerr_wrap (err, "options");
  info->max_chunk_size = (uint32_t) u;
  if (field_obj (opts, "link", &link, err) < 0)
    return nxerr_wrap (err, "options");
  if (link == NULL)
    return 0;
  if (field_str (link, "bucket", true, OBJSTORE_BUCKET_MAX, &info->link_bucket, err) < 0
      || field_str (link, "name", false, OBJSTORE_NAME_MAX, &info->link_name, err) < 0)
    return nxerr_wrap (err, "options.link");
  if (!objstore_valid_bucket (info->link_bucket))
    return nxerr_set (err, EINVAL, "options.link.bucket: invalid bucket name");
  return 0;
}

static int
parse_root (json_t *root, struct objstore_info *info, struct nxerr *err)
{
  json_t *v;
  uint64_t u;
  if (!json_is_object (root))
    return nxerr_set (err, EINVAL, "not a JSON object");
  if (field_str (root, "name", true, OBJSTORE_NAME_MAX, &info->name, err) < 0
      || field_str (root, "bucket", true, OBJSTORE_BUCKET_MAX, &info->bucket, err) < 0
      || field_str (root, "nuid", true, OBJSTORE_NUID_MAX, &info->nuid, err) < 0
      || field_str (root, "description", false, OBJSTORE_DESCRIPTION_MAX, &info->description, err) < 0
      || field_str (root, "mtime", false, 64, &info->mtime, err) < 0
      || field_str (root, "digest", false, 128, &info->digest, err) < 0)
    return -1;
  if (info->name[0] == '\0')
    return nxerr_set (err, EINVAL, "field name: empty");
  if (!objstore_valid_bucket (info->bucket))
    return nxerr_set (err, EINVAL, "field bucket: invalid bucket name");
  if (info->nuid[0] != '\0' && !objstore_valid_token (info->nuid, OBJSTORE_NUID_MAX))
    return nxerr_set (err, EINVAL, "field nuid: not a subject token");
  if (field_uint (root, "size", true, INT64_MAX, &info->size, err) < 0)
    return -1;
  if (field_uint (root, "chunks", true, UINT32_MAX, &u, err) < 0)
    return -1;
  info->chunks = (uint32_t) u;
  v = json_object_get (root, "deleted");
  if (v != NULL && !json_is_null (v))
    {
      if (!json_is_boolean (v))
        return nxerr_set (err, EINVAL, "field deleted: expected a boolean");
      info->deleted = json_is_true (v);
    }
  return parse_options (root, info, err);
}

int
objstore_info_parse (const char *json, size_t len, struct objstore_info *info, struct nxerr *err)
{
  cleanup_json json_t *root = NULL;
  json_error_t jerr;
  memset (info, 0, sizeof *info);
  if (len > OBJSTORE_META_MAX)
    return nxerr_set (err, EINVAL, "metadata larger than %d bytes", OBJSTORE_META_MAX);
  root = json_loadb (json, len, 0, &jerr);
  if (root == NULL)
    return nxerr_set (err, EINVAL, "not JSON: %s at line %d column %d", jerr.text, jerr.line,
                      jerr.column);
  if (parse_root (root, info, err) < 0)
    {
      objstore_info_free (info);
      return -1;
    }
  return 0;
}
