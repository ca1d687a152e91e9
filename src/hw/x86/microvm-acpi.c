/*
 * ACPI tables for `-machine microvm,acpi=on` (docs/microvm.md "ACPI"):
 * RSDP/XSDT, a hardware-reduced FADT whose sleep registers are bytes of the
 * PM1 block, a MADT for the vCPUs and the IOAPIC, and a DSDT with COM1, the RTC,
 * every virtio-mmio transport (LNRO0005, as Linux's virtio_mmio driver
 * matches it) and a GED (ACPI0013) that turns the PM block's power-button
 * interrupt into Notify(PWRB, 0x80).
 */
#include "hw/x86/microvm.h"
#include "hw/acpi/acpi-tables.h"
#include "hw/x86/x86-acpi.h"
#include "hw/misc/pm.h"

#define RTC_PORT 0x70
#define RTC_IRQ  8

static const AmlInterruptFlags edge_high = { .consumer = true };

/* The MC146818 RTC (-machine rtc=on), where Linux's rtc_cmos looks for it. */
static Aml *rtc(void)
{
    Aml *dev = aml_device("RTC");
    Aml *crs = aml_resource_template();

    aml_append(dev, aml_name_decl("_HID", aml_eisaid("PNP0B00")));
    aml_append(crs, aml_io(RTC_PORT, RTC_PORT, 1, 8));
    aml_append(crs, aml_irq_no_flags(RTC_IRQ));
    aml_append(dev, aml_name_decl("_CRS", crs));
    return dev;
}

/* One virtio-mmio transport: its register window and its edge interrupt. */
static Aml *virtio_mmio_dev(unsigned index)
{
    g_autofree char *name = g_strdup_printf("VR%02X", index);
    Aml *dev = aml_device(name);
    Aml *crs = aml_resource_template();
    uint32_t gsi = MICROVM_VIRTIO_IRQ_BASE + index;
    uint64_t base = MICROVM_VIRTIO_BASE + (uint64_t)index * MICROVM_VIRTIO_STRIDE;

    aml_append(dev, aml_name_decl("_HID", aml_string("LNRO0005")));
    aml_append(dev, aml_name_decl("_UID", aml_int(index)));
    aml_append(dev, aml_name_decl("_CCA", aml_int(1)));     /* cache-coherent DMA */
    aml_append(crs, aml_memory32_fixed((uint32_t)base, MICROVM_VIRTIO_STRIDE, true));
    aml_append(crs, aml_interrupt(edge_high, &gsi, 1));
    aml_append(dev, aml_name_decl("_CRS", crs));
    return dev;
}

static Aml *power_button(void)
{
    Aml *dev = aml_device("PWRB");

    aml_append(dev, aml_name_decl("_HID", aml_eisaid("PNP0C0C")));
    aml_append(dev, aml_name_decl("_UID", aml_int(0)));
    return dev;
}

/*
 * The GED's _EVT runs for its interrupt (the PM block's SCI, pulsed on every
 * power-button press in this mode): if PWRBTN_STS is set, clear it (write 1;
 * the other status bits are written as 0, which leaves them) and notify the
 * power button device.
 */
static Aml *ged(void)
{
    Aml *dev = aml_device("GED");
    Aml *crs = aml_resource_template();
    Aml *field = aml_field("PMST", AML_WORD_ACC, AML_WRITE_AS_ZEROS);
    Aml *evt = aml_method("_EVT", 1, true);
    Aml *is_sci = aml_if(aml_equal(aml_arg(0), aml_int(PM_SCI_GSI)));
    Aml *pressed = aml_if(aml_equal(aml_name("PBTS"), aml_int(1)));
    uint32_t gsi = PM_SCI_GSI;

    aml_append(dev, aml_name_decl("_HID", aml_string("ACPI0013")));
    aml_append(dev, aml_name_decl("_UID", aml_int(0)));
    aml_append(crs, aml_interrupt(edge_high, &gsi, 1));
    aml_append(dev, aml_name_decl("_CRS", crs));
    aml_append(dev, aml_operation_region("PMST", AML_SYSTEM_IO, PM1A_EVT_BASE, 2));
    aml_append(field, aml_reserved_field(8));
    aml_append(field, aml_named_field("PBTS", 1));
    aml_append(dev, field);
    aml_append(pressed, aml_store(aml_int(1), aml_name("PBTS")));
    aml_append(pressed, aml_notify(aml_name("\\_SB.PWRB"), aml_int(0x80)));
    aml_append(is_sci, pressed);
    aml_append(evt, is_sci);
    aml_append(dev, evt);
    return dev;
}

static GByteArray *dsdt(const MicrovmAcpiConfig *c)
{
    Aml *body = aml_seq();
    Aml *sb = aml_scope("\\_SB");

    if (c->serial) {
        aml_append(sb, x86_acpi_com1());
    }
    if (c->rtc) {
        aml_append(sb, rtc());
    }
    aml_append(sb, power_button());
    aml_append(sb, ged());
    for (unsigned i = 0; i < c->n_virtio; i++) {
        aml_append(sb, virtio_mmio_dev(i));
    }
    aml_append(body, sb);
    aml_append(body, x86_acpi_s5());
    return acpi_build_dsdt(body);
}

/*
 * HW-reduced sleep registers are bytes of the PM1 block with the same bit
 * layout: SLP_TYP/SLP_EN are bits 10-13 of PM1_CNT (= bits 2-5 of its high
 * byte), WAK_STS is bit 15 of PM1_STS (= bit 7 of its high byte). The reset
 * register is the i8042's command port, 0xFE the pulse-reset command.
 */
static GByteArray *fadt(const MicrovmAcpiConfig *c, uint64_t dsdt_addr)
{
    AcpiFadtDesc d = {
        .hw_reduced = true,
        .dsdt = dsdt_addr,
        .sleep_control = acpi_gas_io(PM1A_CNT_BASE + 1, 8),
        .sleep_status = acpi_gas_io(PM1A_EVT_BASE + 1, 8),
        .reset_reg = acpi_gas_io(I8042_CMD_PORT, 8),
        .reset_value = 0xfe,
        .iapc_boot_arch = ACPI_IAPC_NO_VGA | (c->rtc ? 0 : ACPI_IAPC_NO_CMOS_RTC),
    };

    return acpi_build_fadt(&d);
}

GByteArray *microvm_acpi_build(const MicrovmAcpiConfig *c)
{
    AcpiImage *img = acpi_image_new(MICROVM_ACPI_BASE);
    uint64_t dsdt_addr = acpi_image_add(img, dsdt(c), false);

    acpi_image_add(img, fadt(c, dsdt_addr), true);
    acpi_image_add(img, x86_acpi_madt(c->ncpus, NULL, 0), true);
    return acpi_image_finish(img);
}
