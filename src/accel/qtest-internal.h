/*
 * Shared by the qtest accelerator's two files: qtest.c (the accelerator:
 * the connection, the log, interrupts, VM state, vCPUs) and qtest-cmds.c
 * (the protocol's commands): the state, and the reply and log writers
 * both use. All of it runs on the main loop with the machine lock held.
 */
#ifndef STRATUS_QTEST_INTERNAL_H
#define STRATUS_QTEST_INTERNAL_H

#include <stdio.h>
#include <string.h>

#include "accel/accel.h"
#include "chardev/chardev.h"

#define QTEST_MAX_GSI       64
#define QTEST_MAX_LINE      (512u << 20)    /* a b64write of 256 MiB fits */
#define QTEST_MAX_BULK      (256ull << 20)  /* read/write/b64/memset size cap */
#define QTEST_MAX_MMIO_BULK 4096            /* bulk access outside RAM, bytewise */

typedef struct QtestState {
    Machine *m;
    Chardev *chr;           /* the protocol connection (may be NULL) */
    bool own_chr;           /* created here (-qtest unix:PATH) */
    char *chardev_id;       /* -qtest chardev:ID, attached at start */
    GSource *start_src;
    bool opened;

    GString *inbuf;
    size_t inbuf_scanned;   /* bytes of inbuf known to hold no '\n' */
    FILE *log;              /* NULL = no log */
    bool own_log;
    gint64 log_t0;          /* µs, g_get_monotonic_time at OPENED */

    bool gsi_level[QTEST_MAX_GSI];     /* last level seen on each GSI */
    bool irq_level[QTEST_MAX_GSI];     /* as reported to the harness */
    char *intercept_dev;    /* NULL = no interception */

    DirtyBitmap *dirty;     /* pages written by the protocol since the last sync */
    bool dirty_on;
} QtestState;

static inline QtestState *qtest_state(Machine *m)
{
    return m->accel;
}

/* ------------------------------------------------------------------------ */
/* Log and output                                                           */

static inline double log_elapsed(QtestState *s)
{
    return (double)(g_get_monotonic_time() - s->log_t0) / 1e6;
}

static inline void log_line(QtestState *s, char kind, const char *text)
{
    if (s->log) {
        fprintf(s->log, "[%c +%.6f] %s\n", kind, log_elapsed(s), text);
        fflush(s->log);
    }
}

static inline void send_line(QtestState *s, const char *text)
{
    log_line(s, 'S', text);
    if (s->chr) {
        /* Replies must arrive whole (a read can be 512 MiB of hex). */
        chardev_write_all(s->chr, text, strlen(text));
        chardev_write_all(s->chr, "\n", 1);
    }
}

static inline void G_GNUC_PRINTF(2, 3) sendf(QtestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *text = NULL;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    send_line(s, text);
}


/* qtest.c: AccelOps.set_irq; also the protocol's set_irq_in. */
void qtest_set_irq(Machine *m, unsigned gsi, bool level);

/* qtest-cmds.c: one request line (without its newline), answered. */
void qtest_process_line(QtestState *s, char *line);

#endif
