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

/* ---- one vCPU ---- */

static const VMStateDescription vmstate_x86_segment = {
    .name = "x86-segment",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_U64(base, X86Segment),
        VMSTATE_U32(limit, X86Segment),
        VMSTATE_U32(attr, X86Segment),
        VMSTATE_U16(selector, X86Segment),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_x86_dtable = {
    .name = "x86-dtable",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_U64(base, X86DescTable),
        VMSTATE_U16(limit, X86DescTable),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_x86_msr = {
    .name = "x86-msr",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_U32(index, X86Msr),
        VMSTATE_U64(value, X86Msr),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_x86_events = {
    .name = "x86-events",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_U32(mp_state, X86VcpuEvents),
        VMSTATE_U8(sipi_vector, X86VcpuEvents),
        VMSTATE_U8(init_pending, X86VcpuEvents),
        VMSTATE_U8(nmi_pending, X86VcpuEvents),
        VMSTATE_U8(nmi_injected, X86VcpuEvents),
        VMSTATE_U8(nmi_masked, X86VcpuEvents),
        VMSTATE_U8(interrupt_shadow, X86VcpuEvents),
        VMSTATE_U8(exception_injected, X86VcpuEvents),
        VMSTATE_U8(exception_nr, X86VcpuEvents),
        VMSTATE_U8(exception_has_error, X86VcpuEvents),
        VMSTATE_U8(interrupt_injected, X86VcpuEvents),
        VMSTATE_U8(interrupt_nr, X86VcpuEvents),
        VMSTATE_U8(interrupt_soft, X86VcpuEvents),
        VMSTATE_U32(exception_error, X86VcpuEvents),
        VMSTATE_END_OF_LIST()
    },
};

static bool x86_cpu_post_load(void *opaque, uint32_t version, GError **err)
{
    X86VcpuState *st = opaque;

    (void)version;
    st->version = X86_VCPU_STATE_VERSION;
    return x86_vcpu_state_check(st, err);
}

/*
 * The FPU image is saved as long as fpu_len says (0 for emu), so a state
 * without XSAVE costs nothing; loading sets fpu_len.
 */
const VMStateDescription vmstate_x86_cpu = {
    .name = "x86-cpu",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = x86_cpu_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_ARRAY(gpr, X86VcpuState, 16, uint64_t, VMS_U64),
        VMSTATE_U64(rip, X86VcpuState),
        VMSTATE_U64(rflags, X86VcpuState),
        VMSTATE_STRUCT_ARRAY(seg, X86VcpuState, 6, vmstate_x86_segment, X86Segment),
        VMSTATE_STRUCT(ldtr, X86VcpuState, vmstate_x86_segment, X86Segment),
        VMSTATE_STRUCT(tr, X86VcpuState, vmstate_x86_segment, X86Segment),
        VMSTATE_STRUCT(gdtr, X86VcpuState, vmstate_x86_dtable, X86DescTable),
        VMSTATE_STRUCT(idtr, X86VcpuState, vmstate_x86_dtable, X86DescTable),
        VMSTATE_U64(cr0, X86VcpuState),
        VMSTATE_U64(cr2, X86VcpuState),
        VMSTATE_U64(cr3, X86VcpuState),
        VMSTATE_U64(cr4, X86VcpuState),
        VMSTATE_U64(cr8, X86VcpuState),
        VMSTATE_U64(efer, X86VcpuState),
        VMSTATE_ARRAY(dr, X86VcpuState, 8, uint64_t, VMS_U64),
        VMSTATE_U64(xcr0, X86VcpuState),
        VMSTATE_U64(tsc, X86VcpuState),
        VMSTATE_U64(apic_base, X86VcpuState),
        VMSTATE_U64(star, X86VcpuState),
        VMSTATE_U64(lstar, X86VcpuState),
        VMSTATE_U64(cstar, X86VcpuState),
        VMSTATE_U64(sfmask, X86VcpuState),
        VMSTATE_U64(kernel_gs_base, X86VcpuState),
        VMSTATE_U64(tsc_aux, X86VcpuState),
        VMSTATE_U64(pat, X86VcpuState),
        VMSTATE_U64(sysenter_cs, X86VcpuState),
        VMSTATE_U64(sysenter_esp, X86VcpuState),
        VMSTATE_U64(sysenter_eip, X86VcpuState),
        VMSTATE_U64(misc_enable, X86VcpuState),
        VMSTATE_U64(tsc_deadline, X86VcpuState),
        VMSTATE_U32(n_msr_other, X86VcpuState),
        VMSTATE_STRUCT_ARRAY(msr_other, X86VcpuState, X86_VCPU_MAX_OTHER_MSRS, vmstate_x86_msr,
                             X86Msr),
        VMSTATE_BUFFER(lapic, X86VcpuState),
        VMSTATE_U32(lapic_esr_pending, X86VcpuState),
        VMSTATE_U8(lapic_extint_pending, X86VcpuState),
        VMSTATE_STRUCT(events, X86VcpuState, vmstate_x86_events, X86VcpuEvents),
        VMSTATE_VARRAY(fpu, X86VcpuState, fpu_len, X86_FPU_STATE_MAX, uint8_t, VMS_U8),
        VMSTATE_END_OF_LIST()
    },
};
