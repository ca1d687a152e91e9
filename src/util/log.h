/*
 * Logging in StratoVirt's format (tests parse it):
 *   YYYY-MM-DDTHH:MM:SS.nnnnnnnnn: [pid][tid][file:line]:LEVEL: msg
 * Enabled by -D [file]; level from STRATUS_LOG_LEVEL (error|warn|info|debug|trace,
 * default info).
 *
 * The log sink is the one piece of process-wide state outside the machine object:
 * it is configured once in main() before any thread starts and is read-only after,
 * because every layer (including code with no machine pointer, e.g. the option
 * parser) must be able to log.
 */
#ifndef STRATUS_LOG_H
#define STRATUS_LOG_H

#include <stdbool.h>
#include <glib.h>

typedef enum {
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_TRACE,
} LogLevel;

/* path NULL = stderr. Returns false with *err set if the file cannot be opened. */
bool log_open(const char *path, GError **err);
void log_close(void);
/* The log's descriptor (-1 when logging is off): -daemonize keeps it open. */
int log_fileno(void);
bool log_enabled(LogLevel level);
void log_msg(LogLevel level, const char *file, int line, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define log_trace(...) log_msg(LOG_LEVEL_TRACE, __FILE__, __LINE__, __VA_ARGS__)

/* The user-facing fatal error line: "stratus: error: <msg>\n" on stderr. */
void report_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

#endif
