#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <glib.h>

#include "accel/accel.h"
#include "cpus.h"
#include "kvm-test-vm.h"

/* The skip reason is the one CI's skip policy recognises (scripts/run-tests.sh). */
bool kvm_test_have_kvm(void)
{
    g_autofree char *msg = NULL;
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

    if (fd >= 0) {
        close(fd);
        return true;
    }
    msg = g_strdup_printf("KVM-only test on a host without KVM: /dev/kvm: %s",
                          g_strerror(errno));
    g_test_skip(msg);
    return false;
}

Machine *test_vm_machine_new(const AccelOps *ops, StratusConfig *cfg, unsigned ncpus)
{
    Machine *m = g_new0(Machine, 1);
    GError *err = NULL;

    cfg->smp = (SmpConfig) { .cpus = ncpus, .maxcpus = ncpus, .sockets = 1, .dies = 1,
                             .clusters = 1, .cores = ncpus, .threads = 1 };
    m->cfg = cfg;
    g_mutex_init(&m->lock);
    g_cond_init(&m->vcpu_state_cond);
    m->ctx = g_main_context_new();
    m->vcpus = g_ptr_array_new();
    iobus_init(&m->mmio, "mmio", IOBUS_MEMORY);
    iobus_init(&m->pio, "pio", IOBUS_PORTS);
    m->accel_ops = ops;

    g_assert_true(ops->init(m, &err));
    g_assert_no_error(err);
    g_assert_true(guest_ram_init(&m->ram, KVM_TEST_RAM_SIZE, 0xc0000000ULL, false, false, &err));
    g_assert_no_error(err);
    g_assert_true(ops->map_ram(m, &err));
    g_assert_no_error(err);
    return m;
}

Machine *kvm_test_machine_new(StratusConfig *cfg, unsigned ncpus)
{
    return test_vm_machine_new(&kvm_accel_ops, cfg, ncpus);
}

void kvm_test_boot_layout(GuestRam *ram, const void *code, size_t len, X86BootState *boot)
{
    const uint64_t gdt[4] = { 0, 0, 0x00af9b000000ffffULL, 0x00cf93000000ffffULL };
    const uint64_t idt = 0;
    uint64_t pml4e = 0xa000 | 0x3, pdpte = 0xb000 | 0x3;

    g_assert_true(guest_ram_write(ram, BOOT_GDT_ADDR, gdt, sizeof(gdt)));
    g_assert_true(guest_ram_write(ram, BOOT_IDT_ADDR, &idt, sizeof(idt)));
    g_assert_true(guest_ram_write(ram, BOOT_PML4_ADDR, &pml4e, 8));
    g_assert_true(guest_ram_write(ram, BOOT_PDPT_ADDR, &pdpte, 8));
    for (uint64_t i = 0; i < 512; i++) {
        uint64_t pde = (i << 21) | 0x83;

        g_assert_true(guest_ram_write(ram, BOOT_PD_ADDR + i * 8, &pde, 8));
    }
    g_assert_true(guest_ram_write(ram, KVM_TEST_CODE_ADDR, code, len));

    *boot = (X86BootState) {
        .rip = KVM_TEST_CODE_ADDR,
        .rsp = BOOT_STACK_ADDR,
        .rsi = BOOT_ZERO_PAGE_ADDR,
        .cr0 = 0x80000031,           /* PG | NE | ET | PE */
        .cr3 = BOOT_PML4_ADDR,
        .cr4 = 0x20,                 /* PAE */
        .efer = 0x500,               /* LMA | LME */
        .gdt_base = BOOT_GDT_ADDR,
        .gdt_limit = sizeof(gdt) - 1,
        .idt_base = BOOT_IDT_ADDR,
        .idt_limit = 7,
        .code_desc = gdt[2],
        .data_desc = gdt[3],
    };
}

void kvm_test_reset_all(Machine *m, const X86BootState *boot)
{
    GError *err = NULL;

    for (guint i = 0; i < m->vcpus->len; i++) {
        g_assert_true(m->accel_ops->vcpu_reset(g_ptr_array_index(m->vcpus, i), boot, &err));
        g_assert_no_error(err);
    }
}

void kvm_test_cpus_create(Machine *m, const X86BootState *boot)
{
    GError *err = NULL;

    machine_lock(m);
    g_assert_true(cpus_create(m, &err));
    machine_unlock(m);
    g_assert_no_error(err);
    g_assert_cmpuint(m->vcpus->len, ==, m->cfg->smp.cpus);
    kvm_test_reset_all(m, boot);
}

void test_vm_machine_free(Machine *m)
{
    machine_lock(m);
    cpus_stop_and_join(m);
    cpus_destroy(m);
    machine_unlock(m);
    m->accel_ops->destroy(m);
    guest_ram_destroy(&m->ram);
    iobus_destroy(&m->mmio);
    iobus_destroy(&m->pio);
    g_ptr_array_free(m->vcpus, TRUE);
    /* Destroys the sources attached to it, the machine clock's among them. */
    g_main_context_unref(m->ctx);
    g_cond_clear(&m->vcpu_state_cond);
    g_mutex_clear(&m->lock);
    g_free(m);
}

void kvm_test_machine_free(Machine *m)
{
    test_vm_machine_free(m);
}

TestMachine *test_machine_new(const AccelOps *ops)
{
    TestMachine *vm = g_new0(TestMachine, 1);

    vm->m = test_vm_machine_new(ops, &vm->cfg, 1);
    return vm;
}

void test_machine_free(TestMachine *vm)
{
    test_vm_machine_free(vm->m);
    g_free(vm);
}

void test_vm_get_state(Machine *m, X86VmState *st)
{
    GError *err = NULL;

    machine_lock(m);
    g_assert_true(m->accel_ops->vm_get_state(m, st, &err));
    machine_unlock(m);
    g_assert_no_error(err);
}

DirtyBitmap *test_vm_dirty_sync(Machine *m)
{
    DirtyBitmap *d = dirty_bitmap_new(&m->ram);
    GError *err = NULL;

    machine_lock(m);
    g_assert_true(m->accel_ops->dirty_log_sync(m, d, &err));
    machine_unlock(m);
    g_assert_no_error(err);
    return d;
}
