/*
 * ACPI tables for q35 (docs/q35.md "ACPI"): a full (not hardware-reduced)
 * FADT over the PM1 block with the fixed power button and the SCI, a FACS,
 * the MADT, MCFG for the ECAM window, and a DSDT with the PCI Express host
 * bridge (its windows, ECAM reservation, _PRT and _OSC) and COM1. Linux
 * kernels without an MP-table parser (Debian's cloud kernel) find CPUs, the
 * IOAPIC and PCI only through these.
 */
#include "hw/x86/q35.h"
#include "hw/acpi/acpi-pci.h"
#include "hw/misc/pm.h"
#include "hw/x86/x86-acpi.h"

/* Legacy INTx: slot s, pin p (INTA = 0) on GSI 16 + (s + p) % 4, QEMU's PIRQ swizzle. */
#define Q35_INTX_GSI_BASE 16

static Aml *pci_host(const Q35AcpiConfig *c)
{
    static const AcpiRange io[] = { { 0x0000, 0x0cf7 }, { 0x0d00, 0xffff } };
    uint32_t gsi[ACPI_PCI_SLOTS][4];
    AcpiPciHostDesc d = {
        .name = "PCI0",
        .bus_start = 0,
        .bus_end = (uint8_t)(Q35_ECAM_SIZE / (1 << 20) - 1),
        .ecam_base = Q35_ECAM_BASE,
        .ecam_size = Q35_ECAM_SIZE,
        .io = io,
        .n_io = G_N_ELEMENTS(io),
        .mmio32 = { c->mmio32[0], c->mmio32[1] },
        .mmio64 = { c->mmio64[0], c->mmio64[1] },
        .gsi = (const uint32_t (*)[4])gsi,
        .n_slots = ACPI_PCI_SLOTS,
        .osc_control = ACPI_OSC_NATIVE_HOTPLUG | ACPI_OSC_PME | ACPI_OSC_AER |
                       ACPI_OSC_PCIE_CAP,
    };

    for (unsigned s = 0; s < ACPI_PCI_SLOTS; s++) {
        for (unsigned p = 0; p < 4; p++) {
            gsi[s][p] = Q35_INTX_GSI_BASE + (s + p) % 4;
        }
    }
    return acpi_pci_host_aml(&d);
}

static GByteArray *dsdt(const Q35AcpiConfig *c)
{
    Aml *body = aml_seq();
    Aml *sb = aml_scope("\\_SB");

    aml_append(sb, pci_host(c));
    if (c->serial) {
        aml_append(sb, x86_acpi_com1());
    }
    aml_append(body, sb);
    aml_append(body, x86_acpi_s5());
    return acpi_build_dsdt(body);
}

/* The reset register is the i8042's command port, 0xFE its pulse-reset command. */
static GByteArray *fadt(const Q35AcpiConfig *c, uint64_t dsdt_addr, uint64_t facs_addr)
{
    AcpiFadtDesc d = {
        .dsdt = dsdt_addr,
        .facs = facs_addr,
        .sci_irq = PM_SCI_GSI,
        .pm1a_evt = PM1A_EVT_BASE,
        .pm1a_cnt = PM1A_CNT_BASE,
        .reset_reg = acpi_gas_io(I8042_CMD_PORT, 8),
        .reset_value = 0xfe,
        .iapc_boot_arch = ACPI_IAPC_NO_VGA | (c->rtc ? 0 : ACPI_IAPC_NO_CMOS_RTC),
    };

    return acpi_build_fadt(&d);
}

/* The windows are the machine's fixed ones (docs/q35.md's layout). */
Q35AcpiConfig q35_acpi_config(unsigned ncpus, bool serial, bool rtc)
{
    return (Q35AcpiConfig){
        .ncpus = ncpus,
        .serial = serial,
        .rtc = rtc,
        .mmio32 = { Q35_MMIO32_BASE, Q35_MMIO32_END - 1 },
        .mmio64 = { Q35_MMIO64_BASE, Q35_MMIO64_BASE + Q35_MMIO64_SIZE - 1 },
    };
}

GByteArray *q35_acpi_build(const Q35AcpiConfig *c)
{
    /* The PM block pulses its SCI: an edge, which the override tells the OS. */
    static const AcpiIrqOverride sci = {
        .irq = PM_SCI_GSI, .gsi = PM_SCI_GSI, .flags = ACPI_MPS_EDGE | ACPI_MPS_ACTIVE_HIGH,
    };
    AcpiImage *img = acpi_image_new(Q35_ACPI_BASE);
    uint64_t dsdt_addr = acpi_image_add(img, dsdt(c), false);
    uint64_t facs_addr = acpi_image_add(img, acpi_build_facs(), false);

    acpi_image_add(img, fadt(c, dsdt_addr, facs_addr), true);
    acpi_image_add(img, x86_acpi_madt(c->ncpus, &sci, 1), true);
    acpi_image_add(img, acpi_build_mcfg(Q35_ECAM_BASE, 0,
                                        (uint8_t)(Q35_ECAM_SIZE / (1 << 20) - 1)), true);
    return acpi_image_finish(img);
}
