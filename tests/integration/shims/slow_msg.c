/* A test-only LD_PRELOAD shim for nexc-node: every message nats.c makes
 * waits NEXC_TEST_SLOW_MSG_US microseconds (default 1000) first. That is
 * each message read off a connection, made in the very window where nats.c
 * 3.4.1 has found the message's subscription and holds no reference to it,
 * so a race of microseconds becomes one a test hits every time
 * (node/bus/subgrave.h; tests/integration/test_teardown.c); and, as
 * natsMsg_Create makes its message the same way, each message the node
 * publishes with it too (log lines, events), which only slows the node.
 *
 * natsMsg_create is nats.c's internal constructor, exported and called
 * through the PLT, which is what lets a preloaded definition stand in for
 * it; the signature is 3.4.1's (src/msg.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

typedef int (*create_fn) (void **msg, const char *subject, int subj_len, const char *reply,
                          int reply_len, const char *buf, int buf_len, int hdr_len);

int natsMsg_create (void **msg, const char *subject, int subj_len, const char *reply,
                    int reply_len, const char *buf, int buf_len, int hdr_len);

int
natsMsg_create (void **msg, const char *subject, int subj_len, const char *reply, int reply_len,
                const char *buf, int buf_len, int hdr_len)
{
  static create_fn real;
  static long us = -1;
  if (real == NULL)
    real = (create_fn) dlsym (RTLD_NEXT, "natsMsg_create");
  if (us < 0)
    {
      const char *e = getenv ("NEXC_TEST_SLOW_MSG_US");
      us = e ? strtol (e, NULL, 10) : 1000;
    }
  if (us > 0)
    usleep ((useconds_t) us);
  return real (msg, subject, subj_len, reply, reply_len, buf, buf_len, hdr_len);
}
