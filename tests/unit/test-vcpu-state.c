/*
 * The emu CPU's vCPU state (accel/emu/emu-state.h, accel.h vcpu_get_state
 * and vcpu_set_state) without a Machine: bare EmuCpus, as in
 * test-emu-insn.c, each with a real LAPIC on its own APIC bus driven by a
 * fake clock (so the LAPIC timer's current count is exact).
 *
 *  - round-trip: a recognisable long-mode state in CPU A (registers, MSRs,
 *    LAPIC with TPR/ISR/IRR/timer/ESR, a pending NMI) is saved, loaded into
 *    CPU B, and B is compared with A field by field, both as EmuCpu and as
 *    saved state; then both run the same code (MSR, CR8, TSC_AUX, IDT,
 *    GDT, swapgs...) to hlt and must end identical (B having run other
 *    code under other page tables first: the load must flush its TLB).
 *  - timer-due: a LAPIC timer expiry not yet polled is saved in IRR.
 *  - mp-states: AP states (UNINITIALIZED, INIT_RECEIVED, SIPI_RECEIVED, a
 *    pending INIT, HALTED) and a TSC-deadline timer survive a round trip.
 *  - rejects: a bad version and invalid combinations (CR0.PG without PE,
 *    EFER.LMA without paging, ...) and what emu cannot hold are refused
 *    with a GError and leave the CPU exactly as it was.
 */
#include <setjmp.h>
#include <string.h>

#include <glib.h>

#include "accel/emu/emu-apic.h"
#include "accel/emu/emu-cpu.h"
#include "accel/emu/emu-state.h"
#include "accel/x86-cpu-state.h"
#include "util/strutil.h"
#include "vcpu-state-assert.h"

#define RAM_SIZE     (4ull << 20)
#define GDT_ADDR     0x500ull
#define IDT_ADDR     0x1000ull
#define PML4_ADDR    0x9000ull
#define PDPT_ADDR    0xA000ull
#define PD_ADDR      0xB000ull
#define ALT_PML4_ADDR 0xC000ull
#define ALT_PDPT_ADDR 0xD000ull
#define ALT_PD_ADDR   0xE000ull
#define STACK_TOP    0x80000ull
#define CODE_ADDR    0x100000ull
#define HANDLER_ADDR 0x100800ull
#define RESULT_ADDR  0x200000ull
#define MAX_STEPS    100

#define APIC_ID      0x20
#define APIC_TPR     0x80
#define APIC_PPR     0xA0
#define APIC_LDR     0xD0
#define APIC_SVR     0xF0
#define APIC_ISR     0x100
#define APIC_IRR     0x200
#define APIC_ESR     0x280
#define APIC_ICR_LO  0x300
#define APIC_LVT_TIMER 0x320
#define APIC_TMICT   0x380
#define APIC_TMCCT   0x390
#define APIC_TDCR    0x3E0

/*
 * The code both CPUs run (64-bit, CPL0):
 *   add %rbx,%rax; push %rax; mov $0xc0000081,%ecx; rdmsr
 *   mov %eax,0x200000; mov %edx,0x200004; mov %cr8,%rdx; mov %rdx,0x200008
 *   rdtscp; mov %ecx,%esi; xor %eax,%eax; xor %edx,%edx; int3 (-> handler)
 *   pop %rdi; mov %r15,0x200010; sgdt 0x200020; sidt 0x200030; mov %cr3,%r8
 *   swapgs; mov $0xc0000101,%ecx; rdmsr; mov %eax,%r9d; hlt
 */
static const uint8_t guest_code[] = {
    0x48, 0x01, 0xd8, 0x50, 0xb9, 0x81, 0x00, 0x00, 0xc0, 0x0f, 0x32,
    0x89, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0x89, 0x14, 0x25, 0x04, 0x00, 0x20, 0x00,
    0x44, 0x0f, 0x20, 0xc2, 0x48, 0x89, 0x14, 0x25, 0x08, 0x00, 0x20, 0x00,
    0x0f, 0x01, 0xf9, 0x89, 0xce, 0x31, 0xc0, 0x31, 0xd2, 0xcc,
    0x5f, 0x4c, 0x89, 0x3c, 0x25, 0x10, 0x00, 0x20, 0x00,
    0x0f, 0x01, 0x04, 0x25, 0x20, 0x00, 0x20, 0x00, 0x0f, 0x01, 0x0c, 0x25, 0x30, 0x00, 0x20, 0x00,
    0x41, 0x0f, 0x20, 0xd8, 0x0f, 0x01, 0xf8, 0xb9, 0x01, 0x01, 0x00, 0xc0, 0x0f, 0x32,
    0x41, 0x89, 0xc1, 0xf4,
};
/* int3 handler: inc %r14; iretq */
static const uint8_t guest_handler[] = { 0x49, 0xff, 0xc6, 0x48, 0xcf };

static const uint64_t gdt[3] = { 0, 0x00af9b000000ffffull, 0x00cf93000000ffffull };

static uint64_t fake_now = 5000000000ull;

static uint64_t fake_clock(void *opaque)
{
    (void)opaque;
    return fake_now;
}

/* ---- a bare CPU with its own RAM and LAPIC ---- */

typedef struct TestCpu {
    EmuCpu *cpu;
    GuestRam ram;
    EmuApicBus *bus;
} TestCpu;

static void write_ram(TestCpu *t, uint64_t gpa, const void *buf, size_t len)
{
    g_assert_true(guest_ram_write(&t->ram, gpa, buf, len));
}

static void test_cpu_init(TestCpu *t, bool bsp)
{
    uint64_t pml4e = PDPT_ADDR | 3, pdpte = PD_ADDR | 3;
    uint8_t gate[16] = { 0 };

    memset(t, 0, sizeof(*t));
    g_assert_true(guest_ram_init(&t->ram, RAM_SIZE, RAM_SIZE, false, false, NULL));
    t->bus = emu_apic_bus_new(1, fake_clock, NULL);
    g_assert_nonnull(t->bus);
    t->cpu = g_new0(EmuCpu, 1);
    t->cpu->ram = &t->ram;
    t->cpu->ncpus = 1;
    t->cpu->lapic = emu_apic_bus_lapic(t->bus, 0);
    t->cpu->ud_logged = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_assert_true(emu_decode_init(t->cpu));
    emu_lapic_reset(t->cpu->lapic, bsp ? 0 : 1, bsp);
    emu_reset_init(t->cpu);
    t->cpu->wait_sipi = !bsp;

    /* Boot layout: flat GDT, an IDT with a gate for #BP, identity-mapped 4 MiB. */
    write_ram(t, GDT_ADDR, gdt, sizeof(gdt));
    gate[0] = HANDLER_ADDR & 0xff;
    gate[1] = (HANDLER_ADDR >> 8) & 0xff;
    gate[2] = 0x08;                          /* selector */
    gate[5] = 0x8e;                          /* present 64-bit interrupt gate */
    gate[6] = (HANDLER_ADDR >> 16) & 0xff;
    gate[7] = (HANDLER_ADDR >> 24) & 0xff;
    write_ram(t, IDT_ADDR + 3 * 16, gate, sizeof(gate));
    write_ram(t, PML4_ADDR, &pml4e, 8);
    write_ram(t, PDPT_ADDR, &pdpte, 8);
    for (uint64_t i = 0; i < 2; i++) {
        uint64_t pde = (i << 21) | 0x83;

        write_ram(t, PD_ADDR + i * 8, &pde, 8);
    }
    write_ram(t, CODE_ADDR, guest_code, sizeof(guest_code));
    write_ram(t, HANDLER_ADDR, guest_handler, sizeof(guest_handler));
}

static void test_cpu_destroy(TestCpu *t)
{
    g_hash_table_destroy(t->cpu->ud_logged);
    emu_decode_destroy(t->cpu);
    g_free(t->cpu);
    emu_apic_bus_free(t->bus);
    guest_ram_destroy(&t->ram);
}

/* Steps until hlt; false on an exception that escaped (none is expected). */
static bool run_to_hlt(EmuCpu *c)
{
    volatile unsigned steps = 0;

    if (setjmp(c->jmp)) {
        g_test_message("exception %d at rip 0x%" G_GINT64_MODIFIER "x", c->exc_vector,
                       (guint64)c->insn_rip);
        return false;
    }
    while (!c->halted && steps < MAX_STEPS) {
        emu_step(c);
        steps = steps + 1;
    }
    return c->halted;
}

/* ---- the recognisable state ---- */

static void set_long_mode(EmuCpu *c)
{
    emu_desc_to_seg(&c->seg[S_CS], 0x08, gdt[1]);
    for (int s = 0; s < 6; s++) {
        if (s != S_CS) {
            emu_desc_to_seg(&c->seg[s], 0x10, gdt[2]);
        }
    }
    c->seg[S_FS].base = 0x7f0000001000ull;
    c->seg[S_GS].base = 0x7f0000002000ull;
    c->ldtr = (EmuSeg){ .sel = 0, .limit = 0xFFFF, .attr = SEG_P | 2 };
    c->tr = (EmuSeg){ .sel = 0x18, .base = 0x3000, .limit = 0x67, .attr = SEG_P | 0xB };
    c->gdtr = (EmuDtr){ GDT_ADDR, sizeof(gdt) - 1 };
    c->idtr = (EmuDtr){ IDT_ADDR, 16 * 16 - 1 };
    c->cr0 = CR0_PE | CR0_PG | CR0_ET | CR0_NE | CR0_WP;
    c->cr2 = 0xdead0000beefull;
    c->cr3 = PML4_ADDR;
    c->cr4 = CR4_PAE | CR4_PGE;
    c->efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
    emu_tlb_flush(c);
    emu_update_mode(c);
}

static void set_recognisable(TestCpu *t)
{
    EmuCpu *c = t->cpu;
    EmuLapic *l = c->lapic;

    set_long_mode(c);
    for (int i = 0; i < 16; i++) {
        c->gpr[i] = 0x1111111111111111ull * (uint64_t)(i + 1) ^ 0x0123456789abcdefull;
    }
    c->gpr[R_SP] = STACK_TOP;
    c->gpr[14] = 100;
    c->rip = CODE_ADDR;
    c->rflags = 0x2 | FL_CF | FL_ZF | FL_DF;
    for (int i = 0; i < 4; i++) {
        c->dr[i] = 0x400000ull + 0x10 * (uint64_t)i;
    }
    c->dr[6] = 0xFFFF0FF1;
    c->dr[7] = 0x401;
    c->star = 0x0023001000000000ull;
    c->lstar = 0xffffffff81000000ull;
    c->cstar = 0xffffffff81000100ull;
    c->sfmask = 0x47700;
    c->kernel_gs_base = 0xffff888000001000ull;
    c->tsc_aux = 0x5a;
    c->pat = 0x0007010600070106ull;
    c->sysenter_cs = 0x10;
    c->sysenter_esp = 0xffff888000002000ull;
    c->sysenter_eip = 0xffffffff81000200ull;
    c->misc_enable = 0x1;
    c->mtrr_def_type = 0x806;
    /* the FPU: a control word, an x87 register, MXCSR's rounding mode, XMM15 */
    c->fpu.fcw = 0x027F;
    c->fpu.ftw = 0x80;
    c->fpu.fsw = 7u << 11;
    memset(c->fpu.st[0], 0x3F, 10);
    c->fpu.mxcsr = 0x3F80;
    memset(c->fpu.xmm[15], 0xA5, 16);
    c->tsc_offset = -1234567;
    c->tsc_adjust = -1234000;
    emu_lapic_set_tsc_offset(l, c->tsc_offset);

    /* LAPIC: enabled, TPR 3, a vector in service, one pending, a running timer. */
    emu_lapic_write(l, APIC_SVR, 0x1FF);
    emu_lapic_write(l, APIC_TPR, 0x30);
    emu_lapic_write(l, APIC_LDR, 0x01000000);
    emu_apic_bus_deliver(t->bus, 0, false, EMU_APIC_DM_FIXED, 0x51, false);
    g_assert_cmpint(emu_lapic_ack(l), ==, 0x51);            /* ISR 0x51, PPR 0x50 */
    emu_apic_bus_deliver(t->bus, 0, false, EMU_APIC_DM_FIXED, 0x41, true);  /* IRR, TMR */
    emu_lapic_write(l, APIC_TDCR, 0x3);                      /* divide by 16 */
    emu_lapic_write(l, APIC_LVT_TIMER, 0x200EC);             /* periodic, vector 0xEC */
    emu_lapic_write(l, APIC_TMICT, 1000000);
    fake_now += 16 * 1000 * 250;                              /* a quarter period */
    emu_lapic_write(l, APIC_ICR_LO, 0x5);                    /* illegal vector: ESR pending */
    emu_apic_bus_deliver(t->bus, 0, false, EMU_APIC_DM_NMI, 0, false);
}

/*
 * Leaves CPU t with a TLB that maps the code page elsewhere: other page
 * tables send linear [0, 4 MiB) to physical 2 MiB + that, where a hlt sits
 * at CODE_ADDR's image. A load that does not flush the TLB then runs the
 * wrong code.
 */
static void prime_stale_tlb(TestCpu *t)
{
    uint64_t pml4e = ALT_PDPT_ADDR | 3, pdpte = ALT_PD_ADDR | 3;
    uint8_t hlt = 0xf4;

    write_ram(t, ALT_PML4_ADDR, &pml4e, 8);
    write_ram(t, ALT_PDPT_ADDR, &pdpte, 8);
    for (uint64_t i = 0; i < 2; i++) {
        uint64_t pde = (2ull << 20) | 0x83;

        write_ram(t, ALT_PD_ADDR + i * 8, &pde, 8);
    }
    write_ram(t, (2ull << 20) + CODE_ADDR, &hlt, 1);
    set_long_mode(t->cpu);
    t->cpu->cr3 = ALT_PML4_ADDR;
    t->cpu->rip = CODE_ADDR;
    g_assert_true(run_to_hlt(t->cpu));
    g_assert_cmphex(t->cpu->rip, ==, CODE_ADDR + 1);
}

/* ---- comparisons ---- */

static void assert_seg_equal(const EmuSeg *a, const EmuSeg *b)
{
    g_assert_cmphex(a->sel, ==, b->sel);
    g_assert_cmphex(a->base, ==, b->base);
    g_assert_cmphex(a->limit, ==, b->limit);
    g_assert_cmphex(a->attr, ==, b->attr);
}

/* Every architectural field of the two CPUs, and what is derived from them. */
static void assert_cpus_equal(const EmuCpu *a, const EmuCpu *b)
{
    for (int i = 0; i < 16; i++) {
        g_assert_cmphex(a->gpr[i], ==, b->gpr[i]);
    }
    g_assert_cmphex(a->rip, ==, b->rip);
    g_assert_cmphex(a->rflags, ==, b->rflags);
    for (int i = 0; i < 6; i++) {
        assert_seg_equal(&a->seg[i], &b->seg[i]);
    }
    assert_seg_equal(&a->ldtr, &b->ldtr);
    assert_seg_equal(&a->tr, &b->tr);
    g_assert_cmphex(a->gdtr.base, ==, b->gdtr.base);
    g_assert_cmphex(a->gdtr.limit, ==, b->gdtr.limit);
    g_assert_cmphex(a->idtr.base, ==, b->idtr.base);
    g_assert_cmphex(a->idtr.limit, ==, b->idtr.limit);
    g_assert_cmphex(a->cr0, ==, b->cr0);
    g_assert_cmphex(a->cr2, ==, b->cr2);
    g_assert_cmphex(a->cr3, ==, b->cr3);
    g_assert_cmphex(a->cr4, ==, b->cr4);
    g_assert_cmphex(a->efer, ==, b->efer);
    for (int i = 0; i < 8; i++) {
        g_assert_cmphex(a->dr[i], ==, b->dr[i]);
    }
    g_assert_cmphex(a->star, ==, b->star);
    g_assert_cmphex(a->lstar, ==, b->lstar);
    g_assert_cmphex(a->cstar, ==, b->cstar);
    g_assert_cmphex(a->sfmask, ==, b->sfmask);
    g_assert_cmphex(a->kernel_gs_base, ==, b->kernel_gs_base);
    g_assert_cmphex(a->tsc_aux, ==, b->tsc_aux);
    g_assert_cmphex(a->pat, ==, b->pat);
    g_assert_cmphex(a->sysenter_cs, ==, b->sysenter_cs);
    g_assert_cmphex(a->sysenter_esp, ==, b->sysenter_esp);
    g_assert_cmphex(a->sysenter_eip, ==, b->sysenter_eip);
    g_assert_cmphex(a->misc_enable, ==, b->misc_enable);
    g_assert_cmphex(a->mtrr_def_type, ==, b->mtrr_def_type);
    g_assert_cmpint(a->tsc_adjust, ==, b->tsc_adjust);
    g_assert_cmpmem(&a->fpu, sizeof(a->fpu), &b->fpu, sizeof(b->fpu));
    /* The TSC offsets differ by the host time between the two reads. */
    g_assert_cmpint(ABS(a->tsc_offset - b->tsc_offset), <, (int64_t)TSC_SLACK);
    g_assert_cmpint(a->halted, ==, b->halted);
    g_assert_cmpint(a->wait_sipi, ==, b->wait_sipi);
    g_assert_cmpint(a->sti_shadow, ==, b->sti_shadow);
    g_assert_cmpint(a->cpl, ==, b->cpl);
    g_assert_cmpint(a->mode, ==, b->mode);
    g_assert_cmpint(a->stack32, ==, b->stack32);
    g_assert_cmpint(a->long64, ==, b->long64);
}

/* The other LAPIC state, through its own API. */
static void assert_lapics_equal(EmuLapic *a, EmuLapic *b)
{
    EmuLapicState sa, sb;

    emu_lapic_save(a, &sa);
    emu_lapic_save(b, &sb);
    g_assert_cmpmem(sa.regs, sizeof(sa.regs), sb.regs, sizeof(sb.regs));
    g_assert_cmphex(sa.apic_base, ==, sb.apic_base);
    g_assert_cmphex(sa.tsc_deadline, ==, sb.tsc_deadline);
    g_assert_cmpint(ABS(sa.tsc_offset - sb.tsc_offset), <, (int64_t)TSC_SLACK);
    g_assert_cmphex(sa.esr_pending, ==, sb.esr_pending);
    g_assert_cmphex(sa.events, ==, sb.events);
    g_assert_cmphex(sa.sipi_vector, ==, sb.sipi_vector);
    g_assert_cmpint(sa.wait_for_sipi, ==, sb.wait_for_sipi);
    g_assert_cmpint(sa.extint_latched, ==, sb.extint_latched);
    g_assert_cmpuint(emu_lapic_timer_deadline(a), ==, emu_lapic_timer_deadline(b));
    g_assert_cmpint(emu_lapic_pending_vector(a), ==, emu_lapic_pending_vector(b));
    g_assert_cmpint(emu_lapic_has_events(a), ==, emu_lapic_has_events(b));
}

/* ---- tests ---- */

static void test_round_trip(void)
{
    TestCpu a, b;
    g_autofree X86VcpuState *sa = g_new0(X86VcpuState, 1);
    g_autofree X86VcpuState *sb = g_new0(X86VcpuState, 1);
    uint8_t ram_a[0x40], ram_b[0x40];
    uint64_t stack_a, stack_b;
    GError *err = NULL;

    test_cpu_init(&a, true);
    test_cpu_init(&b, true);
    set_recognisable(&a);

    emu_cpu_save_state(a.cpu, sa);
    /* What was set is what is reported. */
    g_assert_cmpuint(sa->version, ==, X86_VCPU_STATE_VERSION);
    g_assert_cmphex(sa->gpr[X86_RSP], ==, STACK_TOP);
    g_assert_cmphex(sa->gpr[X86_R15], ==, a.cpu->gpr[15]);
    g_assert_cmphex(sa->rip, ==, CODE_ADDR);
    g_assert_cmphex(sa->seg[X86_SEG_CS].selector, ==, 0x08);
    g_assert_cmphex(sa->seg[X86_SEG_CS].attr, ==, 0xA09B);
    g_assert_cmphex(sa->seg[X86_SEG_GS].base, ==, 0x7f0000002000ull);
    g_assert_cmphex(sa->tr.base, ==, 0x3000);
    g_assert_cmphex(sa->efer, ==, EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE);
    g_assert_cmphex(sa->cr8, ==, 3);
    g_assert_cmphex(sa->apic_base, ==, 0xFEE00900);
    g_assert_cmphex(sa->lstar, ==, 0xffffffff81000000ull);
    g_assert_cmphex(x86_lapic_reg(sa, APIC_SVR), ==, 0x1FF);
    g_assert_cmphex(x86_lapic_reg(sa, APIC_PPR), ==, 0x50);
    g_assert_cmphex(x86_lapic_reg(sa, APIC_ISR + 0x20), ==, 1u << (0x51 - 0x40));
    g_assert_cmphex(x86_lapic_reg(sa, APIC_IRR + 0x20), ==, 1u << (0x41 - 0x40));
    g_assert_cmphex(x86_lapic_reg(sa, APIC_TMICT), ==, 1000000);
    g_assert_cmphex(x86_lapic_reg(sa, APIC_TMCCT), ==, 750000);
    g_assert_cmphex(sa->lapic_esr_pending, ==, 0x20);
    g_assert_cmpuint(sa->events.mp_state, ==, X86_MP_STATE_RUNNABLE);
    g_assert_cmpuint(sa->events.nmi_pending, ==, 1);
    g_assert_cmpuint(sa->fpu_len, ==, X86_FPU_LEGACY_SIZE);   /* an FXSAVE image */
    g_assert_cmphex(sa->fpu[0] | sa->fpu[1] << 8, ==, 0x027F);  /* FCW */
    g_assert_cmphex(sa->fpu[24] | sa->fpu[25] << 8, ==, 0x3F80); /* MXCSR */
    g_assert_cmphex(sa->fpu[160 + 15 * 16], ==, 0xA5);          /* XMM15 */
    g_assert_cmpuint(sa->n_msr_other, ==, 2);
    g_assert_cmphex(sa->msr_other[0].index, ==, 0x2FF);         /* MTRRdefType */
    g_assert_cmphex(sa->msr_other[0].value, ==, 0x806);
    g_assert_cmphex(sa->msr_other[1].index, ==, 0x3B);          /* IA32_TSC_ADJUST */
    g_assert_cmpint((int64_t)sa->msr_other[1].value, ==, -1234000);
    g_assert_cmpint(ABS((int64_t)(sa->tsc - emu_rdtsc(a.cpu))), <, (int64_t)TSC_SLACK);
    g_assert_true(x86_vcpu_state_check(sa, &err));
    g_assert_no_error(err);

    prime_stale_tlb(&b);
    g_assert_true(emu_cpu_load_state(b.cpu, sa, &err));
    g_assert_no_error(err);
    assert_cpus_equal(a.cpu, b.cpu);
    assert_lapics_equal(a.cpu->lapic, b.cpu->lapic);
    emu_cpu_save_state(b.cpu, sb);
    assert_states_equal(sa, sb, true);

    /* Both run the same code from there and end identical. */
    g_assert_true(run_to_hlt(a.cpu));
    g_assert_true(run_to_hlt(b.cpu));
    g_assert_cmphex(a.cpu->rip, ==, CODE_ADDR + sizeof(guest_code));
    assert_cpus_equal(a.cpu, b.cpu);
    g_assert_cmphex(a.cpu->gpr[14], ==, 101);            /* the #BP handler ran */
    g_assert_cmphex(a.cpu->gpr[R_SI], ==, 0x5a);         /* TSC_AUX */
    g_assert_cmphex(a.cpu->gpr[9], ==, 0x00001000);      /* GS base after swapgs */
    g_assert_true(guest_ram_read(&a.ram, RESULT_ADDR, ram_a, sizeof(ram_a)));
    g_assert_true(guest_ram_read(&b.ram, RESULT_ADDR, ram_b, sizeof(ram_b)));
    g_assert_cmpmem(ram_a, sizeof(ram_a), ram_b, sizeof(ram_b));
    g_assert_cmphex(((uint64_t *)ram_a)[0], ==, 0x0023001000000000ull);   /* STAR */
    g_assert_cmphex(((uint64_t *)ram_a)[1], ==, 3);                        /* CR8 */
    g_assert_true(guest_ram_read(&a.ram, STACK_TOP - 8, &stack_a, 8));
    g_assert_true(guest_ram_read(&b.ram, STACK_TOP - 8, &stack_b, 8));
    g_assert_cmphex(stack_a, ==, stack_b);
    emu_cpu_save_state(a.cpu, sa);
    emu_cpu_save_state(b.cpu, sb);
    assert_states_equal(sa, sb, true);
    g_assert_cmpuint(sa->events.mp_state, ==, X86_MP_STATE_HALTED);

    test_cpu_destroy(&a);
    test_cpu_destroy(&b);
}

typedef enum {
    AP_RESET,            /* UNINITIALIZED */
    AP_INIT_TAKEN,       /* INIT_RECEIVED */
    AP_INIT_LATCHED,     /* INIT not taken yet */
    AP_SIPI_LATCHED,     /* INIT taken, SIPI not yet */
    AP_INIT_SIPI_LATCHED,/* both not taken */
    AP_HALTED,
} ApCase;

/* What emu.c's take_events does with them. */
static void take_events(EmuCpu *c)
{
    uint8_t vec = 0;
    unsigned ev = emu_lapic_take_events(c->lapic, &vec);

    if (ev & EMU_LAPIC_EV_INIT) {
        emu_reset_init(c);
        c->wait_sipi = !emu_lapic_is_bsp(c->lapic);
    }
    if ((ev & EMU_LAPIC_EV_SIPI) && c->wait_sipi) {
        emu_sipi(c, vec);
    }
}

static void test_mp_states(void)
{
    static const struct {
        ApCase c;
        uint32_t mp_state;
        bool init_pending;
    } cases[] = {
        { AP_RESET, X86_MP_STATE_UNINITIALIZED, false },
        { AP_INIT_TAKEN, X86_MP_STATE_INIT_RECEIVED, false },
        { AP_INIT_LATCHED, X86_MP_STATE_INIT_RECEIVED, true },
        { AP_SIPI_LATCHED, X86_MP_STATE_SIPI_RECEIVED, false },
        { AP_INIT_SIPI_LATCHED, X86_MP_STATE_SIPI_RECEIVED, true },
        { AP_HALTED, X86_MP_STATE_HALTED, false },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        TestCpu a, b;
        g_autofree X86VcpuState *sa = g_new0(X86VcpuState, 1);
        g_autofree X86VcpuState *sb = g_new0(X86VcpuState, 1);
        GError *err = NULL;

        test_cpu_init(&a, false);       /* an AP (APIC id 1) after reset */
        test_cpu_init(&b, true);
        switch (cases[i].c) {
        case AP_RESET:
            break;
        case AP_INIT_TAKEN:
            emu_apic_bus_deliver(a.bus, 1, false, EMU_APIC_DM_INIT, 0, false);
            take_events(a.cpu);
            break;
        case AP_INIT_LATCHED:
            emu_apic_bus_deliver(a.bus, 1, false, EMU_APIC_DM_INIT, 0, false);
            break;
        case AP_SIPI_LATCHED:
            emu_apic_bus_deliver(a.bus, 1, false, EMU_APIC_DM_INIT, 0, false);
            take_events(a.cpu);
            emu_apic_bus_deliver(a.bus, 1, false, EMU_APIC_DM_SIPI, 0x9a, false);
            break;
        case AP_INIT_SIPI_LATCHED:
            emu_apic_bus_deliver(a.bus, 1, false, EMU_APIC_DM_INIT, 0, false);
            emu_apic_bus_deliver(a.bus, 1, false, EMU_APIC_DM_SIPI, 0x9a, false);
            break;
        case AP_HALTED:
            set_long_mode(a.cpu);
            a.cpu->wait_sipi = false;
            a.cpu->halted = true;
            break;
        }
        emu_cpu_save_state(a.cpu, sa);
        g_assert_cmpuint(sa->events.mp_state, ==, cases[i].mp_state);
        g_assert_cmpuint(sa->events.init_pending, ==, cases[i].init_pending);
        if (cases[i].mp_state == X86_MP_STATE_SIPI_RECEIVED) {
            g_assert_cmphex(sa->events.sipi_vector, ==, 0x9a);
        }
        g_assert_cmphex(sa->apic_base, ==, 0xFEE00800);    /* not the BSP */
        g_assert_cmphex(x86_lapic_reg(sa, APIC_ID), ==, 0x01000000);

        g_assert_true(emu_cpu_load_state(b.cpu, sa, &err));
        g_assert_no_error(err);
        assert_cpus_equal(a.cpu, b.cpu);
        assert_lapics_equal(a.cpu->lapic, b.cpu->lapic);
        emu_cpu_save_state(b.cpu, sb);
        assert_states_equal(sa, sb, true);

        /* Both act on the latched events alike. */
        take_events(a.cpu);
        take_events(b.cpu);
        assert_cpus_equal(a.cpu, b.cpu);
        assert_lapics_equal(a.cpu->lapic, b.cpu->lapic);
        test_cpu_destroy(&a);
        test_cpu_destroy(&b);
    }
}

static void test_tsc_deadline(void)
{
    TestCpu a, b;
    g_autofree X86VcpuState *sa = g_new0(X86VcpuState, 1);
    g_autofree X86VcpuState *sb = g_new0(X86VcpuState, 1);
    uint64_t deadline;
    GError *err = NULL;

    test_cpu_init(&a, true);
    test_cpu_init(&b, true);
    set_long_mode(a.cpu);
    a.cpu->rip = CODE_ADDR;
    emu_lapic_write(a.cpu->lapic, APIC_SVR, 0x1FF);
    emu_lapic_write(a.cpu->lapic, APIC_LVT_TIMER, 0x400EF);     /* TSC deadline, 0xEF */
    deadline = emu_rdtsc(a.cpu) + 3600ull * 1000 * 1000 * 1000;
    emu_lapic_set_tsc_deadline(a.cpu->lapic, deadline);
    a.cpu->sti_shadow = true;

    emu_cpu_save_state(a.cpu, sa);
    g_assert_cmphex(sa->tsc_deadline, ==, deadline);
    g_assert_cmpuint(sa->events.interrupt_shadow, ==, X86_SHADOW_STI);
    g_assert_true(emu_cpu_load_state(b.cpu, sa, &err));
    g_assert_no_error(err);
    g_assert_cmphex(emu_lapic_get_tsc_deadline(b.cpu->lapic), ==, deadline);
    g_assert_true(b.cpu->sti_shadow);
    emu_cpu_save_state(b.cpu, sb);
    assert_states_equal(sa, sb, true);
    test_cpu_destroy(&a);
    test_cpu_destroy(&b);
}

/* A timer expiry that is due but not yet polled is saved as the interrupt it is. */
static void test_timer_due(void)
{
    TestCpu a;
    g_autofree X86VcpuState *sa = g_new0(X86VcpuState, 1);

    test_cpu_init(&a, true);
    emu_lapic_write(a.cpu->lapic, APIC_SVR, 0x1FF);
    emu_lapic_write(a.cpu->lapic, APIC_LVT_TIMER, 0xE3);       /* one-shot, 0xE3 */
    emu_lapic_write(a.cpu->lapic, APIC_TMICT, 1000);           /* 2 us (divide by 2) */
    fake_now += 10000;
    emu_cpu_save_state(a.cpu, sa);
    g_assert_cmphex(x86_lapic_reg(sa, APIC_TMCCT), ==, 0);
    g_assert_cmphex(x86_lapic_reg(sa, APIC_IRR + 0x70), ==, 1u << (0xE3 - 0xE0));
    test_cpu_destroy(&a);
}

typedef void (*Corrupt)(X86VcpuState *st);

static void bad_version(X86VcpuState *st) { st->version = 99; }
static void bad_pg_without_pe(X86VcpuState *st) { st->cr0 &= ~CR0_PE; }
static void bad_lma_without_pg(X86VcpuState *st) { st->cr0 &= ~CR0_PG; }
static void bad_lme_pg_without_lma(X86VcpuState *st) { st->efer &= ~EFER_LMA; }
static void bad_long_mode_without_pae(X86VcpuState *st) { st->cr4 &= ~CR4_PAE; }
static void bad_nw_without_cd(X86VcpuState *st) { st->cr0 |= CR0_NW; }
static void bad_cr8_vs_tpr(X86VcpuState *st) { st->cr8 = 7; }
static void bad_mp_state(X86VcpuState *st) { st->events.mp_state = 9; }
static void bad_rflags(X86VcpuState *st) { st->rflags |= 1ull << 40; }
static void bad_fpu_len(X86VcpuState *st) { st->fpu_len = 100; }
static void bad_exception_vector(X86VcpuState *st)
{
    st->events.exception_injected = 1;
    st->events.exception_nr = 40;
}
/* Valid states emu cannot hold. */
static void emu_injected_exception(X86VcpuState *st)
{
    st->events.exception_injected = 1;
    st->events.exception_nr = 14;
    st->events.exception_has_error = 1;
}
static void emu_injected_interrupt(X86VcpuState *st)
{
    st->events.interrupt_injected = 1;
    st->events.interrupt_nr = 0x30;
}
static void emu_unknown_efer(X86VcpuState *st) { st->efer |= 1ull << 14; }    /* FFXSR */
static void emu_mxcsr_reserved(X86VcpuState *st) { st->fpu[26] = 1; }          /* bit 16 */
/* an XSAVE image (KVM's) with YMM state in use */
static void emu_avx_state(X86VcpuState *st)
{
    st->fpu_len = X86_FPU_XSAVE_MIN;
    memset(st->fpu + 512, 0, 64);
    st->fpu[512] = 0x7;                      /* XSTATE_BV: x87, SSE, AVX */
}
static void emu_mtrr_reserved(X86VcpuState *st) { st->msr_other[0].value = 0x1806; }
static void emu_pv_msr(X86VcpuState *st)
{
    st->n_msr_other = 1;
    st->msr_other[0].index = 0x4b564d01;
    st->msr_other[0].value = 0x1001;
}
/* Passes every check but the LAPIC's own: the last step that can refuse. */
static void emu_apic_base_reserved(X86VcpuState *st) { st->apic_base |= 1ull << 50; }

static void test_rejects(void)
{
    static const struct {
        const char *name;
        Corrupt corrupt;
        const char *msg;
    } cases[] = {
        { "version", bad_version, "version 99 is not supported" },
        { "pg-without-pe", bad_pg_without_pe, "CR0.PG is set without CR0.PE" },
        { "lma-without-pg", bad_lma_without_pg, "EFER.LMA is set without" },
        { "lme-pg-without-lma", bad_lme_pg_without_lma, "EFER.LMA is not" },
        { "long-mode-without-pae", bad_long_mode_without_pae, "without CR4.PAE" },
        { "nw-without-cd", bad_nw_without_cd, "CR0.NW" },
        { "cr8-vs-tpr", bad_cr8_vs_tpr, "disagrees with the LAPIC TPR" },
        { "mp-state", bad_mp_state, "mp_state" },
        { "rflags", bad_rflags, "RFLAGS" },
        { "fpu-len", bad_fpu_len, "FPU image" },
        { "exception-vector", bad_exception_vector, "not an exception" },
        { "emu-injected-exception", emu_injected_exception, "delivering exception 14" },
        { "emu-injected-interrupt", emu_injected_interrupt, "delivering interrupt 48" },
        { "emu-efer", emu_unknown_efer, "EFER" },
        { "emu-mxcsr", emu_mxcsr_reserved, "MXCSR" },
        { "emu-avx", emu_avx_state, "AVX" },
        { "emu-mtrr", emu_mtrr_reserved, "MTRRdefType" },
        { "emu-pv-msr", emu_pv_msr, "MSR 0x4b564d01" },
        { "emu-apic-base", emu_apic_base_reserved, "IA32_APIC_BASE" },
    };
    TestCpu a, b;
    g_autofree X86VcpuState *good = g_new0(X86VcpuState, 1);
    g_autofree X86VcpuState *bad = g_new0(X86VcpuState, 1);
    g_autofree X86VcpuState *before = g_new0(X86VcpuState, 1);
    g_autofree X86VcpuState *after = g_new0(X86VcpuState, 1);
    g_autofree EmuCpu *copy = g_new0(EmuCpu, 1);
    GError *err = NULL;

    test_cpu_init(&a, true);
    test_cpu_init(&b, true);
    set_recognisable(&a);
    emu_cpu_save_state(a.cpu, good);
    /* b: a different, valid state (real mode after reset, a LAPIC timer running). */
    emu_lapic_write(b.cpu->lapic, APIC_SVR, 0x1FF);
    emu_lapic_write(b.cpu->lapic, APIC_TMICT, 5000);
    b.cpu->gpr[R_AX] = 0x77;

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_test_message("case %s", cases[i].name);
        memcpy(bad, good, sizeof(*bad));
        cases[i].corrupt(bad);
        emu_cpu_save_state(b.cpu, before);
        memcpy(copy, b.cpu, sizeof(*copy));

        g_assert_false(emu_cpu_load_state(b.cpu, bad, &err));
        g_assert_error(err, STRATUS_ERROR, STRATUS_ERROR_GENERIC);
        if (!strstr(err->message, cases[i].msg)) {
            g_error("case %s: \"%s\" does not say \"%s\"", cases[i].name, err->message,
                    cases[i].msg);
        }
        g_clear_error(&err);

        /* Unchanged: the CPU field by field, the LAPIC and the saved state. */
        assert_cpus_equal(copy, b.cpu);
        g_assert_cmpmem(copy->tlb, sizeof(copy->tlb), b.cpu->tlb, sizeof(b.cpu->tlb));
        emu_cpu_save_state(b.cpu, after);
        assert_states_equal(before, after, true);
        g_assert_cmphex(after->gpr[X86_RAX], ==, 0x77);
        g_assert_cmphex(after->rip, ==, 0xFFF0);
    }

    /* And the good state still loads. */
    g_assert_true(emu_cpu_load_state(b.cpu, good, &err));
    g_assert_no_error(err);
    assert_cpus_equal(a.cpu, b.cpu);
    test_cpu_destroy(&a);
    test_cpu_destroy(&b);
}

/* A bare CPU without a LAPIC (as test-emu-insn.c's) saves and loads too. */
static void test_no_lapic(void)
{
    g_autofree EmuCpu *c = g_new0(EmuCpu, 1);
    g_autofree EmuCpu *d = g_new0(EmuCpu, 1);
    g_autofree X86VcpuState *st = g_new0(X86VcpuState, 1);
    GError *err = NULL;

    emu_reset_init(c);
    emu_reset_init(d);
    set_long_mode(c);
    c->gpr[R_BX] = 0xb0b;
    c->rip = 0x1234;
    emu_cpu_save_state(c, st);
    g_assert_cmphex(st->apic_base, ==, 0);
    g_assert_cmphex(st->cr8, ==, 0);
    g_assert_true(emu_cpu_load_state(d, st, &err));
    g_assert_no_error(err);
    assert_cpus_equal(c, d);

    /* FPU images: none is the init state; an XSAVE header's XSTATE_BV says
     * which of x87 and SSE the legacy region holds (here SSE only) */
    st->fpu_len = 0;
    g_assert_true(emu_cpu_load_state(d, st, &err));
    g_assert_cmphex(d->fpu.fcw, ==, 0x037F);
    g_assert_cmphex(d->fpu.mxcsr, ==, 0x1F80);
    emu_cpu_save_state(c, st);
    st->fpu_len = X86_FPU_XSAVE_MIN;
    memset(st->fpu + 512, 0, 64);
    st->fpu[512] = 0x2;
    st->fpu[0] = 0x7F;                       /* FCW 0x7F: ignored, x87 is in init state */
    st->fpu[160] = 0x5A;                     /* XMM0 */
    g_assert_true(emu_cpu_load_state(d, st, &err));
    g_assert_no_error(err);
    g_assert_cmphex(d->fpu.fcw, ==, 0x037F);
    g_assert_cmphex(d->fpu.xmm[0][0], ==, 0x5A);

    st->events.nmi_pending = 1;
    g_assert_false(emu_cpu_load_state(d, st, &err));
    g_assert_error(err, STRATUS_ERROR, STRATUS_ERROR_GENERIC);
    g_clear_error(&err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vcpu-state/emu/round-trip", test_round_trip);
    g_test_add_func("/vcpu-state/emu/mp-states", test_mp_states);
    g_test_add_func("/vcpu-state/emu/tsc-deadline", test_tsc_deadline);
    g_test_add_func("/vcpu-state/emu/timer-due", test_timer_due);
    g_test_add_func("/vcpu-state/emu/rejects", test_rejects);
    g_test_add_func("/vcpu-state/emu/no-lapic", test_no_lapic);
    return g_test_run();
}
