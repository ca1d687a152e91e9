#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

/*
 * See log.h for why this is process-wide: written once by main() before any
 * thread exists, read-only afterwards (FILE writes are locked by stdio).
 */
static struct {
    FILE *out;
    bool owned;
    LogLevel level;
} log_sink = { NULL, false, LOG_LEVEL_INFO };

static const char *const level_names[] = {
    [LOG_LEVEL_ERROR] = "ERROR",
    [LOG_LEVEL_WARN] = "WARN",
    [LOG_LEVEL_INFO] = "INFO",
    [LOG_LEVEL_DEBUG] = "DEBUG",
    [LOG_LEVEL_TRACE] = "TRACE",
};

static LogLevel level_from_env(void)
{
    const char *env = getenv("STRATUS_LOG_LEVEL");

    if (!env) {
        return LOG_LEVEL_INFO;
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(level_names); i++) {
        if (g_ascii_strcasecmp(env, level_names[i]) == 0) {
            return (LogLevel)i;
        }
    }
    return LOG_LEVEL_INFO;
}

bool log_open(const char *path, GError **err)
{
    log_close();
    if (path) {
        FILE *f = fopen(path, "ae");
        if (!f) {
            g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
                        "cannot open log file '%s': %s", path, g_strerror(errno));
            return false;
        }
        setvbuf(f, NULL, _IOLBF, 0);
        log_sink.out = f;
        log_sink.owned = true;
    } else {
        log_sink.out = stderr;
        log_sink.owned = false;
    }
    log_sink.level = level_from_env();
    return true;
}

int log_fileno(void)
{
    return log_sink.out ? fileno(log_sink.out) : -1;
}

void log_close(void)
{
    if (log_sink.owned && log_sink.out) {
        fclose(log_sink.out);
    }
    log_sink.out = NULL;
    log_sink.owned = false;
}

bool log_enabled(LogLevel level)
{
    return log_sink.out && level <= log_sink.level;
}

void log_msg(LogLevel level, const char *file, int line, const char *fmt, ...)
{
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    const char *base;
    va_list ap;

    if (!log_enabled(level)) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    base = strrchr(file, '/');
    base = base ? base + 1 : file;

    /* One fprintf per line keeps lines from different threads whole. */
    g_autofree char *msg = NULL;
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(log_sink.out, "%s.%09ld: [%d][%ld][%s:%d]:%s: %s\n", stamp,
            ts.tv_nsec, (int)getpid(), (long)syscall(SYS_gettid), base, line,
            level_names[level], msg);
}

void report_error(const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* Exactly one line, whatever the message contains. */
    g_strdelimit(msg, "\r\n", ' ');
    fprintf(stderr, "stratus: error: %s\n", msg);
    fflush(stderr);
    log_error("%s", msg);
}
