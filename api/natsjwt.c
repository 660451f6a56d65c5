/* natsjwt: the "nats" claim of user, account and operator JWTs (natsjwt.h).
 * Field names are those nats-server reads (NATS JWT v2); only what a node
 * needs is written. */
#include "api/natsjwt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/jsonw.h"
#include "api/jwt.h"

static void
write_list (struct jsonw *w, const char *key, const char *const *v)
{
  if (v == NULL || v[0] == NULL)
    return; /* the server reads an absent list as "no rule", never as "nothing" */
  jsonw_key (w, key);
  jsonw_arr_begin (w);
  for (; *v; v++)
    jsonw_str (w, *v);
  jsonw_arr_end (w);
}

static void
write_perm (struct jsonw *w, const char *key, const struct natsjwt_perm *p)
{
  jsonw_key (w, key);
  jsonw_obj_begin (w);
  write_list (w, "allow", p->allow);
  write_list (w, "deny", p->deny);
  jsonw_obj_end (w);
}

static void
write_unlimited (struct jsonw *w)
{
  jsonw_kint (w, "subs", -1);
  jsonw_kint (w, "data", -1);
  jsonw_kint (w, "payload", -1);
}

/* Sign claims c (sub set) with nats as the nats claim. */
static int
sign (const char *sub, const char *name, int64_t exp, const struct buf *nats,
      const struct nkey_pair *signer, struct buf *out, struct nxerr *err)
{
  struct jwt_claims c;
  int rc;
  memset (&c, 0, sizeof c);
  c.sub = (char *) sub;
  c.name = (char *) name;
  c.exp = exp;
  rc = jwt_encode_nats (&c, nats->data, signer, out, err);
  /* jwt_encode_nats set jti and iss (owned); sub and name are borrowed. */
  free (c.jti);
  free (c.iss);
  return rc;
}

int
natsjwt_user_encode (const struct natsjwt_user *u, const struct nkey_pair *signer,
                     struct buf *out, struct nxerr *err)
{
  cleanup_buf struct buf nats = BUF_INIT;
  struct jsonw w;
  if (signer->prefix != NKEY_ACCOUNT)
    return nxerr_set (err, EINVAL, "a user JWT is signed by an account key (SA…)");
  if (!nkey_is_valid_public (u->user_public, NKEY_USER))
    return nxerr_set (err, EINVAL, "the user key is not a public user nkey (U…)");
  jsonw_init (&w, &nats);
  jsonw_obj_begin (&w);
  write_perm (&w, "pub", &u->pub);
  write_perm (&w, "sub", &u->sub);
  if (u->resp_max > 0)
    {
      jsonw_key (&w, "resp");
      jsonw_obj_begin (&w);
      jsonw_kint (&w, "max", u->resp_max);
      jsonw_kint (&w, "ttl", u->resp_ttl_ms * 1000000); /* Go's time.Duration: ns */
      jsonw_obj_end (&w);
    }
  write_unlimited (&w);
  if (u->issuer_account)
    jsonw_kstr (&w, "issuer_account", u->issuer_account);
  jsonw_kstr (&w, "type", "user");
  jsonw_kint (&w, "version", 2);
  jsonw_obj_end (&w);
  return sign (u->user_public, u->name, u->exp, &nats, signer, out, err);
}

int
natsjwt_account_encode (const char *name, const char *account_public,
                        const char *const *signing_keys, bool jetstream,
                        const struct nkey_pair *operator_key, struct buf *out, struct nxerr *err)
{
  cleanup_buf struct buf nats = BUF_INIT;
  struct jsonw w;
  jsonw_init (&w, &nats);
  jsonw_obj_begin (&w);
  jsonw_key (&w, "limits");
  jsonw_obj_begin (&w);
  write_unlimited (&w);
  jsonw_kint (&w, "imports", -1);
  jsonw_kint (&w, "exports", -1);
  jsonw_kbool (&w, "wildcards", true);
  jsonw_kint (&w, "conn", -1);
  jsonw_kint (&w, "leaf", -1);
  if (jetstream)
    {
      jsonw_kint (&w, "mem_storage", -1);
      jsonw_kint (&w, "disk_storage", -1);
      jsonw_kint (&w, "streams", -1);
      jsonw_kint (&w, "consumer", -1);
    }
  jsonw_obj_end (&w);
  write_list (&w, "signing_keys", signing_keys);
  jsonw_kstr (&w, "type", "account");
  jsonw_kint (&w, "version", 2);
  jsonw_obj_end (&w);
  return sign (account_public, name, 0, &nats, operator_key, out, err);
}

int
natsjwt_operator_encode (const char *name, const char *system_account,
                         const struct nkey_pair *operator_key, struct buf *out, struct nxerr *err)
{
  cleanup_buf struct buf nats = BUF_INIT;
  struct jsonw w;
  jsonw_init (&w, &nats);
  jsonw_obj_begin (&w);
  if (system_account)
    jsonw_kstr (&w, "system_account", system_account);
  jsonw_kstr (&w, "type", "operator");
  jsonw_kint (&w, "version", 2);
  jsonw_obj_end (&w);
  return sign (operator_key->public_text, name, 0, &nats, operator_key, out, err);
}

void
natsjwt_creds_text (const char *jwt, const char *seed, struct buf *out)
{
  buf_printf (out,
              "-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------\n\n"
              "Minted by nexc-node for one workload run; the seed below is its secret.\n\n"
              "-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED------\n",
              jwt, seed);
}
