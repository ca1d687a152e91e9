/*
 * The KVM accelerator: VM creation, memory slots, vCPU threads' run loop and
 * exit dispatch, kicks, interrupts, irqfd and ioeventfd. The x86-specific vCPU
 * setup (CPUID, MSRs, LAPIC, registers) lives in kvm-x86.c, saving and loading
 * its state in kvm-x86-state.c.
 *
 * Kicks: vcpu_kick sets kick_pending and run->immediate_exit, then sends
 * SIGUSR1 to the vCPU thread. immediate_exit covers a thread that is about to
 * enter KVM_RUN; the signal interrupts one already inside. The SIGUSR1 handler
 * is an empty function installed without SA_RESTART, so the signal is harmless
 * in any thread that happens to receive it; stratus's main() blocks it in
 * every thread but the vCPU threads, which unblock it on their first run.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "accel/accel.h"
#include "accel/kvm-internal.h"
#include "util/fdutil.h"
#include "util/log.h"
#include "util/strutil.h"

#define KVM_KICK_SIGNAL SIGUSR1

static void kick_signal_handler(int sig)
{
    (void)sig;
}

static void install_kick_handler(void)
{
    static gsize done;

    if (g_once_init_enter(&done)) {
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = kick_signal_handler;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;            /* no SA_RESTART: KVM_RUN must return EINTR */
        sigaction(KVM_KICK_SIGNAL, &sa, NULL);
        g_once_init_leave(&done, 1);
    }
}

static bool check_cap(KvmState *s, int cap, const char *name, GError **err)
{
    if (ioctl(s->vm_fd, KVM_CHECK_EXTENSION, cap) <= 0) {
        g_set_error(err, STRATUS_ERROR, STRATUS_ERROR_KVM_MISSING_CAP,
                    "KVM does not support %s", name);
        return false;
    }
    return true;
}

static void kvm_destroy(Machine *m)
{
    KvmState *s = kvm_state(m);

    if (!s) {
        return;
    }
    if (s->vm_fd >= 0) {
        close(s->vm_fd);
    }
    if (s->kvm_fd >= 0) {
        close(s->kvm_fd);
    }
    g_free(s->supported_cpuid);
    g_free(s->msr_index);
    g_free(s->routes);
    g_free(s);
    m->accel = NULL;
}

static bool kvm_init(Machine *m, GError **err)
{
    KvmState *s = g_new0(KvmState, 1);
    struct kvm_pit_config pit;
    int r;

    s->kvm_fd = -1;
    s->vm_fd = -1;
    m->accel = s;

    s->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (s->kvm_fd < 0) {
        set_error_errno(err, errno, "failed to open /dev/kvm");
        goto fail;
    }
    r = ioctl(s->kvm_fd, KVM_GET_API_VERSION, 0);
    if (r != KVM_API_VERSION) {
        set_error(err, "KVM API version %d is not supported (need %d)", r, KVM_API_VERSION);
        goto fail;
    }
    s->vcpu_mmap_size = ioctl(s->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (s->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
        set_error_errno(err, errno, "KVM_GET_VCPU_MMAP_SIZE");
        goto fail;
    }
    do {
        s->vm_fd = ioctl(s->kvm_fd, KVM_CREATE_VM, 0);
    } while (s->vm_fd < 0 && errno == EINTR);
    if (s->vm_fd < 0) {
        set_error_errno(err, errno, "KVM_CREATE_VM");
        goto fail;
    }
    if (fcntl(s->vm_fd, F_SETFD, FD_CLOEXEC) < 0) {
        set_error_errno(err, errno, "fcntl(vm fd)");
        goto fail;
    }
    if (!check_cap(s, KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", err) ||
        !check_cap(s, KVM_CAP_IRQFD, "KVM_CAP_IRQFD", err) ||
        !check_cap(s, KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", err) ||
        !check_cap(s, KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", err) ||
        !check_cap(s, KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", err) ||
        !check_cap(s, KVM_CAP_PIT2, "KVM_CAP_PIT2", err) ||
        !check_cap(s, KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", err) ||
        !check_cap(s, KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE", err)) {
        goto fail;
    }
    s->cap_xsave = ioctl(s->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0;
    s->cap_xcrs = ioctl(s->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
    s->cap_vcpu_events = ioctl(s->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_VCPU_EVENTS) > 0;
    s->cap_tsc_deadline =
        ioctl(s->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
    s->cap_debugregs = ioctl(s->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DEBUGREGS) > 0;

    if (ioctl(s->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
        set_error_errno(err, errno, "KVM_SET_TSS_ADDR");
        goto fail;
    }
    {
        uint64_t ident = KVM_IDENTITY_MAP_ADDR;

        if (ioctl(s->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0) {
            set_error_errno(err, errno, "KVM_SET_IDENTITY_MAP_ADDR");
            goto fail;
        }
    }
    if (ioctl(s->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        set_error_errno(err, errno, "KVM_CREATE_IRQCHIP");
        goto fail;
    }
    memset(&pit, 0, sizeof(pit));
    pit.flags = KVM_PIT_SPEAKER_DUMMY;
    if (ioctl(s->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        set_error_errno(err, errno, "KVM_CREATE_PIT2");
        goto fail;
    }
    if (!kvm_x86_vm_init(m, s, err)) {
        goto fail;
    }
    install_kick_handler();
    return true;

fail:
    kvm_destroy(m);
    return false;
}

bool kvm_set_ram_slot(KvmState *s, unsigned slot, const RamBlock *b, uint32_t flags,
                      GError **err)
{
    struct kvm_userspace_memory_region reg = {
        .slot = slot,
        .flags = flags,
        .guest_phys_addr = b->gpa,
        .memory_size = b->size,
        .userspace_addr = (uintptr_t)b->hva,
    };

    if (ioctl(s->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg) < 0) {
        set_error_errno(err, errno,
                        "KVM_SET_USER_MEMORY_REGION slot %u [0x%" G_GINT64_MODIFIER
                        "x, +0x%" G_GINT64_MODIFIER "x)",
                        reg.slot, (guint64)b->gpa, (guint64)b->size);
        return false;
    }
    return true;
}

static bool kvm_map_ram(Machine *m, GError **err)
{
    KvmState *s = kvm_state(m);
    GArray *blocks = m->ram.blocks;

    if (!blocks) {
        return true;
    }
    s->ram_slot0 = s->nr_slots;
    for (guint i = 0; i < blocks->len; i++) {
        const RamBlock *b = &g_array_index(blocks, RamBlock, i);

        if (!kvm_set_ram_slot(s, s->nr_slots, b, 0, err)) {
            return false;
        }
        log_debug("kvm: RAM slot %u: gpa 0x%" G_GINT64_MODIFIER "x size 0x%"
                  G_GINT64_MODIFIER "x", s->nr_slots, (guint64)b->gpa, (guint64)b->size);
        s->nr_slots++;
    }
    return true;
}

/* Undoes whatever part of kvm_vcpu_init() got done (kv->run/fd: NULL/-1 if not). */
static void kvm_vcpu_release(Vcpu *cpu, KvmVcpu *kv)
{
    if (kv->run) {
        munmap(kv->run, kv->run_size);
    }
    if (kv->fd >= 0) {
        close(kv->fd);
    }
    g_free(kv);
    cpu->accel = NULL;
}

static bool kvm_vcpu_init(Vcpu *cpu, GError **err)
{
    KvmState *s = kvm_state(cpu->machine);
    KvmVcpu *kv = g_new0(KvmVcpu, 1);
    void *run;

    kv->fd = -1;
    cpu->accel = kv;
    do {
        kv->fd = ioctl(s->vm_fd, KVM_CREATE_VCPU, (unsigned long)cpu->apic_id);
    } while (kv->fd < 0 && errno == EINTR);
    if (kv->fd < 0) {
        set_error_errno(err, errno, "KVM_CREATE_VCPU %u", cpu->index);
        goto fail;
    }
    if (fcntl(kv->fd, F_SETFD, FD_CLOEXEC) < 0) {
        set_error_errno(err, errno, "fcntl(vcpu fd)");
        goto fail;
    }
    run = mmap(NULL, s->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, kv->fd, 0);
    if (run == MAP_FAILED) {
        set_error_errno(err, errno, "mmap of vcpu %u kvm_run", cpu->index);
        goto fail;
    }
    kv->run = run;
    kv->run_size = s->vcpu_mmap_size;
    if (!kvm_x86_vcpu_init(cpu, err)) {
        goto fail;
    }
    s->nr_vcpus++;
    return true;

fail:
    kvm_vcpu_release(cpu, kv);
    return false;
}

static void kvm_vcpu_destroy(Vcpu *cpu)
{
    KvmState *s = kvm_state(cpu->machine);
    KvmVcpu *kv = kvm_vcpu(cpu);

    if (!kv) {
        return;
    }
    if (s && s->nr_vcpus > 0 && --s->nr_vcpus == 0) {
        s->dying = true;
    }
    kvm_vcpu_release(cpu, kv);
}

static bool kvm_vcpu_reset(Vcpu *cpu, const X86BootState *boot, GError **err)
{
    return kvm_x86_vcpu_reset(cpu, boot, err);
}

static void kvm_vcpu_kick(Vcpu *cpu)
{
    KvmVcpu *kv = kvm_vcpu(cpu);

    if (!kv) {
        return;
    }
    __atomic_store_n(&cpu->kick_pending, true, __ATOMIC_SEQ_CST);
    __atomic_store_n(&kv->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&kv->thread_valid, __ATOMIC_SEQ_CST)) {
        pthread_kill(kv->thread, KVM_KICK_SIGNAL);
    }
}

/*
 * Forget any kick, on the way back to cpus.c only: it re-checks the
 * stop/exit/shutdown flags under the machine lock, and every kicker sets its
 * flag under that lock before kicking, so clearing here loses nothing.
 * Both fields are cleared unconditionally. A kick racing with this can leave
 * either one set again: a leftover kick_pending costs one spurious return, a
 * leftover immediate_exit one KVM_RUN that fails at once with EINTR, which
 * comes back here. (Clearing immediate_exit only when kick_pending was seen
 * set, as before, could leave immediate_exit=1 with kick_pending=0 after two
 * close kicks: then every KVM_RUN failed with EINTR and the vCPU spun forever
 * without running the guest. tests/unit/test-kvm.c /kvm/stale-kick-state.)
 */
static void clear_kick(Vcpu *cpu, KvmVcpu *kv)
{
    __atomic_store_n(&cpu->kick_pending, false, __ATOMIC_SEQ_CST);
    __atomic_store_n(&kv->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

static const char *exit_reason_name(uint32_t reason)
{
    switch (reason) {
    case KVM_EXIT_UNKNOWN: return "KVM_EXIT_UNKNOWN";
    case KVM_EXIT_EXCEPTION: return "KVM_EXIT_EXCEPTION";
    case KVM_EXIT_IO: return "KVM_EXIT_IO";
    case KVM_EXIT_HYPERCALL: return "KVM_EXIT_HYPERCALL";
    case KVM_EXIT_DEBUG: return "KVM_EXIT_DEBUG";
    case KVM_EXIT_HLT: return "KVM_EXIT_HLT";
    case KVM_EXIT_MMIO: return "KVM_EXIT_MMIO";
    case KVM_EXIT_IRQ_WINDOW_OPEN: return "KVM_EXIT_IRQ_WINDOW_OPEN";
    case KVM_EXIT_SHUTDOWN: return "KVM_EXIT_SHUTDOWN";
    case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
    case KVM_EXIT_INTR: return "KVM_EXIT_INTR";
    case KVM_EXIT_SET_TPR: return "KVM_EXIT_SET_TPR";
    case KVM_EXIT_TPR_ACCESS: return "KVM_EXIT_TPR_ACCESS";
    case KVM_EXIT_NMI: return "KVM_EXIT_NMI";
    case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
    case KVM_EXIT_SYSTEM_EVENT: return "KVM_EXIT_SYSTEM_EVENT";
    case KVM_EXIT_IOAPIC_EOI: return "KVM_EXIT_IOAPIC_EOI";
    case KVM_EXIT_X86_RDMSR: return "KVM_EXIT_X86_RDMSR";
    case KVM_EXIT_X86_WRMSR: return "KVM_EXIT_X86_WRMSR";
    default: return "unknown";
    }
}

static const char *internal_suberror_name(uint32_t sub)
{
    switch (sub) {
    case KVM_INTERNAL_ERROR_EMULATION: return "emulation failure";
    case KVM_INTERNAL_ERROR_SIMUL_EX: return "simultaneous exceptions";
    case KVM_INTERNAL_ERROR_DELIVERY_EV: return "event delivery failure";
    case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: return "unexpected exit reason";
    default: return "unknown";
    }
}

/* A fatal exit: log everything, request an internal-error shutdown. */
static bool vcpu_fatal(Vcpu *cpu, const char *what)
{
    Machine *m = cpu->machine;

    kvm_x86_report_state(cpu, what, true);
    machine_lock(m);
    machine_request_shutdown(m, SHUTDOWN_INTERNAL_ERROR);
    machine_unlock(m);
    return false;
}

static void handle_io(Vcpu *cpu, struct kvm_run *run)
{
    Machine *m = cpu->machine;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    unsigned size = run->io.size;

    machine_lock(m);
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        if (run->io.direction == KVM_EXIT_IO_OUT) {
            if (!iobus_write(&m->pio, run->io.port, data, size)) {
                log_trace("vcpu %u: unassigned port write 0x%x size %u", cpu->index,
                          run->io.port, size);
            }
        } else {
            if (!iobus_read(&m->pio, run->io.port, data, size)) {
                log_trace("vcpu %u: unassigned port read 0x%x size %u", cpu->index,
                          run->io.port, size);
            }
        }
    }
    machine_unlock(m);
}

static void handle_mmio(Vcpu *cpu, struct kvm_run *run)
{
    Machine *m = cpu->machine;
    uint64_t addr = run->mmio.phys_addr;
    unsigned len = run->mmio.len;
    bool ok;

    machine_lock(m);
    if (run->mmio.is_write) {
        ok = iobus_write(&m->mmio, addr, run->mmio.data, len);
    } else {
        ok = iobus_read(&m->mmio, addr, run->mmio.data, len);
    }
    machine_unlock(m);
    if (!ok) {
        log_trace("vcpu %u: unassigned MMIO %s 0x%" G_GINT64_MODIFIER "x size %u",
                  cpu->index, run->mmio.is_write ? "write" : "read", (guint64)addr, len);
    }
}

static void request_shutdown(Vcpu *cpu, ShutdownReason reason)
{
    Machine *m = cpu->machine;

    machine_lock(m);
    machine_request_shutdown(m, reason);
    machine_unlock(m);
}

static bool kvm_vcpu_run(Vcpu *cpu)
{
    KvmVcpu *kv = kvm_vcpu(cpu);
    struct kvm_run *run = kv->run;
    char what[256];

    /* cpu->tid is recorded by cpus.c when the thread starts (before -S 'cont'). */
    if (!kv->tid_recorded) {
        sigset_t kick;

        /* main() blocks the kick signal in every thread but vCPU threads. */
        sigemptyset(&kick);
        sigaddset(&kick, KVM_KICK_SIGNAL);
        pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
        kv->tid_recorded = true;
        kv->thread = pthread_self();
        __atomic_store_n(&kv->thread_valid, 1, __ATOMIC_SEQ_CST);
    }

    for (;;) {
        int r;

        /* Kicked while handling the previous exit (or before this call)? */
        if (__atomic_load_n(&cpu->kick_pending, __ATOMIC_SEQ_CST)) {
            clear_kick(cpu, kv);
            return true;
        }
        r = ioctl(kv->fd, KVM_RUN, 0);
        if (r < 0) {
            int e = errno;

            if (e == EINTR || e == EAGAIN) {
                clear_kick(cpu, kv);
                return true;
            }
            snprintf(what, sizeof(what), "KVM_RUN failed: %s", g_strerror(e));
            return vcpu_fatal(cpu, what);
        }

        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            handle_io(cpu, run);
            break;
        case KVM_EXIT_MMIO:
            handle_mmio(cpu, run);
            break;
        case KVM_EXIT_INTR:
            clear_kick(cpu, kv);
            return true;
        case KVM_EXIT_SHUTDOWN:
            /*
             * Triple fault. microvm has no i8042 nor ACPI reset, so this is how
             * a Linux guest reboots (reboot=k ends here) and how a broken guest
             * dies. As StratoVirt (stratovirt-reference.md §1.7/§1.9) the VM
             * ends with SHUTDOWN {"guest":true,"reason":"guest-shutdown"}.
             */
            kvm_x86_report_state(cpu, "KVM_EXIT_SHUTDOWN (triple fault): guest shutdown",
                                 false);
            request_shutdown(cpu, SHUTDOWN_GUEST_SHUTDOWN);
            return true;
        case KVM_EXIT_HLT:
            /*
             * Only seen without an in-kernel LAPIC (never with ours): a halt
             * the kernel did not handle means nothing can wake the vCPU, so
             * it is the guest's way of stopping for good: guest shutdown.
             */
            log_info("vcpu %u: halted (KVM_EXIT_HLT), treating as guest shutdown",
                     cpu->index);
            request_shutdown(cpu, SHUTDOWN_GUEST_SHUTDOWN);
            return true;
        case KVM_EXIT_SYSTEM_EVENT:
            switch (run->system_event.type) {
            case KVM_SYSTEM_EVENT_SHUTDOWN:
                log_info("vcpu %u: system event: shutdown", cpu->index);
                request_shutdown(cpu, SHUTDOWN_GUEST_SHUTDOWN);
                return true;
            case KVM_SYSTEM_EVENT_RESET:
                log_info("vcpu %u: system event: reset", cpu->index);
                request_shutdown(cpu, SHUTDOWN_GUEST_RESET);
                return true;
            case KVM_SYSTEM_EVENT_CRASH:
                return vcpu_fatal(cpu, "system event: guest crash");
            default:
                snprintf(what, sizeof(what), "unhandled system event %u",
                         run->system_event.type);
                return vcpu_fatal(cpu, what);
            }
        case KVM_EXIT_INTERNAL_ERROR: {
            GString *s = g_string_new(NULL);

            g_string_printf(s, "KVM internal error %u (%s)", run->internal.suberror,
                            internal_suberror_name(run->internal.suberror));
            if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
                run->emulation_failure.ndata >= 3 &&
                (run->emulation_failure.flags &
                 KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
                unsigned n = MIN(run->emulation_failure.insn_size,
                                 sizeof(run->emulation_failure.insn_bytes));

                g_string_append(s, ", instruction bytes:");
                for (unsigned i = 0; i < n; i++) {
                    g_string_append_printf(s, " %02x",
                                           run->emulation_failure.insn_bytes[i]);
                }
            } else if (run->internal.ndata) {
                g_string_append(s, ", data:");
                for (uint32_t i = 0; i < run->internal.ndata &&
                                     i < G_N_ELEMENTS(run->internal.data); i++) {
                    g_string_append_printf(s, " 0x%" G_GINT64_MODIFIER "x",
                                           (guint64)run->internal.data[i]);
                }
            }
            snprintf(what, sizeof(what), "%s", s->str);
            g_string_free(s, TRUE);
            return vcpu_fatal(cpu, what);
        }
        case KVM_EXIT_FAIL_ENTRY:
            snprintf(what, sizeof(what),
                     "KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x%"
                     G_GINT64_MODIFIER "x on cpu %u",
                     (guint64)run->fail_entry.hardware_entry_failure_reason,
                     run->fail_entry.cpu);
            return vcpu_fatal(cpu, what);
        case KVM_EXIT_UNKNOWN:
            snprintf(what, sizeof(what),
                     "KVM_EXIT_UNKNOWN: hardware exit reason 0x%" G_GINT64_MODIFIER "x",
                     (guint64)run->hw.hardware_exit_reason);
            return vcpu_fatal(cpu, what);
        default:
            snprintf(what, sizeof(what), "unhandled exit reason %u (%s)",
                     run->exit_reason, exit_reason_name(run->exit_reason));
            return vcpu_fatal(cpu, what);
        }
    }
}

static void kvm_set_irq(Machine *m, unsigned gsi, bool level)
{
    KvmState *s = kvm_state(m);
    struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };

    if (ioctl(s->vm_fd, KVM_IRQ_LINE, &irq) < 0) {
        log_warn("KVM_IRQ_LINE gsi %u level %d: %s", gsi, irq.level, g_strerror(errno));
    }
}

/*
 * A VM ioctl, so the main thread needs no vCPU thread's help: an MSI
 * message to physical destination 0xFF (broadcast) in NMI delivery mode.
 */
static void kvm_inject_nmi(Machine *m)
{
    KvmState *s = kvm_state(m);
    struct kvm_msi msi = { .address_lo = 0xfee00000u | (0xffu << 12), .data = 4u << 8 };

    if (ioctl(s->vm_fd, KVM_SIGNAL_MSI, &msi) < 0) {
        log_warn("KVM_SIGNAL_MSI (NMI broadcast): %s", g_strerror(errno));
    }
}

static void kvm_send_msi(Machine *m, uint64_t addr, uint32_t data)
{
    KvmState *s = kvm_state(m);
    struct kvm_msi msi = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32),
                           .data = data };

    if (ioctl(s->vm_fd, KVM_SIGNAL_MSI, &msi) < 0) {
        log_warn("KVM_SIGNAL_MSI: %s", g_strerror(errno));
    }
}

static bool kvm_add_irqfd(Machine *m, unsigned gsi, int fd, GError **err)
{
    KvmState *s = kvm_state(m);
    struct kvm_irqfd irqfd = { .fd = fd, .gsi = gsi };

    if (fd_ioctl(s->vm_fd, KVM_IRQFD, &irqfd) < 0) {
        set_error_errno(err, errno, "KVM_IRQFD gsi %u", gsi);
        return false;
    }
    return true;
}

/*
 * While the VM is dying (all vCPUs destroyed, machine teardown) deassigning
 * is pointless: closing the VM fd releases every irqfd and ioeventfd, and KVM
 * holds its own reference to each eventfd, so the device may close its fd
 * right away. It is also slow: each deassign waits for an SRCU grace period
 * (and an irqfd one also flushes KVM's irqfd workqueue): measured here 0.1 ms
 * each on an idle host and up to 40 ms in total for the microvm's devices
 * under load, on the stop->exit path.
 */
static void kvm_remove_irqfd(Machine *m, unsigned gsi, int fd)
{
    KvmState *s = kvm_state(m);
    struct kvm_irqfd irqfd = { .fd = fd, .gsi = gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN };

    if (s->dying) {
        return;
    }
    if (fd_ioctl(s->vm_fd, KVM_IRQFD, &irqfd) < 0) {
        log_warn("KVM_IRQFD deassign gsi %u: %s", gsi, g_strerror(errno));
    }
}

static void fill_ioeventfd(struct kvm_ioeventfd *e, bool pio, uint64_t addr,
                           unsigned size, bool datamatch, uint64_t data, int fd)
{
    memset(e, 0, sizeof(*e));
    e->addr = addr;
    e->len = size;
    e->fd = fd;
    if (pio) {
        e->flags |= KVM_IOEVENTFD_FLAG_PIO;
    }
    if (datamatch) {
        e->flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
        e->datamatch = data;
    }
}

static bool kvm_add_ioeventfd(Machine *m, bool pio, uint64_t addr, unsigned size,
                              bool datamatch, uint64_t data, int fd, GError **err)
{
    KvmState *s = kvm_state(m);
    struct kvm_ioeventfd e;

    fill_ioeventfd(&e, pio, addr, size, datamatch, data, fd);
    if (fd_ioctl(s->vm_fd, KVM_IOEVENTFD, &e) < 0) {
        set_error_errno(err, errno,
                        "KVM_IOEVENTFD %s 0x%" G_GINT64_MODIFIER "x size %u",
                        pio ? "pio" : "mmio", (guint64)addr, size);
        return false;
    }
    return true;
}

static void kvm_remove_ioeventfd(Machine *m, bool pio, uint64_t addr, unsigned size,
                                 bool datamatch, uint64_t data, int fd)
{
    KvmState *s = kvm_state(m);
    struct kvm_ioeventfd e;

    if (s->dying) {
        return;     /* see kvm_remove_irqfd */
    }
    fill_ioeventfd(&e, pio, addr, size, datamatch, data, fd);
    e.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
    if (fd_ioctl(s->vm_fd, KVM_IOEVENTFD, &e) < 0) {
        log_warn("KVM_IOEVENTFD deassign %s 0x%" G_GINT64_MODIFIER "x: %s",
                 pio ? "pio" : "mmio", (guint64)addr, g_strerror(errno));
    }
}

/* The whole routing table to KVM: it replaces, never adds. */
static bool commit_routes(KvmState *s, GError **err)
{
    g_autofree struct kvm_irq_routing *t = kvm_routes_encode(s->routes);

    if (fd_ioctl(s->vm_fd, KVM_SET_GSI_ROUTING, t) < 0) {
        set_error_errno(err, errno, "KVM_SET_GSI_ROUTING (%u entries)", t->nr);
        return false;
    }
    return true;
}

static int kvm_add_msi_route(Machine *m, uint64_t addr, uint32_t data, GError **err)
{
    KvmState *s = kvm_state(m);
    int gsi;

    if (!s->routes) {
        s->routes = g_new0(KvmRoutes, 1);
    }
    gsi = kvm_routes_add(s->routes, addr, data);
    if (gsi < 0) {
        set_error(err, "no free MSI route (%u in use)", KVM_ROUTES_MAX_MSI);
        return -1;
    }
    if (!commit_routes(s, err)) {
        kvm_routes_remove(s->routes, (unsigned)gsi);
        return -1;
    }
    return gsi;
}

static bool kvm_update_msi_route(Machine *m, unsigned gsi, uint64_t addr, uint32_t data,
                                 GError **err)
{
    KvmState *s = kvm_state(m);

    return !s->routes || !kvm_routes_update(s->routes, gsi, addr, data) ||
           commit_routes(s, err);
}

static void kvm_remove_msi_route(Machine *m, unsigned gsi)
{
    KvmState *s = kvm_state(m);
    g_autoptr(GError) err = NULL;

    if (!s->routes || !kvm_routes_remove(s->routes, gsi) || s->dying) {
        return;     /* a dying VM's table goes with it (see kvm_remove_irqfd) */
    }
    if (!commit_routes(s, &err)) {
        log_warn("%s", err->message);
    }
}

const AccelOps kvm_accel_ops = {
    .name = "kvm",
    .seccomp_needs = SECCOMP_NEED_KVM,
    .init = kvm_init,
    .destroy = kvm_destroy,
    .map_ram = kvm_map_ram,
    .vcpu_init = kvm_vcpu_init,
    .vcpu_reset = kvm_vcpu_reset,
    .vcpu_run = kvm_vcpu_run,
    .vcpu_kick = kvm_vcpu_kick,
    .vcpu_destroy = kvm_vcpu_destroy,
    .vcpu_get_state = kvm_x86_vcpu_get_state,
    .vcpu_set_state = kvm_x86_vcpu_set_state,
    .vm_get_state = kvm_vm_get_state,
    .vm_set_state = kvm_vm_set_state,
    .dirty_log_start = kvm_dirty_log_start,
    .dirty_log_sync = kvm_dirty_log_sync,
    .dirty_log_stop = kvm_dirty_log_stop,
    .set_irq = kvm_set_irq,
    .inject_nmi = kvm_inject_nmi,
    .send_msi = kvm_send_msi,
    .add_irqfd = kvm_add_irqfd,
    .remove_irqfd = kvm_remove_irqfd,
    .add_ioeventfd = kvm_add_ioeventfd,
    .remove_ioeventfd = kvm_remove_ioeventfd,
    .add_msi_route = kvm_add_msi_route,
    .update_msi_route = kvm_update_msi_route,
    .remove_msi_route = kvm_remove_msi_route,
};
