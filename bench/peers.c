/* Peers (--peers): the same static executable started under the sandboxes
 * and runners installed on this machine, measured in the same run as
 * nexc's own rows, so a comparison with them is a ratio of one run.
 *
 * Each peer runs `nexc-bench-idle exit` (start -> exit, as the spawn floor
 * does) 10 times untimed, then n times timed: bwrap with every namespace
 * unshared (the closest to tier process), `crun run` of a bundle whose
 * rootfs holds only the executable, and `systemd-run --wait` where systemd
 * is PID 1. A peer that is missing or refuses to run on this machine gets a
 * row saying so, with its own message; it is never counted as measured. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/report.h"
#include "bench/responder.h"
#include "bench/stats.h"

#define PEERS_N 100

/* The first line peer prints on a failed probe run, into why. */
static bool
probe (char *const argv[], char *why, size_t cap)
{
  char cmd[4096] = "";
  FILE *p;
  int st;
  for (int i = 0; argv[i]; i++)
    {
      size_t l = strlen (cmd);
      snprintf (cmd + l, sizeof cmd - l, "%s'%s'", i ? " " : "", argv[i]);
    }
  strncat (cmd, " 2>&1", sizeof cmd - strlen (cmd) - 1);
  p = popen (cmd, "r");
  if (p == NULL)
    {
      snprintf (why, cap, "popen: %s", strerror (errno));
      return false;
    }
  why[0] = '\0';
  if (fgets (why, (int) cap, p) != NULL)
    why[strcspn (why, "\n")] = '\0';
  while (fgetc (p) != EOF)
    ;
  st = pclose (p);
  if (st == 0)
    return true;
  if (why[0] == '\0')
    snprintf (why, cap, "exit status 0x%x", st);
  return false;
}

static bool
on_path (const char *prog, char *out, size_t cap)
{
  const char *dirs[] = { "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin" };
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    {
      snprintf (out, cap, "%s/%s", dirs[i], prog);
      if (access (out, X_OK) == 0)
        return true;
    }
  return false;
}

static void
peer_row (struct bench *b, const char *id, const char *what, char *const argv[],
          const char *missing, double floor_p50)
{
  struct row *r = report_row (b->report, id);
  struct samples s = { 0 };
  struct summary q;
  struct nxerr err = { 0 };
  char why[512];
  row_what (r, "%s", what);
  if (missing)
    {
      row_result (r, "n/a (%s)", missing);
      row_str (r, "why", missing);
      return;
    }
  bench_progress ("peers: %s", id);
  if (!probe (argv, why, sizeof why))
    {
      row_result (r, "n/a (refuses to run here: %s)", why);
      row_str (r, "why", why);
      return;
    }
  if (floor_spawn (argv, PEERS_N, &s, &err) < 0)
    {
      row_fail (r, "%s", err.msg);
      samples_free (&s);
      return;
    }
  q = samples_summary (&s);
  row_latency (r, &q);
  if (floor_p50 > 0)
    {
      row_floor (r, "%.3f ms (peers.floor.spawn)", floor_p50 / 1e3);
      row_ratio (r, "p50 %.2fx of the bare spawn", q.p50 / floor_p50);
      row_num (r, "ratio_p50", q.p50 / floor_p50);
    }
  if (b->warm_none_p50_us > 0)
    row_num (r, "nexc_warm_none_over_peer", b->warm_none_p50_us / q.p50);
  samples_free (&s);
}

/* An OCI bundle in dir: config.json from `crun spec`, the executable as
 * /idle of an otherwise empty rootfs. */
static int
crun_bundle (const char *crun, const char *dir, const char *idle, char *why, size_t cap)
{
  char path[1024], cmd[PATH_MAX + 2048];
  json_t *c, *args;
  json_error_t je;
  snprintf (path, sizeof path, "%s/rootfs", dir);
  if (mkdir (path, 0755) < 0)
    return snprintf (why, cap, "mkdir %s: %s", path, strerror (errno)), -1;
  char abs_idle[PATH_MAX];
  if (realpath (idle, abs_idle) == NULL) /* the copy runs in dir */
    return snprintf (why, cap, "%s: %s", idle, strerror (errno)), -1;
  snprintf (cmd, sizeof cmd, "cd '%s' && '%s' spec >/dev/null 2>&1 && cp '%s' rootfs/idle", dir,
            crun, abs_idle);
  {
    int st = system (cmd);
    if (st != 0)
      return snprintf (why, cap, "crun spec in %s failed (status 0x%x)", dir, st), -1;
  }
  snprintf (path, sizeof path, "%s/config.json", dir);
  c = json_load_file (path, 0, &je);
  if (c == NULL)
    return snprintf (why, cap, "config.json: %s", je.text), -1;
  args = json_pack ("[ss]", "/idle", "exit");
  json_object_set_new (json_object_get (c, "process"), "args", args);
  json_object_set_new (json_object_get (c, "process"), "terminal", json_false ());
  json_object_set_new (json_object_get (c, "root"), "path", json_string ("rootfs"));
  if (json_dump_file (c, path, 0) < 0)
    {
      json_decref (c);
      return snprintf (why, cap, "cannot write %s", path), -1;
    }
  json_decref (c);
  return 0;
}

void
scenario_peers (struct bench *b)
{
  struct row *fl = report_row (b->report, "peers.floor.spawn");
  struct samples s = { 0 };
  struct summary f = { 0 };
  struct nxerr err = { 0 };
  char bwrap[256], crun[256], srun[256], dir[] = "/tmp/nexc-bench-peers-XXXXXX", why[512];
  char cmd[1200];
  char *bare[] = { b->idle_bin, (char *) "exit", NULL };

  row_what (fl, "floor: posix_spawn+wait of nexc-bench-idle exit, no sandbox");
  if (floor_spawn (bare, PEERS_N, &s, &err) < 0)
    row_fail (fl, "%s", err.msg);
  f = samples_summary (&s);
  row_latency (fl, &f);
  samples_free (&s);

  {
    char *argv[] = { bwrap,          (char *) "--ro-bind", (char *) "/", (char *) "/",
                     (char *) "--dev", (char *) "/dev",    (char *) "--proc", (char *) "/proc",
                     (char *) "--unshare-all", (char *) "--die-with-parent", b->idle_bin,
                     (char *) "exit", NULL };
    bool have = on_path ("bwrap", bwrap, sizeof bwrap);
    peer_row (b, "peers.bwrap",
              "bwrap --unshare-all (all namespaces), / read-only, own /dev and /proc: start -> exit",
              argv, have ? NULL : "bwrap not installed: scripts/setup --bench", f.p50);
  }
  {
    char id[64];
    const char *missing = NULL;
    char *argv[] = { crun, (char *) "run", (char *) "--bundle", dir, id, NULL };
    snprintf (id, sizeof id, "nexc-bench-%d", (int) getpid ());
    if (!on_path ("crun", crun, sizeof crun))
      missing = "crun not installed: scripts/setup --bench";
    else if (mkdtemp (dir) == NULL)
      missing = "mkdtemp failed";
    else if (crun_bundle (crun, dir, b->idle_bin, why, sizeof why) < 0)
      missing = why;
    peer_row (b, "peers.crun", "crun run of an OCI bundle (crun spec defaults): start -> exit",
              argv, missing, f.p50);
    if (strcmp (dir + strlen (dir) - 6, "XXXXXX") != 0)
      {
        snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system (cmd) != 0)
          bench_progress ("peers: could not remove %s", dir);
      }
  }
  {
    char *argv[] = { srun, (char *) "--wait", (char *) "--quiet", (char *) "--collect",
                     (char *) "--pipe", b->idle_bin, (char *) "exit", NULL };
    const char *missing = NULL;
    struct stat st;
    if (!on_path ("systemd-run", srun, sizeof srun))
      missing = "systemd-run not installed";
    else if (stat ("/run/systemd/system", &st) < 0)
      missing = "systemd is not PID 1 on this machine";
    peer_row (b, "peers.systemd_run", "systemd-run --wait (a transient service): start -> exit",
              argv, missing, f.p50);
  }
}
