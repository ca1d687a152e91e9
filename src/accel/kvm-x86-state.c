/*
 * A KVM vCPU's whole state as an X86VcpuState (accel.h vcpu_get_state /
 * vcpu_set_state): registers, segments and control registers, MSRs (the
 * architectural ones and KVM's paravirtual ones), the LAPIC page, pending
 * events, debug registers, and the FPU/XSAVE image; the conversions between
 * KVM's structures and X86VcpuState, and what a KVM without a capability
 * cannot load. The vCPU's setup and reset are kvm-x86.c.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include "accel/kvm-internal.h"
#include "util/log.h"
#include "util/strutil.h"

/* ---- vCPU state (accel.h vcpu_get_state / vcpu_set_state) ---- */

G_STATIC_ASSERT(X86_MP_STATE_RUNNABLE == KVM_MP_STATE_RUNNABLE);
G_STATIC_ASSERT(X86_MP_STATE_UNINITIALIZED == KVM_MP_STATE_UNINITIALIZED);
G_STATIC_ASSERT(X86_MP_STATE_INIT_RECEIVED == KVM_MP_STATE_INIT_RECEIVED);
G_STATIC_ASSERT(X86_MP_STATE_HALTED == KVM_MP_STATE_HALTED);
G_STATIC_ASSERT(X86_MP_STATE_SIPI_RECEIVED == KVM_MP_STATE_SIPI_RECEIVED);
G_STATIC_ASSERT(X86_SHADOW_MOV_SS == KVM_X86_SHADOW_INT_MOV_SS);
G_STATIC_ASSERT(X86_SHADOW_STI == KVM_X86_SHADOW_INT_STI);
G_STATIC_ASSERT(X86_LAPIC_REGS_SIZE == KVM_APIC_REG_SIZE);
G_STATIC_ASSERT(X86_FPU_STATE_MAX == sizeof(struct kvm_xsave));

/* The legacy (FXSAVE) region of an XSAVE image. */
#define FXSAVE_FCW      0
#define FXSAVE_FSW      2
#define FXSAVE_FTW      4
#define FXSAVE_FOP      6
#define FXSAVE_FIP      8
#define FXSAVE_FDP      16
#define FXSAVE_MXCSR    24
#define FXSAVE_ST0      32
#define FXSAVE_XMM0     160
#define XSAVE_XSTATE_BV 512
#define XSTATE_X87_SSE  0x3ULL

/* The architectural MSRs of X86VcpuState, besides APIC_BASE (sregs) and TSC_DEADLINE. */
static const struct {
    uint32_t index;
    bool required;
    size_t offset;
} state_msrs[] = {
    { MSR_IA32_TSC, true, offsetof(X86VcpuState, tsc) },
    { MSR_IA32_SYSENTER_CS, true, offsetof(X86VcpuState, sysenter_cs) },
    { MSR_IA32_SYSENTER_ESP, true, offsetof(X86VcpuState, sysenter_esp) },
    { MSR_IA32_SYSENTER_EIP, true, offsetof(X86VcpuState, sysenter_eip) },
    { MSR_STAR, true, offsetof(X86VcpuState, star) },
    { MSR_LSTAR, true, offsetof(X86VcpuState, lstar) },
    { MSR_CSTAR, true, offsetof(X86VcpuState, cstar) },
    { MSR_SYSCALL_MASK, true, offsetof(X86VcpuState, sfmask) },
    { MSR_KERNEL_GS_BASE, true, offsetof(X86VcpuState, kernel_gs_base) },
    { MSR_IA32_MISC_ENABLE, true, offsetof(X86VcpuState, misc_enable) },
    { MSR_TSC_AUX, false, offsetof(X86VcpuState, tsc_aux) },
    { MSR_IA32_PAT, false, offsetof(X86VcpuState, pat) },
};

/*
 * KVM's paravirtual MSRs (X86VcpuState.msr_other), those KVM has. The
 * async-PF vector goes before async PF is enabled, which KVM checks.
 */
static const uint32_t pv_msrs[] = {
    MSR_KVM_SYSTEM_TIME_NEW, MSR_KVM_WALL_CLOCK_NEW, MSR_KVM_SYSTEM_TIME,
    MSR_KVM_WALL_CLOCK, MSR_KVM_ASYNC_PF_INT, MSR_KVM_ASYNC_PF_EN,
    MSR_KVM_STEAL_TIME, MSR_KVM_PV_EOI_EN, MSR_KVM_POLL_CONTROL,
};
G_STATIC_ASSERT(G_N_ELEMENTS(pv_msrs) <= X86_VCPU_MAX_OTHER_MSRS);

#define MSR_BATCH_MAX (G_N_ELEMENTS(state_msrs) + 1 + X86_VCPU_MAX_OTHER_MSRS)

typedef struct MsrBatch {
    struct kvm_msrs hdr;
    struct kvm_msr_entry e[MSR_BATCH_MAX];
} MsrBatch;

static void msr_batch_add(MsrBatch *b, uint32_t index, uint64_t value)
{
    g_assert(b->hdr.nmsrs < MSR_BATCH_MAX);
    b->e[b->hdr.nmsrs].index = index;
    b->e[b->hdr.nmsrs].data = value;
    b->hdr.nmsrs++;
}

/* KVM_GET_MSRS/KVM_SET_MSRS of the whole batch; either stops at the first MSR it refuses. */
static bool msr_batch_io(Vcpu *cpu, MsrBatch *b, bool set, GError **err)
{
    const char *name = set ? "KVM_SET_MSRS" : "KVM_GET_MSRS";
    int r;

    if (!b->hdr.nmsrs) {
        return true;
    }
    r = ioctl(kvm_vcpu(cpu)->fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, b);
    if (r < 0) {
        set_error_errno(err, errno, "%s on vcpu %u", name, cpu->index);
        return false;
    }
    if ((unsigned)r < b->hdr.nmsrs) {
        set_error(err, "%s on vcpu %u: KVM refused MSR 0x%x", name, cpu->index,
                  b->e[r].index);
        return false;
    }
    return true;
}

static uint64_t state_msr_get(const X86VcpuState *st, size_t offset)
{
    uint64_t v;

    memcpy(&v, (const char *)st + offset, sizeof(v));
    return v;
}

static void state_msr_put(X86VcpuState *st, size_t offset, uint64_t v)
{
    memcpy((char *)st + offset, &v, sizeof(v));
}

static void seg_to_state(X86Segment *x, const struct kvm_segment *k)
{
    memset(x, 0, sizeof(*x));
    x->base = k->base;
    x->limit = k->limit;
    x->selector = k->selector;
    x->attr = (k->type & 0xFu) | (k->s ? X86_SEG_ATTR_S : 0) |
              ((uint32_t)(k->dpl & 3) << X86_SEG_ATTR_DPL_SHIFT) |
              (k->present ? X86_SEG_ATTR_P : 0) | (k->avl ? X86_SEG_ATTR_AVL : 0) |
              (k->l ? X86_SEG_ATTR_L : 0) | (k->db ? X86_SEG_ATTR_DB : 0) |
              (k->g ? X86_SEG_ATTR_G : 0) | (k->unusable ? X86_SEG_ATTR_UNUSABLE : 0);
}

static void seg_to_kvm(struct kvm_segment *k, const X86Segment *x)
{
    memset(k, 0, sizeof(*k));
    k->base = x->base;
    k->limit = x->limit;
    k->selector = x->selector;
    k->type = x->attr & X86_SEG_ATTR_TYPE_MASK;
    k->s = !!(x->attr & X86_SEG_ATTR_S);
    k->dpl = (x->attr >> X86_SEG_ATTR_DPL_SHIFT) & 3;
    k->present = !!(x->attr & X86_SEG_ATTR_P);
    k->avl = !!(x->attr & X86_SEG_ATTR_AVL);
    k->l = !!(x->attr & X86_SEG_ATTR_L);
    k->db = !!(x->attr & X86_SEG_ATTR_DB);
    k->g = !!(x->attr & X86_SEG_ATTR_G);
    k->unusable = !!(x->attr & X86_SEG_ATTR_UNUSABLE);
}

/* KVM's kvm_regs order differs from the encoding order of X86VcpuState.gpr. */
static void regs_to_state(X86VcpuState *st, const struct kvm_regs *r)
{
    st->gpr[X86_RAX] = r->rax;
    st->gpr[X86_RCX] = r->rcx;
    st->gpr[X86_RDX] = r->rdx;
    st->gpr[X86_RBX] = r->rbx;
    st->gpr[X86_RSP] = r->rsp;
    st->gpr[X86_RBP] = r->rbp;
    st->gpr[X86_RSI] = r->rsi;
    st->gpr[X86_RDI] = r->rdi;
    st->gpr[X86_R8] = r->r8;
    st->gpr[X86_R9] = r->r9;
    st->gpr[X86_R10] = r->r10;
    st->gpr[X86_R11] = r->r11;
    st->gpr[X86_R12] = r->r12;
    st->gpr[X86_R13] = r->r13;
    st->gpr[X86_R14] = r->r14;
    st->gpr[X86_R15] = r->r15;
    st->rip = r->rip;
    st->rflags = r->rflags;
}

static void regs_to_kvm(struct kvm_regs *r, const X86VcpuState *st)
{
    memset(r, 0, sizeof(*r));
    r->rax = st->gpr[X86_RAX];
    r->rcx = st->gpr[X86_RCX];
    r->rdx = st->gpr[X86_RDX];
    r->rbx = st->gpr[X86_RBX];
    r->rsp = st->gpr[X86_RSP];
    r->rbp = st->gpr[X86_RBP];
    r->rsi = st->gpr[X86_RSI];
    r->rdi = st->gpr[X86_RDI];
    r->r8 = st->gpr[X86_R8];
    r->r9 = st->gpr[X86_R9];
    r->r10 = st->gpr[X86_R10];
    r->r11 = st->gpr[X86_R11];
    r->r12 = st->gpr[X86_R12];
    r->r13 = st->gpr[X86_R13];
    r->r14 = st->gpr[X86_R14];
    r->r15 = st->gpr[X86_R15];
    r->rip = st->rip;
    r->rflags = st->rflags;
}

static void sregs_to_state(X86VcpuState *st, const struct kvm_sregs *sr)
{
    seg_to_state(&st->seg[X86_SEG_ES], &sr->es);
    seg_to_state(&st->seg[X86_SEG_CS], &sr->cs);
    seg_to_state(&st->seg[X86_SEG_SS], &sr->ss);
    seg_to_state(&st->seg[X86_SEG_DS], &sr->ds);
    seg_to_state(&st->seg[X86_SEG_FS], &sr->fs);
    seg_to_state(&st->seg[X86_SEG_GS], &sr->gs);
    seg_to_state(&st->ldtr, &sr->ldt);
    seg_to_state(&st->tr, &sr->tr);
    st->gdtr.base = sr->gdt.base;
    st->gdtr.limit = sr->gdt.limit;
    st->idtr.base = sr->idt.base;
    st->idtr.limit = sr->idt.limit;
    st->cr0 = sr->cr0;
    st->cr2 = sr->cr2;
    st->cr3 = sr->cr3;
    st->cr4 = sr->cr4;
    st->cr8 = sr->cr8;
    st->efer = sr->efer;
    st->apic_base = sr->apic_base;
}

static void sregs_to_kvm(struct kvm_sregs *sr, const X86VcpuState *st)
{
    memset(sr, 0, sizeof(*sr));
    seg_to_kvm(&sr->es, &st->seg[X86_SEG_ES]);
    seg_to_kvm(&sr->cs, &st->seg[X86_SEG_CS]);
    seg_to_kvm(&sr->ss, &st->seg[X86_SEG_SS]);
    seg_to_kvm(&sr->ds, &st->seg[X86_SEG_DS]);
    seg_to_kvm(&sr->fs, &st->seg[X86_SEG_FS]);
    seg_to_kvm(&sr->gs, &st->seg[X86_SEG_GS]);
    seg_to_kvm(&sr->ldt, &st->ldtr);
    seg_to_kvm(&sr->tr, &st->tr);
    sr->gdt.base = st->gdtr.base;
    sr->gdt.limit = st->gdtr.limit;
    sr->idt.base = st->idtr.base;
    sr->idt.limit = st->idtr.limit;
    sr->cr0 = st->cr0;
    sr->cr2 = st->cr2;
    sr->cr3 = st->cr3;
    sr->cr4 = st->cr4;
    sr->cr8 = st->cr8;
    sr->efer = st->efer;
    sr->apic_base = st->apic_base;
}

/* Little-endian fields of the FPU image (the host is x86). */
static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, sizeof(v));
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof(v));
}

static uint16_t get16(const uint8_t *p)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* struct kvm_fpu <-> the FXSAVE image. */
static void fpu_to_legacy(uint8_t *img, const struct kvm_fpu *f)
{
    memset(img, 0, X86_FPU_LEGACY_SIZE);
    put16(img + FXSAVE_FCW, f->fcw);
    put16(img + FXSAVE_FSW, f->fsw);
    img[FXSAVE_FTW] = f->ftwx;
    put16(img + FXSAVE_FOP, f->last_opcode);
    put64(img + FXSAVE_FIP, f->last_ip);
    put64(img + FXSAVE_FDP, f->last_dp);
    put32(img + FXSAVE_MXCSR, f->mxcsr);
    memcpy(img + FXSAVE_ST0, f->fpr, sizeof(f->fpr));
    memcpy(img + FXSAVE_XMM0, f->xmm, sizeof(f->xmm));
}

static void legacy_to_fpu(struct kvm_fpu *f, const uint8_t *img)
{
    memset(f, 0, sizeof(*f));
    f->fcw = get16(img + FXSAVE_FCW);
    f->fsw = get16(img + FXSAVE_FSW);
    f->ftwx = img[FXSAVE_FTW];
    f->last_opcode = get16(img + FXSAVE_FOP);
    f->last_ip = get64(img + FXSAVE_FIP);
    f->last_dp = get64(img + FXSAVE_FDP);
    f->mxcsr = get32(img + FXSAVE_MXCSR);
    memcpy(f->fpr, img + FXSAVE_ST0, sizeof(f->fpr));
    memcpy(f->xmm, img + FXSAVE_XMM0, sizeof(f->xmm));
}

static bool get_fpu_state(Vcpu *cpu, X86VcpuState *st, GError **err)
{
    KvmState *s = kvm_state(cpu->machine);
    KvmVcpu *kv = kvm_vcpu(cpu);

    if (s->cap_xsave) {
        g_autofree struct kvm_xsave *xs = g_malloc0(sizeof(*xs));

        if (ioctl(kv->fd, KVM_GET_XSAVE, xs) < 0) {
            set_error_errno(err, errno, "KVM_GET_XSAVE on vcpu %u", cpu->index);
            return false;
        }
        memcpy(st->fpu, xs->region, sizeof(xs->region));
        st->fpu_len = sizeof(xs->region);
    } else {
        struct kvm_fpu fpu;

        if (ioctl(kv->fd, KVM_GET_FPU, &fpu) < 0) {
            set_error_errno(err, errno, "KVM_GET_FPU on vcpu %u", cpu->index);
            return false;
        }
        fpu_to_legacy(st->fpu, &fpu);
        st->fpu_len = X86_FPU_LEGACY_SIZE;
    }
    if (s->cap_xcrs) {
        struct kvm_xcrs xcrs;

        memset(&xcrs, 0, sizeof(xcrs));
        if (ioctl(kv->fd, KVM_GET_XCRS, &xcrs) < 0) {
            set_error_errno(err, errno, "KVM_GET_XCRS on vcpu %u", cpu->index);
            return false;
        }
        for (uint32_t i = 0; i < xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++) {
            if (xcrs.xcrs[i].xcr == 0) {
                st->xcr0 = xcrs.xcrs[i].value;
            }
        }
    }
    return true;
}

static bool set_fpu_state(Vcpu *cpu, const X86VcpuState *st, GError **err)
{
    KvmState *s = kvm_state(cpu->machine);
    KvmVcpu *kv = kvm_vcpu(cpu);

    if (st->fpu_len == 0) {
        if (!kvm_x86_apply_fpu(cpu, err)) {          /* the init state */
            return false;
        }
    } else if (s->cap_xsave) {
        g_autofree struct kvm_xsave *xs = g_malloc0(sizeof(*xs));
        uint8_t *img = (uint8_t *)xs->region;

        memcpy(img, st->fpu, st->fpu_len);
        if (st->fpu_len == X86_FPU_LEGACY_SIZE) {
            put64(img + XSAVE_XSTATE_BV, XSTATE_X87_SSE);   /* the rest in init state */
        }
        if (ioctl(kv->fd, KVM_SET_XSAVE, xs) < 0) {
            set_error_errno(err, errno, "KVM_SET_XSAVE on vcpu %u", cpu->index);
            return false;
        }
    } else {
        struct kvm_fpu fpu;

        legacy_to_fpu(&fpu, st->fpu);
        if (ioctl(kv->fd, KVM_SET_FPU, &fpu) < 0) {
            set_error_errno(err, errno, "KVM_SET_FPU on vcpu %u", cpu->index);
            return false;
        }
    }
    if (s->cap_xcrs && st->xcr0) {
        struct kvm_xcrs xcrs;

        memset(&xcrs, 0, sizeof(xcrs));
        xcrs.nr_xcrs = 1;
        xcrs.xcrs[0].xcr = 0;
        xcrs.xcrs[0].value = st->xcr0;
        if (ioctl(kv->fd, KVM_SET_XCRS, &xcrs) < 0) {
            set_error_errno(err, errno, "KVM_SET_XCRS on vcpu %u", cpu->index);
            return false;
        }
    }
    return true;
}

/*
 * KVM_GET_MSRS/KVM_SET_MSRS of b's entries from *done on, going past the
 * ones KVM refuses: each is reported through skipped() (NULL: an error),
 * which returns false to make it an error after all. *done ends at
 * b->hdr.nmsrs; entries KVM handled keep their place (a get fills them).
 */
static bool msr_batch_io_skipping(Vcpu *cpu, MsrBatch *b, bool set,
                                  bool (*skipped)(Vcpu *cpu, const struct kvm_msr_entry *e),
                                  GError **err)
{
    const char *name = set ? "KVM_SET_MSRS" : "KVM_GET_MSRS";
    unsigned done = 0;

    while (done < b->hdr.nmsrs) {
        MsrBatch part;
        int r;

        memset(&part, 0, sizeof(part));
        part.hdr.nmsrs = b->hdr.nmsrs - done;
        memcpy(part.e, &b->e[done], part.hdr.nmsrs * sizeof(part.e[0]));
        r = ioctl(kvm_vcpu(cpu)->fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, &part);
        if (r < 0) {
            set_error_errno(err, errno, "%s on vcpu %u", name, cpu->index);
            return false;
        }
        memcpy(&b->e[done], part.e, (unsigned)r * sizeof(part.e[0]));
        done += r;
        if (done < b->hdr.nmsrs) {
            if (!skipped || !skipped(cpu, &b->e[done])) {
                set_error(err, "%s on vcpu %u: KVM refused MSR 0x%x", name, cpu->index,
                          b->e[done].index);
                return false;
            }
            b->e[done].reserved = 1;         /* marks it skipped */
            done++;
        }
    }
    return true;
}

/* A paravirtual MSR KVM lists but will not read: left out of the state. */
static bool skip_pv_get(Vcpu *cpu, const struct kvm_msr_entry *e)
{
    log_debug("vcpu %u: KVM does not read MSR 0x%x, not saved", cpu->index, e->index);
    return true;
}

/* One KVM will not write: fine if it was 0 (the feature off), an error otherwise. */
static bool skip_pv_set(Vcpu *cpu, const struct kvm_msr_entry *e)
{
    if (e->data) {
        return false;
    }
    log_debug("vcpu %u: KVM refused MSR 0x%x = 0, skipped", cpu->index, e->index);
    return true;
}

static bool get_msrs(Vcpu *cpu, X86VcpuState *st, GError **err)
{
    KvmState *s = kvm_state(cpu->machine);
    MsrBatch b;
    unsigned n = 0;

    memset(&b, 0, sizeof(b));
    for (unsigned i = 0; i < G_N_ELEMENTS(state_msrs); i++) {
        if (state_msrs[i].required || kvm_x86_msr_supported(s, state_msrs[i].index)) {
            msr_batch_add(&b, state_msrs[i].index, 0);
        }
    }
    if (kvm_x86_msr_supported(s, MSR_IA32_TSC_DEADLINE)) {
        msr_batch_add(&b, MSR_IA32_TSC_DEADLINE, 0);
    }
    if (!msr_batch_io(cpu, &b, false, err)) {
        return false;
    }
    for (uint32_t j = 0; j < b.hdr.nmsrs; j++) {
        if (b.e[j].index == MSR_IA32_TSC_DEADLINE) {
            st->tsc_deadline = b.e[j].data;
        }
        for (unsigned i = 0; i < G_N_ELEMENTS(state_msrs); i++) {
            if (state_msrs[i].index == b.e[j].index) {
                state_msr_put(st, state_msrs[i].offset, b.e[j].data);
            }
        }
    }

    memset(&b, 0, sizeof(b));
    for (unsigned i = 0; i < G_N_ELEMENTS(pv_msrs); i++) {
        if (kvm_x86_msr_supported(s, pv_msrs[i])) {
            msr_batch_add(&b, pv_msrs[i], 0);
        }
    }
    if (!msr_batch_io_skipping(cpu, &b, false, skip_pv_get, err)) {
        return false;
    }
    for (uint32_t j = 0; j < b.hdr.nmsrs; j++) {
        if (!b.e[j].reserved) {
            st->msr_other[n].index = b.e[j].index;
            st->msr_other[n].value = b.e[j].data;
            n++;
        }
    }
    st->n_msr_other = n;
    return true;
}

static bool set_msrs(Vcpu *cpu, const X86VcpuState *st, GError **err)
{
    KvmState *s = kvm_state(cpu->machine);
    MsrBatch b;

    memset(&b, 0, sizeof(b));
    for (unsigned i = 0; i < G_N_ELEMENTS(state_msrs); i++) {
        if (state_msrs[i].required || kvm_x86_msr_supported(s, state_msrs[i].index)) {
            msr_batch_add(&b, state_msrs[i].index, state_msr_get(st, state_msrs[i].offset));
        }
    }
    if (!msr_batch_io(cpu, &b, true, err)) {
        return false;
    }
    memset(&b, 0, sizeof(b));
    for (uint32_t i = 0; i < st->n_msr_other; i++) {
        if (kvm_x86_msr_supported(s, st->msr_other[i].index)) {
            msr_batch_add(&b, st->msr_other[i].index, st->msr_other[i].value);
        }
    }
    return msr_batch_io_skipping(cpu, &b, true, skip_pv_set, err);
}

/* What this KVM cannot load, checked before anything is loaded. */
static bool kvm_state_check(Vcpu *cpu, const X86VcpuState *st, GError **err)
{
    KvmState *s = kvm_state(cpu->machine);
    const X86VcpuEvents *ev = &st->events;

    for (uint32_t i = 0; i < st->n_msr_other; i++) {
        if (st->msr_other[i].value && !kvm_x86_msr_supported(s, st->msr_other[i].index)) {
            set_error(err, "vcpu %u: KVM does not have MSR 0x%x", cpu->index,
                      st->msr_other[i].index);
            return false;
        }
    }
    if (!s->cap_vcpu_events &&
        (ev->nmi_pending || ev->nmi_injected || ev->nmi_masked || ev->exception_injected ||
         ev->interrupt_shadow || ev->init_pending ||
         ev->mp_state == X86_MP_STATE_SIPI_RECEIVED)) {
        set_error(err, "vcpu %u: loading pending events needs KVM_CAP_VCPU_EVENTS",
                  cpu->index);
        return false;
    }
    if (!s->cap_debugregs &&
        (st->dr[0] || st->dr[1] || st->dr[2] || st->dr[3] || (st->dr[7] & 0xFF))) {
        set_error(err, "vcpu %u: loading debug registers needs KVM_CAP_DEBUGREGS",
                  cpu->index);
        return false;
    }
    if (st->fpu_len > X86_FPU_LEGACY_SIZE && !s->cap_xsave) {
        set_error(err, "vcpu %u: loading an XSAVE image needs KVM_CAP_XSAVE", cpu->index);
        return false;
    }
    return true;
}

bool kvm_x86_vcpu_get_state(Vcpu *cpu, X86VcpuState *st, GError **err)
{
    KvmState *s = kvm_state(cpu->machine);
    KvmVcpu *kv = kvm_vcpu(cpu);
    X86VcpuEvents *ev = &st->events;
    struct kvm_mp_state mp;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_lapic_state lapic;

    x86_vcpu_state_init(st);
    /* First: KVM acts on a latched INIT or SIPI here, and the rest is after that. */
    if (ioctl(kv->fd, KVM_GET_MP_STATE, &mp) < 0) {
        set_error_errno(err, errno, "KVM_GET_MP_STATE on vcpu %u", cpu->index);
        return false;
    }
    ev->mp_state = mp.mp_state;
    if (ioctl(kv->fd, KVM_GET_REGS, &regs) < 0) {
        set_error_errno(err, errno, "KVM_GET_REGS on vcpu %u", cpu->index);
        return false;
    }
    regs_to_state(st, &regs);
    if (ioctl(kv->fd, KVM_GET_SREGS, &sregs) < 0) {
        set_error_errno(err, errno, "KVM_GET_SREGS on vcpu %u", cpu->index);
        return false;
    }
    sregs_to_state(st, &sregs);
    if (!get_msrs(cpu, st, err)) {
        return false;
    }
    if (ioctl(kv->fd, KVM_GET_LAPIC, &lapic) < 0) {
        set_error_errno(err, errno, "KVM_GET_LAPIC on vcpu %u", cpu->index);
        return false;
    }
    memcpy(st->lapic, lapic.regs, sizeof(st->lapic));

    if (s->cap_vcpu_events) {
        struct kvm_vcpu_events e;

        memset(&e, 0, sizeof(e));
        if (ioctl(kv->fd, KVM_GET_VCPU_EVENTS, &e) < 0) {
            set_error_errno(err, errno, "KVM_GET_VCPU_EVENTS on vcpu %u", cpu->index);
            return false;
        }
        ev->exception_injected = e.exception.injected;
        ev->exception_nr = e.exception.nr;
        ev->exception_has_error = e.exception.has_error_code;
        ev->exception_error = e.exception.error_code;
        ev->interrupt_injected = e.interrupt.injected;
        ev->interrupt_nr = e.interrupt.nr;
        ev->interrupt_soft = e.interrupt.soft;
        if (e.flags & KVM_VCPUEVENT_VALID_SHADOW) {
            ev->interrupt_shadow = e.interrupt.shadow & (X86_SHADOW_MOV_SS | X86_SHADOW_STI);
        }
        ev->nmi_injected = e.nmi.injected;
        ev->nmi_pending = e.nmi.pending;
        ev->nmi_masked = e.nmi.masked;
        if (e.flags & KVM_VCPUEVENT_VALID_SMM) {
            ev->init_pending = e.smi.latched_init;
        }
    } else {
        /* Without VCPU_EVENTS the interrupt being injected is in the sregs bitmap. */
        for (unsigned i = 0; i < G_N_ELEMENTS(sregs.interrupt_bitmap); i++) {
            if (sregs.interrupt_bitmap[i]) {
                ev->interrupt_injected = 1;
                ev->interrupt_nr = i * 64 + __builtin_ctzll(sregs.interrupt_bitmap[i]);
                break;
            }
        }
    }

    if (s->cap_debugregs) {
        struct kvm_debugregs dbg;

        if (ioctl(kv->fd, KVM_GET_DEBUGREGS, &dbg) < 0) {
            set_error_errno(err, errno, "KVM_GET_DEBUGREGS on vcpu %u", cpu->index);
            return false;
        }
        memcpy(st->dr, dbg.db, sizeof(dbg.db));
        st->dr[6] = dbg.dr6;
        st->dr[7] = dbg.dr7;
    }
    return get_fpu_state(cpu, st, err);
}

/* QEMU's order: registers, FPU, sregs, MSRs, mp_state, LAPIC, TSC deadline, events, DRs. */
bool kvm_x86_vcpu_set_state(Vcpu *cpu, const X86VcpuState *st, GError **err)
{
    KvmState *s = kvm_state(cpu->machine);
    KvmVcpu *kv = kvm_vcpu(cpu);
    const X86VcpuEvents *ev = &st->events;
    struct kvm_mp_state mp = { .mp_state = ev->mp_state };
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_lapic_state lapic;

    if (!x86_vcpu_state_check(st, err)) {
        g_prefix_error(err, "vcpu %u: ", cpu->index);
        return false;
    }
    if (!kvm_state_check(cpu, st, err)) {
        return false;
    }

    regs_to_kvm(&regs, st);
    if (ioctl(kv->fd, KVM_SET_REGS, &regs) < 0) {
        set_error_errno(err, errno, "KVM_SET_REGS on vcpu %u", cpu->index);
        return false;
    }
    if (!set_fpu_state(cpu, st, err)) {
        return false;
    }
    sregs_to_kvm(&sregs, st);
    if (!s->cap_vcpu_events && ev->interrupt_injected) {
        sregs.interrupt_bitmap[ev->interrupt_nr / 64] |= 1ULL << (ev->interrupt_nr % 64);
    }
    if (ioctl(kv->fd, KVM_SET_SREGS, &sregs) < 0) {
        set_error_errno(err, errno, "KVM_SET_SREGS on vcpu %u", cpu->index);
        return false;
    }
    if (!set_msrs(cpu, st, err)) {
        return false;
    }
    if (ioctl(kv->fd, KVM_SET_MP_STATE, &mp) < 0) {
        set_error_errno(err, errno, "KVM_SET_MP_STATE on vcpu %u", cpu->index);
        return false;
    }
    memcpy(lapic.regs, st->lapic, sizeof(lapic.regs));
    if (ioctl(kv->fd, KVM_SET_LAPIC, &lapic) < 0) {
        set_error_errno(err, errno, "KVM_SET_LAPIC on vcpu %u", cpu->index);
        return false;
    }
    /* After the LAPIC: KVM ignores the MSR unless the timer is in TSC-deadline mode. */
    if (kvm_x86_msr_supported(s, MSR_IA32_TSC_DEADLINE)) {
        MsrBatch b;

        memset(&b, 0, sizeof(b));
        msr_batch_add(&b, MSR_IA32_TSC_DEADLINE, st->tsc_deadline);
        if (!msr_batch_io(cpu, &b, true, err)) {
            return false;
        }
    }
    if (s->cap_vcpu_events) {
        struct kvm_vcpu_events e;

        memset(&e, 0, sizeof(e));
        e.exception.injected = ev->exception_injected;
        e.exception.nr = ev->exception_nr;
        e.exception.has_error_code = ev->exception_has_error;
        e.exception.error_code = ev->exception_error;
        e.interrupt.injected = ev->interrupt_injected;
        e.interrupt.nr = ev->interrupt_nr;
        e.interrupt.soft = ev->interrupt_soft;
        e.interrupt.shadow = ev->interrupt_shadow;
        e.nmi.injected = ev->nmi_injected;
        e.nmi.pending = ev->nmi_pending;
        e.nmi.masked = ev->nmi_masked;
        e.sipi_vector = ev->sipi_vector;
        e.smi.latched_init = ev->init_pending;      /* smm, smi pending: 0 (no SMM) */
        e.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW |
                  KVM_VCPUEVENT_VALID_SIPI_VECTOR | KVM_VCPUEVENT_VALID_SMM;
        if (ioctl(kv->fd, KVM_SET_VCPU_EVENTS, &e) < 0) {
            set_error_errno(err, errno, "KVM_SET_VCPU_EVENTS on vcpu %u", cpu->index);
            return false;
        }
    }
    if (s->cap_debugregs) {
        struct kvm_debugregs dbg;

        memset(&dbg, 0, sizeof(dbg));
        memcpy(dbg.db, st->dr, sizeof(dbg.db));
        dbg.dr6 = st->dr[6];
        dbg.dr7 = st->dr[7];
        if (ioctl(kv->fd, KVM_SET_DEBUGREGS, &dbg) < 0) {
            set_error_errno(err, errno, "KVM_SET_DEBUGREGS on vcpu %u", cpu->index);
            return false;
        }
    }
    return true;
}
