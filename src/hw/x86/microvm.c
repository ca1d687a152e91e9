/*
 * The microvm machine class: RAM, COM1 and the PM block as registered
 * devices, the virtio-mmio slots, the -device devices, direct kernel boot.
 */
#include <string.h>

#include "hw/x86/microvm.h"
#include "accel/accel.h"
#include "block/block.h"
#include "cpus.h"
#include "hw/char/serial.h"
#include "hw/nvram/fw_cfg.h"
#include "hw/rtc/mc146818rtc.h"
#include "hw/virtio/virtio-blk.h"
#include "hw/x86/loader.h"
#include "util/log.h"
#include "util/strutil.h"

typedef struct MicrovmState {
    char *cmdline;               /* -append plus the auto-appended parameters */
    X86BootState boot;
    bool booted;                 /* a kernel was loaded (not with qtest and no -kernel) */
    MicrovmVirtio *virtio;
    Device *rtc;                 /* -machine rtc=on, else NULL */
    Device *fw_cfg;              /* -machine fw_cfg=on, else NULL */
} MicrovmState;

static MicrovmState *state(Machine *m)
{
    return m->board;
}

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
 * system_reset, after every device's reset: the guest may have overwritten
 * its kernel, so load it again (as a reboot through firmware would) and
 * restart every vCPU at the entry.
 */
static void microvm_reset(Machine *m)
{
    MicrovmState *s = state(m);
    g_autoptr(GError) err = NULL;

    microvm_virtio_reset(s->virtio);
    if (!s->booted) {
        return;
    }
    if (!load_kernel(m, s, &err) || !reset_vcpus(m, s, &err)) {
        log_error("system reset failed: %s", err->message);
        machine_request_shutdown(m, SHUTDOWN_INTERNAL_ERROR);
    }
}

static bool board_device(Machine *m, const char *driver, const DevicePropValue *props,
                         unsigned n, GError **err)
{
    DeviceCreateArgs a = { .driver = driver, .props = props, .n_props = n };

    return device_create(m, &a, err) != NULL;
}

/*
 * COM1 (when -serial names a chardev) and the PM block. The PM block owns
 * the boot-time port 0x3FF unless COM1 covers it (its scratch register
 * forwards the marker instead).
 */
static bool create_board_devices(Machine *m, GError **err)
{
    const char *serial_id = m->cfg->serial_chardev;

    if (serial_id) {
        DevicePropValue p[] = { { .name = "chardev", .text = serial_id } };
        if (!board_device(m, "isa-serial", p, G_N_ELEMENTS(p), err)) {
            return false;
        }
    }
    DevicePropValue pm[] = { { .name = "boot-time-port", .text = serial_id ? "off" : "on" } };
    return board_device(m, "microvm-pm", pm, G_N_ELEMENTS(pm), err);
}

/*
 * QEMU's microvm layout for the legacy devices (docs/legacy-devices.md).
 * auto is on under qtest, where QEMU's own tests expect them, and off
 * otherwise: StratoVirt's microvm has neither, and the guests it documents
 * must see the same machine.
 */
static bool feature_on(const Machine *m, FeatureSwitch f, bool also)
{
    return f == FEATURE_ON || (f == FEATURE_AUTO && (!strcmp(m->cfg->accel, "qtest") || also));
}

static void set_cmos16(Device *rtc, uint8_t index, uint64_t v)
{
    v = MIN(v, 0xffff);
    mc146818rtc_set_cmos(rtc, index, (uint8_t)v);
    mc146818rtc_set_cmos(rtc, index + 1, (uint8_t)(v >> 8));
}

/* The memory sizes PC firmware reads from CMOS (QEMU's microvm sets the same). */
static void rtc_memory_sizes(Machine *m, Device *rtc)
{
    uint64_t low = MIN(m->cfg->mem_size, MICROVM_LOW_RAM_LIMIT);
    uint64_t high = m->cfg->mem_size - low;

    set_cmos16(rtc, 0x15, MIN(low >> 10, 640));
    set_cmos16(rtc, 0x17, low > (1 << 20) ? (low - (1 << 20)) >> 10 : 0);
    set_cmos16(rtc, 0x30, low > (1 << 20) ? (low - (1 << 20)) >> 10 : 0);
    set_cmos16(rtc, 0x34, low > (16 << 20) ? (low - (16 << 20)) >> 16 : 0);
    mc146818rtc_set_cmos(rtc, 0x5b, (uint8_t)(high >> 16));
    mc146818rtc_set_cmos(rtc, 0x5c, (uint8_t)(high >> 24));
    mc146818rtc_set_cmos(rtc, 0x5d, (uint8_t)(high >> 32));
    mc146818rtc_set_cmos(rtc, 0x5f, (uint8_t)(m->cfg->smp.cpus - 1));
}

/* "etc/e820": the RAM ranges, {le64 addr, le64 len, le32 type 1} each. */
static bool fw_cfg_e820(Machine *m, Device *fw, GError **err)
{
    uint64_t low = MIN(m->cfg->mem_size, MICROVM_LOW_RAM_LIMIT);
    uint64_t high = m->cfg->mem_size - low;
    uint8_t e[2][20] = { { 0 } };
    unsigned n = 0;
    uint64_t ranges[2][2] = { { 0, low }, { 1ULL << 32, high } };

    for (unsigned i = 0; i < 2; i++) {
        uint64_t a = GUINT64_TO_LE(ranges[i][0]), l = GUINT64_TO_LE(ranges[i][1]);
        uint32_t t = GUINT32_TO_LE(1);
        if (!ranges[i][1]) {
            continue;
        }
        memcpy(e[n], &a, 8);
        memcpy(e[n] + 8, &l, 8);
        memcpy(e[n] + 16, &t, 4);
        n++;
    }
    return fw_cfg_add_file(fw, "etc/e820", e, n * 20, err);
}

static bool create_legacy_devices(Machine *m, MicrovmState *s, GError **err)
{
    bool user_files = m->cfg->fw_cfg_items && m->cfg->fw_cfg_items->len;

    if (feature_on(m, m->cfg->machine_rtc, false)) {
        DeviceCreateArgs a = { .driver = "mc146818rtc" };
        s->rtc = device_create(m, &a, err);
        if (!s->rtc) {
            return false;
        }
        rtc_memory_sizes(m, s->rtc);
    }
    if (feature_on(m, m->cfg->machine_fw_cfg, user_files)) {
        DeviceCreateArgs a = { .driver = "fw_cfg_io" };
        s->fw_cfg = device_create(m, &a, err);
        return s->fw_cfg && fw_cfg_e820(m, s->fw_cfg, err);
    }
    if (user_files) {
        set_error(err, "-fw_cfg: fw_cfg device not available (-machine fw_cfg=off)");
        return false;
    }
    return true;
}

static bool boot(Machine *m, MicrovmState *s, GError **err)
{
    bool restoring = m->cfg->incoming != NULL || m->cfg->incoming_uri != NULL;

    s->cmdline = build_cmdline(m->cfg, microvm_virtio_cmdline(s->virtio));
    if (s->fw_cfg) {
        uint32_t size = GUINT32_TO_LE((uint32_t)strlen(s->cmdline) + 1);
        /* QEMU's pair: the size with the NUL, then the NUL-terminated text. */
        fw_cfg_set_bytes(s->fw_cfg, FW_CFG_CMDLINE_SIZE, &size, sizeof(size));
        fw_cfg_set_bytes(s->fw_cfg, FW_CFG_CMDLINE_DATA, s->cmdline, strlen(s->cmdline) + 1);
    }
    /*
     * A restored machine starts where the snapshot left it (RAM and vCPU
     * state come from there); the kernel is only needed for a later reset.
     */
    if (m->cfg->kernel) {
        if (!restoring && !load_kernel(m, s, err)) {
            return false;
        }
        s->booted = true;
    }
    if (!cpus_create(m, err)) {
        return false;
    }
    return !s->booted || restoring || reset_vcpus(m, s, err);
}

static bool microvm_init(Machine *m, GError **err)
{
    const StratusConfig *cfg = m->cfg;
    MicrovmState *s = g_new0(MicrovmState, 1);

    m->board = s;
    for (guint i = 0; cfg->drives && i < cfg->drives->len; i++) {
        if (!g_strcmp0(optlist_get(g_ptr_array_index(cfg->drives, i), "if"), "pflash")) {
            log_warn("-drive if=pflash is ignored on microvm");
        }
    }
    if (!guest_ram_init(&m->ram, cfg->mem_size, MICROVM_LOW_RAM_LIMIT, cfg->mem_share,
                        cfg->dump_guest_core, err) ||
        !m->accel_ops->map_ram(m, err) || !create_board_devices(m, err) ||
        !create_legacy_devices(m, s, err) || !machine_open_drives(m, err)) {
        return false;
    }
    s->virtio = microvm_virtio_new(m, err);
    return s->virtio && machine_create_cli_devices(m, err) && boot(m, s, err);
}

static void microvm_destroy(Machine *m)
{
    MicrovmState *s = state(m);

    if (s) {
        microvm_virtio_free(s->virtio);
        g_free(s->cmdline);
        g_free(s);
        m->board = NULL;
    }
}

/*
 * bus=: microvm has one ISA bus, "isa.0", and a virtio-mmio bus per transport,
 * "virtio-mmio-bus.N" (QEMU's names; the bare "virtio-mmio-bus" is accepted
 * too). The slot itself is addr= (StratoVirt), so N is only checked.
 */
static bool bus_exists(const Device *d)
{
    switch (d->klass->bus) {
    case DEVICE_BUS_ISA:
        return !strcmp(d->bus, "isa.0");
    case DEVICE_BUS_VIRTIO:
        for (unsigned i = 0; i < MICROVM_BLK_SLOTS + MICROVM_NET_SLOTS; i++) {
            g_autofree char *name = g_strdup_printf("virtio-mmio-bus.%u", i);
            if (!strcmp(d->bus, name)) {
                return true;
            }
        }
        return !strcmp(d->bus, "virtio-mmio-bus");
    case DEVICE_BUS_VIRTIO_SERIAL:
        return true;        /* the port's realize knows the serial device's bus names */
    case DEVICE_BUS_NONE:
        break;
    }
    return false;
}

static bool microvm_pre_plug(Machine *m, Device *d, GError **err)
{
    (void)m;
    /* StratoVirt's microvm hot-plugs nothing but its replaceable slots. */
    if (d->hotplugged && !d->klass->hotpluggable) {
        set_error(err, "Unsupported replaceable device type.");
        return false;
    }
    if (d->bus && !bus_exists(d)) {
        set_error(err, "Bus '%s' not found", d->bus);
        return false;
    }
    /* Only a slot has an address: elsewhere addr= would be silently ignored. */
    if (d->addr && d->klass->bus != DEVICE_BUS_VIRTIO) {
        set_error(err, "Property '%s.addr' not found", d->klass->name);
        return false;
    }
    return true;
}

static bool microvm_plug(Machine *m, Device *d, GError **err)
{
    MicrovmState *s = state(m);

    if (d->klass->bus != DEVICE_BUS_VIRTIO) {
        return true;        /* ISA and board devices placed themselves */
    }
    if (!s->virtio) {
        set_error(err, "virtio-mmio is not initialised");
        return false;
    }
    return microvm_virtio_plug(s->virtio, d, err);
}

static void microvm_unplug(Machine *m, Device *d)
{
    MicrovmState *s = state(m);

    if (d->klass->bus == DEVICE_BUS_VIRTIO && s && s->virtio) {
        microvm_virtio_unplug(s->virtio, d);
    }
}

/*
 * device_del completes at once (StratoVirt): the slot empties, the drive is
 * unregistered with the device, and DEVICE_DELETED {"device":id,"path":id}
 * is emitted before the reply.
 */
static bool microvm_unplug_request(Machine *m, Device *d, bool *pending, GError **err)
{
    JsonObject *data = json_object_new();
    BlockBackend *bb = virtio_blk_device_backend(d);
    g_autofree char *node = bb ? g_strdup(block_node_name(bb)) : NULL;

    (void)err;
    *pending = false;
    /* StratoVirt's {"device":id,"path":id}; QEMU's {"path":qom-path} without an id. */
    if (d->id) {
        json_object_set_string_member(data, "device", d->id);
    }
    json_object_set_string_member(data, "path", device_name(d));
    device_destroy(d);
    if (node) {
        block_registry_remove(m->block_nodes, node);
        g_hash_table_add(m->released_nodes, g_strdup(node));
    }
    machine_emit_event(m, "DEVICE_DELETED", json_node_init_object(json_node_alloc(), data));
    json_object_unref(data);
    return true;
}

VirtioDevice *microvm_blk_slot_device(Machine *m, unsigned slot)
{
    MicrovmState *s = m->machine_class == &microvm_machine_class ? state(m) : NULL;

    return s && s->virtio ? microvm_virtio_blk_slot(s->virtio, slot) : NULL;
}

static bool microvm_save_state(Machine *m, GByteArray *out, GError **err)
{
    return microvm_virtio_save(state(m)->virtio, out, err);
}

static bool microvm_load_state(Machine *m, const uint8_t *buf, size_t len, GError **err)
{
    return microvm_virtio_load(state(m)->virtio, buf, len, err);
}

const MachineClass microvm_machine_class = {
    .name = "microvm",
    .description = "microvm (i386)",
    .qom_type = "microvm-machine",
    .is_default = true,
    .max_cpus = 254,
    .default_ram_id = "microvm.ram",
    .has_cpu_slots = true,
    .init = microvm_init,
    .destroy = microvm_destroy,
    .save_state = microvm_save_state,
    .load_state = microvm_load_state,
    .reset = microvm_reset,
    .pre_plug = microvm_pre_plug,
    .plug = microvm_plug,
    .unplug = microvm_unplug,
    .unplug_request = microvm_unplug_request,
};
