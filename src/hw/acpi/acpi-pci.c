/*
 * The DSDT's PCI Express host bridge (acpi-pci.h).
 */
#include "hw/acpi/acpi-pci.h"

#define PCI_HOST_OSC_UUID "33DB4D5B-1FF7-401C-9657-7441C03DD766"
#define OSC_UNRECOGNIZED_UUID 0x4

Aml *acpi_pci_prt(const uint32_t (*gsi)[4], unsigned n_slots)
{
    Aml *prt = aml_package();

    g_assert(n_slots <= ACPI_PCI_SLOTS);
    for (unsigned slot = 0; slot < n_slots; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            Aml *e = aml_package();
            /* Address: device in the high word, any function (0xFFFF). */
            aml_append(e, aml_int(((uint64_t)slot << 16) | 0xffff));
            aml_append(e, aml_int(pin));
            aml_append(e, aml_int(0));      /* Source: none, so SourceIndex is a GSI */
            aml_append(e, aml_int(gsi[slot][pin]));
            aml_append(prt, e);
        }
    }
    return prt;
}

static Aml *host_crs(const AcpiPciHostDesc *d)
{
    Aml *crs = aml_resource_template();

    aml_append(crs, aml_word_bus_number(d->bus_start, d->bus_end));
    aml_append(crs, aml_io(0xcf8, 0xcf8, 1, 8));
    for (unsigned i = 0; i < d->n_io; i++) {
        g_assert(d->io[i].max <= 0xffff);
        aml_append(crs, aml_word_io((uint16_t)d->io[i].min, (uint16_t)d->io[i].max));
    }
    if (d->mmio32.max) {
        g_assert(d->mmio32.max <= UINT32_MAX);
        aml_append(crs, aml_dword_memory(AML_NON_CACHEABLE, (uint32_t)d->mmio32.min,
                                         (uint32_t)d->mmio32.max));
    }
    if (d->mmio64.max) {
        aml_append(crs, aml_qword_memory(AML_PREFETCHABLE, d->mmio64.min, d->mmio64.max));
    }
    return crs;
}

/*
 * _OSC for the PCI host UUID: grant the requested control bits that are in
 * `control` (the third capabilities dword); any other UUID is answered
 * "unrecognized" in the first dword.
 */
static Aml *host_osc(uint32_t control)
{
    Aml *m = aml_method("_OSC", 4, false);
    Aml *is_pci = aml_if(aml_equal(aml_arg(0), aml_uuid(PCI_HOST_OSC_UUID)));
    Aml *other = aml_else();

    aml_append(m, aml_create_dword_field(aml_arg(3), aml_int(0), "CDW1"));
    aml_append(is_pci, aml_create_dword_field(aml_arg(3), aml_int(8), "CDW3"));
    aml_append(is_pci, aml_and(aml_name("CDW3"), aml_int(control), aml_name("CDW3")));
    aml_append(is_pci, aml_return(aml_arg(3)));
    aml_append(m, is_pci);
    aml_append(other, aml_or(aml_name("CDW1"), aml_int(OSC_UNRECOGNIZED_UUID),
                             aml_name("CDW1")));
    aml_append(other, aml_return(aml_arg(3)));
    aml_append(m, other);
    return m;
}

static Aml *ecam_reservation(const AcpiPciHostDesc *d)
{
    Aml *dev = aml_device("MRES");
    Aml *crs = aml_resource_template();

    g_assert(d->ecam_base + d->ecam_size - 1 <= UINT32_MAX);
    aml_append(dev, aml_name_decl("_HID", aml_eisaid("PNP0C02")));
    aml_append(dev, aml_name_decl("_UID", aml_int(1)));
    aml_append(crs, aml_memory32_fixed((uint32_t)d->ecam_base, (uint32_t)d->ecam_size, true));
    aml_append(dev, aml_name_decl("_CRS", crs));
    return dev;
}

Aml *acpi_pci_host_aml(const AcpiPciHostDesc *d)
{
    Aml *seq = aml_seq();
    Aml *dev = aml_device(d->name);

    aml_append(dev, aml_name_decl("_HID", aml_eisaid("PNP0A08")));
    aml_append(dev, aml_name_decl("_CID", aml_eisaid("PNP0A03")));
    aml_append(dev, aml_name_decl("_SEG", aml_int(0)));
    aml_append(dev, aml_name_decl("_BBN", aml_int(d->bus_start)));
    aml_append(dev, aml_name_decl("_UID", aml_int(0)));
    aml_append(dev, aml_name_decl("_CRS", host_crs(d)));
    if (d->n_slots) {
        aml_append(dev, aml_name_decl("_PRT", acpi_pci_prt(d->gsi, d->n_slots)));
    }
    if (d->osc_control) {
        aml_append(dev, host_osc(d->osc_control));
    }
    aml_append(seq, dev);
    if (d->ecam_size) {
        aml_append(seq, ecam_reservation(d));
    }
    return seq;
}
