#include "node/control/metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/subjects.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/agents/agent.h"
#include "node/bus/events.h"
#include "node/core/loop.h"
#include "node/core/node.h"
#include "node/agents/pool.h"
#include "node/workload/workload.h"

const uint64_t metrics_latency_bounds_us[12]
    = { 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 1000000, UINT64_MAX };

struct proc {
  int pid, ppid;
  uint64_t ticks;
  uint64_t rss_pages;
};

/* One line of /proc/<pid>/stat: the comm may hold spaces and parentheses,
 * so parse after the last ')'. */
static bool
read_stat (int dirfd, const char *name, struct proc *p)
{
  char path[64], buf[1024];
  ssize_t n;
  int fd;
  char *rp;
  unsigned long long utime, stime, rss;
  int ppid;
  snprintf (path, sizeof path, "%s/stat", name);
  fd = openat (dirfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  rp = strrchr (buf, ')');
  if (rp == NULL)
    return false;
  /* fields after comm: state(3) ppid(4) ... utime(14) stime(15) ... rss(24) */
  if (sscanf (rp + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %*u %*u %llu",
              &ppid, &utime, &stime, &rss)
      != 4)
    return false;
  p->pid = atoi (name);
  p->ppid = ppid;
  p->ticks = utime + stime;
  p->rss_pages = rss;
  return true;
}

static struct proc *
scan (size_t *count)
{
  DIR *d = opendir ("/proc");
  struct dirent *e;
  struct proc *v = NULL;
  size_t n = 0, cap = 0;
  if (d == NULL)
    {
      *count = 0;
      return NULL;
    }
  while ((e = readdir (d)))
    {
      if (e->d_name[0] < '1' || e->d_name[0] > '9')
        continue;
      if (n == cap)
        {
          cap = cap ? cap * 2 : 512;
          v = xrealloc (v, cap * sizeof *v);
        }
      if (read_stat (dirfd (d), e->d_name, &v[n]))
        n++;
    }
  closedir (d);
  *count = n;
  return v;
}

static int
by_pid (const void *a, const void *b)
{
  const struct proc *x = a, *y = b;
  return (x->pid > y->pid) - (x->pid < y->pid);
}

static const struct proc *
find_pid (const struct proc *v, size_t n, int pid)
{
  struct proc key = { .pid = pid };
  return bsearch (&key, v, n, sizeof *v, by_pid);
}

/* One sampling: the agents to look for (a snapshot taken on the loop
 * thread), what the scan found for each (filled on the sampling thread),
 * then applied back on the loop thread to the workloads that still have
 * those agents. */
struct sample {
  struct node *n;
  size_t na;
  struct agent_ref {
    int pid;
    char id[32];
    uint64_t ticks, rss_pages;
    uint32_t pids;
  } *agents; /* sorted by pid */
  uint64_t taken_ns;
};

static int
by_agent_pid (const void *a, const void *b)
{
  const struct agent_ref *x = a, *y = b;
  return (x->pid > y->pid) - (x->pid < y->pid);
}

/* One /proc scan, then each process walks up its parents until it meets an
 * agent: O(processes x depth), whatever the number of workloads. Touches
 * nothing but the sample: runs on its own thread. */
static void
measure (struct sample *sm)
{
  size_t count;
  struct proc *v = scan (&count);
  qsort (v, count, sizeof *v, by_pid);
  for (size_t i = 0; i < count; i++)
    {
      const struct proc *p = &v[i];
      for (int depth = 0; depth < 64 && p && p->ppid > 1; depth++)
        {
          struct agent_ref key = { .pid = p->ppid };
          struct agent_ref *a = bsearch (&key, sm->agents, sm->na, sizeof key, by_agent_pid);
          if (a)
            {
              a->ticks += v[i].ticks;
              a->rss_pages += v[i].rss_pages;
              a->pids++;
              break;
            }
          p = find_pid (v, count, p->ppid);
        }
    }
  sm->taken_ns = timefmt_mono_ns ();
  free (v);
}

static struct sample *
snapshot (struct node *n)
{
  struct sample *sm = xcalloc (1, sizeof *sm);
  sm->n = n;
  sm->agents = xcalloc (n->n_workloads + 1, sizeof *sm->agents);
  for (struct workload *w = n->workloads; w; w = w->next)
    if (w->agent && w->state == WL_RUNNING && sm->na < n->n_workloads)
      {
        sm->agents[sm->na].pid = w->agent->pid;
        snprintf (sm->agents[sm->na++].id, sizeof sm->agents[0].id, "%s", w->id);
      }
  qsort (sm->agents, sm->na, sizeof *sm->agents, by_agent_pid);
  return sm;
}

static void
sample_free (void *arg)
{
  struct sample *sm = arg;
  if (sm == NULL)
    return;
  free (sm->agents);
  free (sm);
}

/* On the loop thread: figures to the workloads still run by the same agent.
 * One walk of the list, each workload's agent looked up by pid: O(n log n)
 * (a lookup of each sampled id in the list was O(n^2): ~20 ms of the loop at
 * 1,000 workloads). */
static void
apply (struct sample *sm)
{
  struct node *n = sm->n;
  long hz = sysconf (_SC_CLK_TCK);
  long page = sysconf (_SC_PAGESIZE);
  for (struct workload *w = n->workloads; w; w = w->next)
    {
      struct agent_ref key, *a;
      if (w->agent == NULL || w->state != WL_RUNNING)
        continue;
      key.pid = w->agent->pid;
      a = bsearch (&key, sm->agents, sm->na, sizeof key, by_agent_pid);
      if (a == NULL || strcmp (a->id, w->id) != 0)
        continue;
      w->pids = a->pids;
      w->mem_bytes = a->rss_pages * (uint64_t) page;
      if (w->cpu_sample_ns && sm->taken_ns > w->cpu_sample_ns && a->ticks >= w->cpu_ticks)
        w->cpu_rate = (double) (a->ticks - w->cpu_ticks) / (double) hz
                      / ((double) (sm->taken_ns - w->cpu_sample_ns) / 1e9);
      w->cpu_ticks = a->ticks;
      w->cpu_sample_ns = sm->taken_ns;
      if (w->mem_bytes > w->mem_peak_bytes)
        w->mem_peak_bytes = w->mem_bytes;
    }
}

void
metrics_record_latency (struct node *n, uint64_t ns)
{
  uint64_t us = ns / 1000;
  for (int i = 0; i < 12; i++)
    if (us < metrics_latency_bounds_us[i] || i == 11)
      {
        n->counters.ctl_latency[i]++;
        return;
      }
}

void
metrics_write_workload (const struct workload *w, struct jsonw *j)
{
  long hz = sysconf (_SC_CLK_TCK);
  char rate[32];
  jsonw_obj_begin (j);
  jsonw_kstr (j, "workload_id", w->id);
  jsonw_kstr (j, "workload_name", w->name);
  jsonw_kstr (j, "namespace", w->ns);
  jsonw_kint (j, "cpu_time_ms", (int64_t) (w->cpu_ticks * 1000 / (uint64_t) (hz > 0 ? hz : 100)));
  snprintf (rate, sizeof rate, "%.3f", w->cpu_rate);
  jsonw_key (j, "cpu_rate");
  jsonw_raw (j, rate, strlen (rate));
  jsonw_kint (j, "memory_bytes", (int64_t) w->mem_bytes);
  jsonw_kint (j, "memory_peak_bytes", (int64_t) w->mem_peak_bytes);
  jsonw_kint (j, "pids", w->pids);
  jsonw_kint (j, "restarts", w->restarts);
  jsonw_kint (j, "log_lines", (int64_t) w->log.seq);
  jsonw_kint (j, "log_bytes", (int64_t) w->log.bytes);
  jsonw_kint (j, "log_dropped", (int64_t) w->log.dropped);
  jsonw_obj_end (j);
}

void
metrics_write_node (struct node *n, struct jsonw *j)
{
  const struct node_counters *c = &n->counters;
  jsonw_obj_begin (j);
  jsonw_kstr (j, "node_id", n->node_id);
  jsonw_kint (j, "workloads", (int64_t) n->n_workloads);
  jsonw_kint (j, "warm_agents", (int64_t) pool_idle_count (n->pool));
  jsonw_kint (j, "pool_misses", (int64_t) c->pool_misses);
  jsonw_kint (j, "deploys", (int64_t) c->deploys_ok);
  jsonw_kint (j, "deploys_failed", (int64_t) c->deploys_failed);
  jsonw_kint (j, "stops", (int64_t) c->stops);
  jsonw_kint (j, "workloads_exited", (int64_t) c->workloads_exited);
  jsonw_kint (j, "log_lines", (int64_t) c->log_lines);
  jsonw_kint (j, "log_dropped", (int64_t) (c->log_dropped_agent + c->log_dropped_publish));
  jsonw_kint (j, "events_dropped", (int64_t) c->events_dropped);
  jsonw_kint (j, "agent_spawn_failures", (int64_t) c->agent_spawn_failures);
  jsonw_kint (j, "oom_kills", (int64_t) c->oom_kills);
  jsonw_kint (j, "nats_reconnects",
              (int64_t) __atomic_load_n (&c->nats_reconnects, __ATOMIC_RELAXED));
  jsonw_key (j, "control_latency_us");
  jsonw_obj_begin (j);
  for (int i = 0; i < 12; i++)
    {
      char k[32];
      if (i == 11)
        snprintf (k, sizeof k, "inf");
      else
        snprintf (k, sizeof k, "le_%llu", (unsigned long long) metrics_latency_bounds_us[i]);
      jsonw_kint (j, k, (int64_t) c->ctl_latency[i]);
    }
  jsonw_obj_end (j);
  jsonw_obj_end (j);
}

/* A sample's events go out METRICS_PER_TURN workloads per loop turn, the
 * rest after whatever the loop has waiting (a 0 ms timer): at 1,000
 * workloads the whole burst (JSON, CloudEvent, Ed25519 signature, publish:
 * ~60 us each) held the loop for 58-74 ms, and a deploy arriving then waited
 * as long. Each workload is marked with the sample it was published for, so
 * the sweep needs no cursor into a list that changes between turns; one
 * that starts meanwhile is in it, one that ends is not. node_metrics ends
 * the sweep. */
#define METRICS_PER_TURN 16

static void
publish_some (struct node *n)
{
  size_t sent = 0;
  for (struct workload *w = n->workloads; w; w = w->next)
    {
      cleanup_buf struct buf b = BUF_INIT;
      struct jsonw j;
      if (w->state != WL_RUNNING || w->metrics_gen == n->metrics_gen)
        continue;
      if (sent++ == METRICS_PER_TURN)
        {
          loop_timer_arm (n->loop, &n->metrics_pub_timer, 0);
          return;
        }
      w->metrics_gen = n->metrics_gen;
      jsonw_init (&j, &b);
      metrics_write_workload (w, &j);
      events_publish (n, w->ns, "workload_metrics", w->id, n->metrics_at, &b);
    }
  {
    cleanup_buf struct buf b = BUF_INIT;
    struct jsonw j;
    jsonw_init (&j, &b);
    metrics_write_node (n, &j);
    events_publish (n, NEX_NS_SYSTEM, "node_metrics", n->node_id, n->metrics_at, &b);
  }
}

static void
on_publish_timer (struct loop_timer *t)
{
  struct node *n = (struct node *) ((char *) t - offsetof (struct node, metrics_pub_timer));
  if (!n->stopping)
    publish_some (n);
}

/* A sweep still going when the next sample comes goes on with the new
 * figures: what it had not published yet is published once, fresher. */
static void
publish (struct node *n)
{
  n->metrics_gen++;
  n->metrics_at = timefmt_now ();
  loop_timer_cancel (n->loop, &n->metrics_pub_timer);
  publish_some (n);
}

/* The scan costs ~10 ms per thousand processes: a thread of its own does it,
 * so the loop (control requests, deploys) never waits for it. One at a time;
 * an interval whose sampling is still running is skipped. */
/* The scan's figures to the workloads, then out as events (loop thread). */
static void
conclude (struct sample *sm)
{
  struct node *n = sm->n;
  if (!n->stopping)
    {
      apply (sm);
      publish (n);
    }
  sample_free (sm);
}

static void
sampled (void *arg)
{
  struct sample *sm = arg;
  if (sm->n->metrics_busy)
    pthread_join (sm->n->metrics_thread, NULL);
  sm->n->metrics_busy = false;
  conclude (sm);
}

static void *
sampler (void *arg)
{
  struct sample *sm = arg;
  measure (sm);
  loop_post (sm->n->loop, sampled, sample_free, sm);
  return NULL;
}

static void
on_metrics (struct loop_timer *t)
{
  struct node *n = (struct node *) ((char *) t - offsetof (struct node, metrics_timer));
  struct sample *sm;
  if (n->stopping)
    return;
  loop_timer_arm (n->loop, t, (uint64_t) n->cfg.metrics_interval_ms);
  if (n->metrics_busy)
    return;
  sm = snapshot (n);
  if (pthread_create (&n->metrics_thread, NULL, sampler, sm) == 0)
    {
      n->metrics_busy = true;
      return;
    }
  /* No thread today: sample here, as before. */
  measure (sm);
  conclude (sm);
}

void
metrics_start (struct node *n)
{
  loop_timer_init (&n->metrics_timer, on_metrics);
  loop_timer_init (&n->metrics_pub_timer, on_publish_timer);
  if (n->cfg.metrics_interval_ms > 0)
    loop_timer_arm (n->loop, &n->metrics_timer, (uint64_t) n->cfg.metrics_interval_ms);
}

void
metrics_stop (struct node *n)
{
  if (n->metrics_busy)
    pthread_join (n->metrics_thread, NULL); /* its result is dropped with the loop */
  n->metrics_busy = false;
  loop_timer_cancel (n->loop, &n->metrics_pub_timer); /* a sweep cut short by the stop */
}
