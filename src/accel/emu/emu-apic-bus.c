/*
 * The APIC bus of one machine: delivering an IPI or an IOAPIC message to
 * the LAPICs it names (physical, logical flat/cluster, shorthands, lowest
 * priority), the PIC's INT output reaching the LAPICs that pass ExtINT,
 * waking their vCPUs once every lock is released, and creating, resetting
 * and freeing the bus with its LAPICs, IOAPIC, PIC and PIT.
 */
#include "accel/emu/emu-apic-internal.h"

/* ---- destination matching (target's lock held) ---- */

static bool match_logical(const EmuLapic *l, uint8_t dest)
{
    uint8_t lid = l->ldr >> 24;

    if (dest == 0xFF) {
        return true;
    }
    switch (l->dfr >> 28) {
    case 0xF:   /* flat */
        return (lid & dest) != 0;
    case 0x0:   /* cluster */
        return (lid >> 4) == (dest >> 4) && (lid & dest & 0xF) != 0;
    default:
        return false;
    }
}

static bool ipi_targets(const EmuLapic *l, const EmuIpi *ipi)
{
    switch (ipi->shorthand) {
    case SH_SELF:
        return l->index == ipi->self;
    case SH_ALL:
        return true;
    case SH_OTHERS:
        return l->index != ipi->self;
    default:
        if (ipi->logical) {
            return match_logical(l, ipi->dest);
        }
        return ipi->dest == 0xFF || ipi->dest == (l->id >> 24);
    }
}

unsigned emu_apic_deliver_ipi(EmuApicBus *bus, const EmuIpi *ipi, EmuWake *w)
{
    unsigned n = 0;

    for (unsigned i = 0; i < bus->ncpus; i++) {
        EmuLapic *l = &bus->lapics[i];
        bool hit;

        g_mutex_lock(&l->lock);
        hit = hw_enabled(l) && ipi_targets(l, ipi) &&
              emu_lapic_accept(l, ipi->mode, ipi->vector, ipi->level_trig);
        emu_lapic_update_hint(l);
        g_mutex_unlock(&l->lock);
        if (hit) {
            emu_wake_add(w, i);
            n++;
            /* Lowest priority: the lowest-index acceptor stands for arbitration. */
            if (ipi->mode == EMU_APIC_DM_LOWEST) {
                break;
            }
        }
    }
    return n;
}

unsigned emu_apic_bus_deliver_w(EmuApicBus *bus, uint32_t dest, bool logical,
                                unsigned delivery_mode, uint8_t vector,
                                bool level_trig, EmuWake *w)
{
    EmuIpi ipi = {
        .shorthand = SH_NONE, .dest = dest & 0xFF, .logical = logical,
        .mode = delivery_mode & 7, .vector = vector, .level_trig = level_trig,
    };

    return emu_apic_deliver_ipi(bus, &ipi, w);
}

void emu_apic_bus_deliver(EmuApicBus *bus, uint32_t dest, bool logical, unsigned delivery_mode,
                          uint8_t vector, bool level_trig)
{
    EmuWake w = { { 0 } };

    emu_apic_bus_deliver_w(bus, dest, logical, delivery_mode, vector, level_trig, &w);
    emu_wake_flush(bus, &w);
}

void emu_lapic_pic_output_rose(EmuApicBus *bus, EmuWake *w)
{
    for (unsigned i = 0; i < bus->ncpus; i++) {
        if (g_atomic_int_get(&bus->lapics[i].extint_ok)) {
            emu_wake_add(w, i);
        }
    }
}

/* ---- the bus ---- */

void emu_wake_flush(EmuApicBus *bus, EmuWake *w)
{
    for (unsigned word = 0; word < G_N_ELEMENTS(w->bits); word++) {
        while (w->bits[word]) {
            unsigned i = word * 64 + __builtin_ctzll(w->bits[word]);
            void (*wake)(void *);
            void *opaque;

            w->bits[word] &= w->bits[word] - 1;
            if (i >= bus->ncpus) {
                continue;
            }
            g_mutex_lock(&bus->lapics[i].lock);
            wake = bus->lapics[i].wake;
            opaque = bus->lapics[i].wake_opaque;
            g_mutex_unlock(&bus->lapics[i].lock);
            if (wake) {
                wake(opaque);
            }
        }
    }
}

EmuApicBus *emu_apic_bus_new(unsigned ncpus, EmuClockFn clock, void *clock_opaque)
{
    EmuApicBus *bus;

    if (!ncpus || ncpus > EMU_APIC_MAX_CPUS || !clock) {
        return NULL;
    }
    bus = g_new0(EmuApicBus, 1);
    bus->ncpus = ncpus;
    bus->clock = clock;
    bus->clock_opaque = clock_opaque;
    bus->lapics = g_new0(EmuLapic, ncpus);
    for (unsigned i = 0; i < ncpus; i++) {
        bus->lapics[i].bus = bus;
        bus->lapics[i].index = i;
        g_mutex_init(&bus->lapics[i].lock);
        emu_lapic_reset(&bus->lapics[i], i, i == 0);
    }
    emu_ioapic_init(bus);
    emu_pic_init(bus);
    emu_pit_init(bus);
    return bus;
}

void emu_apic_bus_free(EmuApicBus *bus)
{
    if (!bus) {
        return;
    }
    emu_pit_destroy(bus);
    emu_pic_destroy(bus);
    emu_ioapic_destroy(bus);
    for (unsigned i = 0; i < bus->ncpus; i++) {
        g_mutex_clear(&bus->lapics[i].lock);
    }
    g_free(bus->lapics);
    g_free(bus);
}

EmuLapic *emu_apic_bus_lapic(EmuApicBus *bus, unsigned cpu_index)
{
    return cpu_index < bus->ncpus ? &bus->lapics[cpu_index] : NULL;
}

void emu_apic_bus_reset(EmuApicBus *bus)
{
    EmuWake w = { { 0 } };

    emu_pit_reset(bus);
    emu_ioapic_reset(bus);
    emu_pic_reset(bus, &w);
    emu_wake_flush(bus, &w);
}
