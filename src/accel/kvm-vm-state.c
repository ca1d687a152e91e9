/*
 * The kvm accelerator's VM state and dirty-page log (accel.h vm_get_state,
 * vm_set_state, dirty_log_*): KVM's in-kernel 8259 pair and IOAPIC
 * (KVM_GET/SET_IRQCHIP), PIT (KVM_GET/SET_PIT2) and guest clock
 * (KVM_GET/SET_CLOCK) converted to and from X86VmState, and
 * KVM_MEM_LOG_DIRTY_PAGES / KVM_GET_DIRTY_LOG on the RAM slots.
 *
 * Where KVM and the accelerator-independent state differ:
 *  - IOAPIC irr has KVM's meaning already. KVM keeps the per-source line
 *    levels to itself, so gsi_level is read as the irr of level-triggered
 *    pins, and a load sets the lines only through irr (KVM re-injects each
 *    irr bit, delivering a pending edge).
 *  - PIT: count_load_time is host CLOCK_MONOTONIC, turned into elapsed_ns;
 *    KVM_SET_PIT2 restarts every counter from its full count anyway. KVM
 *    has no stopped counter: one loaded with counting 0 counts from the
 *    load. mode 0xff (never programmed) is X86_PIT_MODE_UNSET.
 *  - the 8259s have no single mode in KVM: a state in the middle of a
 *    single-mode initialisation is refused.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>

#include "accel/kvm-internal.h"
#include "util/fdutil.h"
#include "util/log.h"
#include "util/strutil.h"

#ifndef KVM_PIT_FLAGS_SPEAKER_DATA_ON
#define KVM_PIT_FLAGS_SPEAKER_DATA_ON 0x00000002
#endif

#define KVM_IOAPIC_BASE    0xFEC00000ULL
#define KVM_PIT_MODE_UNSET 0xFF
/* The chipset's ELCR masks (IRQ 0, 1, 2, 8, 13 always edge), as KVM sets them. */
static const uint8_t pic_elcr_mask[2] = { 0xF8, 0xDE };

/* KVM's PIT times are ktime_get(): CLOCK_MONOTONIC. */
static int64_t host_monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool vm_ioctl(KvmState *s, unsigned long req, const char *name, void *arg,
                     GError **err)
{
    if (fd_ioctl(s->vm_fd, req, arg) < 0) {
        set_error_errno(err, errno, "%s", name);
        return false;
    }
    return true;
}

/* ---- 8259 pair and IOAPIC ---- */

static void pic_to_state(X86PicState *x, const struct kvm_pic_state *k)
{
    *x = (X86PicState) {
        .last_irr = k->last_irr, .irr = k->irr, .imr = k->imr, .isr = k->isr,
        .priority_add = k->priority_add, .irq_base = k->irq_base,
        .read_isr = k->read_reg_select, .poll = k->poll, .special_mask = k->special_mask,
        .init_state = k->init_state, .auto_eoi = k->auto_eoi,
        .rotate_on_auto_eoi = k->rotate_on_auto_eoi,
        .special_fully_nested = k->special_fully_nested_mode, .init4 = k->init4,
        .elcr = k->elcr, .elcr_mask = k->elcr_mask,
    };
}

static void pic_to_kvm(struct kvm_pic_state *k, const X86PicState *x)
{
    *k = (struct kvm_pic_state) {
        .last_irr = x->last_irr, .irr = x->irr, .imr = x->imr, .isr = x->isr,
        .priority_add = x->priority_add, .irq_base = x->irq_base,
        .read_reg_select = x->read_isr, .poll = x->poll, .special_mask = x->special_mask,
        .init_state = x->init_state, .auto_eoi = x->auto_eoi,
        .rotate_on_auto_eoi = x->rotate_on_auto_eoi,
        .special_fully_nested_mode = x->special_fully_nested, .init4 = x->init4,
        .elcr = x->elcr, .elcr_mask = x->elcr_mask,
    };
}

static void ioapic_to_state(X86IoapicState *x, uint64_t *gsi_level,
                            const struct kvm_ioapic_state *k)
{
    uint32_t level_pins = 0;

    memset(x, 0, sizeof(*x));
    x->id = k->id & 0xF;
    x->regsel = k->ioregsel;
    x->irr = k->irr & ((1u << X86_IOAPIC_PINS) - 1);
    for (unsigned pin = 0; pin < X86_IOAPIC_PINS; pin++) {
        x->redir[pin] = k->redirtbl[pin].bits;
        if (x->redir[pin] & X86_IOAPIC_RTE_LEVEL) {
            level_pins |= 1u << pin;
        }
    }
    *gsi_level = x->irr & level_pins;
}

static void ioapic_to_kvm(struct kvm_ioapic_state *k, const X86IoapicState *x)
{
    memset(k, 0, sizeof(*k));
    k->base_address = KVM_IOAPIC_BASE;
    k->ioregsel = x->regsel;
    k->id = x->id;
    k->irr = x->irr;
    for (unsigned pin = 0; pin < X86_IOAPIC_PINS; pin++) {
        k->redirtbl[pin].bits = x->redir[pin];
    }
}

static bool get_irqchip(KvmState *s, uint32_t id, struct kvm_irqchip *chip, GError **err)
{
    memset(chip, 0, sizeof(*chip));
    chip->chip_id = id;
    return vm_ioctl(s, KVM_GET_IRQCHIP, "KVM_GET_IRQCHIP", chip, err);
}

static bool get_irqchips(KvmState *s, X86VmState *st, GError **err)
{
    struct kvm_irqchip chip;

    for (uint32_t i = 0; i < 2; i++) {
        if (!get_irqchip(s, i ? KVM_IRQCHIP_PIC_SLAVE : KVM_IRQCHIP_PIC_MASTER, &chip, err)) {
            return false;
        }
        pic_to_state(&st->pic[i], &chip.chip.pic);
    }
    if (!get_irqchip(s, KVM_IRQCHIP_IOAPIC, &chip, err)) {
        return false;
    }
    ioapic_to_state(&st->ioapic, &st->gsi_level, &chip.chip.ioapic);
    return true;
}

static bool set_irqchips(KvmState *s, const X86VmState *st, GError **err)
{
    struct kvm_irqchip chip;

    for (uint32_t i = 0; i < 2; i++) {
        memset(&chip, 0, sizeof(chip));
        chip.chip_id = i ? KVM_IRQCHIP_PIC_SLAVE : KVM_IRQCHIP_PIC_MASTER;
        pic_to_kvm(&chip.chip.pic, &st->pic[i]);
        if (!vm_ioctl(s, KVM_SET_IRQCHIP, "KVM_SET_IRQCHIP (PIC)", &chip, err)) {
            return false;
        }
    }
    memset(&chip, 0, sizeof(chip));
    chip.chip_id = KVM_IRQCHIP_IOAPIC;
    ioapic_to_kvm(&chip.chip.ioapic, &st->ioapic);
    return vm_ioctl(s, KVM_SET_IRQCHIP, "KVM_SET_IRQCHIP (IOAPIC)", &chip, err);
}

/* ---- PIT ---- */

static void pit_channel_to_state(X86PitChannel *x, const struct kvm_pit_channel_state *k,
                                 int64_t now)
{
    *x = (X86PitChannel) {
        .count = k->count && k->count <= 0x10000 ? k->count : 0x10000,
        .latched_count = k->latched_count, .count_latched = k->count_latched,
        .status_latched = k->status_latched, .status = k->status,
        .read_state = k->read_state, .write_state = k->write_state,
        .write_latch = k->write_latch, .rw_mode = k->rw_mode,
        .mode = k->mode == KVM_PIT_MODE_UNSET ? X86_PIT_MODE_UNSET : k->mode,
        .bcd = k->bcd, .gate = k->gate,
        .counting = k->mode != KVM_PIT_MODE_UNSET,
        .elapsed_ns = now > k->count_load_time ? (uint64_t)(now - k->count_load_time) : 0,
    };
}

static void pit_channel_to_kvm(struct kvm_pit_channel_state *k, const X86PitChannel *x,
                               int64_t now)
{
    *k = (struct kvm_pit_channel_state) {
        .count = x->count, .latched_count = x->latched_count,
        .count_latched = x->count_latched, .status_latched = x->status_latched,
        .status = x->status, .read_state = x->read_state, .write_state = x->write_state,
        .write_latch = x->write_latch, .rw_mode = x->rw_mode,
        .mode = x->mode == X86_PIT_MODE_UNSET ? KVM_PIT_MODE_UNSET : x->mode,
        .bcd = x->bcd, .gate = x->gate,
        .count_load_time = x->elapsed_ns < (uint64_t)now ? now - (int64_t)x->elapsed_ns : 0,
    };
}

static bool get_pit(KvmState *s, X86PitState *x, GError **err)
{
    struct kvm_pit_state2 k;
    int64_t now;

    memset(&k, 0, sizeof(k));
    if (!vm_ioctl(s, KVM_GET_PIT2, "KVM_GET_PIT2", &k, err)) {
        return false;
    }
    now = host_monotonic_ns();
    memset(x, 0, sizeof(*x));
    for (unsigned i = 0; i < 3; i++) {
        pit_channel_to_state(&x->ch[i], &k.channels[i], now);
    }
    x->speaker_data_on = !!(k.flags & KVM_PIT_FLAGS_SPEAKER_DATA_ON);
    return true;
}

static bool set_pit(KvmState *s, const X86PitState *x, GError **err)
{
    struct kvm_pit_state2 k;
    int64_t now = host_monotonic_ns();

    memset(&k, 0, sizeof(k));
    for (unsigned i = 0; i < 3; i++) {
        pit_channel_to_kvm(&k.channels[i], &x->ch[i], now);
    }
    k.flags = x->speaker_data_on ? KVM_PIT_FLAGS_SPEAKER_DATA_ON : 0;
    return vm_ioctl(s, KVM_SET_PIT2, "KVM_SET_PIT2", &k, err);
}

/* ---- the whole ---- */

/* What KVM's chips are after creation, for the parts a state lacks. */
static void fill_power_on(X86VmState *st)
{
    if (!(st->flags & X86_VM_STATE_IRQCHIP)) {
        memset(&st->ioapic, 0, sizeof(st->ioapic));
        memset(st->pic, 0, sizeof(st->pic));
        for (unsigned pin = 0; pin < X86_IOAPIC_PINS; pin++) {
            st->ioapic.redir[pin] = X86_IOAPIC_RTE_MASKED;
        }
        st->pic[0].elcr_mask = pic_elcr_mask[0];
        st->pic[1].elcr_mask = pic_elcr_mask[1];
    }
    if (!(st->flags & X86_VM_STATE_PIT)) {
        memset(&st->pit, 0, sizeof(st->pit));
        for (unsigned i = 0; i < 3; i++) {
            st->pit.ch[i].count = 0x10000;
            st->pit.ch[i].mode = X86_PIT_MODE_UNSET;
            st->pit.ch[i].gate = i != 2;
        }
    }
    st->flags |= X86_VM_STATE_IRQCHIP | X86_VM_STATE_PIT;
}

/* What the in-kernel chips cannot hold, beyond x86_vm_state_check. */
static bool kvm_vm_check(const X86VmState *st, GError **err)
{
    if (st->gsi_level >> X86_IOAPIC_PINS) {
        set_error(err, "kvm: GSI levels 0x%" G_GINT64_MODIFIER "x assert a line above GSI %u",
                  (guint64)st->gsi_level, X86_IOAPIC_PINS - 1);
        return false;
    }
    if (!(st->flags & X86_VM_STATE_IRQCHIP)) {
        return true;
    }
    for (unsigned i = 0; i < 2; i++) {
        if (st->pic[i].single_mode && st->pic[i].init_state) {
            set_error(err, "kvm: the in-kernel %s PIC cannot be loaded in the middle of a "
                      "single-mode initialisation", i ? "slave" : "master");
            return false;
        }
    }
    return true;
}

bool kvm_vm_get_state(Machine *m, X86VmState *st, GError **err)
{
    KvmState *s = kvm_state(m);
    struct kvm_clock_data clock;

    x86_vm_state_init(st);
    memset(&clock, 0, sizeof(clock));
    if (!get_irqchips(s, st, err) || !get_pit(s, &st->pit, err) ||
        !vm_ioctl(s, KVM_GET_CLOCK, "KVM_GET_CLOCK", &clock, err)) {
        return false;
    }
    st->flags = X86_VM_STATE_IRQCHIP | X86_VM_STATE_PIT;
    st->clock_ns = MIN(clock.clock, (uint64_t)INT64_MAX);
    return true;
}

/* An ioctl failing half-way leaves the VM partly loaded (accel.h). */
bool kvm_vm_set_state(Machine *m, const X86VmState *st, GError **err)
{
    KvmState *s = kvm_state(m);
    struct kvm_clock_data clock;
    X86VmState full;

    if (!x86_vm_state_check(st, err) || !kvm_vm_check(st, err)) {
        return false;
    }
    full = *st;
    fill_power_on(&full);
    memset(&clock, 0, sizeof(clock));
    clock.clock = full.clock_ns;
    return set_irqchips(s, &full, err) && set_pit(s, &full.pit, err) &&
           vm_ioctl(s, KVM_SET_CLOCK, "KVM_SET_CLOCK", &clock, err);
}

/* ---- dirty-page log ---- */

static guint ram_blocks(Machine *m)
{
    return m->ram.blocks ? m->ram.blocks->len : 0;
}

/* Sets flags on RAM slots [0, n); on failure puts back `undo` on those done. */
static bool set_ram_flags(Machine *m, guint n, uint32_t flags, uint32_t undo, GError **err)
{
    KvmState *s = kvm_state(m);

    for (guint i = 0; i < n; i++) {
        const RamBlock *b = &g_array_index(m->ram.blocks, RamBlock, i);

        if (!kvm_set_ram_slot(s, s->ram_slot0 + i, b, flags, err)) {
            while (i--) {
                kvm_set_ram_slot(s, s->ram_slot0 + i,
                                 &g_array_index(m->ram.blocks, RamBlock, i), undo, NULL);
            }
            return false;
        }
    }
    return true;
}

bool kvm_dirty_log_start(Machine *m, GError **err)
{
    KvmState *s = kvm_state(m);

    if (s->dirty_logging) {
        /* Already on: a start still means an empty log. */
        DirtyBitmap *scratch = dirty_bitmap_new(&m->ram);
        bool ok = kvm_dirty_log_sync(m, scratch, err);

        dirty_bitmap_free(scratch);
        return ok;
    }
    if (!set_ram_flags(m, ram_blocks(m), KVM_MEM_LOG_DIRTY_PAGES, 0, err)) {
        g_prefix_error(err, "kvm: cannot start the dirty-page log: ");
        return false;
    }
    s->dirty_logging = true;
    return true;
}

/* KVM_GET_DIRTY_LOG hands over and clears the slot's log in one step. */
bool kvm_dirty_log_sync(Machine *m, DirtyBitmap *dirty, GError **err)
{
    KvmState *s = kvm_state(m);

    if (!s->dirty_logging) {
        set_error(err, "kvm: the dirty-page log is not started");
        return false;
    }
    if (!dirty_bitmap_fits(dirty, &m->ram)) {
        set_error(err, "kvm: the dirty bitmap does not match the guest RAM");
        return false;
    }
    for (guint i = 0; i < dirty->nblocks; i++) {
        g_autofree uint64_t *words = g_new0(uint64_t, (dirty->blocks[i].npages + 63) / 64 + 1);
        struct kvm_dirty_log log = { .slot = s->ram_slot0 + i, .dirty_bitmap = words };

        if (!vm_ioctl(s, KVM_GET_DIRTY_LOG, "KVM_GET_DIRTY_LOG", &log, err)) {
            return false;
        }
        dirty_bitmap_or_block(dirty, i, words);
    }
    return true;
}

void kvm_dirty_log_stop(Machine *m)
{
    KvmState *s = kvm_state(m);
    GError *err = NULL;

    if (!s->dirty_logging) {
        return;
    }
    if (!set_ram_flags(m, ram_blocks(m), 0, KVM_MEM_LOG_DIRTY_PAGES, &err)) {
        log_warn("kvm: cannot stop the dirty-page log: %s", err->message);
        g_error_free(err);
        return;
    }
    s->dirty_logging = false;
}
