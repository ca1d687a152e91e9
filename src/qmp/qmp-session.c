/*
 * Per-connection QMP state that outlives one request: the negotiation mode,
 * file descriptors received with SCM_RIGHTS and those kept by getfd, and the
 * leaky bucket that limits commands per second (the monitor's rate-limit=). The server
 * keeps a session and a bucket per connection and the named fds per monitor;
 * none of it needs a socket, so it is unit-tested on its own.
 */
#include <string.h>
#include <unistd.h>

#include "qmp/qmp-dispatch.h"

/* ------------------------------------------------------------------------ */
/* Sessions                                                                 */

static void close_fd_value(gpointer p)
{
    int fd = GPOINTER_TO_INT(p);
    if (fd >= 0) {
        close(fd);
    }
}

GHashTable *qmp_named_fds_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, close_fd_value);
}

void qmp_session_init(QmpSession *s, QmpMode mode, GHashTable *named_fds)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->named_fds = named_fds;
}

void qmp_session_clear_scm_fds(QmpSession *s)
{
    for (unsigned i = 0; i < s->n_scm_fds; i++) {
        if (s->scm_fds[i] >= 0) {
            close(s->scm_fds[i]);
        }
    }
    g_free(s->scm_fds);
    s->scm_fds = NULL;
    s->n_scm_fds = 0;
}

void qmp_session_set_scm_fds(QmpSession *s, int *fds, unsigned n)
{
    qmp_session_clear_scm_fds(s);
    s->scm_fds = fds;
    s->n_scm_fds = n;
}

int qmp_session_take_scm_fd(QmpSession *s)
{
    /* The last descriptor that came with the data (StratoVirt, QEMU). */
    for (unsigned i = s->n_scm_fds; i-- > 0;) {
        if (s->scm_fds[i] >= 0) {
            int fd = s->scm_fds[i];
            s->scm_fds[i] = -1;
            return fd;
        }
    }
    return -1;
}

int qmp_session_take_named_fd(QmpSession *s, const char *name)
{
    gpointer key, val;
    if (!s->named_fds ||
        !g_hash_table_lookup_extended(s->named_fds, name, &key, &val)) {
        return -1;
    }
    g_hash_table_steal(s->named_fds, name);
    g_free(key);
    return GPOINTER_TO_INT(val);
}

bool qmp_session_wants_events(const QmpSession *s)
{
    return s->mode == QMP_MODE_LENIENT || s->negotiated;
}

/* ------------------------------------------------------------------------ */
/* Leaky bucket                                                             */

/*
 * In units of 1/G_USEC_PER_SEC command: a command adds G_USEC_PER_SEC, the
 * bucket drains `rate` units per microsecond and holds rate * G_USEC_PER_SEC,
 * so a burst of `rate` commands passes, then one more every 1/rate s. Time is
 * the caller's (the server passes the host's monotonic clock).
 */
#define UNITS_PER_CMD G_USEC_PER_SEC

void qmp_rate_limiter_init(QmpRateLimiter *r, unsigned rate)
{
    memset(r, 0, sizeof(*r));
    r->rate = rate;
}

static gint64 capacity(const QmpRateLimiter *r)
{
    return (gint64)r->rate * UNITS_PER_CMD;
}

static void drain(QmpRateLimiter *r, gint64 now_us)
{
    if (!r->started) {
        r->started = true;
        r->last_us = now_us;
        r->level = 0;
        return;
    }
    if (now_us > r->last_us) {
        gint64 dt = now_us - r->last_us;
        /* A whole second empties any bucket; no overflow for long gaps. */
        r->level = dt >= G_USEC_PER_SEC ? 0 : r->level - dt * (gint64)r->rate;
        if (r->level < 0) {
            r->level = 0;
        }
        r->last_us = now_us;
    }
}

bool qmp_rate_limiter_admit(QmpRateLimiter *r, gint64 now_us)
{
    if (!r->rate) {
        return true;
    }
    drain(r, now_us);
    if (r->level + UNITS_PER_CMD > capacity(r)) {
        return false;
    }
    r->level += UNITS_PER_CMD;
    return true;
}

gint64 qmp_rate_limiter_delay(QmpRateLimiter *r, gint64 now_us)
{
    gint64 need;

    if (!r->rate) {
        return 0;
    }
    drain(r, now_us);
    need = r->level + UNITS_PER_CMD - capacity(r);
    return need > 0 ? (need + r->rate - 1) / r->rate : 0;
}
