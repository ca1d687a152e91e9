/*
 * 82093AA I/O APIC, version 0x20 (with the EOI register), 24 pins, and the
 * GSI lines that feed it and the PIC.
 *
 * The IOAPIC lock also guards the line levels, so a GSI reaches the IOAPIC
 * and the PIC in one step (lock order ioapic -> pic, ioapic -> lapic).
 */
#include <string.h>

#include "accel/emu/emu-apic-internal.h"
#include "util/strutil.h"

#define IOAPIC_REGSEL   0x00
#define IOAPIC_WINDOW   0x10
#define IOAPIC_EOI      0x40

#define IOAPIC_REG_ID   0x00
#define IOAPIC_REG_VER  0x01
#define IOAPIC_REG_ARB  0x02
#define IOAPIC_REG_REDIR 0x10
/* Version 0x20, maximum redirection entry 23. */
#define IOAPIC_VERSION  (0x20u | ((EMU_IOAPIC_PINS - 1u) << 16))

#define RTE_LOGICAL     (1ULL << 11)
#define RTE_DELIVS      (1ULL << 12)
#define RTE_ACTIVE_LOW  (1ULL << 13)
#define RTE_REMOTE_IRR  (1ULL << 14)
#define RTE_LEVEL       (1ULL << 15)
#define RTE_MASKED      (1ULL << 16)
#define RTE_LOW_WRITABLE 0x1AFFFULL   /* all of 16:0 but delivery status and remote IRR */

static unsigned rte_mode(uint64_t e)
{
    return (e >> 8) & 7;
}

/*
 * Remote IRR only makes sense for fixed and lowest priority: NMI, SMI, INIT
 * and ExtINT are edge by definition, and a level one would never be EOIed.
 */
static bool rte_level(uint64_t e)
{
    return (e & RTE_LEVEL) && rte_mode(e) <= EMU_APIC_DM_LOWEST;
}

static bool line_level(const EmuIoapic *io, unsigned pin)
{
    return ((io->ext_level >> pin) & 1) || (io->pit_level && pin == io->pit_pin);
}

static bool pin_asserted(const EmuIoapic *io, unsigned pin)
{
    return line_level(io, pin) != !!(io->redir[pin] & RTE_ACTIVE_LOW);
}

static void service(EmuApicBus *bus, unsigned pin, EmuWake *w)
{
    uint64_t *e = &bus->ioapic.redir[pin];
    unsigned n;

    if ((*e & RTE_MASKED) || (rte_level(*e) && (*e & RTE_REMOTE_IRR))) {
        return;
    }
    n = emu_apic_bus_deliver_w(bus, *e >> 56, *e & RTE_LOGICAL, rte_mode(*e),
                               *e & 0xFF, rte_level(*e), w);
    /* Nobody took it: stay ready, the next assertion or EOI tries again. */
    if (rte_level(*e) && n) {
        *e |= RTE_REMOTE_IRR;
    }
}

/* Re-evaluates a pin after its line or its entry changed. */
static void update_pin(EmuApicBus *bus, unsigned pin, bool edge_may_fire, EmuWake *w)
{
    EmuIoapic *io = &bus->ioapic;
    bool was = (io->irr >> pin) & 1;
    bool now = pin_asserted(io, pin);

    io->irr = (io->irr & ~(1u << pin)) | ((uint32_t)now << pin);
    if (!now) {
        return;
    }
    if (rte_level(io->redir[pin])) {
        service(bus, pin, w);
    } else if (!was && edge_may_fire) {
        service(bus, pin, w);
    }
}

/* ISA IRQ 2 is the PIC cascade: no device line reaches PIC input 2. */
static void update_pic_input(EmuApicBus *bus, unsigned gsi, EmuWake *w)
{
    EmuIoapic *io = &bus->ioapic;

    if (gsi < 16 && gsi != 2) {
        bool level = ((io->ext_level >> gsi) & 1) || (gsi == 0 && io->pit_level);
        emu_pic_set_irq(bus, gsi, level, w);
    }
}

void emu_ioapic_set_irq(EmuApicBus *bus, unsigned pin, bool level)
{
    EmuIoapic *io = &bus->ioapic;
    EmuWake w = { { 0 } };

    if (pin >= EMU_IOAPIC_PINS) {
        return;
    }
    g_mutex_lock(&io->lock);
    io->ext_level = (io->ext_level & ~(1u << pin)) | ((uint32_t)level << pin);
    update_pin(bus, pin, true, &w);
    update_pic_input(bus, pin, &w);
    g_mutex_unlock(&io->lock);
    emu_wake_flush(bus, &w);
}

void emu_ioapic_set_pit_line(EmuApicBus *bus, bool level, EmuWake *w)
{
    EmuIoapic *io = &bus->ioapic;

    g_mutex_lock(&io->lock);
    io->pit_level = level;
    update_pin(bus, io->pit_pin, true, w);
    update_pic_input(bus, 0, w);
    g_mutex_unlock(&io->lock);
}

void emu_apic_bus_set_pit_ioapic_pin(EmuApicBus *bus, unsigned pin)
{
    EmuIoapic *io = &bus->ioapic;

    if (pin >= EMU_IOAPIC_PINS) {
        return;
    }
    g_mutex_lock(&io->lock);
    io->pit_pin = pin;
    g_mutex_unlock(&io->lock);
}

/* A level interrupt was serviced: the line may fire again if still asserted. */
void emu_ioapic_eoi(EmuApicBus *bus, uint8_t vector, EmuWake *w)
{
    EmuIoapic *io = &bus->ioapic;

    g_mutex_lock(&io->lock);
    for (unsigned pin = 0; pin < EMU_IOAPIC_PINS; pin++) {
        uint64_t *e = &io->redir[pin];

        if ((*e & 0xFF) != vector || !(*e & RTE_REMOTE_IRR)) {
            continue;
        }
        *e &= ~RTE_REMOTE_IRR;
        if ((io->irr >> pin) & 1) {
            service(bus, pin, w);
        }
    }
    g_mutex_unlock(&io->lock);
}

/* ---- registers ---- */

static uint32_t read_indirect(const EmuIoapic *io)
{
    uint32_t sel = io->regsel;

    switch (sel) {
    case IOAPIC_REG_ID:
    case IOAPIC_REG_ARB:
        return io->id << 24;
    case IOAPIC_REG_VER:
        return IOAPIC_VERSION;
    default:
        break;
    }
    if (sel >= IOAPIC_REG_REDIR && sel < IOAPIC_REG_REDIR + 2 * EMU_IOAPIC_PINS) {
        uint64_t e = io->redir[(sel - IOAPIC_REG_REDIR) / 2];
        return (sel & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
    }
    return 0xFFFFFFFF;   /* what kvm's IOAPIC returns for a register it lacks */
}

static void write_redir(EmuApicBus *bus, unsigned pin, bool high, uint32_t val, EmuWake *w)
{
    uint64_t *e = &bus->ioapic.redir[pin];

    if (high) {
        *e = (*e & 0xFFFFFFFFULL) | ((uint64_t)(val & 0xFF000000u) << 32);
    } else {
        *e = (*e & ~0xFFFFFFFFULL) | (*e & (RTE_DELIVS | RTE_REMOTE_IRR)) |
             (val & RTE_LOW_WRITABLE);
    }
    /* Linux and Xen expect an edge entry to drop a stale Remote IRR (kvm does). */
    if (!rte_level(*e)) {
        *e &= ~RTE_REMOTE_IRR;
    }
    /* A level line that is still asserted fires on unmask; edges were lost. */
    update_pin(bus, pin, false, w);
}

static void write_indirect(EmuApicBus *bus, uint32_t val, EmuWake *w)
{
    EmuIoapic *io = &bus->ioapic;
    uint32_t sel = io->regsel;

    if (sel == IOAPIC_REG_ID) {
        io->id = (val >> 24) & 0xF;
    } else if (sel >= IOAPIC_REG_REDIR && sel < IOAPIC_REG_REDIR + 2 * EMU_IOAPIC_PINS) {
        write_redir(bus, (sel - IOAPIC_REG_REDIR) / 2, sel & 1, val, w);
    }
}

/* Only whole-register accesses; 8 bytes act on the low 4 (kvm accepts them). */
static bool access_ok(unsigned size)
{
    return size == 4 || size == 8;
}

uint64_t emu_ioapic_read(EmuApicBus *bus, uint64_t offset, unsigned size)
{
    EmuIoapic *io = &bus->ioapic;
    uint32_t v = 0;

    if (!access_ok(size)) {
        return 0;
    }
    g_mutex_lock(&io->lock);
    if (offset == IOAPIC_REGSEL) {
        v = io->regsel;
    } else if (offset == IOAPIC_WINDOW) {
        v = read_indirect(io);
    }
    g_mutex_unlock(&io->lock);
    return v;
}

void emu_ioapic_write(EmuApicBus *bus, uint64_t offset, uint64_t value, unsigned size)
{
    EmuIoapic *io = &bus->ioapic;
    EmuWake w = { { 0 } };

    if (!access_ok(size)) {
        return;
    }
    if (offset == IOAPIC_EOI) {
        emu_ioapic_eoi(bus, value & 0xFF, &w);
    } else if (offset == IOAPIC_REGSEL || offset == IOAPIC_WINDOW) {
        g_mutex_lock(&io->lock);
        if (offset == IOAPIC_REGSEL) {
            io->regsel = value & 0xFF;
        } else {
            write_indirect(bus, (uint32_t)value, &w);
        }
        g_mutex_unlock(&io->lock);
    }
    emu_wake_flush(bus, &w);
}

static uint64_t ioapic_mmio_read(void *opaque, uint64_t offset, unsigned size)
{
    return emu_ioapic_read(opaque, offset, size);
}

static void ioapic_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    emu_ioapic_write(opaque, offset, value, size);
}

static const IoRegionOps ioapic_ops = {
    .read = ioapic_mmio_read,
    .write = ioapic_mmio_write,
};

bool emu_ioapic_register(EmuApicBus *bus, IoBus *mmio, GError **err)
{
    return iobus_add(mmio, EMU_IOAPIC_BASE, EMU_IOAPIC_SIZE, &ioapic_ops, bus, "ioapic", err);
}

/* ---- lifecycle ---- */

void emu_ioapic_reset(EmuApicBus *bus)
{
    EmuIoapic *io = &bus->ioapic;

    g_mutex_lock(&io->lock);
    io->id = 0;
    io->regsel = 0;
    for (unsigned pin = 0; pin < EMU_IOAPIC_PINS; pin++) {
        io->redir[pin] = RTE_MASKED;
    }
    io->irr = 0;
    for (unsigned pin = 0; pin < EMU_IOAPIC_PINS; pin++) {
        io->irr |= (uint32_t)pin_asserted(io, pin) << pin;
    }
    g_mutex_unlock(&io->lock);
}

void emu_ioapic_init(EmuApicBus *bus)
{
    g_mutex_init(&bus->ioapic.lock);
    bus->ioapic.pit_pin = 0;
    emu_ioapic_reset(bus);
}

void emu_ioapic_destroy(EmuApicBus *bus)
{
    g_mutex_clear(&bus->ioapic.lock);
}

/* ---- VM state ---- */

/* The redirection entry bits a guest can set, plus Remote IRR. */
#define RTE_LOADABLE (RTE_LOW_WRITABLE | RTE_REMOTE_IRR | 0xFF00000000000000ULL)

void emu_ioapic_save(EmuApicBus *bus, X86IoapicState *s, uint64_t *gsi_level)
{
    EmuIoapic *io = &bus->ioapic;

    memset(s, 0, sizeof(*s));
    g_mutex_lock(&io->lock);
    s->id = io->id;
    s->regsel = io->regsel;
    for (unsigned pin = 0; pin < EMU_IOAPIC_PINS; pin++) {
        s->redir[pin] = io->redir[pin];
        /* emu services an edge at once, so only level pins hold a request. */
        if (rte_level(io->redir[pin])) {
            s->irr |= io->irr & (1u << pin);
        }
    }
    *gsi_level = io->ext_level;
    g_mutex_unlock(&io->lock);
}

void emu_ioapic_load(EmuApicBus *bus, const X86IoapicState *s, uint64_t gsi_level)
{
    EmuIoapic *io = &bus->ioapic;

    g_mutex_lock(&io->lock);
    io->id = s ? s->id : 0;
    io->regsel = s ? s->regsel & 0xFF : 0;
    io->ext_level = (uint32_t)gsi_level;
    io->irr = 0;
    for (unsigned pin = 0; pin < EMU_IOAPIC_PINS; pin++) {
        uint64_t e = s ? s->redir[pin] & RTE_LOADABLE : RTE_MASKED;

        io->redir[pin] = rte_level(e) ? e : e & ~RTE_REMOTE_IRR;
        io->irr |= (uint32_t)pin_asserted(io, pin) << pin;
    }
    g_mutex_unlock(&io->lock);
}

static bool bus_state_check(const X86VmState *st, GError **err)
{
    if (st->gsi_level >> EMU_IOAPIC_PINS) {
        set_error(err, "emu: GSI levels 0x%" G_GINT64_MODIFIER "x assert a line above GSI %u",
                  (guint64)st->gsi_level, EMU_IOAPIC_PINS - 1);
        return false;
    }
    if (!(st->flags & X86_VM_STATE_IRQCHIP)) {
        return true;
    }
    for (unsigned i = 0; i < 2; i++) {
        if (st->pic[i].elcr_mask != emu_pic_elcr_mask(i)) {
            set_error(err, "emu: %s PIC ELCR mask 0x%02x is not this chipset's 0x%02x",
                      i ? "slave" : "master", st->pic[i].elcr_mask, emu_pic_elcr_mask(i));
            return false;
        }
    }
    return true;
}

void emu_apic_bus_save(EmuApicBus *bus, X86VmState *st)
{
    emu_pit_poll(bus);
    emu_pit_save(bus, &st->pit);
    emu_ioapic_save(bus, &st->ioapic, &st->gsi_level);
    emu_pic_save(bus, st->pic);
    st->flags |= X86_VM_STATE_IRQCHIP | X86_VM_STATE_PIT;
}

bool emu_apic_bus_load(EmuApicBus *bus, const X86VmState *st, GError **err)
{
    bool chip = st->flags & X86_VM_STATE_IRQCHIP;
    EmuWake w = { { 0 } };

    if (!bus_state_check(st, err)) {
        return false;
    }
    if (st->flags & X86_VM_STATE_PIT) {
        emu_pit_load(bus, &st->pit);
    } else {
        emu_pit_reset(bus);
    }
    emu_ioapic_load(bus, chip ? &st->ioapic : NULL, st->gsi_level);
    if (chip) {
        emu_pic_load(bus, st->pic, &w);
    } else {
        emu_pic_reset(bus, &w);
    }
    emu_wake_flush(bus, &w);
    return true;
}
