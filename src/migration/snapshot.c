/*
 * Snapshot files: encoding and decoding (snapshot.h, docs/migration.md).
 *
 *   state  := magic[16] version:u32 header_len:u32 body_len:u64 crc32:u32 0:u32 body
 *   body   := "snapshot" section, "x86-vm" section, ncpus "x86-cpu" sections,
 *             board record, ndevices device records
 *   record := "board"/"device" section {type, path, data_len} then data_len bytes
 *
 * Integers are little-endian. The sections are vmstate sections
 * (migration/vmstate.h), so each carries its own version.
 */
#include <string.h>

#include "migration/snapshot.h"
#include "migration/vmstate-x86.h"
#include "util/strutil.h"

/* ---- little-endian helpers ---- */

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get_le(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

uint32_t snapshot_crc32(const uint8_t *buf, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;

    for (size_t i = 0; i < len; i++) {
        crc ^= buf[i];
        for (unsigned k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
        }
    }
    return ~crc;
}

/* ---- sections ---- */

static const VMStateDescription vmstate_snapshot_ram = {
    .name = "snapshot-ram",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_U64(gpa, SnapshotRamBlock),
        VMSTATE_U64(size, SnapshotRamBlock),
        VMSTATE_END_OF_LIST()
    },
};

static bool info_post_load(void *opaque, uint32_t version, GError **err)
{
    SnapshotInfo *info = opaque;

    (void)version;
    if (info->ncpus == 0 || info->ncpus > SNAPSHOT_MAX_CPUS) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_RANGE,
                    "snapshot: %u vCPUs is out of range", info->ncpus);
        return false;
    }
    for (uint32_t i = 0; i < info->machine_len; i++) {
        if (!g_ascii_isgraph(info->machine[i])) {
            g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_CORRUPT,
                        "snapshot: the machine type is not printable");
            return false;
        }
    }
    return true;
}

static const VMStateDescription vmstate_snapshot_info = {
    .name = "snapshot",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = info_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_VARRAY(machine, SnapshotInfo, machine_len, SNAPSHOT_NAME_MAX, uint8_t, VMS_U8),
        VMSTATE_VARRAY(accel, SnapshotInfo, accel_len, SNAPSHOT_NAME_MAX, uint8_t, VMS_U8),
        VMSTATE_BUFFER(id, SnapshotInfo),
        VMSTATE_U32(ncpus, SnapshotInfo),
        VMSTATE_U64(mem_size, SnapshotInfo),
        {
            /* An inline counted array of structs (no macro needed elsewhere). */
            .name = "ram", .type = VMS_STRUCT, .offset = offsetof(SnapshotInfo, ram),
            .size = sizeof(SnapshotRamBlock), .num = SNAPSHOT_MAX_RAM_BLOCKS,
            .num_offset = offsetof(SnapshotInfo, nram), .num_size = sizeof(uint32_t),
            .flags = VMS_ARRAY, .vmsd = &vmstate_snapshot_ram,
        },
        VMSTATE_U64(memory_len, SnapshotInfo),
        VMSTATE_U32(ndevices, SnapshotInfo),
        VMSTATE_END_OF_LIST()
    },
};

/* A record's header; the data follows the section. */
typedef struct SnapshotRecord {
    uint8_t type_len;
    uint8_t type[SNAPSHOT_TYPE_MAX];
    uint8_t path_len;
    uint8_t path[SNAPSHOT_PATH_MAX];
    uint32_t data_len;
} SnapshotRecord;

#define RECORD_FIELDS                                                              \
    VMSTATE_VARRAY(type, SnapshotRecord, type_len, SNAPSHOT_TYPE_MAX, uint8_t, VMS_U8), \
    VMSTATE_VARRAY(path, SnapshotRecord, path_len, SNAPSHOT_PATH_MAX, uint8_t, VMS_U8), \
    VMSTATE_U32(data_len, SnapshotRecord),                                         \
    VMSTATE_END_OF_LIST()

static const VMStateDescription vmstate_board_record = {
    .name = "board",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) { RECORD_FIELDS },
};

static const VMStateDescription vmstate_device_record = {
    .name = "device",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) { RECORD_FIELDS },
};

/* ---- writing ---- */

GByteArray *snapshot_state_begin(const SnapshotInfo *info, const X86VmState *vm,
                                 const X86VcpuState *cpus, GError **err)
{
    g_autoptr(GByteArray) body = g_byte_array_new();

    if (!vmstate_save(&vmstate_snapshot_info, (void *)info, body, err) ||
        !vmstate_save(&vmstate_x86_vm, (void *)vm, body, err)) {
        return NULL;
    }
    for (uint32_t i = 0; i < info->ncpus; i++) {
        if (!vmstate_save(&vmstate_x86_cpu, (void *)&cpus[i], body, err)) {
            g_prefix_error(err, "vCPU %u: ", i);
            return NULL;
        }
    }
    return g_steal_pointer(&body);
}

static void copy_name(uint8_t *dst, uint8_t *len, size_t max, const char *s)
{
    size_t n = MIN(strlen(s), max);

    memcpy(dst, s, n);
    *len = (uint8_t)n;
}

void snapshot_state_add_record(GByteArray *body, const char *kind, const char *type,
                               const char *path, const uint8_t *data, size_t len)
{
    SnapshotRecord r = { .data_len = (uint32_t)len };
    bool ok;

    g_assert(len <= UINT32_MAX);
    copy_name(r.type, &r.type_len, SNAPSHOT_TYPE_MAX, type);
    copy_name(r.path, &r.path_len, SNAPSHOT_PATH_MAX, path ? path : "");
    ok = vmstate_save(!strcmp(kind, "board") ? &vmstate_board_record : &vmstate_device_record,
                      &r, body, NULL);
    g_assert(ok);      /* no hooks, no counted array above its maximum */
    g_byte_array_append(body, data, (guint)len);
}

GBytes *snapshot_state_finish(GByteArray *body)
{
    uint8_t hdr[SNAPSHOT_STATE_HEADER_LEN] = { 0 };

    memcpy(hdr, SNAPSHOT_STATE_MAGIC, 16);
    put_le(hdr + 16, SNAPSHOT_FORMAT_VERSION, 4);
    put_le(hdr + 20, SNAPSHOT_STATE_HEADER_LEN, 4);
    put_le(hdr + 24, body->len, 8);
    put_le(hdr + 32, snapshot_crc32(body->data, body->len), 4);
    g_byte_array_prepend(body, hdr, sizeof(hdr));
    return g_byte_array_free_to_bytes(body);
}

/*
 * Memory header: magic[16] version:u32 nram:u32 id[16] data_offset:u64
 * data_len:u64 then nram (gpa:u64, size:u64) pairs, zero-filled to 4096.
 */
void snapshot_memory_header(const SnapshotInfo *info, uint8_t *out)
{
    memset(out, 0, SNAPSHOT_MEMORY_HEADER_LEN);
    memcpy(out, SNAPSHOT_MEMORY_MAGIC, 16);
    put_le(out + 16, SNAPSHOT_FORMAT_VERSION, 4);
    put_le(out + 20, info->nram, 4);
    memcpy(out + 24, info->id, SNAPSHOT_ID_LEN);
    put_le(out + 40, SNAPSHOT_MEMORY_HEADER_LEN, 8);
    put_le(out + 48, info->memory_len, 8);
    for (uint32_t i = 0; i < info->nram; i++) {
        put_le(out + 56 + 16 * i, info->ram[i].gpa, 8);
        put_le(out + 64 + 16 * i, info->ram[i].size, 8);
    }
}

/* ---- reading ---- */

void snapshot_image_free(SnapshotImage *img)
{
    if (!img) {
        return;
    }
    for (uint32_t i = 0; img->devices && i < img->info.ndevices; i++) {
        g_free(img->devices[i].type);
        g_free(img->devices[i].path);
    }
    g_free(img->devices);
    g_free(img->cpus);
    g_free(img->board);
    if (img->bytes) {
        g_bytes_unref(img->bytes);
    }
    g_free(img);
}

static bool check_header(const uint8_t *p, size_t len, size_t *body_len, GError **err)
{
    uint64_t version, hlen, blen;

    if (len >= 16 && memcmp(p, SNAPSHOT_STATE_MAGIC, 16)) {
        set_error(err, "not a Stratus snapshot");
        return false;
    }
    if (len < SNAPSHOT_STATE_HEADER_LEN) {
        set_error(err, "truncated (%zu bytes, no header)", len);
        return false;
    }
    version = get_le(p + 16, 4);
    hlen = get_le(p + 20, 4);
    blen = get_le(p + 24, 8);
    if (version > SNAPSHOT_FORMAT_VERSION) {
        set_error(err, "format version %" G_GUINT64_FORMAT " is newer than the supported %d",
                  version, SNAPSHOT_FORMAT_VERSION);
        return false;
    }
    if (version == 0 || hlen != SNAPSHOT_STATE_HEADER_LEN || get_le(p + 36, 4)) {
        set_error(err, "corrupt (bad header)");
        return false;
    }
    if (blen > len - SNAPSHOT_STATE_HEADER_LEN) {
        set_error(err, "truncated (%zu of %" G_GUINT64_FORMAT " bytes)", len,
                  blen + SNAPSHOT_STATE_HEADER_LEN);
        return false;
    }
    if (blen < len - SNAPSHOT_STATE_HEADER_LEN) {
        set_error(err, "corrupt (%zu bytes, the header says %" G_GUINT64_FORMAT ")", len,
                  blen + SNAPSHOT_STATE_HEADER_LEN);
        return false;
    }
    if (snapshot_crc32(p + SNAPSHOT_STATE_HEADER_LEN, blen) != get_le(p + 32, 4)) {
        set_error(err, "corrupt (checksum mismatch)");
        return false;
    }
    *body_len = blen;
    return true;
}

typedef struct Cursor {
    const uint8_t *p;
    size_t left;
} Cursor;

static bool take_section(Cursor *c, const VMStateDescription *vmsd, void *opaque, GError **err)
{
    size_t used;

    if (!vmstate_load(vmsd, opaque, c->p, c->left, &used, err)) {
        return false;
    }
    c->p += used;
    c->left -= used;
    return true;
}

/* A record: its header section, then data_len bytes handed out by pointer. */
static bool take_record(Cursor *c, const VMStateDescription *vmsd, char **type, char **path,
                        const uint8_t **data, size_t *len, GError **err)
{
    SnapshotRecord r = { 0 };

    if (!take_section(c, vmsd, &r, err)) {
        return false;
    }
    if (r.data_len > c->left) {
        set_error(err, "%s record '%.*s': truncated", vmsd->name, r.type_len, r.type);
        return false;
    }
    *type = g_strndup((const char *)r.type, r.type_len);
    *path = g_strndup((const char *)r.path, r.path_len);
    *data = c->p;
    *len = r.data_len;
    c->p += r.data_len;
    c->left -= r.data_len;
    return true;
}

static bool parse_body(SnapshotImage *img, Cursor *c, GError **err)
{
    g_autofree char *unused = NULL;

    if (!take_section(c, &vmstate_snapshot_info, &img->info, err) ||
        !take_section(c, &vmstate_x86_vm, &img->vm, err)) {
        return false;
    }
    img->cpus = g_new0(X86VcpuState, img->info.ncpus);
    for (uint32_t i = 0; i < img->info.ncpus; i++) {
        x86_vcpu_state_init(&img->cpus[i]);
        if (!take_section(c, &vmstate_x86_cpu, &img->cpus[i], err)) {
            g_prefix_error(err, "vCPU %u: ", i);
            return false;
        }
    }
    if (!take_record(c, &vmstate_board_record, &img->board, &unused, &img->board_data,
                     &img->board_len, err)) {
        return false;
    }
    /* Each record takes at least a section header: a count above that is corrupt. */
    if (img->info.ndevices > c->left / 10) {
        set_error(err, "corrupt (%u device records in %zu bytes)", img->info.ndevices, c->left);
        return false;
    }
    img->devices = g_new0(SnapshotDevice, img->info.ndevices);
    for (uint32_t i = 0; i < img->info.ndevices; i++) {
        SnapshotDevice *d = &img->devices[i];
        if (!take_record(c, &vmstate_device_record, &d->type, &d->path, &d->data, &d->len,
                         err)) {
            return false;
        }
    }
    if (c->left) {
        set_error(err, "corrupt (%zu bytes after the last record)", c->left);
        return false;
    }
    return true;
}

SnapshotImage *snapshot_state_parse(GBytes *bytes, GError **err)
{
    g_autoptr(SnapshotImage) img = g_new0(SnapshotImage, 1);
    size_t len, body_len;
    const uint8_t *p = g_bytes_get_data(bytes, &len);
    Cursor c;

    img->bytes = g_bytes_ref(bytes);
    if (!check_header(p, len, &body_len, err)) {
        return NULL;
    }
    c.p = p + SNAPSHOT_STATE_HEADER_LEN;
    c.left = body_len;
    if (!parse_body(img, &c, err)) {
        return NULL;
    }
    return g_steal_pointer(&img);
}

bool snapshot_memory_check(const SnapshotInfo *info, const uint8_t *hdr, size_t len,
                           GError **err)
{
    uint64_t version;

    if (len < SNAPSHOT_MEMORY_HEADER_LEN) {
        set_error(err, "truncated (%zu bytes, no header)", len);
        return false;
    }
    if (memcmp(hdr, SNAPSHOT_MEMORY_MAGIC, 16)) {
        set_error(err, "not a Stratus memory image");
        return false;
    }
    version = get_le(hdr + 16, 4);
    if (version > SNAPSHOT_FORMAT_VERSION) {
        set_error(err, "format version %" G_GUINT64_FORMAT " is newer than the supported %d",
                  version, SNAPSHOT_FORMAT_VERSION);
        return false;
    }
    if (memcmp(hdr + 24, info->id, SNAPSHOT_ID_LEN)) {
        set_error(err, "belongs to another snapshot than the state file");
        return false;
    }
    if (version == 0 || get_le(hdr + 20, 4) != info->nram ||
        get_le(hdr + 40, 8) != SNAPSHOT_MEMORY_HEADER_LEN ||
        get_le(hdr + 48, 8) != info->memory_len) {
        set_error(err, "corrupt (header disagrees with the state file)");
        return false;
    }
    for (uint32_t i = 0; i < info->nram; i++) {
        if (get_le(hdr + 56 + 16 * i, 8) != info->ram[i].gpa ||
            get_le(hdr + 64 + 16 * i, 8) != info->ram[i].size) {
            set_error(err, "corrupt (RAM block %u disagrees with the state file)", i);
            return false;
        }
    }
    return true;
}
