#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "memory.h"
#include "util/strutil.h"

#define GIB (1ULL << 30)
#define HIGH_RAM_START (4 * GIB)

static void add_block(GuestRam *ram, uint64_t gpa, uint64_t size, uint8_t *hva)
{
    RamBlock b = { .gpa = gpa, .size = size, .hva = hva };
    g_array_append_val(ram->blocks, b);
}

bool guest_ram_init(GuestRam *ram, uint64_t size, uint64_t low_limit,
                    bool share, bool dump, GError **err)
{
    int flags = (share ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_NORESERVE;
    uint64_t low = MIN(size, low_limit);
    void *p;

    memset(ram, 0, sizeof(*ram));
    ram->blocks = g_array_new(FALSE, TRUE, sizeof(RamBlock));
    if (size == 0 || size != (size_t)size) {
        set_error(err, "invalid guest memory size %" G_GUINT64_FORMAT, size);
        return false;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED) {
        set_error(err, "cannot allocate %" G_GUINT64_FORMAT " MiB of guest memory: %s",
                  size >> 20, g_strerror(errno));
        return false;
    }
    if (!dump) {
        madvise(p, size, MADV_DONTDUMP);
    }
    ram->mapping = p;
    ram->mapping_size = size;
    add_block(ram, 0, low, p);
    if (size > low) {
        add_block(ram, HIGH_RAM_START, size - low, (uint8_t *)p + low);
    }
    return true;
}

void guest_ram_destroy(GuestRam *ram)
{
    if (ram->mapping) {
        munmap(ram->mapping, ram->mapping_size);
    }
    if (ram->blocks) {
        g_array_free(ram->blocks, TRUE);
    }
    memset(ram, 0, sizeof(*ram));
}

uint64_t guest_ram_end(const GuestRam *ram)
{
    const RamBlock *last;

    if (!ram->blocks || ram->blocks->len == 0) {
        return 0;
    }
    last = &g_array_index(ram->blocks, RamBlock, ram->blocks->len - 1);
    return last->gpa + last->size;
}

void *guest_ram_ptr(const GuestRam *ram, uint64_t gpa, uint64_t len)
{
    if (!ram->blocks) {
        return NULL;
    }
    for (guint i = 0; i < ram->blocks->len; i++) {
        const RamBlock *b = &g_array_index(ram->blocks, RamBlock, i);
        /* Written to be overflow-safe for any gpa/len a guest can supply. */
        if (gpa >= b->gpa && gpa - b->gpa < b->size && len <= b->size - (gpa - b->gpa)) {
            return b->hva + (gpa - b->gpa);
        }
    }
    return NULL;
}

bool guest_ram_read(const GuestRam *ram, uint64_t gpa, void *buf, size_t len)
{
    void *p = guest_ram_ptr(ram, gpa, len);

    if (!p) {
        return false;
    }
    memcpy(buf, p, len);
    return true;
}

bool guest_ram_write(const GuestRam *ram, uint64_t gpa, const void *buf, size_t len)
{
    void *p = guest_ram_ptr(ram, gpa, len);

    if (!p) {
        return false;
    }
    memcpy(p, buf, len);
    return true;
}

static void region_clear(gpointer data)
{
    IoRegion *r = data;
    g_free(r->name);
}

void iobus_init(IoBus *bus, const char *name)
{
    bus->name = name;
    bus->regions = g_array_new(FALSE, TRUE, sizeof(IoRegion));
    g_array_set_clear_func(bus->regions, region_clear);
}

void iobus_destroy(IoBus *bus)
{
    if (bus->regions) {
        g_array_free(bus->regions, TRUE);
        bus->regions = NULL;
    }
}

/* Index of the first region whose end is above addr (binary search). */
static guint lower_bound(const IoBus *bus, uint64_t addr)
{
    guint lo = 0, hi = bus->regions->len;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        const IoRegion *r = &g_array_index(bus->regions, IoRegion, mid);
        if (r->base + r->size <= addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

bool iobus_add(IoBus *bus, uint64_t base, uint64_t size, const IoRegionOps *ops,
               void *opaque, const char *name, GError **err)
{
    guint i;

    if (size == 0 || base + size < base) {
        set_error(err, "%s region '%s' has an invalid range", bus->name, name);
        return false;
    }
    i = lower_bound(bus, base);
    if (i < bus->regions->len) {
        const IoRegion *next = &g_array_index(bus->regions, IoRegion, i);
        if (next->base < base + size) {
            set_error(err, "%s region '%s' [0x%" G_GINT64_MODIFIER "x, +0x%"
                      G_GINT64_MODIFIER "x) overlaps '%s'", bus->name, name, base,
                      size, next->name);
            return false;
        }
    }
    IoRegion r = { .base = base, .size = size, .ops = ops, .opaque = opaque,
                   .name = g_strdup(name) };
    g_array_insert_val(bus->regions, i, r);
    return true;
}

bool iobus_remove(IoBus *bus, uint64_t base)
{
    guint i = lower_bound(bus, base);

    if (i < bus->regions->len &&
        g_array_index(bus->regions, IoRegion, i).base == base) {
        g_array_remove_index(bus->regions, i);
        return true;
    }
    return false;
}

/* The region containing the whole access, or NULL. */
static const IoRegion *find(const IoBus *bus, uint64_t addr, unsigned size)
{
    guint i = lower_bound(bus, addr);
    const IoRegion *r;

    if (i >= bus->regions->len) {
        return NULL;
    }
    r = &g_array_index(bus->regions, IoRegion, i);
    if (addr < r->base || addr - r->base + size > r->size) {
        return NULL;
    }
    return r;
}

static bool valid_size(unsigned size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

bool iobus_read(IoBus *bus, uint64_t addr, void *data, unsigned size)
{
    const IoRegion *r = valid_size(size) ? find(bus, addr, size) : NULL;
    uint64_t v;

    if (!r || !r->ops->read) {
        memset(data, 0xff, size);
        return false;
    }
    v = r->ops->read(r->opaque, addr - r->base, size);
    v = GUINT64_TO_LE(v);
    memcpy(data, &v, size);
    return true;
}

bool iobus_write(IoBus *bus, uint64_t addr, const void *data, unsigned size)
{
    const IoRegion *r = valid_size(size) ? find(bus, addr, size) : NULL;
    uint64_t v = 0;

    if (!r || !r->ops->write) {
        return false;
    }
    memcpy(&v, data, size);
    r->ops->write(r->opaque, addr - r->base, GUINT64_FROM_LE(v), size);
    return true;
}
