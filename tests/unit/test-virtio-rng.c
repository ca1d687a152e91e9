/*
 * virtio-rng and its back end without a guest: the limiter's arithmetic on a
 * fake clock, StratoVirt's rate checks, the host object table, -object
 * parsing, and the device on a real microvm under the qtest accelerator
 * (virtual clock) driven through its virtio-mmio registers with hostile
 * rings, plus its saved state (round trip, an open window kept, hostile
 * streams refused).
 */
#include <endian.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "machine.h"
#include "backends/object.h"
#include "hw/device.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-mmio.h"
#include "hw/virtio/virtio-rng.h"
#include "migration/vmstate.h"
#include "util/clock.h"

#define MS 1000000LL
#define SEC (1000 * MS)

/* The first window after microvm's 8 slots. */
#define RNG_BASE (0xF0100000ULL + 8 * 0x200)

/* Guest-physical layout of the test driver's ring and buffers. */
#define QSZ 16
#define DESC 0x10000
#define AVAIL 0x11000
#define USED 0x12000
#define INDIRECT 0x13000
#define BUF 0x20000
#define CANARY 0x5a

static char *tmpdir;

/* ---- the limiter ---- */

static void test_limiter(void)
{
    RngLimiter l;

    rng_limiter_init(&l, 0, 0);
    g_assert_false(rng_limiter_active(&l));
    g_assert_cmpuint(rng_limiter_allowance(&l, 5), ==, UINT64_MAX);
    rng_limiter_charge(&l, 5, 1 << 30);
    g_assert_cmpuint(rng_limiter_allowance(&l, 5), ==, UINT64_MAX);

    rng_limiter_init(&l, 100, 1000);
    g_assert_true(rng_limiter_active(&l));
    /* No window yet: a whole one is allowed, and none opens until a byte goes. */
    g_assert_cmpuint(rng_limiter_allowance(&l, 7 * SEC), ==, 100);
    g_assert_cmpint(l.window_end, ==, -1);
    rng_limiter_charge(&l, 10 * SEC, 30);
    g_assert_cmpint(l.window_end, ==, 11 * SEC);
    g_assert_cmpuint(rng_limiter_allowance(&l, 10 * SEC), ==, 70);
    rng_limiter_charge(&l, 10 * SEC + 500 * MS, 70);
    g_assert_cmpuint(rng_limiter_allowance(&l, 11 * SEC - 1), ==, 0);
    /* The window ends at its end, not at the last charge plus a period. */
    g_assert_cmpuint(rng_limiter_allowance(&l, 11 * SEC), ==, 100);
    /* A late byte opens the next window where it goes. */
    rng_limiter_charge(&l, 15 * SEC, 1);
    g_assert_cmpint(l.window_end, ==, 16 * SEC);
    g_assert_cmpuint(rng_limiter_allowance(&l, 15 * SEC), ==, 99);
    /* Charging more than the quota never wraps. */
    rng_limiter_charge(&l, 15 * SEC, 1000);
    g_assert_cmpuint(rng_limiter_allowance(&l, 15 * SEC), ==, 0);

    /* Over a long run on a ragged clock: never more than max per window. */
    rng_limiter_init(&l, 64, 10);
    {
        int64_t now = 0, win_start = -1;
        uint64_t in_win = 0, total = 0;
        for (unsigned i = 0; i < 100000; i++) {
            uint64_t a = rng_limiter_allowance(&l, now);
            uint64_t n = MIN(a, (uint64_t)(i % 37));
            if (n) {
                if (l.window_end < 0 || now >= l.window_end) {
                    win_start = now;
                    in_win = 0;
                }
                rng_limiter_charge(&l, now, n);
                g_assert_cmpint(now, <, win_start + 10 * MS);
                in_win += n;
                total += n;
                g_assert_cmpuint(in_win, <=, 64);
            }
            now += (int64_t)(i % 7) * 100000;
        }
        /* ...and the limit is reached, not just respected: 6.4 KiB/s over ~30 s. */
        g_assert_cmpuint(total, >, 64 * (uint64_t)(now / (10 * MS)) / 2);
    }
    /* Huge periods saturate instead of overflowing. */
    rng_limiter_init(&l, 1, UINT64_MAX);
    rng_limiter_charge(&l, INT64_MAX - 5, 1);
    g_assert_cmpint(l.window_end, ==, INT64_MAX);
}

static void check_rate_fails(uint64_t max, uint64_t period, const char *msg)
{
    g_autoptr(GError) err = NULL;
    uint64_t rate;

    if (virtio_rng_check_rate(max, period, &rate, &err)) {
        g_assert_false(virtio_rng_check_rate_range(rate, &err));
    }
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, msg);
}

static void test_check_rate(void)
{
    const char *range = "The bytes per second of rng device must >= 64 and <= 1000000000.";
    uint64_t rate;

    g_assert_true(virtio_rng_check_rate(0, 0, &rate, NULL));
    g_assert_cmpuint(rate, ==, 0);
    g_assert_true(virtio_rng_check_rate(1234, 1000, &rate, NULL));
    g_assert_cmpuint(rate, ==, 1234);
    g_assert_true(virtio_rng_check_rate_range(rate, NULL));
    /* StratoVirt's edges (its unit tests): 63 no, 64 and 1e9 yes, 1e9+1 no. */
    check_rate_fails(63, 1000, range);
    g_assert_true(virtio_rng_check_rate(64, 1000, &rate, NULL));
    g_assert_true(virtio_rng_check_rate_range(rate, NULL));
    g_assert_true(virtio_rng_check_rate(1000000000, 1000, &rate, NULL));
    g_assert_true(virtio_rng_check_rate_range(rate, NULL));
    check_rate_fails(1000000001, 1000, range);
    /* Integer division, as StratoVirt: 64 bytes per 1001 ms is 63 B/s. */
    check_rate_fails(64, 1001, range);
    check_rate_fails(64, 0, "Argument 'period' is missing");
    check_rate_fails(0, 1000, "Argument 'max-bytes' is missing");
    check_rate_fails(UINT64_MAX / 1000 + 1, 1, "Illegal max-bytes arguments: "
                     "18446744073709552");
}

/* ---- the object table ---- */

static void test_object_table(void)
{
    g_autofree char *file = g_build_filename(tmpdir, "random.bin", NULL);
    ObjectTable *t = object_table_new();
    g_autoptr(GError) err = NULL;
    const char *user = NULL;
    RngRandom *r;
    uint8_t buf[8];

    g_assert_true(g_file_set_contents(file, "abcdef", 6, NULL));
    g_assert_true(object_add_rng_random(t, "r0", file, &err));
    g_assert_no_error(err);
    g_assert_true(object_add_rng_random(t, "r1", RNG_RANDOM_DEFAULT_FILE, NULL));
    g_assert_false(object_add_rng_random(t, "r0", file, &err));
    g_assert_cmpstr(err->message, ==,
                    "attempt to add duplicate property 'r0' to object (type 'container')");
    g_clear_error(&err);
    g_assert_false(object_add_rng_random(t, "r2", "/nonexistent/rng", &err));
    g_assert_cmpstr(err->message, ==,
                    "Could not open '/nonexistent/rng': No such file or directory");
    g_clear_error(&err);
    g_assert_false(object_add_rng_random(t, "r2", tmpdir, &err));
    g_assert_true(g_str_has_suffix(err->message, "': Is a directory"));
    g_clear_error(&err);
    g_assert_cmpuint(object_table_list(t)->len, ==, 2);
    g_assert_cmpstr(host_object_type(object_table_find(t, "r1")), ==, "rng-random");
    g_assert_null(object_table_find_rng(t, "r2"));

    r = object_table_find_rng(t, "r0");
    g_assert_nonnull(r);
    g_assert_cmpstr(rng_random_filename(r), ==, file);
    g_assert_true(rng_random_claim(r, "dev0", &user));
    g_assert_false(rng_random_claim(r, "dev1", &user));
    g_assert_cmpstr(user, ==, "dev0");
    g_assert_cmpstr(host_object_user(object_table_find(t, "r0")), ==, "dev0");
    g_assert_false(object_table_del(t, "r0", &err));
    g_assert_cmpstr(err->message, ==, "object 'r0' is in use, can not be deleted");
    g_clear_error(&err);
    /* The file's bytes, each once, then end of file. */
    g_assert_cmpint(rng_random_read(r, buf, 4), ==, 4);
    g_assert_cmpmem(buf, 4, "abcd", 4);
    g_assert_cmpint(rng_random_read(r, buf, 8), ==, 2);
    g_assert_cmpint(rng_random_read(r, buf, 8), ==, 0);
    rng_random_release(r);
    g_assert_true(object_table_del(t, "r0", NULL));
    g_assert_false(object_table_del(t, "r0", &err));
    g_assert_cmpstr(err->message, ==, "object 'r0' not found");
    object_table_free(t);
    unlink(file);
}

/* ---- -object on the command line ---- */

static StratusConfig *parse(const char *const *args, GError **err)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();

    g_ptr_array_add(argv, (char *)"stratus");
    g_ptr_array_add(argv, (char *)"-accel");
    g_ptr_array_add(argv, (char *)"qtest");
    for (; *args; args++) {
        g_ptr_array_add(argv, (char *)*args);
    }
    g_ptr_array_add(argv, NULL);
    return config_parse(argv->len - 1, (char **)argv->pdata, err);
}

static void parse_fails(const char *value, const char *msg)
{
    g_autoptr(GError) err = NULL;
    StratusConfig *cfg = parse((const char *const[]){ "-object", value, NULL }, &err);

    g_assert_null(cfg);
    g_assert_cmpstr(err->message, ==, msg);
}

static void test_options(void)
{
    g_autoptr(GError) err = NULL;
    StratusConfig *cfg = parse((const char *const[]){
        "-object", "rng-random,id=r0", "-object", "qom-type=rng-random,id=r1,filename=/x,,y",
        NULL }, &err);

    g_assert_no_error(err);
    g_assert_cmpuint(cfg->objects->len, ==, 2);
    g_assert_cmpstr(optlist_get(g_ptr_array_index(cfg->objects, 0), "qom-type"), ==,
                    "rng-random");
    g_assert_null(optlist_get(g_ptr_array_index(cfg->objects, 0), "filename"));
    g_assert_cmpstr(optlist_get(g_ptr_array_index(cfg->objects, 1), "filename"), ==, "/x,y");
    config_free(cfg);

    parse_fails("foo,id=x", "-object: Parameter 'qom-type' does not accept value 'foo'");
    parse_fails("id=x", "-object: Parameter 'qom-type' is missing");
    parse_fails("rng-random", "-object: Parameter 'id' is missing");
    parse_fails("rng-random,id=9x", "-object: Parameter 'id' expects an identifier");
    parse_fails("rng-random,id=a/b", "-object: Parameter 'id' expects an identifier");
    parse_fails("rng-random,id=x,size=1", "-object: Invalid parameter 'size'");
    cfg = parse((const char *const[]){ "-object", "rng-random,id=x", "-object",
                                       "rng-random,id=x", NULL }, &err);
    g_assert_null(cfg);
    g_assert_cmpstr(err->message, ==, "-object: Duplicate ID 'x' for object");
}

/* ---- the device on a machine ---- */

typedef struct Vm {
    Machine *m;
    char *file;
    uint16_t avail_idx, used_seen;
} Vm;

static Machine *vm_build(const char *const *args, GError **err)
{
    StratusConfig *cfg = parse(args, err);
    Machine *m;

    if (!cfg) {
        return NULL;
    }
    m = machine_new(cfg, err);
    if (!m) {
        config_free(cfg);
    }
    return m;
}

/*
 * A microvm with one virtio-rng reading a file of 64 KiB of known bytes;
 * extra: the device's rate properties. The machine lock stays held.
 */
static void vm_start(Vm *v, const char *rate)
{
    g_autofree uint8_t *data = g_malloc(65536);
    g_autofree char *obj = NULL, *dev = NULL;
    g_autoptr(GError) err = NULL;

    memset(v, 0, sizeof(*v));
    for (unsigned i = 0; i < 65536; i++) {
        data[i] = (uint8_t)(i * 13 + 1);
    }
    v->file = g_build_filename(tmpdir, "rng-dev.bin", NULL);
    g_assert_true(g_file_set_contents(v->file, (char *)data, 65536, NULL));
    obj = g_strdup_printf("rng-random,id=r0,filename=%s", v->file);
    dev = g_strdup_printf("virtio-rng-device,rng=r0,id=rng0%s%s", rate ? "," : "",
                          rate ? rate : "");
    v->m = vm_build((const char *const[]){ "-object", obj, "-device", dev, NULL }, &err);
    g_assert_no_error(err);
    machine_lock(v->m);
}

static void vm_stop(Vm *v)
{
    machine_unlock(v->m);
    machine_free(v->m);
    unlink(v->file);
    g_free(v->file);
}

static uint32_t rd(Vm *v, uint64_t off)
{
    uint32_t val;

    g_assert_true(iobus_read(&v->m->mmio, RNG_BASE + off, &val, 4));
    return val;
}

static void wr(Vm *v, uint64_t off, uint32_t val)
{
    g_assert_true(iobus_write(&v->m->mmio, RNG_BASE + off, &val, 4));
}

/* Runs what is ready on the main loop (the device serves its queue there). */
static void run_loop(Vm *v)
{
    while (g_main_context_iteration(v->m->ctx, FALSE)) {
    }
}

static void drv_init(Vm *v)
{
    void *rings = machine_gpa(v->m, DESC, USED + 0x1000 - DESC);

    memset(rings, 0, USED + 0x1000 - DESC);
    v->avail_idx = v->used_seen = 0;
    g_assert_cmpuint(rd(v, VIRTIO_MMIO_DEVICE_ID), ==, VIRTIO_ID_RNG);
    wr(v, VIRTIO_MMIO_STATUS, 0);
    wr(v, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(v, VIRTIO_MMIO_DRIVER_FEATURES, 1u << VIRTIO_F_INDIRECT_DESC);
    wr(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(v, VIRTIO_MMIO_DRIVER_FEATURES, 1);      /* VERSION_1 */
    wr(v, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
       VIRTIO_STATUS_FEATURES_OK);
    wr(v, VIRTIO_MMIO_QUEUE_SEL, 0);
    wr(v, VIRTIO_MMIO_QUEUE_NUM, QSZ);
    wr(v, VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
    wr(v, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
    wr(v, VIRTIO_MMIO_QUEUE_DRIVER_LOW, AVAIL);
    wr(v, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
    wr(v, VIRTIO_MMIO_QUEUE_DEVICE_LOW, USED);
    wr(v, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
    wr(v, VIRTIO_MMIO_QUEUE_READY, 1);
    wr(v, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
       VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    g_assert_cmphex(rd(v, VIRTIO_MMIO_STATUS), ==, 0xf);
    /* Buffers start as canaries so stray writes show. */
    memset(machine_gpa(v->m, BUF, 0x10000), CANARY, 0x10000);
}

static void put_desc(Vm *v, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint8_t b[16];
    uint64_t a = htole64(addr);
    uint32_t l = htole32(len);
    uint16_t f = htole16(flags), n = htole16(next);

    memcpy(b, &a, 8);
    memcpy(b + 8, &l, 4);
    memcpy(b + 12, &f, 2);
    memcpy(b + 14, &n, 2);
    g_assert_true(guest_ram_write(&v->m->ram, table + 16ULL * i, b, 16));
}

static void kick(Vm *v, uint16_t head)
{
    uint16_t val = htole16(head);

    guest_ram_write(&v->m->ram, AVAIL + 4 + 2 * (v->avail_idx % QSZ), &val, 2);
    v->avail_idx++;
    val = htole16(v->avail_idx);
    guest_ram_write(&v->m->ram, AVAIL + 2, &val, 2);
    wr(v, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

/* The next used element's length, or -1 when there is none (after running the loop). */
static int64_t next_used(Vm *v)
{
    uint16_t idx;
    uint32_t len;

    run_loop(v);
    guest_ram_read(&v->m->ram, USED + 2, &idx, 2);
    if (le16toh(idx) == v->used_seen) {
        return -1;
    }
    guest_ram_read(&v->m->ram, USED + 4 + 8 * (v->used_seen % QSZ) + 4, &len, 4);
    v->used_seen++;
    return le32toh(len);
}

static bool needs_reset(Vm *v)
{
    run_loop(v);
    return rd(v, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

/* Nothing outside [BUF, BUF+len) of the buffer area was written. */
static void assert_canary_beyond(Vm *v, uint64_t len)
{
    const uint8_t *p = machine_gpa(v->m, BUF, 0x10000);

    for (uint64_t i = len; i < 0x10000; i++) {
        g_assert_cmphex(p[i], ==, CANARY);
    }
}

static void test_device_reads(void)
{
    Vm v;
    const uint8_t *p;

    vm_start(&v, NULL);
    drv_init(&v);
    /* Two writable descriptors, one request: the file's bytes in order. */
    put_desc(&v, DESC, 0, BUF, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    put_desc(&v, DESC, 1, BUF + 16, 48, VIRTQ_DESC_F_WRITE, 0);
    kick(&v, 0);
    g_assert_cmpint(next_used(&v), ==, 64);
    p = machine_gpa(v.m, BUF, 64);
    for (unsigned i = 0; i < 64; i++) {
        g_assert_cmpuint(p[i], ==, (uint8_t)(i * 13 + 1));
    }
    assert_canary_beyond(&v, 64);
    /* An indirect table of writable entries. */
    put_desc(&v, INDIRECT, 0, BUF + 64, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    put_desc(&v, INDIRECT, 1, BUF + 72, 8, VIRTQ_DESC_F_WRITE, 0);
    put_desc(&v, DESC, 2, INDIRECT, 32, VIRTQ_DESC_F_INDIRECT, 0);
    kick(&v, 2);
    g_assert_cmpint(next_used(&v), ==, 16);
    g_assert_cmpuint(p[64], ==, (uint8_t)(64 * 13 + 1));
    g_assert_cmpuint(((uint8_t *)machine_gpa(v.m, BUF, 80))[79], ==, (uint8_t)(79 * 13 + 1));
    assert_canary_beyond(&v, 80);
    g_assert_cmpint(next_used(&v), ==, -1);
    vm_stop(&v);
}

/*
 * Hostile rings: each breaks the device (NEEDS_RESET), none writes a byte
 * outside what the guest offered, and a reset brings the device back.
 */
typedef struct HostileCase {
    const char *name;
    void (*build)(Vm *v);          /* descriptors; the chain head is 0 */
} HostileCase;

static void h_readable(Vm *v)
{
    put_desc(v, DESC, 0, BUF, 64, 0, 0);
}

static void h_readable_after_writable(Vm *v)
{
    put_desc(v, DESC, 0, BUF, 32, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    put_desc(v, DESC, 1, BUF + 32, 32, 0, 0);
}

static void h_readable_then_writable(Vm *v)
{
    put_desc(v, DESC, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
    put_desc(v, DESC, 1, BUF + 8, 56, VIRTQ_DESC_F_WRITE, 0);
}

static void h_zero_length(Vm *v)
{
    put_desc(v, DESC, 0, BUF, 0, VIRTQ_DESC_F_WRITE, 0);
}

static void h_outside_ram(Vm *v)
{
    put_desc(v, DESC, 0, 0xE0000000ULL, 64, VIRTQ_DESC_F_WRITE, 0);
}

static void h_straddles_ram_end(Vm *v)
{
    put_desc(v, DESC, 0, guest_ram_end(&v->m->ram) - 16, 64, VIRTQ_DESC_F_WRITE, 0);
}

static void h_huge_length(Vm *v)
{
    put_desc(v, DESC, 0, BUF, 0xFFFFFFFFu, VIRTQ_DESC_F_WRITE, 0);
}

static void h_loop(Vm *v)
{
    put_desc(v, DESC, 0, BUF, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    put_desc(v, DESC, 1, BUF + 8, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
}

static void h_next_out_of_table(Vm *v)
{
    put_desc(v, DESC, 0, BUF, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, QSZ + 3);
}

static void h_indirect_readable(Vm *v)
{
    put_desc(v, INDIRECT, 0, BUF, 8, 0, 0);
    put_desc(v, DESC, 0, INDIRECT, 16, VIRTQ_DESC_F_INDIRECT, 0);
}

static void h_indirect_outside_ram(Vm *v)
{
    put_desc(v, DESC, 0, 0xE0000000ULL, 64, VIRTQ_DESC_F_INDIRECT, 0);
}

static const HostileCase hostile_cases[] = {
    { "readable", h_readable },
    { "readable-after-writable", h_readable_after_writable },
    { "readable-then-writable", h_readable_then_writable },
    { "zero-length", h_zero_length },
    { "outside-ram", h_outside_ram },
    { "straddles-ram-end", h_straddles_ram_end },
    { "huge-length", h_huge_length },
    { "loop", h_loop },
    { "next-out-of-table", h_next_out_of_table },
    { "indirect-readable", h_indirect_readable },
    { "indirect-outside-ram", h_indirect_outside_ram },
};

static void test_hostile(gconstpointer opaque)
{
    const HostileCase *c = opaque;
    Vm v;

    vm_start(&v, NULL);
    drv_init(&v);
    c->build(&v);
    kick(&v, 0);
    g_assert_true(needs_reset(&v));
    g_assert_cmpint(next_used(&v), ==, -1);
    assert_canary_beyond(&v, 0);
    /* Broken until reset: a good request now is left alone. */
    put_desc(&v, DESC, 5, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
    kick(&v, 5);
    g_assert_cmpint(next_used(&v), ==, -1);
    assert_canary_beyond(&v, 0);
    drv_init(&v);
    g_assert_false(needs_reset(&v));
    put_desc(&v, DESC, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
    kick(&v, 0);
    g_assert_cmpint(next_used(&v), ==, 8);
    assert_canary_beyond(&v, 8);
    vm_stop(&v);
}

/* The limiter on the machine's virtual clock (qtest), through the ring. */
static void test_device_rate(void)
{
    Vm v;
    MachineClock *clk;

    vm_start(&v, "max-bytes=100,period=1000");
    clk = machine_clock_get(&v.m->clock, v.m->ctx);
    g_assert_true(machine_clock_is_virtual(clk));
    drv_init(&v);
    for (unsigned i = 0; i < 4; i++) {
        put_desc(&v, DESC, i, BUF + 64 * i, 64, VIRTQ_DESC_F_WRITE, 0);
        kick(&v, (uint16_t)i);
    }
    g_assert_cmpint(next_used(&v), ==, 64);
    g_assert_cmpint(next_used(&v), ==, 36);
    g_assert_cmpint(next_used(&v), ==, -1);
    machine_clock_advance_to(clk, SEC - 1);
    g_assert_cmpint(next_used(&v), ==, -1);
    machine_clock_advance_to(clk, SEC);
    g_assert_cmpint(next_used(&v), ==, 64);
    g_assert_cmpint(next_used(&v), ==, 36);
    /* Bytes went out in order, none twice, across the windows. */
    for (unsigned i = 0; i < 200; i++) {
        unsigned buf = i < 64 ? i : i < 100 ? 64 + (i - 64) : i < 164 ? 128 + (i - 100)
                                                                        : 192 + (i - 164);
        g_assert_cmpuint(((uint8_t *)machine_gpa(v.m, BUF, 256))[buf], ==,
                         (uint8_t)(i * 13 + 1));
    }
    vm_stop(&v);
}

static Device *rng_device(Vm *v)
{
    Device *d = machine_find_device(v->m, "rng0");

    g_assert_nonnull(d);
    return d;
}

static GByteArray *save(Device *d)
{
    GByteArray *b = g_byte_array_new();

    g_assert_true(device_save_state(d, b, NULL));
    return b;
}

/*
 * The state keeps the open window: a machine restored mid-window does not
 * give its guest a fresh quota, and finds the window's end where it was.
 */
static void test_state(void)
{
    g_autoptr(GError) err = NULL;
    MachineClock *clk;
    Device *d;
    Vm v;

    vm_start(&v, "max-bytes=100,period=1000");
    clk = machine_clock_get(&v.m->clock, v.m->ctx);
    d = rng_device(&v);
    drv_init(&v);
    machine_clock_advance_to(clk, 5 * SEC);
    put_desc(&v, DESC, 0, BUF, 70, VIRTQ_DESC_F_WRITE, 0);
    kick(&v, 0);
    g_assert_cmpint(next_used(&v), ==, 70);
    machine_clock_advance_to(clk, 5 * SEC + 400 * MS);
    {
        g_autoptr(GByteArray) a = save(d);
        g_autoptr(GByteArray) b = NULL;

        /* Load, save again: the same bytes. */
        g_assert_true(device_load_state(d, a->data, a->len, &err));
        g_assert_no_error(err);
        b = save(d);
        g_assert_cmpmem(a->data, a->len, b->data, b->len);
        vm_stop(&v);

        /* A fresh machine at another time takes the section... */
        vm_start(&v, "max-bytes=100,period=1000");
        clk = machine_clock_get(&v.m->clock, v.m->ctx);
        machine_clock_advance_to(clk, 77 * SEC);
        d = rng_device(&v);
        g_assert_true(device_load_state(d, a->data, a->len, &err));
        g_assert_no_error(err);
        /* ...with the guest's queue where it was: 30 bytes left for 600 ms. */
        v.used_seen = 1;
        v.avail_idx = 1;
        put_desc(&v, DESC, 1, BUF, 64, VIRTQ_DESC_F_WRITE, 0);
        kick(&v, 1);
        g_assert_cmpint(next_used(&v), ==, 30);
        put_desc(&v, DESC, 2, BUF, 64, VIRTQ_DESC_F_WRITE, 0);
        kick(&v, 2);
        machine_clock_advance_to(clk, 77 * SEC + 600 * MS - 1);
        g_assert_cmpint(next_used(&v), ==, -1);
        machine_clock_advance_to(clk, 77 * SEC + 600 * MS);
        g_assert_cmpint(next_used(&v), ==, 64);
    }
    vm_stop(&v);
}

/* Hostile sections: a quota above max-bytes, a window longer than the period. */
static void test_state_hostile(void)
{
    g_autoptr(GError) err = NULL;
    Device *d;
    Vm v;

    vm_start(&v, "max-bytes=100,period=1000");
    d = rng_device(&v);
    {
        g_autoptr(GByteArray) a = save(d);
        /* lim.quota (u64, 100: no window yet) then window_left_ns (i64, -1). */
        uint8_t fields[16];
        uint64_t quota = htole64(100);
        int64_t left = -1;
        uint8_t *at;

        memcpy(fields, &quota, 8);
        memcpy(fields + 8, &left, 8);
        at = memmem(a->data, a->len, fields, sizeof(fields));
        g_assert_nonnull(at);
        quota = htole64(101);
        memcpy(at, &quota, 8);
        g_assert_false(device_load_state(d, a->data, a->len, &err));
        g_assert_nonnull(err);
        g_clear_error(&err);
        quota = htole64(5);
        left = (int64_t)htole64((uint64_t)(2 * SEC));
        memcpy(at, &quota, 8);
        memcpy(at + 8, &left, 8);
        g_assert_false(device_load_state(d, a->data, a->len, &err));
        g_assert_nonnull(err);
        g_clear_error(&err);
    }
    vm_stop(&v);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("stratus-rng-XXXXXX", NULL);
    g_test_add_func("/virtio-rng/limiter", test_limiter);
    g_test_add_func("/virtio-rng/check-rate", test_check_rate);
    g_test_add_func("/virtio-rng/object-table", test_object_table);
    g_test_add_func("/virtio-rng/options", test_options);
    g_test_add_func("/virtio-rng/device/reads", test_device_reads);
    g_test_add_func("/virtio-rng/device/rate", test_device_rate);
    for (size_t i = 0; i < G_N_ELEMENTS(hostile_cases); i++) {
        g_autofree char *path = g_strdup_printf("/virtio-rng/device/hostile/%s",
                                                hostile_cases[i].name);
        g_test_add_data_func(path, &hostile_cases[i], test_hostile);
    }
    g_test_add_func("/virtio-rng/device/state", test_state);
    g_test_add_func("/virtio-rng/device/state-hostile", test_state_hostile);
    ret = g_test_run();
    g_rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}
