/* natsprobe: a workload that tries what its NATS credentials allow and
 * prints one line per try, for the test of per-workload credentials
 * (tests/integration/test_workload_creds.c) and for operators checking a
 * node's workload_creds.
 *
 * Connects to NATS_URL with NATS_CREDS (the node's per-workload creds file)
 * and NATS_INBOX_PREFIX (the only inbox its user may subscribe to), then:
 *   publish  PROBE_PUBLISH            (a subject the deploy declared)
 *   request  PROBE_REQUEST            (declared; answered by whoever listens)
 *   publish  PROBE_FORGE_LOGS, PROBE_FORGE_EVENTS   (lines that must not arrive)
 *   request  PROBE_CONTROL            (a $NEX control subject)
 *   subscribe _INBOX.>                (other clients' replies)
 * With PROBE_SAY it first prints "natsprobe: say <PROBE_SAY>" (how a test
 * sees an environment value arrive), and without NATS_CREDS or NATS_URL
 * stops there (exit 0).
 * Then it prints who owns the creds file and its mode, and its own uid.
 * Each line is "natsprobe: <what> <subject>: allowed" or "...: refused
 * (<server's text>)"; a request that got an answer prints "answered <data>".
 * The server reports a permission violation asynchronously; a flush after
 * each try makes sure it has been read, and nats.c keeps the last error's
 * text, which names the subject. Ends with "natsprobe: done" and exits 0. */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_NATS 1
/* Generous: on a loaded machine a round trip can take seconds, and a probe
 * that gives up early reports "allowed" for what was only slow. */
#define PROBE_WAIT_MS 10000
/* A request whose publish is refused waits this long for nothing: shorter. */
#define PROBE_REQUEST_MS 4000

static natsConnection *nc;

/* Whether the server refused something on subject since the last try. */
static void
report (const char *what, const char *subject)
{
  const char *text = NULL;
  natsConnection_FlushTimeout (nc, PROBE_WAIT_MS);
  natsConnection_GetLastError (nc, &text);
  if (text && strstr (text, subject) && strstr (text, "Permissions Violation"))
    printf ("natsprobe: %s %s: refused (%s)\n", what, subject, text);
  else
    printf ("natsprobe: %s %s: allowed\n", what, subject);
  fflush (stdout);
}

static void
try_publish (const char *subject, const char *data)
{
  if (subject == NULL)
    return;
  natsConnection_PublishString (nc, subject, data);
  report ("publish", subject);
}

static void
try_request (const char *subject)
{
  natsMsg *reply = NULL;
  natsStatus s;
  if (subject == NULL)
    return;
  s = natsConnection_RequestString (&reply, nc, subject, "ping", PROBE_REQUEST_MS);
  if (s == NATS_OK)
    {
      printf ("natsprobe: request %s: answered %.*s\n", subject, natsMsg_GetDataLength (reply),
              natsMsg_GetData (reply));
      fflush (stdout);
      natsMsg_Destroy (reply);
      return;
    }
  report ("request", subject);
}

static void
try_subscribe (const char *subject)
{
  natsSubscription *sub = NULL;
  natsConnection_SubscribeSync (&sub, nc, subject);
  report ("subscribe", subject);
  natsSubscription_Destroy (sub);
}

/* The default handler prints to stderr; the report lines say it better. */
static void
on_error (natsConnection *c, natsSubscription *sub, natsStatus s, void *closure)
{
  (void) c;
  (void) sub;
  (void) s;
  (void) closure;
}

int
main (void)
{
  const char *url = getenv ("NATS_URL"), *creds = getenv ("NATS_CREDS");
  const char *inbox = getenv ("NATS_INBOX_PREFIX");
  natsOptions *o = NULL;
  natsStatus s;
  if (getenv ("PROBE_SAY"))
    {
      printf ("natsprobe: say %s\n", getenv ("PROBE_SAY"));
      fflush (stdout);
      if (creds == NULL || url == NULL)
        return 0;
    }
  s = natsOptions_Create (&o);
  if (s == NATS_OK)
    s = natsOptions_SetURL (o, url ? url : "nats://127.0.0.1:4222");
  if (s == NATS_OK && creds)
    s = natsOptions_SetUserCredentialsFromFiles (o, creds, NULL);
  if (s == NATS_OK && inbox)
    s = natsOptions_SetCustomInboxPrefix (o, inbox);
  if (s == NATS_OK)
    s = natsOptions_SetErrorHandler (o, on_error, NULL);
  if (s == NATS_OK)
    s = natsOptions_SetTimeout (o, PROBE_WAIT_MS);
  if (s == NATS_OK)
    s = natsConnection_Connect (&nc, o);
  natsOptions_Destroy (o);
  if (s != NATS_OK)
    {
      printf ("natsprobe: connect: %s\n", natsStatus_GetText (s));
      return EXIT_NATS;
    }
  if (creds)
    {
      struct stat st;
      if (stat (creds, &st) == 0)
        printf ("natsprobe: creds file mode %04o uid %u, running as uid %u\n",
                (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid, (unsigned) getuid ());
    }
  printf ("natsprobe: connected with %s\n", creds ? "NATS_CREDS" : "no credentials");
  fflush (stdout);
  try_publish (getenv ("PROBE_PUBLISH"), "hello from natsprobe");
  try_request (getenv ("PROBE_REQUEST"));
  try_publish (getenv ("PROBE_FORGE_LOGS"), "FORGED log line");
  try_publish (getenv ("PROBE_FORGE_EVENTS"), "{\"FORGED\":true}");
  try_request (getenv ("PROBE_CONTROL"));
  try_subscribe ("_INBOX.>");
  printf ("natsprobe: done\n");
  fflush (stdout);
  if (getenv ("PROBE_HOLD")) /* stay until stopped */
    for (;;)
      pause ();
  natsConnection_Destroy (nc);
  nats_Close ();
  return 0;
}
