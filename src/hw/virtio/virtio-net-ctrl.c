/* virtio-net control commands and receive filter (virtio-net-ctrl.h). */
#include <string.h>

#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-net-ctrl.h"
#include "util/strutil.h"

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

void net_filter_reset(NetRxFilter *f)
{
    memset(f, 0, sizeof(*f));
    f->mode[VIRTIO_NET_CTRL_RX_PROMISC] = true;
}

static bool in_table(const NetRxFilter *f, uint32_t first, uint32_t n, const uint8_t *dst)
{
    for (uint32_t i = first; i < first + n; i++) {
        if (!memcmp(f->table + 6 * i, dst, 6)) {
            return true;
        }
    }
    return false;
}

bool net_filter_accept(const NetRxFilter *f, const uint8_t mac[6], const uint8_t *frame,
                       size_t len)
{
    if (f->mode[VIRTIO_NET_CTRL_RX_PROMISC]) {
        return true;
    }
    if (len < 6) {
        return false;
    }
    if (!memcmp(frame, bcast, 6)) {
        return !f->mode[VIRTIO_NET_CTRL_RX_NOBCAST];
    }
    if (frame[0] & 1) {
        if (f->mode[VIRTIO_NET_CTRL_RX_NOMULTI]) {
            return false;
        }
        return f->mode[VIRTIO_NET_CTRL_RX_ALLMULTI] || f->multi_overflow ||
               in_table(f, f->uni, f->multi, frame);
    }
    if (f->mode[VIRTIO_NET_CTRL_RX_NOUNI]) {
        return false;
    }
    return f->mode[VIRTIO_NET_CTRL_RX_ALLUNI] || f->uni_overflow || !memcmp(frame, mac, 6) ||
           in_table(f, 0, f->uni, frame);
}

static uint8_t rx_mode(NetRxFilter *f, uint64_t features, uint8_t cmd, const uint8_t *data,
                       size_t len)
{
    bool extra = cmd > VIRTIO_NET_CTRL_RX_ALLMULTI;

    if (cmd > VIRTIO_NET_CTRL_RX_NOBCAST || len != 1 ||
        !(features & VIRTIO_BIT(extra ? VIRTIO_NET_F_CTRL_RX_EXTRA : VIRTIO_NET_F_CTRL_RX))) {
        return VIRTIO_NET_ERR;
    }
    f->mode[cmd] = data[0] != 0;
    return VIRTIO_NET_OK;
}

static uint32_t get_le32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Two tables, each a le32 count then count addresses; the whole command or nothing. */
static uint8_t mac_table(NetRxFilter *f, const uint8_t *data, size_t len)
{
    NetRxFilter t = *f;
    uint32_t nuni, nmulti;
    size_t off = 0;

    if (len < 4 || (nuni = get_le32(data)) > (len - 4) / 6) {
        return VIRTIO_NET_ERR;
    }
    off = 4 + (size_t)nuni * 6;
    if (len - off < 4 || (nmulti = get_le32(data + off)) > (len - off - 4) / 6 ||
        len - off - 4 != (size_t)nmulti * 6) {
        return VIRTIO_NET_ERR;
    }
    t.uni = t.multi = 0;
    t.uni_overflow = nuni > VIRTIO_NET_MAC_TABLE;
    if (!t.uni_overflow) {
        memcpy(t.table, data + 4, (size_t)nuni * 6);
        t.uni = nuni;
    }
    t.multi_overflow = nmulti > VIRTIO_NET_MAC_TABLE - t.uni;
    if (!t.multi_overflow) {
        memcpy(t.table + 6 * t.uni, data + off + 4, (size_t)nmulti * 6);
        t.multi = nmulti;
    }
    *f = t;
    return VIRTIO_NET_OK;
}

uint8_t net_filter_command(NetRxFilter *f, uint64_t features, uint8_t cls, uint8_t cmd,
                           const uint8_t *data, size_t len, uint8_t mac[6])
{
    if (cls == VIRTIO_NET_CTRL_RX) {
        return rx_mode(f, features, cmd, data, len);
    }
    if (cls != VIRTIO_NET_CTRL_MAC) {
        return VIRTIO_NET_ERR;
    }
    if (cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET && (features & VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX))) {
        return mac_table(f, data, len);
    }
    if (cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET && len == 6 &&
        (features & VIRTIO_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR))) {
        memcpy(mac, data, 6);
        return VIRTIO_NET_OK;
    }
    return VIRTIO_NET_ERR;
}

/* A stream's tables must fit the table (a hostile or corrupt stream must not overflow it). */
static bool filter_post_load(void *opaque, uint32_t version_loaded, GError **err)
{
    NetRxFilter *f = opaque;

    (void)version_loaded;
    if (f->uni > VIRTIO_NET_MAC_TABLE || f->multi > VIRTIO_NET_MAC_TABLE - f->uni) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                    "virtio-net MAC filter: %u + %u entries", f->uni, f->multi);
        return false;
    }
    return true;
}

const VMStateDescription vmstate_net_rx_filter = {
    .name = "virtio-net-rx-filter",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = filter_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_ARRAY(mode, NetRxFilter, 6, bool, VMS_BOOL),
        VMSTATE_U32(uni, NetRxFilter),
        VMSTATE_U32(multi, NetRxFilter),
        VMSTATE_BOOL(uni_overflow, NetRxFilter),
        VMSTATE_BOOL(multi_overflow, NetRxFilter),
        VMSTATE_BUFFER(table, NetRxFilter),
        VMSTATE_END_OF_LIST()
    },
};
