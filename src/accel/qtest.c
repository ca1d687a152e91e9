/*
 * The qtest accelerator: no vCPU runs guest code; a test harness drives the
 * machine over a line protocol (QEMU's qtest, docs: tests/qtest/README.md and
 * qemu-reference.md §3).
 *
 * - Socket: -qtest unix:PATH connects out to the harness (as QEMU does);
 *   -qtest chardev:ID uses a -chardev created by the machine (attached from
 *   the first main-loop iteration, when the machine's chardevs exist).
 * - Requests are lines of words separated by single spaces; each gets one
 *   reply line (OK..., FAIL..., ERR...). Asynchronous "IRQ raise N" /
 *   "IRQ lower N" lines may precede a reply. Port and memory accesses go
 *   through m->pio / m->mmio exactly like KVM exits, RAM through guest_ram_*.
 * - Time: the machine clock is virtual (util/clock.h) and moves only on
 *   clock_step / clock_set, and only while the VM is running.
 * - Interrupts: set_irq records GSI levels; after irq_intercept_in/out (any
 *   device path is accepted: the GSI lines are what gets intercepted) every
 *   level change of a GSI is sent as an IRQ line, NUM = GSI.
 * - vCPUs: threads exist (cpus.c is accelerator-independent) but vcpu_run
 *   just sleeps until kicked.
 * - VM state (vm_get_state): the virtual clock and the GSI levels set_irq
 *   recorded; no interrupt controller is modelled. The dirty-page log
 *   records the protocol's RAM writes, which stand for the guest's.
 *
 * All of this runs on the main loop with the machine lock held, except
 * vcpu_run / vcpu_kick, which use a per-vCPU mutex.
 *
 * This file is the accelerator: the connection and its log, interrupts,
 * VM state and the dirty-page log, vCPUs. The protocol's commands are
 * qtest-cmds.c; qtest-internal.h holds the state both use.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "accel/qtest-internal.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strutil.h"

typedef struct QtestVcpu {
    GMutex lock;
    GCond cond;
    bool kicked;
} QtestVcpu;

/* ------------------------------------------------------------------------ */
/* Interrupts                                                               */

static void report_irq(QtestState *s, unsigned gsi, bool level)
{
    if (!s->intercept_dev || gsi >= QTEST_MAX_GSI || s->irq_level[gsi] == level) {
        return;
    }
    s->irq_level[gsi] = level;
    sendf(s, "IRQ %s %u", level ? "raise" : "lower", gsi);
}

void qtest_set_irq(Machine *m, unsigned gsi, bool level)
{
    QtestState *s = qtest_state(m);

    if (!s || gsi >= QTEST_MAX_GSI) {
        return;
    }
    s->gsi_level[gsi] = level;
    report_irq(s, gsi, level);
}

/* ------------------------------------------------------------------------ */
/* The connection                                                           */

static size_t qtest_can_read(void *opaque)
{
    return 4096;
}

static void qtest_read(void *opaque, const uint8_t *buf, size_t len)
{
    QtestState *s = opaque;
    char *nl;

    g_string_append_len(s->inbuf, (const char *)buf, (gssize)len);
    /* Only scan the new bytes: a long line arrives in many small reads. */
    while ((nl = memchr(s->inbuf->str + s->inbuf_scanned, '\n',
                        s->inbuf->len - s->inbuf_scanned)) != NULL) {
        size_t n = (size_t)(nl - s->inbuf->str);
        char *line = g_strndup(s->inbuf->str, n);

        g_string_erase(s->inbuf, 0, (gssize)n + 1);
        s->inbuf_scanned = 0;
        if (n && line[n - 1] == '\r') {
            line[n - 1] = '\0';
        }
        qtest_process_line(s, line);
        g_free(line);
    }
    s->inbuf_scanned = s->inbuf->len;
    if (s->inbuf->len > QTEST_MAX_LINE) {
        g_string_truncate(s->inbuf, 0);
        s->inbuf_scanned = 0;
        send_line(s, "FAIL line too long");
    }
}

static void qtest_event(void *opaque, bool connected)
{
    QtestState *s = opaque;

    if (connected) {
        s->opened = true;
        s->log_t0 = g_get_monotonic_time();
        memset(s->irq_level, 0, sizeof(s->irq_level));
        g_string_truncate(s->inbuf, 0);
        s->inbuf_scanned = 0;
        if (s->log) {
            fprintf(s->log, "[I %.6f] OPENED\n", 0.0);
            fflush(s->log);
        }
    } else {
        s->opened = false;
        if (s->log) {
            fprintf(s->log, "[I +%.6f] CLOSED\n", log_elapsed(s));
            fflush(s->log);
        }
    }
}

static const ChardevHandlers qtest_handlers = {
    .can_read = qtest_can_read,
    .read = qtest_read,
    .event = qtest_event,
};

/* First main-loop iteration: the machine is complete. */
static gboolean qtest_start(gpointer opaque)
{
    QtestState *s = opaque;
    Machine *m = s->m;

    g_source_unref(s->start_src);   /* the context keeps it alive until we return */
    s->start_src = NULL;
    if (s->chardev_id && !s->chr) {
        s->chr = g_hash_table_lookup(m->chardevs, s->chardev_id);
        if (!s->chr) {
            log_error("qtest: chardev '%s' does not exist", s->chardev_id);
        } else {
            chardev_set_handlers(s->chr, &qtest_handlers, s);
        }
    }
    return G_SOURCE_REMOVE;
}

static bool open_log(QtestState *s, const char *path, GError **err)
{
    if (!path) {
        s->log = stderr;
        return true;
    }
    if (strcmp(path, "none") == 0) {
        return true;
    }
    s->log = fopen(path, "a");
    if (!s->log) {
        set_error(err, "-qtest-log: cannot open '%s': %s", path, g_strerror(errno));
        return false;
    }
    s->own_log = true;
    return true;
}

static void qtest_destroy(Machine *m)
{
    QtestState *s = qtest_state(m);

    if (!s) {
        return;
    }
    if (s->start_src) {
        g_source_destroy(s->start_src);
        g_source_unref(s->start_src);
    }
    if (s->own_chr && s->chr) {
        chardev_free(s->chr);
    }
    /* A borrowed chardev was freed with m->chardevs already. */
    s->chr = NULL;
    if (s->own_log) {
        fclose(s->log);
    }
    g_string_free(s->inbuf, TRUE);
    dirty_bitmap_free(s->dirty);
    g_free(s->chardev_id);
    g_free(s->intercept_dev);
    g_free(s);
    m->accel = NULL;
}

static bool qtest_init(Machine *m, GError **err)
{
    const StratusConfig *cfg = m->cfg;
    QtestState *s = g_new0(QtestState, 1);

    s->m = m;
    s->inbuf = g_string_new(NULL);
    s->log_t0 = g_get_monotonic_time();
    m->accel = s;
    machine_clock_use_virtual(machine_clock_get(&m->clock, m->ctx));

    if (cfg->qtest && !open_log(s, cfg->qtest_log, err)) {
        goto fail;
    }
    if (cfg->qtest && g_str_has_prefix(cfg->qtest, "unix:")) {
        ChardevConfig cc = {
            .id = (char *)"qtest",
            .kind = CHARDEV_SOCKET,
            .path = (char *)cfg->qtest + strlen("unix:"),
            .port = -1,
            .server = false,
            .fd = -1,
        };
        s->chr = chardev_new(&cc, m->ctx, err);
        if (!s->chr) {
            g_prefix_error(err, "-qtest: ");
            goto fail;
        }
        s->own_chr = true;
        chardev_set_handlers(s->chr, &qtest_handlers, s);
    } else if (cfg->qtest && g_str_has_prefix(cfg->qtest, "chardev:")) {
        s->chardev_id = g_strdup(cfg->qtest + strlen("chardev:"));
    }
    s->start_src = g_idle_source_new();
    g_source_set_priority(s->start_src, G_PRIORITY_HIGH);
    g_source_set_callback(s->start_src, qtest_start, s, NULL);
    g_source_attach(s->start_src, m->ctx);
    return true;

fail:
    qtest_destroy(m);
    return false;
}

static bool qtest_map_ram(Machine *m, GError **err)
{
    return true;
}

/* ------------------------------------------------------------------------ */
/* VM state and dirty-page log                                              */

static bool qtest_vm_get_state(Machine *m, X86VmState *st, GError **err)
{
    QtestState *s = qtest_state(m);

    x86_vm_state_init(st);
    st->clock_ns = (uint64_t)machine_clock_ns(m->clock);
    for (unsigned gsi = 0; gsi < QTEST_MAX_GSI && gsi < X86_VM_MAX_GSI; gsi++) {
        st->gsi_level |= (uint64_t)s->gsi_level[gsi] << gsi;
    }
    return true;
}

/*
 * The virtual clock only moves forward, as with clock_set: timers due on
 * the way fire, in order. Interrupt controller parts are ignored (there
 * is none to load them into).
 */
static bool qtest_vm_set_state(Machine *m, const X86VmState *st, GError **err)
{
    int64_t now = machine_clock_ns(m->clock);

    if (!x86_vm_state_check(st, err)) {
        return false;
    }
    if ((int64_t)st->clock_ns < now) {
        set_error(err, "qtest: the virtual clock cannot go back from %" PRIi64 " to %"
                  PRIu64 " ns", now, st->clock_ns);
        return false;
    }
    machine_clock_advance_to(m->clock, (int64_t)st->clock_ns);
    for (unsigned gsi = 0; gsi < QTEST_MAX_GSI && gsi < X86_VM_MAX_GSI; gsi++) {
        qtest_set_irq(m, gsi, (st->gsi_level >> gsi) & 1);
    }
    return true;
}

static bool qtest_dirty_log_start(Machine *m, GError **err)
{
    QtestState *s = qtest_state(m);

    if (!s->dirty) {
        s->dirty = dirty_bitmap_new(&m->ram);
    }
    dirty_bitmap_clear(s->dirty);
    s->dirty_on = true;
    return true;
}

static bool qtest_dirty_log_sync(Machine *m, DirtyBitmap *dirty, GError **err)
{
    QtestState *s = qtest_state(m);

    if (!s->dirty_on) {
        set_error(err, "qtest: the dirty-page log is not started");
        return false;
    }
    if (!dirty_bitmap_fits(dirty, &m->ram)) {
        set_error(err, "qtest: the dirty bitmap does not match the guest RAM");
        return false;
    }
    dirty_bitmap_take(dirty, s->dirty);
    return true;
}

static void qtest_dirty_log_stop(Machine *m)
{
    qtest_state(m)->dirty_on = false;
}

/* ------------------------------------------------------------------------ */
/* vCPUs: parked until kicked                                               */

static bool qtest_vcpu_init(Vcpu *cpu, GError **err)
{
    QtestVcpu *v = g_new0(QtestVcpu, 1);

    g_mutex_init(&v->lock);
    g_cond_init(&v->cond);
    cpu->accel = v;
    return true;
}

static bool qtest_vcpu_reset(Vcpu *cpu, const X86BootState *boot, GError **err)
{
    return true;
}

static bool qtest_vcpu_run(Vcpu *cpu)
{
    QtestVcpu *v = cpu->accel;

    g_mutex_lock(&v->lock);
    while (!v->kicked) {
        g_cond_wait(&v->cond, &v->lock);
    }
    v->kicked = false;
    g_mutex_unlock(&v->lock);
    return true;
}

static void qtest_vcpu_kick(Vcpu *cpu)
{
    QtestVcpu *v = cpu->accel;

    g_mutex_lock(&v->lock);
    v->kicked = true;
    g_cond_signal(&v->cond);
    g_mutex_unlock(&v->lock);
}

static void qtest_vcpu_destroy(Vcpu *cpu)
{
    QtestVcpu *v = cpu->accel;

    if (v) {
        g_mutex_clear(&v->lock);
        g_cond_clear(&v->cond);
        g_free(v);
        cpu->accel = NULL;
    }
}

const AccelOps qtest_accel_ops = {
    .name = "qtest",
    .init = qtest_init,
    .destroy = qtest_destroy,
    .map_ram = qtest_map_ram,
    .vcpu_init = qtest_vcpu_init,
    .vcpu_reset = qtest_vcpu_reset,
    .vcpu_run = qtest_vcpu_run,
    .vcpu_kick = qtest_vcpu_kick,
    .vcpu_destroy = qtest_vcpu_destroy,
    .vm_get_state = qtest_vm_get_state,
    .vm_set_state = qtest_vm_set_state,
    .dirty_log_start = qtest_dirty_log_start,
    .dirty_log_sync = qtest_dirty_log_sync,
    .dirty_log_stop = qtest_dirty_log_stop,
    .set_irq = qtest_set_irq,
    /* vcpu_get_state / vcpu_set_state: NULL, no vCPU ever runs. */
    /* add_irqfd / ioeventfd: NULL, devices fall back to MMIO handlers and irq_set_level. */
};
