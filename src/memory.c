#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memory.h"
#include "util/strutil.h"

#define GIB (1ULL << 30)
#define HIGH_RAM_START (4 * GIB)

static void add_block(GuestRam *ram, uint64_t gpa, uint64_t size, uint8_t *hva)
{
    RamBlock b = { .gpa = gpa, .size = size, .hva = hva };
    g_array_append_val(ram->blocks, b);
}

/*
 * An anonymous mapping whose start is aligned to 2 MiB, so that huge pages
 * can back it from its first byte (mmap aligns only to 4 KiB): map 2 MiB
 * more and unmap the ends.
 */
static void *map_aligned(uint64_t size, int flags)
{
    const uintptr_t align = 2u << 20;
    uint8_t *p = mmap(NULL, size + align, PROT_READ | PROT_WRITE, flags, -1, 0);
    uintptr_t start, head;

    if (p == MAP_FAILED) {
        return p;
    }
    start = ((uintptr_t)p + align - 1) & ~(align - 1);
    head = start - (uintptr_t)p;
    if (head) {
        munmap(p, head);
    }
    munmap((uint8_t *)start + size, align - head);
    return (void *)start;
}

static void mark_dma_log(const GuestRam *ram, const void *hva, uint64_t len);

static size_t code_gen_bytes(uint64_t size)
{
    return (size_t)((size + GUEST_PAGE_SIZE - 1) >> GUEST_PAGE_SHIFT) * sizeof(uint32_t);
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
    p = map_aligned(size, flags);
    if (p == MAP_FAILED) {
        set_error(err, "cannot allocate %" G_GUINT64_FORMAT " MiB of guest memory: %s",
                  size >> 20, g_strerror(errno));
        return false;
    }
    /*
     * Transparent huge pages where the host allows them (as QEMU asks for its
     * RAM): a boot touches most of guest RAM, and 2 MiB pages take 512 times
     * fewer host page faults and far fewer host TLB misses for the software
     * CPU's accesses through host pointers.
     */
    madvise(p, size, MADV_HUGEPAGE);
    if (!dump) {
        madvise(p, size, MADV_DONTDUMP);
    }
    ram->mapping = p;
    ram->mapping_size = size;
    ram->shared = share;
    /* Reserved, not committed: only the pages of words a CPU arms are touched. */
    void *gen = mmap(NULL, code_gen_bytes(size), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ram->code_gen = gen == MAP_FAILED ? NULL : gen;
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
    if (ram->code_gen) {
        munmap(ram->code_gen, code_gen_bytes(ram->mapping_size));
    }
    if (ram->blocks) {
        g_array_free(ram->blocks, TRUE);
    }
    memset(ram, 0, sizeof(*ram));
}

bool guest_ram_map_file(GuestRam *ram, int fd, uint64_t offset, GError **err)
{
    void *p;

    if (!ram->mapping) {
        return true;
    }
    p = mmap(ram->mapping, ram->mapping_size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, (off_t)offset);
    if (p == MAP_FAILED) {
        set_error(err, "cannot map the RAM image: %s", g_strerror(errno));
        return false;
    }
    ram->file_backed = true;
    return true;
}

int guest_ram_pagemap_open(const GuestRam *ram)
{
    if (ram->shared || ram->file_backed || !ram->mapping) {
        return -1;
    }
    return open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
}

bool guest_ram_unpopulated(const GuestRam *ram, int pagemap_fd, uint64_t off, size_t n,
                           bool *never)
{
    enum { PRESENT = 63, SWAPPED = 62 };
    uint64_t entries[512];
    uintptr_t first = ((uintptr_t)ram->mapping + off) / GUEST_PAGE_SIZE;
    bool ok = true;

    if (pagemap_fd < 0 || off + (uint64_t)n * GUEST_PAGE_SIZE > ram->mapping_size) {
        return false;
    }
    for (size_t done = 0; ok && done < n;) {
        size_t k = MIN(n - done, G_N_ELEMENTS(entries));
        off_t at = (off_t)((first + done) * sizeof(uint64_t));
        ssize_t got = pread(pagemap_fd, entries, k * sizeof(uint64_t), at);

        ok = got == (ssize_t)(k * sizeof(uint64_t));
        for (size_t i = 0; ok && i < k; i++) {
            never[done + i] = !(entries[i] >> PRESENT & 1) && !(entries[i] >> SWAPPED & 1);
        }
        done += k;
    }
    return ok;
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
    guest_ram_mark_dma(ram, p, len);      /* fw_cfg DMA and the like: no vCPU saw it */
    return true;
}

bool guest_ram_discard(const GuestRam *ram, void *hva, uint64_t len)
{
    uintptr_t base = (uintptr_t)ram->mapping, start = (uintptr_t)hva, end;

    if (!ram->mapping || start < base || start - base > ram->mapping_size ||
        len > ram->mapping_size - (start - base)) {
        errno = EINVAL;
        return false;
    }
    /* The mapping is page aligned, so host and guest page boundaries agree. */
    end = (start + len) & ~(uintptr_t)(GUEST_PAGE_SIZE - 1);
    start = (start + GUEST_PAGE_SIZE - 1) & ~(uintptr_t)(GUEST_PAGE_SIZE - 1);
    if (end <= start) {
        return true;
    }
    /*
     * The pages now read as zeros: a live migration must send them again, or
     * the destination would keep what they held (marked first, so a sync
     * running meanwhile cannot miss them).
     */
    mark_dma_log(ram, (void *)start, end - start);
    /*
     * Private anonymous memory is freed by DONTNEED (the next access faults
     * in a zero page); shared memory is shmem, where DONTNEED only unmaps
     * the page from this process and REMOVE frees it. Code translated from
     * the pages goes stale only now: their generations move after it.
     */
    bool ok = madvise((void *)start, end - start,
                      ram->shared ? MADV_REMOVE : MADV_DONTNEED) == 0;

    guest_ram_code_written(ram, (void *)start, end - start);
    return ok;
}

/* ---- dirty-page bitmap ---- */

static uint64_t dirty_words(const DirtyBlock *b)
{
    return (b->npages + 63) / 64;
}

DirtyBitmap *dirty_bitmap_new(const GuestRam *ram)
{
    DirtyBitmap *d = g_new0(DirtyBitmap, 1);

    d->nblocks = ram->blocks ? ram->blocks->len : 0;
    d->blocks = g_new0(DirtyBlock, d->nblocks ? d->nblocks : 1);
    for (guint i = 0; i < d->nblocks; i++) {
        const RamBlock *rb = &g_array_index(ram->blocks, RamBlock, i);
        DirtyBlock *b = &d->blocks[i];

        b->gpa = rb->gpa;
        b->npages = (rb->size + GUEST_PAGE_SIZE - 1) >> GUEST_PAGE_SHIFT;
        b->bits = g_new0(uint64_t, dirty_words(b) ? dirty_words(b) : 1);
    }
    return d;
}

void dirty_bitmap_free(DirtyBitmap *d)
{
    if (!d) {
        return;
    }
    for (guint i = 0; i < d->nblocks; i++) {
        g_free(d->blocks[i].bits);
    }
    g_free(d->blocks);
    g_free(d);
}

bool dirty_bitmap_fits(const DirtyBitmap *d, const GuestRam *ram)
{
    if (d->nblocks != (ram->blocks ? ram->blocks->len : 0)) {
        return false;
    }
    for (guint i = 0; i < d->nblocks; i++) {
        const RamBlock *rb = &g_array_index(ram->blocks, RamBlock, i);

        if (d->blocks[i].gpa != rb->gpa ||
            d->blocks[i].npages != (rb->size + GUEST_PAGE_SIZE - 1) >> GUEST_PAGE_SHIFT) {
            return false;
        }
    }
    return true;
}

/* The block holding gpa's page and the page's index in it, or NULL. */
static DirtyBlock *dirty_block(const DirtyBitmap *d, uint64_t gpa, uint64_t *page)
{
    for (guint i = 0; i < d->nblocks; i++) {
        DirtyBlock *b = &d->blocks[i];

        if (gpa >= b->gpa && ((gpa - b->gpa) >> GUEST_PAGE_SHIFT) < b->npages) {
            *page = (gpa - b->gpa) >> GUEST_PAGE_SHIFT;
            return b;
        }
    }
    return NULL;
}

void dirty_bitmap_mark(DirtyBitmap *d, uint64_t gpa, uint64_t len)
{
    uint64_t first = gpa & ~(GUEST_PAGE_SIZE - 1);
    uint64_t last = len ? gpa + (len - 1) : gpa;

    if (!len || last < gpa) {
        return;
    }
    for (uint64_t a = first; a <= last && a >= first; a += GUEST_PAGE_SIZE) {
        uint64_t p;
        DirtyBlock *b = dirty_block(d, a, &p);

        if (b) {
            __atomic_fetch_or(&b->bits[p / 64], 1ULL << (p % 64), __ATOMIC_RELAXED);
        }
    }
}

bool dirty_bitmap_test(const DirtyBitmap *d, uint64_t gpa)
{
    uint64_t p;
    const DirtyBlock *b = dirty_block(d, gpa, &p);

    return b && (__atomic_load_n(&b->bits[p / 64], __ATOMIC_RELAXED) >> (p % 64)) & 1;
}

uint64_t dirty_bitmap_next(const DirtyBitmap *d, uint64_t gpa)
{
    for (guint i = 0; i < d->nblocks; i++) {
        const DirtyBlock *b = &d->blocks[i];
        uint64_t p = gpa > b->gpa ? (gpa - b->gpa + GUEST_PAGE_SIZE - 1) >> GUEST_PAGE_SHIFT : 0;

        for (; p < b->npages; p++) {
            if ((__atomic_load_n(&b->bits[p / 64], __ATOMIC_RELAXED) >> (p % 64)) & 1) {
                return b->gpa + (p << GUEST_PAGE_SHIFT);
            }
        }
    }
    return UINT64_MAX;
}

uint64_t dirty_bitmap_count(const DirtyBitmap *d)
{
    uint64_t n = 0;

    for (guint i = 0; i < d->nblocks; i++) {
        for (uint64_t w = 0; w < dirty_words(&d->blocks[i]); w++) {
            n += __builtin_popcountll(__atomic_load_n(&d->blocks[i].bits[w], __ATOMIC_RELAXED));
        }
    }
    return n;
}

void dirty_bitmap_clear(DirtyBitmap *d)
{
    for (guint i = 0; i < d->nblocks; i++) {
        for (uint64_t w = 0; w < dirty_words(&d->blocks[i]); w++) {
            __atomic_store_n(&d->blocks[i].bits[w], 0, __ATOMIC_RELAXED);
        }
    }
}

void dirty_bitmap_or_block(DirtyBitmap *d, guint b, const uint64_t *words)
{
    g_assert(b < d->nblocks);
    for (uint64_t w = 0; w < dirty_words(&d->blocks[b]); w++) {
        if (words[w]) {
            __atomic_fetch_or(&d->blocks[b].bits[w], words[w], __ATOMIC_RELAXED);
        }
    }
}

void dirty_bitmap_take(DirtyBitmap *dst, DirtyBitmap *src)
{
    g_assert(dst->nblocks == src->nblocks);
    for (guint i = 0; i < src->nblocks; i++) {
        g_assert(dst->blocks[i].npages == src->blocks[i].npages);
        for (uint64_t w = 0; w < dirty_words(&src->blocks[i]); w++) {
            uint64_t *word = &src->blocks[i].bits[w];
            /* Most words are clear: read before paying for an exchange. */
            uint64_t v = __atomic_load_n(word, __ATOMIC_RELAXED)
                         ? __atomic_exchange_n(word, 0, __ATOMIC_ACQ_REL) : 0;

            if (v) {
                __atomic_fetch_or(&dst->blocks[i].bits[w], v, __ATOMIC_RELAXED);
            }
        }
    }
}

static void region_clear(gpointer data)
{
    IoRegion *r = data;
    g_free(r->name);
}

void iobus_init(IoBus *bus, const char *name, IoBusKind kind)
{
    bus->name = name;
    bus->unassigned = kind == IOBUS_MEMORY ? 0x00 : 0xff;
    bus->regions = g_array_new(FALSE, TRUE, sizeof(IoRegion));
    g_array_set_clear_func(bus->regions, region_clear);
    bus->eventfds = g_array_new(FALSE, TRUE, sizeof(IoEventfd));
    bus->eventfd_hits = 0;
    bus->lockless = NULL;
}

void iobus_destroy(IoBus *bus)
{
    if (bus->regions) {
        g_array_free(bus->regions, TRUE);
        bus->regions = NULL;
    }
    if (bus->eventfds) {
        g_array_free(bus->eventfds, TRUE);
        bus->eventfds = NULL;
    }
    bus->lockless = NULL;
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
        memset(data, bus->unassigned, size);
        return false;
    }
    v = r->ops->read(r->opaque, addr - r->base, size);
    v = GUINT64_TO_LE(v);
    memcpy(data, &v, size);
    return true;
}

void iobus_set_lockless_read(IoBus *bus, const IoLocklessRead *r)
{
    __atomic_store_n(&bus->lockless, r, __ATOMIC_RELEASE);
}

bool iobus_read_lockless(IoBus *bus, uint64_t addr, unsigned size, uint64_t *val)
{
    const IoLocklessRead *r = __atomic_load_n(&bus->lockless, __ATOMIC_ACQUIRE);

    /* addr is the one field an owner may change (moving it while withdrawn) */
    if (!r || __atomic_load_n(&r->addr, __ATOMIC_RELAXED) != addr || r->size != size) {
        return false;
    }
    *val = r->read(r->opaque);
    return true;
}

/* Signals the eventfd a write of v matches; false when none does. */
static bool eventfd_match(IoBus *bus, uint64_t addr, uint64_t v, unsigned size)
{
    for (guint i = 0; i < bus->eventfds->len; i++) {
        const IoEventfd *e = &g_array_index(bus->eventfds, IoEventfd, i);
        uint64_t one = 1;

        if (e->addr != addr || (e->size && e->size != size) || (e->datamatch && e->data != v)) {
            continue;
        }
        /* EAGAIN: the counter is saturated, the reader is woken anyway. */
        if (write(e->fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
            return false;       /* a closed fd: the handler still works */
        }
        bus->eventfd_hits++;
        return true;
    }
    return false;
}

bool iobus_write(IoBus *bus, uint64_t addr, const void *data, unsigned size)
{
    const IoRegion *r;
    uint64_t v = 0;

    if (!valid_size(size)) {
        return false;
    }
    memcpy(&v, data, size);
    v = GUINT64_FROM_LE(v);
    /* No cost beyond this test unless some device asked for an eventfd. */
    if (bus->eventfds && bus->eventfds->len && eventfd_match(bus, addr, v, size)) {
        return true;
    }
    r = find(bus, addr, size);
    if (!r || !r->ops->write) {
        return false;
    }
    r->ops->write(r->opaque, addr - r->base, v, size);
    return true;
}

static bool same_trigger(const IoEventfd *a, const IoEventfd *b)
{
    return a->addr == b->addr && a->size == b->size && a->datamatch == b->datamatch &&
           (!a->datamatch || a->data == b->data);
}

bool iobus_add_eventfd(IoBus *bus, const IoEventfd *e, GError **err)
{
    if (!(e->size ? valid_size(e->size) : !e->datamatch) || e->addr + e->size < e->addr ||
        e->fd < 0) {
        set_error(err, "%s ioeventfd at 0x%" G_GINT64_MODIFIER "x: invalid size or fd",
                  bus->name, e->addr);
        return false;
    }
    for (guint i = 0; i < bus->eventfds->len; i++) {
        if (same_trigger(&g_array_index(bus->eventfds, IoEventfd, i), e)) {
            set_error(err, "%s ioeventfd at 0x%" G_GINT64_MODIFIER "x: already registered",
                      bus->name, e->addr);
            return false;
        }
    }
    g_array_append_val(bus->eventfds, *e);
    return true;
}

void iobus_remove_eventfd(IoBus *bus, const IoEventfd *e)
{
    for (guint i = 0; bus->eventfds && i < bus->eventfds->len; i++) {
        const IoEventfd *x = &g_array_index(bus->eventfds, IoEventfd, i);

        if (same_trigger(x, e) && x->fd == e->fd) {
            g_array_remove_index(bus->eventfds, i);
            return;
        }
    }
}

void guest_ram_code_written(const GuestRam *ram, const void *hva, uint64_t len)
{
    uintptr_t base = (uintptr_t)ram->mapping, off = (uintptr_t)hva - base, end;

    if (!ram->code_gen || !len || off >= ram->mapping_size) {
        return;
    }
    end = MIN((uint64_t)ram->mapping_size, off + len);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);      /* the data before the words (see memory.h) */
    for (uintptr_t p = off >> GUEST_PAGE_SHIFT; p <= (end - 1) >> GUEST_PAGE_SHIFT; p++) {
        if (__atomic_load_n(&ram->code_gen[p], __ATOMIC_RELAXED) & 1) {
            guest_ram_code_bump(&ram->code_gen[p]);
        }
    }
}

void guest_ram_mark_dma(const GuestRam *ram, const void *hva, uint64_t len)
{
    guest_ram_code_written(ram, hva, len);
    mark_dma_log(ram, hva, len);
}

static void mark_dma_log(const GuestRam *ram, const void *hva, uint64_t len)
{
    DirtyBitmap *d = __atomic_load_n(&ram->dma_log, __ATOMIC_ACQUIRE);
    const uint8_t *p = hva;

    if (!d || !len) {
        return;
    }
    for (guint i = 0; i < ram->blocks->len; i++) {
        const RamBlock *b = &g_array_index(ram->blocks, RamBlock, i);
        if (p >= b->hva && p < b->hva + b->size) {
            dirty_bitmap_mark(d, b->gpa + (uint64_t)(p - b->hva),
                              MIN(len, b->size - (uint64_t)(p - b->hva)));
            return;
        }
    }
}

const uint8_t *iobus_direct_page(IoBus *bus, uint64_t addr, bool *rom)
{
    uint64_t page = addr & ~0xFFFull;
    const IoRegion *r = find(bus, page, 1);

    if (rom) {
        *rom = r && r->ops->direct;
    }
    if (!r || !r->ops->direct || page - r->base + 4096 > r->size) {
        return NULL;
    }
    return r->ops->direct(r->opaque, page - r->base);
}
