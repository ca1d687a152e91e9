/*
 * pvpanic: QEMU's ISA "pvpanic" device (QEMU docs/specs/pvpanic.rst), the
 * paravirtual way for a guest kernel to tell the host it panicked. Linux's
 * pvpanic driver (and Windows' with the QEMU0001 ACPI id) finds the port,
 * reads which events the device supports and writes one on panic.
 *
 * Guest interface: one byte-wide I/O port, 0x505 unless `ioport` says
 * otherwise.
 *  - read: the `events` mask (bit 0 panicked, bit 1 crash-loaded).
 *  - write: bits outside `events` are ignored (the spec: "On write, the bits
 *    not recognized by the device are ignored"); bit 0 -> QMP GUEST_PANICKED
 *    {"action":"pause"} and the VM pauses in runstate guest-panicked (QEMU
 *    with -action panic=pause, libvirt's usual setting); otherwise bit 1 ->
 *    GUEST_CRASHLOADED {"action":"run"} and the guest keeps running (its
 *    kdump kernel is taking over; the host only records it).
 *
 * The device has no guest-visible state of its own: the port and the mask
 * are configuration (properties, given again on the destination's command
 * line) and the one flag is host bookkeeping, so its state description is
 * empty.
 */
#include "hw/device.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/strutil.h"

#define PVPANIC_DEFAULT_PORT "0x505"
#define PVPANIC_PANICKED     (1u << 0)
#define PVPANIC_CRASH_LOADED (1u << 1)

typedef struct PvpanicState {
    Device parent;               /* first: the registry allocates and frees us */
    uint16_t ioport;             /* property "ioport" */
    uint8_t events;              /* property "events" */
    /*
     * GUEST_CRASHLOADED leaves the guest running, so a guest writing it in a
     * loop must not flood the -D log: logged once per reset (the QMP event is
     * still sent every time, as QEMU does).
     */
    bool logged_crashloaded;
} PvpanicState;

static JsonNode *action_data(const char *action)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "action");
    json_builder_add_string_value(b, action);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static uint64_t pvpanic_read(void *opaque, uint64_t off, unsigned size)
{
    PvpanicState *s = opaque;

    return s->events;
}

/* Runs on a vCPU thread (or qtest's main thread) with the machine lock held. */
static void pvpanic_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PvpanicState *s = opaque;
    Machine *m = s->parent.machine;
    unsigned event = (unsigned)val & s->events;

    /* Panicked wins over crash-loaded in one write: the host must act on it. */
    if (event & PVPANIC_PANICKED) {
        log_warn("pvpanic: guest panicked, pausing the VM");
        machine_emit_event(m, "GUEST_PANICKED", action_data("pause"));
        /* A vCPU cannot park itself here: the main loop pauses them all. */
        machine_request_panic(m);
    } else if (event & PVPANIC_CRASH_LOADED) {
        if (!s->logged_crashloaded) {
            s->logged_crashloaded = true;
            log_warn("pvpanic: guest crashed and loaded its crash kernel (logged once)");
        }
        machine_emit_event(m, "GUEST_CRASHLOADED", action_data("run"));
    }
}

static const IoRegionOps pvpanic_ops = {
    .read = pvpanic_read,
    .write = pvpanic_write,
};

static bool pvpanic_realize(Device *d, GError **err)
{
    PvpanicState *s = (PvpanicState *)d;

    if (!iobus_add(&d->machine->pio, s->ioport, 1, &pvpanic_ops, s, "pvpanic", err)) {
        g_prefix_error(err, "pvpanic: ioport 0x%x already in use: ", s->ioport);
        return false;
    }
    return true;
}

static void pvpanic_unrealize(Device *d)
{
    PvpanicState *s = (PvpanicState *)d;

    iobus_remove(&d->machine->pio, s->ioport);
}

static void pvpanic_reset(Device *d)
{
    ((PvpanicState *)d)->logged_crashloaded = false;
}

/*
 * Empty, but versioned: a later version that gains state (QEMU 9 added a
 * third event, shutdown) adds its fields as version 2 and still reads the
 * sections today's snapshots hold.
 */
static const VMStateDescription vmstate_pvpanic = {
    .name = "pvpanic",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_END_OF_LIST()
    },
};

static const Property pvpanic_props[] = {
    /* QEMU gives neither property a description (device-list-properties). */
    DEFINE_PROP("ioport", PROP_U16, PvpanicState, ioport, PVPANIC_DEFAULT_PORT, NULL),
    /*
     * Only bits 0..1 are events, so the valid masks are exactly 0..3; QEMU
     * takes any uint8 and ignores the rest, but a mask the device cannot honour
     * is a configuration mistake worth refusing.
     */
    DEFINE_PROP_RANGE("events", PROP_U8, PvpanicState, events, "3", 0,
                      PVPANIC_PANICKED | PVPANIC_CRASH_LOADED, NULL),
    DEFINE_PROP_END,
};

const DeviceClass pvpanic_device_class = {
    .name = "pvpanic",
    .parent = "isa-device",
    /* None, as QEMU: `-device help` prints its line without a desc. */
    .description = NULL,
    .bus = DEVICE_BUS_ISA,
    .instance_size = sizeof(PvpanicState),
    .props = pvpanic_props,
    .user_creatable = true,
    /* ISA has no hot-plug: guests find the port once, at boot (ACPI/probe). */
    .hotpluggable = false,
    .realize = pvpanic_realize,
    .unrealize = pvpanic_unrealize,
    .reset = pvpanic_reset,
    .vmsd = &vmstate_pvpanic,
};
