#include "node/workload/workload.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/timefmt.h"
#include "api/xalloc.h"
#include "api/deploy_request.h"
#include "node/core/node.h"

void
workload_new_id (char out[WORKLOAD_ID_LEN + 1])
{
  static const char alpha[] = "0123456789abcdefghijklmnopqrstuv";
  uint8_t raw[12];
  uint32_t t = (uint32_t) time (NULL);
  /* 4 bytes of time then 8 random bytes: ids sort by creation second, and
   * collisions are out of reach (64 random bits per second). */
  raw[0] = (uint8_t) (t >> 24);
  raw[1] = (uint8_t) (t >> 16);
  raw[2] = (uint8_t) (t >> 8);
  raw[3] = (uint8_t) t;
  randombytes_buf (raw + 4, 8);
  /* 96 bits -> 20 base32 chars (100 bits, the last 4 zero). */
  uint64_t acc = 0;
  int bits = 0, o = 0;
  for (int i = 0; i < 12; i++)
    {
      acc = (acc << 8) | raw[i];
      bits += 8;
      while (bits >= 5)
        {
          out[o++] = alpha[(acc >> (bits - 5)) & 31];
          bits -= 5;
        }
    }
  if (bits > 0)
    out[o++] = alpha[(acc << (5 - bits)) & 31];
  out[o] = '\0';
}

struct workload *
workload_new (struct node *n)
{
  struct workload *w = xcalloc (1, sizeof *w);
  w->node = n;
  workload_new_id (w->id);
  w->created_mono_ns = timefmt_mono_ns ();
  loop_timer_init (&w->logs_timer, NULL);
  return w;
}

void
workload_link (struct node *n, struct workload *w)
{
  w->prev = NULL;
  w->next = n->workloads;
  if (n->workloads)
    n->workloads->prev = w;
  n->workloads = w;
  n->n_workloads++;
  n->total_bytes += w->artifact_size;
}

void
workload_unlink (struct node *n, struct workload *w)
{
  if (w->prev)
    w->prev->next = w->next;
  else if (n->workloads == w)
    n->workloads = w->next;
  else
    return; /* not linked */
  if (w->next)
    w->next->prev = w->prev;
  w->next = w->prev = NULL;
  n->n_workloads--;
  n->total_bytes -= w->artifact_size;
}

void
workload_free (struct workload *w)
{
  if (w == NULL)
    return;
  free (w->ns);
  free (w->name);
  free (w->type);
  free (w->description);
  free (w->deploy_reply);
  free (w->stop_reply);
  free (w->creds_path); /* the file is creds_remove's: a detached run keeps it */
  jwt_claims_free (&w->claims);
  deploy_request_free (w->req);
  logs_stream_free (&w->log);
  free (w->info); /* one allocation */
  free (w);
}

struct workload *
workload_find (struct node *n, const char *id)
{
  for (struct workload *w = n->workloads; w; w = w->next)
    if (strcmp (w->id, id) == 0)
      return w;
  return NULL;
}

struct workload *
workload_oldest (struct node *n)
{
  struct workload *w = n->workloads;
  while (w && w->next)
    w = w->next;
  return w;
}
