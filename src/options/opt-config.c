/*
 * -config FILE: the JSON VM description of StratoVirt's 0.x releases
 * (docs/command-line.md, "-config"). Every item becomes the option string the
 * command line would carry for it, so the file goes through the same
 * handlers, checks and error texts as argv; only the name in a message is the
 * item's key path ("drive[1].path_on_host"). options.c applies the items
 * before argv and leaves out those argv gives again: in StratoVirt the
 * command line overrides the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-glib/json-glib.h>

#include "config.h"
#include "options/options-internal.h"
#include "util/strutil.h"

/* Far above any real description; keeps a wrong path from being slurped. */
#define CONFIG_FILE_MAX (1 << 20)

typedef struct Loader {
    const char *file;
    GPtrArray *items;           /* ConfigItem */
    GError **err;
    bool serial_bus;            /* the consoles' virtio-serial-device is in items */
} Loader;

void config_item_free(gpointer p)
{
    ConfigItem *it = p;

    g_free(it->value);
    g_free(it->where);
    g_free(it);
}

static bool fail(Loader *L, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static bool fail(Loader *L, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    set_error(L->err, "-config %s: %s", L->file, msg);
    return false;
}

/* Takes value. */
static void add_item(Loader *L, OptId id, const char *where, GString *value)
{
    ConfigItem *it = g_new0(ConfigItem, 1);

    it->id = id;
    it->where = g_strdup(where);
    it->value = g_string_free(value, FALSE);
    g_ptr_array_add(L->items, it);
}

static void add_itemf(Loader *L, OptId id, const char *where, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
static void add_itemf(Loader *L, OptId id, const char *where, const char *fmt, ...)
{
    GString *v = g_string_new(NULL);
    va_list ap;

    va_start(ap, fmt);
    g_string_append_vprintf(v, fmt, ap);
    va_end(ap);
    add_item(L, id, where, v);
}

/* ",key=value" with the value's commas doubled, as the option syntax wants. */
static void append_kv(GString *s, const char *key, const char *value)
{
    g_string_append_printf(s, ",%s=", key);
    for (const char *p = value; *p; p++) {
        g_string_append_c(s, *p);
        if (*p == ',') {
            g_string_append_c(s, ',');
        }
    }
}

/* ---- typed members ------------------------------------------------------ */

static bool only_keys(Loader *L, JsonObject *o, const char *where, const char *const *keys)
{
    g_autoptr(GList) members = json_object_get_members(o);

    for (GList *m = members; m; m = m->next) {
        if (!opt_one_of(m->data, keys)) {
            return fail(L, "unknown key '%s%s%s'", where, *where ? "." : "",
                        (const char *)m->data);
        }
    }
    return true;
}

static JsonNode *member(JsonObject *o, const char *key)
{
    JsonNode *n = json_object_get_member(o, key);

    return n && !JSON_NODE_HOLDS_NULL(n) ? n : NULL;
}

static bool get_string(Loader *L, JsonObject *o, const char *where, const char *key,
                       bool required, bool allow_empty, const char **out)
{
    JsonNode *n = member(o, key);

    *out = NULL;
    if (!n) {
        return !required || fail(L, "%s.%s: missing", where, key);
    }
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
        return fail(L, "%s.%s: expected a string", where, key);
    }
    *out = json_node_get_string(n);
    if (!**out && !allow_empty) {
        return fail(L, "%s.%s: expected a non-empty string", where, key);
    }
    return true;
}

static bool get_str(Loader *L, JsonObject *o, const char *where, const char *key,
                    bool required, const char **out)
{
    return get_string(L, o, where, key, required, false, out);
}

/* *present says whether the key was there; *out is untouched otherwise. */
static bool get_bool(Loader *L, JsonObject *o, const char *where, const char *key,
                     bool *out, bool *present)
{
    JsonNode *n = member(o, key);

    *present = n != NULL;
    if (!n) {
        return true;
    }
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN) {
        return fail(L, "%s.%s: expected true or false", where, key);
    }
    *out = json_node_get_boolean(n);
    return true;
}

static bool get_uint(Loader *L, JsonObject *o, const char *where, const char *key,
                     bool required, uint64_t *out, bool *present)
{
    JsonNode *n = member(o, key);

    *present = n != NULL;
    if (!n) {
        return !required || fail(L, "%s.%s: missing", where, key);
    }
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < 0) {
        return fail(L, "%s.%s: expected a non-negative integer", where, key);
    }
    *out = (uint64_t)json_node_get_int(n);
    return true;
}

static const char *on_off(bool b)
{
    return b ? "on" : "off";
}


/* ---- sections ----------------------------------------------------------- */

static bool machine_config(Loader *L, JsonObject *o, const char *w)
{
    static const char *const keys[] = { "type", "dump_guest_core", "mem-share", "mem_share",
                                        "vcpu_count", "mem_size", NULL };
    const char *type;
    bool dump = false, dump_set, share = false, share_set, share2_set, set;
    uint64_t n;

    if (!only_keys(L, o, w, keys) || !get_str(L, o, w, "type", false, &type) ||
        !get_bool(L, o, w, "dump_guest_core", &dump, &dump_set) ||
        !get_bool(L, o, w, "mem-share", &share, &share_set) ||
        !get_bool(L, o, w, "mem_share", &share, &share2_set)) {
        return false;
    }
    if (type || dump_set || share_set || share2_set) {
        /* StratoVirt 0.x spelled the machine "MicroVm". */
        GString *v = g_string_new(!type || !g_ascii_strcasecmp(type, "MicroVm") ? "microvm"
                                                                                : type);
        if (dump_set) {
            append_kv(v, "dump-guest-core", on_off(dump));
        }
        if (share_set || share2_set) {
            append_kv(v, "mem-share", on_off(share));
        }
        add_item(L, OPT_MACHINE, "machine-config", v);
    }
    if (!get_uint(L, o, w, "vcpu_count", false, &n, &set)) {
        return false;
    }
    if (set) {
        add_itemf(L, OPT_SMP, "machine-config.vcpu_count", "%" PRIu64, n);
    }
    if (!get_uint(L, o, w, "mem_size", false, &n, &set)) {
        return false;
    }
    if (set) {
        /* The file's unit is the byte (the command line's is the MiB). */
        add_itemf(L, OPT_MEM, "machine-config.mem_size", "%" PRIu64 "B", n);
    }
    return true;
}

static bool boot_source(Loader *L, JsonObject *o, const char *w)
{
    static const char *const keys[] = { "kernel_image_path", "boot_args", "initrd_fs_path",
                                        NULL };
    const char *kernel, *args, *initrd;

    if (!only_keys(L, o, w, keys) || !get_str(L, o, w, "kernel_image_path", false, &kernel) ||
        !get_str(L, o, w, "initrd_fs_path", false, &initrd) ||
        /* An empty kernel command line is a command line. */
        !get_string(L, o, w, "boot_args", false, true, &args)) {
        return false;
    }
    if (kernel) {
        add_itemf(L, OPT_KERNEL, "boot-source.kernel_image_path", "%s", kernel);
    }
    if (initrd) {
        add_itemf(L, OPT_INITRD, "boot-source.initrd_fs_path", "%s", initrd);
    }
    if (args) {
        add_itemf(L, OPT_APPEND, "boot-source.boot_args", "%s", args);
    }
    return true;
}

static bool drive(Loader *L, JsonObject *o, const char *w)
{
    static const char *const keys[] = { "drive_id", "path_on_host", "serial_num", "direct",
                                        "read_only", "iothread", NULL };
    const char *id, *path, *serial, *iothread;
    bool direct = false, direct_set, ro = false, ro_set;
    g_autofree char *at_dev = g_strdup_printf("%s.drive_id", w);
    GString *v;

    if (!only_keys(L, o, w, keys) || !get_str(L, o, w, "drive_id", true, &id) ||
        !get_str(L, o, w, "path_on_host", true, &path) ||
        !get_str(L, o, w, "serial_num", false, &serial) ||
        !get_str(L, o, w, "iothread", false, &iothread) ||
        !get_bool(L, o, w, "direct", &direct, &direct_set) ||
        !get_bool(L, o, w, "read_only", &ro, &ro_set)) {
        return false;
    }
    v = g_string_new(NULL);
    g_string_append_printf(v, "id=%s", id);
    append_kv(v, "file", path);
    if (ro_set) {
        append_kv(v, "readonly", on_off(ro));
    }
    if (direct_set) {
        append_kv(v, "direct", on_off(direct));
    }
    add_item(L, OPT_DRIVE, w, v);
    /* A 0.x drive is a disk: the file's drive is also its virtio-blk device. */
    v = g_string_new("virtio-blk-device");
    append_kv(v, "drive", id);
    append_kv(v, "id", id);
    if (serial) {
        append_kv(v, "serial", serial);
    }
    if (iothread) {
        append_kv(v, "iothread", iothread);
    }
    add_item(L, OPT_DEVICE, at_dev, v);
    return true;
}

static bool net(Loader *L, JsonObject *o, const char *w)
{
    static const char *const keys[] = { "iface_id", "host_dev_name", "mac", "vhost_type", NULL };
    const char *id, *tap, *mac, *vhost;
    g_autofree char *at_dev = g_strdup_printf("%s.iface_id", w);
    GString *v;

    if (!only_keys(L, o, w, keys) || !get_str(L, o, w, "iface_id", true, &id) ||
        !get_str(L, o, w, "host_dev_name", true, &tap) ||
        !get_str(L, o, w, "mac", false, &mac) ||
        !get_str(L, o, w, "vhost_type", false, &vhost)) {
        return false;
    }
    if (vhost && strcmp(vhost, "vhost-kernel")) {
        return fail(L, "%s.vhost_type: expected \"vhost-kernel\"", w);
    }
    v = g_string_new("tap");
    append_kv(v, "id", id);
    append_kv(v, "ifname", tap);
    if (vhost) {
        append_kv(v, "vhost", "on");
    }
    add_item(L, OPT_NETDEV, w, v);
    v = g_string_new("virtio-net-device");
    append_kv(v, "netdev", id);
    append_kv(v, "id", id);
    if (mac) {
        append_kv(v, "mac", mac);
    }
    add_item(L, OPT_DEVICE, at_dev, v);
    return true;
}

static bool console(Loader *L, JsonObject *o, const char *w)
{
    static const char *const keys[] = { "console_id", "socket_path", NULL };
    const char *id, *path;
    g_autofree char *at_dev = g_strdup_printf("%s.console_id", w);
    GString *v;

    if (!only_keys(L, o, w, keys) || !get_str(L, o, w, "console_id", true, &id) ||
        !get_str(L, o, w, "socket_path", true, &path)) {
        return false;
    }
    v = g_string_new("socket");
    append_kv(v, "id", id);
    append_kv(v, "path", path);
    g_string_append(v, ",server,nowait");
    add_item(L, OPT_CHARDEV, w, v);
    if (!L->serial_bus) {
        /* 0.x consoles had no device of their own to name: one bus for all. */
        add_itemf(L, OPT_DEVICE, "console", "virtio-serial-device,id=virtio-serial0");
        L->serial_bus = true;
    }
    v = g_string_new("virtconsole");
    append_kv(v, "chardev", id);
    append_kv(v, "id", id);
    add_item(L, OPT_DEVICE, at_dev, v);
    return true;
}

/*
 * Accepted and checked, but nothing to create: Stratus has no I/O threads
 * (block I/O completes on the main loop through aio/io_uring), and a
 * drive's iothread names one only for compatibility (docs/command-line.md).
 */
static bool iothread(Loader *L, JsonObject *o, const char *w)
{
    static const char *const keys[] = { "id", NULL };
    const char *id;

    return only_keys(L, o, w, keys) && get_str(L, o, w, "id", true, &id);
}

static bool vsock(Loader *L, JsonObject *o, const char *w)
{
    static const char *const keys[] = { "vsock_id", "guest_cid", NULL };
    const char *id;
    uint64_t cid;
    bool set;

    if (!only_keys(L, o, w, keys) || !get_str(L, o, w, "vsock_id", true, &id) ||
        !get_uint(L, o, w, "guest_cid", true, &cid, &set)) {
        return false;
    }
    add_itemf(L, OPT_DEVICE, w, "vhost-vsock-device,id=%s,guest-cid=%" PRIu64, id, cid);
    return true;
}

static bool serial(Loader *L, JsonObject *o, const char *w)
{
    static const char *const keys[] = { "stdio", NULL };
    bool stdio = false, set;

    if (!only_keys(L, o, w, keys) || !get_bool(L, o, w, "stdio", &stdio, &set)) {
        return false;
    }
    /* A serial port not on stdio still exists: QEMU's null back end. */
    add_itemf(L, OPT_SERIAL, w, "%s", stdio ? "stdio" : "null");
    return true;
}

static bool balloon(Loader *L, JsonObject *o, const char *w)
{
    static const char *const keys[] = { "deflate_on_oom", NULL };
    bool deflate = false, set;

    if (!only_keys(L, o, w, keys) || !get_bool(L, o, w, "deflate_on_oom", &deflate, &set)) {
        return false;
    }
    add_itemf(L, OPT_DEVICE, w, "virtio-balloon-device%s%s", set ? ",deflate-on-oom=" : "",
              set ? on_off(deflate) : "");
    return true;
}

/* ---- the file ----------------------------------------------------------- */

typedef struct Section {
    const char *key;
    bool array;                 /* a list of items, else one item */
    bool (*load)(Loader *L, JsonObject *o, const char *where);
} Section;

static const Section sections[] = {
    { "machine-config", false, machine_config },
    { "boot-source", false, boot_source },
    { "drive", true, drive },
    { "net", true, net },
    { "console", true, console },
    { "iothread", true, iothread },
    { "vsock", false, vsock },
    { "serial", false, serial },
    { "balloon", false, balloon },
};

static bool load_section(Loader *L, const Section *s, JsonNode *n)
{
    JsonArray *a;

    if (!s->array) {
        if (!JSON_NODE_HOLDS_OBJECT(n)) {
            return fail(L, "%s: expected an object", s->key);
        }
        return s->load(L, json_node_get_object(n), s->key);
    }
    if (!JSON_NODE_HOLDS_ARRAY(n)) {
        return fail(L, "%s: expected an array", s->key);
    }
    a = json_node_get_array(n);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        g_autofree char *where = g_strdup_printf("%s[%u]", s->key, i);
        JsonNode *e = json_array_get_element(a, i);

        if (!JSON_NODE_HOLDS_OBJECT(e)) {
            return fail(L, "%s: expected an object", where);
        }
        if (!s->load(L, json_node_get_object(e), where)) {
            return false;
        }
    }
    return true;
}

/*
 * The file's bytes, NUL-terminated. Not blocking on a FIFO and refusing
 * anything but a regular file keeps a wrong path from hanging start-up.
 */
static char *read_config(Loader *L, gsize *len)
{
    int fd = open(L->file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    ssize_t n;

    if (fd < 0) {
        fail(L, "Could not open: %s", g_strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        fail(L, "not a regular file");
    } else if (st.st_size > CONFIG_FILE_MAX) {
        fail(L, "larger than %d bytes", CONFIG_FILE_MAX);
    } else {
        buf = g_malloc((gsize)st.st_size + 1);
        n = pread(fd, buf, (size_t)st.st_size, 0);
        if (n != st.st_size) {
            fail(L, "Could not read: %s", n < 0 ? g_strerror(errno) : "short read");
            g_clear_pointer(&buf, g_free);
        } else {
            buf[n] = '\0';
            *len = (gsize)n;
        }
    }
    close(fd);
    return buf;
}

static bool load_root(Loader *L, JsonNode *root)
{
    JsonObject *o;
    g_autoptr(GList) members = NULL;

    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        return fail(L, "expected a JSON object");
    }
    o = json_node_get_object(root);
    members = json_object_get_members(o);
    for (GList *m = members; m; m = m->next) {
        const Section *s = NULL;

        for (size_t i = 0; i < G_N_ELEMENTS(sections) && !s; i++) {
            s = strcmp(sections[i].key, m->data) ? NULL : &sections[i];
        }
        if (!s) {
            return fail(L, "unknown key '%s'", (const char *)m->data);
        }
    }
    /* In the table's order, so the options come out as a command line would have them. */
    for (size_t i = 0; i < G_N_ELEMENTS(sections); i++) {
        JsonNode *n = member(o, sections[i].key);

        if (n && !load_section(L, &sections[i], n)) {
            return false;
        }
    }
    return true;
}

GPtrArray *config_file_load(const char *file, GError **err)
{
    Loader L = { .file = file, .err = err };
    g_autoptr(JsonParser) parser = NULL;
    g_autofree char *text = NULL;
    GError *local = NULL;
    gsize len = 0;

    text = read_config(&L, &len);
    if (!text) {
        return NULL;
    }
    parser = json_parser_new_immutable();
    if (!json_parser_load_from_data(parser, text, (gssize)len, &local)) {
        /* json-glib names the input "<data>"; the file is already named. */
        const char *msg = local->message;
        fail(&L, "%s", g_str_has_prefix(msg, "<data>:") ? msg + 7 : msg);
        g_error_free(local);
        return NULL;
    }
    L.items = g_ptr_array_new_with_free_func(config_item_free);
    if (!json_parser_get_root(parser) || !load_root(&L, json_parser_get_root(parser))) {
        if (!json_parser_get_root(parser)) {
            fail(&L, "expected a JSON object");
        }
        g_ptr_array_unref(L.items);
        return NULL;
    }
    return L.items;
}
