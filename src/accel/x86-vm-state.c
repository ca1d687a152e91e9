/*
 * The checks made before any accelerator loads an X86VmState
 * (x86-vm-state.h). Each rejects what no 8259, 8254 or IOAPIC can hold,
 * so that a corrupt or hand-made state fails with a message instead of
 * leaving a chip in a state its model was never written for.
 */
#include <stdio.h>

#include "accel/x86-vm-state.h"
#include "util/strutil.h"

#define PIT_RW_STATE_MAX 4       /* RW_STATE_WORD1 */

static bool check_bool(const char *what, unsigned v, GError **err)
{
    if (v > 1) {
        set_error(err, "invalid VM state: %s is %u (expected 0 or 1)", what, v);
        return false;
    }
    return true;
}

static bool check_ioapic(const X86IoapicState *io, GError **err)
{
    if (io->id > 15) {
        set_error(err, "invalid VM state: IOAPIC id %u is above 15", io->id);
        return false;
    }
    if (io->irr >> X86_IOAPIC_PINS) {
        set_error(err, "invalid VM state: IOAPIC irr 0x%x has bits above pin %u",
                  io->irr, X86_IOAPIC_PINS - 1);
        return false;
    }
    return true;
}

static bool check_pic_bools(const X86PicState *p, const char *name, GError **err)
{
    const struct { const char *field; uint8_t v; } b[] = {
        { "read_isr", p->read_isr }, { "poll", p->poll }, { "special_mask", p->special_mask },
        { "auto_eoi", p->auto_eoi }, { "rotate_on_auto_eoi", p->rotate_on_auto_eoi },
        { "special_fully_nested", p->special_fully_nested }, { "init4", p->init4 },
        { "single_mode", p->single_mode },
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(b); i++) {
        if (b[i].v > 1) {
            set_error(err, "invalid VM state: %s PIC %s is %u (expected 0 or 1)", name,
                      b[i].field, b[i].v);
            return false;
        }
    }
    return true;
}

static bool check_pic(const X86PicState *p, const char *name, GError **err)
{
    if (p->init_state > 3) {
        set_error(err, "invalid VM state: %s PIC init_state %u is above 3", name, p->init_state);
        return false;
    }
    if (p->irq_base & 7) {
        set_error(err, "invalid VM state: %s PIC irq_base 0x%x is not a multiple of 8", name,
                  p->irq_base);
        return false;
    }
    if (p->priority_add > 7) {
        set_error(err, "invalid VM state: %s PIC priority_add %u is above 7", name,
                  p->priority_add);
        return false;
    }
    if (p->elcr & ~p->elcr_mask) {
        set_error(err, "invalid VM state: %s PIC ELCR 0x%02x has bits outside its mask 0x%02x",
                  name, p->elcr, p->elcr_mask);
        return false;
    }
    return check_pic_bools(p, name, err);
}

static bool check_pit_states(const X86PitChannel *c, unsigned i, GError **err)
{
    if (c->rw_mode > 3) {
        set_error(err, "invalid VM state: PIT channel %u rw_mode %u is above 3", i, c->rw_mode);
        return false;
    }
    if (c->read_state > PIT_RW_STATE_MAX || c->write_state > PIT_RW_STATE_MAX) {
        set_error(err, "invalid VM state: PIT channel %u read/write state %u/%u (at most %u)",
                  i, c->read_state, c->write_state, PIT_RW_STATE_MAX);
        return false;
    }
    if (c->count_latched > 3) {
        set_error(err, "invalid VM state: PIT channel %u count_latched %u is above 3", i,
                  c->count_latched);
        return false;
    }
    return true;
}

static bool check_pit_channel(const X86PitChannel *c, unsigned i, GError **err)
{
    char what[48];

    if (c->count == 0 || c->count > 0x10000) {
        set_error(err, "invalid VM state: PIT channel %u count 0x%x is not in 1..0x10000",
                  i, c->count);
        return false;
    }
    if (c->mode > 5 && c->mode != X86_PIT_MODE_UNSET) {
        set_error(err, "invalid VM state: PIT channel %u mode %u is not a PIT mode", i, c->mode);
        return false;
    }
    if (!check_pit_states(c, i, err)) {
        return false;
    }
    snprintf(what, sizeof(what), "PIT channel %u status_latched", i);
    if (!check_bool(what, c->status_latched, err)) {
        return false;
    }
    snprintf(what, sizeof(what), "PIT channel %u bcd", i);
    if (!check_bool(what, c->bcd, err)) {
        return false;
    }
    snprintf(what, sizeof(what), "PIT channel %u gate", i);
    if (!check_bool(what, c->gate, err)) {
        return false;
    }
    snprintf(what, sizeof(what), "PIT channel %u counting", i);
    return check_bool(what, c->counting, err);
}

static bool check_pit(const X86PitState *p, GError **err)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(p->ch); i++) {
        if (!check_pit_channel(&p->ch[i], i, err)) {
            return false;
        }
    }
    return check_bool("PIT speaker_data_on", p->speaker_data_on, err);
}

bool x86_vm_state_check(const X86VmState *st, GError **err)
{
    if (st->version != X86_VM_STATE_VERSION) {
        set_error(err, "VM state version %u is not supported (expected %u)", st->version,
                  X86_VM_STATE_VERSION);
        return false;
    }
    if (st->flags & ~X86_VM_STATE_FLAGS) {
        set_error(err, "invalid VM state: unknown flags 0x%x", st->flags & ~X86_VM_STATE_FLAGS);
        return false;
    }
    if (st->clock_ns > INT64_MAX) {
        set_error(err, "invalid VM state: guest clock %" G_GUINT64_FORMAT
                  " ns is above INT64_MAX", (guint64)st->clock_ns);
        return false;
    }
    if (st->flags & X86_VM_STATE_IRQCHIP) {
        if (!check_ioapic(&st->ioapic, err) || !check_pic(&st->pic[0], "master", err) ||
            !check_pic(&st->pic[1], "slave", err)) {
            return false;
        }
    }
    if (st->flags & X86_VM_STATE_PIT) {
        return check_pit(&st->pit, err);
    }
    return true;
}
