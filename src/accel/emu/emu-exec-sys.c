/*
 * The emu CPU's system instructions: in/out, the flag instructions (clc,
 * stc, cmc, cld, std, cli, sti, lahf, sahf), hlt, lgdt/lidt/sgdt/sidt,
 * ltr/lldt/str/sldt, verr/verw, smsw/lmsw, clts, invlpg, mov to/from CRn and DRn,
 * rdmsr/wrmsr, swapgs, cpuid, rdtsc/rdtscp, int n/int3/into/int1,
 * iret, syscall/sysret, lds/les/lfs/lgs/lss, and the no-ops (nop, pause,
 * fences, prefetches, endbr, clflush). What changes modes, segments or
 * privilege calls into emu-system.c. emu-exec.c's table points at emu_h_sys.
 */
#include <stdio.h>
#include <Zydis/Zydis.h>

#include "accel/emu/emu-exec-internal.h"

static void need_cpl0(EmuCpu *c)
{
    if (c->cpl != 0) {
        emu_gp(c, 0);
    }
}

G_NORETURN void emu_unimplemented(EmuCpu *c, const EmuInsn *in)
{
    uint8_t bytes[15];
    uint64_t lin = c->long64 ? c->insn_rip : c->seg[S_CS].base + c->insn_rip;
    char what[64];

    emu_read_lin_buf(c, lin, bytes, in->len, false);
    snprintf(what, sizeof(what), "unimplemented instruction %s", ZydisMnemonicGetString(in->mnem));
    emu_log_ud_once(c, what, bytes, in->len);
    emu_ud(c);
}

void emu_exec_mov_crdr(EmuCpu *c, const EmuInsn *in, bool to_ctl)
{
    unsigned size = c->long64 ? 8 : 4;
    uint8_t r = to_ctl ? in->op[0].reg : in->op[1].reg;

    need_cpl0(c);
    if (r >= EREG_DR) {
        unsigned n = r - EREG_DR;

        if (n > 7) {
            emu_ud(c);
        }
        if (to_ctl) {
            c->dr[n] = op_read(c, in, 1, size);
        } else {
            reg_write(c, in->op[0].reg, size, c->dr[n]);
        }
        return;
    }
    if (to_ctl) {
        emu_write_cr(c, r - EREG_CR, op_read(c, in, 1, size));
    } else {
        reg_write(c, in->op[0].reg, size, emu_read_cr(c, r - EREG_CR));
    }
}

static void exec_load_far_ptr(EmuCpu *c, const EmuInsn *in, int seg)
{
    unsigned osz = in->opsize;
    uint64_t lin = emu_seg_lin(c, in->op[1].seg, op_ea(c, in, &in->op[1]), osz + 2, ACC_READ);
    uint64_t off = emu_read_lin(c, lin, osz, false);
    uint16_t sel = (uint16_t)emu_read_lin(c, lin + osz, 2, false);

    emu_load_seg(c, seg, sel);
    reg_write(c, in->op[0].reg, osz, off);
}

static void exec_dtr(EmuCpu *c, const EmuInsn *in, EmuDtr *d, bool load)
{
    unsigned bsz = c->long64 ? 8 : 4;
    uint64_t lin = emu_seg_lin(c, in->op[0].seg, op_ea(c, in, &in->op[0]), 2 + bsz,
                               load ? ACC_READ : ACC_WRITE);

    if (load) {
        uint16_t limit;
        uint64_t base;

        need_cpl0(c);
        limit = (uint16_t)emu_read_lin(c, lin, 2, false);
        base = emu_read_lin(c, lin + 2, bsz, false);
        if (!c->long64 && in->opsize == 2) {
            base &= 0xFFFFFF;
        }
        d->limit = limit;
        d->base = base;
    } else {
        emu_write_lin(c, lin, 2, d->limit, false);
        emu_write_lin(c, lin + 2, bsz, d->base, false);
    }
}

static uint16_t port_of(EmuCpu *c, const EmuInsn *in, int i)
{
    return in->op[i].kind == OPK_IMM ? (uint16_t)in->op[i].val : (uint16_t)c->gpr[R_DX];
}

static bool exec_io(EmuCpu *c, const EmuInsn *in)
{
    if (in->mnem == ZYDIS_MNEMONIC_IN) {
        unsigned size = in->op[0].size;
        uint16_t port = port_of(c, in, 1);

        io_check(c, port, size);
        reg_write(c, R_AX, size, io_in(c, port, size));
        return true;
    }
    if (in->mnem == ZYDIS_MNEMONIC_OUT) {
        unsigned size = in->op[1].size;
        uint16_t port = port_of(c, in, 0);

        io_check(c, port, size);
        io_out(c, port, size, c->gpr[R_AX] & emu_mask(size));
        return true;
    }
    return false;
}

static void check_if_change(EmuCpu *c)
{
    if ((c->cr0 & CR0_PE) && c->cpl > (int)((c->rflags >> 12) & 3)) {
        emu_gp(c, 0);
    }
}

static bool exec_flags(EmuCpu *c, const EmuInsn *in)
{
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_CLC: c->rflags &= ~(uint64_t)FL_CF; return true;
    case ZYDIS_MNEMONIC_STC: c->rflags |= FL_CF; return true;
    case ZYDIS_MNEMONIC_CMC: c->rflags ^= FL_CF; return true;
    case ZYDIS_MNEMONIC_CLD: c->rflags &= ~(uint64_t)FL_DF; return true;
    case ZYDIS_MNEMONIC_STD: c->rflags |= FL_DF; return true;
    case ZYDIS_MNEMONIC_CLI:
        check_if_change(c);
        c->rflags &= ~(uint64_t)FL_IF;
        return true;
    case ZYDIS_MNEMONIC_STI:
        check_if_change(c);
        if (!(c->rflags & FL_IF)) {
            c->sti_shadow = true;     /* sti; hlt must not miss the interrupt */
            c->block_exit = true;
        }
        c->rflags |= FL_IF;
        return true;
    case ZYDIS_MNEMONIC_LAHF:
        reg_write(c, EREG_HIGH8 + R_AX, 1, (c->rflags & 0xD5) | 2);
        return true;
    case ZYDIS_MNEMONIC_SAHF:
        c->rflags = (c->rflags & ~0xD5ull) | ((c->gpr[R_AX] >> 8) & 0xD5);
        return true;
    default:
        return false;
    }
}

static bool exec_privileged(EmuCpu *c, const EmuInsn *in)
{
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_HLT:
        need_cpl0(c);
        c->halted = true;
        c->block_exit = true;
        return true;
    case ZYDIS_MNEMONIC_LGDT: exec_dtr(c, in, &c->gdtr, true); return true;
    case ZYDIS_MNEMONIC_LIDT: exec_dtr(c, in, &c->idtr, true); return true;
    case ZYDIS_MNEMONIC_SGDT: exec_dtr(c, in, &c->gdtr, false); return true;
    case ZYDIS_MNEMONIC_SIDT: exec_dtr(c, in, &c->idtr, false); return true;
    case ZYDIS_MNEMONIC_LTR:
        need_cpl0(c);
        emu_ltr(c, (uint16_t)op_read(c, in, 0, 2));
        return true;
    case ZYDIS_MNEMONIC_LLDT:
        need_cpl0(c);
        emu_lldt(c, (uint16_t)op_read(c, in, 0, 2));
        return true;
    case ZYDIS_MNEMONIC_STR:
        op_write(c, in, 0, in->op[0].kind == OPK_MEM ? 2 : opsz(in, 0), c->tr.sel);
        return true;
    case ZYDIS_MNEMONIC_SLDT:
        op_write(c, in, 0, in->op[0].kind == OPK_MEM ? 2 : opsz(in, 0), c->ldtr.sel);
        return true;
    case ZYDIS_MNEMONIC_SMSW:
        op_write(c, in, 0, in->op[0].kind == OPK_MEM ? 2 : opsz(in, 0), c->cr0);
        return true;
    case ZYDIS_MNEMONIC_LMSW: {
        uint64_t v = op_read(c, in, 0, 2);

        need_cpl0(c);
        /* LMSW can set PE but never clear it */
        emu_write_cr(c, 0, (c->cr0 & ~0xEull) | (v & 0xF) | (c->cr0 & CR0_PE));
        return true;
    }
    case ZYDIS_MNEMONIC_VERR:
    case ZYDIS_MNEMONIC_VERW: {
        uint16_t sel = (uint16_t)op_read(c, in, 0, 2);
        bool ok;

        if (!(c->cr0 & CR0_PE)) {
            emu_ud(c);
        }
        ok = emu_verify_seg(c, sel, in->mnem == ZYDIS_MNEMONIC_VERW);
        c->rflags = (c->rflags & ~(uint64_t)FL_ZF) | (ok ? FL_ZF : 0);
        return true;
    }
    case ZYDIS_MNEMONIC_CLTS:
        need_cpl0(c);
        c->cr0 &= ~CR0_TS;
        return true;
    case ZYDIS_MNEMONIC_INVLPG:
    case ZYDIS_MNEMONIC_WBINVD:
    case ZYDIS_MNEMONIC_INVD:
        need_cpl0(c);
        if (in->mnem == ZYDIS_MNEMONIC_INVLPG) {
            emu_tlb_flush(c);
        }
        return true;
    case ZYDIS_MNEMONIC_RDMSR: {
        uint64_t v;

        need_cpl0(c);
        v = emu_rdmsr(c, (uint32_t)c->gpr[R_CX]);
        reg_write(c, R_AX, 4, v & 0xFFFFFFFF);
        reg_write(c, R_DX, 4, v >> 32);
        return true;
    }
    case ZYDIS_MNEMONIC_WRMSR:
        need_cpl0(c);
        emu_wrmsr(c, (uint32_t)c->gpr[R_CX],
                  (c->gpr[R_AX] & 0xFFFFFFFF) | (c->gpr[R_DX] << 32));
        return true;
    case ZYDIS_MNEMONIC_SWAPGS: {
        uint64_t t;

        if (!c->long64) {
            emu_ud(c);
        }
        need_cpl0(c);
        t = c->seg[S_GS].base;
        c->seg[S_GS].base = c->kernel_gs_base;
        c->kernel_gs_base = t;
        return true;
    }
    default:
        return false;
    }
}

static bool exec_sys(EmuCpu *c, const EmuInsn *in)
{
    if (exec_io(c, in) || exec_flags(c, in) || exec_privileged(c, in)) {
        return true;
    }
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_CPUID: {
        uint32_t r[4];

        emu_cpuid(c, (uint32_t)c->gpr[R_AX], (uint32_t)c->gpr[R_CX], r);
        reg_write(c, R_AX, 4, r[0]);
        reg_write(c, R_BX, 4, r[1]);
        reg_write(c, R_CX, 4, r[2]);
        reg_write(c, R_DX, 4, r[3]);
        return true;
    }
    case ZYDIS_MNEMONIC_RDTSC:
    case ZYDIS_MNEMONIC_RDTSCP: {
        uint64_t t;

        if ((c->cr4 & 4) && c->cpl != 0) {      /* CR4.TSD */
            emu_gp(c, 0);
        }
        t = emu_rdtsc(c);
        reg_write(c, R_AX, 4, t & 0xFFFFFFFF);
        reg_write(c, R_DX, 4, t >> 32);
        if (in->mnem == ZYDIS_MNEMONIC_RDTSCP) {
            reg_write(c, R_CX, 4, c->tsc_aux);
        }
        return true;
    }
    case ZYDIS_MNEMONIC_INT:
        emu_deliver(c, (uint8_t)in->op[0].val, false, 0, true, c->next_rip);
        return true;
    case ZYDIS_MNEMONIC_INT3:
        emu_deliver(c, EXC_BP, false, 0, true, c->next_rip);
        return true;
    case ZYDIS_MNEMONIC_INTO:
        if (c->long64) {
            emu_ud(c);
        }
        if (c->rflags & FL_OF) {
            emu_deliver(c, EXC_OF, false, 0, true, c->next_rip);
        }
        return true;
    case ZYDIS_MNEMONIC_INT1:
        emu_deliver(c, EXC_DB, false, 0, false, c->next_rip);
        return true;
    case ZYDIS_MNEMONIC_IRET: case ZYDIS_MNEMONIC_IRETD: case ZYDIS_MNEMONIC_IRETQ:
        emu_iret(c, in->opsize);
        return true;
    case ZYDIS_MNEMONIC_SYSCALL:
        emu_syscall(c);
        return true;
    case ZYDIS_MNEMONIC_SYSRET:
        emu_sysret(c, in->opsize);
        return true;
    case ZYDIS_MNEMONIC_LSS: exec_load_far_ptr(c, in, S_SS); return true;
    case ZYDIS_MNEMONIC_LDS: exec_load_far_ptr(c, in, S_DS); return true;
    case ZYDIS_MNEMONIC_LES: exec_load_far_ptr(c, in, S_ES); return true;
    case ZYDIS_MNEMONIC_LFS: exec_load_far_ptr(c, in, S_FS); return true;
    case ZYDIS_MNEMONIC_LGS: exec_load_far_ptr(c, in, S_GS); return true;
    case ZYDIS_MNEMONIC_PAUSE:
        emu_pause(c);
        return true;
    case ZYDIS_MNEMONIC_NOP: case ZYDIS_MNEMONIC_MFENCE:
    case ZYDIS_MNEMONIC_LFENCE: case ZYDIS_MNEMONIC_SFENCE: case ZYDIS_MNEMONIC_ENDBR64:
    case ZYDIS_MNEMONIC_ENDBR32: case ZYDIS_MNEMONIC_PREFETCHT0: case ZYDIS_MNEMONIC_PREFETCHT1:
    case ZYDIS_MNEMONIC_PREFETCHT2: case ZYDIS_MNEMONIC_PREFETCHNTA: case ZYDIS_MNEMONIC_PREFETCHW:
    case ZYDIS_MNEMONIC_PREFETCH:
        if (in->mnem == ZYDIS_MNEMONIC_MFENCE) {
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
        }
        return true;
    case ZYDIS_MNEMONIC_CLFLUSH:
        emu_seg_lin(c, in->op[0].seg, op_ea(c, in, &in->op[0]), 1, ACC_READ);
        return true;
    default:
        return false;
    }
}

/*
 * A pause: a hint to the CPU, but for us the sign of a spin-wait. A run of
 * them that lasts c->spin_ns ends the block (generated code leaves its
 * chain through the handler exit) so that the vCPU loop yields the host
 * CPU; the next run starts after it.
 */
void emu_pause(EmuCpu *c)
{
    uint64_t now = emu_clock_ns(NULL);

    if (now - c->pause_last_ns > EMU_SPIN_GAP_NS) {
        c->spin_start_ns = now;
    }
    c->pause_last_ns = now;
    if (c->spin_ns && now - c->spin_start_ns >= c->spin_ns) {
        c->spin_start_ns = now;
        c->spin_yield = true;
        c->block_exit = true;
    }
}

/* ---- handler ---- */

void emu_h_sys(EmuCpu *c, const EmuInsn *in)
{
    if (!exec_sys(c, in)) {
        emu_unimplemented(c, in);
    }
}

