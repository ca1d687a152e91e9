/*
 * The emu accelerator: guests run on Stratus's own x86-64 interpreter
 * (emu-*.c), one host thread per vCPU over the shared guest RAM, with the
 * interrupt controllers in user space (emu-apic.h). QEMU's name "tcg" is an
 * alias (options.c).
 *
 * Threads: a vCPU thread runs guest code without the machine lock and takes
 * it only for MMIO/PIO dispatch, exactly as under KVM. Another thread stops
 * it with vcpu_kick (an atomic flag checked between instructions) and wakes
 * it from hlt through its condition variable; the LAPIC wakes it the same
 * way when an interrupt or INIT/SIPI arrives.
 */
#include <sched.h>
#include <string.h>

#include "accel/accel.h"
#include "accel/emu/emu-cpu.h"
#include "accel/emu/emu-apic.h"
#include "accel/emu/emu-state.h"
#include "accel/x86-boot-state.h"
#include "util/log.h"
#include "util/strutil.h"

/* Instructions between looks at the timers. */
#define EMU_TIMER_POLL_INSNS 1024

typedef struct EmuState {
    EmuApicBus *apic;
    bool pic_pit_registered;
    bool ioapic_registered;
    /*
     * Guest time (X86VmState.clock_ns) = emu_clock_ns() + clock_offset. The
     * guest sees no clock of its own under emu (no kvmclock); this keeps
     * the one a state carries going, for a later load elsewhere.
     */
    int64_t clock_offset;
    EmuDirtyLog dirty;
    /*
     * Bumped (under the machine lock) to make every vCPU flush its TLB
     * before it runs guest code again; atomic for the vCPUs' unlocked look.
     */
    uint64_t tlb_flush_gen;
} EmuState;

typedef struct EmuVcpu {
    EmuCpu cpu;
    GMutex lock;
    GCond cond;
    int kick;                    /* atomic: vcpu_run must return */
    bool woken;                  /* under lock: something arrived while halted */
    uint64_t tlb_flushed_gen;    /* under the machine lock: last tlb_flush_gen obeyed */
} EmuVcpu;

static EmuState *emu_state(Machine *m)
{
    return m->accel;
}

static bool emu_init(Machine *m, GError **err)
{
    EmuState *s = g_new0(EmuState, 1);
    unsigned n = m->cfg && m->cfg->smp.cpus ? m->cfg->smp.cpus : 1;

    m->accel = s;
    s->apic = emu_apic_bus_new(n, emu_clock_ns, NULL);
    if (!s->apic) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED, "emu: cannot create %u local APICs", n);
        return false;
    }
    if (!emu_ioapic_register(s->apic, &m->mmio, err)) {
        return false;
    }
    s->ioapic_registered = true;
    if (!emu_pic_pit_register(s->apic, &m->pio, err)) {
        return false;
    }
    s->pic_pit_registered = true;
    return true;
}

static void emu_destroy(Machine *m)
{
    EmuState *s = emu_state(m);

    if (!s) {
        return;
    }
    if (s->pic_pit_registered) {
        emu_pic_pit_unregister(s->apic, &m->pio);
    }
    if (s->ioapic_registered) {
        iobus_remove(&m->mmio, EMU_IOAPIC_BASE);
    }
    if (s->apic) {
        emu_apic_bus_free(s->apic);
    }
    dirty_bitmap_free(s->dirty.bits);
    g_free(s);
    m->accel = NULL;
}

static bool emu_map_ram(Machine *m, GError **err)
{
    (void)m;
    (void)err;
    return true;     /* the interpreter reads m->ram directly */
}

static void emu_wake(void *opaque)
{
    EmuVcpu *v = opaque;

    emu_chain_stop(&v->cpu);     /* running: the chain returns to the loop's checks */
    g_mutex_lock(&v->lock);
    v->woken = true;
    g_cond_signal(&v->cond);
    g_mutex_unlock(&v->lock);
}

static bool emu_vcpu_init(Vcpu *cpu, GError **err)
{
    Machine *m = cpu->machine;
    EmuVcpu *v = g_new0(EmuVcpu, 1);
    EmuCpu *c = &v->cpu;

    g_mutex_init(&v->lock);
    g_cond_init(&v->cond);
    cpu->accel = v;
    c->machine = m;
    c->ram = &m->ram;
    c->dirty = &emu_state(m)->dirty;
    c->index = cpu->index;
    c->ncpus = m->vcpus ? m->vcpus->len : 1;
    if (m->cfg && m->cfg->smp.cpus > c->ncpus) {
        c->ncpus = m->cfg->smp.cpus;
    }
    c->lapic = emu_apic_bus_lapic(emu_state(m)->apic, cpu->index);
    c->ud_logged = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (!c->lapic || !emu_decode_init(c)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED, "emu: cannot create vcpu %u", cpu->index);
        return false;
    }
    emu_lapic_set_waker(c->lapic, emu_wake, v);
    c->spin_ns = EMU_SPIN_NS;
    return true;
}

/* The 64-bit boot protocol state, as the KVM path sets it (kvm-x86.c). */
static void boot_long_mode(EmuCpu *c, const X86BootState *b)
{
    emu_desc_to_seg(&c->seg[S_CS], 0x10, b->code_desc);
    for (int s = 0; s < 6; s++) {
        if (s != S_CS) {
            emu_desc_to_seg(&c->seg[s], 0x18, b->data_desc);
        }
    }
    c->tr = (EmuSeg){ .limit = 0xFFFF, .attr = SEG_P | 0xB };
    c->gdtr = (EmuDtr){ b->gdt_base, b->gdt_limit };
    c->idtr = (EmuDtr){ b->idt_base, b->idt_limit };
    c->cr0 = b->cr0 | CR0_PE | CR0_PG | CR0_ET | CR0_NE;
    c->cr3 = b->cr3;
    c->cr4 = b->cr4 | CR4_PAE;
    c->efer = b->efer | EFER_LME | EFER_LMA;
    c->rip = b->rip;
    c->gpr[R_SP] = b->rsp;
    c->gpr[R_BP] = b->rsp;
    c->gpr[R_SI] = b->rsi;
    c->gpr[R_DX] = 0;
    emu_tlb_flush(c);
    emu_update_mode(c);
}

static bool emu_vcpu_reset(Vcpu *cpu, const X86BootState *boot, GError **err)
{
    EmuVcpu *v = cpu->accel;
    EmuCpu *c = &v->cpu;
    bool bsp = cpu->index == 0;

    (void)err;
    if (bsp) {
        emu_apic_bus_reset(emu_state(cpu->machine)->apic);
    }
    emu_lapic_reset(c->lapic, cpu->apic_id, bsp);
    emu_reset_init(c);
    c->tsc_offset = 0;
    c->tsc_adjust = 0;
    emu_lapic_set_tsc_offset(c->lapic, 0);
    if (bsp && boot) {
        boot_long_mode(c, boot);
    }
    /* APs wait for INIT/SIPI from the guest, as in KVM's UNINITIALIZED state. */
    c->wait_sipi = !bsp;
    __atomic_store_n(&v->kick, 0, __ATOMIC_SEQ_CST);
    return true;
}

static void request_shutdown(EmuCpu *c, ShutdownReason reason)
{
    machine_lock(c->machine);
    machine_request_shutdown(c->machine, reason);
    machine_unlock(c->machine);
}

static void report_state(EmuCpu *c, const char *what)
{
    log_info("vcpu %u: %s: rip=0x%" G_GINT64_MODIFIER "x rsp=0x%" G_GINT64_MODIFIER
             "x cr0=0x%" G_GINT64_MODIFIER "x cr3=0x%" G_GINT64_MODIFIER "x cr4=0x%"
             G_GINT64_MODIFIER "x efer=0x%" G_GINT64_MODIFIER "x cs=0x%x ss=0x%x",
             c->index, what, (guint64)c->rip, (guint64)c->gpr[R_SP], (guint64)c->cr0,
             (guint64)c->cr3, (guint64)c->cr4, (guint64)c->efer, c->seg[S_CS].sel,
             c->seg[S_SS].sel);
}

/* INIT, SIPI, NMI and maskable interrupts, between two instructions. */
static void take_events(EmuCpu *c)
{
    uint8_t sipi = 0;
    unsigned ev = emu_lapic_take_events(c->lapic, &sipi);
    int vec;

    if (ev & EMU_LAPIC_EV_INIT) {
        /* As KVM: the BSP restarts at the reset vector, an AP waits for SIPI. */
        emu_reset_init(c);
        c->wait_sipi = !emu_lapic_is_bsp(c->lapic);
    }
    if ((ev & EMU_LAPIC_EV_SIPI) && c->wait_sipi) {
        emu_sipi(c, sipi);
    }
    if (c->wait_sipi) {
        return;
    }
    c->insn_rip = c->rip;
    if (ev & EMU_LAPIC_EV_NMI) {
        emu_deliver(c, EXC_NMI, false, 0, false, c->rip);
    }
    if ((c->rflags & FL_IF) && !c->sti_shadow && emu_lapic_pending_vector(c->lapic) >= 0) {
        vec = emu_lapic_ack(c->lapic);
        if (vec >= 0) {
            emu_deliver(c, vec, false, 0, false, c->rip);
        }
    }
}

static void poll_timers(EmuCpu *c, EmuApicBus *bus)
{
    emu_lapic_timer_poll(c->lapic);
    if (c->index == 0) {
        emu_pit_poll(bus);
    }
}

/* Sleeps while halted (or waiting for SIPI) until a timer, an event or a kick. */
static void halt_wait(EmuVcpu *v, EmuApicBus *bus)
{
    EmuCpu *c = &v->cpu;
    uint64_t deadline = emu_lapic_timer_deadline(c->lapic);

    if (c->index == 0) {
        deadline = MIN(deadline, emu_pit_deadline(bus));
    }
    g_mutex_lock(&v->lock);
    if (!v->woken && !__atomic_load_n(&v->kick, __ATOMIC_SEQ_CST) &&
        !emu_lapic_has_events(c->lapic)) {
        uint64_t now = emu_clock_ns(NULL);
        gint64 wait_us = deadline == UINT64_MAX ? G_TIME_SPAN_SECOND
                         : deadline > now ? (gint64)((deadline - now) / 1000) : 0;

        if (wait_us > 0) {
            g_cond_wait_until(&v->cond, &v->lock,
                              g_get_monotonic_time() + MIN(wait_us, G_TIME_SPAN_SECOND));
        }
    }
    v->woken = false;
    g_mutex_unlock(&v->lock);
}

/*
 * A TLB flush the main thread asked for (flush_all_tlbs), done before any
 * guest code runs and acknowledged under the machine lock. Only here: a
 * request comes with a kick, and a kicked vCPU always comes back through.
 */
static void obey_tlb_flush(EmuVcpu *v, Machine *m)
{
    uint64_t gen = __atomic_load_n(&emu_state(m)->tlb_flush_gen, __ATOMIC_ACQUIRE);

    if (G_LIKELY(gen == __atomic_load_n(&v->tlb_flushed_gen, __ATOMIC_RELAXED))) {
        return;
    }
    emu_tlb_flush(&v->cpu);
    machine_lock(m);
    __atomic_store_n(&v->tlb_flushed_gen, gen, __ATOMIC_RELAXED);
    g_cond_broadcast(&m->vcpu_state_cond);
    machine_unlock(m);
}

static bool emu_vcpu_run(Vcpu *cpu)
{
    EmuVcpu *v = cpu->accel;
    EmuCpu *c = &v->cpu;
    EmuApicBus *bus = emu_state(cpu->machine)->apic;

    obey_tlb_flush(v, cpu->machine);
    if (setjmp(c->jmp)) {
        /* An instruction (or an interrupt delivery) raised an exception. */
        if (!emu_deliver_pending_exception(c)) {
            report_state(c, "triple fault: guest shutdown");
            c->delivering = -1;
            request_shutdown(c, SHUTDOWN_GUEST_SHUTDOWN);
            return true;
        }
    }
    for (;;) {
        if (__atomic_load_n(&v->kick, __ATOMIC_SEQ_CST)) {
            __atomic_store_n(&v->kick, 0, __ATOMIC_SEQ_CST);
            return true;
        }
        poll_timers(c, bus);
        if (emu_lapic_has_events(c->lapic)) {
            take_events(c);
        }
        if (c->halted || c->wait_sipi) {
            halt_wait(v, bus);
            continue;
        }
        if (c->spin_yield) {
            /* The guest spins (emu_pause): most often for a vCPU whose thread
             * waits for a host CPU, maybe this one. */
            c->spin_yield = false;
            c->spin_yields++;
            sched_yield();
            continue;
        }
        for (unsigned i = 0; i < EMU_TIMER_POLL_INSNS;) {
            i += emu_run_block(c);
            /* With IF=0 a pending IRR bit (the test guest polls them) is no
             * reason to stop; INIT/SIPI/NMI wait for the next timer poll. */
            if (G_UNLIKELY(((c->rflags & FL_IF) && emu_lapic_has_events(c->lapic)) ||
                           c->halted || c->spin_yield || __atomic_load_n(&v->kick, __ATOMIC_RELAXED))) {
                if (!c->sti_shadow) {
                    break;
                }
            }
        }
    }
}

static void emu_vcpu_kick(Vcpu *cpu)
{
    EmuVcpu *v = cpu->accel;

    if (!v) {
        return;
    }
    __atomic_store_n(&v->kick, 1, __ATOMIC_SEQ_CST);
    emu_wake(v);
}

static void emu_vcpu_destroy(Vcpu *cpu)
{
    EmuVcpu *v = cpu->accel;

    if (!v) {
        return;
    }
    emu_decode_destroy(&v->cpu);
    if (v->cpu.ud_logged) {
        g_hash_table_destroy(v->cpu.ud_logged);
    }
    g_mutex_clear(&v->lock);
    g_cond_clear(&v->cond);
    g_free(v);
    cpu->accel = NULL;
}

/* The vCPU is parked (accel.h): its thread is not inside emu_vcpu_run. */
static bool emu_vcpu_get_state(Vcpu *cpu, X86VcpuState *st, GError **err)
{
    EmuVcpu *v = cpu->accel;

    (void)err;
    emu_cpu_save_state(&v->cpu, st);
    return true;
}

static bool emu_vcpu_set_state(Vcpu *cpu, const X86VcpuState *st, GError **err)
{
    EmuVcpu *v = cpu->accel;

    if (!emu_cpu_load_state(&v->cpu, st, err)) {
        g_prefix_error(err, "vcpu %u: ", cpu->index);
        return false;
    }
    return true;
}

/* ---- VM state ---- */

/* Every vCPU parked (accel.h): the bus's chips change under their own locks only. */
static bool emu_vm_get_state(Machine *m, X86VmState *st, GError **err)
{
    EmuState *s = emu_state(m);

    (void)err;
    x86_vm_state_init(st);
    emu_apic_bus_save(s->apic, st);
    st->clock_ns = emu_clock_ns(NULL) + s->clock_offset;
    return true;
}

static bool emu_vm_set_state(Machine *m, const X86VmState *st, GError **err)
{
    EmuState *s = emu_state(m);

    if (!x86_vm_state_check(st, err) || !emu_apic_bus_load(s->apic, st, err)) {
        return false;
    }
    s->clock_offset = (int64_t)(st->clock_ns - emu_clock_ns(NULL));
    return true;
}

/* ---- dirty-page log ---- */

static bool vcpu_parked(const Vcpu *cpu)
{
    return !cpu->thread || cpu->stopped;
}

static bool tlb_flush_pending(Machine *m, uint64_t gen)
{
    for (guint i = 0; i < m->vcpus->len; i++) {
        Vcpu *cpu = g_ptr_array_index(m->vcpus, i);
        EmuVcpu *v = cpu->accel;

        if (vcpu_parked(cpu)) {
            /* Its thread waits for the lock we hold: flush for it. */
            if (v->tlb_flushed_gen != gen) {
                emu_tlb_flush(&v->cpu);
                __atomic_store_n(&v->tlb_flushed_gen, gen, __ATOMIC_RELAXED);
            }
        } else if (__atomic_load_n(&v->tlb_flushed_gen, __ATOMIC_RELAXED) != gen) {
            return true;
        }
    }
    return false;
}

/*
 * Returns once no vCPU holds a TLB entry made before the call (lock held,
 * dropped while waiting, as cpus_pause_all does): running vCPUs are kicked
 * and flush on their way back into the guest (obey_tlb_flush).
 */
static void flush_all_tlbs(Machine *m)
{
    EmuState *s = emu_state(m);
    uint64_t gen = s->tlb_flush_gen + 1;

    __atomic_store_n(&s->tlb_flush_gen, gen, __ATOMIC_RELEASE);
    for (guint i = 0; i < m->vcpus->len; i++) {
        Vcpu *cpu = g_ptr_array_index(m->vcpus, i);

        if (!vcpu_parked(cpu)) {
            emu_vcpu_kick(cpu);
        }
    }
    while (tlb_flush_pending(m, gen)) {
        g_cond_wait(&m->vcpu_state_cond, &m->lock);
    }
}

/* On before the flush: a fill that saw it off made an entry the flush removes. */
static bool emu_dirty_log_start(Machine *m, GError **err)
{
    EmuState *s = emu_state(m);

    (void)err;
    if (!s->dirty.bits) {
        s->dirty.bits = dirty_bitmap_new(&m->ram);
    }
    dirty_bitmap_clear(s->dirty.bits);
    __atomic_store_n(&s->dirty.on, 1, __ATOMIC_RELEASE);
    flush_all_tlbs(m);
    return true;
}

/*
 * Take, then flush: a store through an entry older than the flush goes to
 * a page its fill marked, which is in what we took or is marked again.
 */
static bool emu_dirty_log_sync(Machine *m, DirtyBitmap *dirty, GError **err)
{
    EmuState *s = emu_state(m);

    if (!__atomic_load_n(&s->dirty.on, __ATOMIC_RELAXED)) {
        set_error(err, "emu: the dirty-page log is not started");
        return false;
    }
    if (!dirty_bitmap_fits(dirty, &m->ram)) {
        set_error(err, "emu: the dirty bitmap does not match the guest RAM");
        return false;
    }
    dirty_bitmap_take(dirty, s->dirty.bits);
    flush_all_tlbs(m);
    return true;
}

/* Entries stay read-only until refilled, which costs a refill, nothing more. */
static void emu_dirty_log_stop(Machine *m)
{
    __atomic_store_n(&emu_state(m)->dirty.on, 0, __ATOMIC_RELEASE);
}

static void emu_set_irq(Machine *m, unsigned gsi, bool level)
{
    EmuState *s = emu_state(m);

    if (s && s->apic && gsi < EMU_IOAPIC_PINS) {
        emu_ioapic_set_irq(s->apic, gsi, level);
    }
}

static void emu_inject_nmi(Machine *m)
{
    EmuState *s = emu_state(m);

    if (s && s->apic) {
        emu_apic_bus_deliver(s->apic, 0xff, false, EMU_APIC_DM_NMI, 0, false);
    }
}

/* The MSI address/data format (Intel SDM vol. 3 §11.11) onto the APIC bus. */
static void emu_send_msi(Machine *m, uint64_t addr, uint32_t data)
{
    EmuState *s = emu_state(m);

    if (s && s->apic) {
        emu_apic_bus_deliver(s->apic, (addr >> 12) & 0xff, addr & 4, (data >> 8) & 7,
                             data & 0xff, data & 0x8000);
    }
}

/*
 * ioeventfd, emulated as QEMU's memory core can under TCG: the bus matches
 * the write (iobus_write) and signals the eventfd instead of calling the
 * device, so the device's main-loop handler does the work as it would under
 * KVM. Only with -accel emu,ioeventfd=on: QEMU's virtio devices take no
 * ioeventfds under TCG, and a kick handled on the vCPU is cheaper
 * (docs/accelerators.md "ioeventfd" has the figures). Called with the machine
 * lock held, as the vCPUs' dispatch takes it.
 */
static bool emu_add_ioeventfd(Machine *m, bool pio, uint64_t addr, unsigned size,
                              bool datamatch, uint64_t data, int fd, GError **err)
{
    IoEventfd e = { .addr = addr, .size = size, .datamatch = datamatch, .data = data, .fd = fd };

    if (!m->cfg || m->cfg->emu_ioeventfd != FEATURE_ON) {
        return false;       /* the default: devices use their write handlers */
    }
    return iobus_add_eventfd(pio ? &m->pio : &m->mmio, &e, err);
}

static void emu_remove_ioeventfd(Machine *m, bool pio, uint64_t addr, unsigned size,
                                 bool datamatch, uint64_t data, int fd)
{
    IoEventfd e = { .addr = addr, .size = size, .datamatch = datamatch, .data = data, .fd = fd };

    iobus_remove_eventfd(pio ? &m->pio : &m->mmio, &e);
}

const AccelOps emu_accel_ops = {
    .name = "emu",
    .init = emu_init,
    .destroy = emu_destroy,
    .map_ram = emu_map_ram,
    .vcpu_init = emu_vcpu_init,
    .vcpu_reset = emu_vcpu_reset,
    .vcpu_run = emu_vcpu_run,
    .vcpu_kick = emu_vcpu_kick,
    .vcpu_destroy = emu_vcpu_destroy,
    .vcpu_get_state = emu_vcpu_get_state,
    .vcpu_set_state = emu_vcpu_set_state,
    .vm_get_state = emu_vm_get_state,
    .vm_set_state = emu_vm_set_state,
    .dirty_log_start = emu_dirty_log_start,
    .dirty_log_sync = emu_dirty_log_sync,
    .dirty_log_stop = emu_dirty_log_stop,
    .set_irq = emu_set_irq,
    .inject_nmi = emu_inject_nmi,
    .send_msi = emu_send_msi,
    /* irqfd: NULL, devices call irq_set_level / machine_send_msi themselves. */
    .add_ioeventfd = emu_add_ioeventfd,
    .remove_ioeventfd = emu_remove_ioeventfd,
};
