/*
 * Device state descriptions and their encoder (docs/migration.md, "Device
 * state encoding").
 *
 * A device declares its guest-visible state once, as a VMStateDescription: a
 * name, a version, and a table of fields (offset, type, count, the version
 * that added the field). The generic code below turns a device struct into a
 * self-delimiting little-endian section and back. Host bookkeeping (file
 * descriptors, GSources, pointers to the machine, registration flags) is
 * never described: post_load hooks recompute what depends on it.
 *
 * Why a table and not hand-written save/load functions per device: one
 * reader gets the bounds checks right for every device, a field added in
 * version N is skipped when an older stream is read, and the set of saved
 * fields is visible in one place next to the struct.
 *
 * Saving
 *   bool vmstate_save(vmsd, opaque, out, err) appends one section to `out`.
 *   It fails only when a pre_save hook refuses (e.g. requests in flight) or
 *   a counted array holds more than its declared maximum; `out` is then left
 *   as it was.
 *
 * Loading
 *   bool vmstate_load(vmsd, opaque, buf, len, &consumed, err) reads one
 *   section from the start of buf and stores it into opaque, which must be a
 *   fully initialised device of the same kind (pointer fields already point
 *   at storage of the right size). The whole section is checked before
 *   anything is stored, so a malformed stream (wrong section, unsupported
 *   version, truncation, a count out of range, a bool that is not 0/1,
 *   unknown subsection) leaves the device untouched. post_load hooks run
 *   after the store and may still refuse (a value the device cannot be in);
 *   the device is then partly loaded and must be reset or discarded.
 *   Whatever the input, nothing is written outside the fields the
 *   description names, and no array beyond its declared capacity.
 *
 * Field kinds (macros below):
 *   scalars       u8 u16 u32 u64 i32 i64 bool
 *   fixed arrays  of scalars (a fixed byte buffer is a u8 array) or structs
 *   counted       inline array whose element count lives in another member
 *                 (loading sets it, at most the array's capacity), or a
 *                 pointer to storage the device allocated, whose count member
 *                 must already equal the stream's (loading never allocates)
 *   struct        a nested description, inline or behind a pointer member;
 *                 encoded as a section of its own, so it carries its own
 *                 version
 * The macros check at compile time that the member has the declared type.
 */
#ifndef STRATUS_MIGRATION_VMSTATE_H
#define STRATUS_MIGRATION_VMSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#define VMSTATE_ERROR (vmstate_error_quark())
GQuark vmstate_error_quark(void);

/* What went wrong, for callers that react differently (e.g. "newer version"). */
typedef enum {
    VMSTATE_ERROR_TRUNCATED,     /* the data ends inside the section */
    VMSTATE_ERROR_CORRUPT,       /* lengths that do not add up, a bad name or bool */
    VMSTATE_ERROR_WRONG_SECTION, /* a section for another description */
    VMSTATE_ERROR_VERSION,       /* newer than supported or older than the minimum */
    VMSTATE_ERROR_UNKNOWN_SUBSECTION,
    VMSTATE_ERROR_RANGE,         /* an element count the device cannot hold */
    VMSTATE_ERROR_INVALID,       /* refused by a hook (pre_save / post_load) */
} VMStateErrorCode;

/* Longest section name; names are printable ASCII without spaces. */
#define VMSTATE_NAME_MAX 255

typedef enum {
    VMS_U8 = 1,
    VMS_U16,
    VMS_U32,
    VMS_U64,
    VMS_I32,
    VMS_I64,
    VMS_BOOL,
    VMS_STRUCT,
} VMStateType;

#define VMS_ARRAY   0x1u   /* encoded with a u32 element count */
#define VMS_POINTER 0x2u   /* the member points at the elements */

typedef struct VMStateDescription VMStateDescription;

typedef struct VMStateField {
    const char *name;
    VMStateType type;
    size_t offset;              /* of the member in the device struct */
    size_t size;                /* of one element in memory */
    uint32_t num;               /* array: the fixed count, or the capacity if counted */
    size_t num_offset;          /* counted array: offset of the count member */
    size_t num_size;            /* its size in bytes (1, 2, 4, 8); 0: fixed count */
    unsigned flags;             /* VMS_ARRAY, VMS_POINTER */
    uint32_t version_id;        /* first section version with this field */
    const VMStateDescription *vmsd;   /* VMS_STRUCT */
} VMStateField;

struct VMStateDescription {
    const char *name;
    uint32_t version_id;             /* the version written */
    uint32_t minimum_version_id;     /* the oldest version still read */
    const VMStateField *fields;      /* ends with VMSTATE_END_OF_LIST() */
    /* NULL-terminated; each is saved only when its needed() says so. */
    const VMStateDescription *const *subsections;
    /* Subsections only: is this state present? (NULL: always.) */
    bool (*needed)(void *opaque);
    /* May bring the struct into its saved form, or refuse (e.g. I/O in flight). */
    bool (*pre_save)(void *opaque, GError **err);
    /* Validates what was loaded and recomputes derived and host state. */
    bool (*post_load)(void *opaque, uint32_t version_loaded, GError **err);
    /*
     * QEMU's flag: the state can never be saved (it lives outside the VMM),
     * so migrate refuses at once (device_migratable) instead of failing at
     * the end of a pre-copy; pre_save should refuse too.
     */
    bool unmigratable;
};

/* Appends one section for opaque to out. */
bool vmstate_save(const VMStateDescription *vmsd, void *opaque, GByteArray *out,
                  GError **err);

/*
 * Loads the section at the start of buf[0..len) into opaque; *consumed (may
 * be NULL) is the section's length, so sections can be concatenated.
 */
bool vmstate_load(const VMStateDescription *vmsd, void *opaque, const uint8_t *buf,
                  size_t len, size_t *consumed, GError **err);

/*
 * The header of the section at buf: its name (g_free it), version and total
 * length, for a container that picks the description by name.
 */
bool vmstate_peek(const uint8_t *buf, size_t len, char **name, uint32_t *version,
                  size_t *total_len, GError **err);

/* ---- field macros ---- */

/* 0 when member f of st has type t, else a compile error. */
#define VMS_TYPE_CHECK(st, f, t) \
    (sizeof(char[1 - 2 * !__builtin_types_compatible_p(__typeof__(((st *)0)->f), t)]) - 1)
/* 0 when member c of st is an unsigned integer, else a compile error. */
#define VMS_COUNT_CHECK(st, c) \
    (sizeof(char[1 - 2 * !((__typeof__(((st *)0)->c))-1 > 0)]) - 1)

#define VMSTATE_SCALAR_V(f, st, t, vt, v) {                                  \
    .name = #f, .type = (vt), .offset = offsetof(st, f) + VMS_TYPE_CHECK(st, f, t), \
    .size = sizeof(t), .version_id = (v) }

#define VMSTATE_U8_V(f, st, v)   VMSTATE_SCALAR_V(f, st, uint8_t, VMS_U8, v)
#define VMSTATE_U16_V(f, st, v)  VMSTATE_SCALAR_V(f, st, uint16_t, VMS_U16, v)
#define VMSTATE_U32_V(f, st, v)  VMSTATE_SCALAR_V(f, st, uint32_t, VMS_U32, v)
#define VMSTATE_U64_V(f, st, v)  VMSTATE_SCALAR_V(f, st, uint64_t, VMS_U64, v)
#define VMSTATE_I32_V(f, st, v)  VMSTATE_SCALAR_V(f, st, int32_t, VMS_I32, v)
#define VMSTATE_I64_V(f, st, v)  VMSTATE_SCALAR_V(f, st, int64_t, VMS_I64, v)
#define VMSTATE_BOOL_V(f, st, v) VMSTATE_SCALAR_V(f, st, bool, VMS_BOOL, v)
#define VMSTATE_U8(f, st)   VMSTATE_U8_V(f, st, 0)
#define VMSTATE_U16(f, st)  VMSTATE_U16_V(f, st, 0)
#define VMSTATE_U32(f, st)  VMSTATE_U32_V(f, st, 0)
#define VMSTATE_U64(f, st)  VMSTATE_U64_V(f, st, 0)
#define VMSTATE_I32(f, st)  VMSTATE_I32_V(f, st, 0)
#define VMSTATE_I64(f, st)  VMSTATE_I64_V(f, st, 0)
#define VMSTATE_BOOL(f, st) VMSTATE_BOOL_V(f, st, 0)

/* t f[n]; vt is the VMS_ type of t (VMS_U8 ... VMS_BOOL). */
#define VMSTATE_ARRAY_V(f, st, n, t, vt, v) {                                \
    .name = #f, .type = (vt), .offset = offsetof(st, f) + VMS_TYPE_CHECK(st, f, t[n]), \
    .size = sizeof(t), .num = (n), .flags = VMS_ARRAY, .version_id = (v) }
#define VMSTATE_ARRAY(f, st, n, t, vt) VMSTATE_ARRAY_V(f, st, n, t, vt, 0)

/* uint8_t f[N], saved whole. */
#define VMSTATE_BUFFER_V(f, st, v) \
    VMSTATE_ARRAY_V(f, st, sizeof(((st *)0)->f), uint8_t, VMS_U8, v)
#define VMSTATE_BUFFER(f, st) VMSTATE_BUFFER_V(f, st, 0)

/* t f[max] of which the first `c` (another member) are in use. */
#define VMSTATE_VARRAY_V(f, st, c, max, t, vt, v) {                          \
    .name = #f, .type = (vt), .offset = offsetof(st, f) + VMS_TYPE_CHECK(st, f, t[max]), \
    .size = sizeof(t), .num = (max), .num_offset = offsetof(st, c) + VMS_COUNT_CHECK(st, c), \
    .num_size = sizeof(((st *)0)->c), .flags = VMS_ARRAY, .version_id = (v) }
#define VMSTATE_VARRAY(f, st, c, max, t, vt) VMSTATE_VARRAY_V(f, st, c, max, t, vt, 0)

/* t *f pointing at `c` elements the device allocated; c <= max. */
#define VMSTATE_VARRAY_PTR_V(f, st, c, max, t, vt, v) {                      \
    .name = #f, .type = (vt), .offset = offsetof(st, f) + VMS_TYPE_CHECK(st, f, t *), \
    .size = sizeof(t), .num = (max), .num_offset = offsetof(st, c) + VMS_COUNT_CHECK(st, c), \
    .num_size = sizeof(((st *)0)->c), .flags = VMS_ARRAY | VMS_POINTER, .version_id = (v) }
#define VMSTATE_VARRAY_PTR(f, st, c, max, t, vt) VMSTATE_VARRAY_PTR_V(f, st, c, max, t, vt, 0)

/* uint8_t *f of length c (e.g. a config-space image). */
#define VMSTATE_VBUFFER_PTR_V(f, st, c, max, v) \
    VMSTATE_VARRAY_PTR_V(f, st, c, max, uint8_t, VMS_U8, v)
#define VMSTATE_VBUFFER_PTR(f, st, c, max) VMSTATE_VBUFFER_PTR_V(f, st, c, max, 0)

/* t f, described by *d. */
#define VMSTATE_STRUCT_V(f, st, d, t, v) {                                   \
    .name = #f, .type = VMS_STRUCT, .offset = offsetof(st, f) + VMS_TYPE_CHECK(st, f, t), \
    .size = sizeof(t), .version_id = (v), .vmsd = &(d) }
#define VMSTATE_STRUCT(f, st, d, t) VMSTATE_STRUCT_V(f, st, d, t, 0)

/* t *f, pointing at one struct the device allocated (never NULL when saved or loaded). */
#define VMSTATE_STRUCT_POINTER_V(f, st, d, t, v) {                           \
    .name = #f, .type = VMS_STRUCT, .offset = offsetof(st, f) + VMS_TYPE_CHECK(st, f, t *), \
    .size = sizeof(t), .flags = VMS_POINTER, .version_id = (v), .vmsd = &(d) }
#define VMSTATE_STRUCT_POINTER(f, st, d, t) VMSTATE_STRUCT_POINTER_V(f, st, d, t, 0)

/* t f[n]. */
#define VMSTATE_STRUCT_ARRAY_V(f, st, n, d, t, v) {                          \
    .name = #f, .type = VMS_STRUCT, .offset = offsetof(st, f) + VMS_TYPE_CHECK(st, f, t[n]), \
    .size = sizeof(t), .num = (n), .flags = VMS_ARRAY, .version_id = (v), .vmsd = &(d) }
#define VMSTATE_STRUCT_ARRAY(f, st, n, d, t) VMSTATE_STRUCT_ARRAY_V(f, st, n, d, t, 0)

/* t *f pointing at `c` elements the device allocated; c <= max. */
#define VMSTATE_STRUCT_VARRAY_PTR_V(f, st, c, max, d, t, v) {                \
    .name = #f, .type = VMS_STRUCT, .offset = offsetof(st, f) + VMS_TYPE_CHECK(st, f, t *), \
    .size = sizeof(t), .num = (max), .num_offset = offsetof(st, c) + VMS_COUNT_CHECK(st, c), \
    .num_size = sizeof(((st *)0)->c), .flags = VMS_ARRAY | VMS_POINTER, .version_id = (v), \
    .vmsd = &(d) }
#define VMSTATE_STRUCT_VARRAY_PTR(f, st, c, max, d, t) \
    VMSTATE_STRUCT_VARRAY_PTR_V(f, st, c, max, d, t, 0)

#define VMSTATE_END_OF_LIST() { .name = NULL }

#endif
