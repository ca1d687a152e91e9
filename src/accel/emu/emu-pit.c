/*
 * The 8254 PIT at 0x40-0x43 and port 0x61 (channel 2 gate and output, the
 * speaker enable), counting at 1193182 Hz on the caller's clock.
 *
 * Counters are not stepped: count and output are computed from the time the
 * count was loaded. Channel 0 has no timer of its own either: the BSP's
 * thread sleeps until emu_pit_deadline() and calls emu_pit_poll(), which
 * pulses IRQ0 once per expiry, like kvm's in-kernel PIT (an edge each
 * period whatever the mode, so the waveform of mode 3 is not replayed).
 */
#include <string.h>

#include "accel/emu/emu-apic-internal.h"

#define PIT_BASE        0x40
#define PIT_SPEAKER     0x61
#define PIT_CONTROL     3
#define NS_PER_SEC      1000000000ULL

/* Read/write states: which byte of the count the next access moves. */
enum { RW_LSB = 1, RW_MSB = 2, RW_WORD0 = 3, RW_WORD1 = 4 };

static uint64_t ticks_since_load(const EmuPitChannel *c, uint64_t now)
{
    return now > c->load_ns ? emu_muldiv(now - c->load_ns, EMU_PIT_HZ, NS_PER_SEC) : 0;
}

/* The first time at which ticks_since_load() reaches `ticks` (rounded up). */
static uint64_t ticks_to_ns(uint64_t ticks)
{
    unsigned __int128 ns = ((unsigned __int128)ticks * NS_PER_SEC + EMU_PIT_HZ - 1) / EMU_PIT_HZ;

    return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

static bool mode_periodic(unsigned mode)
{
    return mode == 2 || mode == 3;
}

static uint16_t get_count(const EmuPitChannel *c, uint64_t now)
{
    uint64_t d = ticks_since_load(c, now);

    if (!c->loaded) {
        return c->count & 0xFFFF;
    }
    switch (c->mode) {
    case 2:
        return (c->count - d % c->count) & 0xFFFF;
    case 3:   /* decrements by two, twice per period */
        return (c->count - (2 * d) % c->count) & 0xFFFF;
    default:
        return (c->count - d) & 0xFFFF;
    }
}

static bool get_out(const EmuPitChannel *c, uint64_t now)
{
    uint64_t d = ticks_since_load(c, now);

    /* After a control word: mode 0 drives OUT low, the others high. */
    if (!c->loaded) {
        return c->mode != 0;
    }
    switch (c->mode) {
    case 1:
        return d >= c->count;
    case 2:   /* low for the one clock before reload */
        return d % c->count != c->count - 1;
    case 3:
        return d % c->count < (c->count + 1) / 2;
    case 4:
    case 5:
        return d != c->count;
    default:
        return d >= c->count;
    }
}

/* Channel 0's next expiry (lock held), UINT64_MAX if none. */
static uint64_t ch0_next_ns(const EmuPitChannel *c)
{
    uint64_t delta;

    if (!c->loaded || (!mode_periodic(c->mode) && c->fired)) {
        return UINT64_MAX;
    }
    delta = ticks_to_ns((uint64_t)c->count * (c->fired + 1));
    return delta > UINT64_MAX - c->load_ns ? UINT64_MAX : c->load_ns + delta;
}

static void latch_count(EmuPitChannel *c, uint64_t now)
{
    /* A second latch before the first is read is ignored (8254 datasheet). */
    if (!c->count_latched) {
        c->latched_count = get_count(c, now);
        c->count_latched = c->rw_mode;
    }
}

static void read_back(EmuPit *p, uint8_t val, uint64_t now)
{
    for (unsigned i = 0; i < 3; i++) {
        EmuPitChannel *c = &p->ch[i];

        if (!(val & (2u << i))) {
            continue;
        }
        if (!(val & 0x20)) {
            latch_count(c, now);
        }
        if (!(val & 0x10) && !c->status_latched) {
            c->status = (get_out(c, now) << 7) | (c->rw_mode << 4) | (c->mode << 1) | c->bcd;
            c->status_latched = true;
        }
    }
}

static void write_control(EmuPit *p, uint8_t val, uint64_t now)
{
    unsigned ch = val >> 6, access = (val >> 4) & 3;
    EmuPitChannel *c;

    if (ch == 3) {
        read_back(p, val, now);
        return;
    }
    c = &p->ch[ch];
    if (access == 0) {
        latch_count(c, now);
        return;
    }
    c->programmed = true;
    c->rw_mode = access;
    c->read_state = c->write_state = access;
    c->mode = (val >> 1) & 7;
    if (c->mode > 5) {
        c->mode -= 4;   /* 110b and 111b are modes 2 and 3 */
    }
    c->bcd = val & 1;
    c->count_latched = 0;
    c->status_latched = false;
    /* Counting stops until a new count is written. */
    c->loaded = false;
}

static void load_count(EmuPitChannel *c, uint32_t val, uint64_t now)
{
    c->count = val ? val : 0x10000;
    c->load_ns = now;
    c->loaded = true;
    c->fired = 0;
}

static void write_data(EmuPitChannel *c, uint8_t val, uint64_t now)
{
    switch (c->write_state) {
    case RW_LSB:
        load_count(c, val, now);
        break;
    case RW_MSB:
        load_count(c, (uint32_t)val << 8, now);
        break;
    case RW_WORD0:
        c->write_latch = val;
        c->write_state = RW_WORD1;
        break;
    default:
        load_count(c, c->write_latch | ((uint32_t)val << 8), now);
        c->write_state = RW_WORD0;
        break;
    }
}

static uint8_t read_latched(EmuPitChannel *c)
{
    uint8_t v;

    switch (c->count_latched) {
    case RW_LSB:
        c->count_latched = 0;
        return c->latched_count & 0xFF;
    case RW_MSB:
        c->count_latched = 0;
        return c->latched_count >> 8;
    default:   /* both bytes: low now, high next */
        v = c->latched_count & 0xFF;
        c->count_latched = RW_MSB;
        return v;
    }
}

static uint8_t read_data(EmuPitChannel *c, uint64_t now)
{
    uint16_t count;

    if (c->status_latched) {
        c->status_latched = false;
        return c->status;
    }
    if (c->count_latched) {
        return read_latched(c);
    }
    count = get_count(c, now);
    switch (c->read_state) {
    case RW_LSB:
        return count & 0xFF;
    case RW_MSB:
        return count >> 8;
    case RW_WORD0:
        c->read_state = RW_WORD1;
        return count & 0xFF;
    default:
        c->read_state = RW_WORD0;
        return count >> 8;
    }
}

/* A rising gate (re)starts counting in the modes the gate triggers. */
static void set_gate(EmuPitChannel *c, bool gate, uint64_t now)
{
    if (!c->gate && gate && c->loaded && c->mode != 0 && c->mode != 4) {
        c->load_ns = now;
        c->fired = 0;
    }
    c->gate = gate;
}

/* ---- ports ---- */

static uint64_t pit_port_read(void *opaque, uint64_t offset, unsigned size)
{
    EmuApicBus *bus = opaque;
    uint8_t v = 0xFF;   /* the control register is write-only */

    g_mutex_lock(&bus->pit.lock);
    if (offset < PIT_CONTROL) {
        v = read_data(&bus->pit.ch[offset], emu_now(bus));
    }
    g_mutex_unlock(&bus->pit.lock);
    return v;
}

static void pit_port_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    EmuApicBus *bus = opaque;
    EmuWake w = { { 0 } };

    g_mutex_lock(&bus->pit.lock);
    if (offset == PIT_CONTROL) {
        write_control(&bus->pit, value, emu_now(bus));
    } else if (offset < PIT_CONTROL) {
        write_data(&bus->pit.ch[offset], value, emu_now(bus));
        /* The BSP may be asleep on the old deadline: let it re-read. */
        if (offset == 0 && bus->pit.ch[0].loaded) {
            emu_wake_add(&w, 0);
        }
    }
    g_mutex_unlock(&bus->pit.lock);
    emu_wake_flush(bus, &w);
}

/* Bit 4 toggles as the DRAM refresh did (kvm: every 2^14 ns); some code waits on it. */
static uint64_t speaker_read(void *opaque, uint64_t offset, unsigned size)
{
    EmuApicBus *bus = opaque;
    uint64_t now = emu_now(bus);
    uint8_t v;

    g_mutex_lock(&bus->pit.lock);
    v = (bus->pit.speaker_data_on << 1) | bus->pit.ch[2].gate |
        (get_out(&bus->pit.ch[2], now) << 5) | (((now >> 14) & 1) << 4);
    g_mutex_unlock(&bus->pit.lock);
    return v;
}

static void speaker_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    EmuApicBus *bus = opaque;

    g_mutex_lock(&bus->pit.lock);
    bus->pit.speaker_data_on = (value >> 1) & 1;
    set_gate(&bus->pit.ch[2], value & 1, emu_now(bus));
    g_mutex_unlock(&bus->pit.lock);
}

static const IoRegionOps pit_ops = { .read = pit_port_read, .write = pit_port_write };
static const IoRegionOps speaker_ops = { .read = speaker_read, .write = speaker_write };

bool emu_pit_register(EmuApicBus *bus, IoBus *pio, GError **err)
{
    if (!iobus_add(pio, PIT_BASE, 4, &pit_ops, bus, "pit", err)) {
        return false;
    }
    if (!iobus_add(pio, PIT_SPEAKER, 1, &speaker_ops, bus, "pit-speaker", err)) {
        iobus_remove(pio, PIT_BASE);
        return false;
    }
    return true;
}

void emu_pit_unregister(IoBus *pio)
{
    iobus_remove(pio, PIT_BASE);
    iobus_remove(pio, PIT_SPEAKER);
}

bool emu_pic_pit_register(EmuApicBus *bus, IoBus *pio, GError **err)
{
    if (!emu_pic_register(bus, pio, err)) {
        return false;
    }
    if (!emu_pit_register(bus, pio, err)) {
        emu_pic_unregister(pio);
        return false;
    }
    return true;
}

void emu_pic_pit_unregister(EmuApicBus *bus, IoBus *pio)
{
    emu_pit_unregister(pio);
    emu_pic_unregister(pio);
}

/* ---- channel 0 ---- */

uint64_t emu_pit_deadline(EmuApicBus *bus)
{
    uint64_t d;

    g_mutex_lock(&bus->pit.lock);
    d = ch0_next_ns(&bus->pit.ch[0]);
    g_mutex_unlock(&bus->pit.lock);
    return d;
}

void emu_pit_poll(EmuApicBus *bus)
{
    EmuPitChannel *c = &bus->pit.ch[0];
    EmuWake w = { { 0 } };
    uint64_t now;

    g_mutex_lock(&bus->pit.lock);
    now = emu_now(bus);
    if (now >= ch0_next_ns(c)) {
        /* Expiries the BSP slept through count as one, as a late hrtimer. */
        c->fired = mode_periodic(c->mode) ? ticks_since_load(c, now) / c->count : 1;
        emu_ioapic_set_pit_line(bus, true, &w);
        emu_ioapic_set_pit_line(bus, false, &w);
    }
    g_mutex_unlock(&bus->pit.lock);
    emu_wake_flush(bus, &w);
}

/* ---- VM state ---- */

static void channel_save(const EmuPitChannel *c, X86PitChannel *s, uint64_t now)
{
    *s = (X86PitChannel) {
        .count = c->count, .latched_count = c->latched_count,
        .count_latched = c->count_latched, .status_latched = c->status_latched,
        .status = c->status, .read_state = c->read_state, .write_state = c->write_state,
        .write_latch = c->write_latch, .rw_mode = c->rw_mode,
        .mode = c->programmed ? c->mode : X86_PIT_MODE_UNSET,
        .bcd = c->bcd, .gate = c->gate, .counting = c->loaded,
        .elapsed_ns = c->loaded && now > c->load_ns ? now - c->load_ns : 0,
    };
}

/*
 * Expiries up to the load count as signalled: emu_apic_bus_save signalled
 * any that was due before the state was taken. An elapsed time longer than
 * this host's clock has run is cut to it (counting restarts at clock 0).
 */
static void channel_load(EmuPitChannel *c, const X86PitChannel *s, uint64_t now)
{
    uint64_t ticks;

    *c = (EmuPitChannel) {
        .count = s->count, .latched_count = s->latched_count,
        .count_latched = s->count_latched, .status_latched = s->status_latched,
        .status = s->status, .read_state = s->read_state, .write_state = s->write_state,
        .write_latch = s->write_latch, .rw_mode = s->rw_mode,
        .programmed = s->mode != X86_PIT_MODE_UNSET,
        .mode = s->mode != X86_PIT_MODE_UNSET ? s->mode : 0,
        .bcd = s->bcd, .gate = s->gate,
        .loaded = s->counting && s->mode != X86_PIT_MODE_UNSET,
        .load_ns = now > s->elapsed_ns ? now - s->elapsed_ns : 0,
    };
    ticks = ticks_since_load(c, now);
    c->fired = mode_periodic(c->mode) ? ticks / c->count : ticks >= c->count;
}

void emu_pit_save(EmuApicBus *bus, X86PitState *s)
{
    uint64_t now;

    memset(s, 0, sizeof(*s));
    g_mutex_lock(&bus->pit.lock);
    now = emu_now(bus);
    for (unsigned i = 0; i < 3; i++) {
        channel_save(&bus->pit.ch[i], &s->ch[i], now);
    }
    s->speaker_data_on = bus->pit.speaker_data_on;
    g_mutex_unlock(&bus->pit.lock);
}

/* The BSP sleeps on the old channel 0 deadline: wake it to re-read it. */
void emu_pit_load(EmuApicBus *bus, const X86PitState *s)
{
    EmuWake w = { { 0 } };
    uint64_t now;

    g_mutex_lock(&bus->pit.lock);
    now = emu_now(bus);
    for (unsigned i = 0; i < 3; i++) {
        channel_load(&bus->pit.ch[i], &s->ch[i], now);
    }
    bus->pit.speaker_data_on = s->speaker_data_on;
    emu_wake_add(&w, 0);
    g_mutex_unlock(&bus->pit.lock);
    emu_wake_flush(bus, &w);
}

/* ---- lifecycle ---- */

/* As kvm's PIT after creation: nothing counts until the guest programs it. */
void emu_pit_reset(EmuApicBus *bus)
{
    EmuWake w = { { 0 } };

    g_mutex_lock(&bus->pit.lock);
    for (unsigned i = 0; i < 3; i++) {
        bus->pit.ch[i] = (EmuPitChannel) {
            .count = 0x10000,
            .rw_mode = RW_WORD0,
            .read_state = RW_WORD0,
            .write_state = RW_WORD0,
            .gate = i != 2,
        };
    }
    bus->pit.speaker_data_on = false;
    emu_ioapic_set_pit_line(bus, false, &w);
    g_mutex_unlock(&bus->pit.lock);
    emu_wake_flush(bus, &w);
}

void emu_pit_init(EmuApicBus *bus)
{
    g_mutex_init(&bus->pit.lock);
    emu_pit_reset(bus);
}

void emu_pit_destroy(EmuApicBus *bus)
{
    g_mutex_clear(&bus->pit.lock);
}
