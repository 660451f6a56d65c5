/* nxerr: the one error idiom of nexc.
 *
 * A function that can fail returns int (< 0 on failure) and fills a
 * caller-provided struct nxerr. Callers add context with nxerr_wrap, so a
 * message reads outermost-first: "deploy hello: fetch artifact: nats: timeout".
 * The top of each call chain decides what to do with it (reply, log, exit).
 * The code is an errno-like number (0 when none applies). */
#ifndef NEXC_NXERR_H
#define NEXC_NXERR_H

#include <stddef.h>

#define NXERR_MSG_MAX 512

struct nxerr {
  int code;
  char msg[NXERR_MSG_MAX];
};

/* Set the error; always returns -1 so "return nxerr_set (...)" reads well. */
int nxerr_set (struct nxerr *e, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Prefix the current message with context ("ctx: old"); returns -1. */
int nxerr_wrap (struct nxerr *e, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Like nxerr_set, appending ": strerror(errno_value)". */
int nxerr_sys (struct nxerr *e, int errno_value, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static inline void
nxerr_clear (struct nxerr *e)
{
  e->code = 0;
  e->msg[0] = '\0';
}

#endif
