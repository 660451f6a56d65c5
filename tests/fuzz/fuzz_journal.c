/* fuzz_journal: the journal image parser (node/state/journal_codec.c,
 * journal_parse), as a restarted node reads <state>/journal: records,
 * frames, checks and CBOR from a file a crash may have torn or a disk
 * corrupted. The parser must never crash, and what it calls good must lie
 * within the input. */
#include <stdint.h>
#include <stdlib.h>

#include "node/state/journal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct journal_entry *entries = NULL;
  struct journal_event *events = NULL;
  size_t n = 0, n_events = 0, good = 0;
  struct nxerr err = { 0 };
  int rc = journal_parse (data, size, &entries, &n, &events, &n_events, &good, &err);
  if (rc < 0 && err.msg[0] == '\0')
    abort (); /* a refusal says why */
  if (rc == 0 && good > size)
    abort ();
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (entries[i].id == NULL)
      abort (); /* every live entry has its key */
  journal_entries_free (entries, n);
  journal_events_free (events, n_events);
  return 0;
}
