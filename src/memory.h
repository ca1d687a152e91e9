/*
 * Guest memory and the two I/O address spaces (MMIO and port I/O).
 *
 * RAM is a list of host mappings at guest-physical addresses. Every access a
 * device makes on behalf of the guest goes through guest_ram_ptr()/read/write,
 * which check that the whole range lies inside one RAM block: a hostile guest
 * address can never make the VMM touch memory outside guest RAM.
 *
 * IoBus dispatches an access to the device region that contains it. vCPU exits
 * (KVM) and qtest commands both land here, so a device behaves identically under
 * either accelerator. Regions are kept sorted; lookup is a binary search.
 * Callers hold the machine lock (see machine.h) around dispatch.
 */
#ifndef STRATUS_MEMORY_H
#define STRATUS_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

typedef struct RamBlock {
    uint64_t gpa;
    uint64_t size;
    uint8_t *hva;
} RamBlock;

typedef struct GuestRam {
    GArray *blocks;      /* RamBlock, sorted by gpa, non-overlapping */
    void *mapping;       /* one host mapping backs all blocks */
    size_t mapping_size;
    bool shared;         /* MAP_SHARED (-machine mem-share=on): discard needs MADV_REMOVE */
    bool file_backed;    /* guest_ram_map_file: absent pages hold the file's data */
    /*
     * While a live migration runs: the pages the VMM writes on the guest's
     * behalf (virtqueue used rings and device-writable buffers, every
     * guest_ram_write such as fw_cfg DMA, guest_ram_discard's balloon
     * pages), which the accelerator's dirty log does not see. Set and
     * cleared under the machine lock.
     */
    struct DirtyBitmap *dma_log;
    /*
     * Code generations (guest_ram_code_*): one word per 4 KiB page of the
     * mapping, for a software CPU's translated code; NULL if it could not
     * be reserved (then no code may rely on it).
     */
    uint32_t *code_gen;
} GuestRam;

/*
 * Map `size` bytes of anonymous memory and split it at the layout's hole:
 * [0, min(size, low_limit)) and the rest from 4 GiB. share = MAP_SHARED,
 * dump = false -> MADV_DONTDUMP.
 */
bool guest_ram_init(GuestRam *ram, uint64_t size, uint64_t low_limit,
                    bool share, bool dump, GError **err);
void guest_ram_destroy(GuestRam *ram);
/*
 * Replaces the contents of the whole mapping with a private copy-on-write
 * mapping of fd from `offset` (page aligned; the file must hold
 * mapping_size bytes there): a snapshot's RAM image becomes guest RAM
 * without being read. The host addresses stay the same, so blocks and
 * whatever an accelerator registered keep pointing at RAM. Before any vCPU
 * runs. false (*err) if the kernel refuses.
 */
bool guest_ram_map_file(GuestRam *ram, int fd, uint64_t offset, GError **err);
/*
 * For n pages of the mapping from byte offset `off` (page aligned), sets
 * never[i] when page i was never populated (or was discarded) and so reads as
 * zeros, from /proc/self/pagemap. Reading such a page to find out would
 * populate it: a snapshot of a mostly idle guest would fault in all of its
 * RAM. Only private anonymous RAM can tell (absent shared or file pages may
 * hold data): guest_ram_pagemap_open returns -1 there (or if pagemap cannot
 * be opened), else a descriptor the caller closes after its pass; with -1,
 * or if pagemap cannot be read, guest_ram_unpopulated is false and never[]
 * unspecified.
 */
int guest_ram_pagemap_open(const GuestRam *ram);
bool guest_ram_unpopulated(const GuestRam *ram, int pagemap_fd, uint64_t off, size_t n,
                           bool *never);
uint64_t guest_ram_end(const GuestRam *ram);   /* highest gpa + 1 */
/* NULL unless [gpa, gpa+len) is entirely inside one block (len 0 = just gpa). */
void *guest_ram_ptr(const GuestRam *ram, uint64_t gpa, uint64_t len);
bool guest_ram_read(const GuestRam *ram, uint64_t gpa, void *buf, size_t len);
bool guest_ram_write(const GuestRam *ram, uint64_t gpa, const void *buf, size_t len);
/*
 * Gives the host memory behind [hva, hva+len) back to the host (a balloon's
 * inflated pages, reported free pages): the guest reads zeros there
 * afterwards and the VMM's RSS shrinks. hva must come from guest_ram_ptr();
 * only the whole 4 KiB pages inside the range are discarded (a partial page
 * at either end may hold data the guest still wants). false (errno set) if
 * the range is not inside guest RAM or the kernel refused.
 */
bool guest_ram_discard(const GuestRam *ram, void *hva, uint64_t len);

/*
 * The dirty-page log's bitmap: one bit per 4 KiB page of each RAM block,
 * set when something wrote the page. Accelerators OR the guest's writes
 * into one (AccelOps.dirty_log_sync); migration ORs device DMA into the
 * same one. Marking and taking are atomic word by word, so vCPU threads and
 * the main thread may use one bitmap at once without losing a mark.
 */
#define GUEST_PAGE_SHIFT 12
#define GUEST_PAGE_SIZE  (1ULL << GUEST_PAGE_SHIFT)

typedef struct DirtyBlock {
    uint64_t gpa;            /* the RAM block's first address */
    uint64_t npages;
    uint64_t *bits;          /* bit p % 64 of bits[p / 64]: page gpa + p * GUEST_PAGE_SIZE */
} DirtyBlock;

typedef struct DirtyBitmap {
    guint nblocks;
    DirtyBlock *blocks;      /* one per RamBlock, in GuestRam order */
} DirtyBitmap;

/* All clear, shaped after ram's blocks. */
DirtyBitmap *dirty_bitmap_new(const GuestRam *ram);
void dirty_bitmap_free(DirtyBitmap *d);
/* Made for a RAM of this shape (the same blocks at the same addresses)? */
bool dirty_bitmap_fits(const DirtyBitmap *d, const GuestRam *ram);
/* Marks every page [gpa, gpa + len) touches; outside RAM nothing. Any thread. */
void dirty_bitmap_mark(DirtyBitmap *d, uint64_t gpa, uint64_t len);
bool dirty_bitmap_test(const DirtyBitmap *d, uint64_t gpa);
/* The address of the first dirty page starting at or above gpa, UINT64_MAX if none. */
uint64_t dirty_bitmap_next(const DirtyBitmap *d, uint64_t gpa);
uint64_t dirty_bitmap_count(const DirtyBitmap *d);
void dirty_bitmap_clear(DirtyBitmap *d);
/* ORs words (KVM_GET_DIRTY_LOG's layout: (npages + 63) / 64 of them) into block b. */
void dirty_bitmap_or_block(DirtyBitmap *d, guint b, const uint64_t *words);
/*
 * dst |= src and src = 0, each word moved atomically, so a page src gets
 * marked meanwhile ends up in one of the two. Same shape required.
 */
void dirty_bitmap_take(DirtyBitmap *dst, DirtyBitmap *src);
/*
 * After the VMM wrote [hva, hva + len) on the guest's behalf (the data is in
 * memory): records it in ram->dma_log, if one is set, and gives the armed
 * pages among them a new code generation (guest_ram_code_written).
 */
void guest_ram_mark_dma(const GuestRam *ram, const void *hva, uint64_t len);

/*
 * Code generations, for an accelerator that translates guest code (emu's
 * generated code; docs/accelerators.md, "Generated code"). Each 4 KiB page
 * of the mapping has a word shared by every vCPU; bit 0 set = "armed": some
 * translation of the page's bytes relies on the word changing when the
 * page is written. A translator arms the page (guest_ram_code_arm: an
 * atomic OR, a full fence), then compares its saved bytes with memory, and
 * keeps the armed value it got; the translation is valid while the word
 * still holds it. Every writer tests the bit AFTER its store is made and,
 * when it is set, bumps the word (guest_ram_code_bump: a compare-and-swap
 * to the next, disarmed value, so later stores to the page skip this): a
 * value a translation kept never comes back (but after 2^31 re-arms of
 * the page, which only the guest's own code could be misled by).
 */
static inline uint32_t *guest_ram_code_gen(const GuestRam *ram, const void *hva)
{
    uintptr_t off = (uintptr_t)hva - (uintptr_t)ram->mapping;

    return ram->code_gen && off < ram->mapping_size ? &ram->code_gen[off >> 12] : NULL;
}

static inline uint32_t guest_ram_code_arm(uint32_t *gen)
{
    return __atomic_or_fetch(gen, 1u, __ATOMIC_SEQ_CST);
}

/* The slow path of a store into an armed page: the next generation, disarmed. */
static inline void guest_ram_code_bump(uint32_t *gen)
{
    uint32_t v = __atomic_load_n(gen, __ATOMIC_RELAXED);

    while ((v & 1) && !__atomic_compare_exchange_n(gen, &v, v + 1, false, __ATOMIC_SEQ_CST,
                                                   __ATOMIC_RELAXED)) {
    }
}

/*
 * Bumps the armed pages [hva, hva + len) touches, after a full fence (the
 * writes before it are visible to a translator that arms a page after
 * this looked at it); outside the mapping nothing. Any thread.
 */
void guest_ram_code_written(const GuestRam *ram, const void *hva, uint64_t len);

typedef struct IoRegionOps {
    /* size is 1, 2, 4 or 8; offset is relative to the region base. */
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
    /*
     * Optional, for ROM-like devices (pflash in array mode): host bytes a CPU
     * may read from offset to the end of its 4 KiB page instead of calling
     * read, or NULL while reads must go through read. Never for writes: a
     * write always reaches write, after which a CPU drops what it took.
     */
    const uint8_t *(*direct)(void *opaque, uint64_t offset);
} IoRegionOps;

typedef struct IoRegion {
    uint64_t base;
    uint64_t size;
    const IoRegionOps *ops;
    void *opaque;
    char *name;
} IoRegion;

/*
 * What an unassigned read returns, as in QEMU: its memory address space
 * reads 0 where nothing is mapped (unassigned_mem_ops), its I/O space all
 * ones (unassigned_io_ops).
 */
typedef enum {
    IOBUS_MEMORY,        /* unassigned reads are 0 */
    IOBUS_PORTS,         /* unassigned reads are all ones */
} IoBusKind;

/*
 * An ioeventfd the bus itself matches (the emu accelerator's; KVM matches
 * its own in the kernel): a write of exactly `size` bytes at `addr` (size
 * 0: of any size, without datamatch; with datamatch, of the value `data`)
 * adds 1 to the eventfd `fd` instead of reaching the region's handler, as
 * KVM_IOEVENTFD does.
 */
typedef struct IoEventfd {
    uint64_t addr;
    uint64_t data;
    unsigned size;
    bool datamatch;
    int fd;
} IoEventfd;

/*
 * A read a CPU may serve without the machine lock (iobus_read_lockless):
 * one register whose value is a pure function of things readable from any
 * thread (the ACPI PM timer: the machine clock), so taking the lock for it
 * only makes every polling read pay a lock round trip and contend with the
 * main loop and the other vCPUs.
 */
typedef struct IoLocklessRead {
    uint64_t addr;       /* atomic: an owner may move it while withdrawn */
    unsigned size;       /* only reads of exactly this size match */
    uint64_t (*read)(void *opaque);
    void *opaque;
} IoLocklessRead;

typedef struct IoBus {
    const char *name;    /* "mmio" or "pio", for messages */
    GArray *regions;     /* IoRegion sorted by base */
    uint8_t unassigned;  /* the byte an unassigned read returns */
    GArray *eventfds;    /* IoEventfd, few (one per virtqueue): scanned only when non-empty */
    uint64_t eventfd_hits;   /* writes that signalled an eventfd (tests, x-query-irq) */
    const IoLocklessRead *lockless;   /* atomic; iobus_set_lockless_read */
} IoBus;

void iobus_init(IoBus *bus, const char *name, IoBusKind kind);
void iobus_destroy(IoBus *bus);
/* Fails if the range overlaps an existing region. */
bool iobus_add(IoBus *bus, uint64_t base, uint64_t size, const IoRegionOps *ops,
               void *opaque, const char *name, GError **err);
/* Removes the region that starts at base; false if none. */
bool iobus_remove(IoBus *bus, uint64_t base);
/*
 * Unassigned reads return the bus's unassigned byte (IoBusKind) in every
 * byte, unassigned writes are dropped; both return false so callers can log.
 * data points to `size` bytes in little-endian order.
 */
bool iobus_read(IoBus *bus, uint64_t addr, void *data, unsigned size);
/* A write matching an eventfd (iobus_add_eventfd) signals it and reaches no region. */
bool iobus_write(IoBus *bus, uint64_t addr, const void *data, unsigned size);
/*
 * Publishes r as the bus's lock-free read (NULL withdraws it), lock held.
 * The owner publishes it while its region decodes r->addr and withdraws it
 * with the region. A CPU that loaded r just before the withdrawal may still
 * call r->read once after it, which reads as if it came first: r and its
 * opaque must live until no vCPU runs (machine_free joins them before it
 * frees devices).
 */
void iobus_set_lockless_read(IoBus *bus, const IoLocklessRead *r);
/*
 * Any thread, no lock: the published read's value in *val when it matches
 * addr and size exactly, else false (the caller dispatches as usual).
 */
bool iobus_read_lockless(IoBus *bus, uint64_t addr, unsigned size, uint64_t *val);
/*
 * The direct-read bytes (IoRegionOps.direct) of the 4 KiB page holding
 * addr, NULL if the page is not wholly inside one region that has them now.
 * *rom (may be NULL) is set when that region has a direct op at all, so a
 * caller knows a write there may change what later reads see.
 */
const uint8_t *iobus_direct_page(IoBus *bus, uint64_t addr, bool *rom);
/*
 * Bus-matched ioeventfds (IoEventfd), KVM_IOEVENTFD's rules: size 1, 2, 4
 * or 8, or 0 without datamatch; registering the same (addr, size,
 * datamatch, data) twice fails (*err, as KVM's EEXIST); remove takes the entry with every field equal
 * and is a no-op when there is none. Lock held, like dispatch.
 */
bool iobus_add_eventfd(IoBus *bus, const IoEventfd *e, GError **err);
void iobus_remove_eventfd(IoBus *bus, const IoEventfd *e);

#endif
