/*
 * X86VmState as vmstate sections. The padding members are not state and
 * are not saved; `version` is the in-memory layout's and is set on load.
 */
#include "migration/vmstate-x86.h"

static const VMStateDescription vmstate_x86_ioapic = {
    .name = "x86-ioapic",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_U32(id, X86IoapicState),
        VMSTATE_U32(regsel, X86IoapicState),
        VMSTATE_U32(irr, X86IoapicState),
        VMSTATE_ARRAY(redir, X86IoapicState, X86_IOAPIC_PINS, uint64_t, VMS_U64),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_x86_pic = {
    .name = "x86-pic",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_U8(last_irr, X86PicState),
        VMSTATE_U8(irr, X86PicState),
        VMSTATE_U8(imr, X86PicState),
        VMSTATE_U8(isr, X86PicState),
        VMSTATE_U8(priority_add, X86PicState),
        VMSTATE_U8(irq_base, X86PicState),
        VMSTATE_U8(read_isr, X86PicState),
        VMSTATE_U8(poll, X86PicState),
        VMSTATE_U8(special_mask, X86PicState),
        VMSTATE_U8(init_state, X86PicState),
        VMSTATE_U8(auto_eoi, X86PicState),
        VMSTATE_U8(rotate_on_auto_eoi, X86PicState),
        VMSTATE_U8(special_fully_nested, X86PicState),
        VMSTATE_U8(init4, X86PicState),
        VMSTATE_U8(single_mode, X86PicState),
        VMSTATE_U8(elcr, X86PicState),
        VMSTATE_U8(elcr_mask, X86PicState),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_x86_pit_channel = {
    .name = "x86-pit-channel",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_U32(count, X86PitChannel),
        VMSTATE_U16(latched_count, X86PitChannel),
        VMSTATE_U8(count_latched, X86PitChannel),
        VMSTATE_U8(status_latched, X86PitChannel),
        VMSTATE_U8(status, X86PitChannel),
        VMSTATE_U8(read_state, X86PitChannel),
        VMSTATE_U8(write_state, X86PitChannel),
        VMSTATE_U8(write_latch, X86PitChannel),
        VMSTATE_U8(rw_mode, X86PitChannel),
        VMSTATE_U8(mode, X86PitChannel),
        VMSTATE_U8(bcd, X86PitChannel),
        VMSTATE_U8(gate, X86PitChannel),
        VMSTATE_U8(counting, X86PitChannel),
        VMSTATE_U64(elapsed_ns, X86PitChannel),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_x86_pit = {
    .name = "x86-pit",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT_ARRAY(ch, X86PitState, 3, vmstate_x86_pit_channel, X86PitChannel),
        VMSTATE_U8(speaker_data_on, X86PitState),
        VMSTATE_END_OF_LIST()
    },
};

/* Impossible register values are refused here, before any accelerator sees them. */
static bool x86_vm_post_load(void *opaque, uint32_t version, GError **err)
{
    X86VmState *st = opaque;

    (void)version;
    st->version = X86_VM_STATE_VERSION;
    return x86_vm_state_check(st, err);
}

const VMStateDescription vmstate_x86_vm = {
    .name = "x86-vm",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = x86_vm_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_U32(flags, X86VmState),
        VMSTATE_U64(clock_ns, X86VmState),
        VMSTATE_U64(gsi_level, X86VmState),
        VMSTATE_STRUCT(ioapic, X86VmState, vmstate_x86_ioapic, X86IoapicState),
        VMSTATE_STRUCT_ARRAY(pic, X86VmState, 2, vmstate_x86_pic, X86PicState),
        VMSTATE_STRUCT(pit, X86VmState, vmstate_x86_pit, X86PitState),
        VMSTATE_END_OF_LIST()
    },
};
