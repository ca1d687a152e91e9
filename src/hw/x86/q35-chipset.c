/*
 * q35's chipset registers (q35-chipset.h), the ones QEMU's q35 (its mch
 * and ich9-lpc) shows and OVMF's PlatformPei programs. Memory decoding
 * itself does not change with them: RAM is RAM below 1 MiB whatever the
 * PAM registers say, there is no SMRAM, and ECAM stays at 0xB0000000
 * (the value both OVMF and SeaBIOS write to PCIEXBAR).
 */
#include "hw/x86/q35-chipset.h"
#include "util/log.h"
#include "util/strutil.h"

#define PCI_VENDOR_INTEL       0x8086
#define PCI_CLASS_ISA_BRIDGE   0x060100
#define ICH9_LPC_REVISION      0x02
#define PMBASE_MASK            0xFF80u       /* bits 15:7: a 128-port block */
#define PCIEXBAR_EN            0x1u
#define PCIEXBAR_VALUE         (0xB0000000u | PCIEXBAR_EN)
#define ESMRAMC_DEFAULT        0x38          /* QEMU's: caches enabled, no TSEG */
#define SMRAM_DEFAULT          0x02          /* C_BASE_SEG: the 0xA0000 segment */
#define RST_CNT_SYS_RST        0x02
#define RST_CNT_RST_CPU        0x04
#define RST_CNT_FULL_RST       0x08

/* ---- MCH (00:00.0) ---------------------------------------------------------- */

static void mch_written(PciDevice *d, uint32_t addr, uint32_t val, unsigned len)
{
    Q35Chipset *c = d->opaque;
    uint32_t bar = pci_get_long(d, MCH_PCIEXBAR), high = pci_get_long(d, MCH_PCIEXBAR + 4);

    if (addr + len <= MCH_PCIEXBAR || addr >= MCH_PCIEXBAR + 8) {
        return;
    }
    /* Only an enabling write matters (firmware disables it while it changes the halves). */
    if ((bar & PCIEXBAR_EN) && (bar != PCIEXBAR_VALUE || high) && !c->logged_pciexbar) {
        c->logged_pciexbar = true;
        log_warn("q35: PCIEXBAR 0x%08x%08x: ECAM stays at 0xB0000000, 256 buses, enabled "
                 "(logged once)", high, bar);
    }
}

static void mch_defaults(Q35Chipset *c)
{
    PciDevice *d = c->mch;

    /* ECAM decodes from power-on, so the register says so too. */
    pci_set_long(d, MCH_PCIEXBAR, PCIEXBAR_VALUE);
    pci_set_long(d, MCH_PCIEXBAR + 4, 0);
    for (unsigned i = 0; i < 7; i++) {
        d->config[MCH_PAM0 + i] = 0;
    }
    d->config[MCH_SMRAM] = SMRAM_DEFAULT;
    d->config[MCH_ESMRAMC] = ESMRAMC_DEFAULT;
}

static void mch_setup(Q35Chipset *c)
{
    PciDevice *d = c->mch;

    pci_set_wmask(d, MCH_PCIEXBAR, 0xFC000007u, 4);    /* base 31:26, length, enable */
    pci_set_wmask(d, MCH_PCIEXBAR + 4, 0x0000000Fu, 4);
    d->wmask[MCH_PAM0] = 0x30;                          /* PAM0: 0xF0000 only, high half */
    for (unsigned i = 1; i < 7; i++) {
        d->wmask[MCH_PAM0 + i] = 0x33;
    }
    d->wmask[MCH_SMRAM] = 0x78;                         /* D_OPEN, D_CLS, D_LCK, G_SMRAME */
    d->wmask[MCH_ESMRAMC] = 0x87;
    d->opaque = c;
    d->config_written = mch_written;
    mch_defaults(c);
}

/* ---- LPC (00:1f.0) ---------------------------------------------------------- */

/* The PM block decodes at PMBASE while ACPI_CNTL.ACPI_EN is set. */
static void place_pm(Q35Chipset *c)
{
    uint16_t base = pci_get_word(&c->lpc, ICH9_LPC_PMBASE) & PMBASE_MASK;
    bool on = c->lpc.config[ICH9_LPC_ACPI_CNTL] & ICH9_LPC_ACPI_EN;

    pm_move(c->pm, on ? base : 0, true);
}

static void lpc_written(PciDevice *d, uint32_t addr, uint32_t val, unsigned len)
{
    if (addr < ICH9_LPC_ACPI_CNTL + 1 && addr + len > ICH9_LPC_PMBASE) {
        place_pm(d->opaque);
    }
}

static void lpc_defaults(Q35Chipset *c)
{
    PciDevice *d = &c->lpc;

    pci_set_long(d, ICH9_LPC_PMBASE, 0x1);             /* bit 0: an I/O-space BAR */
    d->config[ICH9_LPC_ACPI_CNTL] = 0;
    for (unsigned i = 0; i < 4; i++) {
        d->config[ICH9_LPC_PIRQA_ROUT + i] = 0x80;      /* routing disabled */
        d->config[ICH9_LPC_PIRQE_ROUT + i] = 0x80;
    }
    pci_set_long(d, ICH9_LPC_GEN_PMCON_1, 0);
    pci_set_long(d, ICH9_LPC_RCBA, 0);
    if (c->as_firmware_left_it) {
        pci_set_long(d, ICH9_LPC_PMBASE, PM1A_EVT_BASE | 0x1);
        d->config[ICH9_LPC_ACPI_CNTL] = ICH9_LPC_ACPI_EN;
    }
    c->rst_cnt = 0;
    place_pm(c);
}

static void lpc_setup(Q35Chipset *c)
{
    PciDevice *d = &c->lpc;

    pci_device_init(d, PCI_VENDOR_INTEL, ICH9_LPC_DEVICE_ID, PCI_CLASS_ISA_BRIDGE,
                    ICH9_LPC_REVISION, false);
    pci_set_subsystem(d, 0x1af4, 0x1100);
    d->config[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_MULTI;  /* as QEMU's: 1f.2, 1f.3 exist there */
    pci_set_wmask(d, ICH9_LPC_PMBASE, PMBASE_MASK, 4);
    d->wmask[ICH9_LPC_ACPI_CNTL] = 0x87;                /* ACPI_EN, SCI_IRQ_SEL */
    for (unsigned i = 0; i < 4; i++) {
        d->wmask[ICH9_LPC_PIRQA_ROUT + i] = 0x8F;
        d->wmask[ICH9_LPC_PIRQE_ROUT + i] = 0x8F;
    }
    pci_set_wmask(d, ICH9_LPC_GEN_PMCON_1, 0xFFFFFFFFu, 4);
    pci_set_wmask(d, ICH9_LPC_RCBA, 0xFFFFC001u, 4);     /* base 31:14, enable */
    d->opaque = c;
    d->config_written = lpc_written;
}

/* ---- 0xCF9, the reset control register --------------------------------------- */

static uint64_t rst_cnt_read(void *opaque, uint64_t off, unsigned size)
{
    Q35Chipset *c = opaque;

    return off == ICH9_RST_CNT_OFFSET && size == 1 ? c->rst_cnt : ~0ULL;
}

static void rst_cnt_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    Q35Chipset *c = opaque;

    if (off != ICH9_RST_CNT_OFFSET || size != 1) {
        return;
    }
    if (val & RST_CNT_RST_CPU) {
        log_info("q35: guest requested reset (0xCF9 = 0x%02x)", (unsigned)(val & 0xff));
        machine_request_shutdown(c->machine, SHUTDOWN_GUEST_RESET);
    }
    c->rst_cnt = val & (RST_CNT_SYS_RST | RST_CNT_FULL_RST);
}

static const IoRegionOps rst_cnt_ops = { .read = rst_cnt_read, .write = rst_cnt_write };

/* ---- the whole ---------------------------------------------------------------- */

bool q35_chipset_init(Q35Chipset *c, Machine *m, PciHost *h, PciDevice *mch, PmState *pm,
                      bool firmware, GError **err)
{
    c->machine = m;
    c->mch = mch;
    c->pm = pm;
    c->as_firmware_left_it = !firmware;
    mch_setup(c);
    lpc_setup(c);
    if (!pci_host_plug(h, 0, Q35_LPC_DEVFN, &c->lpc)) {
        set_error(err, "q35: cannot plug the LPC bridge at 00:1f.0");
        return false;
    }
    h->legacy_ops = &rst_cnt_ops;
    h->legacy_opaque = c;
    lpc_defaults(c);
    return true;
}

void q35_chipset_reset(Q35Chipset *c)
{
    c->logged_pciexbar = false;
    mch_defaults(c);
    lpc_defaults(c);
}

void q35_chipset_post_load(Q35Chipset *c)
{
    place_pm(c);
}
