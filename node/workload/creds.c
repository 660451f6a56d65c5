/* creds: per-workload NATS users (creds.h). */
#include "node/workload/creds.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/log.h"
#include "api/natsjwt.h"
#include "api/nkeys.h"
#include "api/xalloc.h"
#include "node/core/node.h"
#include "node/workload/env.h"
#include "node/workload/workload.h"

struct creds {
  struct nkey_pair signer; /* the account key or one of its signing keys */
  bool signing_key;        /* signer is not the account itself: issuer_account */
};

/* Never a workload's: the control plane, the server, JetStream's API (the
 * node's object store lives in the same account). */
static const char *const denied_both[] = { "$NEX.>", "$SYS.>", "$JS.>", NULL };

bool
creds_enabled (const struct node *n)
{
  return n->creds != NULL;
}

/* A secret in a file others can read is no secret: refused like a config
 * with secrets. */
static int
read_key_file (const char *path, char seed[128], struct nxerr *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  ssize_t r;
  if (fd < 0)
    return nxerr_sys (err, errno, "workload_creds.signing_key_file %s", path);
  if (fstat (fd, &st) < 0)
    return nxerr_sys (err, errno, "workload_creds.signing_key_file %s", path);
  if (!S_ISREG (st.st_mode))
    return nxerr_set (err, EINVAL, "workload_creds.signing_key_file %s: not a regular file", path);
  if (st.st_mode & 077)
    return nxerr_set (err, EPERM,
                      "workload_creds.signing_key_file %s is readable by group or others "
                      "(mode %04o): chmod 600 it",
                      path, (unsigned) (st.st_mode & 07777));
  r = read (fd, seed, 127);
  if (r < 0)
    return nxerr_sys (err, errno, "read %s", path);
  seed[r] = '\0';
  seed[strcspn (seed, "\r\n ")] = '\0';
  return 0;
}

int
creds_open (struct node *n, struct nxerr *err)
{
  char seed[128] = "";
  struct creds *c;
  int rc;
  if (n->cfg.wcreds_account == NULL)
    return 0;
  c = xcalloc (1, sizeof *c);
  rc = read_key_file (n->cfg.wcreds_key_file, seed, err);
  if (rc == 0)
    rc = nkey_pair_from_seed (seed, &c->signer, err);
  sodium_memzero (seed, sizeof seed);
  if (rc == 0 && c->signer.prefix != NKEY_ACCOUNT)
    rc = nxerr_set (err, EINVAL, "not an account seed (SA…)");
  if (rc < 0)
    {
      nkey_pair_wipe (&c->signer);
      free (c);
      return nxerr_wrap (err, "workload_creds.signing_key_file %s", n->cfg.wcreds_key_file);
    }
  c->signing_key = strcmp (c->signer.public_text, n->cfg.wcreds_account) != 0;
  n->creds = c;
  log_info ("workload credentials on: each workload gets its own NATS user of account %s "
            "(signed by %s)",
            n->cfg.wcreds_account, c->signer.public_text);
  return 0;
}

void
creds_close (struct node *n)
{
  if (n->creds == NULL)
    return;
  nkey_pair_wipe (&n->creds->signer);
  free (n->creds);
  n->creds = NULL;
}

/* list (n entries) then extra, NULL-terminated; pointers borrowed. */
static const char **
with_extra (char **list, size_t n, const char *extra)
{
  const char **v = xcalloc (n + 2, sizeof *v);
  for (size_t i = 0; i < n; i++)
    v[i] = list[i];
  v[n] = extra;
  return v;
}

static int
mint (struct workload *w, const char *inbox, struct buf *jwt, char seed[NKEY_SEED_LEN + 1],
      struct nxerr *err)
{
  struct node *n = w->node;
  static const struct deploy_nats none;
  const struct deploy_nats *nt = w->req ? &w->req->nats : &none;
  static const char *const sub_deny[] = { "$NEX.>", "$SYS.>", "$JS.>", "_INBOX.>", NULL };
  struct nkey_pair user;
  char own[sizeof CREDS_INBOX_PREFIX + WORKLOAD_ID_LEN + 4];
  cleanup_free const char **pub_allow = NULL;
  cleanup_free const char **sub_allow = NULL;
  char name[300];
  int rc;
  snprintf (own, sizeof own, "%s.>", inbox);
  /* The own inbox is always allowed: an allow list that is absent would
   * mean everything. */
  pub_allow = with_extra (nt->publish, nt->n_publish, own);
  sub_allow = with_extra (nt->subscribe, nt->n_subscribe, own);
  if (nkey_pair_generate (NKEY_USER, &user, err) < 0)
    return -1;
  snprintf (name, sizeof name, "%.200s/%s", w->name, w->id);
  struct natsjwt_user u = {
    .user_public = user.public_text,
    .name = name,
    .issuer_account = n->creds->signing_key ? n->cfg.wcreds_account : NULL,
    .exp = n->cfg.wcreds_ttl_s ? (int64_t) time (NULL) + n->cfg.wcreds_ttl_s : 0,
    .pub = { .allow = pub_allow, .deny = denied_both },
    .sub = { .allow = sub_allow, .deny = sub_deny },
    .resp_max = CREDS_RESP_MAX,
    .resp_ttl_ms = CREDS_RESP_TTL_MS,
  };
  rc = natsjwt_user_encode (&u, &n->creds->signer, jwt, err);
  if (rc == 0)
    nkey_pair_seed_text (&user, seed);
  nkey_pair_wipe (&user);
  return rc;
}

/* O_EXCL after an unlink, no symlink followed: the directory belongs to the
 * workload's uid. */
static int
write_file (const char *path, uid_t uid, const struct buf *text, struct nxerr *err)
{
  cleanup_close int fd = -1;
  size_t off = 0;
  if (unlink (path) < 0 && errno != ENOENT)
    return nxerr_sys (err, errno, "unlink %s", path);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return nxerr_sys (err, errno, "create %s", path);
  if (fchown (fd, uid, uid) < 0)
    return nxerr_sys (err, errno, "chown %s", path);
  while (off < text->len)
    {
      ssize_t r = write (fd, text->data + off, text->len - off);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return nxerr_sys (err, errno, "write %s", path);
      off += (size_t) r;
    }
  return 0;
}

static int
file_path (struct workload *w, const char *dir, char *out, size_t cap, struct nxerr *err)
{
  int len;
  if (dir)
    len = snprintf (out, cap, "%s/%s", dir, CREDS_FILE_NAME);
  else
    {
      char d[PATH_MAX];
      snprintf (d, sizeof d, "%s/creds", w->node->cfg.state_dir);
      if (mkdir (d, 0700) < 0 && errno != EEXIST)
        return nxerr_sys (err, errno, "mkdir %s", d);
      len = snprintf (out, cap, "%s/%s.creds", d, w->id);
    }
  if (len < 0 || (size_t) len >= cap)
    return nxerr_set (err, ENAMETOOLONG, "creds file path too long");
  return 0;
}

int
creds_issue (struct workload *w, const char *dir, uid_t uid, struct env *env,
             struct nxerr *err)
{
  cleanup_buf struct buf jwt = BUF_INIT;
  struct buf text = BUF_INIT;
  char seed[NKEY_SEED_LEN + 1];
  char inbox[sizeof CREDS_INBOX_PREFIX + WORKLOAD_ID_LEN];
  char path[PATH_MAX];
  int rc;
  if (w->node->creds == NULL)
    return 0;
  creds_remove (w);
  snprintf (inbox, sizeof inbox, "%s%s", CREDS_INBOX_PREFIX, w->id);
  if (file_path (w, dir, path, sizeof path, err) < 0 || mint (w, inbox, &jwt, seed, err) < 0)
    return nxerr_wrap (err, "workload credentials");
  natsjwt_creds_text (jwt.data, seed, &text);
  sodium_memzero (seed, sizeof seed);
  rc = write_file (path, uid, &text, err);
  sodium_memzero (text.data, text.len);
  buf_free (&text);
  if (rc < 0)
    {
      unlink (path);
      return nxerr_wrap (err, "workload credentials");
    }
  w->creds_path = xstrdup (path);
  env_add (env, "NATS_CREDS", path);
  env_add (env, "NATS_INBOX_PREFIX", inbox);
  return 0;
}

void
creds_adopt (struct workload *w)
{
  char path[PATH_MAX];
  struct stat st;
  int len = snprintf (path, sizeof path, "%s/creds/%s.creds", w->node->cfg.state_dir, w->id);
  if (len < 0 || (size_t) len >= sizeof path || lstat (path, &st) < 0 || !S_ISREG (st.st_mode))
    return;
  free (w->creds_path);
  w->creds_path = xstrdup (path);
}

void
creds_remove (struct workload *w)
{
  if (w->creds_path == NULL)
    return;
  if (unlink (w->creds_path) < 0 && errno != ENOENT)
    log_warn ("workload %s: remove %s: %s", w->id, w->creds_path, strerror (errno));
  free (w->creds_path);
  w->creds_path = NULL;
}
