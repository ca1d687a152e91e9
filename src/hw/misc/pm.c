/*
 * microvm power control: PM1a event/control blocks, the i8042 reset line and
 * the boot-time marker port (see pm.h for the guest-visible contract).
 */
#include "hw/misc/pm.h"
#include "util/clock.h"
#include "util/log.h"

struct PmState {
    Machine *machine;
    IrqLine sci;
    uint16_t sts;
    uint16_t en;
    uint16_t cnt;
    bool ged;           /* every press pulses the SCI (pm_set_ged) */
    bool have_evt, have_cnt, have_kbd_data, have_kbd_cmd, have_boot_port, have_tmr;
    uint16_t base;      /* where the PM1a blocks decode now (pm_move), 0: nowhere */
    bool logged_move;
    IoLocklessRead tmr_lockless;   /* published while the timer decodes */
    /*
     * Guest-triggered messages are logged once per machine reset, so a guest
     * writing the same port in a loop cannot flood the -D log (and the disk).
     */
    bool logged_bad_sleep;
};

static void pm_sci_if_enabled(PmState *pm)
{
    if (pm->sts & pm->en & PM1_STS_PWRBTN) {
        irq_pulse(&pm->sci);
    }
}

/* ---- PM1a event block: PM1_STS (0..1), PM1_EN (2..3) ---- */

static uint64_t pm_evt_read(void *opaque, uint64_t off, unsigned size)
{
    PmState *pm = opaque;
    uint32_t both = pm->sts | ((uint32_t)pm->en << 16);

    if (size == 1 && off < 4) {
        return (both >> (8 * off)) & 0xff;
    }
    if (size == 2 && (off == 0 || off == 2)) {
        return (both >> (8 * off)) & 0xffff;
    }
    return 0;
}

static void pm_write_sts(PmState *pm, uint16_t w1c)
{
    pm->sts &= ~w1c;
}

static void pm_write_en(PmState *pm, uint16_t en)
{
    uint16_t newly = en & ~pm->en;
    pm->en = en;
    /* Enabling an event whose status is already latched raises the SCI. */
    if (newly & PM1_EN_PWRBTN) {
        pm_sci_if_enabled(pm);
    }
}

static void pm_evt_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PmState *pm = opaque;

    if (size == 2 && off == 0) {
        pm_write_sts(pm, (uint16_t)val);
    } else if (size == 2 && off == 2) {
        pm_write_en(pm, (uint16_t)val);
    } else if (size == 1 && off < 2) {
        pm_write_sts(pm, (uint16_t)((val & 0xff) << (8 * off)));
    } else if (size == 1 && off < 4) {
        unsigned sh = 8 * (unsigned)(off - 2);
        pm_write_en(pm, (uint16_t)((pm->en & ~(0xffu << sh)) | ((val & 0xff) << sh)));
    } else {
        log_debug("pm: ignored %u-byte write to PM1a event block +%" G_GUINT64_FORMAT,
                  size, off);
    }
}

static const IoRegionOps pm_evt_ops = {
    .read = pm_evt_read,
    .write = pm_evt_write,
};

/* ---- PM1a control block ---- */

static uint64_t pm_cnt_read(void *opaque, uint64_t off, unsigned size)
{
    PmState *pm = opaque;
    if (size == 2 && off == 0) {
        return pm->cnt;
    }
    if (size == 1 && off < 2) {
        return (pm->cnt >> (8 * off)) & 0xff;
    }
    return 0;
}

static void pm_cnt_update(PmState *pm, uint16_t val)
{
    /* SLP_EN and GBL_RLS (bit 2) are write-only and read as 0. */
    pm->cnt = val & ~(PM1_CNT_SLP_EN | (1u << 2));
    if (!(val & PM1_CNT_SLP_EN)) {
        return;
    }
    unsigned typ = (val & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT;
    if (typ == 0) {
        log_info("pm: guest requested power off (S5)");
        machine_request_shutdown(pm->machine, SHUTDOWN_GUEST_SHUTDOWN);
    } else if (!pm->logged_bad_sleep) {
        pm->logged_bad_sleep = true;
        log_warn("pm: unsupported sleep type %u requested by the guest, ignored "
                 "(logged once)", typ);
    }
}

static void pm_cnt_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PmState *pm = opaque;
    if (size == 2 && off == 0) {
        pm_cnt_update(pm, (uint16_t)val);
    } else if (size == 1 && off < 2) {
        unsigned sh = 8 * (unsigned)off;
        pm_cnt_update(pm, (uint16_t)((pm->cnt & ~(0xffu << sh)) | ((val & 0xff) << sh)));
    } else {
        log_debug("pm: ignored %u-byte write to PM1a control block +%" G_GUINT64_FORMAT,
                  size, off);
    }
}

static const IoRegionOps pm_cnt_ops = {
    .read = pm_cnt_read,
    .write = pm_cnt_write,
};

/* ---- i8042: just enough for reboot=k ---- */

/*
 * Status: both buffers empty, so reboot=k's wait for the input buffer ends
 * at once; and the parity and time-out error bits, which say no keyboard
 * answers: firmware that probes the controller (OVMF's Ps2KeyboardDxe reads
 * PARE|TIM as "no controller") gives up after one read instead of running
 * its whole reset sequence into time-outs, seconds on a software CPU.
 */
#define I8042_STS_NO_DEVICE 0xC0

static uint64_t kbd_status_read(void *opaque, uint64_t off, unsigned size)
{
    return I8042_STS_NO_DEVICE;
}

static uint64_t kbd_read(void *opaque, uint64_t off, unsigned size)
{
    return 0;           /* data: nothing */
}

static void kbd_data_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
}

static void kbd_cmd_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PmState *pm = opaque;
    if (size != 1) {
        return;
    }
    if ((val & 0xff) == 0xfe) {
        log_info("pm: guest requested reset (i8042 0xFE)");
        machine_request_shutdown(pm->machine, SHUTDOWN_GUEST_RESET);
    } else {
        log_debug("pm: ignored i8042 command 0x%02x", (unsigned)(val & 0xff));
    }
}

static const IoRegionOps kbd_data_ops = {
    .read = kbd_read,
    .write = kbd_data_write,
};

static const IoRegionOps kbd_cmd_ops = {
    .read = kbd_status_read,
    .write = kbd_cmd_write,
};

/* ---- boot-time marker ---- */

static uint64_t boot_port_read(void *opaque, uint64_t off, unsigned size)
{
    return 0;
}

static void boot_port_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PmState *pm = opaque;

    if (size == 1) {
        machine_boot_time_signal(pm->machine, (uint8_t)val);
    }
}

static const IoRegionOps boot_port_ops = {
    .read = boot_port_read,
    .write = boot_port_write,
};

/* ---- the ACPI PM timer (q35's ICH9 block): 3.579545 MHz, 24 bits, as QEMU's ---- */

static uint32_t pm_tmr_value(Machine *m)
{
    /*
     * Also runs without the machine lock (pm_tmr_lockless): the clock
     * pointer is set once and machine_clock_ns() only reads it, and a
     * virtual clock (qtest) is chosen before anything runs.
     */
    int64_t ns = machine_clock_ns(__atomic_load_n(&m->clock, __ATOMIC_ACQUIRE));
    uint64_t ticks = (uint64_t)(ns / 1000000000) * PM_TIMER_HZ +
                     (uint64_t)(ns % 1000000000) * PM_TIMER_HZ / 1000000000;

    return (uint32_t)ticks & 0xFFFFFF;
}

static uint64_t pm_tmr_read(void *opaque, uint64_t off, unsigned size)
{
    PmState *pm = opaque;
    uint32_t v = pm_tmr_value(pm->machine);

    return (v >> (8 * off)) & (size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1);
}

/* The dword read firmware delay loops poll, millions a second: lock-free. */
static uint64_t pm_tmr_lockless(void *opaque)
{
    PmState *pm = opaque;

    return pm_tmr_value(pm->machine);
}

static void pm_tmr_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    /* read-only */
}

static const IoRegionOps pm_tmr_ops = {
    .read = pm_tmr_read,
    .write = pm_tmr_write,
};

static void unmap_blocks(PmState *pm)
{
    IoBus *pio = &pm->machine->pio;

    if (pm->have_evt) {
        iobus_remove(pio, pm->base);
    }
    if (pm->have_cnt) {
        iobus_remove(pio, pm->base + 4);
    }
    if (pm->have_tmr) {
        iobus_set_lockless_read(pio, NULL);
        iobus_remove(pio, pm->base + 8);
    }
    pm->have_evt = pm->have_cnt = pm->have_tmr = false;
    pm->base = 0;
}

static bool map_blocks(PmState *pm, uint16_t base, bool timer, GError **err)
{
    IoBus *pio = &pm->machine->pio;

    pm->base = base;
    if (!(pm->have_evt = iobus_add(pio, base, 4, &pm_evt_ops, pm, "pm1a-evt", err)) ||
        !(pm->have_cnt = iobus_add(pio, base + 4, 2, &pm_cnt_ops, pm, "pm1a-cnt", err)) ||
        (timer && !(pm->have_tmr = iobus_add(pio, base + 8, 4, &pm_tmr_ops, pm, "pm-tmr",
                                             err)))) {
        unmap_blocks(pm);
        return false;
    }
    if (timer) {
        /* atomic: a vCPU that loaded it before a move may still look (memory.h) */
        __atomic_store_n(&pm->tmr_lockless.addr, base + 8, __ATOMIC_RELAXED);
        iobus_set_lockless_read(pio, &pm->tmr_lockless);
    }
    return true;
}

void pm_move(PmState *pm, uint16_t base, bool timer)
{
    g_autoptr(GError) err = NULL;

    if (base == pm->base && timer == pm->have_tmr) {
        return;
    }
    unmap_blocks(pm);
    if (base && !map_blocks(pm, base, timer, &err) && !pm->logged_move) {
        pm->logged_move = true;
        log_warn("pm: the guest moved the PM block to port 0x%x, which is taken (%s); it "
                 "decodes nowhere (logged once)", base, err->message);
    }
}

uint16_t pm_base(const PmState *pm)
{
    return pm->base;
}

/* ---- lifecycle ---- */

void pm_reset(PmState *pm)
{
    pm->sts = 0;
    pm->en = 0;
    pm->cnt = 0;
    pm->logged_bad_sleep = false;
    pm->logged_move = false;
}

void pm_press_power_button(PmState *pm)
{
    pm->sts |= PM1_STS_PWRBTN;
    if (pm->ged) {
        irq_pulse(&pm->sci);
    } else {
        pm_sci_if_enabled(pm);
    }
}

void pm_set_ged(PmState *pm, bool on)
{
    pm->ged = on;
}

void pm_free(PmState *pm)
{
    if (!pm) {
        return;
    }
    Machine *m = pm->machine;
    unmap_blocks(pm);
    if (pm->have_kbd_data) {
        iobus_remove(&m->pio, I8042_DATA_PORT);
    }
    if (pm->have_kbd_cmd) {
        iobus_remove(&m->pio, I8042_CMD_PORT);
    }
    if (pm->have_boot_port) {
        iobus_remove(&m->pio, BOOT_TIME_PORT);
    }
    g_free(pm);
}

PmState *pm_new(Machine *m, bool boot_time_port, GError **err)
{
    PmState *pm = g_new0(PmState, 1);
    pm->machine = m;
    irq_line_init(&pm->sci, m, PM_SCI_GSI);
    pm->tmr_lockless = (IoLocklessRead){ .size = 4, .read = pm_tmr_lockless, .opaque = pm };

    if (!map_blocks(pm, PM1A_EVT_BASE, false, err) ||
        !(pm->have_kbd_data = iobus_add(&m->pio, I8042_DATA_PORT, 1, &kbd_data_ops, pm,
                                        "i8042-data", err)) ||
        !(pm->have_kbd_cmd = iobus_add(&m->pio, I8042_CMD_PORT, 1, &kbd_cmd_ops, pm,
                                       "i8042-cmd", err))) {
        pm_free(pm);
        return NULL;
    }
    if (boot_time_port &&
        !(pm->have_boot_port = iobus_add(&m->pio, BOOT_TIME_PORT, 1, &boot_port_ops, pm,
                                         "boot-time", err))) {
        pm_free(pm);
        return NULL;
    }
    pm_reset(pm);
    return pm;
}

/* ---- the microvm-pm type (hw/device.h) ---- */

typedef struct PmDevice {
    Device dev;
    bool boot_time_port;
    bool ged;
    PmState *pm;
} PmDevice;

static void pm_dev_powerdown(void *opaque)
{
    pm_press_power_button(opaque);
}

static bool pm_dev_realize(Device *d, GError **err)
{
    PmDevice *pd = (PmDevice *)d;

    pd->pm = pm_new(d->machine, pd->boot_time_port, err);
    if (!pd->pm) {
        return false;
    }
    pm_set_ged(pd->pm, pd->ged);
    machine_add_powerdown_notifier(d->machine, pm_dev_powerdown, pd->pm);
    return true;
}

static void pm_dev_unrealize(Device *d)
{
    PmDevice *pd = (PmDevice *)d;

    machine_remove_powerdown_notifier(d->machine, pm_dev_powerdown, pd->pm);
    g_clear_pointer(&pd->pm, pm_free);
}

static void pm_dev_reset(Device *d)
{
    pm_reset(((PmDevice *)d)->pm);
}

static const Property pm_props[] = {
    DEFINE_PROP("boot-time-port", PROP_BOOL, PmDevice, boot_time_port, "on",
                "Log boot-time markers written to port 0x3FF (off when a UART covers it)"),
    DEFINE_PROP("ged", PROP_BOOL, PmDevice, ged, "off",
                "Pulse the SCI on every power-button press (the ACPI GED's interrupt, acpi=on)"),
    DEFINE_PROP_END,
};

PmState *microvm_pm_state(Device *d)
{
    return ((PmDevice *)d)->pm;
}

static void *microvm_pm_vmstate_opaque(Device *d)
{
    return ((PmDevice *)d)->pm;
}

const DeviceClass microvm_pm_device_class = {
    .name = "microvm-pm",
    .parent = "sys-bus-device",
    .description = "microvm PM1a power button, S5 and i8042 reset",
    .bus = DEVICE_BUS_NONE,
    .instance_size = sizeof(PmDevice),
    .props = pm_props,
    .realize = pm_dev_realize,
    .unrealize = pm_dev_unrealize,
    .reset = pm_dev_reset,
    .vmsd = &vmstate_pm,
    .vmstate_opaque = microvm_pm_vmstate_opaque,
};

/* ---- saved state (migration/vmstate.h) ---- */

/* SLP_EN and GBL_RLS are write-only: no register state has them. */
static bool pm_post_load(void *opaque, uint32_t version, GError **err)
{
    PmState *pm = opaque;

    if (pm->cnt & (PM1_CNT_SLP_EN | (1u << 2))) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                    "PM1a control 0x%04x has write-only bits set", pm->cnt);
        return false;
    }
    return true;
}

/* The SCI is an edge already delivered; "logged once" flags are the host's. */
const VMStateDescription vmstate_pm = {
    .name = "pm",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = pm_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_U16(sts, PmState),
        VMSTATE_U16(en, PmState),
        VMSTATE_U16(cnt, PmState),
        VMSTATE_END_OF_LIST()
    },
};
