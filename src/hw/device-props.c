/*
 * Typed device properties: parsing from command-line text and from QMP JSON,
 * with QEMU's error texts so that -device and device_add fail the same way,
 * and the read side used by qom-get, info qtree and device-list-properties.
 */
#include <inttypes.h>
#include <string.h>

#include "hw/device.h"
#include "hw/device-internal.h"
#include "util/strutil.h"

const char *prop_type_name(PropType t)
{
    switch (t) {
    case PROP_STR: return "str";
    case PROP_BOOL: return "bool";
    case PROP_U8: return "uint8";
    case PROP_U16: return "uint16";
    case PROP_U32: return "uint32";
    case PROP_U64: return "uint64";
    case PROP_SIZE: return "size";
    case PROP_I32: return "int32";
    }
    return "unknown";
}

/* The C type name QEMU's visitors put in "Parameter 'x' expects <c-type>". */
static const char *prop_c_type(PropType t)
{
    switch (t) {
    case PROP_U8: return "uint8_t";
    case PROP_U16: return "uint16_t";
    case PROP_U32: return "uint32_t";
    case PROP_I32: return "int32_t";
    default: return "uint64_t";
    }
}

static uint64_t prop_type_max(PropType t)
{
    switch (t) {
    case PROP_BOOL: return 1;
    case PROP_U8: return UINT8_MAX;
    case PROP_U16: return UINT16_MAX;
    case PROP_U32: return UINT32_MAX;
    default: return UINT64_MAX;
    }
}

static void *field(const Device *d, const Property *p)
{
    return (char *)d + p->offset;
}

static bool store_uint(Device *d, const Property *p, uint64_t v, GError **err)
{
    void *f = field(d, p);

    if (v > prop_type_max(p->type)) {
        set_error(err, "Parameter '%s' expects %s", p->name, prop_c_type(p->type));
        return false;
    }
    if ((p->min || p->max) && (v < p->min || v > p->max)) {
        set_error(err, "Property %s.%s doesn't take value %" PRIu64
                  " (minimum: %" PRIu64 ", maximum: %" PRIu64 ")",
                  d->klass->name, p->name, v, p->min, p->max);
        return false;
    }
    switch (p->type) {
    case PROP_U8: *(uint8_t *)f = (uint8_t)v; break;
    case PROP_U16: *(uint16_t *)f = (uint16_t)v; break;
    case PROP_U32: *(uint32_t *)f = (uint32_t)v; break;
    default: *(uint64_t *)f = v; break;
    }
    return true;
}

/* PROP_I32: QEMU's visitor texts, "expects int32_t" for a number out of range. */
static bool store_int(Device *d, const Property *p, int64_t v, GError **err)
{
    if (v < G_MININT32 || v > G_MAXINT32) {
        set_error(err, "Parameter '%s' expects %s", p->name, prop_c_type(p->type));
        return false;
    }
    *(int32_t *)field(d, p) = (int32_t)v;
    return true;
}

/* Decimal or 0x-hex with an optional '-'; a magnitude past int64 counts as out of range. */
static bool parse_int_text(const char *text, int64_t *out, bool *overflow)
{
    bool neg = text[0] == '-';
    uint64_t u;

    if (!parse_uint(text + neg, &u)) {
        return false;
    }
    *overflow = u > (uint64_t)G_MAXINT64;
    *out = *overflow ? 0 : (neg ? -(int64_t)u : (int64_t)u);
    return true;
}

static bool set_int_text(Device *d, const Property *p, const char *text, GError **err)
{
    int64_t v;
    bool overflow;

    if (!parse_int_text(text, &v, &overflow)) {
        set_error(err, "Parameter '%s' expects integer", p->name);
        return false;
    }
    if (overflow) {
        set_error(err, "Parameter '%s' expects %s", p->name, prop_c_type(p->type));
        return false;
    }
    return store_int(d, p, v, err);
}

static void store_str(Device *d, const Property *p, const char *s)
{
    char **f = field(d, p);

    g_free(*f);
    *f = g_strdup(s);
}

/*
 * QEMU's qapi_bool_parse(): these six words only (util's parse_bool() also
 * takes -drive discard's "unmap"/"ignore", which mean nothing here).
 */
static bool parse_prop_bool(const char *text, bool *out)
{
    static const char *const words[] = { "on", "yes", "true", "off", "no", "false" };

    for (size_t i = 0; i < G_N_ELEMENTS(words); i++) {
        if (!strcmp(text, words[i])) {
            *out = i < 3;
            return true;
        }
    }
    return false;
}

bool device_prop_set_text(Device *d, const Property *p, const char *text, GError **err)
{
    uint64_t v;
    bool b;

    switch (p->type) {
    case PROP_STR:
        store_str(d, p, text);
        return true;
    case PROP_BOOL:
        if (!parse_prop_bool(text, &b)) {
            set_error(err, "Parameter '%s' expects 'on' or 'off'", p->name);
            return false;
        }
        *(bool *)field(d, p) = b;
        return true;
    case PROP_SIZE: {
        g_autoptr(GError) local = NULL;
        if (!parse_size(text, 1, &v, &local)) {
            set_error(err, "Parameter '%s' expects a size value", p->name);
            return false;
        }
        return store_uint(d, p, v, err);
    }
    case PROP_I32:
        return set_int_text(d, p, text, err);
    default:
        if (!parse_uint(text, &v)) {
            /* QEMU: junk "expects integer", a number out of range the C type. */
            set_error(err, "Parameter '%s' expects integer", p->name);
            return false;
        }
        return store_uint(d, p, v, err);
    }
}

static bool json_type_error(const Property *p, const char *expected, GError **err)
{
    set_error(err, "Invalid parameter type for '%s', expected: %s", p->name, expected);
    return false;
}

bool device_prop_set_json(Device *d, const Property *p, JsonNode *n, GError **err)
{
    GType vt = JSON_NODE_HOLDS_VALUE(n) ? json_node_get_value_type(n) : G_TYPE_INVALID;

    switch (p->type) {
    case PROP_STR:
        if (vt != G_TYPE_STRING) {
            return json_type_error(p, "string", err);
        }
        store_str(d, p, json_node_get_string(n));
        return true;
    case PROP_BOOL:
        if (vt != G_TYPE_BOOLEAN) {
            return json_type_error(p, "boolean", err);
        }
        *(bool *)field(d, p) = json_node_get_boolean(n);
        return true;
    default:
        if (vt != G_TYPE_INT64) {
            return json_type_error(p, "integer", err);
        }
        if (p->type == PROP_I32) {
            return store_int(d, p, json_node_get_int(n), err);
        }
        if (json_node_get_int(n) < 0) {
            set_error(err, "Parameter '%s' expects %s", p->name, prop_c_type(p->type));
            return false;
        }
        return store_uint(d, p, (uint64_t)json_node_get_int(n), err);
    }
}

static uint64_t get_uint(const Device *d, const Property *p)
{
    const void *f = field(d, p);

    switch (p->type) {
    case PROP_BOOL: return *(const bool *)f;
    case PROP_U8: return *(const uint8_t *)f;
    case PROP_U16: return *(const uint16_t *)f;
    case PROP_U32: return *(const uint32_t *)f;
    default: return *(const uint64_t *)f;
    }
}

JsonNode *device_prop_get_json(const Device *d, const Property *p)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);

    switch (p->type) {
    case PROP_STR: {
        const char *s = *(char *const *)field(d, p);
        if (!s) {
            json_node_free(n);
            return json_node_new(JSON_NODE_NULL);
        }
        json_node_set_string(n, s);
        break;
    }
    case PROP_BOOL:
        json_node_set_boolean(n, *(const bool *)field(d, p));
        break;
    case PROP_I32:
        json_node_set_int(n, *(const int32_t *)field(d, p));
        break;
    default:
        json_node_set_int(n, (gint64)get_uint(d, p));
        break;
    }
    return n;
}

char *device_prop_get_text(const Device *d, const Property *p)
{
    switch (p->type) {
    case PROP_STR: {
        const char *s = *(char *const *)field(d, p);
        return g_strdup(s ? s : "");
    }
    case PROP_BOOL:
        return g_strdup(*(const bool *)field(d, p) ? "on" : "off");
    case PROP_I32:
        return g_strdup_printf("%" G_GINT32_FORMAT, *(const int32_t *)field(d, p));
    default:
        return g_strdup_printf("%" PRIu64, get_uint(d, p));
    }
}

const Property *device_class_find_prop(const DeviceClass *dc, const char *name)
{
    for (const Property *p = dc->props; p && p->name; p++) {
        if (!strcmp(p->name, name)) {
            return p;
        }
    }
    return NULL;
}

/* Defaults are written as command-line text so one parser checks them all. */
bool device_props_set_defaults(Device *d, GError **err)
{
    for (const Property *p = d->klass->props; p && p->name; p++) {
        if (p->defval && !device_prop_set_text(d, p, p->defval, err)) {
            g_prefix_error(err, "%s: bad default: ", d->klass->name);
            return false;
        }
    }
    return true;
}

void device_props_free(Device *d)
{
    for (const Property *p = d->klass->props; p && p->name; p++) {
        if (p->type == PROP_STR) {
            g_clear_pointer((char **)field(d, p), g_free);
        }
    }
}

JsonNode *device_class_properties_json(const DeviceClass *dc)
{
    /*
     * "default-value" is read from an instance holding only its defaults: the
     * same parser as user values, the same JSON as qom-get.
     */
    Device *fresh = g_malloc0(dc->instance_size);
    JsonArray *a = json_array_new();
    JsonNode *root = json_node_new(JSON_NODE_ARRAY);

    fresh->klass = dc;
    device_props_set_defaults(fresh, NULL);
    for (const Property *p = dc->props; p && p->name; p++) {
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "name", p->name);
        json_object_set_string_member(o, "type", prop_type_name(p->type));
        if (p->description) {
            json_object_set_string_member(o, "description", p->description);
        }
        if (p->defval && !p->hide_default) {
            json_object_set_member(o, "default-value", device_prop_get_json(fresh, p));
        }
        json_array_add_object_element(a, o);
    }
    device_props_free(fresh);
    g_free(fresh);
    json_node_take_array(root, a);
    return root;
}
