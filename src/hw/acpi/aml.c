/*
 * AML byte-code builder (aml.h): data objects, names, blocks with their
 * PkgLength, statements. Resource descriptors are in aml-resource.c.
 * Opcodes and encodings: ACPI 6.4 §20.2.
 */
#include <string.h>

#include "hw/acpi/aml-internal.h"

#define ZERO_OP          0x00
#define ONE_OP           0x01
#define NAME_OP          0x08
#define BYTE_PREFIX      0x0a
#define WORD_PREFIX      0x0b
#define DWORD_PREFIX     0x0c
#define STRING_PREFIX    0x0d
#define QWORD_PREFIX     0x0e
#define SCOPE_OP         0x10
#define BUFFER_OP        0x11
#define PACKAGE_OP       0x12
#define METHOD_OP        0x14
#define DUAL_NAME_PREFIX 0x2e
#define MULTI_NAME_PREFIX 0x2f
#define EXT_OP_PREFIX    0x5b
#define ROOT_CHAR        0x5c
#define PARENT_PREFIX    0x5e
#define LOCAL0_OP        0x60
#define ARG0_OP          0x68
#define STORE_OP         0x70
#define AND_OP           0x7b
#define OR_OP            0x7d
#define NOTIFY_OP        0x86
#define CREATE_DWORD_FIELD_OP 0x8a
#define LEQUAL_OP        0x93
#define IF_OP            0xa0
#define ELSE_OP          0xa1
#define RETURN_OP        0xa4
#define EXT_OP_REGION    0x80
#define EXT_FIELD        0x81
#define EXT_DEVICE       0x82

Aml *aml_new_kind(AmlKind kind)
{
    Aml *a = g_new0(Aml, 1);

    a->kind = kind;
    a->head = g_byte_array_new();
    a->body = g_byte_array_new();
    return a;
}

void aml_free(Aml *a)
{
    if (a) {
        g_byte_array_free(a->head, TRUE);
        g_byte_array_free(a->body, TRUE);
        g_free(a);
    }
}

void aml_put_byte(GByteArray *b, uint8_t v)
{
    g_byte_array_append(b, &v, 1);
}

void aml_put_le(GByteArray *b, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++) {
        aml_put_byte(b, (uint8_t)(v >> (8 * i)));
    }
}

/* Moves src's bytes to the end of dst and frees src. */
static void put_array(GByteArray *dst, GByteArray *src)
{
    g_byte_array_append(dst, src->data, src->len);
    g_byte_array_free(src, TRUE);
}

/*
 * PkgLength (§20.2.4): one byte for up to 63, else a lead byte with the count
 * of following bytes in bits 7:6 and the low nibble, then 8 bits per byte.
 * A package's length counts the PkgLength itself (include_self); a field
 * element's bit width does not.
 */
static void put_pkg_length(GByteArray *b, size_t len, bool include_self)
{
    unsigned extra = 0;
    size_t total = len + (include_self ? 1 : 0);

    if (total > 0x3f) {
        for (extra = 1; extra <= 3; extra++) {
            total = len + (include_self ? extra + 1 : 0);
            if (total < (1u << (4 + 8 * extra))) {
                break;
            }
        }
        g_assert(extra <= 3);
        aml_put_byte(b, (uint8_t)((extra << 6) | (total & 0x0f)));
        aml_put_le(b, total >> 4, extra);
        return;
    }
    aml_put_byte(b, (uint8_t)total);
}

/* The encoding of a; a is consumed. */
GByteArray *aml_to_bytes(Aml *a)
{
    GByteArray *out = a->head;
    GByteArray *inner = g_byte_array_new();

    switch (a->kind) {
    case AML_PLAIN:
        put_array(out, a->body);
        g_byte_array_free(inner, TRUE);
        g_free(a);
        return out;
    case AML_PKG:
        break;
    case AML_PACKAGE:
        g_assert(a->count <= 0xff);
        aml_put_byte(inner, (uint8_t)a->count);
        break;
    case AML_RES_TEMPLATE:
        /* End tag; checksum 0 means "the sum was not computed". */
        aml_put_byte(a->body, 0x79);
        aml_put_byte(a->body, 0x00);
        /* fall through */
    case AML_BUFFER:
        put_array(inner, aml_to_bytes(aml_int(a->body->len)));
        break;
    }
    g_byte_array_append(inner, a->body->data, a->body->len);
    g_byte_array_free(a->body, TRUE);
    put_pkg_length(out, inner->len, true);
    put_array(out, inner);
    g_free(a);
    return out;
}

void aml_append(Aml *parent, Aml *child)
{
    put_array(parent->body, aml_to_bytes(child));
    parent->count++;
}

Aml *aml_seq(void)
{
    return aml_new_kind(AML_PLAIN);
}

static Aml *aml_bytes(const uint8_t *b, size_t len)
{
    Aml *a = aml_seq();

    g_byte_array_append(a->body, b, len);
    return a;
}

Aml *aml_int(uint64_t v)
{
    Aml *a = aml_seq();

    if (v <= 1) {
        aml_put_byte(a->body, v ? ONE_OP : ZERO_OP);
    } else if (v <= 0xff) {
        aml_put_byte(a->body, BYTE_PREFIX);
        aml_put_le(a->body, v, 1);
    } else if (v <= 0xffff) {
        aml_put_byte(a->body, WORD_PREFIX);
        aml_put_le(a->body, v, 2);
    } else if (v <= 0xffffffff) {
        aml_put_byte(a->body, DWORD_PREFIX);
        aml_put_le(a->body, v, 4);
    } else {
        aml_put_byte(a->body, QWORD_PREFIX);
        aml_put_le(a->body, v, 8);
    }
    return a;
}

Aml *aml_string(const char *s)
{
    Aml *a = aml_seq();

    aml_put_byte(a->body, STRING_PREFIX);
    g_byte_array_append(a->body, (const uint8_t *)s, strlen(s) + 1);
    return a;
}

/* One NameSeg: a lead character A-Z or '_', then A-Z, 0-9 or '_', padded with '_'. */
static void put_name_seg(GByteArray *b, const char *seg, size_t len)
{
    g_assert(len >= 1 && len <= 4);
    for (size_t i = 0; i < 4; i++) {
        char c = i < len ? seg[i] : '_';
        g_assert(c == '_' || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9'));
        aml_put_byte(b, (uint8_t)c);
    }
}

void aml_put_name_string(GByteArray *b, const char *path)
{
    g_auto(GStrv) segs = NULL;
    guint n;

    if (*path == '\\') {
        aml_put_byte(b, ROOT_CHAR);
        path++;
    }
    while (*path == '^') {
        aml_put_byte(b, PARENT_PREFIX);
        path++;
    }
    if (!*path) {
        aml_put_byte(b, ZERO_OP);           /* NullName */
        return;
    }
    segs = g_strsplit(path, ".", -1);
    n = g_strv_length(segs);
    g_assert(n <= 0xff);
    if (n == 2) {
        aml_put_byte(b, DUAL_NAME_PREFIX);
    } else if (n > 2) {
        aml_put_byte(b, MULTI_NAME_PREFIX);
        aml_put_byte(b, (uint8_t)n);
    }
    for (guint i = 0; i < n; i++) {
        put_name_seg(b, segs[i], strlen(segs[i]));
    }
}

Aml *aml_name(const char *path)
{
    Aml *a = aml_seq();

    aml_put_name_string(a->body, path);
    return a;
}

Aml *aml_name_decl(const char *name, Aml *value)
{
    Aml *a = aml_seq();

    aml_put_byte(a->body, NAME_OP);
    aml_put_name_string(a->body, name);
    aml_append(a, value);
    return a;
}

uint32_t aml_eisaid_value(const char *id)
{
    uint32_t c[3], hex;

    g_assert(strlen(id) == 7);
    for (int i = 0; i < 3; i++) {
        g_assert(id[i] >= 'A' && id[i] <= 'Z');
        c[i] = (uint32_t)(id[i] - 0x40);     /* 'A' = 1, five bits each */
    }
    hex = (uint32_t)g_ascii_strtoull(id + 3, NULL, 16);
    /* Stored big-endian in four bytes: 0 + 3 x 5 bits of letters, 16 bits of hex. */
    return ((c[0] << 2) | (c[1] >> 3)) | (((c[1] & 7) << 5 | c[2]) << 8) |
           ((hex >> 8) & 0xff) << 16 | (hex & 0xff) << 24;
}

Aml *aml_eisaid(const char *id)
{
    Aml *a = aml_seq();

    aml_put_byte(a->body, DWORD_PREFIX);
    aml_put_le(a->body, aml_eisaid_value(id), 4);
    return a;
}

/* The first three fields little-endian, the last two in written order (§19.6.142). */
Aml *aml_uuid(const char *uuid)
{
    static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
    uint8_t raw[16], out[16];
    unsigned n = 0;

    for (const char *p = uuid; *p && n < 16; p++) {
        if (*p == '-') {
            continue;
        }
        g_assert(g_ascii_isxdigit(p[0]) && g_ascii_isxdigit(p[1]));
        raw[n++] = (uint8_t)(g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]));
        p++;
    }
    g_assert(n == 16);
    for (int i = 0; i < 16; i++) {
        out[i] = raw[order[i]];
    }
    return aml_buffer(out, sizeof(out));
}

Aml *aml_buffer(const uint8_t *bytes, size_t len)
{
    Aml *a = aml_new_kind(AML_BUFFER);

    aml_put_byte(a->head, BUFFER_OP);
    g_byte_array_append(a->body, bytes, len);
    return a;
}

Aml *aml_package(void)
{
    Aml *a = aml_new_kind(AML_PACKAGE);

    aml_put_byte(a->head, PACKAGE_OP);
    return a;
}

Aml *aml_arg(unsigned n)
{
    uint8_t op = (uint8_t)(ARG0_OP + n);

    g_assert(n <= 6);
    return aml_bytes(&op, 1);
}

Aml *aml_local(unsigned n)
{
    uint8_t op = (uint8_t)(LOCAL0_OP + n);

    g_assert(n <= 7);
    return aml_bytes(&op, 1);
}

/* ---- blocks ---- */

static Aml *named_block(const uint8_t *op, size_t op_len, const char *name)
{
    Aml *a = aml_new_kind(AML_PKG);

    g_byte_array_append(a->head, op, op_len);
    aml_put_name_string(a->body, name);
    return a;
}

Aml *aml_scope(const char *name)
{
    static const uint8_t op[] = { SCOPE_OP };
    return named_block(op, sizeof(op), name);
}

Aml *aml_device(const char *name)
{
    static const uint8_t op[] = { EXT_OP_PREFIX, EXT_DEVICE };
    return named_block(op, sizeof(op), name);
}

Aml *aml_method(const char *name, unsigned nargs, bool serialized)
{
    static const uint8_t op[] = { METHOD_OP };
    Aml *a = named_block(op, sizeof(op), name);

    g_assert(nargs <= 7);
    aml_put_byte(a->body, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
    return a;
}

Aml *aml_if(Aml *predicate)
{
    Aml *a = aml_new_kind(AML_PKG);

    aml_put_byte(a->head, IF_OP);
    aml_append(a, predicate);
    return a;
}

Aml *aml_else(void)
{
    Aml *a = aml_new_kind(AML_PKG);

    aml_put_byte(a->head, ELSE_OP);
    return a;
}

Aml *aml_operation_region(const char *name, AmlRegionSpace space, uint64_t offset,
                          uint64_t len)
{
    Aml *a = aml_seq();

    aml_put_byte(a->body, EXT_OP_PREFIX);
    aml_put_byte(a->body, EXT_OP_REGION);
    aml_put_name_string(a->body, name);
    aml_put_byte(a->body, (uint8_t)space);
    aml_append(a, aml_int(offset));
    aml_append(a, aml_int(len));
    return a;
}

Aml *aml_field(const char *region, AmlFieldAccess access, AmlFieldUpdate update)
{
    static const uint8_t op[] = { EXT_OP_PREFIX, EXT_FIELD };
    Aml *a = named_block(op, sizeof(op), region);

    /* Bit 4 clear: NoLock. */
    aml_put_byte(a->body, (uint8_t)(access | (update << 5)));
    return a;
}

Aml *aml_named_field(const char *name, unsigned bits)
{
    Aml *a = aml_seq();

    put_name_seg(a->body, name, strlen(name));
    put_pkg_length(a->body, bits, false);
    return a;
}

Aml *aml_reserved_field(unsigned bits)
{
    Aml *a = aml_seq();

    aml_put_byte(a->body, 0x00);
    put_pkg_length(a->body, bits, false);
    return a;
}

/* ---- statements ---- */

static Aml *op_with(uint8_t op, Aml *x, Aml *y, Aml *z)
{
    Aml *a = aml_bytes(&op, 1);

    aml_append(a, x);
    if (y) {
        aml_append(a, y);
    }
    if (z) {
        aml_append(a, z);
    }
    return a;
}

/* A Target operand: a name or a local/arg, or NullName when there is none. */
static Aml *target(Aml *t)
{
    return t ? t : aml_int(0);
}

Aml *aml_return(Aml *value)
{
    return op_with(RETURN_OP, value, NULL, NULL);
}

Aml *aml_notify(Aml *target_obj, Aml *value)
{
    return op_with(NOTIFY_OP, target_obj, value, NULL);
}

Aml *aml_store(Aml *src, Aml *dst)
{
    return op_with(STORE_OP, src, dst, NULL);
}

Aml *aml_equal(Aml *a, Aml *b)
{
    return op_with(LEQUAL_OP, a, b, NULL);
}

Aml *aml_and(Aml *a, Aml *b, Aml *t)
{
    return op_with(AND_OP, a, b, target(t));
}

Aml *aml_or(Aml *a, Aml *b, Aml *t)
{
    return op_with(OR_OP, a, b, target(t));
}

Aml *aml_create_dword_field(Aml *buffer, Aml *index, const char *name)
{
    Aml *a = op_with(CREATE_DWORD_FIELD_OP, buffer, index, NULL);

    aml_put_name_string(a->body, name);
    return a;
}
