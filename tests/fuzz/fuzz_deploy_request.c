/* fuzz_deploy_request: the DEPLOY payload decoder (api/deploy_request.c), the
 * first code that touches a request from any NATS client.
 *
 * Beyond "no crash, no leak": a request that decodes must survive the Go
 * client's encoding (deploy_request_encode) and decode again to the same
 * fields, so what the node stores is what a client meant to send.
 *
 * KNOWN FINDING (reported, not fixed here): the string form of location
 * ("scheme://host/key") is not bounded, while the object form refuses any
 * part over 4096 bytes, and deploy_request_encode cuts a key over 4198
 * bytes (path[4200]); such a request decodes, but its encoding does not.
 * Crash inputs: tests/fuzz/crashes/deploy_request/location-string-*. Until
 * the decoder bounds the string form too, the round trip is skipped for
 * location parts over 4096 bytes (NEXC_FUZZ_STRICT_LOCATION=1 checks them). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/buf.h"
#include "api/deploy_request.h"

#ifndef NEXC_FUZZ_STRICT_LOCATION
#define NEXC_FUZZ_STRICT_LOCATION 1 /* fixed: checked again */
#endif

static bool
too_long (const char *s)
{
  return s != NULL && strlen (s) > 4096;
}

static void
same_str (const char *what, const char *a, const char *b)
{
  if ((a == NULL) != (b == NULL) || (a && strcmp (a, b) != 0))
    {
      fprintf (stderr, "nexc-fuzz: round trip changed %s: \"%.200s\" -> \"%.200s\"\n", what,
               a ? a : "(null)", b ? b : "(null)");
      abort ();
    }
}

static void
same_strv (const char *what, char **a, size_t na, char **b, size_t nb)
{
  if (na != nb)
    {
      fprintf (stderr, "nexc-fuzz: round trip changed the length of %s: %zu -> %zu\n", what, na,
               nb);
      abort ();
    }
  for (size_t i = 0; i < na; i++)
    same_str (what, a[i], b[i]);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct deploy_request *r = NULL, *again = NULL;
  struct nxerr err = { 0 };
  struct buf enc = BUF_INIT;

  if (deploy_request_decode ((const char *) data, size, &r, &err) < 0)
    {
      if (r != NULL || err.msg[0] == '\0')
        abort (); /* a failure must say why and hand nothing out */
      return 0;
    }
  if (!NEXC_FUZZ_STRICT_LOCATION
      && (too_long (r->location_scheme) || too_long (r->location_bucket)
          || too_long (r->location_key)))
    {
      deploy_request_free (r);
      return 0;
    }
  deploy_request_encode (r, &enc);
  if (deploy_request_decode (enc.data, enc.len, &again, &err) < 0)
    {
      fprintf (stderr, "nexc-fuzz: encoded request does not decode: %s\n%.400s\n", err.msg,
               enc.data);
      abort ();
    }
  same_str ("type", r->type, again->type);
  same_str ("description", r->description, again->description);
  same_str ("location_bucket", r->location_bucket, again->location_bucket);
  same_str ("location_key", r->location_key, again->location_key);
  same_str ("workload_jwt", r->workload_jwt, again->workload_jwt);
  same_str ("environment", r->environment, again->environment);
  same_str ("jsdomain", r->jsdomain, again->jsdomain);
  same_str ("sender_public_key", r->sender_public_key, again->sender_public_key);
  same_str ("target_node", r->target_node, again->target_node);
  same_str ("retried_at", r->retried_at, again->retried_at);
  same_strv ("argv", r->argv, r->argc, again->argv, again->argc);
  same_strv ("trigger_subjects", r->trigger_subjects, r->n_triggers, again->trigger_subjects,
             again->n_triggers);
  if (r->essential != again->essential || r->retry_count != again->retry_count
      || r->resources.memory_mib != again->resources.memory_mib
      || r->resources.vcpus_milli != again->resources.vcpus_milli
      || r->resources.pids != again->resources.pids)
    abort ();
  deploy_request_free (again);
  deploy_request_free (r);
  buf_free (&enc);
  return 0;
}
