/*
 * AML builder (hw/acpi/aml.h, acpi-pci.h): every encoding against bytes
 * worked out by hand from ACPI 6.4 §20 and §6.4 (and cross-checked once with
 * `iasl -d` on a DSDT built from them; the test itself needs no iasl).
 */
#include <string.h>

#include "hw/acpi/aml.h"
#include "hw/acpi/acpi-pci.h"

/* Serialises a (consuming it) and compares with the expected bytes. */
static void check_bytes(Aml *a, const uint8_t *want, size_t len)
{
    GByteArray *got = aml_to_bytes(a);

    if (got->len != len || memcmp(got->data, want, len)) {
        g_autoptr(GString) s = g_string_new("");
        for (guint i = 0; i < got->len; i++) {
            g_string_append_printf(s, "%02x ", got->data[i]);
        }
        g_test_message("got %u bytes: %s (want %zu)", got->len, s->str, len);
    }
    g_assert_cmpuint(got->len, ==, len);
    g_assert_cmpmem(got->data, got->len, want, len);
    g_byte_array_free(got, TRUE);
}
#define CHECK(a, ...) do { \
        static const uint8_t want_[] = { __VA_ARGS__ }; \
        check_bytes((a), want_, sizeof(want_)); \
    } while (0)

static void test_integers(void)
{
    CHECK(aml_int(0), 0x00);
    CHECK(aml_int(1), 0x01);
    CHECK(aml_int(0x20), 0x0a, 0x20);
    CHECK(aml_int(0xff), 0x0a, 0xff);
    CHECK(aml_int(0x1234), 0x0b, 0x34, 0x12);
    CHECK(aml_int(0x12345678), 0x0c, 0x78, 0x56, 0x34, 0x12);
    CHECK(aml_int(0x100000000ULL), 0x0e, 0, 0, 0, 0, 1, 0, 0, 0);
    CHECK(aml_string("ACPI0013"), 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '3', 0);
    CHECK(aml_arg(0), 0x68);
    CHECK(aml_arg(3), 0x6b);
    CHECK(aml_local(7), 0x67);
}

static void test_names(void)
{
    CHECK(aml_name("GED"), 'G', 'E', 'D', '_');
    CHECK(aml_name("\\_SB.PCI0"), 0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0');
    CHECK(aml_name("^PCI0"), 0x5e, 'P', 'C', 'I', '0');
    CHECK(aml_name("\\_SB.PCI0.S08"), 0x5c, 0x2f, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0',
          'S', '0', '8', '_');
    CHECK(aml_name("\\"), 0x5c, 0x00);
    CHECK(aml_name_decl("_UID", aml_int(1)), 0x08, '_', 'U', 'I', 'D', 0x01);
}

static void test_eisaid_uuid(void)
{
    g_assert_cmphex(aml_eisaid_value("PNP0A03"), ==, 0x030ad041);
    g_assert_cmphex(aml_eisaid_value("PNP0A08"), ==, 0x080ad041);
    CHECK(aml_name_decl("_HID", aml_eisaid("PNP0501")),
          0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01);
    CHECK(aml_uuid("33DB4D5B-1FF7-401C-9657-7441C03DD766"),
          0x11, 0x13, 0x0a, 0x10, 0x5b, 0x4d, 0xdb, 0x33, 0xf7, 0x1f, 0x1c, 0x40,
          0x96, 0x57, 0x74, 0x41, 0xc0, 0x3d, 0xd7, 0x66);
}

static void test_blocks(void)
{
    Aml *dev = aml_device("COM1");
    Aml *m = aml_method("_EVT", 1, true);
    Aml *pkg = aml_package();
    Aml *sb = aml_scope("\\_SB");
    Aml *iff = aml_if(aml_equal(aml_arg(0), aml_int(3)));
    Aml *els = aml_else();

    aml_append(dev, aml_name_decl("_UID", aml_int(1)));
    CHECK(dev, 0x5b, 0x82, 0x0b, 'C', 'O', 'M', '1', 0x08, '_', 'U', 'I', 'D', 0x01);
    aml_append(m, aml_return(aml_arg(0)));
    CHECK(m, 0x14, 0x08, '_', 'E', 'V', 'T', 0x09, 0xa4, 0x68);
    aml_append(pkg, aml_int(1));
    aml_append(pkg, aml_int(2));
    CHECK(pkg, 0x12, 0x05, 0x02, 0x01, 0x0a, 0x02);
    CHECK(sb, 0x10, 0x06, 0x5c, '_', 'S', 'B', '_');
    aml_append(iff, aml_notify(aml_name("\\_SB.PWRB"), aml_int(0x80)));
    CHECK(iff, 0xa0, 0x12, 0x93, 0x68, 0x0a, 0x03, 0x86, 0x5c, 0x2e, '_', 'S', 'B', '_',
          'P', 'W', 'R', 'B', 0x0a, 0x80);
    aml_append(els, aml_return(aml_int(0)));
    CHECK(els, 0xa1, 0x03, 0xa4, 0x00);
    CHECK(aml_method("_OSC", 4, false), 0x14, 0x06, '_', 'O', 'S', 'C', 0x04);
}

static void test_statements(void)
{
    CHECK(aml_store(aml_int(1), aml_name("PBTS")), 0x70, 0x01, 'P', 'B', 'T', 'S');
    CHECK(aml_and(aml_name("CDW3"), aml_int(0x1f), aml_name("CDW3")),
          0x7b, 'C', 'D', 'W', '3', 0x0a, 0x1f, 'C', 'D', 'W', '3');
    CHECK(aml_or(aml_local(0), aml_int(4), NULL), 0x7d, 0x60, 0x0a, 0x04, 0x00);
    CHECK(aml_create_dword_field(aml_arg(3), aml_int(8), "CDW3"),
          0x8a, 0x6b, 0x0a, 0x08, 'C', 'D', 'W', '3');
}

static void test_region_field(void)
{
    Aml *f = aml_field("PMST", AML_WORD_ACC, AML_WRITE_AS_ZEROS);

    CHECK(aml_operation_region("PMST", AML_SYSTEM_IO, 0x600, 2),
          0x5b, 0x80, 'P', 'M', 'S', 'T', 0x01, 0x0b, 0x00, 0x06, 0x0a, 0x02);
    aml_append(f, aml_reserved_field(8));
    aml_append(f, aml_named_field("PBTS", 1));
    CHECK(f, 0x5b, 0x81, 0x0d, 'P', 'M', 'S', 'T', 0x42, 0x00, 0x08, 'P', 'B', 'T', 'S', 0x01);
    /* A field wider than 63 bits: a two-byte PkgLength that does not count itself. */
    CHECK(aml_named_field("WIDE", 0x100), 'W', 'I', 'D', 'E', 0x40, 0x10);
}

/* PkgLength boundaries, through Buffer (its size prefix is 2 bytes here). */
static void test_pkg_length(void)
{
    static const uint8_t zeros[5000];
    GByteArray *b;

    b = aml_to_bytes(aml_buffer(zeros, 60));      /* 62 + 1 = 63: one byte */
    g_assert_cmpuint(b->len, ==, 1 + 1 + 2 + 60);
    g_assert_cmphex(b->data[1], ==, 0x3f);
    g_byte_array_free(b, TRUE);
    b = aml_to_bytes(aml_buffer(zeros, 61));      /* 63 + 2 = 65: two bytes */
    g_assert_cmpuint(b->len, ==, 1 + 2 + 2 + 61);
    g_assert_cmphex(b->data[1], ==, 0x41);
    g_assert_cmphex(b->data[2], ==, 0x04);
    g_byte_array_free(b, TRUE);
    b = aml_to_bytes(aml_buffer(zeros, 100));     /* 102 + 2 = 0x68 */
    g_assert_cmphex(b->data[1], ==, 0x48);
    g_assert_cmphex(b->data[2], ==, 0x06);
    g_assert_cmphex(b->data[3], ==, 0x0a);
    g_assert_cmphex(b->data[4], ==, 100);
    g_byte_array_free(b, TRUE);
    b = aml_to_bytes(aml_buffer(zeros, 5000));    /* 5003 + 3 = 0x138e: three bytes */
    g_assert_cmpuint(b->len, ==, 1 + 3 + 3 + 5000);
    g_assert_cmphex(b->data[1], ==, 0x8e);
    g_assert_cmphex(b->data[2], ==, 0x38);
    g_assert_cmphex(b->data[3], ==, 0x01);
    g_assert_cmphex(b->data[4], ==, 0x0b);
    g_byte_array_free(b, TRUE);
}

static void test_small_resources(void)
{
    Aml *rt = aml_resource_template();

    CHECK(aml_io(0x3f8, 0x3f8, 1, 8), 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08);
    CHECK(aml_irq_no_flags(4), 0x22, 0x10, 0x00);
    aml_append(rt, aml_irq_no_flags(4));
    CHECK(rt, 0x11, 0x08, 0x0a, 0x05, 0x22, 0x10, 0x00, 0x79, 0x00);
}

static void test_large_resources(void)
{
    AmlInterruptFlags edge = { .consumer = true };
    AmlInterruptFlags level = { .consumer = true, .level = true, .active_low = true,
                                .shared = true };
    uint32_t irqs[2] = { 5, 0x10 };

    CHECK(aml_interrupt(edge, irqs, 1), 0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0, 0, 0);
    CHECK(aml_interrupt(level, irqs, 2), 0x89, 0x0a, 0x00, 0x0d, 0x02, 0x05, 0, 0, 0,
          0x10, 0, 0, 0);
    CHECK(aml_memory32_fixed(0xf0100000, 0x200, true),
          0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x10, 0xf0, 0x00, 0x02, 0x00, 0x00);
    CHECK(aml_word_bus_number(0, 0xff), 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00,
          0, 0, 0, 0, 0xff, 0, 0, 0, 0x00, 0x01);
    CHECK(aml_word_io(0, 0xcf7), 0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03,
          0, 0, 0, 0, 0xf7, 0x0c, 0, 0, 0xf8, 0x0c);
    CHECK(aml_dword_memory(AML_NON_CACHEABLE, 0x80000000, 0xafffffff),
          0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x80,
          0xff, 0xff, 0xff, 0xaf, 0, 0, 0, 0, 0, 0, 0, 0x30);
    CHECK(aml_qword_memory(AML_PREFETCHABLE, 0x8000000000ULL, 0xffffffffffULL),
          0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x07,
          0, 0, 0, 0, 0, 0, 0, 0,
          0, 0, 0, 0, 0x80, 0, 0, 0,
          0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0,
          0, 0, 0, 0, 0, 0, 0, 0,
          0, 0, 0, 0, 0x80, 0, 0, 0);
}

static void test_prt(void)
{
    static const uint32_t gsi[2][4] = { { 16, 17, 18, 19 }, { 17, 18, 19, 16 } };
    GByteArray *b = aml_to_bytes(acpi_pci_prt(gsi, 2));
    static const uint8_t head[] = {
        0x12, 0x4f, 0x05, 0x08,               /* PkgLength 0x5f (2 bytes), 8 entries */
        0x12, 0x09, 0x04, 0x0b, 0xff, 0xff, 0x00, 0x00, 0x0a, 0x10,
        0x12, 0x09, 0x04, 0x0b, 0xff, 0xff, 0x01, 0x00, 0x0a, 0x11,
        0x12, 0x0a, 0x04, 0x0b, 0xff, 0xff, 0x0a, 0x02, 0x00, 0x0a, 0x12,
        0x12, 0x0a, 0x04, 0x0b, 0xff, 0xff, 0x0a, 0x03, 0x00, 0x0a, 0x13,
        0x12, 0x0b, 0x04, 0x0c, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 0x0a, 0x11,
    };

    /*
     * Count + slot 0 (10 + 10 + 11 + 11) + slot 1 (its address is a DWord:
     * 2 more bytes per entry) = 93, + 2 for the PkgLength = 0x5f.
     */
    g_assert_cmpuint(b->len, ==, 3 + 1 + 42 + 50);
    g_assert_cmpmem(b->data, sizeof(head), head, sizeof(head));
    g_byte_array_free(b, TRUE);
}

static gboolean contains(const GByteArray *b, const void *needle, size_t len)
{
    for (guint i = 0; i + len <= b->len; i++) {
        if (!memcmp(b->data + i, needle, len)) {
            return TRUE;
        }
    }
    return FALSE;
}

static void test_pci_host(void)
{
    static const uint32_t gsi[32][4] = { { 16, 17, 18, 19 } };
    static const AcpiRange io[] = { { 0x0000, 0x0cf7 }, { 0x0d00, 0xffff } };
    AcpiPciHostDesc d = {
        .name = "PCI0", .bus_start = 0, .bus_end = 0xff,
        .ecam_base = 0xb0000000, .ecam_size = 0x10000000,
        .io = io, .n_io = 2,
        .mmio32 = { 0xc0000000, 0xfebfffff },
        .mmio64 = { 0x8000000000ULL, 0xffffffffffULL },
        .gsi = gsi, .n_slots = 32,
        .osc_control = ACPI_OSC_NATIVE_HOTPLUG | ACPI_OSC_PME | ACPI_OSC_AER | ACPI_OSC_PCIE_CAP,
    };
    GByteArray *b = aml_to_bytes(acpi_pci_host_aml(&d));
    static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x08 };
    static const uint8_t cid[] = { 0x08, '_', 'C', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
    static const uint8_t cf8[] = { 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 };
    static const uint8_t io_hi[] = { 0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0x00, 0x0d,
                                     0xff, 0xff, 0, 0, 0x00, 0xf3 };
    static const uint8_t ecam[] = { 0x86, 0x09, 0x00, 0x01, 0, 0, 0, 0xb0, 0, 0, 0, 0x10 };
    static const uint8_t mask[] = { 0x7b, 'C', 'D', 'W', '3', 0x0a, 0x1d, 'C', 'D', 'W', '3' };
    static const uint8_t mres[] = { 0x5b, 0x82 };

    /* Device(PCI0) first: ExtOp, DeviceOp, a 2-byte PkgLength, the name. */
    g_assert_cmphex(b->data[0], ==, 0x5b);
    g_assert_cmphex(b->data[1], ==, 0x82);
    g_assert_cmpmem(b->data + 4, 4, "PCI0", 4);
    g_assert_true(contains(b, hid, sizeof(hid)));
    g_assert_true(contains(b, cid, sizeof(cid)));
    g_assert_true(contains(b, cf8, sizeof(cf8)));
    g_assert_true(contains(b, io_hi, sizeof(io_hi)));
    g_assert_true(contains(b, ecam, sizeof(ecam)));
    g_assert_true(contains(b, mask, sizeof(mask)));
    g_assert_true(contains(b, "_PRT", 4));
    g_assert_true(contains(b, "_OSC", 4));
    g_assert_true(contains(b, "MRES", 4));
    g_assert_true(contains(b, mres, sizeof(mres)));
    g_byte_array_free(b, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/acpi/aml/integers", test_integers);
    g_test_add_func("/acpi/aml/names", test_names);
    g_test_add_func("/acpi/aml/eisaid-uuid", test_eisaid_uuid);
    g_test_add_func("/acpi/aml/blocks", test_blocks);
    g_test_add_func("/acpi/aml/statements", test_statements);
    g_test_add_func("/acpi/aml/region-field", test_region_field);
    g_test_add_func("/acpi/aml/pkg-length", test_pkg_length);
    g_test_add_func("/acpi/aml/small-resources", test_small_resources);
    g_test_add_func("/acpi/aml/large-resources", test_large_resources);
    g_test_add_func("/acpi/aml/prt", test_prt);
    g_test_add_func("/acpi/aml/pci-host", test_pci_host);
    return g_test_run();
}
