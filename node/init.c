/* init: `nexc-node init --config FILE`, the step that turns an open node
 * into one that only runs what its operator signed.
 *
 * It makes an issuer key pair (an account nkey, as `nexc keygen issuer`),
 * writes the seed beside the config (0600, never over an existing file) and
 * names the public key in the config's valid_issuers. A missing config is
 * created with the secure settings the packaged one carries. The config is
 * written to a temporary file and renamed, 0600: it is the node's trust
 * anchor. The result is checked with the node's own loader before it
 * replaces anything, so init never leaves a config the node would refuse.
 * Idempotent: a config that already names an issuer is left alone. */
#include "node/init.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/nkeys.h"
#include "api/nxerr.h"
#include "api/xalloc.h"
#include "node/core/config.h"

#define EXIT_USAGE 2
#define EXIT_CONFIG 78

/* The settings of a config init creates: what dist/config.json holds. */
static json_t *
secure_template (void)
{
  return json_pack ("{s:s, s:b, s:b, s:b}", "sandbox", "process", "require_valid_issuers", 1,
                    "lameduck_requires_jwt", 1, "require_bound_tokens", 1);
}

static json_t *
load_or_new (const char *path, struct nxerr *err)
{
  json_error_t je;
  json_t *root;
  if (access (path, F_OK) != 0)
    return secure_template ();
  root = json_load_file (path, JSON_REJECT_DUPLICATES, &je);
  if (root == NULL)
    nxerr_set (err, EINVAL, "%s: line %d: %s", path, je.line, je.text);
  else if (!json_is_object (root))
    {
      json_decref (root);
      root = NULL;
      nxerr_set (err, EINVAL, "%s: not a JSON object", path);
    }
  return root;
}

/* The seed, 0600, created only if absent: an existing key is someone's. */
static int
write_seed (const char *path, const struct nkey_pair *kp, struct nxerr *err)
{
  char seed[NKEY_SEED_LEN + 1];
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ssize_t w;
  if (fd < 0)
    return nxerr_sys (err, errno, "create %s", path);
  nkey_pair_seed_text (kp, seed);
  seed[NKEY_SEED_LEN] = '\n';
  w = write (fd, seed, NKEY_SEED_LEN + 1);
  memset (seed, 0, sizeof seed);
  if (w != NKEY_SEED_LEN + 1 || fsync (fd) < 0)
    {
      int e = errno ? errno : EIO;
      close (fd);
      unlink (path);
      return nxerr_sys (err, e, "write %s", path);
    }
  return close (fd) < 0 ? nxerr_sys (err, errno, "close %s", path) : 0;
}

/* text checked by the node's loader, then put in place of path (0600). */
static int
write_config (const char *path, const char *text, struct nxerr *err)
{
  struct config cfg;
  char tmp[4096];
  size_t len = strlen (text);
  int fd;
  config_defaults (&cfg);
  if (config_parse (&cfg, text, len, err) < 0)
    {
      config_free (&cfg);
      return -1;
    }
  config_free (&cfg);
  if ((size_t) snprintf (tmp, sizeof tmp, "%s.init-%ld", path, (long) getpid ()) >= sizeof tmp)
    return nxerr_set (err, ENAMETOOLONG, "config path too long");
  fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return nxerr_sys (err, errno, "create %s", tmp);
  if (write (fd, text, len) != (ssize_t) len || write (fd, "\n", 1) != 1 || fsync (fd) < 0)
    {
      int e = errno ? errno : EIO;
      close (fd);
      unlink (tmp);
      return nxerr_sys (err, e, "write %s", tmp);
    }
  close (fd);
  if (rename (tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      return nxerr_sys (err, e, "rename %s to %s", tmp, path);
    }
  return 0;
}

static char *
default_seed_path (const char *config_path)
{
  char *copy = xstrdup (config_path);
  char *out = NULL;
  if (asprintf (&out, "%s/issuer.nk", dirname (copy)) < 0)
    abort ();
  free (copy);
  return out;
}

/* Names kp in root's valid_issuers and writes both files. */
static int
init_files (json_t *root, const char *config_path, const char *seed_path,
            const struct nkey_pair *kp, struct nxerr *err)
{
  char *text;
  int rc;
  json_t *list = json_object_get (root, "valid_issuers");
  if (list == NULL)
    json_object_set_new (root, "valid_issuers", list = json_array ());
  if (!json_is_array (list))
    return nxerr_set (err, EINVAL, "%s: valid_issuers is not an array", config_path);
  json_array_append_new (list, json_string (kp->public_text));
  text = json_dumps (root, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  if (write_seed (seed_path, kp, err) < 0)
    {
      free (text);
      return -1;
    }
  rc = write_config (config_path, text, err);
  free (text);
  if (rc < 0)
    unlink (seed_path); /* no config names it: the key would only mislead */
  return rc;
}

int
init_main (int argc, char **argv)
{
  static const struct option longopts[] = { { "config", required_argument, NULL, 'c' },
                                            { "seed-out", required_argument, NULL, 'o' },
                                            { "help", no_argument, NULL, 'h' },
                                            { NULL, 0, NULL, 0 } };
  const char *config_path = NULL, *seed_opt = NULL;
  struct nxerr err = { 0 };
  struct nkey_pair kp;
  char *seed_path;
  json_t *root, *list;
  int c, rc;
  while ((c = getopt_long (argc, argv, "c:h", longopts, NULL)) != -1)
    switch (c)
      {
      case 'c': config_path = optarg; break;
      case 'o': seed_opt = optarg; break;
      case 'h':
        printf ("usage: nexc-node init --config FILE [--seed-out FILE]\n");
        return 0;
      default: return EXIT_USAGE;
      }
  if (config_path == NULL)
    {
      fprintf (stderr, "nexc-node: init: --config FILE is required\n");
      return EXIT_USAGE;
    }
  if ((root = load_or_new (config_path, &err)) == NULL)
    {
      fprintf (stderr, "nexc-node: init: %s\n", err.msg);
      return EXIT_CONFIG;
    }
  list = json_object_get (root, "valid_issuers");
  if (json_is_array (list) && json_array_size (list) > 0)
    {
      printf ("%s already names %zu issuer(s) in valid_issuers: nothing to do\n", config_path,
              json_array_size (list));
      json_decref (root);
      return 0;
    }
  if (nkey_pair_generate (NKEY_ACCOUNT, &kp, &err) < 0)
    {
      fprintf (stderr, "nexc-node: init: %s\n", err.msg);
      json_decref (root);
      return 1;
    }
  seed_path = seed_opt ? xstrdup (seed_opt) : default_seed_path (config_path);
  rc = init_files (root, config_path, seed_path, &kp, &err);
  json_decref (root);
  if (rc < 0)
    fprintf (stderr, "nexc-node: init: %s\n", err.msg);
  else
    printf ("issuer %s\n  seed:   %s (0600; sign with `nexc run --issuer %s ...`)\n"
            "  config: %s (0600; valid_issuers names it)\n",
            kp.public_text, seed_path, seed_path, config_path);
  nkey_pair_wipe (&kp);
  free (seed_path);
  return rc < 0 ? EXIT_CONFIG : 0;
}
