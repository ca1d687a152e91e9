/*
 * cfi.pflash01: a parallel NOR flash with the Intel/Sharp command set and a
 * CFI query table, as QEMU's pc machines map their firmware (docs/q35.md
 * "Firmware boot"). One bank 8 bits wide, 4 KiB erase blocks, so OVMF's
 * QEMU flash driver (byte program, block erase, read status) works as on
 * QEMU's q35.
 *
 * Guest interface (offsets are bytes into the device):
 *  - array mode (power-on, after 0xFF / 0x00 / 0x50): reads give the image.
 *    The CPU may read these pages straight from host memory
 *    (IoRegionOps.direct), so firmware runs from flash at RAM speed; any
 *    write comes here.
 *  - a write's low byte is a command: 0x10 / 0x40 program (the next write
 *    stores its byte), 0x20 then 0xD0 erase the 4 KiB block (0xFF bytes),
 *    0x50 clear status, 0x70 read status, 0x90 read identifier (offset 0
 *    manufacturer, 1 device, 2 block lock = unlocked), 0x98 CFI query
 *    (offset & 0xFF indexes the table below). Other commands are ignored
 *    (array mode), as QEMU does.
 *  - status (bit 7 ready, 4 program error, 5 erase error, both for a
 *    sequence error) is read after program / erase until 0xFF.
 *
 * The image is the user's file: every program and erase is written back
 * to it at once (pwrite), so nothing is lost at exit or crash. A read-only
 * drive refuses them with the status error bits, as QEMU's read-only flash
 * does. The contents live in the file, like a disk's, so snapshots save
 * only the command state.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hw/device.h"
#include "hw/block/pflash.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/strutil.h"

#define STATUS_READY        0x80
#define STATUS_ERASE_ERROR  0x20
#define STATUS_PROG_ERROR   0x10

enum { MODE_ARRAY, MODE_STATUS, MODE_ID, MODE_CFI };

typedef struct PflashState {
    Device parent;               /* first: the registry allocates and frees us */
    char *file;                  /* property "file" */
    bool readonly;               /* property "readonly" */
    uint64_t base;               /* property "base": guest-physical address */
    uint8_t unit;                /* property "unit": for messages */

    int fd;
    uint8_t *storage;            /* the image, size bytes */
    uint64_t size;
    uint8_t cfi[0x40];           /* the CFI query table */

    /* Guest-visible state. */
    uint8_t mode;                /* MODE_* */
    uint8_t cmd;                 /* a command waiting for its second cycle, or 0 */
    uint8_t status;
    bool logged_io_error;        /* host bookkeeping */
} PflashState;

/* The table QEMU's pflash_cfi01 shows for one x8 bank (CFI spec, JESD68). */
static void build_cfi(PflashState *s)
{
    uint32_t blocks = (uint32_t)(s->size / PFLASH_SECTOR_SIZE);
    uint8_t *t = s->cfi;

    memset(t, 0, sizeof(s->cfi));
    t[0x10] = 'Q', t[0x11] = 'R', t[0x12] = 'Y';
    t[0x13] = 0x01;              /* primary command set: Intel/Sharp extended */
    t[0x15] = 0x31;              /* primary extended table at 0x31 */
    t[0x1B] = 0x45, t[0x1C] = 0x55;   /* Vcc 4.5-5.5 V */
    t[0x1F] = 0x07;              /* typical byte program 2^7 us */
    t[0x21] = 0x0a;              /* typical block erase 2^10 ms */
    t[0x23] = 0x04, t[0x25] = 0x04;   /* maximum = typical << 4 */
    t[0x27] = (uint8_t)__builtin_ctzll(s->size);   /* QEMU's: the size's low bit */
    t[0x28] = 0x02;              /* x8/x16 interface */
    t[0x2C] = 0x01;              /* one erase block region */
    t[0x2D] = (uint8_t)(blocks - 1), t[0x2E] = (uint8_t)((blocks - 1) >> 8);
    t[0x2F] = (uint8_t)(PFLASH_SECTOR_SIZE >> 8), t[0x30] = (uint8_t)(PFLASH_SECTOR_SIZE >> 16);
    t[0x31] = 'P', t[0x32] = 'R', t[0x33] = 'I', t[0x34] = '1', t[0x35] = '0';
    t[0x3F] = 0x01;              /* one protection register field */
}

static uint8_t read_byte(PflashState *s, uint64_t off)
{
    switch (s->mode) {
    case MODE_STATUS:
        return s->status;
    case MODE_ID:
        /* QEMU's pc flash has identifiers 0; the lock status reads unlocked. */
        return 0;
    case MODE_CFI:
        return (off & 0xFF) < sizeof(s->cfi) ? s->cfi[off & 0xFF] : 0;
    default:
        return s->storage[off];
    }
}

static uint64_t pflash_read(void *opaque, uint64_t off, unsigned size)
{
    PflashState *s = opaque;
    uint64_t v = 0;

    if (s->mode == MODE_ARRAY) {
        for (unsigned i = 0; i < size; i++) {
            v |= (uint64_t)s->storage[off + i] << (8 * i);
        }
        return v;
    }
    /* One x8 bank: a wider read sees the register in its low byte. */
    return read_byte(s, off);
}

static const uint8_t *pflash_direct(void *opaque, uint64_t off)
{
    PflashState *s = opaque;

    return s->mode == MODE_ARRAY && !s->cmd ? s->storage + off : NULL;
}

static void write_back(PflashState *s, uint64_t off, uint64_t len)
{
    ssize_t n = pwrite(s->fd, s->storage + off, len, (off_t)off);

    if (n != (ssize_t)len && !s->logged_io_error) {
        s->logged_io_error = true;
        log_error("pflash unit %u: cannot write %s: %s (logged once)", s->unit, s->file,
                  n < 0 ? g_strerror(errno) : "short write");
    }
    if (n != (ssize_t)len) {
        s->status |= STATUS_PROG_ERROR;
    }
}

static void program(PflashState *s, uint64_t off, uint8_t byte)
{
    if (s->readonly) {
        s->status |= STATUS_PROG_ERROR;
        return;
    }
    s->storage[off] = byte;        /* as QEMU: the byte is stored, not ANDed */
    write_back(s, off, 1);
}

static void erase(PflashState *s, uint64_t off)
{
    uint64_t block = off & ~(uint64_t)(PFLASH_SECTOR_SIZE - 1);

    if (s->readonly) {
        s->status |= STATUS_ERASE_ERROR;
        return;
    }
    memset(s->storage + block, 0xFF, PFLASH_SECTOR_SIZE);
    write_back(s, block, PFLASH_SECTOR_SIZE);
}

/* The second cycle of program / erase; the device then shows its status. */
static void second_cycle(PflashState *s, uint64_t off, uint8_t v)
{
    uint8_t cmd = s->cmd;

    s->cmd = 0;
    s->mode = MODE_STATUS;
    if (cmd == 0x20 && v != 0xD0) {
        s->status |= STATUS_PROG_ERROR | STATUS_ERASE_ERROR;   /* sequence error */
    } else if (cmd == 0x20) {
        erase(s, off);
    } else {
        program(s, off, v);
    }
    s->status |= STATUS_READY;
}

static void pflash_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PflashState *s = opaque;
    uint8_t v = (uint8_t)val;

    (void)size;                  /* one x8 bank: the low byte is the command or data */
    if (s->cmd) {
        second_cycle(s, off, v);
        return;
    }
    switch (v) {
    case 0x10: case 0x40: case 0x20:
        s->cmd = v;
        s->mode = MODE_STATUS;
        break;
    case 0x50:
        s->status = 0;
        s->mode = MODE_ARRAY;
        break;
    case 0x70:
        s->mode = MODE_STATUS;
        break;
    case 0x90:
        s->mode = MODE_ID;
        break;
    case 0x98:
        s->mode = MODE_CFI;
        break;
    default:                     /* 0xFF, 0x00 and what is not implemented */
        s->mode = MODE_ARRAY;
        break;
    }
}

static const IoRegionOps pflash_ops = {
    .read = pflash_read,
    .write = pflash_write,
    .direct = pflash_direct,
};

static bool load_image(PflashState *s, GError **err)
{
    struct stat st;

    s->fd = open(s->file, (s->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (s->fd < 0) {
        set_error(err, "-drive if=pflash,unit=%u: Could not open '%s': %s", s->unit, s->file,
                  g_strerror(errno));
        return false;
    }
    if (fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0 ||
        st.st_size % PFLASH_SECTOR_SIZE || (uint64_t)st.st_size > PFLASH_MAX_SIZE) {
        set_error(err, "-drive if=pflash,unit=%u: firmware image '%s' has invalid size %lld "
                  "(a regular file, a non-zero multiple of 4 KiB up to %u MiB)", s->unit,
                  s->file, S_ISREG(st.st_mode) ? (long long)st.st_size : 0LL,
                  PFLASH_MAX_SIZE >> 20);
        return false;
    }
    s->size = (uint64_t)st.st_size;
    s->storage = g_malloc(s->size);
    if (pread(s->fd, s->storage, s->size, 0) != (ssize_t)s->size) {
        set_error(err, "-drive if=pflash,unit=%u: cannot read '%s'", s->unit, s->file);
        return false;
    }
    return true;
}

static void release(PflashState *s)
{
    if (s->fd >= 0) {
        close(s->fd);
    }
    s->fd = -1;
    g_clear_pointer(&s->storage, g_free);
}

static void pflash_reset(Device *d);

static bool pflash_realize(Device *d, GError **err)
{
    PflashState *s = (PflashState *)d;

    s->fd = -1;
    if (!s->file || !load_image(s, err)) {
        if (!s->file) {
            set_error(err, "cfi.pflash01: property 'file' is required");
        }
        release(s);
        return false;
    }
    build_cfi(s);
    pflash_reset(d);
    if (!iobus_add(&d->machine->mmio, s->base, s->size, &pflash_ops, s, "pflash", err)) {
        release(s);
        return false;
    }
    return true;
}

static void pflash_unrealize(Device *d)
{
    PflashState *s = (PflashState *)d;

    iobus_remove(&d->machine->mmio, s->base);
    release(s);
}

static void pflash_reset(Device *d)
{
    PflashState *s = (PflashState *)d;

    s->mode = MODE_ARRAY;
    s->cmd = 0;
    s->status = STATUS_READY;    /* QEMU's power-on status: the state machine is ready */
    s->logged_io_error = false;
}

const uint8_t *pflash_image(Device *d, uint64_t *size)
{
    PflashState *s = (PflashState *)d;

    *size = s->size;
    return s->storage;
}

static bool pflash_post_load(void *opaque, uint32_t version, GError **err)
{
    PflashState *s = opaque;

    (void)version;
    if (s->mode > MODE_CFI || (s->cmd && s->cmd != 0x10 && s->cmd != 0x40 && s->cmd != 0x20)) {
        set_error(err, "pflash: invalid saved mode %u / command 0x%x", s->mode, s->cmd);
        return false;
    }
    return true;
}

static const VMStateDescription vmstate_pflash = {
    .name = "pflash_cfi01",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = pflash_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_U8(mode, PflashState),
        VMSTATE_U8(cmd, PflashState),
        VMSTATE_U8(status, PflashState),
        VMSTATE_END_OF_LIST()
    },
};

static const Property pflash_props[] = {
    DEFINE_PROP("file", PROP_STR, PflashState, file, NULL, "the image file"),
    DEFINE_PROP("readonly", PROP_BOOL, PflashState, readonly, "off", "refuse program/erase"),
    DEFINE_PROP("base", PROP_U64, PflashState, base, "0", "guest-physical address"),
    DEFINE_PROP("unit", PROP_U8, PflashState, unit, "0", "the -drive unit"),
    DEFINE_PROP_END,
};

const DeviceClass pflash_cfi01_device_class = {
    .name = "cfi.pflash01",
    .parent = "sys-bus-device",
    .description = NULL,
    .bus = DEVICE_BUS_NONE,
    .instance_size = sizeof(PflashState),
    .props = pflash_props,
    .user_creatable = false,     /* the board maps -drive if=pflash */
    .hotpluggable = false,
    .realize = pflash_realize,
    .unrealize = pflash_unrealize,
    .reset = pflash_reset,
    .vmsd = &vmstate_pflash,
};
