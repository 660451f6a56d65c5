/* jwt: NATS generic-claims JWTs (reference §8.7), decoded the way
 * nats-io/jwt v2.5.3 DecodeGeneric does and encoded byte for byte as its
 * GenericClaims.Encode does. Error texts are Go's where a client may see
 * them; JSON type errors follow Go's "json: cannot unmarshal …" form. */
#include "api/jwt.h"

#include "api/gojson.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "api/b64.h"
#include "api/jsonw.h"
#include "api/xalloc.h"

static const char jwt_header_json[] = "{\"typ\":\"JWT\",\"alg\":\"ed25519-nkey\"}";

/* Append s quoted as Go's %q does (for ASCII; UTF-8 passes through). */
static void
go_quote (struct buf *out, const char *s)
{
  buf_putc (out, '"');
  for (; *s; s++)
    {
      unsigned char c = (unsigned char) *s;
      switch (c)
        {
        case '"': buf_puts (out, "\\\""); break;
        case '\\': buf_puts (out, "\\\\"); break;
        case '\a': buf_puts (out, "\\a"); break;
        case '\b': buf_puts (out, "\\b"); break;
        case '\f': buf_puts (out, "\\f"); break;
        case '\n': buf_puts (out, "\\n"); break;
        case '\r': buf_puts (out, "\\r"); break;
        case '\t': buf_puts (out, "\\t"); break;
        case '\v': buf_puts (out, "\\v"); break;
        default:
          if (c < 0x20 || c == 0x7F)
            buf_printf (out, "\\x%02x", c);
          else
            buf_putc (out, (char) c);
        }
    }
  buf_putc (out, '"');
}

static json_t *
parse_json (const struct buf *b, struct nxerr *err)
{
  json_error_t jerr;
  json_t *j;
  if (b->len == 0)
    {
      nxerr_set (err, 0, "unexpected end of JSON input");
      return NULL;
    }
  /* DECODE_ANY so a non-object gets the type error below, not a syntax one. */
  j = json_loadb (b->data, b->len, JSON_DECODE_ANY, &jerr);
  if (j == NULL)
    nxerr_set (err, 0, "invalid JSON at byte %d: %s", jerr.position, jerr.text);
  return j;
}

/* Fetch an optional string member; null or absent leaves *out untouched. */
static int
member_str (json_t *obj, const char *key, const char *go_field, const char **out,
            struct nxerr *err)
{
  json_t *v = json_object_get (obj, key);
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_string (v))
    return nxerr_set (err, 0, "json: cannot unmarshal %s into Go struct field %s of type string",
                      gojson_type_name (v), go_field);
  *out = json_string_value (v);
  return 0;
}

static int
member_int (json_t *obj, const char *key, const char *go_field, int64_t *out, struct nxerr *err)
{
  json_t *v = json_object_get (obj, key);
  if (v == NULL || json_is_null (v))
    return 0;
  /* Go decodes only integer literals into int64: 1.0 and 1e3 are errors. */
  if (!json_is_integer (v))
    return nxerr_set (err, 0, "json: cannot unmarshal %s into Go struct field %s of type int64",
                      gojson_type_name (v), go_field);
  *out = (int64_t) json_integer_value (v);
  return 0;
}

static int
member_dup (json_t *obj, const char *key, const char *go_field, char **out, struct nxerr *err)
{
  const char *s = NULL;
  if (member_str (obj, key, go_field, &s, err) < 0)
    return -1;
  if (s)
    *out = xstrdup (s);
  return 0;
}

/* Check {"typ":"JWT","alg":"ed25519-nkey"|"ed25519"} with Go's leniency on
 * case; *v1 tells whether the legacy signing input applies. */
static int
check_header (const struct buf *raw, bool *v1, struct nxerr *err)
{
  cleanup_buf struct buf q = BUF_INIT;
  const char *typ = "", *alg = "";
  json_t *h = parse_json (raw, err);
  int rc = -1;
  if (h == NULL)
    return -1;
  /* null decodes to an empty header in Go, which then fails the typ check. */
  if (!json_is_object (h) && !json_is_null (h))
    {
      nxerr_set (err, 0, "json: cannot unmarshal %s into Go value of type jwt.Header",
                 gojson_type_name (h));
      goto out;
    }
  if (json_is_object (h)
      && (member_str (h, "typ", "Header.typ", &typ, err) < 0
          || member_str (h, "alg", "Header.alg", &alg, err) < 0))
    goto out;
  if (strcasecmp (typ, "JWT") != 0)
    {
      go_quote (&q, typ);
      nxerr_set (err, 0, "not supported type %s", q.data);
      goto out;
    }
  if (strcasecmp (alg, "ed25519-nkey") != 0 && strcasecmp (alg, "ed25519") != 0)
    {
      go_quote (&q, alg);
      nxerr_set (err, 0, "unexpected %s algorithm", q.data);
      goto out;
    }
  /* Go picks the V1 input only for the exact lower-case legacy name. */
  *v1 = strcmp (alg, "ed25519") == 0;
  rc = 0;
out:
  json_decref (h);
  return rc;
}

/* Legacy top-level fields: ignored, but Go still fails on a wrong type. */
static int
check_legacy_fields (json_t *root, struct nxerr *err)
{
  const char *s;
  int64_t i;
  json_t *tags = json_object_get (root, "tags");
  size_t idx;
  json_t *t;
  if (member_str (root, "type", "GenericFields.type", &s, err) < 0
      || member_int (root, "version", "GenericFields.version", &i, err) < 0)
    return -1;
  if (tags == NULL || json_is_null (tags))
    return 0;
  if (!json_is_array (tags))
    return nxerr_set (err, 0,
                      "json: cannot unmarshal %s into Go struct field GenericFields.tags of type "
                      "jwt.TagList",
                      gojson_type_name (tags));
  json_array_foreach (tags, idx, t)
    if (!json_is_string (t))
      return nxerr_set (err, 0,
                        "json: cannot unmarshal %s into Go struct field GenericFields.tags of "
                        "type string",
                        gojson_type_name (t));
  return 0;
}

static int
load_claims (json_t *root, struct jwt_claims *c, struct nxerr *err)
{
  json_t *nats;
  if (!json_is_object (root))
    return nxerr_set (err, 0, "json: cannot unmarshal %s into Go value of type jwt.GenericClaims",
                      gojson_type_name (root));
  if (member_dup (root, "aud", "GenericClaims.aud", &c->aud, err) < 0
      || member_int (root, "exp", "GenericClaims.exp", &c->exp, err) < 0
      || member_dup (root, "jti", "GenericClaims.jti", &c->jti, err) < 0
      || member_int (root, "iat", "GenericClaims.iat", &c->iat, err) < 0
      || member_dup (root, "iss", "GenericClaims.iss", &c->iss, err) < 0
      || member_dup (root, "name", "GenericClaims.name", &c->name, err) < 0
      || member_int (root, "nbf", "GenericClaims.nbf", &c->nbf, err) < 0
      || member_dup (root, "sub", "GenericClaims.sub", &c->sub, err) < 0
      || check_legacy_fields (root, err) < 0)
    return -1;
  nats = json_object_get (root, "nats");
  if (nats == NULL || json_is_null (nats))
    return 0;
  if (!json_is_object (nats))
    return nxerr_set (err, 0,
                      "json: cannot unmarshal %s into Go struct field GenericClaims.nats of type "
                      "map[string]interface {}",
                      gojson_type_name (nats));
  /* Go keeps nats as a free-form map; we want the two fields we use typed. */
  if (member_dup (nats, "hash", "GenericClaims.nats.hash", &c->hash, err) < 0
      || member_dup (nats, "nexc_purpose", "GenericClaims.nats.nexc_purpose", &c->purpose, err)
             < 0
      || member_dup (nats, "nexc_bind", "GenericClaims.nats.nexc_bind", &c->bind, err) < 0
      || member_int (nats, "version", "GenericClaims.nats.version", &c->version, err) < 0)
    return -1;
  return 0;
}

static int
decode_part (const char *p, size_t n, struct buf *out, struct nxerr *err)
{
  return b64_decode (B64_URL_NOPAD, p, n, out, err);
}

static int
decode_payload (const char *p, size_t n, struct jwt_claims *c, struct nxerr *err)
{
  cleanup_buf struct buf raw = BUF_INIT;
  json_t *root;
  int rc;
  if (decode_part (p, n, &raw, err) < 0)
    return -1;
  root = parse_json (&raw, err);
  if (root == NULL)
    return -1;
  rc = load_claims (root, c, err);
  json_decref (root);
  return rc;
}

int
jwt_decode (const char *token, struct jwt_claims *claims, struct nxerr *err)
{
  cleanup_buf struct buf hdr = BUF_INIT;
  cleanup_buf struct buf sig = BUF_INIT;
  const char *d1, *d2, *end, *signed_p;
  size_t len, signed_n;
  bool v1 = false;

  memset (claims, 0, sizeof *claims);
  if (token == NULL)
    token = "";
  /* Refuse before any work: decoding cost grows with what a client sends. */
  len = strnlen (token, JWT_MAX_LEN + 1);
  if (len > JWT_MAX_LEN)
    return nxerr_set (err, EMSGSIZE, "token is larger than %d bytes", JWT_MAX_LEN);
  end = token + len;
  d1 = memchr (token, '.', len);
  d2 = d1 ? memchr (d1 + 1, '.', (size_t) (end - d1 - 1)) : NULL;
  if (d2 == NULL || memchr (d2 + 1, '.', (size_t) (end - d2 - 1)) != NULL)
    return nxerr_set (err, 0, "expected 3 chunks");

  if (decode_part (token, (size_t) (d1 - token), &hdr, err) < 0
      || check_header (&hdr, &v1, err) < 0
      || decode_payload (d1 + 1, (size_t) (d2 - d1 - 1), claims, err) < 0
      || decode_part (d2 + 1, (size_t) (end - d2 - 1), &sig, err) < 0)
    goto fail;

  /* V2 signs "header.payload"; the legacy alg signed the payload part only.
   * A bad issuer key or signature length is a failed verification, as in Go. */
  if (v1)
    signed_p = d1 + 1, signed_n = (size_t) (d2 - d1 - 1);
  else
    signed_p = token, signed_n = (size_t) (d2 - token);
  if (sig.len != 64 || claims->iss == NULL
      || nkey_verify (claims->iss, signed_p, signed_n, (const uint8_t *) sig.data, NULL) < 0)
    {
      nxerr_set (err, 0, "claim failed V%d signature verification", v1 ? 1 : 2);
      goto fail;
    }
  memcpy (claims->sig, sig.data, 64);
  return 0;

fail:
  jwt_claims_free (claims);
  return -1;
}

void
jwt_claims_free (struct jwt_claims *c)
{
  if (c == NULL)
    return;
  free (c->aud);
  free (c->jti);
  free (c->iss);
  free (c->name);
  free (c->sub);
  free (c->hash);
  free (c->purpose);
  free (c->bind);
  memset (c, 0, sizeof *c);
}

bool
jwt_time_valid (const struct jwt_claims *c, int64_t now)
{
  if (c->exp > 0 && now > c->exp)
    return false;
  if (c->nbf > 0 && c->nbf > now)
    return false;
  return true;
}

static bool
nonempty (const char *s)
{
  return s != NULL && s[0] != '\0';
}

/* The standard claims in Go's field order, each omitted when empty/zero. */
static void
write_std_claims (struct jsonw *w, const struct jwt_claims *c, bool with_jti)
{
  if (nonempty (c->aud))
    jsonw_kstr (w, "aud", c->aud);
  if (c->exp != 0)
    jsonw_kint (w, "exp", c->exp);
  if (with_jti && nonempty (c->jti))
    jsonw_kstr (w, "jti", c->jti);
  if (c->iat != 0)
    jsonw_kint (w, "iat", c->iat);
  if (nonempty (c->iss))
    jsonw_kstr (w, "iss", c->iss);
  if (nonempty (c->name))
    jsonw_kstr (w, "name", c->name);
  if (c->nbf != 0)
    jsonw_kint (w, "nbf", c->nbf);
  if (nonempty (c->sub))
    jsonw_kstr (w, "sub", c->sub);
}

void
jwt_compute_jti (const struct jwt_claims *c, char out[53])
{
  cleanup_buf struct buf json = BUF_INIT;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  struct jsonw w;
  jsonw_init (&w, &json);
  jsonw_obj_begin (&w);
  write_std_claims (&w, c, false);
  jsonw_obj_end (&w);
  /* FIPS 180-4 SHA-512/256 (its own IV), not a truncated SHA-512. */
  if (EVP_Digest (json.data, json.len, md, &md_len, EVP_sha512_256 (), NULL) != 1 || md_len != 32)
    {
      /* Only a broken libcrypto gets here; there is no sane fallback. */
      fprintf (stderr, "jwt: SHA-512/256 unavailable in libcrypto\n");
      abort ();
    }
  nkey_base32_encode (md, 32, out, 53);
}

static void
write_payload (struct buf *out, const struct jwt_claims *c, const char *nats_json)
{
  struct jsonw w;
  jsonw_init (&w, out);
  jsonw_obj_begin (&w);
  write_std_claims (&w, c, true);
  jsonw_key (&w, "nats");
  if (nats_json)
    {
      jsonw_raw (&w, nats_json, strlen (nats_json));
      jsonw_obj_end (&w);
      return;
    }
  /* nats is a Go map: keys sorted, and a present hash is kept even if "". */
  jsonw_obj_begin (&w);
  if (c->hash != NULL)
    jsonw_kstr (&w, "hash", c->hash);
  if (nonempty (c->bind))
    jsonw_kstr (&w, "nexc_bind", c->bind);
  if (nonempty (c->purpose))
    jsonw_kstr (&w, "nexc_purpose", c->purpose);
  jsonw_kint (&w, "version", 2);
  jsonw_obj_end (&w);
  jsonw_obj_end (&w);
}

static int encode_with (struct jwt_claims *c, const char *nats_json,
                        const struct nkey_pair *signer, struct buf *out, struct nxerr *err);

int
jwt_encode (struct jwt_claims *c, const struct nkey_pair *signer, struct buf *out,
            struct nxerr *err)
{
  return encode_with (c, NULL, signer, out, err);
}

int
jwt_encode_nats (struct jwt_claims *c, const char *nats_json, const struct nkey_pair *signer,
                 struct buf *out, struct nxerr *err)
{
  return encode_with (c, nats_json, signer, out, err);
}

static int
encode_with (struct jwt_claims *c, const char *nats_json, const struct nkey_pair *signer,
             struct buf *out, struct nxerr *err)
{
  cleanup_buf struct buf tok = BUF_INIT;
  cleanup_buf struct buf payload = BUF_INIT;
  char jti[53];
  uint8_t sig[64];

  if (!nonempty (c->sub))
    return nxerr_set (err, 0, "subject is not set");
  if (signer->prefix == NKEY_CURVE || !nkey_prefix_is_public (signer->prefix))
    return nxerr_set (err, 0, "nkeys: curve key is not valid for sign/verify");

  free (c->iss);
  c->iss = xstrdup (signer->public_text);
  if (c->iat == 0)
    c->iat = (int64_t) time (NULL);
  jwt_compute_jti (c, jti);
  free (c->jti);
  c->jti = xstrdup (jti);
  c->version = 2;

  write_payload (&payload, c, nats_json);
  b64_encode (B64_URL_NOPAD, jwt_header_json, sizeof jwt_header_json - 1, &tok);
  buf_putc (&tok, '.');
  b64_encode (B64_URL_NOPAD, payload.data, payload.len, &tok);
  if (nkey_sign (signer, tok.data, tok.len, sig, err) < 0)
    return nxerr_wrap (err, "sign JWT");
  buf_putc (&tok, '.');
  b64_encode (B64_URL_NOPAD, sig, sizeof sig, &tok);
  if (tok.len > JWT_MAX_LEN)
    return nxerr_set (err, EMSGSIZE, "token would be larger than %d bytes", JWT_MAX_LEN);
  memcpy (c->sig, sig, sizeof sig);
  buf_append (out, tok.data, tok.len);
  return 0;
}
