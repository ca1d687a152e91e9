/* virtio-blk: request parsing and completion. */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "hw/virtio/virtio-blk.h"
#include "util/log.h"
#include "util/strutil.h"

#define SECTOR_SHIFT 9
#define SECTOR_SIZE 512

struct VirtioBlk {
    VirtioDevice vdev;          /* first: the core hands us VirtioDevice* */
    BlockBackend *bb;
    char *serial;
    bool hotswap;
    unsigned inflight;
};

typedef struct BlkOutHdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
} BlkOutHdr;

typedef struct BlkSegment {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
} BlkSegment;

typedef struct BlkReq {
    VirtioBlk *blk;
    VirtQueue *vq;
    VirtQueueElement *elem;
    uint8_t *status;
    uint32_t used_len;
    struct iovec *data;
    unsigned ndata;
    unsigned pending;           /* BlockRequests not yet completed */
    int err;
    BlockRequest *breqs;
} BlkReq;

static VirtioBlk *to_blk(VirtioDevice *vdev)
{
    return (VirtioBlk *)vdev;
}

static void blk_update_config(VirtioBlk *blk)
{
    VirtioDevice *vdev = &blk->vdev;
    uint32_t bs = blk->bb ? block_logical_block_size(blk->bb) : SECTOR_SIZE;

    virtio_config_set_le64(vdev, VIRTIO_BLK_CFG_CAPACITY,
                           blk->bb ? block_size(blk->bb) >> SECTOR_SHIFT : 0);
    virtio_config_set_le32(vdev, VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_SEG_MAX);
    virtio_config_set_le32(vdev, VIRTIO_BLK_CFG_BLK_SIZE, bs);
    virtio_config_set_le16(vdev, VIRTIO_BLK_CFG_NUM_QUEUES, 1);
    virtio_config_set_le32(vdev, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS,
                           VIRTIO_BLK_MAX_DISCARD_SECTORS);
    virtio_config_set_le32(vdev, VIRTIO_BLK_CFG_MAX_DISCARD_SEG, VIRTIO_BLK_MAX_DISCARD_SEG);
    virtio_config_set_le32(vdev, VIRTIO_BLK_CFG_DISCARD_ALIGNMENT, bs >> SECTOR_SHIFT);
    virtio_config_set_le32(vdev, VIRTIO_BLK_CFG_MAX_WZ_SECTORS, VIRTIO_BLK_MAX_DISCARD_SECTORS);
    virtio_config_set_le32(vdev, VIRTIO_BLK_CFG_MAX_WZ_SEG, VIRTIO_BLK_MAX_DISCARD_SEG);
    vdev->config[VIRTIO_BLK_CFG_WZ_MAY_UNMAP] =
        blk->hotswap || (blk->bb && block_can_discard(blk->bb));
}

static void req_complete(BlkReq *r, uint8_t status)
{
    VirtioBlk *blk = r->blk;

    *r->status = status;
    virtqueue_push(r->vq, r->elem, r->used_len);
    virtio_notify(&blk->vdev, r->vq);
    blk->inflight--;
    g_free(r->breqs);
    g_free(r->data);
    g_free(r->elem);
    g_free(r);
}

static void on_block_done(BlockRequest *breq, int ret)
{
    BlkReq *r = breq->opaque;

    if (ret < 0 && !r->err) {
        r->err = ret;
    }
    if (--r->pending) {
        return;
    }
    if (r->err) {
        log_debug("virtio-blk '%s': request failed: %s", r->blk->vdev.id, g_strerror(-r->err));
        r->used_len = 1;   /* the status byte only */
        req_complete(r, VIRTIO_BLK_S_IOERR);
    } else {
        req_complete(r, VIRTIO_BLK_S_OK);
    }
}

/* Sector range check without overflow. */
static bool range_ok(VirtioBlk *blk, uint64_t sector, uint64_t nsectors)
{
    uint64_t cap = block_size(blk->bb) >> SECTOR_SHIFT;

    return sector <= cap && nsectors <= cap - sector;
}

static uint8_t submit_segments(BlkReq *r, bool discard)
{
    VirtioBlk *blk = r->blk;
    size_t len = iov_size(r->data, r->ndata);
    unsigned n = len / sizeof(BlkSegment);
    BlkSegment seg;

    if (!virtio_has_feature(&blk->vdev,
                            discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES)) {
        return VIRTIO_BLK_S_UNSUPP;
    }
    if (!blk->bb || len == 0 || len % sizeof(BlkSegment) || n > VIRTIO_BLK_MAX_DISCARD_SEG) {
        return VIRTIO_BLK_S_IOERR;
    }
    if (block_is_read_only(blk->bb)) {
        return VIRTIO_BLK_S_IOERR;
    }
    r->breqs = g_new0(BlockRequest, n);
    for (unsigned i = 0; i < n; i++) {
        iov_to_buf(r->data, r->ndata, i * sizeof(seg), &seg, sizeof(seg));
        uint64_t sector = le64toh(seg.sector);
        uint32_t num = le32toh(seg.num_sectors), flags = le32toh(seg.flags);
        if (flags & ~(discard ? 0u : VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)) {
            return VIRTIO_BLK_S_UNSUPP;
        }
        if (num > VIRTIO_BLK_MAX_DISCARD_SECTORS || !range_ok(blk, sector, num)) {
            return VIRTIO_BLK_S_IOERR;
        }
        r->breqs[i] = (BlockRequest) {
            .op = discard ? BLOCK_OP_DISCARD : BLOCK_OP_WRITE_ZEROES,
            .offset = sector << SECTOR_SHIFT,
            .len = (uint64_t)num << SECTOR_SHIFT,
            .may_unmap = flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
            .cb = on_block_done,
            .opaque = r,
        };
    }
    r->pending = n;
    for (unsigned i = 0; i < n; i++) {
        block_submit(blk->bb, &r->breqs[i]);
    }
    return 0xff;   /* in flight */
}

/* Returns a status to complete with now, or 0xff when the request is in flight. */
static uint8_t handle_request(BlkReq *r, const BlkOutHdr *hdr, VirtQueueElement *e)
{
    VirtioBlk *blk = r->blk;
    uint32_t type = le32toh(hdr->type);
    uint64_t sector = le64toh(hdr->sector);
    size_t len;

    switch (type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: {
        bool in = type == VIRTIO_BLK_T_IN;
        if (in) {
            r->data = iov_slice(e->in_sg, e->in_num, 0, e->in_len - 1, &r->ndata);
        } else {
            r->data = iov_slice(e->out_sg, e->out_num, sizeof(*hdr), e->out_len - sizeof(*hdr),
                                &r->ndata);
        }
        len = iov_size(r->data, r->ndata);
        if (!blk->bb || len % SECTOR_SIZE || !range_ok(blk, sector, len >> SECTOR_SHIFT)) {
            return VIRTIO_BLK_S_IOERR;
        }
        if (!in && block_is_read_only(blk->bb)) {
            return VIRTIO_BLK_S_IOERR;
        }
        if (in) {
            r->used_len = len + 1;
        }
        r->breqs = g_new0(BlockRequest, 1);
        r->breqs[0] = (BlockRequest) {
            .op = in ? BLOCK_OP_READ : BLOCK_OP_WRITE,
            .offset = sector << SECTOR_SHIFT,
            .iov = r->data,
            .niov = r->ndata,
            .cb = on_block_done,
            .opaque = r,
        };
        r->pending = 1;
        block_submit(blk->bb, &r->breqs[0]);
        return 0xff;
    }
    case VIRTIO_BLK_T_FLUSH:
        if (!blk->bb) {
            return VIRTIO_BLK_S_IOERR;
        }
        r->breqs = g_new0(BlockRequest, 1);
        r->breqs[0] = (BlockRequest) { .op = BLOCK_OP_FLUSH, .cb = on_block_done, .opaque = r };
        r->pending = 1;
        block_submit(blk->bb, &r->breqs[0]);
        return 0xff;
    case VIRTIO_BLK_T_GET_ID: {
        char id[VIRTIO_BLK_ID_BYTES] = { 0 };
        r->data = iov_slice(e->in_sg, e->in_num, 0, e->in_len - 1, &r->ndata);
        if (blk->serial) {
            memcpy(id, blk->serial, MIN(strlen(blk->serial), sizeof(id)));
        }
        len = iov_from_buf(r->data, r->ndata, 0, id, MIN(sizeof(id), iov_size(r->data, r->ndata)));
        r->used_len = len + 1;
        return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        r->data = iov_slice(e->out_sg, e->out_num, sizeof(*hdr), e->out_len - sizeof(*hdr),
                            &r->ndata);
        return submit_segments(r, type == VIRTIO_BLK_T_DISCARD);
    default:
        return VIRTIO_BLK_S_UNSUPP;
    }
}

static bool process_element(VirtioBlk *blk, VirtQueue *vq, VirtQueueElement *e)
{
    BlkOutHdr hdr;
    BlkReq *r;
    uint8_t status;

    if (e->out_len < sizeof(hdr) || e->in_len < 1) {
        virtio_error(&blk->vdev, "request without a header or a status byte");
        g_free(e);
        return false;
    }
    iov_to_buf(e->out_sg, e->out_num, 0, &hdr, sizeof(hdr));
    r = g_new0(BlkReq, 1);
    r->blk = blk;
    r->vq = vq;
    r->elem = e;
    r->used_len = 1;
    /* The status byte is the last byte the device may write. */
    for (unsigned i = e->in_num; i-- > 0;) {
        if (e->in_sg[i].iov_len) {
            r->status = (uint8_t *)e->in_sg[i].iov_base + e->in_sg[i].iov_len - 1;
            break;
        }
    }
    blk->inflight++;
    status = handle_request(r, &hdr, e);
    if (status != 0xff) {
        if (status != VIRTIO_BLK_S_OK) {
            r->used_len = 1;
        }
        if (r->pending) {
            /* Some segments went out before a later one failed validation. */
            r->err = -EINVAL;
            return true;
        }
        req_complete(r, status);
    }
    return true;
}

static void blk_queue_notify(VirtioDevice *vdev, unsigned index)
{
    VirtioBlk *blk = to_blk(vdev);
    VirtQueue *vq = &vdev->vqs[index];

    do {
        virtqueue_set_notification(vq, false);
        for (;;) {
            VirtQueueElement *e;
            char *why;
            int r = virtqueue_pop(vq, &e, &why);
            if (r < 0) {
                virtio_error(vdev, "queue %u: %s", index, why);
                g_free(why);
                return;
            }
            if (r == 0) {
                break;
            }
            if (!process_element(blk, vq, e) || vdev->broken) {
                return;
            }
        }
        virtqueue_set_notification(vq, true);
    } while (!virtqueue_empty(vq));
}

static void blk_reset(VirtioDevice *vdev)
{
    VirtioBlk *blk = to_blk(vdev);

    if (blk->bb) {
        block_drain(blk->bb);
    }
}

static void blk_free(VirtioDevice *vdev)
{
    VirtioBlk *blk = to_blk(vdev);

    virtio_blk_clear_backend(blk);
    g_free(blk->serial);
    virtio_device_cleanup(vdev);
    g_free(blk);
}

static const VirtioDeviceClass virtio_blk_class = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .queue_notify = blk_queue_notify,
    .reset = blk_reset,
    .free = blk_free,
};

bool virtio_blk_check_serial(const char *serial, GError **err)
{
    if (serial && strlen(serial) > VIRTIO_BLK_ID_BYTES) {
        set_error(err, "Serial '%s' is longer than %d characters", serial, VIRTIO_BLK_ID_BYTES);
        return false;
    }
    return true;
}

VirtioBlk *virtio_blk_new(Machine *m, const char *id, BlockBackend *bb, const char *serial,
                          bool hotswap, GError **err)
{
    uint64_t f = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
                 VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
                 VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
    VirtioBlk *blk;

    if (!virtio_blk_check_serial(serial, err)) {
        return NULL;
    }
    if (bb && block_is_read_only(bb)) {
        f |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
    }
    if (hotswap || (bb && block_can_discard(bb))) {
        f |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD);
    }
    if (hotswap || (bb && block_can_write_zeroes(bb))) {
        f |= VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
    }
    blk = g_new0(VirtioBlk, 1);
    virtio_device_init(&blk->vdev, &virtio_blk_class, m, id, f, 1, VIRTIO_BLK_QUEUE_SIZE,
                       VIRTIO_BLK_CFG_SIZE);
    blk->hotswap = hotswap;
    if (bb && !virtio_blk_set_backend(blk, id, bb, serial, err)) {
        virtio_device_cleanup(&blk->vdev);
        g_free(blk);
        return NULL;
    }
    blk_update_config(blk);
    return blk;
}

VirtioDevice *virtio_blk_vdev(VirtioBlk *blk) { return &blk->vdev; }
BlockBackend *virtio_blk_backend(VirtioBlk *blk) { return blk->bb; }
const char *virtio_blk_serial(VirtioBlk *blk) { return blk->serial; }

/*
 * The RO feature can only follow the backend while no driver has started
 * negotiating (status 0): after that, features are fixed and a read-only
 * disk plugged into a writable slot fails writes with IOERR instead.
 */
static void blk_refresh_ro_feature(VirtioBlk *blk)
{
    if (blk->vdev.status != 0) {
        return;
    }
    if (blk->bb && block_is_read_only(blk->bb)) {
        blk->vdev.host_features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
    } else {
        blk->vdev.host_features &= ~VIRTIO_BIT(VIRTIO_BLK_F_RO);
    }
}

bool virtio_blk_set_backend(VirtioBlk *blk, const char *id, BlockBackend *bb,
                            const char *serial, GError **err)
{
    if (blk->bb) {
        set_error(err, "virtio-blk '%s' already has a backend", blk->vdev.id);
        return false;
    }
    if (!virtio_blk_check_serial(serial, err) || !block_attach(bb, id, err)) {
        return false;
    }
    if (id) {
        g_free(blk->vdev.id);
        blk->vdev.id = g_strdup(id);
    }
    blk->bb = block_ref(bb);
    g_free(blk->serial);
    blk->serial = g_strdup(serial);
    blk_refresh_ro_feature(blk);
    blk_update_config(blk);
    virtio_config_changed(&blk->vdev);
    return true;
}

void virtio_blk_clear_backend(VirtioBlk *blk)
{
    if (!blk->bb) {
        return;
    }
    block_drain(blk->bb);
    block_detach(blk->bb);
    block_unref(blk->bb);
    blk->bb = NULL;
    g_clear_pointer(&blk->serial, g_free);
    blk_refresh_ro_feature(blk);
    blk_update_config(blk);
    virtio_config_changed(&blk->vdev);
}

/* ---- the virtio-blk-device type (hw/device.h) ---- */

/*
 * The user-visible device. On microvm it fills one of the board's
 * replaceable slots (whose VirtioBlk exists from boot so the guest probes
 * it): realize resolves the drive, the machine's plug hook inserts it.
 */
typedef struct VirtioBlkDevice {
    Device dev;
    char *drive;
    char *serial;
    char *iothread;
    uint16_t num_queues;
    uint16_t queue_size;
    int32_t bootindex;
    BlockBackend *bb;           /* resolved by realize; a reference */
    VirtioBlk *vblk;            /* virtio-blk-pci: its own device (microvm's slots own theirs) */
} VirtioBlkDevice;

static bool blk_dev_realize(Device *d, GError **err)
{
    VirtioBlkDevice *b = (VirtioBlkDevice *)d;
    const char *node = b->drive && *b->drive ? b->drive : d->id;

    if (!virtio_blk_check_serial(b->serial, err)) {
        return false;
    }
    b->bb = node ? block_registry_find(d->machine->block_nodes, node) : NULL;
    if (!b->bb) {
        /* device_add keeps StratoVirt's text; -device names the drive. */
        if (d->hotplugged) {
            set_error(err, "Failed to find device configuration.");
        } else if (!node) {
            set_error(err, "No drive set for virtio-blk-device");
        } else {
            set_error(err, "Drive '%s' for virtio-blk-device not found", node);
        }
        return false;
    }
    if (!b->drive || !*b->drive) {
        g_free(b->drive);
        b->drive = g_strdup(node);
    }
    block_ref(b->bb);
    return true;
}

static void blk_dev_unrealize(Device *d)
{
    VirtioBlkDevice *b = (VirtioBlkDevice *)d;

    g_clear_pointer(&b->bb, block_unref);
}

static bool is_blk_device(const Device *d)
{
    return d->klass == &virtio_blk_device_class || d->klass == &virtio_blk_pci_device_class;
}

BlockBackend *virtio_blk_device_backend(Device *d)
{
    return is_blk_device(d) ? ((VirtioBlkDevice *)d)->bb : NULL;
}

const char *virtio_blk_device_serial(Device *d)
{
    return is_blk_device(d) ? ((VirtioBlkDevice *)d)->serial : NULL;
}

/* virtio-blk-pci: the transport is the machine's; the device is this one's own. */
static bool blk_pci_realize(Device *d, GError **err)
{
    VirtioBlkDevice *b = (VirtioBlkDevice *)d;

    if (!blk_dev_realize(d, err)) {
        return false;
    }
    b->vblk = virtio_blk_new(d->machine, d->id, b->bb, b->serial, false, err);
    if (!b->vblk) {
        blk_dev_unrealize(d);
        return false;
    }
    return true;
}

static void blk_pci_unrealize(Device *d)
{
    VirtioBlkDevice *b = (VirtioBlkDevice *)d;

    if (b->vblk) {
        virtio_device_free(virtio_blk_vdev(b->vblk));
        b->vblk = NULL;
    }
    blk_dev_unrealize(d);
}

static VirtioDevice *blk_pci_virtio_device(Device *d)
{
    return virtio_blk_vdev(((VirtioBlkDevice *)d)->vblk);
}

static void *blk_pci_vmstate_opaque(Device *d)
{
    return ((VirtioBlkDevice *)d)->vblk;
}

static const Property virtio_blk_props[] = {
    DEFINE_PROP("drive", PROP_STR, VirtioBlkDevice, drive, NULL,
                "Node name or ID of a block device to use as a backend"),
    DEFINE_PROP("serial", PROP_STR, VirtioBlkDevice, serial, NULL,
                "Disk serial number (GET_ID), at most 20 characters"),
    DEFINE_PROP("iothread", PROP_STR, VirtioBlkDevice, iothread, NULL,
                "Accepted for compatibility; I/O runs on the main loop"),
    DEFINE_PROP_RANGE("num-queues", PROP_U16, VirtioBlkDevice, num_queues, "1", 1, 1,
                      "Number of request queues (one on microvm)"),
    DEFINE_PROP_RANGE("queue-size", PROP_U16, VirtioBlkDevice, queue_size, "256", 256, 256,
                      "Size of the request queue"),
    DEFINE_PROP_BOOTINDEX(VirtioBlkDevice, bootindex),
    DEFINE_PROP_END,
};

static const char *const virtio_blk_aliases[] = { "virtio-blk-mmio", NULL };

const DeviceClass virtio_blk_device_class = {
    .name = "virtio-blk-device",
    .aliases = virtio_blk_aliases,
    .parent = "virtio-device",
    .description = "Virtio block device",
    .bus = DEVICE_BUS_VIRTIO,
    .instance_size = sizeof(VirtioBlkDevice),
    .props = virtio_blk_props,
    .boot_suffix = "/disk@0,0",
    .user_creatable = true,
    .hotpluggable = true,
    .realize = blk_dev_realize,
    .unrealize = blk_dev_unrealize,
};

/* q35 (docs/q35.md "virtio-pci"): QEMU's class 0x0100, "SCSI controller". */
const DeviceClass virtio_blk_pci_device_class = {
    .name = "virtio-blk-pci",
    .parent = "virtio-pci",
    .description = "Virtio block device",
    .bus = DEVICE_BUS_PCI,
    .pci_class = 0x010000,
    .instance_size = sizeof(VirtioBlkDevice),
    .props = virtio_blk_props,
    .boot_suffix = "/disk@0,0",
    .user_creatable = true,
    /* below a pcie-root-port (q35.c); pcie.0 has no hot-plug */
    .hotpluggable = true,
    .realize = blk_pci_realize,
    .unrealize = blk_pci_unrealize,
    .virtio_device = blk_pci_virtio_device,
    .vmsd = &vmstate_virtio_blk,
    .vmstate_opaque = blk_pci_vmstate_opaque,
};

/* ---- saved state (migration/vmstate.h) ---- */

/*
 * A popped request holds guest buffers the stream cannot describe: saving
 * it would lose the request. The caller drains the block layer first.
 */
static bool virtio_blk_pre_save(void *opaque, GError **err)
{
    VirtioBlk *blk = opaque;

    if (blk->inflight) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                    "'%s' has %u requests in flight", blk->vdev.id, blk->inflight);
        return false;
    }
    return true;
}

/* The guest sized its disk from the saved config: this backend must agree. */
static bool virtio_blk_post_load(void *opaque, uint32_t version, GError **err)
{
    VirtioBlk *blk = opaque;
    uint64_t saved = virtio_config_read(&blk->vdev, VIRTIO_BLK_CFG_CAPACITY, 8);
    uint64_t here = blk->bb ? block_size(blk->bb) >> SECTOR_SHIFT : 0;

    if (saved != here) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                    "'%s' had %" G_GUINT64_FORMAT " sectors, its backend here has %"
                    G_GUINT64_FORMAT, blk->vdev.id, saved, here);
        return false;
    }
    return true;
}

/*
 * Everything the guest sees is in the virtio core; the backend, the serial
 * and the hot-swap flag are configuration.
 */
const VMStateDescription vmstate_virtio_blk = {
    .name = "virtio-blk",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = virtio_blk_pre_save,
    .post_load = virtio_blk_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT(vdev, VirtioBlk, vmstate_virtio_device, VirtioDevice),
        VMSTATE_END_OF_LIST()
    },
};
