/*
 * virtio-mmio on microvm: the fixed "replaceable" slots (6 virtio-blk, then 2
 * virtio-net), the kernel command line parameters, and placing
 * virtio-blk-device / virtio-net-device instances into slots (the machine class's plug hook;
 * docs/block.md "QMP hot-replace").
 */
#include <inttypes.h>
#include <string.h>

#include "hw/x86/microvm.h"
#include "hw/virtio/virtio-blk.h"
#include "hw/virtio/virtio-mmio.h"
#include "hw/virtio/virtio-net.h"
#include "util/log.h"
#include "util/strutil.h"

#define MICROVM_SLOTS (MICROVM_BLK_SLOTS + MICROVM_NET_SLOTS)

typedef struct MicrovmSlot {
    VirtioMmio *mmio;
    VirtioDevice *vdev;
    VirtioBlk *blk;            /* block slots */
    VirtioNet *net;            /* net slots */
    Device *dev;               /* the virtio-blk-device / virtio-net-device filling it, or NULL */
} MicrovmSlot;

/* A non-replaceable virtio device (rng, balloon, ...) on its own transport. */
typedef struct MicrovmExtra {
    Device *dev;
    VirtioDevice *vdev;        /* owned by dev */
    VirtioMmio *mmio;
} MicrovmExtra;

struct MicrovmVirtio {
    Machine *m;
    MicrovmSlot slots[MICROVM_SLOTS];
    GPtrArray *extra;          /* MicrovmExtra*: devices on transports after the slots */
    GString *cmdline;
    unsigned next_index;       /* next transport index (base, IRQ) */
};

/*
 * An empty net slot is a real virtio-net without a back end: the guest
 * probes eth0/eth1 at boot with the link down, and device_add later brings
 * the link up (config interrupt), as StratoVirt's replaceable slots do.
 */
static VirtioNet *net_slot_new(Machine *m, unsigned index)
{
    const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 + index };
    g_autofree char *name = g_strdup_printf("%u", MICROVM_BLK_SLOTS + index);

    return virtio_net_new(m, name, mac);
}

/* ---- transports ---- */

static VirtioMmio *add_transport(MicrovmVirtio *s, VirtioDevice *vdev, GError **err)
{
    unsigned gsi = MICROVM_VIRTIO_IRQ_BASE + s->next_index;
    uint64_t base = MICROVM_VIRTIO_BASE + (uint64_t)s->next_index * MICROVM_VIRTIO_STRIDE;
    VirtioMmio *t;

    if (gsi > MICROVM_VIRTIO_IRQ_MAX) {
        set_error(err, "IRQ number exhausted.");
        return NULL;
    }
    t = virtio_mmio_new(s->m, vdev, base, gsi, err);
    if (!t) {
        return NULL;
    }
    s->next_index++;
    g_autofree char *param = virtio_mmio_cmdline_param(t);
    if (s->cmdline->len) {
        g_string_append_c(s->cmdline, ' ');
    }
    g_string_append(s->cmdline, param);
    return t;
}

/*
 * Transports are numbered in creation order and never reused: the guest was
 * told where they are (kernel command line), so a window is not moved.
 */
static bool plug_extra(MicrovmVirtio *s, Device *d, GError **err)
{
    MicrovmExtra *e = g_new0(MicrovmExtra, 1);

    e->dev = d;
    e->vdev = d->klass->virtio_device(d);
    e->mmio = add_transport(s, e->vdev, err);
    if (!e->mmio) {
        g_free(e);
        return false;
    }
    g_ptr_array_add(s->extra, e);
    return true;
}

static void free_extra(MicrovmExtra *e)
{
    virtio_mmio_free(e->mmio);
    if (e->vdev->status) {
        virtio_reset(e->vdev);
    }
    g_free(e);
}

void microvm_virtio_reset(MicrovmVirtio *s)
{
    for (unsigned i = 0; i < MICROVM_SLOTS; i++) {
        if (s->slots[i].vdev) {
            virtio_reset(s->slots[i].vdev);
        }
    }
    for (guint i = 0; i < s->extra->len; i++) {
        virtio_reset(((MicrovmExtra *)g_ptr_array_index(s->extra, i))->vdev);
    }
}

const char *microvm_virtio_cmdline(MicrovmVirtio *s)
{
    return s->cmdline->str;
}

unsigned microvm_virtio_transports(MicrovmVirtio *s)
{
    return s->next_index;
}

uint64_t microvm_virtio_device_base(MicrovmVirtio *s, const Device *d)
{
    for (unsigned i = 0; i < MICROVM_SLOTS; i++) {
        if (s->slots[i].dev == d) {
            return virtio_mmio_base(s->slots[i].mmio);
        }
    }
    for (guint i = 0; i < s->extra->len; i++) {
        MicrovmExtra *e = g_ptr_array_index(s->extra, i);
        if (e->dev == d) {
            return virtio_mmio_base(e->mmio);
        }
    }
    return 0;
}

VirtioDevice *microvm_virtio_blk_slot(MicrovmVirtio *s, unsigned slot)
{
    return slot < MICROVM_BLK_SLOTS ? s->slots[slot].vdev : NULL;
}

/* ---- placing virtio-blk-device instances ---- */

/*
 * "0x<hex>" or "<hex>" (StratoVirt's addr is the slot number in hex); no
 * sign, no blanks. `id` names the device in the error.
 */
static bool parse_slot(const char *addr, const char *id, uint64_t *slot, GError **err)
{
    const char *hex = addr;

    if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) {
        hex += 2;
    }
    if (!*hex || strspn(hex, "0123456789abcdefABCDEF") != strlen(hex)) {
        set_error(err, "Invalid addr for device %s", id);
        return false;
    }
    /* Saturated: any larger number is just as far beyond the last slot. */
    *slot = 0;
    for (const char *p = hex; *p; p++) {
        *slot = MIN(*slot * 16 + (uint64_t)g_ascii_xdigit_value(*p), MICROVM_SLOTS);
    }
    return true;
}

static bool pick_blk_slot(MicrovmVirtio *s, const Device *d, const char *id, uint64_t *slot,
                          GError **err)
{
    if (d->addr) {
        if (!parse_slot(d->addr, id, slot, err)) {
            return false;
        }
    } else {
        for (*slot = 0; *slot < MICROVM_BLK_SLOTS && s->slots[*slot].dev; (*slot)++) {
        }
    }
    if (*slot >= MICROVM_BLK_SLOTS) {
        set_error(err, "A maximum of %d block replaceable devices are supported.",
                  MICROVM_BLK_SLOTS);
        return false;
    }
    if (s->slots[*slot].dev) {
        set_error(err, "The slot %u is occupied already.", (unsigned)*slot);
        return false;
    }
    return true;
}

/* addr= is relative to the net slots (0x0 = eth0), as StratoVirt's. */
static bool pick_net_slot(MicrovmVirtio *s, const Device *d, const char *id, uint64_t *slot,
                          GError **err)
{
    if (d->addr) {
        if (!parse_slot(d->addr, id, slot, err)) {
            return false;
        }
    } else {
        for (*slot = 0; *slot < MICROVM_NET_SLOTS && s->slots[MICROVM_BLK_SLOTS + *slot].dev;
             (*slot)++) {
        }
    }
    if (*slot >= MICROVM_NET_SLOTS) {
        set_error(err, "A maximum of %d net replaceable devices are supported.",
                  MICROVM_NET_SLOTS);
        return false;
    }
    if (s->slots[MICROVM_BLK_SLOTS + *slot].dev) {
        set_error(err, "The slot %u is occupied already.", (unsigned)*slot);
        return false;
    }
    return true;
}

static bool plug_net(MicrovmVirtio *s, Device *d, GError **err)
{
    NetClient *nc = virtio_net_device_backend(d);
    const char *id = d->id ? d->id : nc ? nc->id : d->klass->name;
    uint64_t slot;
    MicrovmSlot *sl;

    if (!pick_net_slot(s, d, id, &slot, err)) {
        return false;
    }
    sl = &s->slots[MICROVM_BLK_SLOTS + slot];
    if (!virtio_net_set_backend(sl->net, id, nc, virtio_net_device_mac(d),
                                virtio_net_device_mq(d), err)) {
        return false;
    }
    sl->dev = d;
    virtio_net_device_placed(d, sl->net);
    log_info("virtio-net slot %u: device '%s' on netdev '%s'", (unsigned)slot, id,
             nc ? nc->id : "(none, link down)");
    return true;
}

bool microvm_virtio_plug(MicrovmVirtio *s, Device *d, GError **err)
{
    BlockBackend *bb = virtio_blk_device_backend(d);
    /* Only a block device without an id is named by its node. */
    const char *id = d->id ? d->id : bb ? block_node_name(bb) : NULL;
    uint64_t slot;

    if (virtio_net_device_is(d)) {
        return plug_net(s, d, err);
    }
    if (!bb && d->klass->virtio_device) {
        if (d->addr) {
            set_error(err, "Invalid addr for device %s: %s is not a replaceable device",
                      d->id ? d->id : d->klass->name, d->klass->name);
            return false;
        }
        return plug_extra(s, d, err);
    }
    if (!bb) {
        set_error(err, "Unsupported replaceable device type.");
        return false;
    }
    if (!pick_blk_slot(s, d, id, &slot, err) ||
        !virtio_blk_set_backend(s->slots[slot].blk, id, bb, virtio_blk_device_serial(d), err)) {
        return false;
    }
    s->slots[slot].dev = d;
    log_info("virtio-blk slot %u: device '%s' backed by '%s' (%s)", (unsigned)slot, id,
             block_node_name(bb), block_filename(bb));
    return true;
}

void microvm_virtio_unplug(MicrovmVirtio *s, Device *d)
{
    for (guint i = 0; i < s->extra->len; i++) {
        MicrovmExtra *e = g_ptr_array_index(s->extra, i);
        if (e->dev == d) {
            free_extra(e);
            g_ptr_array_remove_index(s->extra, i);
            return;
        }
    }
    for (unsigned i = 0; i < MICROVM_SLOTS; i++) {
        if (s->slots[i].dev != d) {
            continue;
        }
        if (s->slots[i].blk) {
            virtio_blk_clear_backend(s->slots[i].blk);
        } else {
            virtio_net_clear_backend(s->slots[i].net);
            virtio_net_device_placed(d, NULL);
        }
        s->slots[i].dev = NULL;
    }
}

/* ---- snapshots ---- */

/* Each transport and the slot state it owns, in the same order for save and load. */
typedef struct SlotSection {
    const VMStateDescription *vmsd;
    void *opaque;
} SlotSection;

static GArray *state_sections(MicrovmVirtio *s)
{
    GArray *a = g_array_new(FALSE, FALSE, sizeof(SlotSection));

    for (unsigned i = 0; i < MICROVM_SLOTS; i++) {
        MicrovmSlot *sl = &s->slots[i];
        SlotSection t = { &vmstate_virtio_mmio, sl->mmio };
        g_array_append_val(a, t);
        if (sl->blk) {
            SlotSection b = { &vmstate_virtio_blk, sl->blk };
            g_array_append_val(a, b);
        } else if (!sl->dev) {
            SlotSection n = { &vmstate_virtio_net, sl->net };
            g_array_append_val(a, n);
        }
    }
    for (guint i = 0; i < s->extra->len; i++) {
        SlotSection t = { &vmstate_virtio_mmio,
                          ((MicrovmExtra *)g_ptr_array_index(s->extra, i))->mmio };
        g_array_append_val(a, t);
    }
    return a;
}

bool microvm_virtio_save(MicrovmVirtio *s, GByteArray *out, GError **err)
{
    g_autoptr(GArray) a = state_sections(s);

    for (guint i = 0; i < a->len; i++) {
        SlotSection *sec = &g_array_index(a, SlotSection, i);
        if (!vmstate_save(sec->vmsd, sec->opaque, out, err)) {
            g_prefix_error(err, "virtio-mmio transport %u: ", i);
            return false;
        }
    }
    return true;
}

bool microvm_virtio_load(MicrovmVirtio *s, const uint8_t *buf, size_t len, GError **err)
{
    g_autoptr(GArray) a = state_sections(s);
    size_t used;

    for (guint i = 0; i < a->len; i++) {
        SlotSection *sec = &g_array_index(a, SlotSection, i);
        if (!vmstate_load(sec->vmsd, sec->opaque, buf, len, &used, err)) {
            return false;
        }
        buf += used;
        len -= used;
    }
    if (len) {
        set_error(err, "microvm: %zu bytes after the board's state", len);
        return false;
    }
    return true;
}

/* ---- creation ---- */

void microvm_virtio_free(MicrovmVirtio *s)
{
    if (!s) {
        return;
    }
    for (unsigned i = 0; i < MICROVM_SLOTS; i++) {
        MicrovmSlot *slot = &s->slots[i];
        virtio_mmio_free(slot->mmio);
        if (slot->vdev) {
            if (slot->vdev->status) {
                virtio_reset(slot->vdev);
            }
            virtio_device_free(slot->vdev);
        }
    }
    /* Devices are unplugged before the board goes (machine_free), so this is empty. */
    g_assert(s->extra->len == 0);
    g_ptr_array_free(s->extra, TRUE);
    g_string_free(s->cmdline, TRUE);
    g_free(s);
}

MicrovmVirtio *microvm_virtio_new(Machine *m, GError **err)
{
    MicrovmVirtio *s = g_new0(MicrovmVirtio, 1);

    s->m = m;
    s->extra = g_ptr_array_new();
    s->cmdline = g_string_new("");
    for (unsigned i = 0; i < MICROVM_SLOTS; i++) {
        MicrovmSlot *slot = &s->slots[i];
        if (i < MICROVM_BLK_SLOTS) {
            g_autofree char *name = g_strdup_printf("%u", i);
            slot->blk = virtio_blk_new(m, name, NULL, NULL, true, err);
            if (!slot->blk) {
                goto fail;
            }
            slot->vdev = virtio_blk_vdev(slot->blk);
        } else {
            slot->net = net_slot_new(m, i - MICROVM_BLK_SLOTS);
            slot->vdev = virtio_net_vdev(slot->net);
        }
        slot->mmio = add_transport(s, slot->vdev, err);
        if (!slot->mmio) {
            goto fail;
        }
    }
    return s;

fail:
    microvm_virtio_free(s);
    return NULL;
}
