/*
 * KVM accelerator and vCPU thread tests against the real /dev/kvm.
 *
 * A minimal Machine is built by hand (no machine.c): RAM from memory.c, the
 * two IoBus, the KVM accel ops and cpus.c. The few machine.c functions the
 * accelerator calls (lock/unlock, shutdown request) are provided here. Guest
 * code is a handful of hand-assembled 64-bit instructions entered directly in
 * long mode with the reference boot layout (GDT 0x500, page tables 0x9000..).
 * CPL0 guest code is emulated on the development hosts, so guests stay tiny.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "accel/accel.h"
#include "accel/kvm-internal.h"
#include "cpus.h"
#include "hw/x86/loader.h"
#include "machine.h"
#include "memory.h"
#include "util/log.h"
#include "kvm-test-vm.h"

#define CODE_ADDR       KVM_TEST_CODE_ADDR
#define RESULT_ADDR     0x200000ULL
#define TEST_PORT       0x510        /* data port (r/w) */
#define DONE_PORT       0x511        /* guest says "done" / "spinning" */
#define TEST_MMIO       0x10000000ULL
#define EVT_PORT        0x600
#define EVT_MMIO        0x10001000ULL
#define WAIT_US         (20 * G_USEC_PER_SEC)

/* ---- machine.c functions the accelerator and cpus.c use ---- */

static GCond test_cond;              /* any event the tests wait for */

void machine_lock(Machine *m)
{
    g_mutex_lock(&m->lock);
}

void machine_unlock(Machine *m)
{
    g_mutex_unlock(&m->lock);
}

void machine_request_shutdown(Machine *m, ShutdownReason reason)
{
    if (m->shutdown_request == SHUTDOWN_NONE) {
        m->shutdown_request = reason;
    }
    g_cond_broadcast(&test_cond);
}

/* ---- guest code (see the assembly in the comments) ---- */

/* io_test: PIO out/in, MMIO write/read, store result, say done, ud2. */
static const uint8_t guest_io[] = {
    0x66, 0xba, 0x10, 0x05,                         /* mov $0x510,%dx */
    0xb8, 0xcd, 0xab, 0x00, 0x00,                   /* mov $0xabcd,%eax */
    0xef,                                           /* out %eax,(%dx) */
    0xed,                                           /* in (%dx),%eax */
    0xb9, 0x00, 0x00, 0x00, 0x10,                   /* mov $0x10000000,%ecx */
    0x89, 0x01,                                     /* mov %eax,(%rcx) */
    0x48, 0x8b, 0x41, 0x08,                         /* mov 0x8(%rcx),%rax */
    0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, /* mov %rax,0x200000 */
    0x66, 0xba, 0x11, 0x05,                         /* mov $0x511,%dx */
    0xee,                                           /* out %al,(%dx) */
    0x0f, 0x0b,                                     /* ud2 -> triple fault */
};

/* fatal_test: a software interrupt at CPL0 with an empty IDT. */
static const uint8_t guest_int[] = {
    0xcd, 0x80,                                     /* int $0x80 */
    0xeb, 0xfe,                                     /* jmp . */
};

/* spin_test: say spinning, then increment a RAM counter forever. */
static const uint8_t guest_spin[] = {
    0x66, 0xba, 0x11, 0x05,                         /* mov $0x511,%dx */
    0xee,                                           /* out %al,(%dx) */
    0x48, 0xff, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, /* 1: incq 0x200000 */
    0xeb, 0xf6,                                     /* jmp 1b */
};

/* io_loop_test: forever { PIO write to 0x510; incq 0x200000 } (an exit per iteration). */
static const uint8_t guest_io_loop[] = {
    0x66, 0xba, 0x10, 0x05,                         /* 1: mov $0x510,%dx */
    0xee,                                           /* out %al,(%dx) */
    0x48, 0xff, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, /* incq 0x200000 */
    0xeb, 0xf1,                                     /* jmp 1b */
};

/* evt_test: PIO write 0x42 to 0x600, MMIO write 7 to 0x10001000, done, spin. */
static const uint8_t guest_evt[] = {
    0x66, 0xba, 0x00, 0x06,                         /* mov $0x600,%dx */
    0xb0, 0x42,                                     /* mov $0x42,%al */
    0xee,                                           /* out %al,(%dx) */
    0xb9, 0x00, 0x10, 0x00, 0x10,                   /* mov $0x10001000,%ecx */
    0xc7, 0x01, 0x07, 0x00, 0x00, 0x00,             /* movl $0x7,(%rcx) */
    0x66, 0xba, 0x11, 0x05,                         /* mov $0x511,%dx */
    0xee,                                           /* out %al,(%dx) */
    0xeb, 0xfe,                                     /* 2: jmp 2b */
};

/*
 * smp_test (BSP, 64-bit): enable the LAPIC, send INIT then SIPI (vector 0x10)
 * to APIC 1, say done, halt. The AP's real-mode trampoline at 0x10000 writes
 * port 0x512 and halts.
 */
static const uint8_t guest_smp_bsp[] = {
    0xbb, 0x00, 0x00, 0xe0, 0xfe,                   /* mov $0xfee00000,%ebx */
    0xc7, 0x83, 0xf0, 0x00, 0x00, 0x00, 0xff, 0x01, 0x00, 0x00, /* SVR = 0x1ff */
    0xc7, 0x83, 0x10, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* ICR hi = 1<<24 */
    0xc7, 0x83, 0x00, 0x03, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, /* ICR lo: INIT */
    0xc7, 0x83, 0x10, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* ICR hi = 1<<24 */
    0xc7, 0x83, 0x00, 0x03, 0x00, 0x00, 0x10, 0x46, 0x00, 0x00, /* ICR lo: SIPI 0x10 */
    0x66, 0xba, 0x11, 0x05,                         /* mov $0x511,%dx */
    0xee,                                           /* out %al,(%dx) */
    0xf4,                                           /* 1: hlt */
    0xeb, 0xfd,                                     /* jmp 1b */
};

#define AP_TRAMPOLINE   0x10000ULL
static const uint8_t guest_smp_ap[] = {
    0xba, 0x12, 0x05,                               /* mov $0x512,%dx (16-bit) */
    0xee,                                           /* out %al,(%dx) */
    0xf4,                                           /* 1: hlt */
    0xeb, 0xfd,                                     /* jmp 1b */
};

/* ---- the test machine ---- */

typedef struct TestVm {
    Machine *m;
    StratusConfig cfg;
    X86BootState boot;
    /* device observations, under m->lock */
    unsigned pio_writes, pio_reads, done_count, ap_count;
    uint64_t pio_last_value;
    unsigned pio_last_size;
    unsigned mmio_writes, mmio_reads;
    uint64_t mmio_last_value, mmio_last_offset;
    unsigned mmio_last_size;
    unsigned evt_pio_hits, evt_mmio_hits;
    /* When nonzero: the vCPU requests a guest shutdown at this pio_writes count. */
    unsigned shutdown_at;
} TestVm;

static uint64_t test_pio_read(void *opaque, uint64_t offset, unsigned size)
{
    TestVm *vm = opaque;

    vm->pio_reads++;
    g_cond_broadcast(&test_cond);
    return offset == 0 ? 0x11223344 : 0;
}

static void test_pio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    TestVm *vm = opaque;

    if (offset == DONE_PORT - TEST_PORT) {
        vm->done_count++;
    } else if (offset == 2) {
        vm->ap_count++;
    } else {
        vm->pio_writes++;
        vm->pio_last_value = value;
        vm->pio_last_size = size;
        if (vm->shutdown_at && vm->pio_writes == vm->shutdown_at) {
            /* As the PM device does: from the vCPU thread, lock held. */
            machine_request_shutdown(vm->m, SHUTDOWN_GUEST_SHUTDOWN);
        }
    }
    g_cond_broadcast(&test_cond);
}

static const IoRegionOps test_pio_ops = {
    .read = test_pio_read,
    .write = test_pio_write,
};

static uint64_t test_mmio_read(void *opaque, uint64_t offset, unsigned size)
{
    TestVm *vm = opaque;

    vm->mmio_reads++;
    vm->mmio_last_offset = offset;
    vm->mmio_last_size = size;
    g_cond_broadcast(&test_cond);
    return offset == 8 ? 0x5566778899aabbccULL : 0;
}

static void test_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    TestVm *vm = opaque;

    vm->mmio_writes++;
    vm->mmio_last_offset = offset;
    vm->mmio_last_value = value;
    vm->mmio_last_size = size;
    g_cond_broadcast(&test_cond);
}

static const IoRegionOps test_mmio_ops = {
    .read = test_mmio_read,
    .write = test_mmio_write,
};

static uint64_t evt_read(void *opaque, uint64_t offset, unsigned size)
{
    return 0;
}

static void evt_pio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    ((TestVm *)opaque)->evt_pio_hits++;
}

static void evt_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    ((TestVm *)opaque)->evt_mmio_hits++;
}

static const IoRegionOps evt_pio_ops = { .read = evt_read, .write = evt_pio_write };
static const IoRegionOps evt_mmio_ops = { .read = evt_read, .write = evt_mmio_write };

static void reset_all(TestVm *vm)
{
    kvm_test_reset_all(vm->m, &vm->boot);
}

static TestVm *vm_new(unsigned ncpus, const uint8_t *code, size_t len)
{
    TestVm *vm = g_new0(TestVm, 1);
    Machine *m = kvm_test_machine_new(&vm->cfg, ncpus);
    uint64_t zero = 0;
    GError *err = NULL;

    vm->m = m;
    g_assert_true(iobus_add(&m->pio, TEST_PORT, 0x10, &test_pio_ops, vm, "test-pio", &err));
    g_assert_true(iobus_add(&m->mmio, TEST_MMIO, 0x1000, &test_mmio_ops, vm, "test-mmio",
                            &err));
    g_assert_true(iobus_add(&m->pio, EVT_PORT, 1, &evt_pio_ops, vm, "evt-pio", &err));
    g_assert_true(iobus_add(&m->mmio, EVT_MMIO, 4, &evt_mmio_ops, vm, "evt-mmio", &err));
    g_assert_no_error(err);

    kvm_test_boot_layout(&m->ram, code, len, &vm->boot);
    g_assert_true(guest_ram_write(&m->ram, RESULT_ADDR, &zero, 8));
    kvm_test_cpus_create(m, &vm->boot);
    return vm;
}

static void vm_start(TestVm *vm)
{
    GError *err = NULL;

    machine_lock(vm->m);
    g_assert_true(cpus_start_threads(vm->m, &err));
    g_assert_no_error(err);
    cpus_resume_all(vm->m);
    machine_unlock(vm->m);
}

static void vm_free(TestVm *vm)
{
    kvm_test_machine_free(vm->m);
    g_free(vm);
}

/* Lock held. Waits until *counter >= target; false on timeout. */
static bool wait_count(TestVm *vm, const unsigned *counter, unsigned target)
{
    gint64 deadline = g_get_monotonic_time() + WAIT_US;

    while (*counter < target) {
        if (!g_cond_wait_until(&test_cond, &vm->m->lock, deadline)) {
            return *counter >= target;
        }
    }
    return true;
}

static bool wait_shutdown(TestVm *vm)
{
    gint64 deadline = g_get_monotonic_time() + WAIT_US;

    while (vm->m->shutdown_request == SHUTDOWN_NONE) {
        if (!g_cond_wait_until(&test_cond, &vm->m->lock, deadline)) {
            break;
        }
    }
    return vm->m->shutdown_request != SHUTDOWN_NONE;
}

static uint64_t read_result(TestVm *vm)
{
    uint64_t v = 0;

    g_assert_true(guest_ram_read(&vm->m->ram, RESULT_ADDR, &v, sizeof(v)));
    return v;
}

static uint64_t read_counter(TestVm *vm)
{
    volatile uint64_t *p = guest_ram_ptr(&vm->m->ram, RESULT_ADDR, 8);

    return *p;
}

/* ---- tests ---- */

static void test_io_dispatch_and_triple_fault(void)
{
    TestVm *vm;
    Vcpu *cpu;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = vm_new(1, guest_io, sizeof(guest_io));
    cpu = g_ptr_array_index(vm->m->vcpus, 0);
    vm_start(vm);

    machine_lock(vm->m);
    g_assert_true(wait_shutdown(vm));
    /* PIO: 4-byte out of 0xabcd, then a 4-byte in. */
    g_assert_cmpuint(vm->pio_writes, ==, 1);
    g_assert_cmphex(vm->pio_last_value, ==, 0xabcd);
    g_assert_cmpuint(vm->pio_last_size, ==, 4);
    g_assert_cmpuint(vm->pio_reads, ==, 1);
    /* MMIO: the value read from the port written at offset 0, then an 8-byte read. */
    g_assert_cmpuint(vm->mmio_writes, ==, 1);
    g_assert_cmphex(vm->mmio_last_value, ==, 0x11223344);
    g_assert_cmpuint(vm->mmio_reads, ==, 1);
    g_assert_cmphex(vm->mmio_last_offset, ==, 8);
    g_assert_cmpuint(vm->mmio_last_size, ==, 8);
    g_assert_cmpuint(vm->done_count, ==, 1);
    /* ud2 with an empty IDT: triple fault -> guest shutdown (StratoVirt semantics). */
    g_assert_cmpint(vm->m->shutdown_request, ==, SHUTDOWN_GUEST_SHUTDOWN);
    g_assert_cmpint(cpu->tid, >, 0);
    machine_unlock(vm->m);
    g_assert_cmphex(read_result(vm), ==, 0x5566778899aabbccULL);

    /* The vCPU parks after the shutdown request: pause completes. */
    machine_lock(vm->m);
    cpus_pause_all(vm->m);
    g_assert_true(cpu->stopped);

    /* A reset puts the used vCPU back at the entry point: it runs again. */
    vm->m->shutdown_request = SHUTDOWN_NONE;
    reset_all(vm);
    cpus_resume_all(vm->m);
    g_assert_true(wait_shutdown(vm));
    g_assert_cmpuint(vm->pio_writes, ==, 2);
    g_assert_cmpuint(vm->done_count, ==, 2);
    machine_unlock(vm->m);
    vm_free(vm);
}

/*
 * A guest that dies: on this project's hosts `int` at CPL0 is an emulation
 * failure (KVM_EXIT_INTERNAL_ERROR -> internal-error shutdown, registers on
 * stderr); on native KVM it is a triple fault (guest shutdown). Either way the
 * vCPU stops and parks.
 */
static void test_guest_dies(void)
{
    TestVm *vm;
    Vcpu *cpu;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = vm_new(1, guest_int, sizeof(guest_int));
    cpu = g_ptr_array_index(vm->m->vcpus, 0);
    vm_start(vm);
    machine_lock(vm->m);
    g_assert_true(wait_shutdown(vm));
    g_test_message("int $0x80 at CPL0 -> shutdown reason %d", vm->m->shutdown_request);
    g_assert_true(vm->m->shutdown_request == SHUTDOWN_INTERNAL_ERROR ||
                  vm->m->shutdown_request == SHUTDOWN_GUEST_SHUTDOWN);
    cpus_pause_all(vm->m);
    g_assert_true(cpu->stopped);
    machine_unlock(vm->m);
    vm_free(vm);
}

static void test_pause_resume(void)
{
    TestVm *vm;
    Vcpu *ap;
    struct kvm_mp_state mp;
    uint64_t c1, c2, c3;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = vm_new(2, guest_spin, sizeof(guest_spin));
    ap = g_ptr_array_index(vm->m->vcpus, 1);
    /* The AP waits for INIT/SIPI in the kernel. */
    g_assert_cmpint(ioctl(kvm_vcpu(ap)->fd, KVM_GET_MP_STATE, &mp), ==, 0);
    g_assert_cmpuint(mp.mp_state, ==, KVM_MP_STATE_UNINITIALIZED);
    vm_start(vm);

    machine_lock(vm->m);
    g_assert_true(wait_count(vm, &vm->done_count, 1));
    machine_unlock(vm->m);
    while (read_counter(vm) < 1000) {
        g_usleep(1000);
    }

    for (int round = 0; round < 3; round++) {
        machine_lock(vm->m);
        cpus_pause_all(vm->m);
        for (guint i = 0; i < vm->m->vcpus->len; i++) {
            Vcpu *cpu = g_ptr_array_index(vm->m->vcpus, i);

            g_assert_true(cpu->stopped);
        }
        machine_unlock(vm->m);
        c1 = read_counter(vm);
        g_usleep(50 * 1000);
        c2 = read_counter(vm);
        g_assert_cmpuint(c1, ==, c2);       /* paused: the guest does not run */

        machine_lock(vm->m);
        cpus_resume_all(vm->m);
        machine_unlock(vm->m);
        for (int i = 0; i < 2000 && (c3 = read_counter(vm)) == c2; i++) {
            g_usleep(1000);
        }
        g_assert_cmpuint(c3, >, c2);        /* resumed: it runs again */
    }
    g_assert_cmpint(vm->m->shutdown_request, ==, SHUTDOWN_NONE);
    /*
     * The AP never got INIT: still waiting. (vCPU ioctls block while the vCPU
     * is inside KVM_RUN, so look only while paused.)
     */
    machine_lock(vm->m);
    cpus_pause_all(vm->m);
    g_assert_cmpint(ioctl(kvm_vcpu(ap)->fd, KVM_GET_MP_STATE, &mp), ==, 0);
    g_assert_cmpuint(mp.mp_state, ==, KVM_MP_STATE_UNINITIALIZED);
    cpus_resume_all(vm->m);
    machine_unlock(vm->m);
    vm_free(vm);        /* stop_and_join kicks a running BSP and a blocked AP */
}

static void test_stop_while_running(void)
{
    TestVm *vm;

    if (!kvm_test_have_kvm()) {
        return;
    }
    /* Quit without pausing first, and with -S-style parked threads. */
    vm = vm_new(1, guest_spin, sizeof(guest_spin));
    vm_start(vm);
    machine_lock(vm->m);
    g_assert_true(wait_count(vm, &vm->done_count, 1));
    machine_unlock(vm->m);
    vm_free(vm);

    vm = vm_new(1, guest_spin, sizeof(guest_spin));
    machine_lock(vm->m);
    g_assert_true(cpus_start_threads(vm->m, NULL));
    cpus_pause_all(vm->m);          /* never resumed: returns at once */
    machine_unlock(vm->m);
    g_assert_cmpuint(read_counter(vm), ==, 0);
    vm_free(vm);
}

static bool pic_irr_bit(TestVm *vm, unsigned bit)
{
    struct kvm_irqchip chip;

    memset(&chip, 0, sizeof(chip));
    chip.chip_id = KVM_IRQCHIP_PIC_MASTER;
    g_assert_cmpint(ioctl(kvm_state(vm->m)->vm_fd, KVM_GET_IRQCHIP, &chip), ==, 0);
    return chip.chip.pic.irr & (1u << bit);
}

static void test_irq_and_irqfd(void)
{
    TestVm *vm;
    GError *err = NULL;
    int efd;
    uint64_t one = 1;
    bool seen = false;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = vm_new(1, guest_spin, sizeof(guest_spin));

    /* KVM_IRQ_LINE: an edge on GSI 6 latches in the (uninitialised) PIC's IRR. */
    g_assert_false(pic_irr_bit(vm, 6));
    kvm_accel_ops.set_irq(vm->m, 6, true);
    kvm_accel_ops.set_irq(vm->m, 6, false);
    g_assert_true(pic_irr_bit(vm, 6));

    /* irqfd on GSI 5: a write to the eventfd raises the line. */
    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    g_assert_cmpint(efd, >=, 0);
    g_assert_true(kvm_accel_ops.add_irqfd(vm->m, 5, efd, &err));
    g_assert_no_error(err);
    /* The same fd twice is refused by KVM. */
    g_assert_false(kvm_accel_ops.add_irqfd(vm->m, 5, efd, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_false(pic_irr_bit(vm, 5));
    g_assert_cmpint(write(efd, &one, sizeof(one)), ==, sizeof(one));
    for (int i = 0; i < 1000 && !(seen = pic_irr_bit(vm, 5)); i++) {
        g_usleep(1000);         /* irqfd injection is asynchronous */
    }
    g_assert_true(seen);
    kvm_accel_ops.remove_irqfd(vm->m, 5, efd);
    /* Deassigned: it can be assigned again. */
    g_assert_true(kvm_accel_ops.add_irqfd(vm->m, 5, efd, &err));
    g_assert_no_error(err);
    kvm_accel_ops.remove_irqfd(vm->m, 5, efd);
    close(efd);
    vm_free(vm);
}

static void test_ioeventfd(void)
{
    TestVm *vm;
    GError *err = NULL;
    int pio_fd, mmio_fd;
    uint64_t v = 0;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = vm_new(1, guest_evt, sizeof(guest_evt));
    pio_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    mmio_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    g_assert_cmpint(pio_fd, >=, 0);
    g_assert_cmpint(mmio_fd, >=, 0);

    g_assert_true(kvm_accel_ops.add_ioeventfd(vm->m, true, EVT_PORT, 1, true, 0x42,
                                              pio_fd, &err));
    g_assert_no_error(err);
    g_assert_true(kvm_accel_ops.add_ioeventfd(vm->m, false, EVT_MMIO, 4, false, 0,
                                              mmio_fd, &err));
    g_assert_no_error(err);
    /* Duplicate registration is refused (EEXIST). */
    g_assert_false(kvm_accel_ops.add_ioeventfd(vm->m, false, EVT_MMIO, 4, false, 0,
                                               mmio_fd, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);

    vm_start(vm);
    machine_lock(vm->m);
    g_assert_true(wait_count(vm, &vm->done_count, 1));
    /* Both writes were consumed by the kernel, not by the IoBus handlers. */
    g_assert_cmpuint(vm->evt_pio_hits, ==, 0);
    g_assert_cmpuint(vm->evt_mmio_hits, ==, 0);
    machine_unlock(vm->m);
    g_assert_cmpint(read(pio_fd, &v, sizeof(v)), ==, sizeof(v));
    g_assert_cmpuint(v, ==, 1);
    g_assert_cmpint(read(mmio_fd, &v, sizeof(v)), ==, sizeof(v));
    g_assert_cmpuint(v, ==, 1);

    kvm_accel_ops.remove_ioeventfd(vm->m, false, EVT_MMIO, 4, false, 0, mmio_fd);
    /* Removed: registering again works. */
    g_assert_true(kvm_accel_ops.add_ioeventfd(vm->m, false, EVT_MMIO, 4, false, 0,
                                              mmio_fd, &err));
    g_assert_no_error(err);
    kvm_accel_ops.remove_ioeventfd(vm->m, false, EVT_MMIO, 4, false, 0, mmio_fd);

    /* Without the ioeventfd, a run from reset reaches the IoBus handlers. */
    machine_lock(vm->m);
    cpus_pause_all(vm->m);
    kvm_accel_ops.remove_ioeventfd(vm->m, true, EVT_PORT, 1, true, 0x42, pio_fd);
    reset_all(vm);
    cpus_resume_all(vm->m);
    g_assert_true(wait_count(vm, &vm->done_count, 2));
    g_assert_cmpuint(vm->evt_pio_hits, ==, 1);
    g_assert_cmpuint(vm->evt_mmio_hits, ==, 1);
    machine_unlock(vm->m);

    close(pio_fd);
    close(mmio_fd);
    vm_free(vm);
}

static void test_smp_init_sipi(void)
{
    TestVm *vm;
    Vcpu *ap;
    struct kvm_mp_state mp;
    /* PDPT[3] -> PD at 0xc000 mapping the LAPIC page (2 MiB, PCD|PWT). */
    uint64_t pdpte3 = 0xc000 | 0x3, pde = 0xfee00000ULL | 0x83 | 0x18;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = vm_new(2, guest_smp_bsp, sizeof(guest_smp_bsp));
    ap = g_ptr_array_index(vm->m->vcpus, 1);
    g_assert_true(guest_ram_write(&vm->m->ram, BOOT_PDPT_ADDR + 3 * 8, &pdpte3, 8));
    g_assert_true(guest_ram_write(&vm->m->ram, 0xc000 + ((0xfee00000ULL >> 21) & 511) * 8,
                                  &pde, 8));
    g_assert_true(guest_ram_write(&vm->m->ram, AP_TRAMPOLINE, guest_smp_ap,
                                  sizeof(guest_smp_ap)));
    vm_start(vm);

    for (unsigned boot = 1; boot <= 2; boot++) {
        machine_lock(vm->m);
        g_assert_true(wait_count(vm, &vm->done_count, boot));
        g_assert_true(wait_count(vm, &vm->ap_count, boot));    /* the AP ran */
        /* Both vCPUs now sit in HLT in the kernel: the pause must kick them. */
        cpus_pause_all(vm->m);
        g_assert_cmpint(ioctl(kvm_vcpu(ap)->fd, KVM_GET_MP_STATE, &mp), ==, 0);
        g_assert_cmpuint(mp.mp_state, !=, KVM_MP_STATE_UNINITIALIZED);
        /* system_reset: the AP must be startable again by INIT/SIPI. */
        reset_all(vm);
        g_assert_cmpint(ioctl(kvm_vcpu(ap)->fd, KVM_GET_MP_STATE, &mp), ==, 0);
        g_assert_cmpuint(mp.mp_state, ==, KVM_MP_STATE_UNINITIALIZED);
        cpus_resume_all(vm->m);
        machine_unlock(vm->m);
    }
    machine_lock(vm->m);
    g_assert_true(wait_count(vm, &vm->ap_count, 3));
    g_assert_cmpint(vm->m->shutdown_request, ==, SHUTDOWN_NONE);
    machine_unlock(vm->m);
    vm_free(vm);
}

static void test_cpuid_and_lapic(void)
{
    TestVm *vm;
    Vcpu *cpu;
    struct kvm_lapic_state lapic;
    struct kvm_sregs sregs;
    struct kvm_regs regs;
    uint32_t lint0, lint1, id;
    g_autofree struct kvm_cpuid2 *c = NULL;
    bool seen_leaf1 = false, seen_b = false;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = vm_new(2, guest_spin, sizeof(guest_spin));
    for (guint n = 0; n < 2; n++) {
        cpu = g_ptr_array_index(vm->m->vcpus, n);
        g_assert_cmpint(ioctl(kvm_vcpu(cpu)->fd, KVM_GET_LAPIC, &lapic), ==, 0);
        memcpy(&lint0, &lapic.regs[0x350], 4);
        memcpy(&lint1, &lapic.regs[0x360], 4);
        memcpy(&id, &lapic.regs[0x20], 4);
        g_assert_cmphex((lint0 >> 8) & 7, ==, 7);   /* ExtINT */
        g_assert_cmphex((lint1 >> 8) & 7, ==, 4);   /* NMI */
        g_assert_cmphex(id >> 24, ==, n);

        c = g_malloc0(sizeof(*c) + 512 * sizeof(c->entries[0]));
        c->nent = 512;
        g_assert_cmpint(ioctl(kvm_vcpu(cpu)->fd, KVM_GET_CPUID2, c), ==, 0);
        for (uint32_t i = 0; i < c->nent; i++) {
            struct kvm_cpuid_entry2 *e = &c->entries[i];

            if (e->function == 1) {
                seen_leaf1 = true;
                g_assert_cmphex(e->ebx >> 24, ==, n);
                g_assert_cmphex((e->ebx >> 8) & 0xff, ==, 8);
                g_assert_cmphex((e->ebx >> 16) & 0xff, ==, 2);
                g_assert_true(e->ecx & (1u << 31));    /* hypervisor */
            } else if (e->function == 0xb) {
                seen_b = true;
                g_assert_cmpuint(e->edx, ==, n);
                if (e->index == 1) {
                    g_assert_cmpuint(e->ebx, ==, 2);
                    g_assert_cmpuint(e->eax, ==, 1);
                }
            } else if (e->function == 6) {
                g_assert_false(e->ecx & (1u << 3));
            }
        }
        g_clear_pointer(&c, g_free);
    }
    g_assert_true(seen_leaf1);
    g_assert_true(seen_b);

    /* BSP register state after reset matches the boot state. */
    cpu = g_ptr_array_index(vm->m->vcpus, 0);
    g_assert_cmpint(ioctl(kvm_vcpu(cpu)->fd, KVM_GET_SREGS, &sregs), ==, 0);
    g_assert_cmpint(ioctl(kvm_vcpu(cpu)->fd, KVM_GET_REGS, &regs), ==, 0);
    g_assert_cmphex(regs.rip, ==, CODE_ADDR);
    g_assert_cmphex(regs.rsp, ==, BOOT_STACK_ADDR);
    g_assert_cmphex(regs.rbp, ==, BOOT_STACK_ADDR);
    g_assert_cmphex(regs.rsi, ==, BOOT_ZERO_PAGE_ADDR);
    g_assert_cmphex(regs.rflags, ==, 2);
    g_assert_cmphex(sregs.cs.selector, ==, 0x10);
    g_assert_cmpuint(sregs.cs.l, ==, 1);
    g_assert_cmphex(sregs.ss.selector, ==, 0x18);
    g_assert_cmphex(sregs.cr3, ==, BOOT_PML4_ADDR);
    g_assert_true(sregs.efer & 0x500);
    g_assert_true(sregs.cr0 & 0x80000001);
    g_assert_cmphex(sregs.gdt.base, ==, BOOT_GDT_ADDR);
    g_assert_cmphex(sregs.apic_base & ~0xfffULL, ==, 0xfee00000ULL);
    g_assert_true(sregs.apic_base & (1u << 8));     /* BSP */
    vm_free(vm);
}

/* ---- concurrency: kicks, pause protocol, teardown ---- */

/* Lock held. Does the guest still make progress (a new PIO write within 5 s)? */
static bool guest_progresses(TestVm *vm)
{
    unsigned target = vm->pio_writes + 1;
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (vm->pio_writes < target) {
        if (!g_cond_wait_until(&test_cond, &vm->m->lock, deadline)) {
            return vm->pio_writes >= target;
        }
    }
    return true;
}

/*
 * A kick racing with the vCPU consuming an earlier kick can leave
 * run->immediate_exit set with kick_pending clear (kicker: kick_pending=1,
 * immediate_exit=1; vCPU: immediate_exit=0 ... kick_pending=0 interleaved).
 * Every KVM_RUN then fails with EINTR at once: the vCPU must clear it and
 * run the guest, not spin forever. Also the opposite leftover.
 */
static void test_stale_kick_state(void)
{
    TestVm *vm;
    Vcpu *cpu;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = vm_new(1, guest_io_loop, sizeof(guest_io_loop));
    cpu = g_ptr_array_index(vm->m->vcpus, 0);
    vm_start(vm);
    machine_lock(vm->m);
    g_assert_true(guest_progresses(vm));

    cpus_pause_all(vm->m);
    __atomic_store_n(&kvm_vcpu(cpu)->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&cpu->kick_pending, false, __ATOMIC_SEQ_CST);
    cpus_resume_all(vm->m);
    g_assert_true(guest_progresses(vm));

    cpus_pause_all(vm->m);
    __atomic_store_n(&kvm_vcpu(cpu)->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&cpu->kick_pending, true, __ATOMIC_SEQ_CST);
    cpus_resume_all(vm->m);
    g_assert_true(guest_progresses(vm));
    machine_unlock(vm->m);
    vm_free(vm);
}

/* A kick before the vCPU thread ever entered KVM_RUN is not lost, nor sticky. */
static void test_kick_before_run(void)
{
    TestVm *vm;
    Vcpu *cpu;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = vm_new(1, guest_io_loop, sizeof(guest_io_loop));
    cpu = g_ptr_array_index(vm->m->vcpus, 0);
    kvm_accel_ops.vcpu_kick(cpu);           /* no thread yet */
    vm_start(vm);
    machine_lock(vm->m);
    g_assert_true(guest_progresses(vm));
    /* Kick parked threads (they sleep in g_cond_wait): they must still resume. */
    cpus_pause_all(vm->m);
    for (int i = 0; i < 5; i++) {
        kvm_accel_ops.vcpu_kick(cpu);
    }
    cpus_resume_all(vm->m);
    g_assert_true(guest_progresses(vm));
    machine_unlock(vm->m);
    vm_free(vm);
}

typedef struct Kicker {
    TestVm *vm;
    gint stop;                                /* atomic */
    unsigned kicks;
} Kicker;

/* Spurious kicks at random moments, from a thread that is not the main one. */
static gpointer kicker_fn(gpointer opaque)
{
    Kicker *k = opaque;
    GRand *r = g_rand_new_with_seed(42);

    while (!g_atomic_int_get(&k->stop)) {
        Machine *m = k->vm->m;
        Vcpu *cpu = g_ptr_array_index(m->vcpus, g_rand_int_range(r, 0, m->vcpus->len));

        kvm_accel_ops.vcpu_kick(cpu);     /* "any thread": no lock needed */
        k->kicks++;
        g_usleep(g_rand_int_range(r, 0, 300));
    }
    g_rand_free(r);
    return NULL;
}

/*
 * Hammers stop/cont/system_reset (as machine.c does them: pause, reset the
 * vCPUs, resume), back-to-back stop/cont/stop, a vCPU requesting shutdown
 * while the main thread pauses, and random extra kicks, while the guest does
 * a PIO exit per loop iteration. After every step the guest must make
 * progress (no lost wakeup, no livelock) and must not run while paused.
 * Ends with cpus_stop_and_join while a vCPU is blocked in machine_lock, twice.
 */
static void test_stress_stop_cont_reset(void)
{
    TestVm *vm;
    Kicker k = { 0 };
    GThread *kt;
    GRand *r;
    gint64 end;
    unsigned steps = 0;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = vm_new(2, guest_io_loop, sizeof(guest_io_loop));
    vm_start(vm);
    k.vm = vm;
    kt = g_thread_new("kicker", kicker_fn, &k);
    r = g_rand_new_with_seed(7);
    end = g_get_monotonic_time() + 4 * G_USEC_PER_SEC;

    machine_lock(vm->m);
    g_assert_true(guest_progresses(vm));
    while (g_get_monotonic_time() < end) {
        unsigned op = steps++ % 5;
        uint64_t c1, c2;

        switch (op) {
        case 0:         /* stop ... cont, checking the guest is really stopped */
            cpus_pause_all(vm->m);
            for (guint i = 0; i < vm->m->vcpus->len; i++) {
                g_assert_true(((Vcpu *)g_ptr_array_index(vm->m->vcpus, i))->stopped);
            }
            c1 = read_counter(vm);
            machine_unlock(vm->m);
            g_usleep(g_rand_int_range(r, 0, 500));
            c2 = read_counter(vm);
            machine_lock(vm->m);
            g_assert_cmpuint(c1, ==, c2);
            cpus_resume_all(vm->m);
            break;
        case 1:         /* system_reset */
            cpus_pause_all(vm->m);
            reset_all(vm);
            cpus_resume_all(vm->m);
            break;
        case 2:         /* stop/cont/stop/cont with no pause in between */
            for (int i = 0; i < 4; i++) {
                cpus_pause_all(vm->m);
                cpus_resume_all(vm->m);
            }
            break;
        case 3:         /* the vCPU requests shutdown while we pause */
            vm->shutdown_at = vm->pio_writes + 1 + g_rand_int_range(r, 0, 3);
            machine_unlock(vm->m);
            g_usleep(g_rand_int_range(r, 0, 200));
            machine_lock(vm->m);
            cpus_pause_all(vm->m);
            if (vm->m->shutdown_request == SHUTDOWN_NONE) {
                /* Paused first: resume, and the request comes while running. */
                cpus_resume_all(vm->m);
                g_assert_true(wait_shutdown(vm));
                cpus_pause_all(vm->m);
            }
            /* A pending shutdown keeps the vCPUs parked even when resumed. */
            cpus_resume_all(vm->m);
            c1 = vm->pio_writes;
            machine_unlock(vm->m);
            g_usleep(2000);
            machine_lock(vm->m);
            g_assert_cmpuint(vm->pio_writes, ==, c1);
            /* The main loop would quit here; the test clears it and goes on. */
            cpus_pause_all(vm->m);
            vm->shutdown_at = 0;
            vm->m->shutdown_request = SHUTDOWN_NONE;
            cpus_resume_all(vm->m);
            break;
        case 4:         /* hold the lock so the vCPU blocks in machine_lock, then stop */
            machine_unlock(vm->m);
            g_usleep(g_rand_int_range(r, 0, 300));
            machine_lock(vm->m);
            g_usleep(1000);
            cpus_pause_all(vm->m);
            cpus_resume_all(vm->m);
            break;
        }
        if (!guest_progresses(vm)) {
            g_error("step %u (op %u): the guest stopped making progress", steps, op);
        }
    }
    g_atomic_int_set(&k.stop, 1);
    machine_unlock(vm->m);
    g_thread_join(kt);
    g_rand_free(r);
    machine_lock(vm->m);
    g_test_message("%u steps, %u extra kicks, %u guest PIO exits", steps, k.kicks,
                   vm->pio_writes);
    machine_unlock(vm->m);

    /* Quit with the BSP blocked on the lock (we hold it) and the AP in KVM_RUN. */
    machine_lock(vm->m);
    g_usleep(2000);
    cpus_stop_and_join(vm->m);
    cpus_stop_and_join(vm->m);       /* twice: a no-op */
    machine_unlock(vm->m);
    vm_free(vm);
}

/*
 * Once every vCPU is destroyed the VM is dying: irqfd/ioeventfd deassigns are
 * skipped (closing the VM fd releases them). Still assigned afterwards, so
 * assigning the same fd again is refused.
 */
static void test_teardown_skips_deassign(void)
{
    TestVm *vm;
    GError *err = NULL;
    int efd;

    if (!kvm_test_have_kvm()) {
        return;
    }
    vm = vm_new(1, guest_spin, sizeof(guest_spin));
    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    g_assert_true(kvm_accel_ops.add_irqfd(vm->m, 5, efd, &err));
    g_assert_no_error(err);
    g_assert_false(kvm_state(vm->m)->dying);
    machine_lock(vm->m);
    cpus_stop_and_join(vm->m);
    cpus_destroy(vm->m);
    machine_unlock(vm->m);
    g_assert_true(kvm_state(vm->m)->dying);
    kvm_accel_ops.remove_irqfd(vm->m, 5, efd);
    g_assert_false(kvm_accel_ops.add_irqfd(vm->m, 5, efd, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    close(efd);                 /* KVM keeps its own reference */
    vm_free(vm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_cond_init(&test_cond);
    /* Logs (INFO and up) go to stderr, which the TAP runner keeps apart. */
    log_open(NULL, NULL);

    g_test_add_func("/kvm/io-dispatch-and-triple-fault", test_io_dispatch_and_triple_fault);
    g_test_add_func("/kvm/guest-dies", test_guest_dies);
    g_test_add_func("/kvm/pause-resume", test_pause_resume);
    g_test_add_func("/kvm/stop-while-running", test_stop_while_running);
    g_test_add_func("/kvm/irq-and-irqfd", test_irq_and_irqfd);
    g_test_add_func("/kvm/ioeventfd", test_ioeventfd);
    g_test_add_func("/kvm/cpuid-and-lapic", test_cpuid_and_lapic);
    g_test_add_func("/kvm/smp-init-sipi", test_smp_init_sipi);
    g_test_add_func("/kvm/stale-kick-state", test_stale_kick_state);
    g_test_add_func("/kvm/kick-before-run", test_kick_before_run);
    g_test_add_func("/kvm/stress-stop-cont-reset", test_stress_stop_cont_reset);
    g_test_add_func("/kvm/teardown-skips-deassign", test_teardown_skips_deassign);
    return g_test_run();
}
