/*
 * What q35 hands the firmware through fw_cfg with -drive if=pflash
 * (src/hw/x86/x86-firmware.c, docs/q35.md "Firmware boot"): the ACPI tables
 * as etc/acpi/tables and etc/acpi/rsdp plus the etc/table-loader script.
 * The test runs the script as OVMF does (allocate, add pointers, store
 * checksums) at made-up addresses and checks the result: the RSDP's two
 * checksums, the XSDT reaching FACP, APIC and MCFG, the FADT reaching DSDT
 * and FACS, every table summing to 0. Without firmware there is no loader.
 */
#include <unistd.h>

#include "qtest.h"

#define ENTRY 128
#define FNAME 56

typedef struct Blob {
    const char *name;
    uint8_t *data;
    uint32_t size;
    uint64_t addr;                 /* where the "firmware" put it */
} Blob;

static uint8_t *get_file(QTestState *s, const char *name, uint32_t *size)
{
    uint8_t *p = qtest_fw_cfg_file(s, name, size);

    g_assert_nonnull(p);
    return p;
}

static Blob *blob(Blob *b, const char *name)
{
    for (int i = 0; i < 2; i++) {
        if (!strcmp(b[i].name, name)) {
            return &b[i];
        }
    }
    g_assert_not_reached();
}

static uint8_t sum(const uint8_t *p, uint32_t n)
{
    uint8_t v = 0;

    while (n--) {
        v += *p++;
    }
    return v;
}

/* OVMF's two passes' effect: pointers relocated, checksums stored. */
static void run_loader(const uint8_t *script, uint32_t len, Blob *b)
{
    g_assert_cmpuint(len % ENTRY, ==, 0);
    for (uint32_t at = 0; at < len; at += ENTRY) {
        const uint8_t *e = script + at;
        uint32_t cmd, off, start, n;
        memcpy(&cmd, e, 4);
        if (cmd == 1) {                                   /* ALLOCATE */
            Blob *x = blob(b, (const char *)e + 4);
            uint32_t align;
            memcpy(&align, e + 4 + FNAME, 4);
            g_assert_cmpuint(x->addr % align, ==, 0);
        } else if (cmd == 2) {                            /* ADD_POINTER */
            Blob *dst = blob(b, (const char *)e + 4), *src = blob(b, (const char *)e + 4 + FNAME);
            uint64_t v = 0;
            uint8_t size = e[4 + 2 * FNAME + 4];
            memcpy(&off, e + 4 + 2 * FNAME, 4);
            g_assert_cmpuint(off + size, <=, dst->size);
            memcpy(&v, dst->data + off, size);
            g_assert_cmpuint(v, <, src->size);
            v += src->addr;
            memcpy(dst->data + off, &v, size);
        } else if (cmd == 3) {                            /* ADD_CHECKSUM */
            Blob *x = blob(b, (const char *)e + 4);
            memcpy(&off, e + 4 + FNAME, 4);
            memcpy(&start, e + 8 + FNAME, 4);
            memcpy(&n, e + 12 + FNAME, 4);
            g_assert_cmpuint(start + n, <=, x->size);
            x->data[off] = (uint8_t)(0 - sum(x->data + start, n));
        } else {
            g_assert_not_reached();
        }
    }
}

/* The table at a relocated address; its checksum (FACS: none) must hold. */
static const uint8_t *table_at(Blob *tables, uint64_t addr, const char *sig)
{
    const uint8_t *t;
    uint32_t len;

    g_assert_cmpuint(addr, >=, tables->addr);
    g_assert_cmpuint(addr - tables->addr + 36, <=, tables->size);
    t = tables->data + (addr - tables->addr);
    g_assert_cmpmem(t, 4, sig, 4);
    memcpy(&len, t + 4, 4);
    if (strcmp(sig, "FACS") != 0) {
        g_assert_cmpuint(sum(t, len), ==, 0);
    }
    return t;
}

static void test_acpi_through_fw_cfg(void)
{
    g_autofree char *code = qtest_blank_flash_image(65536);
    g_autofree uint8_t *script = NULL;
    Blob b[2] = { { .name = "etc/acpi/rsdp", .addr = 0xf5a10 },
                  { .name = "etc/acpi/tables", .addr = 0x1fb78000 } };
    uint32_t len, n = 0;
    uint64_t xsdt = 0, facs = 0, dsdt = 0;
    const uint8_t *x, *fadt = NULL;
    QTestState *s;

    s = qtest_initf("-machine q35 -drive if=pflash,format=raw,readonly=on,file=%s", code);
    script = get_file(s, "etc/table-loader", &len);
    b[0].data = get_file(s, "etc/acpi/rsdp", &b[0].size);
    b[1].data = get_file(s, "etc/acpi/tables", &b[1].size);
    run_loader(script, len, b);
    g_assert_cmpuint(b[0].size, ==, 36);
    g_assert_cmpmem(b[0].data, 8, "RSD PTR ", 8);
    g_assert_cmpuint(sum(b[0].data, 20), ==, 0);
    g_assert_cmpuint(sum(b[0].data, 36), ==, 0);
    memcpy(&xsdt, b[0].data + 24, 8);
    x = table_at(&b[1], xsdt, "XSDT");
    memcpy(&len, x + 4, 4);
    for (uint32_t at = 36; at < len; at += 8, n++) {
        uint64_t a = 0;
        memcpy(&a, x + at, 8);
        const uint8_t *t = b[1].data + (a - b[1].addr);
        g_assert_cmpuint(a - b[1].addr + 36, <=, b[1].size);
        table_at(&b[1], a, (const char[5]){ t[0], t[1], t[2], t[3], 0 });
        fadt = !memcmp(t, "FACP", 4) ? t : fadt;
    }
    g_assert_cmpuint(n, ==, 3);                        /* FACP, APIC, MCFG */
    g_assert_nonnull(fadt);
    memcpy(&facs, fadt + 132, 8);
    memcpy(&dsdt, fadt + 140, 8);
    table_at(&b[1], facs, "FACS");
    table_at(&b[1], dsdt, "DSDT");
    /* S0 and S5 available; S3 (SLP_TYP 1) and S4 (2) listed but unavailable. */
    g_free(script);
    script = get_file(s, "etc/system-states", &len);
    g_assert_cmpuint(len, ==, 6);
    g_assert_cmpmem(script, 6, ((const uint8_t[6]){ 0x80, 0, 0, 0x01, 0x02, 0x80 }), 6);
    /* No -kernel: no command line items (QEMU's pc boards give none), size reads 0. */
    qtest_outw(s, 0x510, 0x14);
    for (int i = 0; i < 4; i++) {
        g_assert_cmphex(qtest_inb(s, 0x511), ==, 0);
    }
    qtest_quit(s);
    unlink(code);
    g_free(b[0].data);
    g_free(b[1].data);
}

/* The 64-bit window of PCI0's _CRS: the tables' one QWordMemory descriptor. */
static void window64(const uint8_t *t, uint32_t len, uint64_t *min, uint64_t *max)
{
    for (uint32_t i = 0; i + 46 <= len; i++) {
        if (t[i] == 0x8a && t[i + 1] == 0x2b && t[i + 2] == 0 && t[i + 3] == 0) {
            memcpy(min, t + i + 14, 8);
            memcpy(max, t + i + 22, 8);
            return;
        }
    }
    g_assert_not_reached();
}

static uint64_t ecam(unsigned slot, unsigned reg)
{
    return 0xB0000000ULL + ((uint64_t)slot << 15) + reg;
}

/* Reads etc/acpi/tables and returns its 64-bit window; the size never changes. */
static uint64_t first_byte_of_window64(QTestState *s, uint32_t want_len)
{
    uint32_t len;
    g_autofree uint8_t *t = get_file(s, "etc/acpi/tables", &len);
    uint64_t min, max;

    g_assert_cmpuint(len, ==, want_len);
    window64(t, len, &min, &max);
    g_assert_cmphex(max, ==, 0xffffffffffULL);
    return min;
}

/*
 * As QEMU: the tables are built again at the firmware's first read after a
 * reset, from the BARs it placed. OVMF's 64-bit aperture starts at 32 GiB;
 * the window grows down to cover a BAR placed there, later moves count only
 * after the next reset, and the layout (sizes, loader script) stays.
 */
static void test_tables_follow_placed_bars(void)
{
    g_autofree char *code = qtest_blank_flash_image(65536);
    g_autofree char *disk = qtest_blank_flash_image(1 << 20);
    g_autofree uint8_t *script = NULL, *script2 = NULL;
    uint32_t len, len2, tables_len;
    QTestState *s = qtest_initf("-machine q35 -drive if=pflash,format=raw,readonly=on,file=%s "
                                "-drive if=none,id=d0,file=%s,format=raw,direct=off "
                                "-device virtio-blk-pci,drive=d0,addr=0x4", code, disk);

    g_assert_cmpuint(qtest_fw_cfg_find(s, "etc/acpi/tables", &tables_len), !=, 0);
    script = get_file(s, "etc/table-loader", &len);  /* the first read: nothing placed */
    g_assert_cmphex(first_byte_of_window64(s, tables_len), ==, 0x8000000000ULL);
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    /* BAR 4 (64-bit) where OVMF puts it here, then the first read */
    qtest_writel(s, ecam(4, 0x20), 0);
    qtest_writel(s, ecam(4, 0x24), 0x8);
    g_assert_cmphex(first_byte_of_window64(s, tables_len), ==, 0x800000000ULL);
    qtest_writel(s, ecam(4, 0x24), 0x2);
    g_assert_cmphex(first_byte_of_window64(s, tables_len), ==, 0x800000000ULL);
    script2 = get_file(s, "etc/table-loader", &len2);
    g_assert_cmpmem(script, len, script2, len2);
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    qtest_writel(s, ecam(4, 0x24), 0x2);
    g_assert_cmphex(first_byte_of_window64(s, tables_len), ==, 0x200000000ULL);
    qtest_quit(s);
    unlink(code);
    unlink(disk);
}

/* Direct kernel boot writes the tables into RAM itself: no loader script. */
static void test_no_loader_without_firmware(void)
{
    QTestState *s = qtest_init("-machine q35");
    uint32_t size = 0;

    g_assert_cmpuint(qtest_fw_cfg_find(s, "etc/table-loader", &size), ==, 0);
    g_assert_cmpuint(qtest_fw_cfg_find(s, "etc/system-states", &size), ==, 0);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/q35-firmware/acpi-through-fw-cfg", test_acpi_through_fw_cfg);
    g_test_add_func("/q35-firmware/no-loader-without-firmware", test_no_loader_without_firmware);
    g_test_add_func("/q35-firmware/tables-follow-placed-bars", test_tables_follow_placed_bars);
    return g_test_run();
}
