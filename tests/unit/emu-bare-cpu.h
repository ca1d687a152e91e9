/*
 * The bare emu CPU the oracle tests (test-emu-insn, test-emu-simd,
 * test-emu-func) run code on: 64-bit mode without paging (CR0.PG=0, so
 * linear = physical) over its own guest RAM, flat segments, generated code
 * for every block at once (jit_after 0; a test may change it). The caller
 * adds what it needs on top (CR0/CR4 bits for SSE exceptions, an FPU reset).
 */
#ifndef STRATUS_TEST_EMU_BARE_CPU_H
#define STRATUS_TEST_EMU_BARE_CPU_H

#include <glib.h>

#include "accel/emu/emu-cpu.h"

static inline EmuCpu *emu_bare_cpu64(GuestRam *ram, uint64_t ram_size)
{
    EmuSeg data = { .sel = 0x10, .limit = 0xFFFFFFFF, .attr = SEG_P | SEG_S | 3 | SEG_DB };
    EmuCpu *cpu = g_new0(EmuCpu, 1);

    g_assert_true(guest_ram_init(ram, ram_size, ram_size, false, false, NULL));
    g_assert_true(emu_decode_init(cpu));
    cpu->jit_after = 0;
    cpu->ram = ram;
    cpu->ud_logged = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    cpu->cr0 = CR0_PE | CR0_ET;
    cpu->cr4 = CR4_OSFXSR;       /* SSE enabled: what is unimplemented is logged */
    cpu->efer = EFER_LME | EFER_LMA;
    cpu->seg[S_CS] = (EmuSeg){ .sel = 0x8, .limit = 0xFFFFFFFF,
                               .attr = SEG_P | SEG_S | 0xB | SEG_L };
    cpu->seg[S_SS] = cpu->seg[S_DS] = cpu->seg[S_ES] = cpu->seg[S_FS] = cpu->seg[S_GS] = data;
    emu_update_mode(cpu);
    g_assert_true(cpu->long64);
    return cpu;
}

static inline void emu_bare_cpu_free(EmuCpu *cpu, GuestRam *ram)
{
    g_hash_table_destroy(cpu->ud_logged);
    emu_decode_destroy(cpu);
    g_free(cpu);
    guest_ram_destroy(ram);
}

#endif
