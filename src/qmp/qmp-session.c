/*
 * Per-connection QMP state that outlives one request: the negotiation mode,
 * file descriptors received with SCM_RIGHTS and those kept by getfd, and the
 * leaky bucket that limits commands to QMP_RATE_LIMIT per second. The server
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
 * One command = TICKS_PER_CMD; the bucket drains one tick per microsecond, so
 * QMP_RATE_LIMIT * TICKS_PER_CMD = 1e6 ticks is one second's worth: a burst
 * of QMP_RATE_LIMIT commands passes, then one more every 1/QMP_RATE_LIMIT s.
 */
#define TICKS_PER_CMD (G_USEC_PER_SEC / QMP_RATE_LIMIT)
#define CAPACITY ((gint64)QMP_RATE_LIMIT * TICKS_PER_CMD)

void qmp_rate_limiter_init(QmpRateLimiter *r)
{
    memset(r, 0, sizeof(*r));
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
        r->level -= now_us - r->last_us;
        if (r->level < 0) {
            r->level = 0;
        }
        r->last_us = now_us;
    }
}

bool qmp_rate_limiter_admit(QmpRateLimiter *r, gint64 now_us)
{
    drain(r, now_us);
    if (r->level + TICKS_PER_CMD > CAPACITY) {
        return false;
    }
    r->level += TICKS_PER_CMD;
    return true;
}

gint64 qmp_rate_limiter_delay(QmpRateLimiter *r, gint64 now_us)
{
    gint64 need;
    drain(r, now_us);
    need = r->level + TICKS_PER_CMD - CAPACITY;
    return need > 0 ? need : 0;
}
