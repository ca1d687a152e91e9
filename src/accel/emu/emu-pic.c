/*
 * The 8259A pair: master at 0x20, slave at 0xA0 cascaded on master IR2,
 * edge/level per input from the ELCR at 0x4D0/0x4D1.
 *
 * The master's INT output goes to LINT0 of every LAPIC that takes ExtINT
 * (the BSP after reset); the CPU runs the INTA cycle through emu_lapic_ack.
 */
#include "accel/emu/emu-apic-internal.h"

#define PIC_MASTER_BASE 0x20
#define PIC_SLAVE_BASE  0xA0
#define PIC_ELCR_BASE   0x4D0
#define PIC_CASCADE_IRQ 2

/* IRQ 0, 1, 2 (timer, keyboard, cascade) and 8, 13 (RTC, FPU) are always edge. */
static const uint8_t elcr_mask[2] = { 0xF8, 0xDE };

/* Priority level (0 = highest) of the best request in mask, 8 if none. */
static int chip_priority(const EmuPicChip *c, uint8_t mask)
{
    int p = 0;

    if (!mask) {
        return 8;
    }
    while (!(mask & (1u << ((p + c->priority_add) & 7)))) {
        p++;
    }
    return p;
}

/* The IR this chip would interrupt for, -1 if none beats the in-service level. */
static int chip_get_irq(const EmuPicChip *c, bool master)
{
    int p = chip_priority(c, c->irr & ~c->imr);
    uint8_t in_service = c->isr;

    if (p == 8) {
        return -1;
    }
    /* Special mask mode lets lower priorities through masked in-service levels. */
    if (c->special_mask) {
        in_service &= ~c->imr;
    }
    /* Special fully nested: the slave may interrupt its own in-service request. */
    if (c->special_fully_nested && master) {
        in_service &= ~(1u << PIC_CASCADE_IRQ);
    }
    return p < chip_priority(c, in_service) ? (p + c->priority_add) & 7 : -1;
}

static void chip_set_irq(EmuPicChip *c, unsigned irq, bool level)
{
    uint8_t mask = 1u << irq;

    if (c->elcr & mask) {
        c->irr = level ? c->irr | mask : c->irr & ~mask;
    } else if (level && !(c->last_irr & mask)) {
        c->irr |= mask;
    }
    c->last_irr = level ? c->last_irr | mask : c->last_irr & ~mask;
}

static void chip_intack(EmuPicChip *c, int irq)
{
    if (c->auto_eoi) {
        if (c->rotate_on_auto_eoi) {
            c->priority_add = (irq + 1) & 7;
        }
    } else {
        c->isr |= 1u << irq;
    }
    /* A level request stays in IRR while its line is high. */
    if (!(c->elcr & (1u << irq))) {
        c->irr &= ~(1u << irq);
    }
}

/*
 * Recomputes the cascade and the INT output (PIC lock held). As kvm does,
 * the slave's request is pulsed into IR2 so it is seen again after IR2 was
 * acknowledged while the slave still has requests.
 */
static void pic_update(EmuApicBus *bus, EmuWake *w)
{
    EmuPicChip *master = &bus->pic.chip[0];
    bool out, was;

    if (chip_get_irq(&bus->pic.chip[1], false) >= 0) {
        chip_set_irq(master, PIC_CASCADE_IRQ, true);
        chip_set_irq(master, PIC_CASCADE_IRQ, false);
    }
    out = chip_get_irq(master, true) >= 0;
    was = g_atomic_int_get(&bus->pic_out);
    g_atomic_int_set(&bus->pic_out, out);
    if (out && !was) {
        emu_lapic_pic_output_rose(bus, w);
    }
}

void emu_pic_set_irq(EmuApicBus *bus, unsigned irq, bool level, EmuWake *w)
{
    if (irq >= 16) {
        return;
    }
    g_mutex_lock(&bus->pic.lock);
    chip_set_irq(&bus->pic.chip[irq / 8], irq % 8, level);
    pic_update(bus, w);
    g_mutex_unlock(&bus->pic.lock);
}

/* The vector an INTA cycle would return now (no side effect), -1 if INT is low. */
int emu_pic_peek_vector(EmuApicBus *bus)
{
    EmuPicChip *m = &bus->pic.chip[0], *s = &bus->pic.chip[1];
    int irq, irq2, v;

    g_mutex_lock(&bus->pic.lock);
    irq = chip_get_irq(m, true);
    if (irq < 0) {
        v = -1;
    } else if (irq == PIC_CASCADE_IRQ) {
        irq2 = chip_get_irq(s, false);
        v = s->irq_base + (irq2 >= 0 ? irq2 : 7);
    } else {
        v = m->irq_base + irq;
    }
    g_mutex_unlock(&bus->pic.lock);
    return v;
}

/*
 * The INTA cycle. A request that went away since INT was sampled gives the
 * spurious IR7 of the chip concerned, as on real parts.
 */
int emu_pic_intack(EmuApicBus *bus)
{
    EmuPicChip *m = &bus->pic.chip[0], *s = &bus->pic.chip[1];
    EmuWake w = { { 0 } };
    int irq, irq2, v;

    g_mutex_lock(&bus->pic.lock);
    irq = chip_get_irq(m, true);
    if (irq < 0) {
        v = m->irq_base + 7;
    } else {
        if (irq == PIC_CASCADE_IRQ) {
            irq2 = chip_get_irq(s, false);
            if (irq2 >= 0) {
                chip_intack(s, irq2);
            } else {
                irq2 = 7;
            }
            v = s->irq_base + irq2;
        } else {
            v = m->irq_base + irq;
        }
        chip_intack(m, irq);
    }
    pic_update(bus, &w);
    g_mutex_unlock(&bus->pic.lock);
    emu_wake_flush(bus, &w);
    return v;
}

/* ---- command and data ports ---- */

/* ICW1 starts initialisation; the ELCR survives it. */
static void chip_icw1(EmuPicChip *c, uint8_t val)
{
    c->last_irr = 0;
    c->irr &= c->elcr;
    c->imr = 0;
    c->isr = 0;
    c->priority_add = 0;
    c->irq_base = 0;
    c->read_isr = false;
    c->poll = false;
    c->special_mask = false;
    c->auto_eoi = false;
    c->rotate_on_auto_eoi = false;
    c->special_fully_nested = false;
    c->init4 = val & 1;
    c->single_mode = val & 2;
    c->init_state = 1;
}

static void chip_ocw2(EmuPicChip *c, uint8_t val)
{
    unsigned cmd = val >> 5;
    int p, irq;

    switch (cmd) {
    case 0:   /* rotate in auto-EOI mode: clear / set */
    case 4:
        c->rotate_on_auto_eoi = cmd >> 2;
        break;
    case 1:   /* non-specific EOI, optionally rotating */
    case 5:
        p = chip_priority(c, c->isr);
        if (p != 8) {
            irq = (p + c->priority_add) & 7;
            c->isr &= ~(1u << irq);
            if (cmd == 5) {
                c->priority_add = (irq + 1) & 7;
            }
        }
        break;
    case 3:   /* specific EOI */
        c->isr &= ~(1u << (val & 7));
        break;
    case 6:   /* set priority: IR val&7 becomes the lowest */
        c->priority_add = (val + 1) & 7;
        break;
    case 7:   /* rotate on specific EOI */
        c->isr &= ~(1u << (val & 7));
        c->priority_add = (val + 1) & 7;
        break;
    default:
        break;
    }
}

static void chip_ocw3(EmuPicChip *c, uint8_t val)
{
    if (val & 0x04) {
        c->poll = true;
    }
    if (val & 0x02) {
        c->read_isr = val & 1;
    }
    if (val & 0x40) {
        c->special_mask = (val >> 5) & 1;
    }
}

/* ICW2..ICW4 while initialising, else OCW1 (IMR). ICW3 wiring is fixed. */
static void chip_write_data(EmuPicChip *c, uint8_t val)
{
    switch (c->init_state) {
    case 1:
        c->irq_base = val & 0xF8;
        c->init_state = c->single_mode ? (c->init4 ? 3 : 0) : 2;
        break;
    case 2:
        c->init_state = c->init4 ? 3 : 0;
        break;
    case 3:
        c->special_fully_nested = (val >> 4) & 1;
        c->auto_eoi = (val >> 1) & 1;
        c->init_state = 0;
        break;
    default:
        c->imr = val;
        break;
    }
}

/* The poll command makes this read an INTA: bit 7 set plus the IR, or 7. */
static uint8_t chip_poll_read(EmuPicChip *c, bool master)
{
    int irq = chip_get_irq(c, master);

    if (irq < 0) {
        return 0x07;
    }
    chip_intack(c, irq);
    return 0x80 | irq;
}

static uint64_t pic_read(EmuApicBus *bus, unsigned chip, uint64_t offset)
{
    EmuPicChip *c = &bus->pic.chip[chip];
    EmuWake w = { { 0 } };
    uint8_t v;

    g_mutex_lock(&bus->pic.lock);
    if (c->poll) {
        c->poll = false;
        v = chip_poll_read(c, chip == 0);
        pic_update(bus, &w);
    } else if (offset == 0) {
        v = c->read_isr ? c->isr : c->irr;
    } else {
        v = c->imr;
    }
    g_mutex_unlock(&bus->pic.lock);
    emu_wake_flush(bus, &w);
    return v;
}

static void pic_write(EmuApicBus *bus, unsigned chip, uint64_t offset, uint8_t val)
{
    EmuPicChip *c = &bus->pic.chip[chip];
    EmuWake w = { { 0 } };

    g_mutex_lock(&bus->pic.lock);
    if (offset != 0) {
        chip_write_data(c, val);
    } else if (val & 0x10) {
        chip_icw1(c, val);
    } else if (val & 0x08) {
        chip_ocw3(c, val);
    } else {
        chip_ocw2(c, val);
    }
    pic_update(bus, &w);
    g_mutex_unlock(&bus->pic.lock);
    emu_wake_flush(bus, &w);
}

static uint64_t master_read(void *opaque, uint64_t offset, unsigned size)
{
    return pic_read(opaque, 0, offset);
}

static void master_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    pic_write(opaque, 0, offset, value);
}

static uint64_t slave_read(void *opaque, uint64_t offset, unsigned size)
{
    return pic_read(opaque, 1, offset);
}

static void slave_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    pic_write(opaque, 1, offset, value);
}

/* Port offset 0 is the master's ELCR, 1 the slave's. */
static uint64_t elcr_read(void *opaque, uint64_t offset, unsigned size)
{
    EmuApicBus *bus = opaque;
    uint8_t v;

    g_mutex_lock(&bus->pic.lock);
    v = bus->pic.chip[offset & 1].elcr;
    g_mutex_unlock(&bus->pic.lock);
    return v;
}

static void elcr_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    EmuApicBus *bus = opaque;
    EmuWake w = { { 0 } };

    g_mutex_lock(&bus->pic.lock);
    bus->pic.chip[offset & 1].elcr = value & bus->pic.chip[offset & 1].elcr_mask;
    pic_update(bus, &w);
    g_mutex_unlock(&bus->pic.lock);
    emu_wake_flush(bus, &w);
}

static const IoRegionOps master_ops = { .read = master_read, .write = master_write };
static const IoRegionOps slave_ops = { .read = slave_read, .write = slave_write };
static const IoRegionOps elcr_ops = { .read = elcr_read, .write = elcr_write };

static const struct {
    uint64_t base;
    const IoRegionOps *ops;
    const char *name;
} pic_ports[] = {
    { PIC_MASTER_BASE, &master_ops, "pic-master" },
    { PIC_SLAVE_BASE, &slave_ops, "pic-slave" },
    { PIC_ELCR_BASE, &elcr_ops, "pic-elcr" },
};

bool emu_pic_register(EmuApicBus *bus, IoBus *pio, GError **err)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(pic_ports); i++) {
        if (!iobus_add(pio, pic_ports[i].base, 2, pic_ports[i].ops, bus, pic_ports[i].name, err)) {
            while (i--) {
                iobus_remove(pio, pic_ports[i].base);
            }
            return false;
        }
    }
    return true;
}

void emu_pic_unregister(IoBus *pio)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(pic_ports); i++) {
        iobus_remove(pio, pic_ports[i].base);
    }
}

/* ---- VM state ---- */

uint8_t emu_pic_elcr_mask(unsigned chip)
{
    return elcr_mask[chip & 1];
}

static void chip_save(const EmuPicChip *c, X86PicState *s)
{
    *s = (X86PicState) {
        .last_irr = c->last_irr, .irr = c->irr, .imr = c->imr, .isr = c->isr,
        .priority_add = c->priority_add, .irq_base = c->irq_base,
        .read_isr = c->read_isr, .poll = c->poll, .special_mask = c->special_mask,
        .init_state = c->init_state, .auto_eoi = c->auto_eoi,
        .rotate_on_auto_eoi = c->rotate_on_auto_eoi,
        .special_fully_nested = c->special_fully_nested, .init4 = c->init4,
        .single_mode = c->single_mode, .elcr = c->elcr, .elcr_mask = c->elcr_mask,
    };
}

static void chip_load(EmuPicChip *c, const X86PicState *s)
{
    *c = (EmuPicChip) {
        .last_irr = s->last_irr, .irr = s->irr, .imr = s->imr, .isr = s->isr,
        .priority_add = s->priority_add, .irq_base = s->irq_base,
        .init_state = s->init_state, .elcr = s->elcr, .elcr_mask = s->elcr_mask,
        .read_isr = s->read_isr, .poll = s->poll, .special_mask = s->special_mask,
        .auto_eoi = s->auto_eoi, .rotate_on_auto_eoi = s->rotate_on_auto_eoi,
        .special_fully_nested = s->special_fully_nested, .init4 = s->init4,
        .single_mode = s->single_mode,
    };
}

void emu_pic_save(EmuApicBus *bus, X86PicState s[2])
{
    g_mutex_lock(&bus->pic.lock);
    chip_save(&bus->pic.chip[0], &s[0]);
    chip_save(&bus->pic.chip[1], &s[1]);
    g_mutex_unlock(&bus->pic.lock);
}

/* The INT output follows the loaded registers; a LAPIC that takes it is woken. */
void emu_pic_load(EmuApicBus *bus, const X86PicState s[2], EmuWake *w)
{
    g_mutex_lock(&bus->pic.lock);
    chip_load(&bus->pic.chip[0], &s[0]);
    chip_load(&bus->pic.chip[1], &s[1]);
    pic_update(bus, w);
    g_mutex_unlock(&bus->pic.lock);
}

/* ---- lifecycle ---- */

/* Power-on: uninitialised chips, edge everywhere, INT low until programmed. */
void emu_pic_reset(EmuApicBus *bus, EmuWake *w)
{
    g_mutex_lock(&bus->pic.lock);
    for (unsigned i = 0; i < 2; i++) {
        EmuPicChip *c = &bus->pic.chip[i];

        *c = (EmuPicChip) { .elcr_mask = elcr_mask[i] };
    }
    pic_update(bus, w);
    g_mutex_unlock(&bus->pic.lock);
}

void emu_pic_init(EmuApicBus *bus)
{
    EmuWake w = { { 0 } };

    g_mutex_init(&bus->pic.lock);
    emu_pic_reset(bus, &w);
}

void emu_pic_destroy(EmuApicBus *bus)
{
    g_mutex_clear(&bus->pic.lock);
}
