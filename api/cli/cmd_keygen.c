/* cmd_keygen: keygen, and the issuer key file that run and stop sign with
 * (~/.nexc/issuer.nk unless --issuer names one). */
#include "api/cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/nkeys.h"

static int
default_issuer_path (char *out, size_t cap)
{
  const char *home = getenv ("HOME");
  snprintf (out, cap, "%s/.nexc", home ? home : ".");
  mkdir (out, 0700);
  snprintf (out, cap, "%s/.nexc/issuer.nk", home ? home : ".");
  return 0;
}

static int
write_seed_file (const char *path, const char *seed, struct nxerr *err)
{
  FILE *f;
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return nxerr_sys (err, errno, "create %s", path);
  f = fdopen (fd, "w");
  fprintf (f, "%s\n", seed);
  fclose (f);
  return 0;
}

int
cli_load_issuer (const char *path, struct nkey_pair *kp, bool create, struct nxerr *err)
{
  char def[4096];
  if (path == NULL)
    {
      default_issuer_path (def, sizeof def);
      path = def;
      if (create && access (path, F_OK) != 0)
        {
          char s[NKEY_SEED_LEN + 1];
          if (nkey_pair_generate (NKEY_ACCOUNT, kp, err) < 0)
            return -1;
          nkey_pair_seed_text (kp, s);
          if (write_seed_file (path, s, err) < 0)
            return -1;
          memset (s, 0, sizeof s);
          fprintf (stderr, "nexc: created issuer key %s (public %s)\n", path, kp->public_text);
          return 0;
        }
    }
  return nkey_pair_from_file (path, kp, err);
}

int
cmd_keygen (struct opts *o, int argc, char **argv)
{
  struct nkey_pair kp;
  struct nxerr err = { 0 };
  char seed[NKEY_SEED_LEN + 1];
  uint8_t prefix;
  if (argc < 1)
    return cli_usage_error ("keygen: issuer or xkey%s", "");
  if (strcmp (argv[0], "issuer") == 0)
    prefix = NKEY_ACCOUNT;
  else if (strcmp (argv[0], "xkey") == 0)
    prefix = NKEY_CURVE;
  else
    return cli_usage_error ("keygen: unknown key kind \"%s\" (issuer or xkey)", argv[0]);
  if (nkey_pair_generate (prefix, &kp, &err) < 0)
    return cli_fail (&err);
  nkey_pair_seed_text (&kp, seed);
  if (o->out)
    {
      if (write_seed_file (o->out, seed, &err) < 0)
        return cli_fail (&err);
    }
  else
    printf ("%s\n", seed);
  fprintf (stderr, "%s\n", kp.public_text);
  memset (seed, 0, sizeof seed);
  nkey_pair_wipe (&kp);
  return 0;
}
