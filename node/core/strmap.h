/* strmap: two small string containers, a growable list of owned strings
 * (struct strlist) and a map of owned strings kept sorted by key (struct
 * strmap, in the order Go emits maps). The configuration holds them
 * (workload_types, valid_issuers, tags, autostart argv and environment,
 * warnings), and the node builds its advertised tags in one (control/tags.c);
 * the deploy checks and the sandbox only look them up or add to them. They
 * know nothing of JSON; config.h includes this header, so its callers need
 * no other include. */
#ifndef NEXC_NODE_STRMAP_H
#define NEXC_NODE_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct strlist {
  char **v;
  size_t n;
};

struct strmap {
  char **keys; /* kept sorted by byte value, as Go emits maps */
  char **vals;
  size_t n;
};

void strlist_push (struct strlist *l, const char *s);
bool strlist_contains (const struct strlist *l, const char *s);
void strlist_free (struct strlist *l);
void strmap_set (struct strmap *m, const char *k, const char *v);
const char *strmap_get (const struct strmap *m, const char *k);
void strmap_free (struct strmap *m);

#endif
