/*
 * The dirty-page log (accel.h dirty_log_*) on emu and qtest, and the
 * DirtyBitmap it fills (memory.h).
 *
 *  - bitmap: marking ranges across pages and RAM blocks, outside RAM,
 *    next/count/test, or_block and take.
 *  - emu: tiny 64-bit guests (test_vm_machine_new, the loader's boot
 *    layout) run by calling vcpu_run from the test thread; each loop ends
 *    with an `out` to a port whose handler kicks the vCPU. A sync reports
 *    exactly the pages the loop stored to (interpreter stores, a store
 *    crossing a page, rep stosb), the page tables whose accessed/dirty
 *    bits the MMU set, and the pages a JIT-compiled loop stores to through
 *    the TLB inline; a second sync with no stores reports nothing, and a
 *    store after a sync is seen again (the sync flushed the TLB). With
 *    vCPU threads running (one looping, one waiting for SIPI), syncs keep
 *    reporting the page the guest keeps writing.
 *  - qtest: writeb/w/l/q, write, b64write and memset over the protocol
 *    mark their pages; reads and MMIO do not.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "accel/accel.h"
#include "accel/emu/emu-cpu.h"
#include "cpus.h"
#include "kvm-test-vm.h"
#include "machine.h"
#include "memory.h"

#define KICK_PORT 0x600
#define PAGE      GUEST_PAGE_SIZE

#define LE32(x) (uint8_t)(x), (uint8_t)((x) >> 8), (uint8_t)((x) >> 16), (uint8_t)((x) >> 24)
#define LE64(x) LE32(x), LE32((uint64_t)(x) >> 32)
/* mov [disp32], rax */
#define STORE_RAX(a) 0x48, 0x89, 0x04, 0x25, LE32(a)
/* mov dx, KICK_PORT; out dx, al; jmp to the start (rel32 from the end, at offset `at`) */
#define KICK_AND_LOOP(at) 0x66, 0xBA, (uint8_t)KICK_PORT, (uint8_t)(KICK_PORT >> 8), 0xEE, \
                          0xE9, LE32(-(int32_t)((at) + 10))

/*
 * Stores to 0x300000 and, after a load from the same page (whose TLB
 * entry must not let the store through unmarked), 0x305008; an 8-byte
 * store across 0x3FF000 / 0x400000 (two pages and two 2 MiB mappings);
 * rep stosb over 0x310000 .. 0x311FFF.
 */
static const uint8_t prog_stores[] = {
    0x48, 0xB8, LE64(0x1122334455667788ULL),         /* mov rax, imm64 */
    STORE_RAX(0x300000),
    0x48, 0x8B, 0x1C, 0x25, LE32(0x305000),          /* mov rbx, [0x305000] */
    STORE_RAX(0x305008),
    STORE_RAX(0x3FFFFC),
    0x48, 0xBF, LE64(0x310000),                      /* mov rdi, 0x310000 */
    0x48, 0xC7, 0xC1, LE32(0x2000),                  /* mov rcx, 0x2000 */
    0xF3, 0xAA,                                      /* rep stosb */
    KICK_AND_LOOP(61),
};
static const uint64_t stores_pages[] = {
    0x300000, 0x305000, 0x310000, 0x311000, 0x3FF000, 0x400000,
};

/* 64 stores a page apart from 0x580000, `mov [rdi], rax` in a loop. */
#define JIT_BASE  0x580000ULL
#define JIT_PAGES 64
#define JIT_INNER 15                                 /* offset of the loop body */
static const uint8_t prog_jit[] = {
    0x48, 0xBF, LE64(JIT_BASE),                      /* mov rdi, JIT_BASE */
    0xB9, LE32(JIT_PAGES),                           /* mov ecx, JIT_PAGES */
    0x48, 0x89, 0x07,                                /* 15: mov [rdi], rax */
    0x48, 0x81, 0xC7, LE32(0x1000),                  /* add rdi, 0x1000 */
    0xFF, 0xC9,                                      /* dec ecx */
    0x75, 0xF2,                                      /* jnz 15 */
    KICK_AND_LOOP(29),
};

/* Stores to 0x700000 forever. */
static const uint8_t prog_spin[] = {
    STORE_RAX(0x700000),
    0x48, 0xFF, 0xC0,                                /* inc rax */
    0xEB, 0xF3,                                      /* jmp 0 */
};

typedef struct EmuVm {
    StratusConfig cfg;
    Machine *m;
    Vcpu *cpu;
    unsigned kicks;
} EmuVm;

static void kick_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    EmuVm *vm = opaque;

    vm->kicks++;
    vm->m->accel_ops->vcpu_kick(vm->cpu);
}

static const IoRegionOps kick_ops = { .write = kick_write };

static EmuVm *emu_vm_new(const uint8_t *code, size_t len, unsigned ncpus)
{
    EmuVm *vm = g_new0(EmuVm, 1);
    X86BootState boot;

    vm->m = test_vm_machine_new(&emu_accel_ops, &vm->cfg, ncpus);
    kvm_test_boot_layout(&vm->m->ram, code, len, &boot);
    kvm_test_cpus_create(vm->m, &boot);
    vm->cpu = g_ptr_array_index(vm->m->vcpus, 0);
    g_assert_true(iobus_add(&vm->m->pio, KICK_PORT, 1, &kick_ops, vm, "kick", NULL));
    return vm;
}

static void emu_vm_free(EmuVm *vm)
{
    test_vm_machine_free(vm->m);
    g_free(vm);
}

/* One pass of the guest's loop, on the test thread (no vCPU thread exists). */
static void run_once(EmuVm *vm)
{
    unsigned kicks = vm->kicks;

    while (vm->kicks == kicks) {
        g_assert_true(vm->m->accel_ops->vcpu_run(vm->cpu));
    }
}

static void log_start(Machine *m)
{
    GError *err = NULL;

    machine_lock(m);
    g_assert_true(m->accel_ops->dirty_log_start(m, &err));
    machine_unlock(m);
    g_assert_no_error(err);
}

static void assert_pages(DirtyBitmap *d, const uint64_t *pages, size_t n)
{
    uint64_t gpa = 0;

    for (size_t i = 0; i < n; i++) {
        gpa = dirty_bitmap_next(d, gpa);
        g_assert_cmphex(gpa, ==, pages[i]);
        gpa += PAGE;
    }
    g_assert_cmphex(dirty_bitmap_next(d, gpa), ==, UINT64_MAX);
    g_assert_cmpuint(dirty_bitmap_count(d), ==, n);
    dirty_bitmap_free(d);
}

/* ---- DirtyBitmap ---- */

static void test_bitmap(void)
{
    GuestRam ram;
    DirtyBitmap *a, *b;
    uint64_t words[16] = { 0 };

    /* Two blocks: [0, 4 MiB) and [4 GiB, 4 GiB + 4 MiB). */
    g_assert_true(guest_ram_init(&ram, 8 << 20, 4 << 20, false, false, NULL));
    a = dirty_bitmap_new(&ram);
    b = dirty_bitmap_new(&ram);
    g_assert_true(dirty_bitmap_fits(a, &ram));
    g_assert_cmpuint(a->nblocks, ==, 2);
    g_assert_cmpuint(a->blocks[1].npages, ==, 1024);
    dirty_bitmap_mark(a, 0x1FFF, 2);                 /* two pages */
    dirty_bitmap_mark(a, 0x3FF000, 0x2000);          /* the last page of block 0 only */
    dirty_bitmap_mark(a, 0x100000000ULL + 0x5000, 1);
    dirty_bitmap_mark(a, 0x80000000ULL, 0x10000);    /* outside RAM: nothing */
    dirty_bitmap_mark(a, UINT64_MAX - 10, 100);      /* wraps: nothing */
    dirty_bitmap_mark(a, 0x7000, 0);
    g_assert_true(dirty_bitmap_test(a, 0x1000));
    g_assert_true(dirty_bitmap_test(a, 0x2ABC));
    g_assert_false(dirty_bitmap_test(a, 0x7000));
    g_assert_cmphex(dirty_bitmap_next(a, 0x3000), ==, 0x3FF000);
    g_assert_cmphex(dirty_bitmap_next(a, 0x3FF001), ==, 0x100005000ULL);
    g_assert_cmpuint(dirty_bitmap_count(a), ==, 4);
    /* take: all of a into b, a left empty; or_block adds words. */
    dirty_bitmap_take(b, a);
    g_assert_cmpuint(dirty_bitmap_count(a), ==, 0);
    g_assert_cmpuint(dirty_bitmap_count(b), ==, 4);
    words[0] = 1ULL << 3;
    words[15] = 1ULL << 63;
    dirty_bitmap_or_block(b, 1, words);
    g_assert_true(dirty_bitmap_test(b, 0x100003000ULL));
    g_assert_true(dirty_bitmap_test(b, 0x100000000ULL + 1023 * PAGE));
    g_assert_cmpuint(dirty_bitmap_count(b), ==, 6);
    dirty_bitmap_clear(b);
    g_assert_cmpuint(dirty_bitmap_count(b), ==, 0);
    dirty_bitmap_free(a);
    dirty_bitmap_free(b);
    guest_ram_destroy(&ram);
    g_assert_true(guest_ram_init(&ram, 8 << 20, 8 << 20, false, false, NULL));
    a = dirty_bitmap_new(&ram);
    g_assert_true(dirty_bitmap_fits(a, &ram));
    guest_ram_destroy(&ram);
    g_assert_true(guest_ram_init(&ram, 12 << 20, 4 << 20, false, false, NULL));
    g_assert_false(dirty_bitmap_fits(a, &ram));
    dirty_bitmap_free(a);
    guest_ram_destroy(&ram);
}

/* ---- emu ---- */

static void test_emu_stores(void)
{
    EmuVm *vm = emu_vm_new(prog_stores, sizeof(prog_stores), 1);

    run_once(vm);                                    /* page-table A/D bits set */
    log_start(vm->m);
    run_once(vm);
    assert_pages(test_vm_dirty_sync(vm->m), stores_pages, G_N_ELEMENTS(stores_pages));
    assert_pages(test_vm_dirty_sync(vm->m), NULL, 0);
    run_once(vm);
    assert_pages(test_vm_dirty_sync(vm->m), stores_pages, G_N_ELEMENTS(stores_pages));
    emu_vm_free(vm);
}

/* The walk's accessed/dirty updates are the MMU's own stores to the tables. */
static void test_emu_page_tables(void)
{
    EmuVm *vm = emu_vm_new(prog_stores, sizeof(prog_stores), 1);
    const uint64_t pages[] = {
        BOOT_PML4_ADDR, BOOT_PDPT_ADDR, BOOT_PD_ADDR,
        0x300000, 0x305000, 0x310000, 0x311000, 0x3FF000, 0x400000,
    };

    log_start(vm->m);
    run_once(vm);
    assert_pages(test_vm_dirty_sync(vm->m), pages, G_N_ELEMENTS(pages));
    emu_vm_free(vm);
}

/* The block compiled to host code stores through the TLB inline. */
static void test_emu_jit(void)
{
    EmuVm *vm = emu_vm_new(prog_jit, sizeof(prog_jit), 1);
    /* The test reaches into the emu vCPU: EmuVcpu starts with its EmuCpu. */
    EmuCpu *c = vm->cpu->accel;
    uint64_t pages[JIT_PAGES], pa = KVM_TEST_CODE_ADDR + JIT_INNER;
    const EmuBlock *b;

    for (unsigned i = 0; i < JIT_PAGES; i++) {
        pages[i] = JIT_BASE + i * PAGE;
    }
    run_once(vm);
    if (!c->jit_code) {
        g_test_skip("no executable memory for generated code on this host");
        emu_vm_free(vm);
        return;
    }
    b = emu_block_lookup(c, pa, MODE_64);
    g_assert_nonnull(b);
    g_assert_nonnull(b->jit);
    log_start(vm->m);
    for (unsigned round = 0; round < 3; round++) {
        run_once(vm);
        assert_pages(test_vm_dirty_sync(vm->m), pages, JIT_PAGES);
    }
    emu_vm_free(vm);
}

static void test_emu_not_started(void)
{
    EmuVm *vm = emu_vm_new(prog_stores, sizeof(prog_stores), 1);
    DirtyBitmap *d = dirty_bitmap_new(&vm->m->ram);
    GError *err = NULL;

    machine_lock(vm->m);
    g_assert_false(vm->m->accel_ops->dirty_log_sync(vm->m, d, &err));
    machine_unlock(vm->m);
    g_assert_cmpstr(err->message, ==, "emu: the dirty-page log is not started");
    g_clear_error(&err);
    run_once(vm);
    log_start(vm->m);
    machine_lock(vm->m);
    vm->m->accel_ops->dirty_log_stop(vm->m);
    machine_unlock(vm->m);
    run_once(vm);
    log_start(vm->m);                                /* starts empty */
    assert_pages(test_vm_dirty_sync(vm->m), NULL, 0);
    dirty_bitmap_free(d);
    emu_vm_free(vm);
}

/* Returns once the guest has stored a new value at gpa. */
static void wait_for_store(Machine *m, uint64_t gpa)
{
    const uint64_t *p = guest_ram_ptr(&m->ram, gpa, 8);
    uint64_t old = __atomic_load_n(p, __ATOMIC_RELAXED);
    gint64 end = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;

    while (__atomic_load_n(p, __ATOMIC_RELAXED) == old) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_usleep(100);
    }
}

/*
 * vCPU threads running: the BSP stores a counter to one page in a loop,
 * the AP sleeps waiting for SIPI. Each sync made after the guest stored
 * again (which must get both vCPUs to flush their TLBs) reports the page;
 * after the first (which also has the page tables), nothing else.
 */
static void test_emu_running(void)
{
    EmuVm *vm = emu_vm_new(prog_spin, sizeof(prog_spin), 2);
    const uint64_t page[] = { 0x700000 };
    GError *err = NULL;

    log_start(vm->m);
    machine_lock(vm->m);
    g_assert_true(cpus_start_threads(vm->m, &err));
    cpus_resume_all(vm->m);
    machine_unlock(vm->m);
    g_assert_no_error(err);
    for (unsigned i = 0; i < 20; i++) {
        DirtyBitmap *d;

        wait_for_store(vm->m, 0x700000);
        d = test_vm_dirty_sync(vm->m);
        g_assert_true(dirty_bitmap_test(d, 0x700000));
        if (i == 0) {
            dirty_bitmap_free(d);
        } else {
            assert_pages(d, page, 1);
        }
    }
    machine_lock(vm->m);
    cpus_pause_all(vm->m);
    machine_unlock(vm->m);
    emu_vm_free(vm);
}

/* ---- qtest ---- */

typedef struct QtestVm {
    StratusConfig cfg;
    Machine *m;
    char *dir;
    int fd;                      /* the harness's end */
    GString *in;
} QtestVm;

static QtestVm *qtest_vm_new(void)
{
    QtestVm *q = g_new0(QtestVm, 1);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_autofree char *path = NULL;

    q->dir = g_dir_make_tmp("test-dirty-log-XXXXXX", NULL);
    g_assert_nonnull(q->dir);
    path = g_build_filename(q->dir, "qtest.sock", NULL);
    g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    g_assert_cmpint(lfd, >=, 0);
    g_assert_cmpint(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(lfd, 1), ==, 0);
    q->cfg.qtest = g_strdup_printf("unix:%s", path);
    q->cfg.qtest_log = g_strdup("none");
    q->m = test_vm_machine_new(&qtest_accel_ops, &q->cfg, 1);
    q->fd = accept(lfd, NULL, NULL);
    g_assert_cmpint(q->fd, >=, 0);
    close(lfd);
    g_unlink(path);
    q->in = g_string_new(NULL);
    return q;
}

static void qtest_vm_free(QtestVm *q)
{
    close(q->fd);
    test_vm_machine_free(q->m);
    g_rmdir(q->dir);
    g_free(q->dir);
    g_free(q->cfg.qtest);
    g_free(q->cfg.qtest_log);
    g_string_free(q->in, TRUE);
    g_free(q);
}

/* Sends one command, runs the main context until its reply line is back. */
static char *qtest_cmd(QtestVm *q, const char *cmd)
{
    gint64 end = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
    g_autofree char *line = g_strdup_printf("%s\n", cmd);
    char *nl, *reply;

    g_assert_cmpint(write(q->fd, line, strlen(line)), ==, (ssize_t)strlen(line));
    while (!(nl = strchr(q->in->str, '\n'))) {
        struct pollfd p = { .fd = q->fd, .events = POLLIN };
        char buf[256];
        ssize_t n;

        g_assert_cmpint(g_get_monotonic_time(), <, end);
        machine_lock(q->m);
        g_main_context_iteration(q->m->ctx, FALSE);
        machine_unlock(q->m);
        if (poll(&p, 1, 1) == 1) {
            n = read(q->fd, buf, sizeof(buf));
            g_assert_cmpint(n, >, 0);
            g_string_append_len(q->in, buf, n);
        }
    }
    reply = g_strndup(q->in->str, nl - q->in->str);
    g_string_erase(q->in, 0, nl - q->in->str + 1);
    return reply;
}

static void qtest_ok(QtestVm *q, const char *cmd)
{
    g_autofree char *reply = qtest_cmd(q, cmd);

    if (!g_str_has_prefix(reply, "OK")) {
        g_error("qtest '%s': %s", cmd, reply);
    }
}

static void test_qtest(void)
{
    QtestVm *q = qtest_vm_new();
    const uint64_t pages[] = {
        0x1000, 0x2000, 0x3000, 0x20000, 0x40000, 0x41000, 0x42000, 0x50000, 0x51000, 0x60000,
    };

    qtest_ok(q, "writeb 0x9000 0x1");                /* before the start: not logged */
    log_start(q->m);
    qtest_ok(q, "writeb 0x1000 0x12");
    qtest_ok(q, "writel 0x2ffe 0x12345678");         /* across two pages */
    qtest_ok(q, "b64write 0x20000 4 AQIDBA==");
    qtest_ok(q, "memset 0x40000 0x2001 0xaa");
    qtest_ok(q, "write 0x50ff0 0x20 0x0102");
    qtest_ok(q, "writeq 0x60000 0x1");
    qtest_ok(q, "writew 0x10000000 0x1");            /* not RAM */
    qtest_ok(q, "readq 0x70000");
    qtest_ok(q, "read 0x80000 0x10");
    qtest_ok(q, "b64read 0x90000 0x10");
    assert_pages(test_vm_dirty_sync(q->m), pages, G_N_ELEMENTS(pages));
    assert_pages(test_vm_dirty_sync(q->m), NULL, 0);
    qtest_ok(q, "writew 0x5000 0x1");
    machine_lock(q->m);
    q->m->accel_ops->dirty_log_stop(q->m);
    machine_unlock(q->m);
    qtest_ok(q, "writew 0x6000 0x1");
    log_start(q->m);
    assert_pages(test_vm_dirty_sync(q->m), NULL, 0);
    qtest_vm_free(q);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dirty-log/bitmap", test_bitmap);
    g_test_add_func("/dirty-log/emu/stores", test_emu_stores);
    g_test_add_func("/dirty-log/emu/page-tables", test_emu_page_tables);
    g_test_add_func("/dirty-log/emu/jit", test_emu_jit);
    g_test_add_func("/dirty-log/emu/not-started", test_emu_not_started);
    g_test_add_func("/dirty-log/emu/running", test_emu_running);
    g_test_add_func("/dirty-log/qtest/protocol", test_qtest);
    return g_test_run();
}
