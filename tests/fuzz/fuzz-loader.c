/*
 * libFuzzer target for the x86 direct-boot loader (x86_load_linux: kernel
 * probe, setup header, zero page, e820, initrd placement, MP table) with a
 * 128 MiB guest. The files are memfds opened through /proc/self/fd, so the
 * loader runs its real open/fstat/pread path without touching the disk.
 *
 * The first input byte picks the mode and the machine shape:
 *   bits 0-1  0: the rest of the input is the kernel file (raw or bzImage)
 *             1: a structured bzImage: header fields taken from the input
 *                (each either raw bytes or an "interesting" value around the
 *                RAM and protocol limits), then payload, then the initrd
 *             2: a valid bzImage; the rest of the input is the initrd
 *             3: like 1, and the command line also comes from the input
 *   bit 2     RAM split at 64 MiB (low block + a block at 4 GiB)
 *   bits 3-7  vCPU count selector (1, 2, 40, 41, 254, 0, 255, ...)
 *
 * On success the loaded image must be in guest RAM byte for byte (kernel
 * payload at the load address, initrd at initrd_addr, command line at
 * BOOT_CMDLINE_ADDR), and everything must lie inside RAM.
 *
 * Build and run: scripts/fuzz.sh [runs] loader
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <glib.h>

#include "hw/x86/loader.h"

#define RAM_SIZE (128ULL << 20)
#define MAX_PAYLOAD (64u << 10)

typedef struct Input {
    const uint8_t *p;
    size_t left;
} Input;

static uint8_t take8(Input *in)
{
    uint8_t v = 0;
    if (in->left) {
        v = *in->p++;
        in->left--;
    }
    return v;
}

static uint32_t take32(Input *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        v |= (uint32_t)take8(in) << (8 * i);
    }
    return v;
}

/* A 32-bit field: raw, an interesting constant, or the default. */
static uint32_t pick32(Input *in, uint32_t dflt)
{
    static const uint32_t interesting[] = {
        0, 1, 0xfff, 0x1000, 0x100000, 0x1000000, 0x200000, 0x37ffffff,
        (uint32_t)(RAM_SIZE - 0x1000), (uint32_t)RAM_SIZE, (uint32_t)(RAM_SIZE + 1),
        (uint32_t)(RAM_SIZE / 2), 0x7fffffff, 0x80000000, 0xfffff000, 0xffffffff,
    };
    uint8_t sel = take8(in);

    switch (sel & 3) {
    case 0:
        return take32(in);
    case 1:
        return interesting[(sel >> 2) % G_N_ELEMENTS(interesting)];
    case 2:
        return dflt + (uint32_t)(int8_t)take8(in) * 0x1000;
    default:
        return dflt;
    }
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v & 0xff;
    p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (v >> (8 * i)) & 0xff;
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/*
 * A bzImage: setup sectors + payload. With `in` the header fields come from
 * the input; without, a sane 2.15 header. Returns the file, *len its size.
 */
static uint8_t *make_bzimage(Input *in, size_t *len)
{
    static const uint16_t versions[] = {
        0x0200, 0x0201, 0x0202, 0x0203, 0x0205, 0x0206, 0x0209, 0x020a,
        0x020b, 0x020c, 0x020d, 0x020f, 0x0210, 0x0000, 0xffff,
    };
    uint8_t setup_sects = 4, jump = 0x6a, reloc = 1, loadflags = 1;
    uint16_t version = 0x020f, xlf = 1;
    uint32_t code32 = 0x100000, initrd_max = 0x7fffffff, align = 0x200000;
    uint32_t cmdline_size = 2048, init_size = 0x400000, payload = 4096;
    uint64_t pref = 0x1000000;
    uint8_t *k;

    if (in) {
        uint8_t v = take8(in);
        setup_sects = take8(in);
        jump = take8(in);
        loadflags = take8(in);
        reloc = take8(in);
        version = (v & 0x80) ? (uint16_t)take32(in) : versions[v % G_N_ELEMENTS(versions)];
        xlf = (uint16_t)take32(in);
        code32 = pick32(in, code32);
        initrd_max = pick32(in, initrd_max);
        align = pick32(in, align);
        cmdline_size = pick32(in, cmdline_size);
        init_size = pick32(in, init_size);
        pref = ((uint64_t)pick32(in, 0) << 32) | pick32(in, (uint32_t)pref);
        payload = pick32(in, payload) % MAX_PAYLOAD;
    }
    *len = (size_t)((setup_sects ? setup_sects : 4) + 1) * 512 + payload;
    if (in && (payload & 1)) {
        /* sometimes truncated inside the setup sectors */
        *len = 0x290 + payload % 2048;
    }
    k = g_malloc0(MAX(*len, 0x290));
    k[0x1f1] = setup_sects;
    put16(k + 0x1fe, 0xaa55);
    k[0x200] = 0xeb;
    k[0x201] = jump;
    memcpy(k + 0x202, "HdrS", 4);
    put16(k + 0x206, version);
    k[0x211] = loadflags;
    put32(k + 0x214, code32);
    put32(k + 0x22c, initrd_max);
    put32(k + 0x230, align);
    k[0x234] = reloc;
    put16(k + 0x236, xlf);
    put32(k + 0x238, cmdline_size);
    put64(k + 0x258, pref);
    put32(k + 0x260, init_size);
    /* payload: recognisable bytes */
    for (size_t i = 0x290; i < *len; i++) {
        k[i] = (uint8_t)(i * 7 + 3);
    }
    return k;
}

/* A memfd holding buf, and the path that opens it. */
static int make_file(const char *name, const void *buf, size_t len, char *path,
                     size_t path_len)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    const uint8_t *p = buf;

    if (fd < 0) {
        abort();
    }
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) {
            abort();
        }
        p += n;
        len -= (size_t)n;
    }
    snprintf(path, path_len, "/proc/self/fd/%d", fd);
    return fd;
}

static void check_loaded(GuestRam *ram, const X86BootState *st, const uint8_t *kernel,
                         size_t klen, const uint8_t *initrd, size_t ilen,
                         const char *cmdline)
{
    uint8_t *p;
    uint64_t off = 0, load = BOOT_RAW_KERNEL_ADDR;

    if (st->format == KERNEL_BZIMAGE) {
        uint8_t ss = kernel[0x1f1] ? kernel[0x1f1] : 4;
        off = (uint64_t)(ss + 1) * 512;
        load = kernel[0x214] | kernel[0x215] << 8 | kernel[0x216] << 16 |
               (uint64_t)kernel[0x217] << 24;
        if (st->rip != load + 0x200) {
            abort();
        }
    } else if (st->rip != BOOT_RAW_KERNEL_ADDR) {
        abort();
    }
    if (off >= klen) {
        abort();
    }
    p = guest_ram_ptr(ram, load, klen - off);
    if (!p || memcmp(p, kernel + off, klen - off) != 0) {
        abort();
    }
    if (initrd) {
        p = guest_ram_ptr(ram, st->initrd_addr, ilen);
        if (st->initrd_size != ilen || !p || memcmp(p, initrd, ilen) != 0 ||
            (st->initrd_addr & 0xfff) || st->initrd_addr + ilen > BOOT_INITRD_LIMIT + 1 ||
            st->initrd_addr < load + (klen - off)) {
            abort();
        }
    } else if (st->initrd_size || st->initrd_addr) {
        abort();
    }
    p = guest_ram_ptr(ram, BOOT_CMDLINE_ADDR, strlen(cmdline) + 1);
    if (!p || strcmp((char *)p, cmdline) != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned cpu_counts[] = { 1, 2, 4, 40, 41, 64, 128, 254, 0, 255, 8, 16 };
    static GuestRam rams[2];
    static bool inited;
    Input in = { data, size };
    uint8_t sel = take8(&in);
    unsigned mode = sel & 3;
    GuestRam *ram = &rams[(sel >> 2) & 1];
    X86BootConfig cfg = { 0 };
    X86BootState st;
    GError *err = NULL;
    uint8_t *kernel = NULL;
    const uint8_t *initrd = NULL;
    size_t klen = 0, ilen = 0;
    char kpath[64], ipath[64];
    char *cmdline = NULL;
    int kfd, ifd = -1;
    bool ok;

    if (!inited) {
        if (!guest_ram_init(&rams[0], RAM_SIZE, 3ULL << 30, false, true, NULL) ||
            !guest_ram_init(&rams[1], RAM_SIZE, RAM_SIZE / 2, false, true, NULL)) {
            abort();
        }
        inited = true;
    }
    cfg.ncpus = cpu_counts[(sel >> 3) % G_N_ELEMENTS(cpu_counts)];

    switch (mode) {
    case 0:
        klen = in.left;
        kernel = g_memdup2(in.p, klen);
        break;
    case 1:
    case 3:
        kernel = make_bzimage(&in, &klen);
        if (mode == 3) {
            size_t n = take8(&in);
            n = MIN(n * 17, in.left);
            cmdline = g_strndup((const char *)in.p, n);
            in.p += n;
            in.left -= n;
        }
        if (in.left) {
            initrd = in.p;
            ilen = in.left;
        }
        break;
    case 2:
        kernel = make_bzimage(NULL, &klen);
        initrd = in.p;
        ilen = in.left;
        break;
    }
    if (!cmdline) {
        cmdline = g_strdup("console=ttyS0 reboot=k panic=1");
    }

    kfd = make_file("kernel", kernel, klen, kpath, sizeof(kpath));
    cfg.kernel = kpath;
    if (initrd) {
        ifd = make_file("initrd", initrd, ilen, ipath, sizeof(ipath));
        cfg.initrd = ipath;
    }
    cfg.cmdline = cmdline;

    ok = x86_load_linux(ram, &cfg, &st, &err);
    if (ok == (err != NULL)) {
        abort();
    }
    if (ok) {
        check_loaded(ram, &st, kernel, klen, initrd, ilen, cmdline);
    } else {
        if (!err->message[0] || strchr(err->message, '\n')) {
            abort();
        }
        g_error_free(err);
    }

    close(kfd);
    if (ifd >= 0) {
        close(ifd);
    }
    g_free(kernel);
    g_free(cmdline);
    return 0;
}
