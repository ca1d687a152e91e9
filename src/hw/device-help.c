/*
 * `-device help`, `-device DRIVER,help` and `info qdm` (hw/device-help.h).
 * The property lines are made from device_class_properties_json(), the very
 * answer of device-list-properties, so the two cannot disagree.
 */
#include <string.h>

#include "hw/device-help.h"
#include "hw/device.h"
#include "hw/qom-types.h"
#include "config.h"
#include "util/strutil.h"

/* QEMU's bus type names: what `bus` says in `-device help`. */
static const char *bus_type_name(DeviceBusType bus)
{
    switch (bus) {
    case DEVICE_BUS_ISA:
        return "ISA";
    case DEVICE_BUS_VIRTIO:
        return "virtio-bus";
    case DEVICE_BUS_VIRTIO_SERIAL:
        return "virtio-serial-bus";
    case DEVICE_BUS_PCI:
        return "PCI";
    case DEVICE_BUS_NONE:
        break;
    }
    return "System";
}

static gint by_name(gconstpointer a, gconstpointer b)
{
    const DeviceClass *da = *(const DeviceClass *const *)a;
    const DeviceClass *db = *(const DeviceClass *const *)b;

    return g_ascii_strcasecmp(da->name, db->name);
}

char *device_help_types_text(bool show_no_user)
{
    g_autoptr(GPtrArray) sorted = g_ptr_array_new();
    GString *s = g_string_new(NULL);

    for (const DeviceClass *const *dc = device_class_all(); *dc; dc++) {
        /* QEMU hides what -device could not create anyway. */
        if (show_no_user || (*dc)->user_creatable) {
            g_ptr_array_add(sorted, (gpointer)*dc);
        }
    }
    g_ptr_array_sort(sorted, by_name);
    for (guint i = 0; i < sorted->len; i++) {
        const DeviceClass *dc = g_ptr_array_index(sorted, i);
        g_string_append_printf(s, "name \"%s\", bus %s", dc->name, bus_type_name(dc->bus));
        for (const char *const *a = dc->aliases; a && *a; a++) {
            g_string_append_printf(s, ", alias \"%s\"", *a);
        }
        if (dc->description) {
            g_string_append_printf(s, ", desc \"%s\"", dc->description);
        }
        if (!dc->user_creatable) {
            g_string_append(s, ", no-user");
        }
        g_string_append_c(s, '\n');
    }
    return g_string_free(s, FALSE);
}

/* QEMU's object_property_help(): the description starts at column 24. */
static char *prop_line(JsonObject *o)
{
    GString *s = g_string_new(NULL);
    bool has_desc = json_object_has_member(o, "description");
    bool has_def = json_object_has_member(o, "default-value");

    g_string_append_printf(s, "  %s=<%s>", json_object_get_string_member(o, "name"),
                           json_object_get_string_member(o, "type"));
    if (has_desc || has_def) {
        while (s->len < 24) {
            g_string_append_c(s, ' ');
        }
        g_string_append(s, " - ");
    }
    if (has_desc) {
        g_string_append(s, json_object_get_string_member(o, "description"));
    }
    if (has_def) {
        g_autofree char *def = json_to_string(json_object_get_member(o, "default-value"),
                                              FALSE);
        g_string_append_printf(s, " (default: %s)", def);
    }
    return g_string_free(s, FALSE);
}

static gint by_text(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *device_help_props_text(const char *driver, GError **err)
{
    const DeviceClass *dc = qom_device_type_lookup(driver, err);
    g_autoptr(JsonNode) props = NULL;
    g_autoptr(GPtrArray) lines = NULL;
    JsonArray *a;
    GString *s;

    if (!dc) {
        return NULL;
    }
    props = device_class_properties_json(dc);
    a = json_node_get_array(props);
    if (json_array_get_length(a) == 0) {
        return g_strdup_printf("There are no options for %s.\n", dc->name);
    }
    lines = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        g_ptr_array_add(lines, prop_line(json_array_get_object_element(a, i)));
    }
    /* QEMU sorts the finished lines, so "a-b=" comes before "a=". */
    g_ptr_array_sort(lines, by_text);
    /* The QOM name even when an alias was asked for, as QEMU prints it. */
    s = g_string_new(NULL);
    g_string_append_printf(s, "%s options:\n", dc->name);
    for (guint i = 0; i < lines->len; i++) {
        g_string_append_printf(s, "%s\n", (const char *)g_ptr_array_index(lines, i));
    }
    return g_string_free(s, FALSE);
}

static bool is_help(const char *s)
{
    return s && (!strcmp(s, "help") || !strcmp(s, "?"));
}

bool device_help_for_option(const char *optarg, char **text, GError **err)
{
    OptList *l = optlist_parse(optarg, "driver", NULL);
    const char *driver;
    bool wanted = false;

    /* A malformed list is not a help request; -device parsing reports it. */
    if (!l) {
        return false;
    }
    driver = optlist_get(l, "driver");
    if (is_help(driver)) {
        *text = device_help_types_text(false);
        wanted = true;
    } else if (optlist_get(l, "help") || optlist_get(l, "?")) {
        wanted = true;
        *text = driver ? device_help_props_text(driver, err) : NULL;
        if (!driver) {
            set_error(err, "Parameter 'driver' is missing");
        }
    }
    optlist_free(l);
    return wanted;
}
