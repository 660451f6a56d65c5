/* echoservice: a real NATS request/reply service, the canonical workload.
 *
 * Connects to NATS_URL (required, from the environment the node gives the
 * workload), subscribes to ECHO_SUBJECT (default "echo") and answers each
 * request with its payload prefixed by "echo: ". Logs one line when it is
 * listening and one per request. Exits 0 on SIGTERM or SIGINT.
 *
 * Signals: nats.c starts its own threads, and a signal delivered to one of
 * them could run a handler at an arbitrary point. So SIGTERM and SIGINT are
 * blocked before the library starts (every thread inherits the mask) and
 * the main thread takes them synchronously with sigwait. */
#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ECHO_PREFIX "echo: "
#define EXIT_USAGE 2
#define EXIT_NATS 1

/* Runs on a nats.c thread; it owns msg and must destroy it. */
static void
on_request (natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
  const char *reply = natsMsg_GetReply (msg);
  const char *data = natsMsg_GetData (msg);
  int n = natsMsg_GetDataLength (msg);
  size_t plen = strlen (ECHO_PREFIX);
  char *out;
  natsStatus s;
  (void) sub;
  (void) closure;

  if (reply == NULL || *reply == '\0')
    {
      printf ("echoservice: ignoring message without reply subject (%d bytes)\n", n);
      natsMsg_Destroy (msg);
      return;
    }
  out = malloc (plen + (size_t) n);
  if (out == NULL)
    {
      fprintf (stderr, "echoservice: out of memory\n");
      natsMsg_Destroy (msg);
      return;
    }
  memcpy (out, ECHO_PREFIX, plen);
  if (n > 0)
    memcpy (out + plen, data, (size_t) n);
  s = natsConnection_Publish (nc, reply, out, (int) (plen + (size_t) n));
  if (s == NATS_OK)
    printf ("echoservice: replied to request on %s (%d bytes)\n", natsMsg_GetSubject (msg), n);
  else
    fprintf (stderr, "echoservice: reply failed: %s\n", natsStatus_GetText (s));
  free (out);
  natsMsg_Destroy (msg);
}

int
main (void)
{
  const char *url = getenv ("NATS_URL");
  const char *subject = getenv ("ECHO_SUBJECT");
  natsOptions *opts = NULL;
  natsConnection *nc = NULL;
  natsSubscription *sub = NULL;
  natsStatus s;
  sigset_t set;
  int sig = 0;
  int rc = 0;

  setvbuf (stdout, NULL, _IOLBF, 0);
  setvbuf (stderr, NULL, _IOLBF, 0);
  if (url == NULL || *url == '\0')
    {
      fprintf (stderr, "echoservice: NATS_URL is not set; it must name the NATS server\n");
      return EXIT_USAGE;
    }
  if (subject == NULL || *subject == '\0')
    subject = "echo";

  /* Block before any nats.c thread exists so that all of them inherit it. */
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  pthread_sigmask (SIG_BLOCK, &set, NULL);

  s = natsOptions_Create (&opts);
  if (s == NATS_OK)
    s = natsOptions_SetURL (opts, url);
  if (s == NATS_OK)
    s = natsOptions_SetName (opts, "echoservice");
  if (s == NATS_OK)
    s = natsOptions_SetSendAsap (opts, true); /* replies go out without batching */
  if (s == NATS_OK)
    s = natsOptions_SetMaxReconnect (opts, -1); /* ride out server restarts */
  if (s == NATS_OK)
    s = natsConnection_Connect (&nc, opts);
  if (s == NATS_OK)
    s = natsConnection_Subscribe (&sub, nc, subject, on_request, NULL);
  if (s == NATS_OK)
    s = natsConnection_Flush (nc); /* the server has the subscription now */
  if (s != NATS_OK)
    {
      fprintf (stderr, "echoservice: %s: %s\n", url, natsStatus_GetText (s));
      rc = EXIT_NATS;
      goto out;
    }
  printf ("echoservice listening on %s\n", subject);

  if (sigwait (&set, &sig) != 0)
    rc = EXIT_NATS;
  printf ("echoservice stopping (%s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");

out:
  if (sub != NULL)
    natsSubscription_Unsubscribe (sub);
  natsSubscription_Destroy (sub);
  natsConnection_Destroy (nc);
  natsOptions_Destroy (opts);
  nats_CloseAndWait (2000);
  return rc;
}
