/*
 * The generic device state encoder (src/migration/vmstate.c): round trips of
 * every field kind, versions, subsections, the exact wire format, and hostile
 * input (every truncation, flipped bytes, bad counts, wrong sections). Every
 * target lives in its own exact-size heap block so that ASan sees any write
 * past it.
 */
#include <string.h>

#include "migration/vmstate.h"

typedef struct Inner {
    uint16_t a;
    int32_t b;
    bool c;
} Inner;

typedef struct Everything {
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    int64_t i64;
    bool flag;
    uint8_t buf[7];
    uint16_t a16[3];
    uint32_t a32[2];
    uint64_t a64[2];
    int32_t ai32[2];
    int64_t ai64[2];
    bool abool[3];
    Inner inner;
    Inner inners[2];
    uint8_t vbuf[16];
    uint16_t vbuf_len;
    uint32_t vu32[4];
    uint8_t vu32_n;
    uint8_t *pbuf;             /* pbuf_len bytes, allocated by "the device" */
    uint32_t pbuf_len;
    Inner *pinners;            /* npinners elements */
    unsigned npinners;
    Inner *one;                /* a single struct behind a pointer */
    uint32_t added_v2;         /* in the stream from version 2 on */
    uint32_t sub_value;        /* in subsection "everything/sub" */
    bool sub_wanted;           /* host side: not saved */
    uint32_t version_loaded;   /* host side: what post_load saw */
    bool refuse;               /* host side: make the hooks fail */
} Everything;

static const VMStateDescription vmstate_inner = {
    .name = "inner",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_U16(a, Inner),
        VMSTATE_I32(b, Inner),
        VMSTATE_BOOL(c, Inner),
        VMSTATE_END_OF_LIST()
    },
};

static bool sub_needed(void *opaque)
{
    return ((Everything *)opaque)->sub_wanted;
}

static const VMStateDescription vmstate_everything_sub = {
    .name = "everything/sub",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = sub_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_U32(sub_value, Everything),
        VMSTATE_END_OF_LIST()
    },
};

static bool everything_pre_save(void *opaque, GError **err)
{
    if (((Everything *)opaque)->refuse) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID, "refused to save");
        return false;
    }
    return true;
}

static bool everything_post_load(void *opaque, uint32_t version, GError **err)
{
    Everything *e = opaque;

    e->version_loaded = version;
    if (e->refuse) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID, "u8 is %u", e->u8);
        return false;
    }
    return true;
}

#define EVERYTHING_FIELDS_V1                                                \
    VMSTATE_U8(u8, Everything),                                             \
    VMSTATE_U16(u16, Everything),                                           \
    VMSTATE_U32(u32, Everything),                                           \
    VMSTATE_U64(u64, Everything),                                           \
    VMSTATE_I32(i32, Everything),                                           \
    VMSTATE_I64(i64, Everything),                                           \
    VMSTATE_BOOL(flag, Everything),                                         \
    VMSTATE_BUFFER(buf, Everything),                                        \
    VMSTATE_ARRAY(a16, Everything, 3, uint16_t, VMS_U16),                   \
    VMSTATE_ARRAY(a32, Everything, 2, uint32_t, VMS_U32),                   \
    VMSTATE_ARRAY(a64, Everything, 2, uint64_t, VMS_U64),                   \
    VMSTATE_ARRAY(ai32, Everything, 2, int32_t, VMS_I32),                   \
    VMSTATE_ARRAY(ai64, Everything, 2, int64_t, VMS_I64),                   \
    VMSTATE_ARRAY(abool, Everything, 3, bool, VMS_BOOL),                    \
    VMSTATE_STRUCT(inner, Everything, vmstate_inner, Inner),                \
    VMSTATE_STRUCT_ARRAY(inners, Everything, 2, vmstate_inner, Inner),      \
    VMSTATE_VARRAY(vbuf, Everything, vbuf_len, 16, uint8_t, VMS_U8),        \
    VMSTATE_VARRAY(vu32, Everything, vu32_n, 4, uint32_t, VMS_U32),         \
    VMSTATE_VBUFFER_PTR(pbuf, Everything, pbuf_len, 64),                    \
    VMSTATE_STRUCT_VARRAY_PTR(pinners, Everything, npinners, 8, vmstate_inner, Inner), \
    VMSTATE_STRUCT_POINTER(one, Everything, vmstate_inner, Inner)

static const VMStateDescription vmstate_everything = {
    .name = "everything",
    .version_id = 2,
    .minimum_version_id = 1,
    .pre_save = everything_pre_save,
    .post_load = everything_post_load,
    .fields = (const VMStateField[]) {
        EVERYTHING_FIELDS_V1,
        VMSTATE_U32_V(added_v2, Everything, 2),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription *const[]) {
        &vmstate_everything_sub,
        NULL
    },
};

/* What the same device wrote before added_v2 existed. */
static const VMStateDescription vmstate_everything_v1 = {
    .name = "everything",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = everything_post_load,
    .fields = (const VMStateField[]) {
        EVERYTHING_FIELDS_V1,
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription *const[]) {
        &vmstate_everything_sub,
        NULL
    },
};

/* A reader that no longer accepts version 1. */
static const VMStateDescription vmstate_everything_min2 = {
    .name = "everything",
    .version_id = 3,
    .minimum_version_id = 2,
    .fields = (const VMStateField[]) {
        EVERYTHING_FIELDS_V1,
        VMSTATE_U32_V(added_v2, Everything, 2),
        VMSTATE_END_OF_LIST()
    },
};

/* A reader that does not know the subsection. */
static const VMStateDescription vmstate_everything_nosub = {
    .name = "everything",
    .version_id = 2,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        EVERYTHING_FIELDS_V1,
        VMSTATE_U32_V(added_v2, Everything, 2),
        VMSTATE_END_OF_LIST()
    },
};

/* ---- targets ---- */

static Everything *everything_new(uint32_t pbuf_len, unsigned npinners)
{
    Everything *e = g_new0(Everything, 1);

    e->pbuf_len = pbuf_len;
    e->pbuf = g_malloc0(pbuf_len ? pbuf_len : 1);
    e->npinners = npinners;
    e->pinners = g_new0(Inner, npinners ? npinners : 1);
    e->one = g_new0(Inner, 1);
    return e;
}

static void everything_free(Everything *e)
{
    g_free(e->pbuf);
    g_free(e->pinners);
    g_free(e->one);
    g_free(e);
}

/* Distinct non-default values everywhere, negative where signed. */
static Everything *everything_filled(void)
{
    Everything *e = everything_new(5, 2);

    *e = (Everything) {
        .u8 = 0xa1, .u16 = 0xb2c3, .u32 = 0xd4e5f607, .u64 = 0x1122334455667788ULL,
        .i32 = -123456, .i64 = -9876543210LL, .flag = true,
        .buf = { 1, 2, 3, 4, 5, 6, 7 },
        .a16 = { 0x1111, 0x2222, 0xffff }, .a32 = { 0xdeadbeef, 7 },
        .a64 = { UINT64_MAX, 1 }, .ai32 = { INT32_MIN, -1 }, .ai64 = { INT64_MIN, 42 },
        .abool = { true, false, true },
        .inner = { 0x1234, -5, true },
        .inners = { { 1, -1, false }, { 2, INT32_MAX, true } },
        .vbuf = { 9, 8, 7 }, .vbuf_len = 3,
        .vu32 = { 100, 200 }, .vu32_n = 2,
        .pbuf = e->pbuf, .pbuf_len = 5, .pinners = e->pinners, .npinners = 2, .one = e->one,
        .added_v2 = 0xfeedface, .sub_value = 0xabcdef01, .sub_wanted = true,
    };
    memcpy(e->pbuf, "\x10\x20\x30\x40\x50", 5);
    e->pinners[0] = (Inner) { 0xaaaa, -77, true };
    e->pinners[1] = (Inner) { 0xbbbb, 77, false };
    *e->one = (Inner) { 0xcccc, -99, true };
    return e;
}

static GByteArray *save_ok(const VMStateDescription *vmsd, void *opaque)
{
    GByteArray *out = g_byte_array_new();
    GError *err = NULL;

    g_assert_true(vmstate_save(vmsd, opaque, out, &err));
    g_assert_no_error(err);
    return out;
}

static void load_ok(const VMStateDescription *vmsd, void *opaque, GByteArray *b)
{
    GError *err = NULL;
    size_t consumed = 0;

    g_assert_true(vmstate_load(vmsd, opaque, b->data, b->len, &consumed, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(consumed, ==, b->len);
}

/* Loading fails with `code` and a message containing `fragment`. */
static void load_fails(const VMStateDescription *vmsd, void *opaque, const uint8_t *buf,
                       size_t len, int code, const char *fragment)
{
    GError *err = NULL;

    g_assert_false(vmstate_load(vmsd, opaque, buf, len, NULL, &err));
    g_assert_error(err, VMSTATE_ERROR, code);
    if (fragment && !strstr(err->message, fragment)) {
        g_error("'%s' does not contain '%s'", err->message, fragment);
    }
    g_error_free(err);
}

static void assert_same_bytes(GByteArray *a, GByteArray *b)
{
    g_assert_cmpmem(a->data, a->len, b->data, b->len);
}

/* ---- round trips ---- */

static void test_roundtrip_all_types(void)
{
    Everything *src = everything_filled(), *dst = everything_new(5, 2);
    GByteArray *a = save_ok(&vmstate_everything, src), *b;

    load_ok(&vmstate_everything, dst, a);
    g_assert_cmpuint(dst->u8, ==, 0xa1);
    g_assert_cmpuint(dst->u16, ==, 0xb2c3);
    g_assert_cmpuint(dst->u32, ==, 0xd4e5f607);
    g_assert_cmpuint(dst->u64, ==, 0x1122334455667788ULL);
    g_assert_cmpint(dst->i32, ==, -123456);
    g_assert_cmpint(dst->i64, ==, -9876543210LL);
    g_assert_true(dst->flag);
    g_assert_cmpmem(dst->buf, 7, src->buf, 7);
    g_assert_cmpmem(dst->a16, sizeof(dst->a16), src->a16, sizeof(src->a16));
    g_assert_cmpmem(dst->a32, sizeof(dst->a32), src->a32, sizeof(src->a32));
    g_assert_cmpmem(dst->a64, sizeof(dst->a64), src->a64, sizeof(src->a64));
    g_assert_cmpint(dst->ai32[0], ==, INT32_MIN);
    g_assert_cmpint(dst->ai64[0], ==, INT64_MIN);
    g_assert_true(dst->abool[0] && !dst->abool[1] && dst->abool[2]);
    g_assert_cmpint(dst->inner.b, ==, -5);
    g_assert_cmpint(dst->inners[1].b, ==, INT32_MAX);
    g_assert_true(dst->inners[1].c);
    g_assert_cmpuint(dst->vbuf_len, ==, 3);
    g_assert_cmpmem(dst->vbuf, 3, "\x09\x08\x07", 3);
    g_assert_cmpuint(dst->vu32_n, ==, 2);
    g_assert_cmpuint(dst->vu32[1], ==, 200);
    g_assert_cmpmem(dst->pbuf, 5, src->pbuf, 5);
    g_assert_cmpuint(dst->pinners[0].a, ==, 0xaaaa);
    g_assert_cmpint(dst->pinners[1].b, ==, 77);
    g_assert_cmpuint(dst->one->a, ==, 0xcccc);
    g_assert_cmpint(dst->one->b, ==, -99);
    g_assert_true(dst->one->c);
    g_assert_cmpuint(dst->added_v2, ==, 0xfeedface);
    g_assert_cmpuint(dst->sub_value, ==, 0xabcdef01);
    g_assert_cmpuint(dst->version_loaded, ==, 2);

    dst->sub_wanted = true;   /* host side: not part of the state */
    b = save_ok(&vmstate_everything, dst);
    assert_same_bytes(a, b);
    g_byte_array_unref(a);
    g_byte_array_unref(b);
    everything_free(src);
    everything_free(dst);
}

/* A counted inline array shrinks on load; elements past the count are not touched. */
static void test_counted_array_shrinks(void)
{
    Everything *src = everything_filled(), *dst = everything_filled();
    GByteArray *a;

    src->vbuf_len = 0;
    src->vu32_n = 4;
    memcpy(src->vu32, (uint32_t[]) { 1, 2, 3, 4 }, sizeof(src->vu32));
    a = save_ok(&vmstate_everything, src);
    load_ok(&vmstate_everything, dst, a);
    g_assert_cmpuint(dst->vbuf_len, ==, 0);
    g_assert_cmpuint(dst->vbuf[0], ==, 9);
    g_assert_cmpuint(dst->vu32_n, ==, 4);
    g_assert_cmpuint(dst->vu32[3], ==, 4);
    g_byte_array_unref(a);
    everything_free(src);
    everything_free(dst);
}

/* ---- the wire format, byte for byte (docs/migration.md) ---- */

typedef struct Tiny {
    uint8_t a;
    uint16_t b;
    uint32_t c[2];
    bool d;
    int32_t e;
} Tiny;

static const VMStateDescription vmstate_tiny = {
    .name = "tiny",
    .version_id = 3,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_U8(a, Tiny),
        VMSTATE_U16(b, Tiny),
        VMSTATE_ARRAY(c, Tiny, 2, uint32_t, VMS_U32),
        VMSTATE_BOOL(d, Tiny),
        VMSTATE_I32(e, Tiny),
        VMSTATE_END_OF_LIST()
    },
};

static const uint8_t tiny_wire[] = {
    4, 't', 'i', 'n', 'y',      /* name */
    3, 0, 0, 0,                 /* version */
    20, 0, 0, 0,                /* payload length */
    0x5a,                       /* a */
    0x34, 0x12,                 /* b */
    2, 0, 0, 0,                 /* c: count */
    0x78, 0x56, 0x34, 0x12,     /* c[0] */
    0xff, 0xff, 0xff, 0xff,     /* c[1] */
    1,                          /* d */
    0xfe, 0xff, 0xff, 0xff,     /* e = -2 */
};

static void test_wire_format(void)
{
    Tiny t = { 0x5a, 0x1234, { 0x12345678, 0xffffffff }, true, -2 }, u = { 0 };
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_autofree char *name = NULL;
    uint32_t version = 0;
    size_t total = 0, consumed = 0;

    g_byte_array_append(out, (const guint8 *)"xy", 2);   /* appends, keeps what is there */
    g_assert_true(vmstate_save(&vmstate_tiny, &t, out, NULL));
    g_assert_cmpmem(out->data + 2, out->len - 2, tiny_wire, sizeof(tiny_wire));

    g_assert_true(vmstate_peek(tiny_wire, sizeof(tiny_wire), &name, &version, &total, NULL));
    g_assert_cmpstr(name, ==, "tiny");
    g_assert_cmpuint(version, ==, 3);
    g_assert_cmpuint(total, ==, sizeof(tiny_wire));

    g_assert_true(vmstate_load(&vmstate_tiny, &u, tiny_wire, sizeof(tiny_wire), &consumed,
                               NULL));
    g_assert_cmpuint(consumed, ==, sizeof(tiny_wire));
    g_assert_true(u.a == t.a && u.b == t.b && u.c[0] == t.c[0] && u.c[1] == t.c[1] &&
                  u.d == t.d && u.e == t.e);
}

/* Sections are self-delimiting: two in a row, each read with its own consumed length. */
static void test_concatenated(void)
{
    Tiny t1 = { .a = 1 }, t2 = { .a = 2 }, u = { 0 };
    g_autoptr(GByteArray) out = g_byte_array_new();
    size_t consumed = 0;

    g_assert_true(vmstate_save(&vmstate_tiny, &t1, out, NULL));
    g_assert_true(vmstate_save(&vmstate_tiny, &t2, out, NULL));
    g_assert_true(vmstate_load(&vmstate_tiny, &u, out->data, out->len, &consumed, NULL));
    g_assert_cmpuint(u.a, ==, 1);
    g_assert_cmpuint(consumed, ==, out->len / 2);
    g_assert_true(vmstate_load(&vmstate_tiny, &u, out->data + consumed, out->len - consumed,
                               NULL, NULL));
    g_assert_cmpuint(u.a, ==, 2);
}

/* ---- subsections ---- */

static void test_subsection_absent(void)
{
    Everything *src = everything_filled(), *dst = everything_new(5, 2);
    GByteArray *with, *without;

    with = save_ok(&vmstate_everything, src);
    src->sub_wanted = false;
    without = save_ok(&vmstate_everything, src);
    g_assert_cmpuint(without->len, <, with->len);

    dst->sub_value = 77;
    load_ok(&vmstate_everything, dst, without);
    g_assert_cmpuint(dst->sub_value, ==, 77);     /* absent: left as the device had it */
    load_ok(&vmstate_everything, dst, with);
    g_assert_cmpuint(dst->sub_value, ==, 0xabcdef01);

    /* A reader without the subsection can still read a stream that omits it... */
    load_ok(&vmstate_everything_nosub, dst, without);
    /* ...but not one that carries it. */
    load_fails(&vmstate_everything_nosub, dst, with->data, with->len,
               VMSTATE_ERROR_UNKNOWN_SUBSECTION, "everything: unknown subsection 'everything/sub'");
    g_byte_array_unref(with);
    g_byte_array_unref(without);
    everything_free(src);
    everything_free(dst);
}

/* Hand-built: a subsection twice in one payload. */
static void test_subsection_twice(void)
{
    Tiny t = { 0 };
    const uint8_t sub[] = { 5, 't', 'i', 'n', 'y', '2', 1, 0, 0, 0, 0, 0, 0, 0 };
    const VMStateDescription tiny2 = {
        .name = "tiny2", .version_id = 1, .minimum_version_id = 1,
    };
    const VMStateDescription tiny_with_sub = {
        .name = "tiny", .version_id = 3, .minimum_version_id = 1,
        .fields = vmstate_tiny.fields,   /* same fields */
        .subsections = (const VMStateDescription *const[]) { &tiny2, NULL },
    };
    g_autoptr(GByteArray) b = g_byte_array_new();

    g_byte_array_append(b, tiny_wire, sizeof(tiny_wire));
    g_byte_array_append(b, sub, sizeof(sub));
    b->data[9] += sizeof(sub);
    g_assert_true(vmstate_load(&tiny_with_sub, &t, b->data, b->len, NULL, NULL));
    g_byte_array_append(b, sub, sizeof(sub));
    b->data[9] += sizeof(sub);
    load_fails(&tiny_with_sub, &t, b->data, b->len, VMSTATE_ERROR_CORRUPT,
               "tiny: subsection 'tiny2' appears twice");
}

/* ---- versions ---- */

static void test_version_added_field(void)
{
    Everything *src = everything_filled(), *dst = everything_new(5, 2);
    GByteArray *old;

    old = save_ok(&vmstate_everything_v1, src);
    dst->added_v2 = 31337;
    load_ok(&vmstate_everything, dst, old);
    g_assert_cmpuint(dst->added_v2, ==, 31337);   /* not in a version 1 stream */
    g_assert_cmpuint(dst->version_loaded, ==, 1);
    g_assert_cmpuint(dst->u64, ==, src->u64);
    g_assert_cmpuint(dst->sub_value, ==, src->sub_value);
    g_byte_array_unref(old);
    everything_free(src);
    everything_free(dst);
}

static void test_version_newer(void)
{
    Everything *src = everything_filled(), *dst = everything_new(5, 2);
    GByteArray *b = save_ok(&vmstate_everything, src);

    load_fails(&vmstate_everything_v1, dst, b->data, b->len, VMSTATE_ERROR_VERSION,
               "everything: stream version 2 is newer than the supported 1");
    g_byte_array_unref(b);
    everything_free(src);
    everything_free(dst);
}

static void test_version_too_old(void)
{
    Everything *src = everything_filled(), *dst = everything_new(5, 2);
    GByteArray *b = save_ok(&vmstate_everything_v1, src);

    load_fails(&vmstate_everything_min2, dst, b->data, b->len, VMSTATE_ERROR_VERSION,
               "everything: stream version 1 is older than the oldest supported 2");
    g_byte_array_unref(b);
    everything_free(src);
    everything_free(dst);
}

/* A nested struct from a newer version names its path. */
static void test_nested_version_newer(void)
{
    Everything *src = everything_filled(), *dst = everything_new(5, 2);
    GByteArray *b = save_ok(&vmstate_everything, src);
    const uint8_t *p = memmem(b->data, b->len, "\x05inner\x01\x00\x00\x00", 10);

    g_assert_nonnull(p);
    b->data[p - b->data + 6] = 9;
    load_fails(&vmstate_everything, dst, b->data, b->len, VMSTATE_ERROR_VERSION,
               "everything: field 'inner': inner: stream version 9 is newer than the "
               "supported 1");
    g_byte_array_unref(b);
    everything_free(src);
    everything_free(dst);
}

static void test_wrong_section(void)
{
    Tiny t = { 0 };
    Everything *dst = everything_new(5, 2);

    load_fails(&vmstate_everything, dst, tiny_wire, sizeof(tiny_wire),
               VMSTATE_ERROR_WRONG_SECTION, "everything: the stream holds section 'tiny'");
    g_assert_true(vmstate_load(&vmstate_tiny, &t, tiny_wire, sizeof(tiny_wire), NULL, NULL));
    everything_free(dst);
}

/* ---- counts, values, hooks ---- */

static void test_counts_out_of_range(void)
{
    Everything *src = everything_filled(), *dst;
    GByteArray *b = save_ok(&vmstate_everything, src);

    /* The device allocated fewer pointer elements than the stream has. */
    dst = everything_new(4, 2);
    load_fails(&vmstate_everything, dst, b->data, b->len, VMSTATE_ERROR_RANGE,
               "everything: field 'pbuf' has 5 elements in the stream, the device has 4");
    everything_free(dst);
    dst = everything_new(5, 3);
    load_fails(&vmstate_everything, dst, b->data, b->len, VMSTATE_ERROR_RANGE,
               "field 'pinners' has 2 elements in the stream, the device has 3");
    everything_free(dst);
    g_byte_array_unref(b);

    /* More than an inline array holds. */
    src->vu32_n = 4;
    b = save_ok(&vmstate_everything, src);
    const uint8_t *p = memmem(b->data, b->len, "\x04\x00\x00\x00\x64\x00\x00\x00", 8);
    g_assert_nonnull(p);
    b->data[p - b->data] = 5;
    dst = everything_new(5, 2);
    load_fails(&vmstate_everything, dst, b->data, b->len, VMSTATE_ERROR_RANGE,
               "field 'vu32' has 5 elements in the stream, the device holds at most 4");
    everything_free(dst);
    g_byte_array_unref(b);
    everything_free(src);
}

static void test_fixed_count_mismatch(void)
{
    Tiny t = { 0 };
    uint8_t b[sizeof(tiny_wire)];

    memcpy(b, tiny_wire, sizeof(b));
    b[16] = 3;
    load_fails(&vmstate_tiny, &t, b, sizeof(b), VMSTATE_ERROR_RANGE,
               "tiny: field 'c' has 3 elements in the stream, the device has 2");
    b[16] = 1;
    load_fails(&vmstate_tiny, &t, b, sizeof(b), VMSTATE_ERROR_RANGE, "field 'c'");
}

static void test_bad_bool(void)
{
    Tiny t = { 0 };
    uint8_t b[sizeof(tiny_wire)];

    memcpy(b, tiny_wire, sizeof(b));
    b[sizeof(b) - 5] = 2;
    load_fails(&vmstate_tiny, &t, b, sizeof(b), VMSTATE_ERROR_CORRUPT,
               "tiny: field 'd' holds 2, not a bool");
}

static void test_save_count_over_capacity(void)
{
    Everything *e = everything_filled();
    g_autoptr(GByteArray) out = g_byte_array_new();
    GError *err = NULL;

    e->vbuf_len = 17;
    g_assert_false(vmstate_save(&vmstate_everything, e, out, &err));
    g_assert_error(err, VMSTATE_ERROR, VMSTATE_ERROR_RANGE);
    g_assert_cmpstr(err->message, ==, "everything: field 'vbuf' has 17 elements, more than 16");
    g_assert_cmpuint(out->len, ==, 0);
    g_error_free(err);
    everything_free(e);
}

static void test_hooks_refuse(void)
{
    Everything *e = everything_filled(), *dst = everything_new(5, 2);
    GByteArray *b = save_ok(&vmstate_everything, e);
    GError *err = NULL;
    guint before = b->len;

    e->refuse = true;
    g_assert_false(vmstate_save(&vmstate_everything, e, b, &err));
    g_assert_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID);
    g_assert_cmpstr(err->message, ==, "everything: refused to save");
    g_assert_cmpuint(b->len, ==, before);
    g_clear_error(&err);

    dst->refuse = true;
    load_fails(&vmstate_everything, dst, b->data, b->len, VMSTATE_ERROR_INVALID,
               "everything: u8 is 161");
    g_byte_array_unref(b);
    everything_free(e);
    everything_free(dst);
}

/* A nested payload claiming more bytes than its parent has. */
static void test_nested_overrun(void)
{
    Everything *src = everything_filled(), *dst = everything_new(5, 2);
    GByteArray *b = save_ok(&vmstate_everything, src);
    const uint8_t *p = memmem(b->data, b->len, "\x05inner\x01\x00\x00\x00", 10);

    g_assert_nonnull(p);
    b->data[p - b->data + 12] = 0x7f;
    load_fails(&vmstate_everything, dst, b->data, b->len, VMSTATE_ERROR_CORRUPT,
               "runs past the end of its parent section");
    g_byte_array_unref(b);
    everything_free(src);
    everything_free(dst);
}

static void test_bad_name(void)
{
    Tiny t = { 0 };
    uint8_t b[sizeof(tiny_wire)];

    memcpy(b, tiny_wire, sizeof(b));
    b[2] = '\n';
    load_fails(&vmstate_tiny, &t, b, sizeof(b), VMSTATE_ERROR_CORRUPT, "invalid section name");
    b[0] = 0;
    load_fails(&vmstate_tiny, &t, b, sizeof(b), VMSTATE_ERROR_CORRUPT, "invalid section name");
}

/* ---- hostile input ---- */

/* Every proper prefix: a clean TRUNCATED error, and the target untouched. */
static void test_truncated_everywhere(void)
{
    Everything *src = everything_filled(), *dst = everything_new(5, 2);
    GByteArray *b = save_ok(&vmstate_everything, src), *before, *after;

    dst->sub_wanted = true;
    before = save_ok(&vmstate_everything, dst);
    for (size_t n = 0; n < b->len; n++) {
        /* An exact-size copy, so ASan catches a read past the end. */
        g_autofree uint8_t *cut = g_memdup2(b->data, n);
        load_fails(&vmstate_everything, dst, cut, n, VMSTATE_ERROR_TRUNCATED, "truncated in");
    }
    after = save_ok(&vmstate_everything, dst);
    assert_same_bytes(before, after);
    g_byte_array_unref(b);
    g_byte_array_unref(before);
    g_byte_array_unref(after);
    everything_free(src);
    everything_free(dst);
}

static void test_truncated_message(void)
{
    Tiny t = { 0 };

    load_fails(&vmstate_tiny, &t, tiny_wire, 14, VMSTATE_ERROR_TRUNCATED,
               "tiny: truncated in field 'b'");
    load_fails(&vmstate_tiny, &t, tiny_wire, 3, VMSTATE_ERROR_TRUNCATED,
               "tiny: truncated in the section header");
}

/*
 * Flipped bytes: each position with several patterns. Whatever happens, no
 * crash and no stray write (ASan); a refused stream leaves the target as it
 * was.
 */
static void test_flipped_bytes(void)
{
    static const uint8_t masks[] = { 0x01, 0x80, 0xff, 0x10 };
    Everything *src = everything_filled();
    GByteArray *b = save_ok(&vmstate_everything, src);
    unsigned refused = 0, accepted = 0;

    for (size_t i = 0; i < b->len; i++) {
        for (size_t m = 0; m < G_N_ELEMENTS(masks); m++) {
            g_autofree uint8_t *bad = g_memdup2(b->data, b->len);
            Everything *dst = everything_new(5, 2);
            GError *err = NULL;
            size_t consumed = 0;

            bad[i] ^= masks[m];
            if (vmstate_load(&vmstate_everything, dst, bad, b->len, &consumed, &err)) {
                g_assert_cmpuint(consumed, <=, b->len);
                g_assert_cmpuint(dst->vbuf_len, <=, 16);
                g_assert_cmpuint(dst->vu32_n, <=, 4);
                accepted++;
            } else {
                g_assert_nonnull(err);
                g_assert_true(err->domain == VMSTATE_ERROR);
                g_assert_cmpuint(dst->u8, ==, 0);
                refused++;
                g_error_free(err);
            }
            g_assert_cmpuint(dst->pbuf_len, ==, 5);
            g_assert_cmpuint(dst->npinners, ==, 2);
            everything_free(dst);
        }
    }
    g_test_message("%u flipped streams refused, %u accepted", refused, accepted);
    g_assert_cmpuint(refused, >, 0);
    g_byte_array_unref(b);
    everything_free(src);
}

static void test_empty_and_garbage(void)
{
    Tiny t = { 0 };
    uint8_t junk[512];   /* long enough to hold a 255-byte name */

    load_fails(&vmstate_tiny, &t, NULL, 0, VMSTATE_ERROR_TRUNCATED, "tiny: truncated");
    g_assert_false(vmstate_peek(NULL, 0, NULL, NULL, NULL, NULL));
    memset(junk, 0xff, sizeof(junk));
    load_fails(&vmstate_tiny, &t, junk, sizeof(junk), VMSTATE_ERROR_CORRUPT, NULL);
    g_assert_cmpuint(t.a, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vmstate/roundtrip/all-types", test_roundtrip_all_types);
    g_test_add_func("/vmstate/roundtrip/counted-array-shrinks", test_counted_array_shrinks);
    g_test_add_func("/vmstate/wire-format", test_wire_format);
    g_test_add_func("/vmstate/concatenated", test_concatenated);
    g_test_add_func("/vmstate/subsection/absent", test_subsection_absent);
    g_test_add_func("/vmstate/subsection/twice", test_subsection_twice);
    g_test_add_func("/vmstate/version/added-field", test_version_added_field);
    g_test_add_func("/vmstate/version/newer", test_version_newer);
    g_test_add_func("/vmstate/version/too-old", test_version_too_old);
    g_test_add_func("/vmstate/version/nested-newer", test_nested_version_newer);
    g_test_add_func("/vmstate/wrong-section", test_wrong_section);
    g_test_add_func("/vmstate/range/counts", test_counts_out_of_range);
    g_test_add_func("/vmstate/range/fixed-count", test_fixed_count_mismatch);
    g_test_add_func("/vmstate/range/save-over-capacity", test_save_count_over_capacity);
    g_test_add_func("/vmstate/bad-bool", test_bad_bool);
    g_test_add_func("/vmstate/bad-name", test_bad_name);
    g_test_add_func("/vmstate/hooks-refuse", test_hooks_refuse);
    g_test_add_func("/vmstate/nested-overrun", test_nested_overrun);
    g_test_add_func("/vmstate/truncated/every-prefix", test_truncated_everywhere);
    g_test_add_func("/vmstate/truncated/message", test_truncated_message);
    g_test_add_func("/vmstate/flipped-bytes", test_flipped_bytes);
    g_test_add_func("/vmstate/empty-and-garbage", test_empty_and_garbage);
    return g_test_run();
}
