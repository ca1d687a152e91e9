/*
 * The live migration stream's encoder and decoder (stream.h). The decoder
 * trusts nothing: every length is checked against what is there before
 * anything is read.
 */
#include <string.h>
#include <json-glib/json-glib.h>

#include "migration/stream.h"
#include "util/strutil.h"

static void put_le32(GByteArray *out, uint32_t v)
{
    uint8_t b[4] = { v, v >> 8, v >> 16, v >> 24 };

    g_byte_array_append(out, b, 4);
}

static void put_le64(GByteArray *out, uint64_t v)
{
    put_le32(out, (uint32_t)v);
    put_le32(out, (uint32_t)(v >> 32));
}

static uint32_t get_le32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
    return get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* ---- SETUP ---- */

MigSetup *migsetup_new(const char *machine, uint32_t cpus, uint64_t mem_size)
{
    MigSetup *s = g_new0(MigSetup, 1);

    s->machine = g_strdup(machine);
    s->cpus = cpus;
    s->mem_size = mem_size;
    s->ram = g_array_new(FALSE, TRUE, sizeof(MigRamRange));
    s->dev_types = g_ptr_array_new_with_free_func(g_free);
    s->dev_paths = g_ptr_array_new_with_free_func(g_free);
    return s;
}

void migsetup_add_ram(MigSetup *s, uint64_t gpa, uint64_t size)
{
    MigRamRange r = { gpa, size };

    g_array_append_val(s->ram, r);
}

void migsetup_add_device(MigSetup *s, const char *type, const char *path)
{
    g_ptr_array_add(s->dev_types, g_strdup(type));
    g_ptr_array_add(s->dev_paths, g_strdup(path));
}

void migsetup_free(MigSetup *s)
{
    if (s) {
        g_free(s->machine);
        g_array_free(s->ram, TRUE);
        g_ptr_array_free(s->dev_types, TRUE);
        g_ptr_array_free(s->dev_paths, TRUE);
        g_free(s);
    }
}

GBytes *migsetup_encode(const MigSetup *s)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    gsize len;
    char *text;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "machine");
    json_builder_add_string_value(b, s->machine);
    json_builder_set_member_name(b, "cpus");
    json_builder_add_int_value(b, s->cpus);
    json_builder_set_member_name(b, "mem");
    json_builder_add_int_value(b, (gint64)s->mem_size);
    json_builder_set_member_name(b, "ram");
    json_builder_begin_array(b);
    for (guint i = 0; i < s->ram->len; i++) {
        const MigRamRange *r = &g_array_index(s->ram, MigRamRange, i);
        json_builder_add_int_value(b, (gint64)r->gpa);
        json_builder_add_int_value(b, (gint64)r->size);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "devices");
    json_builder_begin_array(b);
    for (guint i = 0; i < s->dev_types->len; i++) {
        json_builder_add_string_value(b, g_ptr_array_index(s->dev_types, i));
        json_builder_add_string_value(b, g_ptr_array_index(s->dev_paths, i));
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    text = json_generator_to_data(gen, &len);
    return g_bytes_new_take(text, len);
}

static bool member_kind(JsonObject *o, const char *name, GType type)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n) {
        return false;
    }
    if (type == JSON_TYPE_ARRAY) {
        return JSON_NODE_HOLDS_ARRAY(n);
    }
    return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == type;
}

static bool decode_lists(MigSetup *s, JsonArray *ram, JsonArray *devs, GError **err)
{
    guint nram = json_array_get_length(ram), ndev = json_array_get_length(devs);

    if (nram % 2 || ndev % 2) {
        set_error(err, "malformed setup record (odd list)");
        return false;
    }
    for (guint i = 0; i < nram; i += 2) {
        JsonNode *a = json_array_get_element(ram, i), *z = json_array_get_element(ram, i + 1);
        if (!JSON_NODE_HOLDS_VALUE(a) || json_node_get_value_type(a) != G_TYPE_INT64 ||
            !JSON_NODE_HOLDS_VALUE(z) || json_node_get_value_type(z) != G_TYPE_INT64) {
            set_error(err, "malformed setup record (RAM layout)");
            return false;
        }
        migsetup_add_ram(s, (uint64_t)json_node_get_int(a), (uint64_t)json_node_get_int(z));
    }
    for (guint i = 0; i < ndev; i += 2) {
        JsonNode *t = json_array_get_element(devs, i), *p = json_array_get_element(devs, i + 1);
        if (!JSON_NODE_HOLDS_VALUE(t) || json_node_get_value_type(t) != G_TYPE_STRING ||
            !JSON_NODE_HOLDS_VALUE(p) || json_node_get_value_type(p) != G_TYPE_STRING) {
            set_error(err, "malformed setup record (device list)");
            return false;
        }
        migsetup_add_device(s, json_node_get_string(t), json_node_get_string(p));
    }
    return true;
}

MigSetup *migsetup_decode(const uint8_t *buf, size_t len, GError **err)
{
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(MigSetup) s = NULL;
    JsonObject *o;

    if (!len || !json_parser_load_from_data(p, (const char *)buf, (gssize)len, NULL) ||
        !json_parser_get_root(p) || !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        set_error(err, "malformed setup record");
        return NULL;
    }
    o = json_node_get_object(json_parser_get_root(p));
    if (!member_kind(o, "machine", G_TYPE_STRING) || !member_kind(o, "cpus", G_TYPE_INT64) ||
        !member_kind(o, "mem", G_TYPE_INT64) || !member_kind(o, "ram", JSON_TYPE_ARRAY) ||
        !member_kind(o, "devices", JSON_TYPE_ARRAY)) {
        set_error(err, "malformed setup record (missing member)");
        return NULL;
    }
    s = migsetup_new(json_object_get_string_member(o, "machine"),
                     (uint32_t)json_object_get_int_member(o, "cpus"),
                     (uint64_t)json_object_get_int_member(o, "mem"));
    if (!decode_lists(s, json_object_get_array_member(o, "ram"),
                      json_object_get_array_member(o, "devices"), err)) {
        return NULL;
    }
    return g_steal_pointer(&s);
}

static bool compare_devices(const MigSetup *src, const MigSetup *local, GError **err)
{
    guint n = MAX(src->dev_types->len, local->dev_types->len);

    for (guint i = 0; i < n; i++) {
        const char *st = i < src->dev_types->len ? g_ptr_array_index(src->dev_types, i) : NULL;
        const char *sp = st ? g_ptr_array_index(src->dev_paths, i) : NULL;
        const char *lt = i < local->dev_types->len ? g_ptr_array_index(local->dev_types, i)
                                                   : NULL;
        const char *lp = lt ? g_ptr_array_index(local->dev_paths, i) : NULL;

        if (!st || !lt || strcmp(st, lt) || strcmp(sp, lp)) {
            set_error(err, "the devices differ: the source has %s%s%s where this command "
                      "line has %s%s%s", st ? st : "no device", st ? " at " : "",
                      st ? sp : "", lt ? lt : "no device", lt ? " at " : "", lt ? lp : "");
            return false;
        }
    }
    return true;
}

bool migsetup_compare(const MigSetup *src, const MigSetup *local, GError **err)
{
    if (strcmp(src->machine, local->machine)) {
        set_error(err, "the source is a %s machine, this one %s", src->machine,
                  local->machine);
        return false;
    }
    if (src->cpus != local->cpus) {
        set_error(err, "the source has %u vCPUs, -smp asks for %u", src->cpus, local->cpus);
        return false;
    }
    if (src->mem_size != local->mem_size) {
        set_error(err, "the source has %" G_GUINT64_FORMAT " MiB of RAM, -m asks for %"
                  G_GUINT64_FORMAT " MiB", src->mem_size >> 20, local->mem_size >> 20);
        return false;
    }
    if (src->ram->len != local->ram->len ||
        memcmp(src->ram->data, local->ram->data, src->ram->len * sizeof(MigRamRange))) {
        set_error(err, "the RAM layout differs from the source's");
        return false;
    }
    return compare_devices(src, local, err);
}

/* ---- records ---- */

void migstream_put_header(GByteArray *out)
{
    uint8_t magic[16] = MIGSTREAM_MAGIC;

    g_byte_array_append(out, magic, sizeof(magic));
    put_le32(out, MIGSTREAM_VERSION);
    put_le32(out, 0);
}

void migstream_put_record(GByteArray *out, MigRecordType type, const void *payload,
                          size_t len)
{
    uint8_t hdr[4] = { (uint8_t)type, 0, 0, 0 };

    g_assert(len <= MIGSTREAM_MAX_RECORD);
    g_byte_array_append(out, hdr, sizeof(hdr));
    put_le32(out, (uint32_t)len);
    if (len) {
        g_byte_array_append(out, payload, (guint)len);
    }
}

static bool page_is_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)p;

    for (size_t i = 0; i < MIGSTREAM_PAGE_SIZE / 8; i++) {
        if (w[i]) {
            return false;
        }
    }
    return true;
}

bool migstream_put_page(GByteArray *payload, uint64_t gpa, const uint8_t *page)
{
    bool zero = page_is_zero(page);

    put_le64(payload, gpa | (zero ? MIGSTREAM_PAGE_ZERO : 0));
    if (!zero) {
        g_byte_array_append(payload, page, MIGSTREAM_PAGE_SIZE);
    }
    return zero;
}

void migstream_put_reply(GByteArray *out, bool ok, const char *message)
{
    g_autoptr(GByteArray) p = g_byte_array_new();
    uint8_t status = ok ? 0 : 1;

    g_byte_array_append(p, &status, 1);
    if (!ok && message) {
        g_byte_array_append(p, (const uint8_t *)message, (guint)MIN(strlen(message), 4096));
    }
    migstream_put_record(out, MIGREC_REPLY, p->data, p->len);
}

bool migstream_check_header(const uint8_t *buf, size_t len, GError **err)
{
    uint32_t version;

    if (len < MIGSTREAM_HEADER_LEN) {
        set_error(err, "truncated stream header (%zu of %d bytes)", len, MIGSTREAM_HEADER_LEN);
        return false;
    }
    if (memcmp(buf, MIGSTREAM_MAGIC, 16)) {
        set_error(err, "not a Stratus migration stream");
        return false;
    }
    version = get_le32(buf + 16);
    if (version != MIGSTREAM_VERSION) {
        set_error(err, "stream version %u is not the supported %d", version, MIGSTREAM_VERSION);
        return false;
    }
    return true;
}

bool migstream_record_header(const uint8_t *buf, size_t len, MigRecordType *type,
                             uint32_t *payload_len, GError **err)
{
    if (len < MIGSTREAM_RECORD_HEADER_LEN) {
        set_error(err, "truncated record header (%zu of %d bytes)", len,
                  MIGSTREAM_RECORD_HEADER_LEN);
        return false;
    }
    if (buf[0] < MIGREC_SETUP || buf[0] > MIGREC_CANCEL || buf[1] || buf[2] || buf[3]) {
        set_error(err, "unknown record type %u", buf[0]);
        return false;
    }
    *type = (MigRecordType)buf[0];
    *payload_len = get_le32(buf + 4);
    if (*payload_len > MIGSTREAM_MAX_RECORD) {
        set_error(err, "record of %u bytes is longer than the limit", *payload_len);
        return false;
    }
    return true;
}

/* Walks the entries; with page NULL only checks them. */
static bool walk_pages(const uint8_t *buf, size_t len, MigPageFn page, void *opaque,
                       GError **err)
{
    size_t pos = 0;

    while (pos < len) {
        uint64_t e;
        bool zero;

        if (len - pos < 8) {
            set_error(err, "truncated page entry at byte %zu", pos);
            return false;
        }
        e = get_le64(buf + pos);
        pos += 8;
        if (e & (MIGSTREAM_PAGE_SIZE - 1) & ~(uint64_t)MIGSTREAM_PAGE_ZERO) {
            set_error(err, "bad page entry 0x%" G_GINT64_MODIFIER "x", e);
            return false;
        }
        zero = e & MIGSTREAM_PAGE_ZERO;
        if (!zero && len - pos < MIGSTREAM_PAGE_SIZE) {
            set_error(err, "truncated page at byte %zu", pos);
            return false;
        }
        if (page && !page(e & ~(uint64_t)(MIGSTREAM_PAGE_SIZE - 1), zero ? NULL : buf + pos,
                          opaque, err)) {
            return false;
        }
        pos += zero ? 0 : MIGSTREAM_PAGE_SIZE;
    }
    return true;
}

bool migstream_pages(const uint8_t *buf, size_t len, MigPageFn page, void *opaque,
                     GError **err)
{
    return walk_pages(buf, len, NULL, NULL, err) && walk_pages(buf, len, page, opaque, err);
}

bool migstream_reply(const uint8_t *buf, size_t len, bool *ok, char **message,
                     GError **err)
{
    if (len < 1 || buf[0] > 1) {
        set_error(err, "malformed reply");
        return false;
    }
    *ok = buf[0] == 0;
    if (message) {
        *message = *ok ? NULL : g_strndup((const char *)buf + 1, len - 1);
    }
    return true;
}
