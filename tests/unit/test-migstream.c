/*
 * The live migration stream's encoder and decoder (src/migration/stream.c):
 * round trips of the header, records, page entries (normal and zero),
 * replies and the setup record; every truncation point of a record header,
 * of a PAGES payload and of a setup record is refused, and a malformed
 * PAGES payload applies nothing.
 */
#include <string.h>

#include "migration/stream.h"

typedef struct {
    unsigned calls, zero;
    uint64_t gpas[8];
    uint8_t first_byte[8];
} Seen;

static bool record_page(uint64_t gpa, const uint8_t *data, void *opaque, GError **err)
{
    Seen *s = opaque;

    (void)err;
    g_assert_cmpuint(s->calls, <, 8);
    s->gpas[s->calls] = gpa;
    s->first_byte[s->calls] = data ? data[0] : 0;
    s->zero += !data;
    s->calls++;
    return true;
}

static GByteArray *three_pages(void)
{
    GByteArray *p = g_byte_array_new();
    g_autofree uint8_t *page = g_malloc0(MIGSTREAM_PAGE_SIZE);

    page[0] = 0xAB;
    g_assert_false(migstream_put_page(p, 0x1000, page));
    memset(page, 0, MIGSTREAM_PAGE_SIZE);
    g_assert_true(migstream_put_page(p, 0x2000, page));
    page[4095] = 1;
    g_assert_false(migstream_put_page(p, 0x100000000ULL, page));
    return p;
}

static void test_pages_round_trip(void)
{
    g_autoptr(GByteArray) p = three_pages();
    Seen s = { 0 };

    g_assert_cmpuint(p->len, ==, 3 * 8 + 2 * MIGSTREAM_PAGE_SIZE);
    g_assert_true(migstream_pages(p->data, p->len, record_page, &s, NULL));
    g_assert_cmpuint(s.calls, ==, 3);
    g_assert_cmpuint(s.zero, ==, 1);
    g_assert_cmpuint(s.gpas[0], ==, 0x1000);
    g_assert_cmpuint(s.first_byte[0], ==, 0xAB);
    g_assert_cmpuint(s.gpas[1], ==, 0x2000);
    g_assert_cmpuint(s.gpas[2], ==, 0x100000000ULL);
}

static void test_pages_every_truncation(void)
{
    g_autoptr(GByteArray) p = three_pages();

    /* Entry boundaries are valid ends; anything else is refused and applies nothing. */
    for (size_t n = 0; n < p->len; n++) {
        g_autoptr(GError) err = NULL;
        Seen s = { 0 };
        bool boundary = n == 0 || n == 8 + MIGSTREAM_PAGE_SIZE || n == 16 + MIGSTREAM_PAGE_SIZE;
        bool ok = migstream_pages(p->data, n, record_page, &s, &err);

        g_assert_cmpint(ok, ==, boundary);
        if (!ok) {
            g_assert_cmpuint(s.calls, ==, 0);
            g_assert_nonnull(strstr(err->message, "truncated"));
        }
    }
}

static void test_pages_bad_entry(void)
{
    g_autoptr(GByteArray) p = three_pages();
    g_autoptr(GError) err = NULL;
    Seen s = { 0 };

    p->data[8 + MIGSTREAM_PAGE_SIZE] |= 0x2;      /* an unknown flag on the second entry */
    g_assert_false(migstream_pages(p->data, p->len, record_page, &s, &err));
    g_assert_cmpuint(s.calls, ==, 0);
    g_assert_nonnull(strstr(err->message, "bad page entry"));
}

static void test_header(void)
{
    g_autoptr(GByteArray) h = g_byte_array_new();

    migstream_put_header(h);
    g_assert_cmpuint(h->len, ==, MIGSTREAM_HEADER_LEN);
    g_assert_true(migstream_check_header(h->data, h->len, NULL));
    for (size_t n = 0; n < h->len; n++) {
        g_autoptr(GError) err = NULL;
        g_assert_false(migstream_check_header(h->data, n, &err));
        g_assert_nonnull(strstr(err->message, "truncated"));
    }
    h->data[16] = 2;
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(migstream_check_header(h->data, h->len, &err));
        g_assert_nonnull(strstr(err->message, "version 2"));
    }
    h->data[0] = 'X';
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(migstream_check_header(h->data, h->len, &err));
        g_assert_nonnull(strstr(err->message, "not a Stratus"));
    }
}

static void test_record_header(void)
{
    g_autoptr(GByteArray) r = g_byte_array_new();
    MigRecordType type;
    uint32_t len;

    migstream_put_record(r, MIGREC_STATE, "abc", 3);
    g_assert_cmpuint(r->len, ==, MIGSTREAM_RECORD_HEADER_LEN + 3);
    g_assert_true(migstream_record_header(r->data, r->len, &type, &len, NULL));
    g_assert_cmpint(type, ==, MIGREC_STATE);
    g_assert_cmpuint(len, ==, 3);
    for (size_t n = 0; n < MIGSTREAM_RECORD_HEADER_LEN; n++) {
        g_assert_false(migstream_record_header(r->data, n, &type, &len, NULL));
    }
    r->data[0] = 0;
    g_assert_false(migstream_record_header(r->data, r->len, &type, &len, NULL));
    r->data[0] = MIGREC_CANCEL + 1;
    g_assert_false(migstream_record_header(r->data, r->len, &type, &len, NULL));
    r->data[0] = MIGREC_PAGES;
    r->data[7] = 0x80;               /* 2 GiB: over the limit */
    g_assert_false(migstream_record_header(r->data, r->len, &type, &len, NULL));
}

static void test_reply(void)
{
    g_autoptr(GByteArray) r = g_byte_array_new();
    g_autofree char *msg = NULL;
    MigRecordType type;
    uint32_t len;
    bool ok = true;

    migstream_put_reply(r, false, "no room");
    g_assert_true(migstream_record_header(r->data, r->len, &type, &len, NULL));
    g_assert_cmpint(type, ==, MIGREC_REPLY);
    g_assert_true(migstream_reply(r->data + 8, len, &ok, &msg, NULL));
    g_assert_false(ok);
    g_assert_cmpstr(msg, ==, "no room");
    g_assert_false(migstream_reply(r->data + 8, 0, &ok, NULL, NULL));
    r->data[8] = 7;
    g_assert_false(migstream_reply(r->data + 8, len, &ok, NULL, NULL));
}

static MigSetup *sample_setup(void)
{
    MigSetup *s = migsetup_new("microvm", 2, 256 << 20);

    migsetup_add_ram(s, 0, 256 << 20);
    migsetup_add_device(s, "isa-serial", "/machine/unattached/device[1]");
    migsetup_add_device(s, "pvpanic", "/machine/peripheral/pp");
    return s;
}

static void test_setup_round_trip_and_compare(void)
{
    g_autoptr(MigSetup) a = sample_setup();
    g_autoptr(GBytes) enc = migsetup_encode(a);
    gsize len;
    const uint8_t *data = g_bytes_get_data(enc, &len);
    g_autoptr(MigSetup) b = migsetup_decode(data, len, NULL);
    g_autoptr(MigSetup) other = sample_setup();
    g_autoptr(GError) err = NULL;

    g_assert_nonnull(b);
    g_assert_true(migsetup_compare(a, b, NULL));
    other->cpus = 1;
    g_assert_false(migsetup_compare(a, other, &err));
    g_assert_cmpstr(err->message, ==, "the source has 2 vCPUs, -smp asks for 1");
    g_clear_error(&err);
    other->cpus = 2;
    other->mem_size = 512 << 20;
    g_assert_false(migsetup_compare(a, other, &err));
    g_assert_nonnull(strstr(err->message, "-m asks for 512"));
    g_clear_error(&err);
    other->mem_size = 256 << 20;
    migsetup_add_device(other, "virtio-rng-device", "/machine/peripheral/rng");
    g_assert_false(migsetup_compare(a, other, &err));
    g_assert_nonnull(strstr(err->message, "devices differ"));
    g_assert_nonnull(strstr(err->message, "no device"));
}

static void test_setup_every_truncation(void)
{
    g_autoptr(MigSetup) a = sample_setup();
    g_autoptr(GBytes) enc = migsetup_encode(a);
    gsize len;
    const uint8_t *data = g_bytes_get_data(enc, &len);

    for (size_t n = 0; n < len; n++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(MigSetup) s = migsetup_decode(data, n, &err);
        g_assert_null(s);
        g_assert_nonnull(strstr(err->message, "malformed setup record"));
    }
    {
        g_autoptr(GError) err = NULL;
        const char *bad = "{\"machine\":\"microvm\",\"cpus\":1,\"mem\":1,\"ram\":[1],"
                          "\"devices\":[]}";
        g_assert_null(migsetup_decode((const uint8_t *)bad, strlen(bad), &err));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migstream/pages-round-trip", test_pages_round_trip);
    g_test_add_func("/migstream/pages-every-truncation", test_pages_every_truncation);
    g_test_add_func("/migstream/pages-bad-entry", test_pages_bad_entry);
    g_test_add_func("/migstream/header", test_header);
    g_test_add_func("/migstream/record-header", test_record_header);
    g_test_add_func("/migstream/reply", test_reply);
    g_test_add_func("/migstream/setup-compare", test_setup_round_trip_and_compare);
    g_test_add_func("/migstream/setup-every-truncation", test_setup_every_truncation);
    return g_test_run();
}
