#include <string.h>

#include "hw/x86/microvm.h"
#include "accel/accel.h"
#include "chardev/chardev.h"
#include "cpus.h"
#include "hw/char/serial.h"
#include "hw/misc/pm.h"
#include "hw/x86/loader.h"
#include "util/log.h"
#include "util/strutil.h"

typedef struct MicrovmState {
    char *cmdline;               /* -append plus the auto-appended parameters */
    X86BootState boot;
    bool booted;                 /* a kernel was loaded (not with qtest and no -kernel) */
} MicrovmState;

static char *build_cmdline(const StratusConfig *cfg, const char *auto_params)
{
    GString *s = g_string_new(cfg->append ? cfg->append : "");

    if (auto_params && *auto_params) {
        if (s->len) {
            g_string_append_c(s, ' ');
        }
        g_string_append(s, auto_params);
    }
    return g_string_free(s, FALSE);
}

static bool load_kernel(Machine *m, MicrovmState *s, GError **err)
{
    X86BootConfig bc = {
        .kernel = m->cfg->kernel,
        .initrd = m->cfg->initrd,
        .cmdline = s->cmdline,
        .ncpus = m->cfg->smp.cpus,
        .ioapic_addr = MICROVM_IOAPIC_ADDR,
    };

    return x86_load_linux(&m->ram, &bc, &s->boot, err);
}

static bool reset_vcpus(Machine *m, MicrovmState *s, GError **err)
{
    for (guint i = 0; i < m->vcpus->len; i++) {
        if (!m->accel_ops->vcpu_reset(g_ptr_array_index(m->vcpus, i), &s->boot, err)) {
            return false;
        }
    }
    return true;
}

/*
 * system_reset: the guest may have overwritten its kernel, so load it again
 * (as a reboot through firmware would) and restart every vCPU at the entry.
 */
static void microvm_reset(void *opaque)
{
    Machine *m = opaque;
    MicrovmState *s = m->board;
    g_autoptr(GError) err = NULL;

    if (m->serial) {
        serial_reset(m->serial);
    }
    if (m->pm) {
        pm_reset(m->pm);
    }
    if (!s->booted) {
        return;
    }
    if (!load_kernel(m, s, &err) || !reset_vcpus(m, s, &err)) {
        log_error("system reset failed: %s", err->message);
        machine_request_shutdown(m, SHUTDOWN_INTERNAL_ERROR);
    }
}

static bool create_devices(Machine *m, GError **err)
{
    const char *serial_id = m->cfg->serial_chardev;

    if (serial_id) {
        Chardev *chr = g_hash_table_lookup(m->chardevs, serial_id);
        if (!chr) {
            set_error(err, "chardev '%s' for the serial port does not exist", serial_id);
            return false;
        }
        m->serial = serial_new(m, SERIAL_COM1_BASE, SERIAL_COM1_IRQ, chr, err);
        if (!m->serial) {
            return false;
        }
    }
    m->pm = pm_new(m, err);
    return m->pm != NULL;
}

bool microvm_init(Machine *m, GError **err)
{
    const StratusConfig *cfg = m->cfg;
    MicrovmState *s = g_new0(MicrovmState, 1);

    m->board = s;
    if (g_strcmp0(cfg->machine_type, "microvm") != 0) {
        set_error(err, "machine type '%s' is not supported yet", cfg->machine_type);
        return false;
    }
    if (!guest_ram_init(&m->ram, cfg->mem_size, MICROVM_LOW_RAM_LIMIT, cfg->mem_share,
                        cfg->dump_guest_core, err) ||
        !m->accel_ops->map_ram(m, err) || !create_devices(m, err)) {
        return false;
    }
    g_autofree char *auto_params = NULL;
    if (!microvm_virtio_init(m, &auto_params, err)) {
        return false;
    }
    s->cmdline = build_cmdline(cfg, auto_params);
    if (cfg->kernel) {
        if (!load_kernel(m, s, err)) {
            return false;
        }
        s->booted = true;
    }
    if (!cpus_create(m, err)) {
        return false;
    }
    if (s->booted && !reset_vcpus(m, s, err)) {
        return false;
    }
    machine_add_reset_handler(m, microvm_reset, m);
    return true;
}

void microvm_destroy(Machine *m)
{
    MicrovmState *s = m->board;

    if (m->serial) {
        serial_free(m->serial);
        m->serial = NULL;
    }
    if (m->pm) {
        pm_free(m->pm);
        m->pm = NULL;
    }
    microvm_virtio_destroy(m);
    if (s) {
        g_free(s->cmdline);
        g_free(s);
        m->board = NULL;
    }
}
