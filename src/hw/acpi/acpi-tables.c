/*
 * ACPI table writers and their layout in guest memory (acpi-tables.h).
 * Field offsets: ACPI 6.4 §5.2.5 (RSDP), §5.2.6 (header), §5.2.8 (XSDT),
 * §5.2.9 (FADT), §5.2.10 (FACS), §5.2.12 (MADT); MCFG: PCI Firmware 3.2 §4.1.2.
 */
#include <string.h>

#include "hw/acpi/acpi-tables.h"

/* Header offsets */
#define HDR_LENGTH    4
#define HDR_CHECKSUM  9

/* FADT offsets */
#define FADT_FIRMWARE_CTRL   36
#define FADT_DSDT            40
#define FADT_SCI_INT         46
#define FADT_PM1A_EVT_BLK    56
#define FADT_PM1A_CNT_BLK    64
#define FADT_PM_TMR_BLK      76
#define FADT_GPE0_BLK        80
#define FADT_PM1_EVT_LEN     88
#define FADT_PM1_CNT_LEN     89
#define FADT_PM_TMR_LEN      91
#define FADT_GPE0_BLK_LEN    92
#define FADT_IAPC_BOOT_ARCH  109
#define FADT_FLAGS           112
#define FADT_RESET_REG       116
#define FADT_RESET_VALUE     128
#define FADT_MINOR_VERSION   131
#define FADT_X_FIRMWARE_CTRL 132
#define FADT_X_DSDT          140
#define FADT_X_PM1A_EVT_BLK  148
#define FADT_X_PM1A_CNT_BLK  172
#define FADT_X_PM_TMR_BLK    208
#define FADT_X_GPE0_BLK      220
#define FADT_SLEEP_CONTROL   244
#define FADT_SLEEP_STATUS    256

#define MADT_LAPIC           0
#define MADT_IOAPIC          1
#define MADT_OVERRIDE        2
#define MADT_LAPIC_NMI       4
#define MADT_PCAT_COMPAT     1u
#define MADT_LAPIC_ENABLED   1u

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void append_le(GByteArray *t, uint64_t v, unsigned bytes)
{
    uint8_t b[8];

    put_le(b, v, bytes);
    g_byte_array_append(t, b, bytes);
}

uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;

    for (size_t i = 0; i < len; i++) {
        sum += p[i];
    }
    return (uint8_t)-sum;
}

GByteArray *acpi_table_begin(const char *sig, uint8_t revision)
{
    GByteArray *t = g_byte_array_sized_new(ACPI_HEADER_SIZE);
    uint8_t h[ACPI_HEADER_SIZE] = { 0 };

    g_assert(strlen(sig) == 4);
    memcpy(h, sig, 4);
    h[8] = revision;
    memcpy(h + 10, ACPI_OEM_ID, 6);
    memcpy(h + 16, ACPI_OEM_TABLE_ID, 8);
    put_le(h + 24, 1, 4);                   /* OEM revision */
    memcpy(h + 28, "STRT", 4);              /* creator ID */
    put_le(h + 32, 1, 4);                   /* creator revision */
    g_byte_array_append(t, h, sizeof(h));
    return t;
}

void acpi_table_finish(GByteArray *t)
{
    g_assert(t->len >= ACPI_HEADER_SIZE && t->len <= UINT32_MAX);
    put_le(t->data + HDR_LENGTH, t->len, 4);
    t->data[HDR_CHECKSUM] = 0;
    t->data[HDR_CHECKSUM] = acpi_checksum(t->data, t->len);
}

AcpiGas acpi_gas_io(uint16_t port, unsigned bits)
{
    AcpiGas g = {
        .space = ACPI_GAS_IO,
        .bit_width = (uint8_t)bits,
        .access_size = (uint8_t)(bits == 8 ? 1 : bits == 16 ? 2 : bits == 32 ? 3 : 0),
        .address = port,
    };
    return g;
}

static void put_gas(uint8_t *p, AcpiGas g)
{
    p[0] = g.space;
    p[1] = g.bit_width;
    p[2] = g.bit_offset;
    p[3] = g.access_size;
    put_le(p + 4, g.address, 8);
}

GByteArray *acpi_build_dsdt(Aml *body)
{
    GByteArray *t = acpi_table_begin("DSDT", 2);
    GByteArray *aml = aml_to_bytes(body);

    g_byte_array_append(t, aml->data, aml->len);
    g_byte_array_free(aml, TRUE);
    acpi_table_finish(t);
    return t;
}

GByteArray *acpi_build_facs(void)
{
    GByteArray *t = g_byte_array_new();
    uint8_t f[ACPI_FACS_SIZE] = { 0 };

    memcpy(f, "FACS", 4);
    put_le(f + 4, ACPI_FACS_SIZE, 4);
    f[32] = 2;                              /* version */
    g_byte_array_append(t, f, sizeof(f));
    return t;
}

/* A PM1-style I/O block: the 32-bit port field, its length and the X_ GAS. */
static void fadt_io_block(uint8_t *f, unsigned off32, unsigned off_len, unsigned off_x,
                          uint16_t port, uint8_t len)
{
    if (!port) {
        return;
    }
    put_le(f + off32, port, 4);
    f[off_len] = len;
    put_gas(f + off_x, acpi_gas_io(port, len * 8u));
    /* A block is accessed register by register: no single access size. */
    f[off_x + 3] = 0;
}

static uint32_t fadt_flags(const AcpiFadtDesc *d)
{
    uint32_t flags = ACPI_FADT_WBINVD | ACPI_FADT_SLP_BUTTON | d->extra_flags;

    if (d->hw_reduced) {
        flags |= ACPI_FADT_HW_REDUCED | ACPI_FADT_PWR_BUTTON;
    }
    if (d->pm_tmr) {
        flags |= ACPI_FADT_TMR_VAL_EXT;
    }
    if (d->reset_reg.address) {
        flags |= ACPI_FADT_RESET_REG_SUP;
    }
    return flags;
}

GByteArray *acpi_build_fadt(const AcpiFadtDesc *d)
{
    GByteArray *t = acpi_table_begin("FACP", 6);
    uint8_t *f;

    g_byte_array_set_size(t, ACPI_FADT_SIZE);
    f = t->data;
    memset(f + ACPI_HEADER_SIZE, 0, ACPI_FADT_SIZE - ACPI_HEADER_SIZE);
    /* The 32-bit pointers too, where they fit: OSes read either. */
    if (d->facs <= UINT32_MAX) {
        put_le(f + FADT_FIRMWARE_CTRL, d->facs, 4);
    }
    put_le(f + FADT_X_FIRMWARE_CTRL, d->facs, 8);
    if (d->dsdt <= UINT32_MAX) {
        put_le(f + FADT_DSDT, d->dsdt, 4);
    }
    put_le(f + FADT_X_DSDT, d->dsdt, 8);
    if (d->hw_reduced) {
        put_gas(f + FADT_SLEEP_CONTROL, d->sleep_control);
        put_gas(f + FADT_SLEEP_STATUS, d->sleep_status);
    } else {
        put_le(f + FADT_SCI_INT, d->sci_irq, 2);
        fadt_io_block(f, FADT_PM1A_EVT_BLK, FADT_PM1_EVT_LEN, FADT_X_PM1A_EVT_BLK,
                      d->pm1a_evt, 4);
        fadt_io_block(f, FADT_PM1A_CNT_BLK, FADT_PM1_CNT_LEN, FADT_X_PM1A_CNT_BLK,
                      d->pm1a_cnt, 2);
        fadt_io_block(f, FADT_PM_TMR_BLK, FADT_PM_TMR_LEN, FADT_X_PM_TMR_BLK, d->pm_tmr, 4);
        fadt_io_block(f, FADT_GPE0_BLK, FADT_GPE0_BLK_LEN, FADT_X_GPE0_BLK, d->gpe0,
                      d->gpe0_len);
    }
    put_le(f + FADT_IAPC_BOOT_ARCH, d->iapc_boot_arch, 2);
    put_le(f + FADT_FLAGS, fadt_flags(d), 4);
    put_gas(f + FADT_RESET_REG, d->reset_reg);
    f[FADT_RESET_VALUE] = d->reset_value;
    f[FADT_MINOR_VERSION] = 0;              /* ACPI 6.0 */
    acpi_table_finish(t);
    return t;
}

GByteArray *acpi_build_madt(const AcpiMadtDesc *d)
{
    GByteArray *t = acpi_table_begin("APIC", 4);

    g_assert(d->ncpus >= 1 && d->ncpus <= ACPI_MADT_MAX_CPUS);
    append_le(t, d->lapic_addr, 4);
    append_le(t, d->pcat_compat ? MADT_PCAT_COMPAT : 0, 4);
    for (unsigned i = 0; i < d->ncpus; i++) {
        uint8_t e[8] = { MADT_LAPIC, 8, (uint8_t)i, (uint8_t)i };
        put_le(e + 4, MADT_LAPIC_ENABLED, 4);
        g_byte_array_append(t, e, sizeof(e));
    }
    {
        uint8_t e[12] = { MADT_IOAPIC, 12, d->ioapic_id, 0 };
        put_le(e + 4, d->ioapic_addr, 4);
        put_le(e + 8, d->ioapic_gsi_base, 4);
        g_byte_array_append(t, e, sizeof(e));
    }
    for (unsigned i = 0; i < d->n_overrides; i++) {
        uint8_t e[10] = { MADT_OVERRIDE, 10, 0 /* ISA */, d->overrides[i].irq };
        put_le(e + 4, d->overrides[i].gsi, 4);
        put_le(e + 8, d->overrides[i].flags, 2);
        g_byte_array_append(t, e, sizeof(e));
    }
    {
        /* All processors (UID 0xFF), flags conforming to the bus, LINT1. */
        uint8_t e[6] = { MADT_LAPIC_NMI, 6, 0xff, 0, 0, 1 };
        g_byte_array_append(t, e, sizeof(e));
    }
    acpi_table_finish(t);
    return t;
}

GByteArray *acpi_build_mcfg(uint64_t ecam_base, uint8_t bus_start, uint8_t bus_end)
{
    GByteArray *t = acpi_table_begin("MCFG", 1);
    uint8_t e[16] = { 0 };

    g_assert(bus_end >= bus_start);
    append_le(t, 0, 8);                     /* reserved */
    put_le(e, ecam_base, 8);
    put_le(e + 8, 0, 2);                    /* PCI segment group */
    e[10] = bus_start;
    e[11] = bus_end;
    g_byte_array_append(t, e, sizeof(e));
    acpi_table_finish(t);
    return t;
}

GByteArray *acpi_build_xsdt(const uint64_t *tables, unsigned n)
{
    GByteArray *t = acpi_table_begin("XSDT", 1);

    for (unsigned i = 0; i < n; i++) {
        append_le(t, tables[i], 8);
    }
    acpi_table_finish(t);
    return t;
}

void acpi_build_rsdp(uint8_t out[ACPI_RSDP_SIZE], uint64_t xsdt)
{
    memset(out, 0, ACPI_RSDP_SIZE);
    memcpy(out, "RSD PTR ", 8);
    memcpy(out + 9, ACPI_OEM_ID, 6);
    out[15] = 2;                            /* revision: ACPI 2.0+ */
    put_le(out + 20, ACPI_RSDP_SIZE, 4);
    put_le(out + 24, xsdt, 8);
    /* The first checksum covers the ACPI 1.0 part (20 bytes), the second all. */
    out[8] = acpi_checksum(out, 20);
    out[32] = acpi_checksum(out, ACPI_RSDP_SIZE);
}

/* ---- layout ---- */

struct AcpiImage {
    uint64_t base;
    GByteArray *bytes;
    GArray *xsdt;               /* uint64_t addresses */
};

static void align_to(GByteArray *b, unsigned align)
{
    g_byte_array_set_size(b, (b->len + align - 1) / align * align);
}

AcpiImage *acpi_image_new(uint64_t base)
{
    AcpiImage *img = g_new0(AcpiImage, 1);

    g_assert((base & 15) == 0);
    img->base = base;
    img->bytes = g_byte_array_new();
    g_byte_array_set_size(img->bytes, ACPI_RSDP_SIZE);
    memset(img->bytes->data, 0, ACPI_RSDP_SIZE);
    img->xsdt = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    return img;
}

uint64_t acpi_image_add(AcpiImage *img, GByteArray *table, bool in_xsdt)
{
    /* The FACS must be 64-byte aligned (§5.2.10). */
    unsigned align = table->len >= 4 && !memcmp(table->data, "FACS", 4) ? 64 : 16;
    guint start = img->bytes->len;
    uint64_t gpa;

    align_to(img->bytes, align);
    memset(img->bytes->data + start, 0, img->bytes->len - start);
    gpa = img->base + img->bytes->len;
    g_byte_array_append(img->bytes, table->data, table->len);
    g_byte_array_free(table, TRUE);
    if (in_xsdt) {
        g_array_append_val(img->xsdt, gpa);
    }
    return gpa;
}

GByteArray *acpi_image_finish(AcpiImage *img)
{
    GByteArray *out = img->bytes;
    uint64_t xsdt = acpi_image_add(img, acpi_build_xsdt((const uint64_t *)img->xsdt->data,
                                                         img->xsdt->len), false);

    acpi_build_rsdp(out->data, xsdt);
    g_array_free(img->xsdt, TRUE);
    g_free(img);
    return out;
}
