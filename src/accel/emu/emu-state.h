/*
 * The emu CPU's state as an X86VcpuState (accel/x86-cpu-state.h): what the
 * emu accelerator's vcpu_get_state/vcpu_set_state do, on an EmuCpu and its
 * LAPIC without a Machine so that unit tests can call them on a bare CPU.
 */
#ifndef STRATUS_EMU_STATE_H
#define STRATUS_EMU_STATE_H

#include <stdbool.h>
#include <glib.h>

#include "accel/emu/emu-cpu.h"
#include "accel/x86-cpu-state.h"

/*
 * Fills every field of *st from c and c->lapic (the CPU between two
 * instructions, its thread parked or not started). A CPU without a LAPIC
 * (a bare CPU in a unit test) reports an all-zero LAPIC page, APIC base and
 * CR8. May move a LAPIC timer expiry that is due into IRR (as the vCPU's
 * next timer poll would); changes nothing else.
 */
void emu_cpu_save_state(EmuCpu *c, X86VcpuState *st);

/*
 * Loads *st into c and c->lapic, all or nothing: on a state that fails
 * x86_vcpu_state_check or that the emu CPU cannot hold (an event delivery
 * under way, EFER bits it does not implement, an IA32_APIC_BASE with
 * reserved bits, a non-zero MSR it does not have, pending LAPIC events on
 * a CPU without a LAPIC, MXCSR reserved bits, XSAVE state beyond x87/SSE)
 * returns false with *err and changes nothing. The FPU image's legacy
 * region is the x87/SSE state (none: the init state; with an XSAVE header,
 * components in their init state per XSTATE_BV are that). MTRRdefType
 * travels in msr_other. Flushes the TLB and recomputes the mode.
 */
bool emu_cpu_load_state(EmuCpu *c, const X86VcpuState *st, GError **err);

#endif
