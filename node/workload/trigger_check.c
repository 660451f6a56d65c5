#include "node/workload/trigger_check.h"

#include <stdint.h>
#include <stdio.h>

#include "api/deploy_request.h"
#include "api/subjects.h"
#include "node/core/node.h"
#include "node/workload/trigger.h"

/* Always in the deny list (0.2.6). */
static const char *const always_denied[] = { "$SYS.>", "$JS.>", "$NEX.>", NULL };

/* Denied unless the operator allows them (allow_trigger_subjects): other
 * clients' replies and the account's system spaces, which a function would
 * otherwise read as they pass. Any subject whose first token starts with '$'
 * counts as a system space too. */
static const char *const denied_by_default[]
    = { "_INBOX.>", "$KV.>", "$O.>", "$SRV.>", "$MQTT.>", NULL };

static bool
allowed (struct node *n, const char *s)
{
  for (size_t i = 0; i < n->cfg.allow_trigger_subjects.n; i++)
    if (subjects_within (s, n->cfg.allow_trigger_subjects.v[i]))
      return true;
  return false;
}

static bool
denied (struct node *n, const char *s)
{
  for (int i = 0; always_denied[i]; i++)
    if (subjects_overlap (s, always_denied[i]))
      return true;
  for (size_t i = 0; i < n->cfg.deny_trigger_subjects.n; i++)
    if (subjects_pattern_ok (n->cfg.deny_trigger_subjects.v[i], SIZE_MAX)
        && subjects_overlap (s, n->cfg.deny_trigger_subjects.v[i]))
      return true;
  if (allowed (n, s))
    return false;
  if (s[0] == '$')
    return true;
  for (int i = 0; denied_by_default[i]; i++)
    if (subjects_overlap (s, denied_by_default[i]))
      return true;
  return false;
}

/* The deploy's "nats" subjects: the trigger rules, since a subscription
 * there reads what a trigger would. */
static int
check_nats_list (struct node *n, const char *what, char **v, size_t count, char *msg, size_t cap)
{
  for (size_t i = 0; i < count; i++)
    {
      if (!subjects_pattern_ok (v[i], FN_SUBJECT_MAX))
        {
          snprintf (msg, cap,
                    "Invalid deploy request: nats.%s '%.300s' is not a subject of at most %d "
                    "bytes",
                    what, v[i], FN_SUBJECT_MAX);
          return -1;
        }
      if (denied (n, v[i]))
        {
          snprintf (msg, cap,
                    "Invalid deploy request: nats.%s %.300s overlaps with subject(s) in this "
                    "node's deny list",
                    what, v[i]);
          return -1;
        }
    }
  return 0;
}

static int
check_nats (struct node *n, const struct deploy_request *req, char *msg, size_t cap)
{
  const struct deploy_nats *nt = &req->nats;
  if (nt->n_publish == 0 && nt->n_subscribe == 0)
    return 0;
  if (n->cfg.wcreds_account == NULL)
    {
      snprintf (msg, cap, "Invalid deploy request: nats: this node gives workloads no NATS "
                          "credentials of their own (workload_creds is off)");
      return -1;
    }
  /* The node subscribes for a function and hands each message in: a
   * function run has no NATS user to give permissions to. */
  if (trigger_is_function (req->type))
    {
      snprintf (msg, cap, "Invalid deploy request: nats: not supported for function workloads");
      return -1;
    }
  if (check_nats_list (n, "publish", nt->publish, nt->n_publish, msg, cap) < 0)
    return -1;
  return check_nats_list (n, "subscribe", nt->subscribe, nt->n_subscribe, msg, cap);
}

int
trigger_check (struct node *n, const struct deploy_request *req, char *msg, size_t cap)
{
  if (check_nats (n, req, msg, cap) < 0)
    return -1;
  if (!trigger_is_function (req->type))
    {
      if (req->n_triggers == 0)
        return 0;
      snprintf (msg, cap, "Unsupported workload type for trigger subject registration: %.200s",
                req->type);
      return -1;
    }
  if (req->n_triggers == 0)
    {
      snprintf (msg, cap, "at least one trigger subject is required for this workload type");
      return -1;
    }
  if (req->essential)
    {
      snprintf (msg, cap, "essential flag is not supported for workload type");
      return -1;
    }
  for (size_t i = 0; i < req->n_triggers; i++)
    {
      const char *s = req->trigger_subjects[i];
      if (!subjects_pattern_ok (s, FN_SUBJECT_MAX))
        {
          snprintf (msg, cap, "Invalid trigger subject: '%.300s' (a subject of at most %d bytes)",
                    s, FN_SUBJECT_MAX);
          return -1;
        }
      if (denied (n, s))
        {
          snprintf (msg, cap,
                    "The trigger subject %s overlaps with subject(s) in this node's deny list", s);
          return -1;
        }
    }
  return 0;
}
