/*
 * mc146818rtc: the PC's MC146818 real-time clock with its CMOS NVRAM, as
 * QEMU has it on microvm and pc (docs/legacy-devices.md). Index port 0x70
 * (bit 7 is the NMI mask and is ignored), data port 0x71; 128 bytes of which
 * 0x00..0x0d are the clock's registers and the rest NVRAM (0x32: century).
 *
 * Time is not counted second by second: the device keeps the guest's RTC
 * time at one instant of a reference clock and derives the time registers,
 * UIP, UF and AF when the guest looks, so an idle RTC arms no timer. A timer
 * runs only for what must interrupt the guest: the periodic rate (PIE) and
 * the next update or alarm (UIE/AIE).
 *
 * -rtc clock= picks the reference clock: host (the default) is the host's
 * wall clock; vm and rt are the machine clock, which under -accel qtest is
 * the virtual clock QEMU's rtc-test drives with clock_step. -rtc base= is
 * where the guest's time starts: the host's UTC time (utc, the default), its
 * local time (localtime) or a given date.
 *
 * The clock is stopped while register B's SET bit is on or register A's
 * divider is not running; the guest then writes the time registers, and
 * starting the clock again sets the time (the first update half a second
 * after a divider reset, as on the chip). A new time raises the QMP event
 * RTC_CHANGE {"offset": seconds from host time}, at most one a second (QEMU's
 * throttle; later ones within the second are coalesced into one).
 */
#include <string.h>
#include <time.h>

#include "hw/rtc/mc146818rtc.h"
#include "migration/vmstate.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strutil.h"

#define NS_PER_SEC 1000000000LL
#define RTC_CLOCK_RATE 32768
#define RTC_NO_EVENT INT64_MAX
/* QEMU's throttle for RTC_CHANGE (monitor_qapi_event_conf): one a second. */
#define RTC_CHANGE_INTERVAL_US 1000000

typedef struct RtcState {
    Device parent;               /* first: the registry allocates and frees us */
    uint16_t iobase;             /* property "iobase" */
    uint8_t irq_num;             /* property "irq" */

    uint8_t cmos[RTC_CMOS_SIZE];
    uint8_t index;
    /*
     * The guest's time (ns since the epoch, read through gmtime) was
     * base_guest_ns when the reference clock read base_ref_ns. While the clock
     * is stopped base_guest_ns is the time it stopped at, and the guest's
     * registers hold what it wrote.
     */
    int64_t base_guest_ns;
    int64_t base_ref_ns;
    /* UF and AF are accounted for every second up to this one (guest time). */
    int64_t flags_sec;
    /* Machine-clock tick (32768 Hz) of the next periodic interrupt, -1 = off. */
    int64_t next_periodic;
    int64_t periodic_period;     /* the period it was armed with, in ticks */
    int64_t saved_time_ns;       /* the stream's time (rtc_pre_save) */

    /* Host side, not state. */
    bool host_clock;             /* reference = host wall clock, else the machine clock */
    IrqLine irq;
    MachineTimer *periodic_timer;
    MachineTimer *update_timer;
    /* What the guest's clock would read had it never been set (RTC_CHANGE's zero). */
    int64_t start_guest_sec;
    int64_t start_host_us;       /* host wall clock then */
    int64_t last_change_us;      /* host monotonic time of the last RTC_CHANGE */
    bool change_pending;
    int64_t pending_offset;
    GSource *change_source;
} RtcState;

/* ---- time ------------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static MachineClock *machine_clk(RtcState *s)
{
    Machine *m = s->parent.machine;

    return machine_clock_get(&m->clock, m->ctx);
}

static int64_t ref_now(RtcState *s)
{
    return s->host_clock ? g_get_real_time() * 1000 : machine_clock_ns(machine_clk(s));
}

static bool rtc_running(const RtcState *s)
{
    return !(s->cmos[RTC_REG_B] & RTC_REG_B_SET) && (s->cmos[RTC_REG_A] & 0x70) <= 0x20;
}

static int64_t guest_ns(RtcState *s)
{
    if (!rtc_running(s)) {
        return s->base_guest_ns;
    }
    return s->base_guest_ns + (ref_now(s) - s->base_ref_ns);
}

static int64_t guest_sec(RtcState *s)
{
    return floor_div(guest_ns(s), NS_PER_SEC);
}

static uint8_t to_reg(const RtcState *s, int v)
{
    if (s->cmos[RTC_REG_B] & RTC_REG_B_DM) {
        return (uint8_t)v;
    }
    return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int from_reg(const RtcState *s, uint8_t v)
{
    if (s->cmos[RTC_REG_B] & RTC_REG_B_DM) {
        return v;
    }
    return ((v >> 4) & 0x0f) * 10 + (v & 0x0f);
}

/* 12-hour mode keeps PM in bit 7 and counts 12, 1, ..., 11. */
static uint8_t hour_to_reg(const RtcState *s, int h)
{
    if (s->cmos[RTC_REG_B] & RTC_REG_B_24H) {
        return to_reg(s, h);
    }
    return to_reg(s, h % 12 ? h % 12 : 12) | (h >= 12 ? 0x80 : 0);
}

static int hour_from_reg(const RtcState *s, uint8_t v)
{
    if (s->cmos[RTC_REG_B] & RTC_REG_B_24H) {
        return from_reg(s, v);
    }
    return from_reg(s, v & 0x7f) % 12 + (v & 0x80 ? 12 : 0);
}

/* The time registers from the running clock, in the format register B asks for. */
static void materialize(RtcState *s)
{
    time_t t = (time_t)guest_sec(s);
    struct tm tm;
    int year;

    if (!rtc_running(s) || !gmtime_r(&t, &tm)) {
        return;
    }
    year = tm.tm_year + 1900;
    s->cmos[RTC_SECONDS] = to_reg(s, tm.tm_sec);
    s->cmos[RTC_MINUTES] = to_reg(s, tm.tm_min);
    s->cmos[RTC_HOURS] = hour_to_reg(s, tm.tm_hour);
    s->cmos[RTC_DAY_OF_WEEK] = to_reg(s, tm.tm_wday + 1);
    s->cmos[RTC_DAY_OF_MONTH] = to_reg(s, tm.tm_mday);
    s->cmos[RTC_MONTH] = to_reg(s, tm.tm_mon + 1);
    s->cmos[RTC_YEAR] = to_reg(s, year % 100);
    s->cmos[RTC_CENTURY] = to_reg(s, (year / 100) % 100);
}

/* The time the guest wrote into the registers (timegm normalises nonsense). */
#define RTC_MIN_SEC (-2208988800LL)     /* 1900-01-01T00:00:00Z */
#define RTC_MAX_SEC 7258118399LL        /* 2199-12-31T23:59:59Z */

static int64_t parse_time(const RtcState *s)
{
    struct tm tm = {
        .tm_sec = from_reg(s, s->cmos[RTC_SECONDS]),
        .tm_min = from_reg(s, s->cmos[RTC_MINUTES]),
        .tm_hour = hour_from_reg(s, s->cmos[RTC_HOURS]),
        .tm_mday = from_reg(s, s->cmos[RTC_DAY_OF_MONTH]),
        .tm_mon = from_reg(s, s->cmos[RTC_MONTH]) - 1,
        .tm_year = from_reg(s, s->cmos[RTC_CENTURY]) * 100 +
                   from_reg(s, s->cmos[RTC_YEAR]) - 1900,
    };

    /*
     * The guest's time is kept in nanoseconds (int64: years 1678..2262).
     * Registers can say years up to 25599 in binary mode, so clamp to
     * 1900..2199 rather than overflow: no real guest sets times outside.
     */
    return CLAMP((int64_t)timegm(&tm), RTC_MIN_SEC, RTC_MAX_SEC);
}

/* ---- RTC_CHANGE -------------------------------------------------------------- */

static void emit_change(RtcState *s, int64_t offset)
{
    JsonObject *o = json_object_new();

    json_object_set_int_member(o, "offset", offset);
    machine_emit_event(s->parent.machine, "RTC_CHANGE",
                       json_node_init_object(json_node_alloc(), o));
    json_object_unref(o);
    s->last_change_us = g_get_monotonic_time();
}

static gboolean change_flush(gpointer opaque)
{
    RtcState *s = opaque;

    s->change_source = NULL;
    if (s->change_pending) {
        s->change_pending = false;
        emit_change(s, s->pending_offset);
    }
    return G_SOURCE_REMOVE;
}

/*
 * The offset is from the time the -rtc base gives now (for base=utc the
 * host's UTC time), as QEMU's qemu_timedate_diff().
 */
static void rtc_changed(RtcState *s, int64_t new_sec)
{
    int64_t offset = new_sec - (s->start_guest_sec +
                                (g_get_real_time() - s->start_host_us) / G_USEC_PER_SEC);
    int64_t now = g_get_monotonic_time();

    if (!s->last_change_us || now - s->last_change_us >= RTC_CHANGE_INTERVAL_US) {
        emit_change(s, offset);
        return;
    }
    s->change_pending = true;
    s->pending_offset = offset;
    if (!s->change_source) {
        int64_t wait_ms = (s->last_change_us + RTC_CHANGE_INTERVAL_US - now + 999) / 1000;
        s->change_source = g_timeout_source_new((guint)wait_ms);
        g_source_set_callback(s->change_source, change_flush, s, NULL);
        g_source_attach(s->change_source, s->parent.machine->ctx);
        g_source_unref(s->change_source);
    }
}

/* ---- flags, interrupts and timers ------------------------------------------ */

/* An alarm register: its value, -1 for "don't care" (top bits 11), -2 for never. */
static int alarm_field(const RtcState *s, uint8_t reg, int limit)
{
    uint8_t v = s->cmos[reg];
    int x;

    if ((v & 0xc0) == 0xc0) {
        return -1;
    }
    x = reg == RTC_HOURS_ALARM ? hour_from_reg(s, v) : from_reg(s, v);
    return x < limit ? x : -2;
}

/* The first second after `after` the alarm matches, RTC_NO_EVENT if none. */
static int64_t next_alarm(const RtcState *s, int64_t after)
{
    int as = alarm_field(s, RTC_SECONDS_ALARM, 60);
    int am = alarm_field(s, RTC_MINUTES_ALARM, 60);
    int ah = alarm_field(s, RTC_HOURS_ALARM, 24);
    int64_t start = after + 1;

    if (as == -2 || am == -2 || ah == -2) {
        return RTC_NO_EVENT;
    }
    /* Every pattern repeats within a day: a day and an hour of hours suffices. */
    for (int64_t h = start - (start - floor_div(start, 3600) * 3600); h <= start + 86400;
         h += 3600) {
        if (ah >= 0 && floor_div(h, 3600) - floor_div(h, 86400) * 24 != ah) {
            continue;
        }
        for (int m = am >= 0 ? am : 0; m < (am >= 0 ? am + 1 : 60); m++) {
            for (int sec = as >= 0 ? as : 0; sec < (as >= 0 ? as + 1 : 60); sec++) {
                int64_t x = h + m * 60 + sec;
                if (x >= start) {
                    return x;
                }
            }
        }
    }
    return RTC_NO_EVENT;
}

/* IRQF follows the enabled flags; the line is high while IRQF is set. */
static void update_irq(RtcState *s)
{
    if (s->cmos[RTC_REG_C] & s->cmos[RTC_REG_B] & 0x70) {
        s->cmos[RTC_REG_C] |= RTC_REG_C_IRQF;
    }
    irq_set_level(&s->irq, s->cmos[RTC_REG_C] & RTC_REG_C_IRQF);
}

/* Sets UF and AF for every update since the last accounting. */
static void account_flags(RtcState *s)
{
    int64_t now;

    if (!rtc_running(s)) {
        return;
    }
    now = guest_sec(s);
    if (now > s->flags_sec) {
        s->cmos[RTC_REG_C] |= RTC_REG_C_UF;
        if (next_alarm(s, s->flags_sec) <= now) {
            s->cmos[RTC_REG_C] |= RTC_REG_C_AF;
        }
        s->flags_sec = now;
    }
    update_irq(s);
}

/* The update timer runs only when an update or alarm must interrupt. */
static void arm_update_timer(RtcState *s)
{
    uint8_t b = s->cmos[RTC_REG_B];
    int64_t now_ns, now_sec, target = RTC_NO_EVENT;

    if (!rtc_running(s) || !(b & (RTC_REG_B_UIE | RTC_REG_B_AIE))) {
        machine_timer_del(s->update_timer);
        return;
    }
    now_ns = guest_ns(s);
    now_sec = floor_div(now_ns, NS_PER_SEC);
    if (b & RTC_REG_B_UIE) {
        target = now_sec + 1;
    }
    if (b & RTC_REG_B_AIE) {
        target = MIN(target, next_alarm(s, now_sec));
    }
    if (target == RTC_NO_EVENT) {
        machine_timer_del(s->update_timer);
        return;
    }
    machine_timer_mod_in(s->update_timer, target * NS_PER_SEC - now_ns);
}

static void update_timer_cb(void *opaque)
{
    RtcState *s = opaque;

    account_flags(s);
    arm_update_timer(s);
}

/* Periodic interrupt period in 32768 Hz ticks (register A's rate bits), 0 = none. */
static int64_t periodic_period(const RtcState *s)
{
    int code = s->cmos[RTC_REG_A] & 0x0f;

    if (!code || !(s->cmos[RTC_REG_B] & RTC_REG_B_PIE)) {
        return 0;
    }
    if (code <= 2) {
        code += 7;          /* rates 1 and 2 are 256 Hz and 128 Hz */
    }
    return 1LL << (code - 1);
}

static int64_t ticks_from_ns(int64_t ns)
{
    return (int64_t)((__int128)ns * RTC_CLOCK_RATE / NS_PER_SEC);
}

static int64_t ns_from_ticks(int64_t ticks)
{
    return (int64_t)(((__int128)ticks * NS_PER_SEC + RTC_CLOCK_RATE - 1) / RTC_CLOCK_RATE);
}

/*
 * A new rate takes effect one new period after the last interrupt (QEMU's
 * behaviour, which its rtc-test measures over 100 rate changes); a first one
 * is aligned to the divider chain.
 */
static void periodic_rearm(RtcState *s, bool rate_changed)
{
    int64_t period = periodic_period(s);
    int64_t cur = ticks_from_ns(machine_clock_ns(machine_clk(s)));
    int64_t next;

    if (!period) {
        machine_timer_del(s->periodic_timer);
        s->next_periodic = -1;
        return;
    }
    if (s->next_periodic >= 0 && !rate_changed && period == s->periodic_period) {
        return;
    }
    if (s->next_periodic >= 0 && s->periodic_period) {
        int64_t last = s->next_periodic - s->periodic_period;
        next = last + period;
        if (next <= cur) {
            next = cur + period - (cur - last) % period;
        }
    } else {
        next = (cur / period + 1) * period;
    }
    s->next_periodic = next;
    s->periodic_period = period;
    machine_timer_mod(s->periodic_timer, ns_from_ticks(next));
}

static void periodic_cb(void *opaque)
{
    RtcState *s = opaque;
    int64_t cur = ticks_from_ns(machine_clock_ns(machine_clk(s)));

    s->cmos[RTC_REG_C] |= RTC_REG_C_PF;
    update_irq(s);
    s->next_periodic += s->periodic_period;
    if (s->next_periodic <= cur) {      /* the host fell behind: no burst */
        s->next_periodic = cur + s->periodic_period - (cur % s->periodic_period);
    }
    machine_timer_mod(s->periodic_timer, ns_from_ticks(s->next_periodic));
}

/* ---- stopping and starting the clock --------------------------------------- */

static void clock_stopping(RtcState *s)
{
    account_flags(s);
    materialize(s);
    s->base_guest_ns = guest_ns(s);
}

/* The guest's registers become the time; frac_ns into the first second. */
static void set_time(RtcState *s, int64_t frac_ns)
{
    int64_t sec = parse_time(s);

    s->base_guest_ns = sec * NS_PER_SEC + frac_ns;
    s->base_ref_ns = ref_now(s);
    s->flags_sec = sec;
    rtc_changed(s, sec);
}

static void write_reg_a(RtcState *s, uint8_t val)
{
    bool was_running = rtc_running(s);
    bool divider_reset = (s->cmos[RTC_REG_A] & 0x60) == 0x60;
    bool rate_changed = (s->cmos[RTC_REG_A] ^ val) & 0x0f;

    if (was_running) {
        clock_stopping(s);
    }
    s->cmos[RTC_REG_A] = val & 0x7f;        /* UIP is read-only */
    if (!was_running && rtc_running(s)) {
        /* The first update comes half a second after a divider reset ends. */
        set_time(s, divider_reset ? NS_PER_SEC / 2 : 0);
    } else if (was_running && rtc_running(s)) {
        s->base_ref_ns = ref_now(s);
    }
    periodic_rearm(s, rate_changed);
    arm_update_timer(s);
}

static void write_reg_b(RtcState *s, uint8_t val)
{
    bool was_running = rtc_running(s);
    int64_t frac = guest_ns(s) - guest_sec(s) * NS_PER_SEC;

    if (was_running) {
        clock_stopping(s);
    }
    if (val & RTC_REG_B_SET) {
        val &= ~RTC_REG_B_UIE;              /* the chip clears UIE with SET */
    }
    s->cmos[RTC_REG_B] = val;
    if (!was_running && rtc_running(s)) {
        set_time(s, frac);
    } else if (was_running && rtc_running(s)) {
        s->base_ref_ns = ref_now(s);
    }
    update_irq(s);
    periodic_rearm(s, false);
    arm_update_timer(s);
}

/* A time register written while the clock runs sets the time at once. */
static void write_time_reg(RtcState *s, uint8_t reg, uint8_t val)
{
    int64_t frac;

    if (!rtc_running(s)) {
        s->cmos[reg] = val;
        return;
    }
    account_flags(s);
    frac = guest_ns(s) - guest_sec(s) * NS_PER_SEC;
    materialize(s);
    s->cmos[reg] = val;
    set_time(s, frac);
    arm_update_timer(s);
}

/* ---- the ports ------------------------------------------------------------- */

static bool rtc_uip(RtcState *s)
{
    int64_t ns, left;

    if (!rtc_running(s)) {
        return false;
    }
    ns = guest_ns(s);
    left = NS_PER_SEC - (ns - floor_div(ns, NS_PER_SEC) * NS_PER_SEC);
    return left <= RTC_UIP_HOLD_NS;
}

static uint8_t read_data(RtcState *s)
{
    uint8_t v;

    switch (s->index) {
    case RTC_SECONDS: case RTC_MINUTES: case RTC_HOURS: case RTC_DAY_OF_WEEK:
    case RTC_DAY_OF_MONTH: case RTC_MONTH: case RTC_YEAR: case RTC_CENTURY:
        materialize(s);
        return s->cmos[s->index];
    case RTC_REG_A:
        return s->cmos[RTC_REG_A] | (rtc_uip(s) ? RTC_REG_A_UIP : 0);
    case RTC_REG_C:
        account_flags(s);
        v = s->cmos[RTC_REG_C];
        s->cmos[RTC_REG_C] = 0;
        update_irq(s);
        arm_update_timer(s);
        return v;
    default:
        return s->cmos[s->index];
    }
}

static void write_data(RtcState *s, uint8_t val)
{
    switch (s->index) {
    case RTC_SECONDS: case RTC_MINUTES: case RTC_HOURS: case RTC_DAY_OF_WEEK:
    case RTC_DAY_OF_MONTH: case RTC_MONTH: case RTC_YEAR: case RTC_CENTURY:
        write_time_reg(s, s->index, val);
        break;
    case RTC_SECONDS_ALARM: case RTC_MINUTES_ALARM: case RTC_HOURS_ALARM:
        account_flags(s);
        s->cmos[s->index] = val;
        arm_update_timer(s);
        break;
    case RTC_REG_A:
        write_reg_a(s, val);
        break;
    case RTC_REG_B:
        write_reg_b(s, val);
        break;
    case RTC_REG_C:
    case RTC_REG_D:
        break;                              /* read-only */
    default:
        s->cmos[s->index] = val;
        break;
    }
}

/* Runs on a vCPU thread (or qtest's main thread) with the machine lock held. */
static uint64_t rtc_read(void *opaque, uint64_t off, unsigned size)
{
    RtcState *s = opaque;

    /* The index port is write-only; ISA reads of it float high, as QEMU's. */
    return off == 0 ? 0xff : read_data(s);
}

static void rtc_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    RtcState *s = opaque;

    if (off == 0) {
        s->index = val & 0x7f;              /* bit 7 masks NMIs: nothing to mask here */
    } else {
        write_data(s, (uint8_t)val);
    }
}

static const IoRegionOps rtc_ops = {
    .read = rtc_read,
    .write = rtc_write,
};

/* ---- the device ------------------------------------------------------------ */

void mc146818rtc_set_cmos(Device *d, uint8_t index, uint8_t value)
{
    RtcState *s = (RtcState *)d;

    if (index > RTC_REG_D && index < RTC_CMOS_SIZE) {
        s->cmos[index] = value;
    }
}

int64_t mc146818rtc_guest_seconds(Device *d)
{
    return guest_sec((RtcState *)d);
}

/* A reset masks the interrupts and clears the flags; the time runs on (QEMU's). */
static void rtc_reset(Device *d)
{
    RtcState *s = (RtcState *)d;

    account_flags(s);
    s->cmos[RTC_REG_B] &= ~(RTC_REG_B_PIE | RTC_REG_B_AIE | RTC_REG_B_UIE | 0x08);
    s->cmos[RTC_REG_C] = 0;
    update_irq(s);
    periodic_rearm(s, true);
    arm_update_timer(s);
}

/* -rtc base=: utc (and no -rtc), localtime, or a date (rtc_base_epoch). */
static int64_t base_seconds(const StratusConfig *cfg, int64_t host_sec)
{
    if (!cfg->rtc_base || !strcmp(cfg->rtc_base, "utc")) {
        return host_sec;
    }
    if (!strcmp(cfg->rtc_base, "localtime")) {
        time_t t = (time_t)host_sec;
        struct tm tm;
        return localtime_r(&t, &tm) ? host_sec + tm.tm_gmtoff : host_sec;
    }
    return cfg->rtc_base_epoch;
}

static bool rtc_realize(Device *d, GError **err)
{
    RtcState *s = (RtcState *)d;
    Machine *m = d->machine;

    if (!iobus_add(&m->pio, s->iobase, 2, &rtc_ops, s, "rtc", err)) {
        g_prefix_error(err, "mc146818rtc: ioport 0x%x already in use: ", s->iobase);
        return false;
    }
    s->host_clock = !g_strcmp0(m->cfg->rtc_clock, "host");
    irq_line_init(&s->irq, m, s->irq_num);
    s->periodic_timer = machine_timer_new(machine_clk(s), periodic_cb, s);
    s->update_timer = machine_timer_new(machine_clk(s), update_timer_cb, s);
    s->next_periodic = -1;
    s->start_host_us = g_get_real_time();
    s->start_guest_sec = base_seconds(m->cfg, s->start_host_us / G_USEC_PER_SEC);
    s->base_guest_ns = s->start_guest_sec * NS_PER_SEC +
                       (s->start_host_us % G_USEC_PER_SEC) * 1000;
    s->base_ref_ns = ref_now(s);
    s->flags_sec = floor_div(s->base_guest_ns, NS_PER_SEC);
    s->cmos[RTC_REG_A] = 0x26;
    s->cmos[RTC_REG_B] = RTC_REG_B_24H;
    s->cmos[RTC_REG_D] = RTC_REG_D_VRT;
    materialize(s);
    return true;
}

static void rtc_unrealize(Device *d)
{
    RtcState *s = (RtcState *)d;

    if (s->change_source) {
        g_source_destroy(s->change_source);
    }
    machine_timer_free(s->periodic_timer);
    machine_timer_free(s->update_timer);
    iobus_remove(&d->machine->pio, s->iobase);
}

/* ---- saved state ----------------------------------------------------------- */

/*
 * The stream holds the guest's time itself (ns since the epoch) rather than
 * a reference-clock instant: machine clocks differ between hosts. The
 * periodic timer is re-derived from register A and B after loading.
 */
/*
 * The time is saved as the guest's time itself for clock=vm/rt, and as its
 * offset from the host's wall clock for clock=host (a restored guest then
 * keeps its offset from real time, as QEMU's); a stopped clock saves the time
 * it stopped at. Nothing else moves at save, so saving twice gives the same
 * bytes.
 */
static bool rtc_pre_save(void *opaque, GError **err)
{
    RtcState *s = opaque;

    (void)err;
    /* The offset without reading the clock: two reads would differ by a tick. */
    if (rtc_running(s) && s->host_clock) {
        s->saved_time_ns = s->base_guest_ns - s->base_ref_ns;
    } else {
        s->saved_time_ns = guest_ns(s);
    }
    return true;
}

static bool rtc_post_load(void *opaque, uint32_t version, GError **err)
{
    RtcState *s = opaque;

    (void)version;
    if (s->index >= RTC_CMOS_SIZE) {
        set_error(err, "mc146818rtc: index %u out of range", s->index);
        return false;
    }
    s->base_ref_ns = ref_now(s);
    s->base_guest_ns = s->saved_time_ns +
                       (rtc_running(s) && s->host_clock ? s->base_ref_ns : 0);
    s->next_periodic = -1;
    update_irq(s);
    periodic_rearm(s, true);
    arm_update_timer(s);
    return true;
}

static const VMStateDescription vmstate_rtc = {
    .name = "mc146818rtc",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = rtc_pre_save,
    .post_load = rtc_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_BUFFER(cmos, RtcState),
        VMSTATE_U8(index, RtcState),
        VMSTATE_I64(saved_time_ns, RtcState),
        VMSTATE_I64(flags_sec, RtcState),
        VMSTATE_END_OF_LIST()
    },
};

static const Property rtc_props[] = {
    /* QEMU's names; it gives them no description. */
    DEFINE_PROP("iobase", PROP_U16, RtcState, iobase, "0x70", NULL),
    DEFINE_PROP_RANGE("irq", PROP_U8, RtcState, irq_num, "8", 0, 15, NULL),
    DEFINE_PROP_END,
};

const DeviceClass mc146818rtc_device_class = {
    .name = "mc146818rtc",
    .parent = "isa-device",
    .description = NULL,
    .bus = DEVICE_BUS_ISA,
    .instance_size = sizeof(RtcState),
    .props = rtc_props,
    /* The board creates it (-machine rtc=on): the CMOS contents are the board's. */
    .user_creatable = false,
    .hotpluggable = false,
    .realize = rtc_realize,
    .unrealize = rtc_unrealize,
    .reset = rtc_reset,
    .vmsd = &vmstate_rtc,
};
