/* nexc-bench: the benchmark suite of nexc (BENCHMARKS.md).
 *
 *   nexc-bench [--smoke] [--build-dir DIR] [--json FILE] [--only LIST] [--markdown]
 *              [--pool N] [--warm N] [--seconds S] [--clients LIST] [--log-lines N]
 *              [--workloads LIST] [--stop N] [--node-log-level L] [--peers]
 *              [--filesystem minimal|host-ro]   the process tier's workload root
 *              [--cgroup auto|v1|v2|none]       the nodes' cgroup setting (tier none: its
 *                                               agents' leaves; none measures without)
 *   nexc-bench --list-rows [--smoke] [...]      the row ids the options produce
 *   nexc-bench --responder URL SUBJECT          (internal) the trivial NATS responder
 *
 * Exit status: 0 when every row was measured (targets missed or not), 1 when
 * a row FAILED or was not run, 2 on usage errors. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <nats/nats.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "api/buf.h"
#include "api/jsonw.h"
#include "api/xalloc.h"
#include "bench/bench.h"
#include "bench/proc.h"
#include "bench/responder.h"

#ifndef NEXC_BUILD_DIR
#define NEXC_BUILD_DIR "build"
#endif

/* ---- shared helpers ---- */

uint64_t
bench_now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

void
bench_sleep_ms (int ms)
{
  struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

void
bench_progress (const char *fmt, ...)
{
  va_list ap;
  fprintf (stderr, "nexc-bench: ");
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
}

char *
bench_node_config (const struct bench *b, const char *sandbox, int pool_size)
{
  struct buf out = BUF_INIT;
  struct jsonw w;
  jsonw_init (&w, &out);
  jsonw_obj_begin (&w);
  jsonw_kint (&w, "machine_pool_size", pool_size);
  jsonw_kstr (&w, "sandbox", sandbox);
  if (strcmp (sandbox, "process") == 0)
    jsonw_kstr (&w, "filesystem", b->o.filesystem);
  if (b->o.cgroup)
    jsonw_kstr (&w, "cgroup", b->o.cgroup);
  jsonw_kint (&w, "stop_grace_ms", b->o.stop_grace_ms);
  jsonw_kint (&w, "heartbeat_interval_ms", 86400000);
  /* A uid range of its own: tests and other benches may run process-tier
   * nodes at the same time, and a node refuses a range someone uses. */
  jsonw_key (&w, "uid_range");
  jsonw_obj_begin (&w);
  jsonw_kint (&w, "start", 300000 + (int64_t) (getpid () % 64) * 1024);
  jsonw_kint (&w, "count", 1024);
  jsonw_obj_end (&w);
  jsonw_key (&w, "valid_issuers");
  jsonw_arr_begin (&w);
  jsonw_str (&w, b->issuer.public_text);
  jsonw_arr_end (&w);
  jsonw_key (&w, "requester_public_keys");
  jsonw_arr_begin (&w);
  jsonw_str (&w, b->sender.public_text);
  jsonw_arr_end (&w);
  jsonw_obj_end (&w);
  return buf_steal (&out, NULL);
}

/* ---- rows ---- */

static void
size_label (uint64_t bytes, char *out, size_t n)
{
  if (bytes % (1024 * 1024) == 0)
    snprintf (out, n, "%llumib", (unsigned long long) (bytes / (1024 * 1024)));
  else
    snprintf (out, n, "%llub", (unsigned long long) bytes);
}

static bool
selected (const struct bench_opts *o, const char *name)
{
  const char *p = o->only;
  size_t len = strlen (name);
  if (strcmp (name, "peers") == 0 && o->peers)
    return true;
  if (p == NULL)
    return strcmp (name, "peers") != 0; /* peers: asked for by name */
  while (*p)
    {
      size_t n = strcspn (p, ",");
      if (n == len && strncmp (p, name, n) == 0)
        return true;
      p += n + (p[n] == ',');
    }
  return false;
}

void
bench_row_ids (const struct bench_opts *o, struct buf *out)
{
  char s[32], l[32];
  if (selected (o, "warm"))
    buf_puts (out, "warm.none\nwarm.process\nwarm.floor.rtt\nwarm.floor.spawn\nwarm.floor.sum\n");
  if (selected (o, "cold"))
    {
      size_label (o->cold_small_bytes, s, sizeof s);
      size_label (o->cold_large_bytes, l, sizeof l);
      buf_printf (out,
                  "cold.pool.hit\ncold.pool.miss\ncold.floor.agent_spawn\n"
                  "cold.artifact.%s\ncold.floor.read.%s\ncold.artifact.%s\ncold.floor.read.%s\n",
                  s, s, l, l);
    }
  if (selected (o, "throughput"))
    for (int i = 0; i < o->n_tput_clients; i++)
      buf_printf (out, "tput.c%d\ntput.cpu.c%d\ntput.floor.c%d\n", o->tput_clients[i],
                  o->tput_clients[i], o->tput_clients[i]);
  if (selected (o, "logs"))
    buf_puts (out, "logs.nexc\nlogs.drop_oldest\nlogs.loss\nlogs.floor\n");
  if (selected (o, "scale"))
    {
      int top = o->scale_levels[BENCH_SCALE_LEVELS - 1];
      buf_printf (out, "mem.node.idle\nmem.agent.warm\nmem.agent.running\nmem.node.w%d\n", top);
      for (int i = 0; i < BENCH_SCALE_LEVELS; i++)
        buf_printf (out, "scale.ping.w%d\n", o->scale_levels[i]);
      for (int i = 0; i < BENCH_SCALE_LEVELS; i++)
        buf_printf (out, "scale.info.w%d\n", o->scale_levels[i]);
      buf_printf (out, "scale.deploy.w0\nscale.deploy.w%d\nscale.procscan.w%d\n", top, top);
    }
  if (selected (o, "stop"))
    buf_puts (out, "stop.ticker\nstop.forker\nstop.grace\nstop.floor.term\n");
  if (selected (o, "functions"))
    buf_puts (out, "fn.invoke\nfn.floor.rtt\nfn.floor.spawn\nfn.floor.sum\n");
  if (selected (o, "deployments"))
    buf_puts (out, "deploy.apply\ndeploy.heal\ndeploy.excess\ndeploy.lease\ndeploy.rollout\n");
  if (selected (o, "peers"))
    buf_puts (out, "peers.floor.spawn\npeers.bwrap\npeers.crun\npeers.systemd_run\n");
}

/* ---- machine and versions ---- */

static void
first_line_of (const char *cmd, char *out, size_t n)
{
  FILE *p = popen (cmd, "r");
  out[0] = '\0';
  if (p == NULL)
    return;
  if (fgets (out, (int) n, p) == NULL)
    out[0] = '\0';
  out[strcspn (out, "\n")] = '\0';
  pclose (p);
}

static void
file_value (const char *path, const char *key, char *out, size_t n)
{
  FILE *f = fopen (path, "re");
  char line[512];
  out[0] = '\0';
  if (f == NULL)
    return;
  while (fgets (line, sizeof line, f))
    if (strncmp (line, key, strlen (key)) == 0)
      {
        char *v = line + strlen (key);
        v += strspn (v, " \t:=\"");
        v[strcspn (v, "\"\n")] = '\0';
        snprintf (out, n, "%s", v);
        break;
      }
  fclose (f);
}

static void
describe_machine (struct bench *b, char *line, size_t n)
{
  struct utsname u;
  struct rlimit rl;
  char model[256], os[256], natsv[128], mem[64], pidmax[32];
  long cores = sysconf (_SC_NPROCESSORS_ONLN);
  time_t now = time (NULL);
  char when[64];
  uname (&u);
  file_value ("/proc/cpuinfo", "model name", model, sizeof model);
  file_value ("/etc/os-release", "PRETTY_NAME", os, sizeof os);
  file_value ("/proc/meminfo", "MemTotal", mem, sizeof mem);
  file_value ("/proc/sys/kernel/pid_max", "", pidmax, sizeof pidmax);
  first_line_of ("nats-server --version 2>&1", natsv, sizeof natsv);
  getrlimit (RLIMIT_NOFILE, &rl);
  strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime (&now));
  report_meta (b->report, "date", "%s", when);
  report_meta (b->report, "mode", "%s", b->o.smoke ? "smoke" : "full");
  report_meta (b->report, "cpu", "%s", model);
  report_meta_num (b->report, "cores", (double) cores);
  report_meta (b->report, "kernel", "%s %s %s", u.sysname, u.release, u.machine);
  report_meta (b->report, "os", "%s", os);
  report_meta (b->report, "memory", "%s", mem);
  report_meta (b->report, "nexc", "%s", NEXC_VERSION);
  report_meta (b->report, "nats_server", "%s", natsv);
  report_meta (b->report, "nats_c", "%s", nats_GetVersion ());
  report_meta (b->report, "libsodium", "%s", sodium_version_string ());
  report_meta (b->report, "jansson", "%s", JANSSON_VERSION);
  report_meta (b->report, "limits", "nofile %llu, pid_max %s",
               (unsigned long long) rl.rlim_cur, pidmax);
  report_meta (b->report, "node_config", "sandbox none, machine_pool_size %d, stop_grace_ms %d, "
               "heartbeat 24 h, log level %s",
               b->o.pool_size, b->o.stop_grace_ms, b->o.node_log_level);
  snprintf (line, n,
            "machine: %ld cores (%s), %s %s, %s, %s RAM; nexc %s, %s, nats.c %s, libsodium %s",
            cores, model, u.sysname, u.release, os, mem, NEXC_VERSION, natsv, nats_GetVersion (),
            sodium_version_string ());
}

/* ---- background load ---- */

/* What the machine did, to tell how much of it was someone else's work:
 * busy CPU time of the whole machine (/proc/stat, steal included), minus
 * ours (this process, its reaped children and grandchildren, and the
 * nats-server that runs all along). */
struct load_mark {
  uint64_t at_ns;
  double busy_s, ours_s, load1;
};

static void
load_mark (const struct bench *b, struct load_mark *m)
{
  unsigned long long v[8] = { 0 };
  struct rusage self, kids;
  double tick = (double) sysconf (_SC_CLK_TCK), nats_self = 0, nats_kids = 0;
  FILE *f = fopen ("/proc/stat", "re");
  memset (m, 0, sizeof *m);
  m->at_ns = bench_now_ns ();
  if (f)
    {
      /* cpu user nice system idle iowait irq softirq steal */
      if (fscanf (f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                  &v[4], &v[5], &v[6], &v[7])
          == 8)
        m->busy_s = (double) (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / tick;
      fclose (f);
    }
  f = fopen ("/proc/loadavg", "re");
  if (f)
    {
      if (fscanf (f, "%lf", &m->load1) != 1)
        m->load1 = 0;
      fclose (f);
    }
  getrusage (RUSAGE_SELF, &self);
  getrusage (RUSAGE_CHILDREN, &kids);
  if (b->nats && b->nats->pid > 0)
    proc_cpu (b->nats->pid, &nats_self, &nats_kids);
  m->ours_s = (double) (self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec
                        + kids.ru_stime.tv_sec)
              + (double) (self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec
                          + kids.ru_stime.tv_usec)
                    / 1e6
              + nats_self / 1e3;
}

static void
run_scenario (struct bench *b, const char *name, void (*fn) (struct bench *), struct buf *notes)
{
  struct load_mark m0, m1;
  double wall, others;
  char key[64];
  load_mark (b, &m0);
  fn (b);
  load_mark (b, &m1);
  wall = (double) (m1.at_ns - m0.at_ns) / 1e9;
  others = wall > 0 ? ((m1.busy_s - m0.busy_s) - (m1.ours_s - m0.ours_s)) / wall : 0;
  if (others < 0)
    others = 0;
  snprintf (key, sizeof key, "background_cores_%s", name);
  report_meta_num (b->report, key, others);
  buf_printf (notes, "  %-10s %5.1f s, other processes used %.2f of %ld cores (load average %.1f -> "
                     "%.1f)\n",
              name, wall, others, sysconf (_SC_NPROCESSORS_ONLN), m0.load1, m1.load1);
}

/* ---- options ---- */

static void
defaults (struct bench_opts *o, bool smoke)
{
  memset (o, 0, sizeof *o);
  o->smoke = smoke;
  o->build_dir = NEXC_BUILD_DIR;
  o->node_log_level = "warn";
  o->filesystem = "minimal";
  o->pool_size = 4;
  o->stop_grace_ms = 200;
  o->cold_small_bytes = 1u << 20;
  o->cold_large_bytes = 20u << 20;
  if (smoke)
    {
      o->warm_n = 20;
      o->floor_rtt_n = 50;
      o->cold_pool_n = 5;
      o->cold_small_n = 2;
      o->cold_large_n = 1;
      o->tput_seconds = 1;
      o->tput_clients[0] = 2;
      o->n_tput_clients = 1;
      o->log_lines = 20000;
      o->scale_levels[0] = 0;
      o->scale_levels[1] = 5;
      o->scale_levels[2] = 20;
      o->ping_n = 50;
      o->info_n = 20;
      o->scale_deploy_n = 5;
      o->stop_n = 3;
      o->fn_n = 20;
      o->deploy_n = 2;
    }
  else
    {
      o->warm_n = 500;
      o->floor_rtt_n = 2000;
      o->cold_pool_n = 200;
      o->cold_small_n = 50;
      o->cold_large_n = 10;
      o->tput_seconds = 20;
      o->tput_clients[0] = 1;
      o->tput_clients[1] = 4;
      o->tput_clients[2] = 16;
      o->n_tput_clients = 3;
      o->log_lines = 500000;
      o->scale_levels[0] = 0;
      o->scale_levels[1] = 100;
      o->scale_levels[2] = 1000;
      o->ping_n = 500;
      o->info_n = 100;
      o->scale_deploy_n = 100;
      o->stop_n = 50;
      o->fn_n = 300;
      o->deploy_n = 10;
    }
}

static int
parse_list (const char *s, int *out, int max)
{
  int n = 0;
  while (*s && n < max)
    {
      char *end;
      long v = strtol (s, &end, 10);
      if (end == s || v < 0 || v > 100000)
        return -1;
      out[n++] = (int) v;
      s = end + (*end == ',');
      if (*end && *end != ',')
        return -1;
    }
  return n;
}

static void
usage (FILE *f)
{
  fprintf (f,
           "usage: nexc-bench [--smoke] [--build-dir DIR] [--json FILE] [--only LIST] "
           "[--markdown]\n"
           "                  [--pool N] [--warm N] [--seconds S] [--clients N,N...] "
           "[--log-lines N]\n"
           "                  [--workloads A,B,C] [--stop N] [--node-log-level L] "
           "[--list-rows] [--filesystem minimal|host-ro] [--cgroup auto|v1|v2|none] "
           "[--peers]\n"
           "scenarios (for --only): warm,cold,throughput,logs,scale,stop,functions,deployments,peers\n"
           "--peers: also start the same executable under bwrap, crun and systemd-run\n");
}

static int
set_paths (struct bench *b)
{
  const char *d = b->o.build_dir;
  ssize_t r;
  snprintf (b->node_bin, sizeof b->node_bin, "%s/node/nexc-node", d);
  snprintf (b->agent_bin, sizeof b->agent_bin, "%s/agent/nexc-agent", d);
  snprintf (b->idle_bin, sizeof b->idle_bin, "%s/bench/nexc-bench-idle", d);
  snprintf (b->hog_bin, sizeof b->hog_bin, "%s/examples/hog", d);
  snprintf (b->ticker_bin, sizeof b->ticker_bin, "%s/examples/ticker", d);
  snprintf (b->forker_bin, sizeof b->forker_bin, "%s/examples/forker", d);
  snprintf (b->upper_bin, sizeof b->upper_bin, "%s/examples/upper", d);
  r = readlink ("/proc/self/exe", b->self_bin, sizeof b->self_bin - 1);
  if (r <= 0)
    return -1;
  b->self_bin[r] = '\0';
  {
    const char *need[] = { b->node_bin, b->agent_bin, b->idle_bin, b->hog_bin, b->ticker_bin,
                           b->forker_bin, b->upper_bin };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
      if (access (need[i], X_OK) != 0)
        {
          fprintf (stderr, "nexc-bench: %s: %s (build first: scripts/build)\n", need[i],
                   strerror (errno));
          return -1;
        }
  }
  return 0;
}

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "smoke", no_argument, NULL, 'S' },        { "build-dir", required_argument, NULL, 'B' },
    { "json", required_argument, NULL, 'j' },   { "only", required_argument, NULL, 'o' },
    { "markdown", no_argument, NULL, 'M' },     { "pool", required_argument, NULL, 'p' },
    { "warm", required_argument, NULL, 'w' },   { "seconds", required_argument, NULL, 's' },
    { "clients", required_argument, NULL, 'c' }, { "log-lines", required_argument, NULL, 'L' },
    { "workloads", required_argument, NULL, 'W' }, { "stop", required_argument, NULL, 't' },
    { "node-log-level", required_argument, NULL, 'l' },
    { "filesystem", required_argument, NULL, 'F' },
    { "cgroup", required_argument, NULL, 'G' },
    { "list-rows", no_argument, NULL, 'R' },    { "peers", no_argument, NULL, 'P' },    { "responder", no_argument, NULL, 'r' },
    { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
  };
  static struct bench b;
  struct nxerr err = { 0 };
  struct bench_nats nats;
  bool smoke = false, markdown = false, list_rows = false;
  cleanup_buf struct buf notes = BUF_INIT;
  char machine[1024];
  int c, failed;

  /* --smoke changes the defaults the other options override: look first. */
  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--smoke") == 0)
        smoke = true;
      if (strcmp (argv[i], "--responder") == 0)
        return responder_main (argc - i - 1, argv + i + 1);
    }
  defaults (&b.o, smoke);
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    switch (c)
      {
      case 'S': break;
      case 'B': b.o.build_dir = optarg; break;
      case 'j': b.o.json_path = optarg; break;
      case 'o': b.o.only = optarg; break;
      case 'M': markdown = true; break;
      case 'p': b.o.pool_size = atoi (optarg); break;
      case 'w': b.o.warm_n = atoi (optarg); break;
      case 's': b.o.tput_seconds = atof (optarg); break;
      case 'c':
        b.o.n_tput_clients = parse_list (optarg, b.o.tput_clients, BENCH_MAX_CLIENT_SETS);
        if (b.o.n_tput_clients <= 0)
          {
            usage (stderr);
            return 2;
          }
        break;
      case 'L': b.o.log_lines = atol (optarg); break;
      case 'W':
        if (parse_list (optarg, b.o.scale_levels, BENCH_SCALE_LEVELS) != BENCH_SCALE_LEVELS)
          {
            fprintf (stderr, "nexc-bench: --workloads takes three counts, e.g. 0,100,1000\n");
            return 2;
          }
        break;
      case 't': b.o.stop_n = atoi (optarg); break;
      case 'l': b.o.node_log_level = optarg; break;
      case 'F':
        if (strcmp (optarg, "minimal") != 0 && strcmp (optarg, "host-ro") != 0)
          {
            fprintf (stderr, "nexc-bench: --filesystem takes minimal or host-ro\n");
            return 2;
          }
        b.o.filesystem = optarg;
        break;
      case 'G':
        if (strcmp (optarg, "auto") != 0 && strcmp (optarg, "v1") != 0
            && strcmp (optarg, "v2") != 0 && strcmp (optarg, "none") != 0)
          {
            fprintf (stderr, "nexc-bench: --cgroup takes auto, v1, v2 or none\n");
            return 2;
          }
        b.o.cgroup = optarg;
        break;
      case 'R': list_rows = true; break;
      case 'P': b.o.peers = true; break;
      case 'h': usage (stdout); return 0;
      default: usage (stderr); return 2;
      }
  if (optind != argc || b.o.pool_size < 1 || b.o.warm_n < 1 || b.o.tput_seconds <= 0
      || b.o.log_lines < 1 || b.o.stop_n < 1)
    {
      usage (stderr);
      return 2;
    }
  if (b.o.only)
    {
      static const char *const known[] = { "warm",  "cold", "throughput", "logs",
                                           "scale", "stop", "functions", "deployments", "peers" };
      for (const char *p = b.o.only; *p;)
        {
          size_t n = strcspn (p, ","), k;
          for (k = 0; k < sizeof known / sizeof known[0]; k++)
            if (strlen (known[k]) == n && strncmp (known[k], p, n) == 0)
              break;
          if (k == sizeof known / sizeof known[0])
            {
              fprintf (stderr, "nexc-bench: --only: unknown scenario \"%.*s\"\n", (int) n, p);
              usage (stderr);
              return 2;
            }
          p += n + (p[n] == ',');
        }
    }
  if (list_rows)
    {
      cleanup_buf struct buf ids = BUF_INIT;
      bench_row_ids (&b.o, &ids);
      fputs (ids.data ? ids.data : "", stdout);
      return 0;
    }
  if (set_paths (&b) < 0)
    return 2;

  /* Children must not inherit an ignored SIGPIPE (nats_Open sets it): proc
   * resets dispositions at spawn. Our own writes to a closed pipe fail with
   * EPIPE instead of killing us. */
  signal (SIGPIPE, SIG_IGN);
  if (nkey_pair_generate (NKEY_ACCOUNT, &b.issuer, &err) < 0
      || nkey_pair_generate (NKEY_CURVE, &b.sender, &err) < 0)
    {
      fprintf (stderr, "nexc-bench: keys: %s\n", err.msg);
      return 1;
    }
  b.report = report_new ();
  describe_machine (&b, machine, sizeof machine);
  {
    cleanup_buf struct buf ids = BUF_INIT;
    bench_row_ids (&b.o, &ids);
    for (char *p = ids.data, *nl; p && *p; p = nl + 1)
      {
        nl = strchr (p, '\n');
        *nl = '\0';
        report_row (b.report, p);
      }
  }
  bench_progress ("%s", machine);
  nats_Open (-1);
  if (nats_start (&nats, &err) < 0)
    {
      fprintf (stderr, "nexc-bench: %s\n", err.msg);
      return 1;
    }
  b.nats = &nats;

  {
    static const struct
    {
      const char *name;
      void (*fn) (struct bench *);
    } scenarios[] = { { "warm", scenario_warm },         { "cold", scenario_cold },
                      { "throughput", scenario_throughput }, { "logs", scenario_logs },
                      { "scale", scenario_scale },       { "stop", scenario_stop },
                      { "functions", scenario_functions },
                      { "deployments", scenario_deployments }, { "peers", scenario_peers } };
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
      if (selected (&b.o, scenarios[i].name))
        run_scenario (&b, scenarios[i].name, scenarios[i].fn, &notes);
  }

  nats_stop (&nats);
  printf ("nexc benchmark (%s mode)\n%s\n\n", b.o.smoke ? "smoke" : "full", machine);
  report_print (b.report, stdout, markdown);
  printf ("\nbackground load (other processes on this machine while each scenario ran):\n%s",
          notes.data ? notes.data : "");
  fflush (stdout);
  if (b.o.json_path && report_write_json (b.report, b.o.json_path, &err) < 0)
    fprintf (stderr, "nexc-bench: %s\n", err.msg);
  failed = report_count_failed (b.report);
  if (failed)
    fprintf (stderr, "nexc-bench: %d row(s) failed or were not run\n", failed);
  report_free (b.report);
  nkey_pair_wipe (&b.issuer);
  nkey_pair_wipe (&b.sender);
  nats_Close ();
  return failed ? 1 : 0;
}
