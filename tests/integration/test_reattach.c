/* Surviving a node restart (issue 7), on real processes: workloads keep
 * running while the node is SIGKILLed, a node started again on the same
 * state dir reattaches to their agents (WPING, logs, STOP, exactly one
 * workload_stopped each), reports those that ended or lost their agent
 * meanwhile, moves a corrupt journal aside, cleans orphan agent sockets, and
 * says how long reattaching took. Tier none, then (when its preflight
 * passes) tier process. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/nexc.h"
#include "api/objstore.h"
#include "harness.h"

#define MAX_IDS 64

struct fixture {
  struct harness h;
  natsConnection *nc;
  struct nexc_client *c;
  natsSubscription *events;
  natsSubscription *logs;
  struct nkey_pair issuer, sender;
  char config[2048];
  char hex[65];
  bool process_tier;
  /* every event seen, counted per workload id */
  char ids[MAX_IDS][32];
  int started[MAX_IDS], stopped[MAX_IDS];
  char stop_msg[MAX_IDS][256];
  int n_ids;
};

static json_t *
parse (const char *s, int len)
{
  json_error_t e;
  json_t *j = json_loadb (s, (size_t) len, 0, &e);
  if (j == NULL)
    fail_msg ("not JSON: %.*s", len, s);
  return j;
}

static int
slot (struct fixture *f, const char *id)
{
  for (int i = 0; i < f->n_ids; i++)
    if (strcmp (f->ids[i], id) == 0)
      return i;
  assert_true (f->n_ids < MAX_IDS);
  snprintf (f->ids[f->n_ids], sizeof f->ids[0], "%s", id);
  return f->n_ids++;
}

/* Read events for ms, counting them. */
static void
pump (struct fixture *f, int ms)
{
  for (int waited = 0; waited < ms;)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, f->events, 20) != NATS_OK)
        {
          waited += 20;
          continue;
        }
      json_t *j = parse (natsMsg_GetData (m), natsMsg_GetDataLength (m));
      natsMsg_Destroy (m);
      const char *type = json_string_value (json_object_get (j, "type"));
      const char *src = json_string_value (json_object_get (j, "source"));
      if (type && src && strcmp (type, "workload_started") == 0)
        f->started[slot (f, src)]++;
      else if (type && src && strcmp (type, "workload_stopped") == 0)
        {
          int k = slot (f, src);
          const char *msg
              = json_string_value (json_object_get (json_object_get (j, "data"), "message"));
          f->stopped[k]++;
          snprintf (f->stop_msg[k], sizeof f->stop_msg[k], "%s", msg ? msg : "");
        }
      json_decref (j);
    }
}

static int
stopped_count (struct fixture *f, const char *id)
{
  return f->stopped[slot (f, id)];
}

/* Pump until id has n workload_stopped events, or fail. */
static void
wait_stopped (struct fixture *f, const char *id, int n, int timeout_ms)
{
  for (int waited = 0; waited < timeout_ms && stopped_count (f, id) < n; waited += 100)
    pump (f, 100);
  if (stopped_count (f, id) < n)
    {
      harness_dump_node_log (&f->h);
      fail_msg ("workload %s: %d workload_stopped, expected %d", id, stopped_count (f, id), n);
    }
}

static int
fixture_setup (void **state, bool process_tier)
{
  struct fixture *f = calloc (1, sizeof *f);
  struct nxerr err = { 0 };
  f->process_tier = process_tier;
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &f->issuer, &err), 0);
  assert_int_equal (nkey_pair_generate (NKEY_CURVE, &f->sender, &err), 0);
  snprintf (f->config, sizeof f->config,
            "{\"machine_pool_size\":2,\"sandbox\":\"%s\",\"stop_grace_ms\":500,"
            "\"uid_range\":{\"start\":%d,\"count\":1024},"
            "\"valid_issuers\":[\"%s\"]}",
            process_tier ? "process" : "none",
            /* a range of its own: tests run in parallel */
            400000 + (int) (getpid () % 64) * 1024, f->issuer.public_text);
  harness_start_nats (&f->h);
  harness_client (&f->h, &f->nc, &f->c, &f->events, &f->logs);
  natsSubscription_SetPendingLimits (f->events, -1, -1);
  harness_start_node (&f->h, f->config, NULL);
  harness_upload (f->nc, "NEXCLIFILES", "ticker", harness_bin ("examples/ticker"), f->hex);
  *state = f;
  return 0;
}

static int
setup_none (void **state)
{
  return fixture_setup (state, false);
}

static int
setup_process (void **state)
{
  return fixture_setup (state, true);
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  /* A test that failed between a SIGKILL of the node and its restart left
   * agents running detached, which only a node can find (their sockets and
   * the journal are in its state dir): one is started on it, takes them
   * back and, SIGTERMed, stops them. SIGTERM: the node stops what runs,
   * nothing is left behind. */
  if (f->h.node_pid <= 0)
    harness_start_node (&f->h, f->config, NULL);
  if (f->h.node_pid > 0)
    harness_stop_node (&f->h, SIGTERM);
  natsSubscription_Destroy (f->events);
  natsSubscription_Destroy (f->logs);
  nexc_client_free (f->c);
  natsConnection_Destroy (f->nc);
  harness_stop_all (&f->h);
  free (f);
  return 0;
}

/* Workload names carry our pid: another run of this test may be going on. */
static const char *
nm (const char *base)
{
  static char buf[8][64];
  static int k;
  k = (k + 1) % 8;
  snprintf (buf[k], sizeof buf[k], "%s-%d", base, (int) getpid ());
  return buf[k];
}

static char *
deploy (struct fixture *f, const char *name, const char *const *env)
{
  struct nexc_deploy_opts o = { 0 };
  struct nxerr err = { 0 };
  char *payload = NULL, subj[128];
  o.node_id = f->h.node_id;
  o.name = name;
  o.key = "ticker";
  o.env = env;
  o.issuer = &f->issuer;
  o.sender = &f->sender;
  if (nexc_deploy_payload (f->c, &o, f->h.node_xkey, f->hex, &payload, &err) < 0)
    fail_msg ("payload: %s", err.msg);
  snprintf (subj, sizeof subj, "$NEX.DEPLOY.default.%s", f->h.node_id);
  char *r = harness_request (f->nc, subj, payload, strlen (payload), 10000);
  free (payload);
  if (r == NULL)
    fail_msg ("no reply to deploy of %s", name);
  json_t *j = parse (r, (int) strlen (r));
  free (r);
  json_t *data = json_object_get (j, "data");
  if (!json_is_true (json_object_get (data, "started")))
    fail_msg ("deploy of %s refused: %s", name,
              json_string_value (json_object_get (j, "error")));
  char *id = strdup (json_string_value (json_object_get (data, "id")));
  json_decref (j);
  return id;
}

static void
stop (struct fixture *f, const char *id, const char *name)
{
  struct nxerr err = { 0 };
  if (nexc_stop (f->c, f->h.node_id, id, name, &f->issuer, &err) < 0)
    {
      harness_dump_node_log (&f->h);
      fail_msg ("stop %s: %s", id, err.msg);
    }
}

static bool
wping_lists (struct fixture *f, const char *name, const char *id)
{
  char subj[128];
  snprintf (subj, sizeof subj, "$NEX.WPING.default.%s", name);
  char *r = harness_request (f->nc, subj, "", 0, 2000);
  bool ok = r && strstr (r, id);
  free (r);
  return ok;
}

static bool
alive (pid_t pid)
{
  char p[64], line[256];
  bool ok = false;
  snprintf (p, sizeof p, "/proc/%d/status", (int) pid);
  FILE *fp = fopen (p, "r");
  while (fp && fgets (line, sizeof line, fp))
    if (strncmp (line, "State:", 6) == 0)
      ok = strchr (line, 'Z') == NULL && strchr (line, 'X') == NULL;
  if (fp)
    fclose (fp);
  return ok;
}

/* The tick numbers of workload id's log lines (the stderr line of every
 * fifth tick counts: checks look at multiples of 5) received within ms, as a
 * bitmap up to 4096; returns how many lines came. */
static int
collect_ticks (struct fixture *f, const char *id, unsigned char *seen, int *max, int ms)
{
  int n = 0;
  for (int waited = 0; waited < ms;)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, f->logs, 50) != NATS_OK)
        {
          waited += 50;
          continue;
        }
      const char *subj = natsMsg_GetSubject (m);
      if (getenv ("REATTACH_DEBUG"))
        fprintf (stderr, "log %s: %.*s\n", subj, natsMsg_GetDataLength (m), natsMsg_GetData (m));
      if (strstr (subj, id))
        {
          json_t *j = parse (natsMsg_GetData (m), natsMsg_GetDataLength (m));
          const char *text = json_string_value (json_object_get (j, "text"));
          /* "tick N" on stdout, "warning N" on stderr every 5th tick */
          const char *num = text && strncmp (text, "tick ", 5) == 0      ? text + 5
                            : text && strncmp (text, "warning ", 8) == 0 ? text + 8
                                                                          : NULL;
          if (num)
            {
              int t = atoi (num);
              if (t > 0 && t < 4096)
                {
                  seen[t] = 1;
                  if (t > *max)
                    *max = t;
                }
              n++;
            }
          json_decref (j);
        }
      natsMsg_Destroy (m);
    }
  return n;
}

static bool
log_has (struct fixture *f, const char *needle)
{
  return harness_node_log_has (&f->h, needle);
}

/* ---- tests ---- */

static void
test_survive_sigkill (void **state)
{
  struct fixture *f = *state;
  const char *fast[] = { "TICK_MS=50", NULL };
  const char *slow[] = { "TICK_MS=300", NULL };
  const char *brief[] = { "TICK_MS=100", NULL };
  unsigned char seen[4096] = { 0 };
  int max = 0, first_after = 0;
  char *a = deploy (f, nm ("tick-a"), fast);
  char *b = deploy (f, nm ("tick-b"), slow);
  char *d = deploy (f, nm ("tick-d"), slow);
  char *c = deploy (f, nm ("tick-c"), brief); /* ends while the node is down */
  pump (f, 300);
  assert_true (collect_ticks (f, a, seen, &max, 300) > 0);

  /* The node dies; its workloads do not. */
  harness_stop_node (&f->h, SIGKILL);
  pid_t agent_d = 0;
  pid_t pa = harness_find_proc (nm ("tick-a"), NULL), pd = harness_find_proc (nm ("tick-d"), &agent_d);
  pid_t pc = harness_find_proc (nm ("tick-c"), NULL);
  assert_true (pa > 0 && pd > 0 && pc > 0);
  /* tick-c ends now, its node away: a SIGTERM, not a tick count, so that a
   * slow machine cannot let it end before the kill (it then never needs a
   * reattach, and the count below is one short). */
  kill (pc, SIGTERM);
  sleep (1);
  assert_true (alive (pa));
  /* tick-d loses its agent while the node is down. */
  assert_true (agent_d > 1);
  kill (agent_d, SIGKILL);
  kill (pd, SIGKILL);
  sleep (2); /* tick-a prints ~60 lines into its agent's ring */
  assert_true (alive (pa));

  harness_start_node (&f->h, f->config, NULL);
  /* tick-c ended while the node was down; tick-d's agent is gone. */
  wait_stopped (f, c, 1, 5000);
  wait_stopped (f, d, 1, 5000);
  assert_non_null (strstr (f->stop_msg[slot (f, d)], "agent lost while the node was down"));
  /* its own exit status (0; 1 under LeakSanitizer in a sandbox, which cannot ptrace) */
  assert_non_null (strstr (f->stop_msg[slot (f, c)], "Exited workload: "));
  assert_null (strstr (f->stop_msg[slot (f, c)], "agent lost"));
  assert_true (wping_lists (f, nm ("tick-a"), a));
  assert_true (wping_lists (f, nm ("tick-b"), b));
  assert_false (wping_lists (f, nm ("tick-c"), c));

  /* Logs resume, and the lines written while the node was away arrive. */
  first_after = max;
  assert_true (collect_ticks (f, a, seen, &max, 1500) > 0);
  /* The resent ring comes once the reattach is through, which a loaded
   * machine (ASan, a full suite on 2 cores) can delay past the window
   * above: wait for it, bounded, rather than for a fixed time. */
  for (int i = 0; i < 20 && max <= first_after + 40; i++)
    collect_ticks (f, a, seen, &max, 500);
  assert_true (max > first_after + 40);
  /* Lines in flight to the old node when it died (in its end of the link)
   * are lost with it; everything written after that reaches the new one:
   * the run of lines before the newest has no gap over the whole downtime
   * (3 s = 60 ticks at 50 ms). */
  int last_gap = 0;
  for (int t = (first_after + 4) / 5 * 5; t <= max; t += 5)
    if (!seen[t])
      last_gap = t;
  printf ("tick-a: lines up to %d seen before the kill, newest %d, last missing %d\n", first_after,
          max, last_gap);
  if (last_gap && max - last_gap < 50)
    fail_msg ("tick-a: line \"tick %d\" lost (seen up to %d)", last_gap, max);
  if (!log_has (f, "reattached 3 workloads in"))
    {
      harness_dump_node_log (&f->h);
      fail_msg ("no \"reattached 3 workloads in\" in the node's log");
    }

  /* STOP works for reattached workloads, once each. */
  stop (f, a, nm ("tick-a"));
  stop (f, b, nm ("tick-b"));
  wait_stopped (f, a, 1, 5000);
  wait_stopped (f, b, 1, 5000);
  pump (f, 700);
  assert_int_equal (stopped_count (f, a), 1);
  assert_int_equal (stopped_count (f, b), 1);
  assert_int_equal (stopped_count (f, c), 1);
  assert_int_equal (stopped_count (f, d), 1);
  assert_false (alive (pa));
  free (a);
  free (b);
  free (c);
  free (d);
}

static void
test_corrupt_journal_and_orphan_socket (void **state)
{
  struct fixture *f = *state;
  char path[600], orphan[600], needle[300];
  struct sockaddr_un sa;
  int s, fd;
  harness_stop_node (&f->h, SIGKILL);
  snprintf (path, sizeof path, "%s/journal", f->h.node_state_dir);
  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0);
  /* a frame that claims 16 bytes and a bad check, then more: corrupt, not torn */
  assert_int_equal (write (fd, "\0\0\0\x10garbagegarbagegarbagegarbagegarbage", 36), 36);
  close (fd);
  snprintf (orphan, sizeof orphan, "%s/agents/a00000000deadbeef.sock", f->h.node_state_dir);
  memset (&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", orphan);
  s = socket (AF_UNIX, SOCK_SEQPACKET, 0);
  assert_int_equal (bind (s, (struct sockaddr *) &sa, sizeof sa), 0);
  close (s); /* the file stays, nobody listens */
  /* Tier none's agents listen on abstract names: one of ours no entry
   * knows, listening (and never answering: the node gives up on it). */
  {
    char name[200];
    socklen_t len;
    int n = snprintf (name, sizeof name, "@nexc-%s-a00000000cafef00d", f->h.node_id);
    memset (&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy (sa.sun_path + 1, name + 1, (size_t) n - 1);
    len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + (size_t) n);
    s = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    assert_int_equal (bind (s, (struct sockaddr *) &sa, len), 0);
    assert_int_equal (listen (s, 1), 0);
    snprintf (needle, sizeof needle, "orphan agent socket %s", name);
  }

  harness_start_node (&f->h, f->config, NULL);
  close (s);
  assert_true (log_has (f, "journal was corrupt"));
  assert_int_equal (access (orphan, F_OK), -1);
  assert_true (log_has (f, "orphan agent socket"));
  assert_true (log_has (f, needle));
  {
    DIR *d = opendir (f->h.node_state_dir);
    struct dirent *e;
    bool aside = false;
    while (d && (e = readdir (d)) != NULL)
      aside = aside || strncmp (e->d_name, "journal.corrupt-", 16) == 0;
    if (d)
      closedir (d);
    assert_true (aside);
  }
  /* and it works */
  const char *env[] = { "TICK_MS=100", NULL };
  char *id = deploy (f, nm ("after"), env);
  stop (f, id, nm ("after"));
  wait_stopped (f, id, 1, 5000);
  free (id);
}

/* A restarted node re-checks its policy: a workload whose issuer left
 * valid_issuers while the node was down is stopped (workload_stopped, the
 * process gone), not taken over, and not restarted. */
static void
test_reattach_rechecks_issuers (void **state)
{
  struct fixture *f = *state;
  const char *env[] = { "TICK_MS=100", NULL };
  char cfg[1024];
  struct nkey_pair other;
  struct nxerr err = { 0 };
  char *id = deploy (f, nm ("revoked"), env);
  pump (f, 300);
  harness_stop_node (&f->h, SIGKILL);
  pid_t pw = harness_find_proc (nm ("revoked"), NULL);
  assert_true (pw > 0 && alive (pw));
  assert_int_equal (nkey_pair_generate (NKEY_ACCOUNT, &other, &err), 0);
  snprintf (cfg, sizeof cfg,
            "{\"machine_pool_size\":2,\"sandbox\":\"%s\",\"stop_grace_ms\":500,"
            "\"uid_range\":{\"start\":%d,\"count\":1024},\"valid_issuers\":[\"%s\"]}",
            f->process_tier ? "process" : "none", 400000 + (int) (getpid () % 64) * 1024,
            other.public_text);
  harness_start_node (&f->h, cfg, NULL);
  wait_stopped (f, id, 1, 5000);
  assert_true (log_has (f, "is not in valid_issuers any more"));
  for (int i = 0; i < 50 && alive (pw); i++)
    usleep (100000);
  assert_false (alive (pw));
  pump (f, 1000);
  assert_int_equal (stopped_count (f, id), 1); /* and no restart */
  assert_false (wping_lists (f, nm ("revoked"), id));
  /* Back to the fixture's own config for the tests after this one. */
  harness_stop_node (&f->h, SIGTERM);
  harness_start_node (&f->h, f->config, NULL);
  nkey_pair_wipe (&other);
  free (id);
}

/* The abstract name (without its leading NUL, as /proc/net/unix shows it
 * after an '@') of the reattach socket agent listens on, or "". */
static void
agent_sock_name (pid_t agent, char *out, size_t cap)
{
  char p[64], link[64], line[512];
  DIR *d;
  struct dirent *e;
  unsigned long inodes[64];
  int n = 0;
  FILE *fp;
  *out = '\0';
  snprintf (p, sizeof p, "/proc/%d/fd", (int) agent);
  d = opendir (p);
  while (d && (e = readdir (d)) != NULL && n < 64)
    {
      char fdp[320];
      ssize_t l;
      snprintf (fdp, sizeof fdp, "%s/%s", p, e->d_name);
      l = readlink (fdp, link, sizeof link - 1);
      if (l > 0)
        {
          link[l] = '\0';
          if (sscanf (link, "socket:[%lu]", &inodes[n]) == 1)
            n++;
        }
    }
  if (d)
    closedir (d);
  fp = fopen ("/proc/net/unix", "r");
  while (fp && fgets (line, sizeof line, fp))
    {
      unsigned long inode = 0;
      char path[256] = "";
      if (sscanf (line, "%*s %*s %*s %*s %*s %*s %lu %255s", &inode, path) < 2
          || strncmp (path, "@nexc-", 6) != 0)
        continue;
      for (int i = 0; i < n; i++)
        if (inodes[i] == inode)
          snprintf (out, cap, "%s", path + 1);
    }
  if (fp)
    fclose (fp);
}

/* The node dies, then its workload's agent, and another process takes the
 * agent's socket name and listens on it: the restarted node sees that the
 * listener is not the pid its journal names and does not adopt it (it
 * would otherwise hand its link to whoever got there first). */
static void
test_impostor_not_adopted (void **state)
{
  struct fixture *f = *state;
  const char *env[] = { "TICK_MS=100", NULL };
  char name[200];
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  socklen_t len;
  pid_t pw, agent = 0;
  int fd;
  char *id = deploy (f, nm ("impostor"), env);
  pump (f, 300);
  harness_stop_node (&f->h, SIGKILL);
  pw = harness_find_proc (nm ("impostor"), &agent);
  assert_true (pw > 0 && agent > 1);
  agent_sock_name (agent, name, sizeof name);
  assert_true (name[0] != '\0');
  kill (agent, SIGKILL);
  kill (pw, SIGKILL);
  for (int i = 0; i < 100 && (alive (agent) || alive (pw)); i++)
    usleep (20000);
  fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  assert_true (fd >= 0);
  memcpy (sa.sun_path + 1, name, strlen (name));
  len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + 1 + strlen (name));
  for (int i = 0; i < 50 && bind (fd, (struct sockaddr *) &sa, len) < 0; i++)
    usleep (20000); /* the dead agent's socket goes with its last reference */
  assert_int_equal (listen (fd, 4), 0);
  harness_start_node (&f->h, f->config, NULL);
  wait_stopped (f, id, 1, 5000);
  assert_true (log_has (f, "not by its agent"));
  assert_non_null (strstr (f->stop_msg[slot (f, id)], "agent lost while the node was down"));
  close (fd);
  free (id);
}

/* The user namespace of pid, as /proc/<pid>/ns/user reads. */
static void
userns_link (pid_t pid, char *out, size_t cap)
{
  char p[64];
  ssize_t n;
  snprintf (p, sizeof p, "/proc/%d/ns/user", (int) pid);
  n = readlink (p, out, cap - 1);
  out[n > 0 ? n : 0] = '\0';
}

/* A workload started by a node with "user_namespace": "off" and adopted by
 * one that gives each workload a user namespace keeps the host's (a running
 * process cannot be moved into one), and the node says so; its next start,
 * on a new agent, gets one. */
static void
test_reattached_keep_their_user_namespace (void **state)
{
  struct fixture *f = *state;
  const char *env[] = { "TICK_MS=100", NULL };
  char cfg[1100], host[64], wl[64];
  char *id, *id2;
  pid_t pw, pw2;
  harness_stop_node (&f->h, SIGTERM);
  snprintf (cfg, sizeof cfg, "%.*s,\"user_namespace\":\"off\"}", (int) strlen (f->config) - 1,
            f->config);
  harness_start_node (&f->h, cfg, NULL);
  id = deploy (f, nm ("hostns"), env);
  pump (f, 300);
  harness_stop_node (&f->h, SIGKILL);
  pw = harness_find_proc (nm ("hostns"), NULL);
  assert_true (pw > 0 && alive (pw));
  harness_start_node (&f->h, f->config, NULL); /* "auto": on here */
  for (int i = 0; i < 50 && !log_has (f, "reattached 1 workload"); i++)
    usleep (100000);
  assert_true (log_has (f, "reattached 1 workload"));
  assert_true (log_has (f, "runs in the host's user namespace, as the node that started it set"));
  userns_link (getpid (), host, sizeof host);
  userns_link (pw, wl, sizeof wl);
  assert_string_equal (wl, host);
  stop (f, id, nm ("hostns"));
  wait_stopped (f, id, 1, 5000);
  /* A new one gets its own. */
  id2 = deploy (f, nm ("ownns"), env);
  pump (f, 300);
  pw2 = harness_find_proc (nm ("ownns"), NULL);
  assert_true (pw2 > 0);
  userns_link (pw2, wl, sizeof wl);
  assert_true (wl[0] != '\0');
  assert_string_not_equal (wl, host);
  stop (f, id2, nm ("ownns"));
  wait_stopped (f, id2, 1, 5000);
  free (id);
  free (id2);
}

/* --detach-on-exit: SIGTERM leaves the workload running, sends no
 * workload_stopped, exits 0; the next node reattaches it and STOP works. */
static void
test_detach_on_exit (void **state)
{
  struct fixture *f = *state;
  const char *const args[] = { "--detach-on-exit", NULL };
  const char *env[] = { "TICK_MS=100", NULL };
  char *id;
  pid_t pid;
  assert_int_equal (harness_stop_node (&f->h, SIGTERM), 0);
  harness_start_node (&f->h, f->config, args);
  id = deploy (f, nm ("stays"), env);
  pump (f, 300);
  pid = harness_find_proc (nm ("stays"), NULL);
  assert_true (pid > 0);
  assert_int_equal (harness_stop_node (&f->h, SIGTERM), 0);
  pump (f, 500);
  assert_int_equal (stopped_count (f, id), 0);
  assert_true (alive (pid));
  assert_true (log_has (f, "1 workloads left running"));

  harness_start_node (&f->h, f->config, NULL);
  for (int i = 0; i < 50 && !wping_lists (f, nm ("stays"), id); i++)
    pump (f, 100);
  assert_true (wping_lists (f, nm ("stays"), id));
  assert_true (alive (pid));
  stop (f, id, nm ("stays"));
  wait_stopped (f, id, 1, 5000);
  pump (f, 300);
  assert_int_equal (stopped_count (f, id), 1);
  free (id);
}

/* A reattached agent that does not answer the shutdown's stop (stopped
 * here with SIGSTOP): at the deadline the node kills it and exits 0. Before,
 * freeing the pool freed an adopted agent twice (its kill already queued
 * the free) and wrote through a freed neighbour's list links: ASan's
 * heap-use-after-free at exit, the node's status 1. */
static void
test_shutdown_deadline_with_adopted_agent (void **state)
{
  struct fixture *f = *state;
  const char *env[] = { "TICK_MS=100", NULL };
  char *id = deploy (f, nm ("mute"), env), *id2 = deploy (f, nm ("mute2"), env);
  pid_t pid, agent = 0, pid2, agent2 = 0;
  pump (f, 300);
  harness_stop_node (&f->h, SIGKILL);
  harness_start_node (&f->h, f->config, NULL);
  for (int i = 0; i < 50 && !(wping_lists (f, nm ("mute"), id) && wping_lists (f, nm ("mute2"), id2)); i++)
    pump (f, 100);
  assert_true (wping_lists (f, nm ("mute"), id));
  pid = harness_find_proc (nm ("mute"), &agent);
  pid2 = harness_find_proc (nm ("mute2"), &agent2);
  assert_true (pid > 0 && agent > 1 && pid2 > 0 && agent2 > 1);
  assert_int_equal (kill (agent, SIGSTOP), 0);
  assert_int_equal (kill (agent2, SIGSTOP), 0);
  assert_int_equal (harness_stop_node (&f->h, SIGTERM), 0);
  assert_true (log_has (f, "did not stop in time"));
  for (int i = 0; i < 100 && (alive (agent) || alive (agent2) || alive (pid) || alive (pid2)); i++)
    pump (f, 20);
  assert_false (alive (agent));
  assert_false (alive (agent2));
  assert_false (alive (pid));
  assert_false (alive (pid2));
  harness_start_node (&f->h, f->config, NULL); /* the next test's */
  free (id);
  free (id2);
}

static void
test_reattach_twenty (void **state)
{
  struct fixture *f = *state;
  const char *env[] = { "TICK_MS=1000", NULL };
  char *ids[20], names[20][32];
  char line[2048];
  double ms = -1;
  FILE *fp;
  for (int i = 0; i < 20; i++)
    {
      snprintf (names[i], sizeof names[i], "many%d-%d", i, (int) getpid ());
      ids[i] = deploy (f, names[i], env);
    }
  harness_stop_node (&f->h, SIGKILL);
  harness_start_node (&f->h, f->config, NULL);
  for (int i = 0; i < 50 && ms < 0; i++)
    {
      fp = fopen (f->h.node_log, "r");
      while (fp && fgets (line, sizeof line, fp))
        {
          const char *p = strstr (line, "reattached 20 workloads in ");
          if (p)
            ms = atof (p + strlen ("reattached 20 workloads in "));
        }
      if (fp)
        fclose (fp);
      if (ms < 0)
        usleep (100000);
    }
  if (ms < 0)
    {
      harness_dump_node_log (&f->h);
      fail_msg ("no \"reattached 20 workloads\" line");
    }
  printf ("reattach of 20 workloads (%s tier): %.1f ms\n", f->process_tier ? "process" : "none",
          ms);
  for (int i = 0; i < 20; i++)
    assert_true (wping_lists (f, names[i], ids[i]));
  for (int i = 0; i < 20; i++)
    stop (f, ids[i], names[i]);
  for (int i = 0; i < 20; i++)
    {
      wait_stopped (f, ids[i], 1, 5000);
      free (ids[i]);
    }
}


int
main (void)
{
  const struct CMUnitTest none[] = {
    cmocka_unit_test (test_survive_sigkill),
    cmocka_unit_test (test_corrupt_journal_and_orphan_socket),
    cmocka_unit_test (test_reattach_rechecks_issuers),
    cmocka_unit_test (test_impostor_not_adopted),
    cmocka_unit_test (test_detach_on_exit),
    cmocka_unit_test (test_shutdown_deadline_with_adopted_agent),
    cmocka_unit_test (test_reattach_twenty),
  };
  const struct CMUnitTest process[] = {
    cmocka_unit_test (test_survive_sigkill),
    cmocka_unit_test (test_reattached_keep_their_user_namespace),
    cmocka_unit_test (test_detach_on_exit),
    cmocka_unit_test (test_reattach_twenty),
  };
  int rc = cmocka_run_group_tests_name ("reattach (tier none)", none, setup_none, teardown);
  if (rc != 0)
    return rc;
  if (!harness_process_tier_ok ())
    {
      printf ("test_reattach: tier process part skipped: its preflight fails here (root, "
              "namespaces, cgroups: `nexc-node preflight`)\n");
      return 0;
    }
  return cmocka_run_group_tests_name ("reattach (tier process)", process, setup_process,
                                      teardown);
}
