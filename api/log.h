/* log: the process's own diagnostics, one line each on stderr:
 *   "nexc-node: warn: message"
 * Workload logs never go through here (they are data, see node/logs.c).
 * Thread-safe: each line is formatted then written with one write(2).
 * Never pass secrets (seeds, environment values) to these functions. */
#ifndef NEXC_LOG_H
#define NEXC_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_init (const char *prog, enum log_level level);
void log_set_level (enum log_level level);
enum log_level log_get_level (void);
/* Parse "error|warn|info|debug"; returns -1 when unknown. */
int log_level_parse (const char *s, enum log_level *out);
void log_msg (enum log_level level, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

#define log_error(...) log_msg (LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg (LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg (LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg (LOG_DEBUG, __VA_ARGS__)

#endif
