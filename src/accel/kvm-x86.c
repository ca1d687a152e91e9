/*
 * x86 vCPU setup for the KVM accelerator: CPUID, MSRs, LAPIC, the register
 * state a vCPU starts from (stratovirt-reference.md §5.3), and the state
 * report on a fatal exit. Saving and loading the whole state as an
 * X86VcpuState (vcpu_get_state/vcpu_set_state) is kvm-x86-state.c.
 *
 * Reset model: the BSP (index 0) gets the 64-bit boot state from the loader;
 * application processors get the architectural INIT state and mp_state
 * UNINITIALIZED, i.e. they sit in the kernel waiting for INIT/SIPI from the
 * guest, exactly as freshly created vCPUs do. MSRs, FPU, XCR0, pending events
 * and the LAPIC are put back to a clean image on every reset so a
 * system_reset does not leak state (e.g. kvmclock pages) into the next boot.
 */
#include <errno.h>
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

bool kvm_x86_msr_supported(const KvmState *s, uint32_t index)
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

        if (!list[i].required && !kvm_x86_msr_supported(s, list[i].index)) {
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

bool kvm_x86_apply_fpu(Vcpu *cpu, GError **err)
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
    if (!kvm_x86_apply_fpu(cpu, err) || !apply_lapic(cpu, err)) {
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
