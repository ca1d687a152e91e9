/*
 * ACPI tables (hw/acpi/acpi-tables.h), microvm's set (hw/x86/microvm-acpi.c) and
 * q35's (hw/x86/q35-acpi.c):
 * lengths, checksums, the fields each writer fills, the layout from the
 * RSDP down, and a 2-vCPU microvm with COM1 and several virtio transports.
 */
#include <string.h>

#include "hw/acpi/acpi-tables.h"
#include "hw/x86/microvm.h"
#include "hw/x86/q35.h"
#include "hw/misc/pm.h"

static uint64_t le(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;

    for (size_t i = 0; i < len; i++) {
        s += p[i];
    }
    return s;
}

/* A finished table: its signature, length field = size, bytes summing to 0. */
static void check_table(const GByteArray *t, const char *sig, uint8_t rev, size_t len)
{
    g_assert_cmpuint(t->len, ==, len);
    g_assert_cmpmem(t->data, 4, sig, 4);
    g_assert_cmpuint(le(t->data + 4, 4), ==, len);
    g_assert_cmpuint(t->data[8], ==, rev);
    g_assert_cmpmem(t->data + 10, 6, ACPI_OEM_ID, 6);
    g_assert_cmpmem(t->data + 16, 8, ACPI_OEM_TABLE_ID, 8);
    g_assert_cmpuint(sum(t->data, t->len), ==, 0);
}

static void test_checksum(void)
{
    uint8_t b[5] = { 1, 2, 3, 0xf0, 0 };

    b[4] = acpi_checksum(b, 4);
    g_assert_cmphex(b[4], ==, 0x0a);
    g_assert_cmpuint(sum(b, 5), ==, 0);
    g_assert_cmphex(acpi_checksum(b, 0), ==, 0);
}

static void test_dsdt_facs(void)
{
    Aml *body = aml_seq();
    GByteArray *t;

    aml_append(body, aml_name_decl("\\_S5", aml_int(0)));
    t = acpi_build_dsdt(body);
    check_table(t, "DSDT", 2, ACPI_HEADER_SIZE + 7);
    g_assert_cmpmem(t->data + 36, 7, "\x08\x5c_S5_\x00", 7);
    g_byte_array_free(t, TRUE);

    t = acpi_build_facs();
    g_assert_cmpuint(t->len, ==, 64);
    g_assert_cmpmem(t->data, 4, "FACS", 4);
    g_assert_cmpuint(le(t->data + 4, 4), ==, 64);
    g_assert_cmpuint(t->data[32], ==, 2);
    g_byte_array_free(t, TRUE);
}

static void check_gas(const uint8_t *p, uint8_t space, uint8_t bits, uint8_t access,
                      uint64_t addr)
{
    g_assert_cmpuint(p[0], ==, space);
    g_assert_cmpuint(p[1], ==, bits);
    g_assert_cmpuint(p[2], ==, 0);
    g_assert_cmpuint(p[3], ==, access);
    g_assert_cmphex(le(p + 4, 8), ==, addr);
}

static void test_fadt_hw_reduced(void)
{
    AcpiFadtDesc d = {
        .hw_reduced = true,
        .dsdt = 0xe0040,
        .sleep_control = acpi_gas_io(0x605, 8),
        .sleep_status = acpi_gas_io(0x601, 8),
        .reset_reg = acpi_gas_io(0x64, 8),
        .reset_value = 0xfe,
        .iapc_boot_arch = ACPI_IAPC_NO_VGA,
    };
    GByteArray *t = acpi_build_fadt(&d);
    const uint8_t *f = t->data;

    check_table(t, "FACP", 6, 276);
    g_assert_cmphex(le(f + 40, 4), ==, 0xe0040);               /* DSDT */
    g_assert_cmphex(le(f + 140, 8), ==, 0xe0040);              /* X_DSDT */
    g_assert_cmphex(le(f + 36, 4), ==, 0);                     /* no FACS */
    g_assert_cmphex(le(f + 46, 2), ==, 0);                     /* no SCI */
    g_assert_cmphex(le(f + 56, 4), ==, 0);                     /* no PM1a_EVT_BLK */
    g_assert_cmphex(le(f + 64, 4), ==, 0);
    g_assert_cmphex(le(f + 109, 2), ==, ACPI_IAPC_NO_VGA);
    /* WBINVD | PWR_BUTTON | SLP_BUTTON | RESET_REG_SUP | HW_REDUCED_ACPI */
    g_assert_cmphex(le(f + 112, 4), ==, 0x100431);
    check_gas(f + 116, 1, 8, 1, 0x64);
    g_assert_cmphex(f[128], ==, 0xfe);
    g_assert_cmpuint(f[131], ==, 0);
    check_gas(f + 244, 1, 8, 1, 0x605);
    check_gas(f + 256, 1, 8, 1, 0x601);
    g_byte_array_free(t, TRUE);
}

static void test_fadt_pm1(void)
{
    AcpiFadtDesc d = {
        .dsdt = 0x7fe0000,
        .facs = 0x7fe0040,
        .sci_irq = 9,
        .pm1a_evt = 0x600, .pm1a_cnt = 0x604, .pm_tmr = 0x608,
        .gpe0 = 0x620, .gpe0_len = 16,
        .reset_reg = acpi_gas_io(0xcf9, 8),
        .reset_value = 0x0f,
        .iapc_boot_arch = ACPI_IAPC_LEGACY_DEVICES | ACPI_IAPC_8042,
    };
    GByteArray *t = acpi_build_fadt(&d);
    const uint8_t *f = t->data;

    check_table(t, "FACP", 6, 276);
    g_assert_cmphex(le(f + 36, 4), ==, 0x7fe0040);             /* FIRMWARE_CTRL */
    g_assert_cmphex(le(f + 132, 8), ==, 0x7fe0040);            /* X_FIRMWARE_CTRL */
    g_assert_cmphex(le(f + 46, 2), ==, 9);
    g_assert_cmphex(le(f + 56, 4), ==, 0x600);
    g_assert_cmphex(le(f + 64, 4), ==, 0x604);
    g_assert_cmphex(le(f + 76, 4), ==, 0x608);
    g_assert_cmphex(le(f + 80, 4), ==, 0x620);
    g_assert_cmpuint(f[88], ==, 4);                            /* PM1_EVT_LEN */
    g_assert_cmpuint(f[89], ==, 2);                            /* PM1_CNT_LEN */
    g_assert_cmpuint(f[91], ==, 4);                            /* PM_TMR_LEN */
    g_assert_cmpuint(f[92], ==, 16);                           /* GPE0_BLK_LEN */
    /* WBINVD | SLP_BUTTON | TMR_VAL_EXT | RESET_REG_SUP; fixed power button. */
    g_assert_cmphex(le(f + 112, 4), ==, 0x521);
    check_gas(f + 116, 1, 8, 1, 0xcf9);
    g_assert_cmphex(f[128], ==, 0x0f);
    check_gas(f + 148, 1, 32, 0, 0x600);                       /* X_PM1a_EVT_BLK */
    check_gas(f + 172, 1, 16, 0, 0x604);                       /* X_PM1a_CNT_BLK */
    check_gas(f + 208, 1, 32, 0, 0x608);                       /* X_PM_TMR_BLK */
    check_gas(f + 220, 1, 128, 0, 0x620);                      /* X_GPE0_BLK */
    check_gas(f + 244, 0, 0, 0, 0);                            /* no sleep registers */
    g_byte_array_free(t, TRUE);
}

static void test_madt(void)
{
    static const AcpiIrqOverride ov[] = {
        { 0, 2, 0 },
        { 9, 9, ACPI_MPS_ACTIVE_HIGH | ACPI_MPS_LEVEL },
    };
    AcpiMadtDesc d = {
        .ncpus = 3, .lapic_addr = 0xfee00000, .ioapic_id = 0,
        .ioapic_addr = 0xfec00000, .pcat_compat = true,
        .overrides = ov, .n_overrides = 2,
    };
    GByteArray *t = acpi_build_madt(&d);
    const uint8_t *p = t->data + 44;

    check_table(t, "APIC", 4, 36 + 8 + 3 * 8 + 12 + 2 * 10 + 6);
    g_assert_cmphex(le(t->data + 36, 4), ==, 0xfee00000);
    g_assert_cmphex(le(t->data + 40, 4), ==, 1);
    for (unsigned i = 0; i < 3; i++, p += 8) {
        static const uint8_t lapic[4] = { 0, 8 };
        g_assert_cmpmem(p, 2, lapic, 2);
        g_assert_cmpuint(p[2], ==, i);                         /* processor UID */
        g_assert_cmpuint(p[3], ==, i);                         /* APIC ID */
        g_assert_cmphex(le(p + 4, 4), ==, 1);                  /* enabled */
    }
    g_assert_cmpmem(p, 12, "\x01\x0c\x00\x00\x00\x00\xc0\xfe\x00\x00\x00\x00", 12);
    p += 12;
    g_assert_cmpmem(p, 10, "\x02\x0a\x00\x00\x02\x00\x00\x00\x00\x00", 10);
    p += 10;
    g_assert_cmpmem(p, 10, "\x02\x0a\x00\x09\x09\x00\x00\x00\x0d\x00", 10);
    p += 10;
    g_assert_cmpmem(p, 6, "\x04\x06\xff\x00\x00\x01", 6);
    g_byte_array_free(t, TRUE);
}

static void test_mcfg(void)
{
    GByteArray *t = acpi_build_mcfg(0xb0000000, 0, 0xff);

    check_table(t, "MCFG", 1, 60);
    g_assert_cmphex(le(t->data + 36, 8), ==, 0);
    g_assert_cmphex(le(t->data + 44, 8), ==, 0xb0000000);
    g_assert_cmphex(le(t->data + 52, 2), ==, 0);
    g_assert_cmpuint(t->data[54], ==, 0);
    g_assert_cmpuint(t->data[55], ==, 0xff);
    g_byte_array_free(t, TRUE);
}

static void test_rsdp_xsdt(void)
{
    uint8_t r[ACPI_RSDP_SIZE];
    uint64_t tables[2] = { 0xe0100, 0x100000000ULL };
    GByteArray *x = acpi_build_xsdt(tables, 2);

    acpi_build_rsdp(r, 0x123450);
    g_assert_cmpmem(r, 8, "RSD PTR ", 8);
    g_assert_cmpuint(sum(r, 20), ==, 0);
    g_assert_cmpuint(sum(r, 36), ==, 0);
    g_assert_cmpuint(r[15], ==, 2);
    g_assert_cmphex(le(r + 16, 4), ==, 0);                    /* no RSDT */
    g_assert_cmpuint(le(r + 20, 4), ==, 36);
    g_assert_cmphex(le(r + 24, 8), ==, 0x123450);
    check_table(x, "XSDT", 1, 36 + 16);
    g_assert_cmphex(le(x->data + 36, 8), ==, 0xe0100);
    g_assert_cmphex(le(x->data + 44, 8), ==, 0x100000000ULL);
    g_byte_array_free(x, TRUE);
}

/* acpi_image_*: RSDP at the base, tables aligned, XSDT listing the chosen ones. */
static void test_image(void)
{
    AcpiImage *img = acpi_image_new(0x1000);
    uint64_t dsdt = acpi_image_add(img, acpi_build_dsdt(aml_seq()), false);
    uint64_t facs = acpi_image_add(img, acpi_build_facs(), false);
    uint64_t mcfg = acpi_image_add(img, acpi_build_mcfg(0xb0000000, 0, 0xff), true);
    GByteArray *b = acpi_image_finish(img);
    uint64_t xsdt = le(b->data + 24, 8);
    const uint8_t *x = b->data + (xsdt - 0x1000);

    g_assert_cmphex(dsdt, ==, 0x1000 + 48);                   /* 36 rounded up to 16 */
    g_assert_cmphex(facs, ==, 0x1000 + 128);                  /* 64-byte aligned */
    g_assert_cmphex(mcfg, ==, 0x1000 + 192);
    g_assert_cmphex(xsdt, ==, 0x1000 + 256);                  /* 192 + 60 -> 256 */
    g_assert_cmpuint(b->len, ==, 256 + 36 + 8);
    g_assert_cmpuint(sum(b->data, 36), ==, 0);
    g_assert_cmpmem(x, 4, "XSDT", 4);
    g_assert_cmpuint(le(x + 4, 4), ==, 44);
    g_assert_cmphex(le(x + 36, 8), ==, mcfg);
    g_assert_cmpuint(sum(x, 44), ==, 0);
    g_byte_array_free(b, TRUE);
}

/* ---- microvm ---- */

static const uint8_t *at(const GByteArray *b, uint64_t gpa)
{
    g_assert_cmphex(gpa, >=, MICROVM_ACPI_BASE);
    g_assert_cmphex(gpa - MICROVM_ACPI_BASE, <, b->len);
    return b->data + (gpa - MICROVM_ACPI_BASE);
}

/* Occurrences of a string literal's bytes (NULs included, the terminator not). */
#define count(p, len, lit) count_mem((p), (len), (lit), sizeof(lit) - 1)

static unsigned count_mem(const uint8_t *p, size_t len, const char *needle, size_t n)
{
    unsigned c = 0;

    for (size_t i = 0; i + n <= len; i++) {
        c += !memcmp(p + i, needle, n);
    }
    return c;
}

static void test_microvm(void)
{
    MicrovmAcpiConfig c = { .ncpus = 2, .serial = true, .n_virtio = 10 };
    GByteArray *b = microvm_acpi_build(&c);
    const uint8_t *xsdt = at(b, le(b->data + 24, 8));
    const uint8_t *fadt, *madt, *dsdt;
    uint32_t dsdt_len;

    g_assert_cmpuint(b->len, <=, MICROVM_ACPI_SIZE);
    g_assert_cmpmem(b->data, 8, "RSD PTR ", 8);
    g_assert_cmpuint(sum(b->data, 20), ==, 0);
    g_assert_cmpuint(sum(b->data, 36), ==, 0);
    /* XSDT: FACP, APIC. */
    g_assert_cmpuint(le(xsdt + 4, 4), ==, 36 + 16);
    g_assert_cmpuint(sum(xsdt, 52), ==, 0);
    fadt = at(b, le(xsdt + 36, 8));
    madt = at(b, le(xsdt + 44, 8));
    g_assert_cmpmem(fadt, 4, "FACP", 4);
    g_assert_cmpuint(sum(fadt, 276), ==, 0);
    g_assert_cmphex(le(fadt + 112, 4) & ACPI_FADT_HW_REDUCED, !=, 0);
    g_assert_cmphex(le(fadt + 244 + 4, 8), ==, PM1A_CNT_BASE + 1);
    g_assert_cmphex(le(fadt + 256 + 4, 8), ==, PM1A_EVT_BASE + 1);
    g_assert_cmphex(le(fadt + 116 + 4, 8), ==, I8042_CMD_PORT);
    g_assert_cmphex(le(fadt + 109, 2), ==, ACPI_IAPC_NO_VGA | ACPI_IAPC_NO_CMOS_RTC);
    /* MADT: 2 LAPICs, the IOAPIC (id ncpus + 1 as in the MP table), the NMI; no overrides. */
    g_assert_cmpmem(madt, 4, "APIC", 4);
    g_assert_cmpuint(le(madt + 4, 4), ==, 44 + 2 * 8 + 12 + 6);
    g_assert_cmpuint(sum(madt, 78), ==, 0);
    g_assert_cmpmem(madt + 44, 8, "\x00\x08\x00\x00\x01\x00\x00\x00", 8);
    g_assert_cmpmem(madt + 52, 8, "\x00\x08\x01\x01\x01\x00\x00\x00", 8);
    g_assert_cmpmem(madt + 60, 8, "\x01\x0c\x03\x00\x00\x00\xc0\xfe", 8);
    /* DSDT: COM1, the GED and power button, one LNRO0005 per transport, _S5. */
    dsdt = at(b, le(fadt + 140, 8));
    dsdt_len = (uint32_t)le(dsdt + 4, 4);
    g_assert_cmpmem(dsdt, 4, "DSDT", 4);
    g_assert_cmpuint(sum(dsdt, dsdt_len), ==, 0);
    g_assert_cmpuint(count(dsdt, dsdt_len, "LNRO0005"), ==, 10);
    g_assert_cmpuint(count(dsdt, dsdt_len, "VR09"), ==, 1);
    g_assert_cmpuint(count(dsdt, dsdt_len, "VR0A"), ==, 0);
    g_assert_cmpuint(count(dsdt, dsdt_len, "COM1"), ==, 1);
    g_assert_cmpuint(count(dsdt, dsdt_len, "RTC_"), ==, 0);
    g_assert_cmpuint(count(dsdt, dsdt_len, "ACPI0013"), ==, 1);
    g_assert_cmpuint(count(dsdt, dsdt_len, "_S5_"), ==, 1);
    /* Transport 9: Memory32Fixed(0xF0101200, 0x200) and Interrupt(){14}. */
    g_assert_cmpuint(count(dsdt, dsdt_len, "\x86\x09\x00\x01\x00\x12\x10\xf0\x00\x02\x00\x00"),
                     ==, 1);
    g_assert_cmpuint(count(dsdt, dsdt_len, "\x89\x06\x00\x03\x01\x0e"), ==, 1);
    g_byte_array_free(b, TRUE);
}

/* No COM1 without -serial; the RTC flag follows rtc=. */
static void test_microvm_minimal(void)
{
    MicrovmAcpiConfig c = { .ncpus = 1, .rtc = true, .n_virtio = 8 };
    GByteArray *b = microvm_acpi_build(&c);
    const uint8_t *xsdt = at(b, le(b->data + 24, 8));
    const uint8_t *fadt = at(b, le(xsdt + 36, 8));
    const uint8_t *dsdt = at(b, le(fadt + 140, 8));
    uint32_t dsdt_len = (uint32_t)le(dsdt + 4, 4);

    g_assert_cmpuint(count(dsdt, dsdt_len, "COM1"), ==, 0);
    g_assert_cmpuint(count(dsdt, dsdt_len, "LNRO0005"), ==, 8);
    /* Device(RTC_) PNP0B00 with IO(0x70, 0x70, 1, 8) and IRQNoFlags(){8} */
    g_assert_cmpuint(count(dsdt, dsdt_len, "RTC_\x08_HID\x0c\x41\xd0\x0b\x00"), ==, 1);
    g_assert_cmpuint(count(dsdt, dsdt_len, "\x47\x01\x70\x00\x70\x00\x01\x08\x22\x00\x01"),
                     ==, 1);
    g_assert_cmphex(le(fadt + 109, 2), ==, ACPI_IAPC_NO_VGA);
    g_byte_array_free(b, TRUE);
}

/* The largest microvm fits in the reserved area. */
static void test_microvm_max(void)
{
    MicrovmAcpiConfig c = { .ncpus = 254, .serial = true,
                            .n_virtio = MICROVM_VIRTIO_IRQ_MAX - MICROVM_VIRTIO_IRQ_BASE + 1 };
    GByteArray *b = microvm_acpi_build(&c);

    g_assert_cmpuint(b->len, <=, MICROVM_ACPI_SIZE);
    g_byte_array_free(b, TRUE);
}

/* q35: full FADT over the PM1 block, FACS, MADT with the SCI override, MCFG, PCI0. */
static void test_q35(void)
{
    Q35AcpiConfig c = q35_acpi_config(2, true, false);
    GByteArray *b = q35_acpi_build(&c);
    const uint8_t *xsdt = at(b, le(b->data + 24, 8));
    const uint8_t *fadt, *madt, *mcfg, *dsdt;
    uint32_t dsdt_len;

    g_assert_cmpuint(b->len, <=, Q35_ACPI_SIZE);
    g_assert_cmpuint(sum(b->data, 36), ==, 0);
    /* XSDT: FACP, APIC, MCFG. */
    g_assert_cmpuint(le(xsdt + 4, 4), ==, 36 + 24);
    fadt = at(b, le(xsdt + 36, 8));
    madt = at(b, le(xsdt + 44, 8));
    mcfg = at(b, le(xsdt + 52, 8));
    g_assert_cmpmem(fadt, 4, "FACP", 4);
    g_assert_cmpuint(sum(fadt, 276), ==, 0);
    g_assert_cmphex(le(fadt + 112, 4) & (ACPI_FADT_HW_REDUCED | ACPI_FADT_PWR_BUTTON), ==, 0);
    g_assert_cmphex(le(fadt + 112, 4) & ACPI_FADT_RESET_REG_SUP, !=, 0);
    g_assert_cmpuint(le(fadt + 46, 2), ==, PM_SCI_GSI);
    g_assert_cmphex(le(fadt + 56, 4), ==, PM1A_EVT_BASE);
    g_assert_cmphex(le(fadt + 64, 4), ==, PM1A_CNT_BASE);
    g_assert_cmpmem(at(b, le(fadt + 132, 8)), 4, "FACS", 4);
    /* MADT: 2 LAPICs, the IOAPIC, the SCI's override (edge, high), the NMI. */
    g_assert_cmpmem(madt, 4, "APIC", 4);
    g_assert_cmpuint(le(madt + 4, 4), ==, 44 + 2 * 8 + 12 + 10 + 6);
    g_assert_cmpuint(sum(madt, (size_t)le(madt + 4, 4)), ==, 0);
    g_assert_cmpmem(madt + 72, 10, "\x02\x0a\x00\x03\x03\x00\x00\x00\x05\x00", 10);
    /* MCFG: ECAM 0xB0000000 for segment 0, buses 0..255. */
    g_assert_cmpmem(mcfg, 4, "MCFG", 4);
    g_assert_cmphex(le(mcfg + 44, 8), ==, Q35_ECAM_BASE);
    g_assert_cmpuint(mcfg[54], ==, 0);
    g_assert_cmpuint(mcfg[55], ==, 255);
    /* DSDT: PCI0 (PNP0A08 as EISA id 0x080AD041), its ECAM reservation, COM1, _S5. */
    dsdt = at(b, le(fadt + 140, 8));
    dsdt_len = (uint32_t)le(dsdt + 4, 4);
    g_assert_cmpuint(sum(dsdt, dsdt_len), ==, 0);
    g_assert_cmpuint(count(dsdt, dsdt_len, "PCI0"), >=, 1);
    g_assert_cmpuint(count(dsdt, dsdt_len, "\x0c\x41\xd0\x0a\x08"), ==, 1);
    g_assert_cmpuint(count(dsdt, dsdt_len, "_PRT"), ==, 1);
    g_assert_cmpuint(count(dsdt, dsdt_len, "_OSC"), ==, 1);
    g_assert_cmpuint(count(dsdt, dsdt_len, "COM1"), ==, 1);
    g_assert_cmpuint(count(dsdt, dsdt_len, "_S5_"), ==, 1);
    g_assert_cmpuint(count(dsdt, dsdt_len, "ACPI0013"), ==, 0);
    g_byte_array_free(b, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/acpi/tables/checksum", test_checksum);
    g_test_add_func("/acpi/tables/dsdt-facs", test_dsdt_facs);
    g_test_add_func("/acpi/tables/fadt-hw-reduced", test_fadt_hw_reduced);
    g_test_add_func("/acpi/tables/fadt-pm1", test_fadt_pm1);
    g_test_add_func("/acpi/tables/madt", test_madt);
    g_test_add_func("/acpi/tables/mcfg", test_mcfg);
    g_test_add_func("/acpi/tables/rsdp-xsdt", test_rsdp_xsdt);
    g_test_add_func("/acpi/tables/image", test_image);
    g_test_add_func("/acpi/microvm/2-vcpus", test_microvm);
    g_test_add_func("/acpi/microvm/minimal", test_microvm_minimal);
    g_test_add_func("/acpi/microvm/max", test_microvm_max);
    g_test_add_func("/acpi/q35/2-vcpus", test_q35);
    return g_test_run();
}
