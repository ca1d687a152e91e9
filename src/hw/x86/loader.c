/*
 * x86_64 direct Linux boot for the microvm (StratoVirt's direct_boot):
 * bzImage or raw vmlinux.bin, entered in 64-bit long mode through the 64-bit
 * boot protocol. See stratovirt-reference.md §5 and the Linux boot protocol
 * (Documentation/arch/x86/boot.rst).
 *
 * Every check that can fail is done before guest memory is touched, and every
 * access to guest memory goes through guest_ram_ptr()/guest_ram_write(), so a
 * hostile or oversized kernel/initrd can never make us write outside guest RAM.
 * File contents are read straight into guest RAM (no second host copy).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hw/x86/loader.h"

/* Setup header fields, as file offsets (== offsets inside the zero page). */
#define HDR_START            0x1f1
#define HDR_SETUP_SECTS      0x1f1
#define HDR_JUMP             0x200
#define HDR_MAGIC            0x202
#define HDR_VERSION          0x206
#define HDR_LOADFLAGS        0x211
#define HDR_CODE32_START     0x214
#define HDR_INITRD_ADDR_MAX  0x22c   /* 2.03+ */
#define HDR_KERNEL_ALIGNMENT 0x230   /* 2.05+ */
#define HDR_RELOCATABLE      0x234   /* 2.05+ */
#define HDR_XLOADFLAGS       0x236   /* 2.12+ */
#define HDR_CMDLINE_SIZE     0x238   /* 2.06+ */
#define HDR_PREF_ADDRESS     0x258   /* 2.10+ */
#define HDR_INIT_SIZE        0x260   /* 2.10+ */
#define HDR_ZP_END           0x290   /* end of setup_header room in boot_params */

#define HDR_MAGIC_VALUE      0x53726448u   /* "HdrS" */
#define LOADFLAG_LOADED_HIGH 0x01
#define XLF_KERNEL_64        0x01
#define BZ_ENTRY64_OFFSET    0x200

/* Smaller than this cannot be a kernel of either format. */
#define KERNEL_MIN_SIZE      1024

#define PAGE_SIZE_4K         0x1000ULL
#define GDT_ENTRIES          4
#define GDT_CODE             0x00af9b000000ffffULL
#define GDT_DATA             0x00cf93000000ffffULL
#define PTE_PRESENT_RW       0x3ULL
#define PDE_2M_PAGE          0x83ULL     /* present | rw | page size */

/*
 * CR0 = PG | AM | WP | NE | ET | MP | PE: what Linux itself loads on 64-bit
 * entry (CR0_STATE in arch/x86/include/asm/processor-flags.h). StratoVirt ORs
 * PE|PG into the reset value 0x60000010, which leaves CD|NW (caches off) set
 * until the kernel reloads CR0; starting with caching enabled is equivalent for
 * the kernel and avoids an uncached early boot.
 */
#define BOOT_CR0             0x80050033ULL
#define BOOT_CR4             0x20ULL     /* PAE */
#define BOOT_EFER            0x500ULL    /* LME | LMA */

typedef struct KernelImage {
    KernelFormat fmt;
    uint8_t head[HDR_ZP_END];    /* first bytes of the file */
    size_t hdr_len;              /* setup header bytes from 0x1f1 (bzImage) */
    uint16_t version;
    uint64_t file_off;           /* where the loaded part starts in the file */
    uint64_t load_addr;
    uint64_t load_size;
    uint64_t entry;
    uint64_t end;                /* end of the memory the kernel claims */
    uint64_t initrd_max;         /* highest address the initrd may use */
    uint64_t cmdline_max;        /* longest accepted command line (strlen) */
} KernelImage;

static uint16_t get_le16(const uint8_t *p)
{
    return p[0] | (p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t get_le64(const uint8_t *p)
{
    return get_le32(p) | ((uint64_t)get_le32(p + 4) << 32);
}

/* Opens a regular file for reading; errors name `what` and the path. */
static int open_image(const char *what, const char *path, uint64_t *size,
                      GError **err)
{
    struct stat st;
    int fd;

    if (!path || !*path) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL, "no %s file given", what);
        return -1;
    }
    /* O_NONBLOCK: a FIFO must not hang start-up; the type check refuses it. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) {
            g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                        "%s '%s' not found", what, path);
        } else {
            g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e),
                        "cannot open %s '%s': %s", what, path, g_strerror(e));
        }
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        int e = errno;
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e),
                    "cannot stat %s '%s': %s", what, path, g_strerror(e));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s '%s' is not a regular file", what, path);
        close(fd);
        return -1;
    }
    if (st.st_size == 0) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s '%s' is empty", what, path);
        close(fd);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

static bool read_exact(int fd, uint64_t off, void *buf, uint64_t len,
                       const char *what, const char *path, GError **err)
{
    uint8_t *p = buf;

    while (len > 0) {
        size_t chunk = MIN(len, (uint64_t)(1u << 30));
        ssize_t n = pread(fd, p, chunk, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int e = errno;
            g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e),
                        "cannot read %s '%s': %s", what, path, g_strerror(e));
            return false;
        }
        if (n == 0) {
            g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_IO,
                        "cannot read %s '%s': unexpected end of file", what, path);
            return false;
        }
        p += n;
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return true;
}

/* Reads `len` bytes of the file straight into guest RAM at gpa. */
static bool read_into_guest(GuestRam *ram, int fd, uint64_t off, uint64_t gpa,
                            uint64_t len, const char *what, const char *path,
                            GError **err)
{
    void *dst = guest_ram_ptr(ram, gpa, len);

    if (!dst) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOSPC,
                    "%s '%s' (%" G_GUINT64_FORMAT " bytes at 0x%" G_GINT64_MODIFIER
                    "x) does not fit in guest RAM", what, path, len, gpa);
        return false;
    }
    if (!read_exact(fd, off, dst, len, what, path, err)) {
        return false;
    }
    guest_ram_mark_dma(ram, dst, len);    /* a system reset loads again: code translated there */
    return true;
}

/* End of the RAM block that starts at guest address 0 (RAM below the hole). */
static uint64_t low_ram_end(const GuestRam *ram)
{
    if (!ram || !ram->blocks) {
        return 0;
    }
    for (guint i = 0; i < ram->blocks->len; i++) {
        const RamBlock *b = &g_array_index(ram->blocks, RamBlock, i);
        if (b->gpa == 0) {
            return b->size;
        }
    }
    return 0;
}

static bool is_bzimage(const uint8_t *head)
{
    return get_le32(head + HDR_MAGIC) == HDR_MAGIC_VALUE &&
           get_le16(head + HDR_VERSION) >= 0x202 &&
           (head[HDR_LOADFLAGS] & LOADFLAG_LOADED_HIGH);
}

/*
 * Works out where the kernel goes and what it allows, without touching guest
 * memory.
 */
static bool probe_kernel(int fd, const char *path, uint64_t size, uint64_t low_end,
                         KernelImage *k, GError **err)
{
    memset(k, 0, sizeof(*k));

    if (size < KERNEL_MIN_SIZE) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "kernel '%s' is too small (%" G_GUINT64_FORMAT
                    " bytes) to be a Linux kernel", path, size);
        return false;
    }
    if (!read_exact(fd, 0, k->head, sizeof(k->head), "kernel", path, err)) {
        return false;
    }

    k->initrd_max = BOOT_INITRD_LIMIT;
    k->cmdline_max = BOOT_CMDLINE_MAX - 1;

    if (!is_bzimage(k->head)) {
        /* Raw vmlinux.bin: the whole file at 16 MiB, entered at its start. */
        k->fmt = KERNEL_RAW;
        k->load_addr = BOOT_RAW_KERNEL_ADDR;
        k->file_off = 0;
        k->load_size = size;
        k->entry = BOOT_RAW_KERNEL_ADDR;
        k->end = k->load_addr + size;
        if (low_end < BOOT_RAW_KERNEL_ADDR || size > low_end - BOOT_RAW_KERNEL_ADDR) {
            g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOSPC,
                        "kernel '%s' is not a bzImage and too large (%"
                        G_GUINT64_FORMAT " bytes) to load as a raw image at 0x%x "
                        "in guest RAM ending at 0x%" G_GINT64_MODIFIER "x",
                        path, size, BOOT_RAW_KERNEL_ADDR, low_end);
            return false;
        }
        return true;
    }

    k->fmt = KERNEL_BZIMAGE;
    k->version = get_le16(k->head + HDR_VERSION);

    /* Setup header length: the jump at 0x200 lands right after it. */
    k->hdr_len = MIN((size_t)(HDR_MAGIC + k->head[HDR_JUMP + 1] - HDR_START),
                     (size_t)(HDR_ZP_END - HDR_START));

    unsigned setup_sects = k->head[HDR_SETUP_SECTS] ? k->head[HDR_SETUP_SECTS] : 4;
    k->file_off = (uint64_t)(setup_sects + 1) * 512;
    if (k->file_off >= size) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "kernel '%s' is truncated: its protected-mode code would start "
                    "at offset %" G_GUINT64_FORMAT " of a %" G_GUINT64_FORMAT
                    "-byte file", path, k->file_off, size);
        return false;
    }
    k->load_size = size - k->file_off;
    k->load_addr = get_le32(k->head + HDR_CODE32_START);
    if (k->load_addr < BOOT_HIGH_MEM_START) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "kernel '%s' asks to be loaded at 0x%" G_GINT64_MODIFIER
                    "x, below 1 MiB", path, k->load_addr);
        return false;
    }
    if (k->version >= 0x20c &&
        !(get_le16(k->head + HDR_XLOADFLAGS) & XLF_KERNEL_64)) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "kernel '%s' has no 64-bit entry point (XLF_KERNEL_64 not set)",
                    path);
        return false;
    }
    if (k->load_addr >= low_end || k->load_size > low_end - k->load_addr) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOSPC,
                    "kernel '%s' (%" G_GUINT64_FORMAT " bytes at 0x%"
                    G_GINT64_MODIFIER "x) does not fit in guest RAM ending at 0x%"
                    G_GINT64_MODIFIER "x", path, k->load_size, k->load_addr, low_end);
        return false;
    }
    k->entry = k->load_addr + BZ_ENTRY64_OFFSET;
    k->end = k->load_addr + k->load_size;

    /*
     * The decompressor works in [base, base + init_size): a relocatable
     * kernel uses the load address rounded up to kernel_alignment but not
     * below pref_address (LOAD_PHYSICAL_ADDR); a fixed one uses pref_address.
     * Keep the initrd out of that range (and of the loaded image itself).
     */
    if (k->version >= 0x20a) {
        uint64_t init_size = get_le32(k->head + HDR_INIT_SIZE);
        uint64_t pref = get_le64(k->head + HDR_PREF_ADDRESS);
        uint64_t align = get_le32(k->head + HDR_KERNEL_ALIGNMENT);
        uint64_t base = k->load_addr;

        if (k->head[HDR_RELOCATABLE] && align && (align & (align - 1)) == 0 &&
            align <= low_end) {
            base = (base + align - 1) & ~(align - 1);
        }
        base = MAX(base, pref);
        if (init_size) {
            if (base >= low_end || init_size > low_end - base) {
                g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOSPC,
                            "kernel '%s' needs %" G_GUINT64_FORMAT " bytes at 0x%"
                            G_GINT64_MODIFIER "x to decompress, beyond guest RAM "
                            "ending at 0x%" G_GINT64_MODIFIER "x",
                            path, init_size, base, low_end);
                return false;
            }
            k->end = MAX(k->end, base + init_size);
        }
    }

    if (k->version >= 0x203) {
        uint64_t max = get_le32(k->head + HDR_INITRD_ADDR_MAX);
        if (max) {
            k->initrd_max = MIN(k->initrd_max, max);
        }
    }
    if (k->version >= 0x206) {
        k->cmdline_max = MIN(k->cmdline_max, (uint64_t)get_le32(k->head + HDR_CMDLINE_SIZE));
    } else {
        k->cmdline_max = MIN(k->cmdline_max, (uint64_t)255);   /* boot.rst */
    }
    return true;
}

static bool write_guest(GuestRam *ram, uint64_t gpa, const void *buf, size_t len,
                        const char *what, GError **err)
{
    if (!guest_ram_write(ram, gpa, buf, len)) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOSPC,
                    "guest RAM does not cover the %s at 0x%" G_GINT64_MODIFIER "x",
                    what, gpa);
        return false;
    }
    return true;
}

static bool write_mptable(GuestRam *ram, unsigned ncpus, uint64_t ioapic_addr,
                          GError **err)
{
    uint8_t ebda[BOOT_EBDA_SIZE] = { 0 };
    size_t cfg_size = x86_mp_config_size(ncpus);
    bool ok;

    if (cfg_size == 0) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "invalid vCPU count %u for the MP table (1..%d)",
                    ncpus, X86_MP_MAX_CPUS);
        return false;
    }
    if (x86_build_mptable(ebda, sizeof(ebda), BOOT_MPTABLE_ADDR, ncpus,
                          ioapic_addr)) {
        return write_guest(ram, BOOT_MPTABLE_ADDR, ebda, sizeof(ebda), "MP table",
                           err);
    }

    /* Too many vCPUs for the EBDA: config table in the reserved BIOS area. */
    g_assert(cfg_size <= BOOT_MPTABLE_HIGH_SIZE);
    uint8_t *cfg = g_malloc0(cfg_size);
    ok = x86_build_mp_config(cfg, cfg_size, ncpus, ioapic_addr) == cfg_size &&
         x86_build_mp_floating(ebda, sizeof(ebda), BOOT_MPTABLE_HIGH_ADDR) &&
         write_guest(ram, BOOT_MPTABLE_HIGH_ADDR, cfg, cfg_size,
                     "MP configuration table", err) &&
         write_guest(ram, BOOT_MPTABLE_ADDR, ebda, sizeof(ebda), "MP table", err);
    g_free(cfg);
    if (!ok && err && !*err) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                    "cannot build the MP table for %u vCPUs", ncpus);
    }
    return ok;
}

static bool write_gdt_idt_pagetables(GuestRam *ram, GError **err)
{
    uint64_t gdt[GDT_ENTRIES] = {
        0, 0, GUINT64_TO_LE(GDT_CODE), GUINT64_TO_LE(GDT_DATA),
    };
    uint64_t idt = 0;
    uint64_t *table = g_new0(uint64_t, 512);
    bool ok;

    ok = write_guest(ram, BOOT_GDT_ADDR, gdt, sizeof(gdt), "GDT", err) &&
         write_guest(ram, BOOT_IDT_ADDR, &idt, sizeof(idt), "IDT", err);

    if (ok) {
        table[0] = GUINT64_TO_LE(BOOT_PDPT_ADDR | PTE_PRESENT_RW);
        ok = write_guest(ram, BOOT_PML4_ADDR, table, PAGE_SIZE_4K, "PML4", err);
    }
    if (ok) {
        table[0] = GUINT64_TO_LE(BOOT_PD_ADDR | PTE_PRESENT_RW);
        ok = write_guest(ram, BOOT_PDPT_ADDR, table, PAGE_SIZE_4K, "PDPT", err);
    }
    if (ok) {
        /* Identity map of the first 1 GiB with 2 MiB pages. */
        for (uint64_t i = 0; i < 512; i++) {
            table[i] = GUINT64_TO_LE((i << 21) | PDE_2M_PAGE);
        }
        ok = write_guest(ram, BOOT_PD_ADDR, table, PAGE_SIZE_4K, "page directory",
                         err);
    }
    g_free(table);
    return ok;
}

bool x86_load_linux(GuestRam *ram, const X86BootConfig *cfg, X86BootState *state,
                    GError **err)
{
    const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
    size_t cmdline_len = strlen(cmdline);
    uint64_t low_end = low_ram_end(ram);
    uint64_t kernel_size = 0, initrd_size = 0, initrd_addr = 0;
    uint64_t ioapic_addr = cfg->ioapic_addr ? cfg->ioapic_addr : 0xfec00000ULL;
    int kfd = -1, ifd = -1;
    bool ok = false;
    KernelImage k;
    E820Entry e820[E820_MAX_ENTRIES];
    size_t n_e820;
    uint8_t *zp = NULL;

    if (low_end <= BOOT_HIGH_MEM_START) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOSPC,
                    "guest RAM at address 0 is missing or smaller than 1 MiB");
        return false;
    }
    if (cfg->ncpus == 0 || cfg->ncpus > X86_MP_MAX_CPUS) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "invalid vCPU count %u for the MP table (1..%d)",
                    cfg->ncpus, X86_MP_MAX_CPUS);
        return false;
    }

    /* ---- validate everything ---- */
    kfd = open_image("kernel", cfg->kernel, &kernel_size, err);
    if (kfd < 0) {
        return false;
    }
    if (!probe_kernel(kfd, cfg->kernel, kernel_size, low_end, &k, err)) {
        goto out;
    }
    if (cmdline_len > k.cmdline_max) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "kernel command line too long (%zu bytes): kernel '%s' accepts "
                    "at most %" G_GUINT64_FORMAT, cmdline_len, cfg->kernel,
                    k.cmdline_max);
        goto out;
    }

    if (cfg->initrd) {
        uint64_t top;

        ifd = open_image("initrd", cfg->initrd, &initrd_size, err);
        if (ifd < 0) {
            goto out;
        }
        /* (min(limit, RAM end, kernel's initrd_addr_max) - size) & ~0xfff */
        top = MIN(k.initrd_max, low_end);
        if (initrd_size > top || ((top - initrd_size) & ~(PAGE_SIZE_4K - 1)) < k.end) {
            g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOSPC,
                        "initrd '%s' is too large (%" G_GUINT64_FORMAT " bytes): it "
                        "must fit between the kernel end 0x%" G_GINT64_MODIFIER
                        "x and 0x%" G_GINT64_MODIFIER "x", cfg->initrd, initrd_size,
                        k.end, top);
            goto out;
        }
        initrd_addr = (top - initrd_size) & ~(PAGE_SIZE_4K - 1);
    }

    n_e820 = x86_build_e820(ram, e820, E820_MAX_ENTRIES);
    if (n_e820 > E820_MAX_ENTRIES) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "guest RAM layout needs %zu e820 entries (max %d)",
                    n_e820, E820_MAX_ENTRIES);
        goto out;
    }
    zp = g_malloc0(PAGE_SIZE_4K);
    if (!x86_build_zero_page(zp, k.fmt == KERNEL_BZIMAGE ? k.head + HDR_START : NULL,
                             k.hdr_len, k.fmt, BOOT_CMDLINE_ADDR, cmdline_len,
                             initrd_addr, initrd_size, e820, n_e820, err)) {
        goto out;
    }
    x86_zero_page_set_rsdp(zp, cfg->acpi_rsdp_addr);

    /* ---- load ---- */
    if (!read_into_guest(ram, kfd, k.file_off, k.load_addr, k.load_size, "kernel",
                         cfg->kernel, err)) {
        goto out;
    }
    if (ifd >= 0 && !read_into_guest(ram, ifd, 0, initrd_addr, initrd_size, "initrd",
                                     cfg->initrd, err)) {
        goto out;
    }
    if (!write_guest(ram, BOOT_CMDLINE_ADDR, cmdline, cmdline_len + 1,
                     "kernel command line", err) ||
        !write_guest(ram, BOOT_ZERO_PAGE_ADDR, zp, PAGE_SIZE_4K, "zero page", err) ||
        !write_mptable(ram, cfg->ncpus, ioapic_addr, err) ||
        !write_gdt_idt_pagetables(ram, err)) {
        goto out;
    }

    memset(state, 0, sizeof(*state));
    state->rip = k.entry;
    state->rsp = BOOT_STACK_ADDR;
    state->rsi = BOOT_ZERO_PAGE_ADDR;
    state->cr0 = BOOT_CR0;
    state->cr3 = BOOT_PML4_ADDR;
    state->cr4 = BOOT_CR4;
    state->efer = BOOT_EFER;
    state->gdt_base = BOOT_GDT_ADDR;
    state->gdt_limit = GDT_ENTRIES * 8 - 1;
    state->idt_base = BOOT_IDT_ADDR;
    state->idt_limit = 7;
    state->code_desc = GDT_CODE;
    state->data_desc = GDT_DATA;
    state->format = k.fmt;
    state->initrd_addr = initrd_addr;
    state->initrd_size = initrd_size;
    ok = true;

out:
    g_free(zp);
    if (ifd >= 0) {
        close(ifd);
    }
    if (kfd >= 0) {
        close(kfd);
    }
    return ok;
}
