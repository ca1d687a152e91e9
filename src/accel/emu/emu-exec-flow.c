/*
 * The emu CPU's near control flow: jmp, jcc, jcxz/jecxz/jrcxz,
 * loop/loope/loopne, call, ret; far jmp/call/ret hand over to emu-system.c.
 * emu-exec.c's table points at emu_h_flow and emu_h_jcc.
 */
#include <Zydis/Zydis.h>

#include "accel/emu/emu-exec-internal.h"
#include "accel/emu/emu-alu.h"

/* ---- helpers for groups of instructions ---- */

static void jump(EmuCpu *c, const EmuInsn *in, uint64_t target)
{
    c->next_rip = target & emu_mask(c->long64 ? 8 : in->opsize);
}

static uint64_t rel_target(const EmuCpu *c, const EmuInsn *in)
{
    return c->next_rip + (uint64_t)in->op[0].val;
}

static void exec_far_branch(EmuCpu *c, const EmuInsn *in, bool call)
{
    uint16_t sel;
    uint64_t off;

    if (in->op[0].kind == OPK_PTR) {
        sel = in->op[0].ptr_sel;
        off = (uint64_t)in->op[0].val;
    } else {
        unsigned osz = in->op[0].size > 2 ? in->op[0].size - 2 : in->opsize;
        uint64_t lin = emu_seg_lin(c, in->op[0].seg, op_ea(c, in, &in->op[0]), osz + 2, ACC_READ);

        off = emu_read_lin(c, lin, osz, false);
        sel = (uint16_t)emu_read_lin(c, lin + osz, 2, false);
    }
    if (call) {
        emu_far_call(c, sel, off, in->opsize);
    } else {
        emu_far_jump(c, sel, off);
    }
}

/* ---- control flow ---- */

static bool exec_flow(EmuCpu *c, const EmuInsn *in)
{
    switch (in->mnem) {
    case ZYDIS_MNEMONIC_JMP:
        if (in->flags & INSN_FAR) {
            exec_far_branch(c, in, false);
        } else if (in->op[0].kind == OPK_IMM) {
            jump(c, in, rel_target(c, in));
        } else {
            jump(c, in, op_read(c, in, 0, c->long64 ? 8 : in->opsize));
        }
        return true;
    case ZYDIS_MNEMONIC_JCXZ: case ZYDIS_MNEMONIC_JECXZ: case ZYDIS_MNEMONIC_JRCXZ:
        if (!(c->gpr[R_CX] & emu_mask(in->addrsize))) {
            jump(c, in, rel_target(c, in));
        }
        return true;
    case ZYDIS_MNEMONIC_LOOP: case ZYDIS_MNEMONIC_LOOPE: case ZYDIS_MNEMONIC_LOOPNE: {
        uint64_t cnt = (c->gpr[R_CX] - 1) & emu_mask(in->addrsize);
        bool take = cnt != 0;

        if (in->mnem == ZYDIS_MNEMONIC_LOOPE) {
            take = take && (c->rflags & FL_ZF);
        } else if (in->mnem == ZYDIS_MNEMONIC_LOOPNE) {
            take = take && !(c->rflags & FL_ZF);
        }
        reg_write(c, R_CX, in->addrsize, cnt);
        if (take) {
            jump(c, in, rel_target(c, in));
        }
        return true;
    }
    case ZYDIS_MNEMONIC_CALL:
        if (in->flags & INSN_FAR) {
            exec_far_branch(c, in, true);
        } else {
            unsigned sz = c->long64 ? 8 : in->opsize;
            uint64_t target = in->op[0].kind == OPK_IMM ? rel_target(c, in)
                              : op_read(c, in, 0, sz);

            emu_push(c, c->next_rip, sz);
            jump(c, in, target);
        }
        return true;
    case ZYDIS_MNEMONIC_RET:
        if (in->opcode == 0xCA || in->opcode == 0xCB) {
            emu_far_ret(c, in->opsize, in->nops ? (uint16_t)in->op[0].val : 0);
        } else {
            unsigned sz = c->long64 ? 8 : in->opsize;
            uint64_t target = emu_pop(c, sz);

            if (in->nops && in->op[0].kind == OPK_IMM) {
                unsigned ss = emu_stack_size(c);

                reg_write(c, R_SP, ss, c->gpr[R_SP] + (uint16_t)in->op[0].val);
            }
            jump(c, in, target);
        }
        return true;
    default:
        return false;
    }
}

/* ---- handlers ---- */

void emu_h_flow(EmuCpu *c, const EmuInsn *in) { exec_flow(c, in); }

void emu_h_jcc(EmuCpu *c, const EmuInsn *in)
{
    if (alu_cond(c->rflags, in->opcode & 0xF)) {
        jump(c, in, rel_target(c, in));
    }
}

