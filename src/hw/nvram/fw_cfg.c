/*
 * fw_cfg_io: QEMU's firmware configuration interface on I/O ports, as its
 * microvm and pc machines have it (QEMU docs/specs/fw_cfg.rst;
 * docs/legacy-devices.md). Firmware and guests read numbered items: a 16-bit
 * selector write to 0x510, then the item's bytes one by one from 0x511 (a
 * read past the end gives 0). Items from FW_CFG_FILE_FIRST on are named
 * files listed in the directory item (0x19: a big-endian count, then 64-byte
 * big-endian entries {size, select, reserved, name[56]}, sorted by name).
 *
 * The DMA interface (ID bit 1) is at 0x514: the guest writes the big-endian
 * guest-physical address of a descriptor {be32 control, be32 length, be64
 * address} (high half at 0x514, low half at 0x518, which starts the
 * transfer; or all 8 bytes at 0x514), the device selects / reads / skips as
 * control says and writes control back as 0, or with the error bit set. A
 * descriptor or buffer outside guest RAM is an error, never a host access.
 * Reading 0x514 gives "QEMU CFG". Nothing is writable (QEMU 2.4 dropped
 * data-port writes; no item here is writable over DMA).
 *
 * The items are configuration: the board and the command line give the same
 * ones again on a restore's destination, so only the guest's position (the
 * selected item, the offset into it, the half-written DMA address) is state.
 */
#include <inttypes.h>
#include <string.h>

#include "hw/nvram/fw_cfg.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/strutil.h"

typedef struct FwCfgFile {
    char name[FW_CFG_MAX_FILE_PATH];
    GBytes *data;
    FwCfgSelectFn *on_select;    /* optional (fw_cfg_set_select_cb) */
    void *on_select_opaque;
} FwCfgFile;

typedef struct FwCfgState {
    Device parent;               /* first: the registry allocates and frees us */
    uint16_t iobase;             /* property "iobase" */
    uint16_t dma_iobase;         /* property "dma_iobase" */
    bool dma_enabled;            /* property "dma_enabled" */

    GHashTable *items;           /* key (GUINT_TO_POINTER) -> GBytes*, files excluded */
    GPtrArray *files;            /* FwCfgFile*, sorted by name: select = FILE_FIRST + index */

    uint16_t cur_key;
    uint32_t cur_offset;
    uint32_t dma_addr_high;
    bool logged_dma_error;       /* host bookkeeping: once per reset */
} FwCfgState;

/* ---- items ----------------------------------------------------------------- */

void fw_cfg_set_bytes(Device *d, uint16_t key, const void *data, size_t len)
{
    FwCfgState *s = (FwCfgState *)d;

    g_hash_table_replace(s->items, GUINT_TO_POINTER(key), g_bytes_new(data, len));
}

static void file_free(gpointer p)
{
    FwCfgFile *f = p;

    g_bytes_unref(f->data);
    g_free(f);
}

bool fw_cfg_add_file(Device *d, const char *name, const void *data, size_t len,
                     GError **err)
{
    FwCfgState *s = (FwCfgState *)d;
    FwCfgFile *f;
    guint at = 0;

    if (strlen(name) >= FW_CFG_MAX_FILE_PATH) {
        set_error(err, "fw_cfg file name too long (max. %d char): %s",
                  FW_CFG_MAX_FILE_PATH - 1, name);
        return false;
    }
    for (guint i = 0; i < s->files->len; i++) {
        int c = strcmp(((FwCfgFile *)g_ptr_array_index(s->files, i))->name, name);
        if (c == 0) {
            set_error(err, "duplicate fw_cfg file name: %s", name);
            return false;
        }
        at = c < 0 ? i + 1 : at;
    }
    if (s->files->len >= FW_CFG_FILE_SLOTS) {
        set_error(err, "fw_cfg: no file slot left for %s (%d in use)", name,
                  FW_CFG_FILE_SLOTS);
        return false;
    }
    f = g_new0(FwCfgFile, 1);
    g_strlcpy(f->name, name, sizeof(f->name));
    f->data = g_bytes_new(data, len);
    g_ptr_array_insert(s->files, (gint)at, f);
    return true;
}

static FwCfgFile *file_by_name(FwCfgState *s, const char *name)
{
    for (guint i = 0; i < s->files->len; i++) {
        FwCfgFile *f = g_ptr_array_index(s->files, i);
        if (!strcmp(f->name, name)) {
            return f;
        }
    }
    return NULL;
}

/* The file a selector key names (its index in the sorted directory), or NULL. */
static FwCfgFile *file_by_key(FwCfgState *s, uint16_t key)
{
    guint i = key - FW_CFG_FILE_FIRST;

    if (key < FW_CFG_FILE_FIRST || key >= FW_CFG_ARCH_LOCAL || i >= s->files->len) {
        return NULL;
    }
    return g_ptr_array_index(s->files, i);
}

bool fw_cfg_modify_file(Device *d, const char *name, const void *data, size_t len,
                        GError **err)
{
    FwCfgFile *f = file_by_name((FwCfgState *)d, name);

    if (!f) {
        set_error(err, "fw_cfg: no file %s to modify", name);
        return false;
    }
    g_bytes_unref(f->data);
    f->data = g_bytes_new(data, len);
    return true;
}

bool fw_cfg_set_select_cb(Device *d, const char *name, FwCfgSelectFn *fn, void *opaque)
{
    FwCfgFile *f = file_by_name((FwCfgState *)d, name);

    if (!f) {
        return false;
    }
    f->on_select = fn;
    f->on_select_opaque = opaque;
    return true;
}

bool fw_cfg_dma_enabled(Device *d)
{
    return ((FwCfgState *)d)->dma_enabled;
}

/* The directory as the guest reads it, built on selection (files may be added late). */
static GBytes *file_dir(FwCfgState *s)
{
    GByteArray *b = g_byte_array_new();
    uint32_t count = GUINT32_TO_BE(s->files->len);

    g_byte_array_append(b, (const guint8 *)&count, 4);
    for (guint i = 0; i < s->files->len; i++) {
        FwCfgFile *f = g_ptr_array_index(s->files, i);
        uint8_t e[8 + FW_CFG_MAX_FILE_PATH] = { 0 };
        uint32_t size = GUINT32_TO_BE((uint32_t)g_bytes_get_size(f->data));
        uint16_t sel = GUINT16_TO_BE((uint16_t)(FW_CFG_FILE_FIRST + i));

        memcpy(e, &size, 4);
        memcpy(e + 4, &sel, 2);
        memcpy(e + 8, f->name, strlen(f->name));
        g_byte_array_append(b, e, sizeof(e));
    }
    return g_byte_array_free_to_bytes(b);
}

/* The selected item's bytes (a new reference), NULL when nothing is there. */
static GBytes *current_item(FwCfgState *s)
{
    uint16_t key = s->cur_key & ~FW_CFG_WRITE_CHANNEL;
    FwCfgFile *f;
    GBytes *b;

    if (key == FW_CFG_FILE_DIR) {
        return file_dir(s);
    }
    if (key >= FW_CFG_FILE_FIRST && key < FW_CFG_ARCH_LOCAL) {
        f = file_by_key(s, key);
        return f ? g_bytes_ref(f->data) : NULL;
    }
    b = g_hash_table_lookup(s->items, GUINT_TO_POINTER(key));
    return b ? g_bytes_ref(b) : NULL;
}

/* Copies up to len bytes from the current offset (zeros past the end) and advances. */
static void read_item(FwCfgState *s, uint8_t *buf, uint32_t len)
{
    g_autoptr(GBytes) item = current_item(s);
    gsize size = 0;
    const uint8_t *data = item ? g_bytes_get_data(item, &size) : NULL;

    for (uint32_t i = 0; i < len; i++) {
        uint64_t at = (uint64_t)s->cur_offset + i;
        buf[i] = data && at < size ? data[at] : 0;
    }
    if (data) {
        s->cur_offset = (uint32_t)MIN((uint64_t)s->cur_offset + len, size);
    }
}

static void select_key(FwCfgState *s, uint16_t key)
{
    FwCfgFile *f = file_by_key(s, key & ~FW_CFG_WRITE_CHANNEL);

    s->cur_key = key;
    s->cur_offset = 0;
    if (f && f->on_select) {
        f->on_select(f->on_select_opaque);
    }
}

/* ---- DMA ------------------------------------------------------------------- */

/* Reads len bytes of the item into guest memory in chunks; false if outside RAM. */
static bool dma_read(FwCfgState *s, uint64_t addr, uint32_t len)
{
    Machine *m = s->parent.machine;
    uint8_t chunk[4096];

    while (len) {
        uint32_t n = MIN(len, (uint32_t)sizeof(chunk));
        read_item(s, chunk, n);
        if (!guest_ram_write(&m->ram, addr, chunk, n)) {
            return false;
        }
        addr += n;
        len -= n;
    }
    return true;
}

static void dma_transfer(FwCfgState *s, uint64_t desc)
{
    Machine *m = s->parent.machine;
    uint8_t d[16];
    uint32_t control, len;
    uint64_t addr;
    bool ok = true;

    if (!guest_ram_read(&m->ram, desc, d, sizeof(d))) {
        if (!s->logged_dma_error) {
            s->logged_dma_error = true;
            log_warn("fw_cfg: DMA descriptor at 0x%" PRIx64 " is outside guest RAM", desc);
        }
        return;
    }
    memcpy(&control, d, 4);
    memcpy(&len, d + 4, 4);
    memcpy(&addr, d + 8, 8);
    control = GUINT32_FROM_BE(control);
    len = GUINT32_FROM_BE(len);
    addr = GUINT64_FROM_BE(addr);
    if (control & FW_CFG_DMA_CTL_SELECT) {
        select_key(s, (uint16_t)(control >> 16));
    }
    if (control & FW_CFG_DMA_CTL_WRITE) {
        ok = false;                 /* no item is writable */
    } else if (control & FW_CFG_DMA_CTL_READ) {
        ok = dma_read(s, addr, len);
    } else if (control & FW_CFG_DMA_CTL_SKIP) {
        g_autofree uint8_t *skip = g_malloc(MIN(len, 1u << 20));
        for (uint32_t left = len; left;) {
            uint32_t n = MIN(left, 1u << 20);
            read_item(s, skip, n);
            left -= n;
        }
    }
    control = GUINT32_TO_BE(ok ? 0 : FW_CFG_DMA_CTL_ERROR);
    guest_ram_write(&m->ram, desc, &control, 4);
}

/* ---- the ports ------------------------------------------------------------- */

/* Runs on a vCPU thread (or qtest's main thread) with the machine lock held. */
static uint64_t ctl_read(void *opaque, uint64_t off, unsigned size)
{
    FwCfgState *s = opaque;
    uint8_t b = 0;

    if (off == 1 && size == 1) {
        read_item(s, &b, 1);
        return b;
    }
    return 0;                       /* the selector is write-only */
}

static void ctl_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    FwCfgState *s = opaque;

    if (off == 0 && size <= 2) {
        select_key(s, (uint16_t)val);
    }
    /* Data-port writes are ignored, as QEMU has done since 2.4. */
}

static const IoRegionOps ctl_ops = {
    .read = ctl_read,
    .write = ctl_write,
};

static uint64_t dma_reg_read(void *opaque, uint64_t off, unsigned size)
{
    uint64_t v = 0;

    (void)opaque;
    /* A big-endian register: its bytes in port order are "QEMU CFG". */
    for (unsigned i = 0; i < size && off + i < 8; i++) {
        v |= (uint64_t)((FW_CFG_DMA_SIGNATURE >> (8 * (7 - (off + i)))) & 0xff) << (8 * i);
    }
    return v;
}

static void dma_reg_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    FwCfgState *s = opaque;

    /* The port sees the bytes in guest (little-endian) order; the register is BE. */
    if (size == 4 && off == 0) {
        s->dma_addr_high = GUINT32_SWAP_LE_BE((uint32_t)val);
    } else if (size == 4 && off == 4) {
        uint64_t addr = ((uint64_t)s->dma_addr_high << 32) |
                        GUINT32_SWAP_LE_BE((uint32_t)val);
        s->dma_addr_high = 0;
        dma_transfer(s, addr);
    } else if (size == 8 && off == 0) {
        s->dma_addr_high = 0;
        dma_transfer(s, GUINT64_SWAP_LE_BE(val));
    }
}

static const IoRegionOps dma_ops = {
    .read = dma_reg_read,
    .write = dma_reg_write,
};

/* ---- the standard items ----------------------------------------------------- */

static void set_u16(Device *d, uint16_t key, uint16_t v)
{
    uint16_t le = GUINT16_TO_LE(v);
    fw_cfg_set_bytes(d, key, &le, sizeof(le));
}

static void set_u32(Device *d, uint16_t key, uint32_t v)
{
    uint32_t le = GUINT32_TO_LE(v);
    fw_cfg_set_bytes(d, key, &le, sizeof(le));
}

static void set_u64(Device *d, uint16_t key, uint64_t v)
{
    uint64_t le = GUINT64_TO_LE(v);
    fw_cfg_set_bytes(d, key, &le, sizeof(le));
}

/* The items QEMU's x86 boards give every guest (fw_cfg_arch_create()). */
static void standard_items(FwCfgState *s)
{
    Device *d = &s->parent;
    const StratusConfig *cfg = d->machine->cfg;
    uint32_t id = FW_CFG_VERSION | (s->dma_enabled ? FW_CFG_VERSION_DMA : 0);
    uint8_t uuid[16] = { 0 };
    unsigned max_cpus = cfg->smp.maxcpus ? cfg->smp.maxcpus : cfg->smp.cpus;
    /* NUMA: the node count, then a mask per possible CPU, then per node: no nodes. */
    g_autofree uint64_t *numa = g_new0(uint64_t, 1 + max_cpus);

    fw_cfg_set_bytes(d, FW_CFG_SIGNATURE, "QEMU", 4);
    set_u32(d, FW_CFG_ID, id);
    if (cfg->uuid) {
        /* The RFC 4122 byte order of the text, as QEMU's qemu_uuid. */
        for (unsigned i = 0, j = 0; cfg->uuid[j] && i < 16; j++) {
            if (g_ascii_isxdigit(cfg->uuid[j]) && g_ascii_isxdigit(cfg->uuid[j + 1])) {
                uuid[i++] = (uint8_t)(g_ascii_xdigit_value(cfg->uuid[j]) << 4 |
                                      g_ascii_xdigit_value(cfg->uuid[j + 1]));
                j++;
            }
        }
    }
    fw_cfg_set_bytes(d, FW_CFG_UUID, uuid, sizeof(uuid));
    set_u64(d, FW_CFG_RAM_SIZE, d->machine->cfg->mem_size);
    set_u16(d, FW_CFG_NOGRAPHIC, 0);
    set_u16(d, FW_CFG_NB_CPUS, (uint16_t)cfg->smp.cpus);
    set_u16(d, FW_CFG_MAX_CPUS, (uint16_t)max_cpus);
    fw_cfg_set_bytes(d, FW_CFG_NUMA, numa, (1 + max_cpus) * sizeof(uint64_t));
    set_u16(d, FW_CFG_BOOT_MENU, cfg->boot_menu ? 1 : 0);
    set_u32(d, FW_CFG_IRQ0_OVERRIDE, 1);
}

/* QEMU's warning, on stderr as QEMU's warn_report() unless a -D log takes it. */
static void name_warning(const char *name)
{
    static const char text[] = "externally provided fw_cfg item names should be prefixed "
                               "with \"opt/\"";

    if (log_enabled(LOG_LEVEL_WARN)) {
        log_warn("-fw_cfg name=%s: %s", name, text);
    } else {
        g_printerr("stratus: warning: -fw_cfg name=%s: %s\n", name, text);
    }
}

/*
 * -boot's firmware files, as QEMU adds them: etc/boot-fail-wait always
 * (reboot-timeout, 4 bytes LE, -1 when not given), etc/boot-menu-wait only
 * with splash-time (2 bytes LE).
 */
static bool boot_items(FwCfgState *s, GError **err)
{
    const StratusConfig *cfg = s->parent.machine->cfg;
    uint32_t fail_wait = GUINT32_TO_LE((uint32_t)cfg->boot_reboot_timeout);
    uint16_t menu_wait = GUINT16_TO_LE((uint16_t)cfg->boot_splash_time);

    return fw_cfg_add_file(&s->parent, "etc/boot-fail-wait", &fail_wait, 4, err) &&
           (cfg->boot_splash_time < 0 ||
            fw_cfg_add_file(&s->parent, "etc/boot-menu-wait", &menu_wait, 2, err));
}

/* -fw_cfg name=NAME,file=PATH|string=STR, in command-line order. */
static bool user_items(FwCfgState *s, GError **err)
{
    const StratusConfig *cfg = s->parent.machine->cfg;

    for (guint i = 0; cfg->fw_cfg_items && i < cfg->fw_cfg_items->len; i++) {
        const FwCfgItemConfig *it = g_ptr_array_index(cfg->fw_cfg_items, i);
        g_autofree char *buf = NULL;
        gsize size;
        g_autoptr(GError) ferr = NULL;

        if (strncmp(it->name, "opt/", 4) != 0) {
            name_warning(it->name);
        }
        if (it->string) {
            /* The string without its NUL, as QEMU. */
            if (!fw_cfg_add_file(&s->parent, it->name, it->string, strlen(it->string), err)) {
                return false;
            }
            continue;
        }
        if (!g_file_get_contents(it->file, &buf, &size, &ferr)) {
            set_error(err, "-fw_cfg: can't load %s: %s", it->file, ferr->message);
            return false;
        }
        if (!fw_cfg_add_file(&s->parent, it->name, buf, size, err)) {
            return false;
        }
    }
    return true;
}

/* ---- the device ------------------------------------------------------------ */

static bool fw_cfg_realize(Device *d, GError **err)
{
    FwCfgState *s = (FwCfgState *)d;
    Machine *m = d->machine;

    s->items = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)g_bytes_unref);
    s->files = g_ptr_array_new_with_free_func(file_free);
    standard_items(s);
    if (!boot_items(s, err) || !user_items(s, err)) {
        goto fail;
    }
    if (!iobus_add(&m->pio, s->iobase, 2, &ctl_ops, s, "fwcfg", err)) {
        g_prefix_error(err, "fw_cfg: ioport 0x%x already in use: ", s->iobase);
        goto fail;
    }
    if (s->dma_enabled &&
        !iobus_add(&m->pio, s->dma_iobase, 8, &dma_ops, s, "fwcfg.dma", err)) {
        g_prefix_error(err, "fw_cfg: ioport 0x%x already in use: ", s->dma_iobase);
        iobus_remove(&m->pio, s->iobase);
        goto fail;
    }
    return true;
fail:
    g_hash_table_unref(s->items);
    g_ptr_array_unref(s->files);
    return false;
}

static void fw_cfg_unrealize(Device *d)
{
    FwCfgState *s = (FwCfgState *)d;

    if (s->dma_enabled) {
        iobus_remove(&d->machine->pio, s->dma_iobase);
    }
    iobus_remove(&d->machine->pio, s->iobase);
    g_hash_table_unref(s->items);
    g_ptr_array_unref(s->files);
}

static void fw_cfg_reset(Device *d)
{
    FwCfgState *s = (FwCfgState *)d;

    select_key(s, 0);
    s->dma_addr_high = 0;
    s->logged_dma_error = false;
}

static const VMStateDescription vmstate_fw_cfg = {
    .name = "fw_cfg",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_U16(cur_key, FwCfgState),
        VMSTATE_U32(cur_offset, FwCfgState),
        VMSTATE_U32(dma_addr_high, FwCfgState),
        VMSTATE_END_OF_LIST()
    },
};

static const Property fw_cfg_props[] = {
    /* QEMU's fw_cfg_io properties; QEMU gives them no description. */
    DEFINE_PROP("iobase", PROP_U16, FwCfgState, iobase, "0x510", NULL),
    DEFINE_PROP("dma_iobase", PROP_U16, FwCfgState, dma_iobase, "0x514", NULL),
    DEFINE_PROP("dma_enabled", PROP_BOOL, FwCfgState, dma_enabled, "on", NULL),
    DEFINE_PROP_END,
};

const DeviceClass fw_cfg_io_device_class = {
    .name = "fw_cfg_io",
    .parent = "fw_cfg",
    .description = NULL,
    .bus = DEVICE_BUS_NONE,
    .instance_size = sizeof(FwCfgState),
    .props = fw_cfg_props,
    /* The board's (-machine fw_cfg=on), as in QEMU where it is not user-creatable. */
    .user_creatable = false,
    .hotpluggable = false,
    .realize = fw_cfg_realize,
    .unrealize = fw_cfg_unrealize,
    .reset = fw_cfg_reset,
    .vmsd = &vmstate_fw_cfg,
};
