/*
 * virtio-mmio on microvm: the fixed "replaceable" slots (6 virtio-blk, then 2
 * virtio-net), the -drive/-device virtio-blk wiring, the kernel command line
 * parameters, and the QMP hot-replace back ends (docs/block.md).
 */
#include <inttypes.h>
#include <string.h>

#include "hw/x86/microvm.h"
#include "hw/virtio/virtio-blk.h"
#include "hw/virtio/virtio-mmio.h"
#include "qmp/qmp-json.h"
#include "util/log.h"
#include "util/strutil.h"

#define MICROVM_SLOTS (MICROVM_BLK_SLOTS + MICROVM_NET_SLOTS)

typedef struct MicrovmSlot {
    VirtioMmio *mmio;
    VirtioDevice *vdev;
    VirtioBlk *blk;            /* block slots */
    char *id;                  /* device id while occupied */
    char *node;                /* node name backing it */
} MicrovmSlot;

typedef struct MicrovmVirtio {
    Machine *m;
    MicrovmSlot slots[MICROVM_SLOTS];
    GPtrArray *extra;          /* VirtioMmio* of non-replaceable devices */
    GPtrArray *extra_devs;     /* VirtioDevice* */
    BlockRegistry *nodes;
    /*
     * Node names device_del released (StratoVirt unregisters the drive with the
     * device): a following blockdev-del of the name (QEMU/libvirt's unplug
     * sequence) succeeds once instead of "Failed to find node".
     */
    GHashTable *released;
    GString *cmdline;
    unsigned next_index;       /* next transport index (base, IRQ) */
    unsigned blk_count;        /* -device virtio-blk-device fills slots in order */
} MicrovmVirtio;

static MicrovmVirtio *get_state(Machine *m)
{
    return m->virtio;
}

/* ---- virtio-net placeholder (until virtio-net exists): link down, no I/O ---- */

#define VIRTIO_NET_F_MAC     5
#define VIRTIO_NET_F_STATUS  16

typedef struct NetPlaceholder {
    VirtioDevice vdev;
} NetPlaceholder;

static void net_placeholder_free(VirtioDevice *vdev)
{
    virtio_device_cleanup(vdev);
    g_free(vdev);
}

static const VirtioDeviceClass net_placeholder_class = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .free = net_placeholder_free,
};

static VirtioDevice *net_placeholder_new(Machine *m, unsigned index)
{
    NetPlaceholder *n = g_new0(NetPlaceholder, 1);
    const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 + index };

    /* config: mac[6], status (0 = link down), max_virtqueue_pairs */
    virtio_device_init(&n->vdev, &net_placeholder_class, m, "", VIRTIO_BIT(VIRTIO_NET_F_MAC) |
                       VIRTIO_BIT(VIRTIO_NET_F_STATUS), 2, 256, 10);
    memcpy(n->vdev.config, mac, 6);
    virtio_config_set_le16(&n->vdev, 6, 0);
    virtio_config_set_le16(&n->vdev, 8, 1);
    return &n->vdev;
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

bool microvm_virtio_add_device(Machine *m, VirtioDevice *vdev, GError **err)
{
    MicrovmVirtio *s = get_state(m);
    VirtioMmio *t;

    if (!s) {
        set_error(err, "virtio-mmio is not initialised");
        virtio_device_free(vdev);
        return false;
    }
    t = add_transport(s, vdev, err);
    if (!t) {
        virtio_device_free(vdev);
        return false;
    }
    g_ptr_array_add(s->extra, t);
    g_ptr_array_add(s->extra_devs, vdev);
    return true;
}

static void virtio_system_reset(void *opaque)
{
    MicrovmVirtio *s = opaque;

    for (unsigned i = 0; i < MICROVM_SLOTS; i++) {
        if (s->slots[i].vdev) {
            virtio_reset(s->slots[i].vdev);
        }
    }
    for (guint i = 0; i < s->extra_devs->len; i++) {
        virtio_reset(g_ptr_array_index(s->extra_devs, i));
    }
}

/* ---- slots ---- */

static MicrovmSlot *find_slot_by_id(MicrovmVirtio *s, const char *id)
{
    for (unsigned i = 0; i < MICROVM_SLOTS; i++) {
        if (s->slots[i].id && strcmp(s->slots[i].id, id) == 0) {
            return &s->slots[i];
        }
    }
    return NULL;
}

static bool fill_blk_slot(MicrovmVirtio *s, unsigned index, const char *id, BlockBackend *bb,
                          const char *serial, GError **err)
{
    MicrovmSlot *slot = &s->slots[index];

    if (find_slot_by_id(s, id)) {
        set_error(err, "%s is already registered.", id);
        return false;
    }
    if (!virtio_blk_set_backend(slot->blk, id, bb, serial, err)) {
        return false;
    }
    slot->id = g_strdup(id);
    slot->node = g_strdup(block_node_name(bb));
    log_info("virtio-blk slot %u: device '%s' backed by '%s' (%s)", index, id,
             block_node_name(bb), block_filename(bb));
    return true;
}

static void empty_slot(MicrovmVirtio *s, MicrovmSlot *slot)
{
    if (slot->blk) {
        virtio_blk_clear_backend(slot->blk);
    }
    g_clear_pointer(&slot->id, g_free);
    g_clear_pointer(&slot->node, g_free);
}

static bool open_drives(MicrovmVirtio *s, GError **err)
{
    GPtrArray *drives = s->m->cfg->drives;

    for (guint i = 0; drives && i < drives->len; i++) {
        const OptList *l = g_ptr_array_index(drives, i);
        BlockOptions o;
        if (g_strcmp0(optlist_get(l, "if"), "pflash") == 0) {
            log_warn("-drive if=pflash is ignored on microvm");
            continue;
        }
        if (!block_options_from_drive(l, &o, err)) {
            return false;
        }
        if (block_registry_find(s->nodes, o.node_name)) {
            set_error(err, "Drive %s has been added", o.node_name);
            return false;
        }
        BlockBackend *bb = block_open(&o, s->m->ctx, err);
        if (!bb) {
            return false;
        }
        bool ok = block_registry_add(s->nodes, bb, err);
        block_unref(bb);
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool add_blk_device(MicrovmVirtio *s, const OptList *l, GError **err)
{
    static const char *const allowed[] = {
        "driver", "id", "drive", "serial", "iothread", "num-queues", "queue-size",
        "bootindex", NULL,
    };
    const char *drive = optlist_get(l, "drive");
    const char *id = optlist_get(l, "id");
    const char *serial = optlist_get(l, "serial");
    BlockBackend *bb;

    if (!optlist_check_keys(l, allowed, "-device virtio-blk-device", err)) {
        return false;
    }
    if (!drive || !*drive) {
        set_error(err, "No drive set for virtio-blk-device");
        return false;
    }
    bb = block_registry_find(s->nodes, drive);
    if (!bb) {
        set_error(err, "Drive '%s' for virtio-blk-device not found", drive);
        return false;
    }
    if (s->blk_count >= MICROVM_BLK_SLOTS) {
        set_error(err, "A maximum of %d block replaceable devices are supported.",
                  MICROVM_BLK_SLOTS);
        return false;
    }
    if (!fill_blk_slot(s, s->blk_count, id && *id ? id : drive, bb, serial, err)) {
        return false;
    }
    s->blk_count++;
    return true;
}

static void state_free(MicrovmVirtio *s)
{
    for (unsigned i = 0; i < MICROVM_SLOTS; i++) {
        MicrovmSlot *slot = &s->slots[i];
        virtio_mmio_free(slot->mmio);
        if (slot->vdev) {
            if (slot->vdev->status) {
                virtio_reset(slot->vdev);
            }
            virtio_device_free(slot->vdev);
        }
        g_free(slot->id);
        g_free(slot->node);
    }
    for (guint i = 0; i < s->extra->len; i++) {
        virtio_mmio_free(g_ptr_array_index(s->extra, i));
        virtio_device_free(g_ptr_array_index(s->extra_devs, i));
    }
    g_ptr_array_free(s->extra, TRUE);
    g_ptr_array_free(s->extra_devs, TRUE);
    block_registry_free(s->nodes);
    g_hash_table_destroy(s->released);
    g_string_free(s->cmdline, TRUE);
    g_free(s);
}

bool microvm_virtio_init(Machine *m, char **cmdline_params, GError **err)
{
    MicrovmVirtio *s = g_new0(MicrovmVirtio, 1);
    GPtrArray *devices = m->cfg->devices;

    *cmdline_params = NULL;
    s->m = m;
    s->extra = g_ptr_array_new();
    s->extra_devs = g_ptr_array_new();
    s->nodes = block_registry_new();
    s->released = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    s->cmdline = g_string_new("");
    m->virtio = s;

    if (!open_drives(s, err)) {
        goto fail;
    }
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
            slot->vdev = net_placeholder_new(m, i - MICROVM_BLK_SLOTS);
        }
        slot->mmio = add_transport(s, slot->vdev, err);
        if (!slot->mmio) {
            goto fail;
        }
    }
    for (guint i = 0; devices && i < devices->len; i++) {
        const OptList *l = g_ptr_array_index(devices, i);
        const char *driver = optlist_get(l, "driver");
        if (g_strcmp0(driver, "virtio-blk-device") == 0) {
            if (!add_blk_device(s, l, err)) {
                goto fail;
            }
        }
        /* Other virtio drivers call microvm_virtio_add_device() from here. */
    }
    machine_add_reset_handler(m, virtio_system_reset, s);
    *cmdline_params = g_strdup(s->cmdline->str);
    return true;

fail:
    microvm_virtio_destroy(m);
    return false;
}

void microvm_virtio_destroy(Machine *m)
{
    MicrovmVirtio *s;

    s = m->virtio;
    m->virtio = NULL;
    if (s) {
        machine_remove_reset_handler(m, virtio_system_reset, s);
        state_free(s);
    }
}

/* ---- QMP ---- */

bool microvm_blockdev_add(Machine *m, const BlockOptions *o, GError **err)
{
    MicrovmVirtio *s = get_state(m);
    BlockBackend *bb;
    bool ok;

    if (!s) {
        set_error(err, "virtio-mmio is not initialised");
        return false;
    }
    if (!o->node_name || !*o->node_name) {
        set_error(err, "blockdev-add: 'node-name' is required");
        return false;
    }
    if (block_registry_find(s->nodes, o->node_name)) {
        set_error(err, "Drive %s has been added", o->node_name);
        return false;
    }
    bb = block_open(o, m->ctx, err);
    if (!bb) {
        return false;
    }
    ok = block_registry_add(s->nodes, bb, err);
    block_unref(bb);
    if (ok) {
        g_hash_table_remove(s->released, o->node_name);
    }
    return ok;
}

bool microvm_blockdev_del(Machine *m, const char *node_name, GError **err)
{
    MicrovmVirtio *s = get_state(m);
    BlockBackend *bb = s ? block_registry_find(s->nodes, node_name) : NULL;

    if (!bb) {
        if (s && node_name && g_hash_table_remove(s->released, node_name)) {
            return true;   /* already released by device_del */
        }
        set_error(err, "Failed to find node with node-name='%s'", node_name ? node_name : "");
        return false;
    }
    if (block_owner(bb)) {
        set_error(err, "Node %s is in use", node_name);
        return false;
    }
    block_registry_remove(s->nodes, node_name);
    return true;
}

bool microvm_device_add(Machine *m, const MicrovmDeviceAddArgs *a, GError **err)
{
    MicrovmVirtio *s = get_state(m);
    const char *id = a->id ? a->id : "";
    uint64_t slot = 0;
    BlockBackend *bb;

    if (!s) {
        set_error(err, "virtio-mmio is not initialised");
        return false;
    }
    if (a->addr) {
        const char *hex = a->addr;
        char *end;
        if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) {
            hex += 2;
        }
        errno = 0;
        slot = g_ascii_strtoull(hex, &end, 16);
        if (!*hex || *end || errno) {
            set_error(err, "Invalid addr for device %s", id);
            return false;
        }
    } else if (a->has_lun) {
        slot = a->lun + 1;
    }
    bb = block_registry_find(s->nodes, a->drive ? a->drive : id);
    if (!a->driver || (!strstr(a->driver, "blk") && !strstr(a->driver, "net"))) {
        set_error(err, bb ? "Unsupported replaceable device type."
                          : "Failed to find device configuration.");
        return false;
    }
    if (strstr(a->driver, "net")) {
        if (slot >= MICROVM_NET_SLOTS) {
            set_error(err, "A maximum of %d net replaceable devices are supported.",
                      MICROVM_NET_SLOTS);
            return false;
        }
        set_error(err, "virtio-net is not supported yet");
        return false;
    }
    if (!bb) {
        set_error(err, "Failed to find device configuration.");
        return false;
    }
    if (slot >= MICROVM_BLK_SLOTS) {
        set_error(err, "A maximum of %d block replaceable devices are supported.",
                  MICROVM_BLK_SLOTS);
        return false;
    }
    if (s->slots[slot].id) {
        set_error(err, "The slot %u is occupied already.", (unsigned)slot);
        return false;
    }
    return fill_blk_slot(s, slot, id, bb, a->serial, err);
}

bool microvm_device_del(Machine *m, const char *id, GError **err)
{
    MicrovmVirtio *s = get_state(m);
    MicrovmSlot *slot = s && id ? find_slot_by_id(s, id) : NULL;
    g_autofree char *node = NULL;

    if (slot) {
        node = g_strdup(slot->node);
        empty_slot(s, slot);
        block_registry_remove(s->nodes, node);
        g_hash_table_add(s->released, g_strdup(node));
    } else {
        BlockBackend *bb = s && id ? block_registry_find(s->nodes, id) : NULL;
        if (!bb || block_owner(bb)) {
            set_error(err, "Device %s not found", id ? id : "");
            return false;
        }
        block_registry_remove(s->nodes, id);
        g_hash_table_add(s->released, g_strdup(id));
    }
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "device", id);
    json_object_set_string_member(o, "path", id);
    machine_emit_event(m, "DEVICE_DELETED", qmp_node_object(o));
    return true;
}

static JsonNode *block_info(const char *device, const char *qdev, BlockBackend *bb)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "device", device);
    if (qdev) {
        json_object_set_string_member(o, "qdev", qdev);
    }
    json_object_set_string_member(o, "type", "unknown");
    json_object_set_boolean_member(o, "removable", false);
    json_object_set_boolean_member(o, "locked", false);
    if (bb) {
        json_object_set_member(o, "inserted", block_query_device_info(bb));
        json_object_set_string_member(o, "io-status", "ok");
    }
    return qmp_node_object(o);
}

JsonNode *microvm_query_block(Machine *m)
{
    MicrovmVirtio *s = get_state(m);
    JsonArray *arr = json_array_new();

    if (s) {
        for (unsigned i = 0; i < MICROVM_BLK_SLOTS; i++) {
            MicrovmSlot *slot = &s->slots[i];
            if (slot->id && slot->blk && virtio_blk_backend(slot->blk)) {
                json_array_add_element(arr, block_info(slot->node, slot->id,
                                                       virtio_blk_backend(slot->blk)));
            }
        }
        GPtrArray *nodes = block_registry_list(s->nodes);
        for (guint i = 0; i < nodes->len; i++) {
            BlockBackend *bb = g_ptr_array_index(nodes, i);
            if (!block_owner(bb)) {
                json_array_add_element(arr, block_info(block_node_name(bb), NULL, bb));
            }
        }
    }
    return qmp_node_array(arr);
}

JsonNode *microvm_query_named_block_nodes(Machine *m)
{
    MicrovmVirtio *s = get_state(m);
    JsonArray *arr = json_array_new();

    if (s) {
        GPtrArray *nodes = block_registry_list(s->nodes);
        for (guint i = 0; i < nodes->len; i++) {
            json_array_add_element(arr, block_query_device_info(g_ptr_array_index(nodes, i)));
        }
    }
    return qmp_node_array(arr);
}

VirtioDevice *microvm_blk_slot_device(Machine *m, unsigned slot)
{
    MicrovmVirtio *s = get_state(m);

    return s && slot < MICROVM_BLK_SLOTS ? s->slots[slot].vdev : NULL;
}
