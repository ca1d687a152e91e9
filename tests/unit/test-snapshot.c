/*
 * The snapshot file reader and writer (src/migration/snapshot.c): a round
 * trip of a two-vCPU state with a board record and two device records, and
 * hostile input: every truncation point, every single flipped byte, a newer
 * format version, a wrong magic, trailing bytes, a corrupt section behind a
 * valid checksum, and the memory header's checks.
 */
#include <string.h>

#include "migration/snapshot.h"

static void fill_info(SnapshotInfo *info)
{
    memset(info, 0, sizeof(*info));
    memcpy(info->machine, "microvm", 7);
    info->machine_len = 7;
    memcpy(info->accel, "emu", 3);
    info->accel_len = 3;
    for (unsigned i = 0; i < SNAPSHOT_ID_LEN; i++) {
        info->id[i] = (uint8_t)(0xA0 + i);
    }
    info->ncpus = 2;
    info->mem_size = 256 << 20;
    info->nram = 1;
    info->ram[0] = (SnapshotRamBlock){ .gpa = 0, .size = 256 << 20 };
    info->memory_len = 256 << 20;
    info->ndevices = 2;
}

static void fill_cpu(X86VcpuState *c, unsigned i)
{
    x86_vcpu_state_init(c);
    for (unsigned r = 0; r < 16; r++) {
        c->gpr[r] = 0x1000u * i + r;
    }
    c->rip = 0xFFFF0 + i;
    c->rflags = 0x2;
    c->cr0 = 0x60000010;
    c->apic_base = 0xFEE00000 | (i == 0 ? 0x100 : 0) | 0x800;
    c->seg[1].attr = 0x9B;
    c->seg[1].limit = 0xFFFF;
    x86_lapic_set_reg(c, 0x20, i << 24);
    c->events.mp_state = i ? 3 : 0;
}

static GBytes *make_snapshot(void)
{
    SnapshotInfo info;
    X86VmState vm;
    X86VcpuState cpus[2];
    static const uint8_t board[] = { 1, 2, 3 };
    static const uint8_t dev0[] = { 9, 8, 7, 6 };
    GByteArray *body;

    fill_info(&info);
    x86_vm_state_init(&vm);
    vm.clock_ns = 123456789;
    fill_cpu(&cpus[0], 0);
    fill_cpu(&cpus[1], 1);
    body = snapshot_state_begin(&info, &vm, cpus, NULL);
    g_assert_nonnull(body);
    snapshot_state_add_record(body, "board", "microvm", NULL, board, sizeof(board));
    snapshot_state_add_record(body, "device", "isa-serial", "/machine/unattached/device[2]",
                              dev0, sizeof(dev0));
    snapshot_state_add_record(body, "device", "pvpanic", "/machine/peripheral/pp", NULL, 0);
    return snapshot_state_finish(body);
}

static void test_round_trip(void)
{
    g_autoptr(GBytes) bytes = make_snapshot();
    g_autoptr(GError) err = NULL;
    g_autoptr(SnapshotImage) img = snapshot_state_parse(bytes, &err);
    SnapshotInfo want;
    X86VcpuState c1;

    g_assert_no_error(err);
    g_assert_nonnull(img);
    fill_info(&want);
    g_assert_cmpmem(img->info.machine, img->info.machine_len, "microvm", 7);
    g_assert_cmpmem(img->info.id, SNAPSHOT_ID_LEN, want.id, SNAPSHOT_ID_LEN);
    g_assert_cmpuint(img->info.ncpus, ==, 2);
    g_assert_cmpuint(img->info.mem_size, ==, want.mem_size);
    g_assert_cmpuint(img->info.nram, ==, 1);
    g_assert_cmpuint(img->info.ram[0].size, ==, want.ram[0].size);
    g_assert_cmpuint(img->vm.clock_ns, ==, 123456789);
    fill_cpu(&c1, 1);
    g_assert_cmpmem(&img->cpus[1], sizeof(c1), &c1, sizeof(c1));
    g_assert_cmpstr(img->board, ==, "microvm");
    g_assert_cmpmem(img->board_data, img->board_len, "\1\2\3", 3);
    g_assert_cmpuint(img->info.ndevices, ==, 2);
    g_assert_cmpstr(img->devices[0].type, ==, "isa-serial");
    g_assert_cmpstr(img->devices[0].path, ==, "/machine/unattached/device[2]");
    g_assert_cmpmem(img->devices[0].data, img->devices[0].len, "\x09\x08\x07\x06", 4);
    g_assert_cmpstr(img->devices[1].path, ==, "/machine/peripheral/pp");
    g_assert_cmpuint(img->devices[1].len, ==, 0);
}

static void expect_refused(const uint8_t *p, size_t len, const char *words)
{
    g_autoptr(GBytes) b = g_bytes_new(p, len);
    g_autoptr(GError) err = NULL;
    g_autoptr(SnapshotImage) img = snapshot_state_parse(b, &err);

    g_assert_null(img);
    g_assert_nonnull(err);
    if (words && !strstr(err->message, words)) {
        g_error("length %zu: '%s' does not say '%s'", len, err->message, words);
    }
}

static void test_every_truncation(void)
{
    g_autoptr(GBytes) bytes = make_snapshot();
    size_t len;
    const uint8_t *p = g_bytes_get_data(bytes, &len);

    for (size_t n = 0; n < len; n++) {
        expect_refused(p, n, n >= 16 ? "truncated" : NULL);
    }
}

static void test_every_flipped_byte(void)
{
    g_autoptr(GBytes) bytes = make_snapshot();
    size_t len;
    const uint8_t *p = g_bytes_get_data(bytes, &len);
    g_autofree uint8_t *copy = g_memdup2(p, len);

    for (size_t i = 0; i < len; i++) {
        copy[i] ^= 0x5A;
        expect_refused(copy, len, NULL);
        copy[i] = p[i];
    }
}

static uint8_t *copy_of(GBytes *bytes, size_t extra, size_t *len)
{
    const uint8_t *p = g_bytes_get_data(bytes, len);
    uint8_t *c = g_malloc0(*len + extra);

    memcpy(c, p, *len);
    return c;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void test_header_errors(void)
{
    g_autoptr(GBytes) bytes = make_snapshot();
    size_t len;
    g_autofree uint8_t *c = copy_of(bytes, 1, &len);

    c[16] = SNAPSHOT_FORMAT_VERSION + 1;
    expect_refused(c, len, "format version 2 is newer than the supported 1");
    c[16] = SNAPSHOT_FORMAT_VERSION;
    c[0] = 'X';
    expect_refused(c, len, "not a Stratus snapshot");
    c[0] = 'S';
    expect_refused(c, len + 1, "corrupt");
    c[SNAPSHOT_STATE_HEADER_LEN + 3] ^= 1;
    expect_refused(c, len, "checksum");
}

/* A section that is wrong behind a valid checksum: the section reader catches it. */
static void test_corrupt_section_valid_crc(void)
{
    g_autoptr(GBytes) bytes = make_snapshot();
    size_t len;
    g_autofree uint8_t *c = copy_of(bytes, 0, &len);
    uint8_t *body = c + SNAPSHOT_STATE_HEADER_LEN;
    size_t body_len = len - SNAPSHOT_STATE_HEADER_LEN;

    /* The first section's name: "snapshot" -> "snapshoX". */
    g_assert_cmpmem(body + 1, 8, "snapshot", 8);
    body[8] = 'X';
    put_le32(c + 32, snapshot_crc32(body, body_len));
    expect_refused(c, len, "section");
    body[8] = 't';
    /* vCPU count 0 in the "snapshot" section. */
    {
        size_t at = 1 + 8 + 4 + 4 + (4 + 7) + (4 + 3) + (4 + SNAPSHOT_ID_LEN);
        g_assert_cmpuint(body[at], ==, 2);
        body[at] = 0;
        put_le32(c + 32, snapshot_crc32(body, body_len));
        expect_refused(c, len, "vCPUs");
    }
}

static void test_memory_header(void)
{
    SnapshotInfo info, other;
    uint8_t hdr[SNAPSHOT_MEMORY_HEADER_LEN];
    g_autoptr(GError) err = NULL;

    fill_info(&info);
    snapshot_memory_header(&info, hdr);
    g_assert_true(snapshot_memory_check(&info, hdr, sizeof(hdr), &err));
    g_assert_false(snapshot_memory_check(&info, hdr, 100, &err));
    g_assert_nonnull(strstr(err->message, "truncated"));
    g_clear_error(&err);
    other = info;
    other.id[0] ^= 1;
    g_assert_false(snapshot_memory_check(&other, hdr, sizeof(hdr), &err));
    g_assert_nonnull(strstr(err->message, "another snapshot"));
    g_clear_error(&err);
    other = info;
    other.ram[0].size >>= 1;
    g_assert_false(snapshot_memory_check(&other, hdr, sizeof(hdr), &err));
    g_clear_error(&err);
    hdr[16] = 9;
    g_assert_false(snapshot_memory_check(&info, hdr, sizeof(hdr), &err));
    g_assert_nonnull(strstr(err->message, "newer"));
    g_clear_error(&err);
    hdr[16] = 1;
    hdr[0] = 0;
    g_assert_false(snapshot_memory_check(&info, hdr, sizeof(hdr), &err));
}

static void test_crc32(void)
{
    /* The standard check value of CRC-32/ISO-HDLC. */
    g_assert_cmphex(snapshot_crc32((const uint8_t *)"123456789", 9), ==, 0xCBF43926);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/snapshot/crc32", test_crc32);
    g_test_add_func("/snapshot/round-trip", test_round_trip);
    g_test_add_func("/snapshot/every-truncation", test_every_truncation);
    g_test_add_func("/snapshot/every-flipped-byte", test_every_flipped_byte);
    g_test_add_func("/snapshot/header-errors", test_header_errors);
    g_test_add_func("/snapshot/corrupt-section-valid-crc", test_corrupt_section_valid_crc);
    g_test_add_func("/snapshot/memory-header", test_memory_header);
    return g_test_run();
}
