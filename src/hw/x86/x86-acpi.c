/*
 * ACPI pieces shared by microvm (acpi=on) and q35 (x86-acpi.h).
 */
#include "hw/x86/x86-acpi.h"
#include "hw/x86/x86-board.h"

#define COM1_PORT 0x3f8
#define COM1_IRQ  4

Aml *x86_acpi_com1(void)
{
    Aml *dev = aml_device("COM1");
    Aml *crs = aml_resource_template();

    aml_append(dev, aml_name_decl("_HID", aml_eisaid("PNP0501")));
    aml_append(dev, aml_name_decl("_UID", aml_int(1)));
    aml_append(crs, aml_io(COM1_PORT, COM1_PORT, 1, 8));
    aml_append(crs, aml_irq_no_flags(COM1_IRQ));
    aml_append(dev, aml_name_decl("_CRS", crs));
    return dev;
}

Aml *x86_acpi_s5(void)
{
    Aml *s5 = aml_package();

    aml_append(s5, aml_int(0));
    aml_append(s5, aml_int(0));
    return aml_name_decl("\\_S5", s5);
}

GByteArray *x86_acpi_madt(unsigned ncpus, const AcpiIrqOverride *ov, unsigned n_ov)
{
    AcpiMadtDesc d = {
        .ncpus = ncpus,
        .lapic_addr = X86_LAPIC_ADDR,
        .ioapic_id = (uint8_t)(ncpus + 1),
        .ioapic_addr = (uint32_t)X86_IOAPIC_ADDR,
        .pcat_compat = true,
        .overrides = ov,
        .n_overrides = n_ov,
    };

    return acpi_build_madt(&d);
}
