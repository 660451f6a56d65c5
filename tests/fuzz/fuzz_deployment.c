/* fuzz_deployment: what the deployments KV buckets hold, as any client that
 * can write them may put it (api/deployment.c): a stored spec value (JSON
 * with the spec and its JWT), a bare spec, a claim value.
 *
 * The first byte picks which. Each is decoded or refused with a message,
 * never a crash. A spec that decodes encodes canonically, and the canonical
 * form decodes to a spec with the same digest (one meaning per text); a
 * claim that decodes encodes back to a claim that decodes the same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/buf.h"
#include "api/deployment.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
spec_round_trip (const char *in, size_t n)
{
  struct deployment_spec *s = NULL, *t = NULL;
  struct nxerr err = { 0 };
  struct buf a = BUF_INIT;
  char d1[65], d2[65];
  if (deployment_spec_decode (in, n, &s, &err) < 0)
    {
      if (s != NULL || err.msg[0] == '\0')
        abort ();
      return;
    }
  deployment_spec_encode (s, &a);
  if (deployment_spec_decode (a.data, a.len, &t, &err) < 0)
    {
      fprintf (stderr, "nexc-fuzz: canonical spec refused: %s: %.*s\n", err.msg, (int) a.len,
               a.data);
      abort ();
    }
  deployment_digest (s, d1);
  deployment_digest (t, d2);
  if (strcmp (d1, d2) != 0)
    {
      fprintf (stderr, "nexc-fuzz: digest changed through the canonical form: %.*s\n",
               (int) a.len, a.data);
      abort ();
    }
  deployment_spec_free (s);
  deployment_spec_free (t);
  buf_free (&a);
}

static void
claim_round_trip (const char *in, size_t n)
{
  struct deployment_claim c, d;
  struct nxerr err = { 0 };
  struct buf a = BUF_INIT;
  memset (&c, 0, sizeof c);
  memset (&d, 0, sizeof d);
  if (deployment_claim_decode (in, n, &c, &err) < 0)
    {
      deployment_claim_free (&c);
      return;
    }
  deployment_claim_encode (&c, &a);
  if (deployment_claim_decode (a.data, a.len, &d, &err) < 0 || strcmp (c.node, d.node) != 0
      || c.expires_ms != d.expires_ms || strcmp (c.template, d.template) != 0
      || c.running != d.running || c.failed != d.failed || c.n_tags != d.n_tags)
    {
      fprintf (stderr, "nexc-fuzz: claim changed through its encoding: %.*s\n", (int) a.len,
               a.data);
      abort ();
    }
  deployment_claim_free (&c);
  deployment_claim_free (&d);
  buf_free (&a);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct deployment_spec *s = NULL;
  struct nxerr err = { 0 };
  char issuer[NKEY_PUBLIC_LEN + 1];
  const char *in = (const char *) data + 1;
  size_t n;
  if (size < 1)
    return 0;
  n = size - 1;
  switch (data[0] % 3)
    {
    case 0:
      if (deployment_open (in, n, "default.web", &s, issuer, &err) == 0)
        deployment_spec_free (s);
      else if (s != NULL)
        abort ();
      break;
    case 1:
      spec_round_trip (in, n);
      break;
    default:
      claim_round_trip (in, n);
      break;
    }
  return 0;
}
