/* config_int: the tables that the loader (config.c) and the dump
 * (config_dump.c) must agree on, defined once in config.c: the plain integer
 * keys (key name, field of struct config, accepted range), which the loader
 * matches and the dump writes back in the same order, and the names of enum
 * cg_mode for the "cgroup" key. Internal to node/core/config*.c; every other
 * module includes config.h. */
#ifndef NEXC_NODE_CONFIG_INT_H
#define NEXC_NODE_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

struct config_int_key {
  const char *key;
  size_t off; /* offsetof (struct config, <key>), an int64_t */
  int64_t min, max;
};

extern const struct config_int_key config_int_keys[];
extern const size_t config_n_int_keys;

/* Index = enum cg_mode; NULL-terminated ("none" turns cgroups off). */
extern const char *const config_cgroup_names[];
extern const char *const config_logs_on_full_names[];
/* Index = enum userns_mode; NULL-terminated. */
extern const char *const config_userns_names[];

#endif
