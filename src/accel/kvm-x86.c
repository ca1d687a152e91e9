/*
 * x86 vCPU state for the KVM accelerator: CPUID, MSRs, LAPIC, the
 * register state a vCPU starts from (stratovirt-reference.md §5.3), and the
 * whole state as an X86VcpuState (vcpu_get_state/vcpu_set_state).
 *
 * Reset model: the BSP (index 0) gets the 64-bit boot state from the loader;
 * application processors get the architectural INIT state and mp_state
 * UNINITIALIZED, i.e. they sit in the kernel waiting for INIT/SIPI from the
 * guest, exactly as freshly created vCPUs do. MSRs, FPU, XCR0, pending events
 * and the LAPIC are put back to a clean image on every reset so a
 * system_reset does not leak state (e.g. kvmclock pages) into the next boot.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include "accel/kvm-internal.h"
#include "util/log.h"
#include "util/strutil.h"

/* CPUID bits */
#define CPUID1_ECX_TSC_DEADLINE   (1u << 24)
#define CPUID1_ECX_HYPERVISOR     (1u << 31)
#define CPUID1_EDX_HTT            (1u << 28)
#define CPUID6_ECX_EPB            (1u << 3)

/* MSRs */
#define MSR_IA32_TSC              0x00000010
#define MSR_IA32_APICBASE         0x0000001b
#define MSR_IA32_SYSENTER_CS      0x00000174
#define MSR_IA32_SYSENTER_ESP     0x00000175
#define MSR_IA32_SYSENTER_EIP     0x00000176
#define MSR_IA32_MISC_ENABLE      0x000001a0
#define MSR_IA32_PAT              0x00000277
#define MSR_IA32_TSC_DEADLINE     0x000006e0
#define MSR_STAR                  0xc0000081
#define MSR_LSTAR                 0xc0000082
#define MSR_CSTAR                 0xc0000083
#define MSR_SYSCALL_MASK          0xc0000084
#define MSR_KERNEL_GS_BASE        0xc0000102
#define MSR_TSC_AUX               0xc0000103
#define MSR_KVM_WALL_CLOCK        0x00000011
#define MSR_KVM_SYSTEM_TIME       0x00000012
#define MSR_KVM_WALL_CLOCK_NEW    0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW   0x4b564d01
#define MSR_KVM_ASYNC_PF_EN       0x4b564d02
#define MSR_KVM_STEAL_TIME        0x4b564d03
#define MSR_KVM_PV_EOI_EN         0x4b564d04
#define MSR_KVM_POLL_CONTROL      0x4b564d05
#define MSR_KVM_ASYNC_PF_INT      0x4b564d06

#define MISC_ENABLE_FAST_STRING   (1ULL << 0)
#define PAT_RESET_VALUE           0x0007040600070406ULL

#define APIC_DEFAULT_BASE         0xfee00000ULL
#define APICBASE_BSP              (1ULL << 8)
#define APICBASE_ENABLE           (1ULL << 11)

/* LAPIC registers and LVT delivery modes */
#define APIC_LVT_LINT0            0x350
#define APIC_LVT_LINT1            0x360
#define APIC_DM_MASK              0x700
#define APIC_DM_NMI               0x4
#define APIC_DM_EXTINT            0x7

/* Control registers */
#define X86_CR0_PE                (1ULL << 0)
#define X86_CR0_ET                (1ULL << 4)
#define X86_CR0_NE                (1ULL << 5)
#define X86_CR0_PG                (1ULL << 31)
#define X86_CR4_PAE               (1ULL << 5)
#define EFER_LME                  (1ULL << 8)
#define EFER_LMA                  (1ULL << 10)

#define MAX_CPUID_ENTRIES         256

/* ---- VM-wide: supported CPUID and MSR list ---- */

bool kvm_x86_vm_init(Machine *m, KvmState *s, GError **err)
{
    unsigned nent = MAX_CPUID_ENTRIES;
    struct kvm_msr_list probe = { .nmsrs = 0 };
    struct kvm_msr_list *list;

    for (;;) {
        struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) + nent * sizeof(c->entries[0]));

        c->nent = nent;
        if (ioctl(s->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            s->supported_cpuid = c;
            break;
        }
        g_free(c);
        if (errno != E2BIG || nent >= 4096) {
            set_error_errno(err, errno, "KVM_GET_SUPPORTED_CPUID");
            return false;
        }
        nent *= 2;
    }

    /* First call fails with E2BIG and reports the count. */
    if (ioctl(s->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
        set_error_errno(err, errno, "KVM_GET_MSR_INDEX_LIST");
        return false;
    }
    list = g_malloc0(sizeof(*list) + probe.nmsrs * sizeof(list->indices[0]));
    list->nmsrs = probe.nmsrs;
    if (ioctl(s->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
        set_error_errno(err, errno, "KVM_GET_MSR_INDEX_LIST");
        g_free(list);
        return false;
    }
    s->n_msr_index = list->nmsrs;
    s->msr_index = g_memdup2(list->indices, list->nmsrs * sizeof(list->indices[0]));
    g_free(list);
    return true;
}

static bool msr_supported(const KvmState *s, uint32_t index)
{
    for (unsigned i = 0; i < s->n_msr_index; i++) {
        if (s->msr_index[i] == index) {
            return true;
        }
    }
    return false;
}

/* ---- CPUID ---- */

static unsigned bits_for(unsigned n)
{
    return n <= 1 ? 0 : 32 - __builtin_clz(n - 1);
}

typedef struct CpuTopo {
    unsigned threads;        /* per core */
    unsigned cores;          /* per die (clusters folded in) */
    unsigned dies;           /* per socket */
} CpuTopo;

static CpuTopo machine_topo(const Machine *m)
{
    const SmpConfig *smp = m->cfg ? &m->cfg->smp : NULL;
    CpuTopo t = { 1, 1, 1 };

    if (smp) {
        t.threads = MAX(smp->threads, 1u);
        t.cores = MAX(smp->cores, 1u) * MAX(smp->clusters, 1u);
        t.dies = MAX(smp->dies, 1u);
    }
    return t;
}

static struct kvm_cpuid_entry2 *cpuid_add(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
    struct kvm_cpuid_entry2 *e;

    g_assert(c->nent < MAX_CPUID_ENTRIES * 2);
    e = &c->entries[c->nent++];
    memset(e, 0, sizeof(*e));
    e->function = fn;
    e->index = idx;
    e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    return e;
}

/* Level types of leaves 0xB/0x1F */
#define TOPO_LEVEL_INVALID 0
#define TOPO_LEVEL_SMT     1
#define TOPO_LEVEL_CORE    2
#define TOPO_LEVEL_DIE     5

static void add_topology_leaf(struct kvm_cpuid2 *c, uint32_t fn, const CpuTopo *t,
                              uint32_t apic_id)
{
    unsigned smt_shift = bits_for(t->threads);
    unsigned core_shift = smt_shift + bits_for(t->cores);
    unsigned pkg_shift = core_shift + bits_for(t->dies);
    struct kvm_cpuid_entry2 *e;
    uint32_t sub = 0;

    e = cpuid_add(c, fn, sub);
    e->eax = smt_shift;
    e->ebx = t->threads;
    e->ecx = sub | (TOPO_LEVEL_SMT << 8);
    e->edx = apic_id;
    sub++;

    e = cpuid_add(c, fn, sub);
    if (fn == 0xb) {
        /* Leaf 0xB has no die level: its core level spans the package. */
        e->eax = pkg_shift;
        e->ebx = t->threads * t->cores * t->dies;
    } else {
        e->eax = core_shift;
        e->ebx = t->threads * t->cores;
    }
    e->ecx = sub | (TOPO_LEVEL_CORE << 8);
    e->edx = apic_id;
    sub++;

    if (fn == 0x1f) {
        e = cpuid_add(c, fn, sub);
        e->eax = pkg_shift;
        e->ebx = t->threads * t->cores * t->dies;
        e->ecx = sub | (TOPO_LEVEL_DIE << 8);
        e->edx = apic_id;
        sub++;
    }

    e = cpuid_add(c, fn, sub);      /* terminating invalid level */
    e->ecx = sub | (TOPO_LEVEL_INVALID << 8);
    e->edx = apic_id;
}

static bool setup_cpuid(Vcpu *cpu, GError **err)
{
    Machine *m = cpu->machine;
    KvmState *s = kvm_state(m);
    KvmVcpu *kv = kvm_vcpu(cpu);
    const struct kvm_cpuid2 *sup = s->supported_cpuid;
    g_autofree struct kvm_cpuid2 *c = NULL;
    CpuTopo t = machine_topo(m);
    unsigned logical = t.threads * t.cores * t.dies;
    uint32_t max_basic = 0;
    bool has_1f = false;

    c = g_malloc0(sizeof(*c) + MAX_CPUID_ENTRIES * 2 * sizeof(c->entries[0]));
    for (uint32_t i = 0; i < sup->nent; i++) {
        if (sup->entries[i].function == 0) {
            max_basic = sup->entries[i].eax;
        }
        if (sup->entries[i].function == 0x1f) {
            has_1f = true;
        }
    }

    for (uint32_t i = 0; i < sup->nent && c->nent < MAX_CPUID_ENTRIES; i++) {
        struct kvm_cpuid_entry2 e = sup->entries[i];

        switch (e.function) {
        case 1:
            e.ecx |= CPUID1_ECX_HYPERVISOR;
            if (s->cap_tsc_deadline) {
                e.ecx |= CPUID1_ECX_TSC_DEADLINE;
            }
            e.ebx = (cpu->apic_id << 24) | (8u << 8);     /* CLFLUSH line 8*8 bytes */
            if (logical > 1) {
                e.ebx |= MIN(logical, 255u) << 16;
                e.edx |= CPUID1_EDX_HTT;
            } else {
                e.edx &= ~CPUID1_EDX_HTT;
            }
            break;
        case 4:
            /* EAX[31:26]: addressable core IDs in the package, minus one. */
            e.eax &= ~0xfc000000u;
            e.eax |= (MIN(t.cores * t.dies, 64u) - 1) << 26;
            break;
        case 6:
            e.ecx &= ~CPUID6_ECX_EPB;
            break;
        case 0xa: {
            unsigned version = e.eax & 0xff;
            unsigned counters = (e.eax >> 8) & 0xff;

            /* Architectural PMU only if KVM offers v2+ with counters. */
            if (version < 2 || counters == 0) {
                e.eax = e.ebx = e.ecx = e.edx = 0;
            }
            break;
        }
        case 0xb:
        case 0x1f:
            continue;       /* rebuilt below from the machine's topology */
        default:
            break;
        }
        c->entries[c->nent++] = e;
    }
    if (max_basic >= 0xb) {
        add_topology_leaf(c, 0xb, &t, cpu->apic_id);
    }
    if (has_1f && max_basic >= 0x1f) {
        add_topology_leaf(c, 0x1f, &t, cpu->apic_id);
    }

    if (ioctl(kv->fd, KVM_SET_CPUID2, c) < 0) {
        set_error_errno(err, errno, "KVM_SET_CPUID2 on vcpu %u", cpu->index);
        return false;
    }
    return true;
}

/* ---- LAPIC ---- */

static uint32_t lapic_get(const struct kvm_lapic_state *l, unsigned reg)
{
    uint32_t v;

    memcpy(&v, &l->regs[reg], sizeof(v));
    return v;
}

static void lapic_set(struct kvm_lapic_state *l, unsigned reg, uint32_t v)
{
    memcpy(&l->regs[reg], &v, sizeof(v));
}

static uint32_t lvt_delivery_mode(uint32_t lvt, uint32_t mode)
{
    return (lvt & ~APIC_DM_MASK) | (mode << 8);
}

static bool setup_lapic_image(Vcpu *cpu, GError **err)
{
    KvmVcpu *kv = kvm_vcpu(cpu);

    if (ioctl(kv->fd, KVM_GET_LAPIC, &kv->lapic) < 0) {
        set_error_errno(err, errno, "KVM_GET_LAPIC on vcpu %u", cpu->index);
        return false;
    }
    lapic_set(&kv->lapic, APIC_LVT_LINT0,
              lvt_delivery_mode(lapic_get(&kv->lapic, APIC_LVT_LINT0), APIC_DM_EXTINT));
    lapic_set(&kv->lapic, APIC_LVT_LINT1,
              lvt_delivery_mode(lapic_get(&kv->lapic, APIC_LVT_LINT1), APIC_DM_NMI));
    return true;
}

static bool apply_lapic(Vcpu *cpu, GError **err)
{
    KvmVcpu *kv = kvm_vcpu(cpu);
    struct kvm_lapic_state l = kv->lapic;

    if (ioctl(kv->fd, KVM_SET_LAPIC, &l) < 0) {
        set_error_errno(err, errno, "KVM_SET_LAPIC on vcpu %u", cpu->index);
        return false;
    }
    return true;
}

/* ---- MSRs ---- */

static bool apply_reset_msrs(Vcpu *cpu, GError **err)
{
    KvmState *s = kvm_state(cpu->machine);
    KvmVcpu *kv = kvm_vcpu(cpu);
    static const struct { uint32_t index; bool required; } list[] = {
        { MSR_IA32_APICBASE, true },
        { MSR_IA32_MISC_ENABLE, true },
        { MSR_IA32_TSC, true },
        { MSR_IA32_SYSENTER_CS, true },
        { MSR_IA32_SYSENTER_ESP, true },
        { MSR_IA32_SYSENTER_EIP, true },
        { MSR_STAR, true },
        { MSR_LSTAR, true },
        { MSR_CSTAR, true },
        { MSR_SYSCALL_MASK, true },
        { MSR_KERNEL_GS_BASE, true },
        { MSR_TSC_AUX, false },
        { MSR_IA32_PAT, false },
        { MSR_IA32_TSC_DEADLINE, false },
        /* Paravirt MSRs: a reset must stop KVM writing into old guest pages. */
        { MSR_KVM_SYSTEM_TIME_NEW, false },
        { MSR_KVM_WALL_CLOCK_NEW, false },
        { MSR_KVM_SYSTEM_TIME, false },
        { MSR_KVM_WALL_CLOCK, false },
        { MSR_KVM_ASYNC_PF_EN, false },
        { MSR_KVM_STEAL_TIME, false },
        { MSR_KVM_PV_EOI_EN, false },
    };
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[G_N_ELEMENTS(list)];
    } msrs;
    unsigned n = 0, done = 0;

    memset(&msrs, 0, sizeof(msrs));
    for (unsigned i = 0; i < G_N_ELEMENTS(list); i++) {
        uint64_t v = 0;

        if (!list[i].required && !msr_supported(s, list[i].index)) {
            continue;
        }
        switch (list[i].index) {
        case MSR_IA32_APICBASE:
            v = APIC_DEFAULT_BASE | APICBASE_ENABLE | (cpu->index == 0 ? APICBASE_BSP : 0);
            break;
        case MSR_IA32_MISC_ENABLE:
            v = MISC_ENABLE_FAST_STRING;
            break;
        case MSR_IA32_PAT:
            v = PAT_RESET_VALUE;
            break;
        default:
            break;
        }
        msrs.e[n].index = list[i].index;
        msrs.e[n].data = v;
        n++;
    }

    /* KVM_SET_MSRS stops at the first MSR it refuses; report it and go on. */
    while (done < n) {
        struct {
            struct kvm_msrs hdr;
            struct kvm_msr_entry e[G_N_ELEMENTS(list)];
        } part;
        int r;

        memset(&part, 0, sizeof(part));
        part.hdr.nmsrs = n - done;
        memcpy(part.e, &msrs.e[done], (n - done) * sizeof(part.e[0]));
        r = ioctl(kv->fd, KVM_SET_MSRS, &part);
        if (r < 0) {
            set_error_errno(err, errno, "KVM_SET_MSRS on vcpu %u", cpu->index);
            return false;
        }
        done += r;
        if (done < n) {
            uint32_t bad = msrs.e[done].index;

            if (bad == MSR_IA32_APICBASE || bad == MSR_IA32_MISC_ENABLE) {
                set_error(err, "KVM refused MSR 0x%x on vcpu %u", bad, cpu->index);
                return false;
            }
            log_warn("vcpu %u: KVM refused MSR 0x%x at reset", cpu->index, bad);
            done++;
        }
    }
    return true;
}

/* ---- Registers ---- */

static void seg_from_desc(struct kvm_segment *seg, uint64_t desc, uint16_t selector)
{
    uint32_t limit = (desc & 0xffff) | (((desc >> 48) & 0xf) << 16);

    memset(seg, 0, sizeof(*seg));
    seg->selector = selector;
    seg->base = ((desc >> 16) & 0xffffff) | (((desc >> 56) & 0xff) << 24);
    seg->g = (desc >> 55) & 1;
    seg->limit = seg->g ? (limit << 12) | 0xfff : limit;
    seg->type = (desc >> 40) & 0xf;
    seg->s = (desc >> 44) & 1;
    seg->dpl = (desc >> 45) & 3;
    seg->present = (desc >> 47) & 1;
    seg->avl = (desc >> 52) & 1;
    seg->l = (desc >> 53) & 1;
    seg->db = (desc >> 54) & 1;
    seg->unusable = !seg->present;
}

static void seg_system(struct kvm_segment *seg, uint8_t type)
{
    memset(seg, 0, sizeof(*seg));
    seg->limit = 0xffff;
    seg->type = type;
    seg->present = 1;
}

static void seg_real(struct kvm_segment *seg, uint16_t selector, uint64_t base,
                     uint8_t type)
{
    memset(seg, 0, sizeof(*seg));
    seg->selector = selector;
    seg->base = base;
    seg->limit = 0xffff;
    seg->type = type;
    seg->s = 1;
    seg->present = 1;
}

static void sregs_long_mode(struct kvm_sregs *sr, const X86BootState *b)
{
    struct kvm_segment data;

    seg_from_desc(&sr->cs, b->code_desc, 0x10);
    seg_from_desc(&data, b->data_desc, 0x18);
    sr->ds = sr->es = sr->fs = sr->gs = sr->ss = data;
    seg_system(&sr->tr, 11);         /* busy 64-bit TSS */
    seg_system(&sr->ldt, 2);         /* LDT */
    sr->gdt.base = b->gdt_base;
    sr->gdt.limit = b->gdt_limit;
    sr->idt.base = b->idt_base;
    sr->idt.limit = b->idt_limit;
    sr->cr0 = b->cr0 | X86_CR0_PE | X86_CR0_PG | X86_CR0_ET | X86_CR0_NE;
    sr->cr2 = 0;
    sr->cr3 = b->cr3;
    sr->cr4 = b->cr4 | X86_CR4_PAE;
    sr->efer = b->efer | EFER_LME | EFER_LMA;
}

/* Architectural INIT state (real mode at F000:FFF0). */
static void sregs_init_state(struct kvm_sregs *sr)
{
    seg_real(&sr->cs, 0xf000, 0xffff0000, 0xb);
    seg_real(&sr->ds, 0, 0, 3);
    sr->es = sr->fs = sr->gs = sr->ss = sr->ds;
    seg_system(&sr->tr, 11);
    seg_system(&sr->ldt, 2);
    sr->gdt.base = 0;
    sr->gdt.limit = 0xffff;
    sr->idt.base = 0;
    sr->idt.limit = 0xffff;
    sr->cr0 = 0x60000010;            /* CD | NW | ET */
    sr->cr2 = sr->cr3 = sr->cr4 = 0;
    sr->efer = 0;
}

static bool apply_fpu(Vcpu *cpu, GError **err)
{
    KvmState *s = kvm_state(cpu->machine);
    KvmVcpu *kv = kvm_vcpu(cpu);
    struct kvm_fpu fpu;

    if (s->cap_xsave) {
        /* All extended state (AVX etc.) back to its init value. */
        g_autofree struct kvm_xsave *xs = g_malloc0(sizeof(*xs));

        xs->region[0] = 0x37f;       /* FCW */
        xs->region[6] = 0x1f80;      /* MXCSR */
        xs->region[128] = 0x3;       /* XSTATE_BV: x87 | SSE */
        if (ioctl(kv->fd, KVM_SET_XSAVE, xs) < 0) {
            log_warn("vcpu %u: KVM_SET_XSAVE: %s", cpu->index, g_strerror(errno));
        }
    }
    if (s->cap_xcrs) {
        struct kvm_xcrs xcrs;

        memset(&xcrs, 0, sizeof(xcrs));
        xcrs.nr_xcrs = 1;
        xcrs.xcrs[0].xcr = 0;
        xcrs.xcrs[0].value = 1;      /* XCR0 = x87 */
        if (ioctl(kv->fd, KVM_SET_XCRS, &xcrs) < 0) {
            log_warn("vcpu %u: KVM_SET_XCRS: %s", cpu->index, g_strerror(errno));
        }
    }
    memset(&fpu, 0, sizeof(fpu));
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    if (ioctl(kv->fd, KVM_SET_FPU, &fpu) < 0) {
        set_error_errno(err, errno, "KVM_SET_FPU on vcpu %u", cpu->index);
        return false;
    }
    return true;
}

bool kvm_x86_vcpu_init(Vcpu *cpu, GError **err)
{
    return setup_cpuid(cpu, err) && setup_lapic_image(cpu, err) &&
           apply_reset_msrs(cpu, err) && apply_lapic(cpu, err);
}

bool kvm_x86_vcpu_reset(Vcpu *cpu, const X86BootState *boot, GError **err)
{
    KvmState *s = kvm_state(cpu->machine);
    KvmVcpu *kv = kvm_vcpu(cpu);
    bool bsp = cpu->index == 0;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_mp_state mp;

    if (!apply_reset_msrs(cpu, err)) {
        return false;
    }

    if (ioctl(kv->fd, KVM_GET_SREGS, &sregs) < 0) {
        set_error_errno(err, errno, "KVM_GET_SREGS on vcpu %u", cpu->index);
        return false;
    }
    memset(&regs, 0, sizeof(regs));
    regs.rflags = 0x2;
    if (bsp && boot) {
        sregs_long_mode(&sregs, boot);
        regs.rip = boot->rip;
        regs.rsp = boot->rsp;
        regs.rbp = boot->rsp;
        regs.rsi = boot->rsi;
    } else {
        sregs_init_state(&sregs);
        regs.rip = 0xfff0;
    }
    sregs.cr8 = 0;
    sregs.apic_base = APIC_DEFAULT_BASE | APICBASE_ENABLE | (bsp ? APICBASE_BSP : 0);
    memset(sregs.interrupt_bitmap, 0, sizeof(sregs.interrupt_bitmap));
    if (ioctl(kv->fd, KVM_SET_SREGS, &sregs) < 0) {
        set_error_errno(err, errno, "KVM_SET_SREGS on vcpu %u", cpu->index);
        return false;
    }
    if (ioctl(kv->fd, KVM_SET_REGS, &regs) < 0) {
        set_error_errno(err, errno, "KVM_SET_REGS on vcpu %u", cpu->index);
        return false;
    }
    if (!apply_fpu(cpu, err) || !apply_lapic(cpu, err)) {
        return false;
    }
    if (s->cap_vcpu_events) {
        struct kvm_vcpu_events ev;

        memset(&ev, 0, sizeof(ev));
        ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;   /* also drop a pending NMI */
        if (ioctl(kv->fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
            log_warn("vcpu %u: KVM_SET_VCPU_EVENTS: %s", cpu->index, g_strerror(errno));
        }
    }
    /* BSP runs; APs wait in the kernel for INIT/SIPI from the guest. */
    mp.mp_state = bsp ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED;
    if (ioctl(kv->fd, KVM_SET_MP_STATE, &mp) < 0) {
        set_error_errno(err, errno, "KVM_SET_MP_STATE on vcpu %u", cpu->index);
        return false;
    }
    return true;
}

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
        if (!apply_fpu(cpu, err)) {          /* the init state */
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
        if (state_msrs[i].required || msr_supported(s, state_msrs[i].index)) {
            msr_batch_add(&b, state_msrs[i].index, 0);
        }
    }
    if (msr_supported(s, MSR_IA32_TSC_DEADLINE)) {
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
        if (msr_supported(s, pv_msrs[i])) {
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
        if (state_msrs[i].required || msr_supported(s, state_msrs[i].index)) {
            msr_batch_add(&b, state_msrs[i].index, state_msr_get(st, state_msrs[i].offset));
        }
    }
    if (!msr_batch_io(cpu, &b, true, err)) {
        return false;
    }
    memset(&b, 0, sizeof(b));
    for (uint32_t i = 0; i < st->n_msr_other; i++) {
        if (msr_supported(s, st->msr_other[i].index)) {
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
        if (st->msr_other[i].value && !msr_supported(s, st->msr_other[i].index)) {
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
    if (msr_supported(s, MSR_IA32_TSC_DEADLINE)) {
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

/* ---- Diagnostics ---- */

static void seg_str(GString *s, const char *name, const struct kvm_segment *seg)
{
    g_string_append_printf(s, " %s=%04x(base=0x%" G_GINT64_MODIFIER "x limit=0x%x type=%u"
                           " dpl=%u l=%u db=%u p=%u)", name, seg->selector,
                           (guint64)seg->base, seg->limit, seg->type, seg->dpl, seg->l,
                           seg->db, seg->present);
}

void kvm_x86_report_state(Vcpu *cpu, const char *what, bool fatal)
{
    KvmVcpu *kv = kvm_vcpu(cpu);
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    GString *s = g_string_new(NULL);

    g_string_printf(s, "vcpu %u: %s", cpu->index, what);
    if (ioctl(kv->fd, KVM_GET_REGS, &regs) == 0) {
        g_string_append_printf(s, "; RIP=0x%016" G_GINT64_MODIFIER "x RSP=0x%016"
                               G_GINT64_MODIFIER "x RFLAGS=0x%" G_GINT64_MODIFIER "x",
                               (guint64)regs.rip, (guint64)regs.rsp, (guint64)regs.rflags);
    } else {
        g_string_append_printf(s, "; KVM_GET_REGS: %s", g_strerror(errno));
    }
    if (ioctl(kv->fd, KVM_GET_SREGS, &sregs) == 0) {
        g_string_append_printf(s, " CR0=0x%" G_GINT64_MODIFIER "x CR2=0x%"
                               G_GINT64_MODIFIER "x CR3=0x%" G_GINT64_MODIFIER "x CR4=0x%"
                               G_GINT64_MODIFIER "x EFER=0x%" G_GINT64_MODIFIER "x",
                               (guint64)sregs.cr0, (guint64)sregs.cr2, (guint64)sregs.cr3,
                               (guint64)sregs.cr4, (guint64)sregs.efer);
        seg_str(s, "CS", &sregs.cs);
        seg_str(s, "SS", &sregs.ss);
    } else {
        g_string_append_printf(s, " KVM_GET_SREGS: %s", g_strerror(errno));
    }
    if (fatal) {
        /* "stratus: error: vcpu N: ..." on stderr, and the same through log_error. */
        report_error("%s", s->str);
        if (ioctl(kv->fd, KVM_GET_REGS, &regs) == 0) {
            log_error("vcpu %u: RAX=%" G_GINT64_MODIFIER "x RBX=%" G_GINT64_MODIFIER
                      "x RCX=%" G_GINT64_MODIFIER "x RDX=%" G_GINT64_MODIFIER
                      "x RSI=%" G_GINT64_MODIFIER "x RDI=%" G_GINT64_MODIFIER
                      "x RBP=%" G_GINT64_MODIFIER "x", cpu->index,
                      (guint64)regs.rax, (guint64)regs.rbx, (guint64)regs.rcx,
                      (guint64)regs.rdx, (guint64)regs.rsi, (guint64)regs.rdi,
                      (guint64)regs.rbp);
        }
    } else {
        log_info("%s", s->str);
    }
    g_string_free(s, TRUE);
}
