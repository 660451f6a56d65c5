/* objmap: one bucket's object infos as the view holds them (objview.c):
 * name token (the metadata subject's last token) -> what the last message
 * on it said. Open addressing on a keyed hash (SipHash, key chosen at
 * random by the owner), since the tokens are chosen by whoever writes the
 * bucket. Entries are only added or updated: a deletion is itself the
 * object's last message (a marker), and a purge is seen by loading anew.
 * Any thread, no locking: the owner's. */
#ifndef NEXC_NODE_OBJMAP_H
#define NEXC_NODE_OBJMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/objstore.h"

#define OBJMAP_KEY_LEN 16

struct objmap_entry {
  char *token; /* owned; NULL: free slot */
  size_t token_len;
  struct objstore_meta meta;
};

struct objmap {
  struct objmap_entry *slots;
  size_t cap; /* power of two, or 0 */
  size_t count;
  size_t bytes; /* memory held: slots and tokens */
  unsigned char key[OBJMAP_KEY_LEN];
};

void objmap_init (struct objmap *m, const unsigned char key[OBJMAP_KEY_LEN]);
void objmap_free (struct objmap *m);

const struct objmap_entry *objmap_get (const struct objmap *m, const char *token, size_t len);

/* Insert or update token's entry. *added tells which (may be NULL). */
void objmap_put (struct objmap *m, const char *token, size_t len,
                 const struct objstore_meta *meta, bool *added);

#endif
