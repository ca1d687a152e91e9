/*
 * Device state encoder and decoder (format: docs/migration.md, "Device state
 * encoding"):
 *
 *   section := name_len:u8 name[name_len] version:u32 payload_len:u32 payload
 *   payload := field* subsection*
 *   field   := scalar | count:u32 element[count] | section (nested struct)
 *
 * Loading makes two passes over the same bytes: the first only checks, the
 * second stores and runs post_load. So a stream that is malformed anywhere
 * leaves the device as it was, and the storing code needs no error paths of
 * its own beyond the hooks.
 */
#include <string.h>

#include "migration/vmstate.h"

G_DEFINE_QUARK(stratus-vmstate-error-quark, vmstate_error)

/* ---- memory side: members of the device struct ---- */

static unsigned wire_width(VMStateType t)
{
    switch (t) {
    case VMS_U8:
    case VMS_BOOL:
        return 1;
    case VMS_U16:
        return 2;
    case VMS_U32:
    case VMS_I32:
        return 4;
    case VMS_U64:
    case VMS_I64:
        return 8;
    case VMS_STRUCT:
        break;
    }
    g_assert_not_reached();
}

/* Unsigned integer member of `size` bytes (scalars and count members alike). */
static uint64_t mem_get(const uint8_t *p, size_t size)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;

    switch (size) {
    case 1: memcpy(&u8, p, 1); return u8;
    case 2: memcpy(&u16, p, 2); return u16;
    case 4: memcpy(&u32, p, 4); return u32;
    case 8: memcpy(&u64, p, 8); return u64;
    }
    g_assert_not_reached();
}

static void mem_set(uint8_t *p, size_t size, uint64_t v)
{
    uint8_t u8 = v;
    uint16_t u16 = v;
    uint32_t u32 = v;

    switch (size) {
    case 1: memcpy(p, &u8, 1); return;
    case 2: memcpy(p, &u16, 2); return;
    case 4: memcpy(p, &u32, 4); return;
    case 8: memcpy(p, &v, 8); return;
    }
    g_assert_not_reached();
}

static uint64_t scalar_get(const VMStateField *f, const uint8_t *p)
{
    if (f->type == VMS_BOOL) {
        bool b;
        memcpy(&b, p, sizeof(b));
        return b;
    }
    return mem_get(p, f->size);
}

static void scalar_set(const VMStateField *f, uint8_t *p, uint64_t v)
{
    if (f->type == VMS_BOOL) {
        bool b = v;
        memcpy(p, &b, sizeof(b));
        return;
    }
    mem_set(p, f->size, v);
}

/* Where the elements are: in the struct, or behind a pointer member. */
static uint8_t *field_elems(const VMStateField *f, void *opaque)
{
    uint8_t *p = (uint8_t *)opaque + f->offset;
    void *q;

    if (!(f->flags & VMS_POINTER)) {
        return p;
    }
    memcpy(&q, p, sizeof(q));
    return q;
}

/* Elements present in memory now. */
static uint64_t field_count(const VMStateField *f, const void *opaque)
{
    if (!(f->flags & VMS_ARRAY)) {
        return 1;
    }
    if (!f->num_size) {
        return f->num;
    }
    return mem_get((const uint8_t *)opaque + f->num_offset, f->num_size);
}

/* "field 'queues'[1]" for messages; no index for a single struct. */
static char *field_where(const VMStateField *f, uint64_t i)
{
    if (!(f->flags & VMS_ARRAY)) {
        return g_strdup_printf("field '%s'", f->name);
    }
    return g_strdup_printf("field '%s'[%" G_GUINT64_FORMAT "]", f->name, i);
}

/* ---- saving ---- */

static void put_le(GByteArray *out, uint64_t v, unsigned bytes)
{
    uint8_t b[8];

    for (unsigned i = 0; i < bytes; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    g_byte_array_append(out, b, bytes);
}

static void patch_le32(GByteArray *out, size_t at, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++) {
        out->data[at + i] = (uint8_t)(v >> (8 * i));
    }
}

static bool save_section(const VMStateDescription *vmsd, void *opaque, GByteArray *out,
                         GError **err);

static bool save_elem(const VMStateField *f, uint8_t *p, uint64_t i, GByteArray *out,
                      GError **err)
{
    if (f->type != VMS_STRUCT) {
        put_le(out, scalar_get(f, p), wire_width(f->type));
        return true;
    }
    if (!save_section(f->vmsd, p, out, err)) {
        g_autofree char *where = field_where(f, i);
        g_prefix_error(err, "%s: ", where);
        return false;
    }
    return true;
}

static bool save_field(const VMStateField *f, void *opaque, GByteArray *out, GError **err)
{
    uint64_t n = field_count(f, opaque);
    uint8_t *elems = field_elems(f, opaque);

    if (f->flags & VMS_ARRAY) {
        if (n > f->num) {
            g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_RANGE,
                        "field '%s' has %" G_GUINT64_FORMAT " elements, more than %u",
                        f->name, n, f->num);
            return false;
        }
        put_le(out, n, 4);
    }
    g_assert(elems || n == 0);
    for (uint64_t i = 0; i < n; i++) {
        if (!save_elem(f, elems + i * f->size, i, out, err)) {
            return false;
        }
    }
    return true;
}

static bool save_fields(const VMStateDescription *vmsd, void *opaque, GByteArray *out,
                        GError **err)
{
    for (const VMStateField *f = vmsd->fields; f && f->name; f++) {
        if (!save_field(f, opaque, out, err)) {
            return false;
        }
    }
    for (const VMStateDescription *const *s = vmsd->subsections; s && *s; s++) {
        if ((!(*s)->needed || (*s)->needed(opaque)) && !save_section(*s, opaque, out, err)) {
            return false;
        }
    }
    return true;
}

static bool save_section(const VMStateDescription *vmsd, void *opaque, GByteArray *out,
                         GError **err)
{
    size_t name_len = strlen(vmsd->name);
    size_t len_at, payload_len;

    g_assert(name_len >= 1 && name_len <= VMSTATE_NAME_MAX);
    if (vmsd->pre_save && !vmsd->pre_save(opaque, err)) {
        g_prefix_error(err, "%s: ", vmsd->name);
        return false;
    }
    put_le(out, name_len, 1);
    g_byte_array_append(out, (const guint8 *)vmsd->name, name_len);
    put_le(out, vmsd->version_id, 4);
    len_at = out->len;
    put_le(out, 0, 4);
    if (!save_fields(vmsd, opaque, out, err)) {
        g_prefix_error(err, "%s: ", vmsd->name);
        return false;
    }
    payload_len = out->len - len_at - 4;
    if (payload_len > UINT32_MAX) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_RANGE, "%s: state is larger than 4 GiB",
                    vmsd->name);
        return false;
    }
    patch_le32(out, len_at, (uint32_t)payload_len);
    return true;
}

bool vmstate_save(const VMStateDescription *vmsd, void *opaque, GByteArray *out,
                  GError **err)
{
    guint start = out->len;

    if (!save_section(vmsd, opaque, out, err)) {
        g_byte_array_set_size(out, start);
        return false;
    }
    return true;
}

/* ---- loading ---- */

/*
 * The bytes of one section payload. `end` comes from the header and may lie
 * beyond `len`, the bytes actually present: running into `end` means the
 * lengths are inconsistent (corrupt), running into `len` means truncation.
 */
typedef struct Reader {
    const uint8_t *data;
    size_t len;
    size_t pos;        /* <= MIN(end, len) */
    size_t end;
    bool store;        /* false: the checking pass */
} Reader;

typedef enum { RD_OK, RD_TRUNCATED, RD_OVERRUN } ReadStatus;

static ReadStatus take(Reader *r, size_t n, const uint8_t **p)
{
    if (n > r->end - r->pos) {
        return RD_OVERRUN;
    }
    if (n > r->len - r->pos) {
        return RD_TRUNCATED;
    }
    *p = r->data + r->pos;
    r->pos += n;
    return RD_OK;
}

static uint64_t get_le(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static ReadStatus take_le(Reader *r, unsigned bytes, uint64_t *v)
{
    const uint8_t *p;
    ReadStatus st = take(r, bytes, &p);

    if (st == RD_OK) {
        *v = get_le(p, bytes);
    }
    return st;
}

/* "truncated in X" / "X runs past the end of the section". */
static bool read_failed(ReadStatus st, GError **err, const char *sec, const char *what)
{
    if (st == RD_TRUNCATED) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_TRUNCATED, "%s: truncated in %s", sec,
                    what);
    } else {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_CORRUPT,
                    "%s: %s runs past the end of its section", sec, what);
    }
    return false;
}

typedef struct Header {
    char name[VMSTATE_NAME_MAX + 1];
    uint32_t version;
    uint32_t payload_len;
} Header;

static bool name_ok(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] <= ' ' || p[i] > '~') {
            return false;
        }
    }
    return n > 0;
}

/* `sec` names the section being read (or expected), `what` the header for messages. */
static bool read_header(Reader *r, Header *h, const char *sec, const char *what,
                        GError **err)
{
    uint64_t n, version, plen;
    const uint8_t *name;
    ReadStatus st;

    if ((st = take_le(r, 1, &n)) != RD_OK || (st = take(r, n, &name)) != RD_OK ||
        (st = take_le(r, 4, &version)) != RD_OK || (st = take_le(r, 4, &plen)) != RD_OK) {
        return read_failed(st, err, sec, what);
    }
    if (!name_ok(name, n)) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_CORRUPT,
                    "%s: %s has an invalid section name", sec, what);
        return false;
    }
    memcpy(h->name, name, n);
    h->name[n] = '\0';
    h->version = (uint32_t)version;
    h->payload_len = (uint32_t)plen;
    return true;
}

static bool check_header(const VMStateDescription *vmsd, const Header *h, GError **err)
{
    if (strcmp(h->name, vmsd->name) != 0) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_WRONG_SECTION,
                    "%s: the stream holds section '%s'", vmsd->name, h->name);
        return false;
    }
    if (h->version > vmsd->version_id) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_VERSION,
                    "%s: stream version %u is newer than the supported %u", vmsd->name,
                    h->version, vmsd->version_id);
        return false;
    }
    if (h->version < vmsd->minimum_version_id) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_VERSION,
                    "%s: stream version %u is older than the oldest supported %u",
                    vmsd->name, h->version, vmsd->minimum_version_id);
        return false;
    }
    return true;
}

static bool load_payload(const VMStateDescription *vmsd, void *opaque, Reader *r,
                         const Header *h, GError **err);

/* Bytes of the device struct that loading field f may store into. */
static bool stores_into(const VMStateField *f, size_t off)
{
    size_t n = (f->flags & VMS_POINTER) ? 0 : f->size * ((f->flags & VMS_ARRAY) ? f->num : 1);

    if (f->num_size && !(f->flags & VMS_POINTER) && off == f->num_offset) {
        return true;
    }
    return off >= f->offset && off - f->offset < n;
}

static bool loaded_by(const VMStateDescription *vmsd, size_t off)
{
    for (const VMStateField *f = vmsd->fields; f && f->name; f++) {
        if (stores_into(f, off)) {
            return true;
        }
    }
    for (const VMStateDescription *const *s = vmsd->subsections; s && *s; s++) {
        if (loaded_by(*s, off)) {
            return true;
        }
    }
    return false;
}

/*
 * The count member of a pointer array gives the size of the device's
 * allocation. If the stream could also store into it, the storing pass
 * would trust a count the checking pass never saw: forbid it outright.
 */
static bool pointer_counts_are_fixed(const VMStateDescription *vmsd,
                                     const VMStateDescription *top)
{
    for (const VMStateField *f = vmsd->fields; f && f->name; f++) {
        for (size_t k = 0; (f->flags & VMS_POINTER) && k < f->num_size; k++) {
            if (loaded_by(top, f->num_offset + k)) {
                return false;
            }
        }
    }
    for (const VMStateDescription *const *s = vmsd->subsections; s && *s; s++) {
        if (!pointer_counts_are_fixed(*s, top)) {
            return false;
        }
    }
    return true;
}

static bool load_section(const VMStateDescription *vmsd, void *opaque, Reader *r,
                         GError **err)
{
    Header h;

    g_assert(pointer_counts_are_fixed(vmsd, vmsd));
    return read_header(r, &h, vmsd->name, "the section header", err) &&
           check_header(vmsd, &h, err) && load_payload(vmsd, opaque, r, &h, err);
}

static bool load_elem(const VMStateField *f, uint8_t *p, uint64_t i, Reader *r,
                      const char *sec, GError **err)
{
    uint64_t v;
    ReadStatus st;

    if (f->type == VMS_STRUCT) {
        if (!load_section(f->vmsd, p, r, err)) {
            g_autofree char *where = field_where(f, i);
            g_prefix_error(err, "%s: %s: ", sec, where);
            return false;
        }
        return true;
    }
    if ((st = take_le(r, wire_width(f->type), &v)) != RD_OK) {
        g_autofree char *what = g_strdup_printf("field '%s'", f->name);
        return read_failed(st, err, sec, what);
    }
    if (f->type == VMS_BOOL && v > 1) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_CORRUPT,
                    "%s: field '%s' holds %u, not a bool", sec, f->name, (unsigned)v);
        return false;
    }
    if (r->store) {
        scalar_set(f, p, v);
    }
    return true;
}

/*
 * The stream's element count, checked against what the device can hold:
 * exactly the fixed count, at most an inline array's capacity, or exactly
 * the count of the storage a pointer member leads to.
 */
static bool load_count(const VMStateField *f, void *opaque, Reader *r, const char *sec,
                       uint64_t *n, GError **err)
{
    ReadStatus st = take_le(r, 4, n);
    bool exact = !f->num_size || (f->flags & VMS_POINTER);
    uint64_t want = exact ? field_count(f, opaque) : f->num;

    if (st != RD_OK) {
        g_autofree char *what = g_strdup_printf("field '%s'", f->name);
        return read_failed(st, err, sec, what);
    }
    if (exact ? *n != want || want > f->num : *n > want) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_RANGE,
                    "%s: field '%s' has %" G_GUINT64_FORMAT " elements in the stream, "
                    "the device %s %" G_GUINT64_FORMAT, sec, f->name, *n,
                    exact ? "has" : "holds at most", want);
        return false;
    }
    return true;
}

static bool load_field(const VMStateField *f, void *opaque, Reader *r, const char *sec,
                       GError **err)
{
    uint64_t n = 1;
    uint8_t *elems = field_elems(f, opaque);

    if ((f->flags & VMS_ARRAY) && !load_count(f, opaque, r, sec, &n, err)) {
        return false;
    }
    g_assert(elems || n == 0);
    for (uint64_t i = 0; i < n; i++) {
        if (!load_elem(f, elems + i * f->size, i, r, sec, err)) {
            return false;
        }
    }
    if (r->store && f->num_size && !(f->flags & VMS_POINTER)) {
        mem_set((uint8_t *)opaque + f->num_offset, f->num_size, n);
    }
    return true;
}

static const VMStateDescription *find_subsection(const VMStateDescription *vmsd,
                                                 const char *name, unsigned *index)
{
    const VMStateDescription *const *s = vmsd->subsections;

    for (unsigned i = 0; s && s[i]; i++) {
        if (strcmp(s[i]->name, name) == 0) {
            *index = i;
            return s[i];
        }
    }
    return NULL;
}

/* Subsections fill the rest of the payload, in any order, each at most once. */
static bool load_subsections(const VMStateDescription *vmsd, void *opaque, Reader *r,
                             GError **err)
{
    uint64_t seen = 0;

    while (r->pos < r->end) {
        const VMStateDescription *sub;
        unsigned i;
        Header h;

        if (!read_header(r, &h, vmsd->name, "a subsection header", err)) {
            return false;
        }
        if (!(sub = find_subsection(vmsd, h.name, &i))) {
            g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_UNKNOWN_SUBSECTION,
                        "%s: unknown subsection '%s'", vmsd->name, h.name);
            return false;
        }
        g_assert(i < 64);
        if (seen & (1ULL << i)) {
            g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_CORRUPT,
                        "%s: subsection '%s' appears twice", vmsd->name, h.name);
            return false;
        }
        seen |= 1ULL << i;
        if (!check_header(sub, &h, err) || !load_payload(sub, opaque, r, &h, err)) {
            return false;
        }
    }
    return true;
}

static bool load_fields(const VMStateDescription *vmsd, void *opaque, Reader *r,
                        uint32_t version, GError **err)
{
    for (const VMStateField *f = vmsd->fields; f && f->name; f++) {
        if (f->version_id <= version && !load_field(f, opaque, r, vmsd->name, err)) {
            return false;
        }
    }
    return load_subsections(vmsd, opaque, r, err);
}

/* r is just past h; on success it is moved past the payload. */
static bool load_payload(const VMStateDescription *vmsd, void *opaque, Reader *r,
                         const Header *h, GError **err)
{
    Reader p = *r;

    if (h->payload_len > r->end - r->pos) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_CORRUPT,
                    "%s: payload of %u bytes runs past the end of its parent section",
                    vmsd->name, h->payload_len);
        return false;
    }
    p.end = r->pos + h->payload_len;
    if (!load_fields(vmsd, opaque, &p, h->version, err)) {
        return false;
    }
    if (r->store && vmsd->post_load && !vmsd->post_load(opaque, h->version, err)) {
        g_prefix_error(err, "%s: ", vmsd->name);
        return false;
    }
    r->pos = p.end;
    return true;
}

bool vmstate_load(const VMStateDescription *vmsd, void *opaque, const uint8_t *buf,
                  size_t len, size_t *consumed, GError **err)
{
    Reader r = { .data = buf, .len = len, .end = SIZE_MAX };

    if (!load_section(vmsd, opaque, &r, err)) {
        return false;
    }
    r.pos = 0;
    r.store = true;
    if (!load_section(vmsd, opaque, &r, err)) {
        return false;
    }
    if (consumed) {
        *consumed = r.pos;
    }
    return true;
}

bool vmstate_peek(const uint8_t *buf, size_t len, char **name, uint32_t *version,
                  size_t *total_len, GError **err)
{
    Reader r = { .data = buf, .len = len, .end = SIZE_MAX };
    Header h;

    if (!read_header(&r, &h, "device state", "the section header", err)) {
        return false;
    }
    if (name) {
        *name = g_strdup(h.name);
    }
    if (version) {
        *version = h.version;
    }
    if (total_len) {
        *total_len = r.pos + h.payload_len;
    }
    return true;
}
