/*
 * The QOM views (src/qmp/qmp-commands-qom.c, src/hw/qom-types.c,
 * src/hw/device-help.c) over the fake registry of qom-test-registry.c and a
 * fake machine with two vCPUs, a board device and two user devices: every
 * reply checked byte for byte through the real dispatch core, so shapes,
 * member names and error classes are QEMU's.
 */
#include <string.h>

#include "machine.h"
#include "hw/device.h"
#include "hw/device-help.h"
#include "hw/device-internal.h"
#include "hw/qom-types.h"
#include "qmp/json-splitter.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-events.h"
#include "util/strutil.h"
#include "qom-test-registry.h"

typedef struct {
    StratusConfig cfg;
    Machine m;
    Vcpu vcpu[2];
    QmpCommandTable *t;
    QmpSession sess;
} Fx;

static Device *add_device(Fx *f, const char *type, const char *id, const char *path,
                          bool user, const char *const *props)
{
    const DeviceClass *dc = device_class_find(type);
    Device *d = g_malloc0(dc->instance_size);
    GError *err = NULL;

    d->klass = dc;
    d->machine = &f->m;
    d->id = g_strdup(id);
    d->qom_path = g_strdup(path);
    d->user_created = user;
    g_assert_true(device_props_set_defaults(d, &err));
    for (; props && *props; props += 2) {
        g_assert_true(device_prop_set_text(d, device_class_find_prop(dc, props[0]),
                                           props[1], &err));
    }
    g_assert_no_error(err);
    d->realized = true;
    g_ptr_array_add(f->m.devices, d);
    return d;
}

static void free_device(gpointer p)
{
    Device *d = p;

    device_props_free(d);
    g_free(d->id);
    g_free(d->qom_path);
    g_free(d);
}

static void fx_setup(Fx *f)
{
    static const char *const disk0_props[] = { "serial", "abc", "num-queues", "4", NULL };

    memset(f, 0, sizeof(*f));
    f->m.cfg = &f->cfg;
    f->m.vcpus = g_ptr_array_new();
    for (unsigned i = 0; i < G_N_ELEMENTS(f->vcpu); i++) {
        f->vcpu[i].index = i;
        g_ptr_array_add(f->m.vcpus, &f->vcpu[i]);
    }
    f->m.devices = g_ptr_array_new_with_free_func(free_device);
    /* The board's devices follow the CPUs in /machine/unattached (device.c). */
    add_device(f, "test-board", NULL, "/machine/unattached/device[2]", false, NULL);
    add_device(f, "test-blk-device", "disk0", "/machine/peripheral/disk0", true,
               disk0_props);
    add_device(f, "test-blk-device", NULL, "/machine/peripheral-anon/device[0]", true,
               NULL);
    f->t = qmp_command_table_new();
    qmp_register_qom_commands(f->t);
    qmp_session_init(&f->sess, QMP_MODE_LENIENT, NULL);
}

static void fx_teardown(Fx *f)
{
    qmp_command_table_free(f->t);
    g_ptr_array_unref(f->m.devices);
    g_ptr_array_unref(f->m.vcpus);
}

/* One request -> its response line (no "\r\n"). */
static char *req(Fx *f, const char *in)
{
    JsonSplitter *sp = json_splitter_new(0, 0);
    JsonNode *msg = NULL, *resp;
    GError *err = NULL;
    unsigned flags;
    char *line;

    json_splitter_feed(sp, in, strlen(in));
    g_assert_true(json_splitter_next(sp, &msg, &err) ||
                  json_splitter_finish(sp, &msg, &err));
    g_assert_no_error(err);
    resp = qmp_dispatch(f->t, &f->sess, &f->m, msg, NULL, &flags);
    line = qmp_format_response(resp);
    json_node_unref(resp);
    json_node_unref(msg);
    json_splitter_free(sp);
    return line;
}

static void expect(Fx *f, const char *in, const char *out)
{
    g_autofree char *r = req(f, in);

    g_assert_cmpstr(r, ==, out);
}

#define ERR(cls, d) "{\"error\":{\"class\":\"" cls "\",\"desc\":\"" d "\"}}"

static void test_list_types(void)
{
    Fx f;

    fx_setup(&f);
    /* Concrete types only, in registry order, each with its QOM parent. */
    expect(&f, "{\"execute\":\"qom-list-types\"}",
           "{\"return\":[{\"name\":\"test-blk-device\",\"parent\":\"virtio-device\"},"
           "{\"name\":\"test-board\",\"parent\":\"isa-device\"},"
           "{\"name\":\"microvm-machine\",\"parent\":\"machine\"},"
           "{\"name\":\"host-x86-cpu\",\"parent\":\"x86_64-cpu\"},"
           "{\"name\":\"container\",\"parent\":\"object\"}]}");
    /* abstract: true adds the bases something descends from (no sys-bus-device). */
    expect(&f, "{\"execute\":\"qom-list-types\",\"arguments\":{\"abstract\":true}}",
           "{\"return\":[{\"name\":\"test-blk-device\",\"parent\":\"virtio-device\"},"
           "{\"name\":\"test-board\",\"parent\":\"isa-device\"},"
           "{\"name\":\"microvm-machine\",\"parent\":\"machine\"},"
           "{\"name\":\"host-x86-cpu\",\"parent\":\"x86_64-cpu\"},"
           "{\"name\":\"container\",\"parent\":\"object\"},"
           "{\"abstract\":true,\"name\":\"object\"},"
           "{\"abstract\":true,\"name\":\"device\",\"parent\":\"object\"},"
           "{\"abstract\":true,\"name\":\"isa-device\",\"parent\":\"device\"},"
           "{\"abstract\":true,\"name\":\"virtio-device\",\"parent\":\"device\"},"
           "{\"abstract\":true,\"name\":\"cpu\",\"parent\":\"device\"},"
           "{\"abstract\":true,\"name\":\"x86_64-cpu\",\"parent\":\"cpu\"},"
           "{\"abstract\":true,\"name\":\"machine\",\"parent\":\"object\"}]}");
    /* libqtest's qtest_has_device() question */
    expect(&f, "{\"execute\":\"qom-list-types\",\"arguments\":"
               "{\"implements\":\"device\",\"abstract\":false}}",
           "{\"return\":[{\"name\":\"test-blk-device\",\"parent\":\"virtio-device\"},"
           "{\"name\":\"test-board\",\"parent\":\"isa-device\"},"
           "{\"name\":\"host-x86-cpu\",\"parent\":\"x86_64-cpu\"}]}");
    /* a type implements itself */
    expect(&f, "{\"execute\":\"qom-list-types\",\"arguments\":"
               "{\"implements\":\"virtio-device\",\"abstract\":true}}",
           "{\"return\":[{\"name\":\"test-blk-device\",\"parent\":\"virtio-device\"},"
           "{\"abstract\":true,\"name\":\"virtio-device\",\"parent\":\"device\"}]}");
    expect(&f, "{\"execute\":\"qom-list-types\",\"arguments\":{\"implements\":\"machine\"}}",
           "{\"return\":[{\"name\":\"microvm-machine\",\"parent\":\"machine\"}]}");
    /* unknown types and aliases (not QOM names) implement nothing */
    expect(&f, "{\"execute\":\"qom-list-types\",\"arguments\":{\"implements\":\"usb-hid\"}}",
           "{\"return\":[]}");
    expect(&f, "{\"execute\":\"qom-list-types\",\"arguments\":"
               "{\"implements\":\"test-blk-mmio\"}}",
           "{\"return\":[]}");
    fx_teardown(&f);
}

#define TEST_BLK_PROPS \
    "{\"return\":[{\"description\":\"Serial number\",\"name\":\"serial\",\"type\":\"str\"}," \
    "{\"default-value\":\"none\",\"name\":\"drive\",\"type\":\"str\"}," \
    "{\"default-value\":true,\"description\":\"Use ioeventfd\",\"name\":\"ioeventfd\"," \
    "\"type\":\"bool\"}," \
    "{\"default-value\":7,\"name\":\"prio\",\"type\":\"uint8\"}," \
    "{\"default-value\":1285,\"name\":\"port\",\"type\":\"uint16\"}," \
    "{\"default-value\":1,\"description\":\"Number of request queues\"," \
    "\"name\":\"num-queues\",\"type\":\"uint32\"}," \
    "{\"name\":\"features\",\"type\":\"uint64\"}," \
    "{\"default-value\":4096,\"description\":\"Logical block size\"," \
    "\"name\":\"logical-block-size\",\"type\":\"size\"}]}"

static void test_list_properties(void)
{
    Fx f;

    fx_setup(&f);
    expect(&f, "{\"execute\":\"device-list-properties\",\"arguments\":"
               "{\"typename\":\"test-blk-device\"}}", TEST_BLK_PROPS);
    expect(&f, "{\"execute\":\"device-list-properties\",\"arguments\":"
               "{\"typename\":\"test-blk-mmio\"}}", TEST_BLK_PROPS);
    expect(&f, "{\"execute\":\"qom-list-properties\",\"arguments\":"
               "{\"typename\":\"test-blk-device\"}}", TEST_BLK_PROPS);
    expect(&f, "{\"execute\":\"device-list-properties\",\"arguments\":"
               "{\"typename\":\"test-board\"}}", "{\"return\":[]}");
    expect(&f, "{\"execute\":\"device-list-properties\",\"arguments\":"
               "{\"typename\":\"nope\"}}",
           ERR("DeviceNotFound", "Device 'nope' not found"));
    expect(&f, "{\"execute\":\"device-list-properties\",\"arguments\":"
               "{\"typename\":\"virtio-device\"}}",
           ERR("GenericError", "Parameter 'typename' expects a non-abstract device type"));
    expect(&f, "{\"execute\":\"device-list-properties\",\"arguments\":"
               "{\"typename\":\"microvm-machine\"}}",
           ERR("GenericError", "Parameter 'typename' expects a non-abstract device type"));
    expect(&f, "{\"execute\":\"device-list-properties\"}",
           ERR("GenericError", "Parameter 'typename' is missing"));
    expect(&f, "{\"execute\":\"device-list-properties\",\"arguments\":"
               "{\"typename\":\"test-board\",\"x\":1}}",
           ERR("GenericError", "Parameter 'x' is unexpected"));
    /* qom-list-properties takes any type; bases and machines have no table here */
    expect(&f, "{\"execute\":\"qom-list-properties\",\"arguments\":"
               "{\"typename\":\"virtio-device\"}}", "{\"return\":[]}");
    expect(&f, "{\"execute\":\"qom-list-properties\",\"arguments\":"
               "{\"typename\":\"microvm-machine\"}}", "{\"return\":[]}");
    expect(&f, "{\"execute\":\"qom-list-properties\",\"arguments\":"
               "{\"typename\":\"nope\"}}",
           ERR("DeviceNotFound", "Class 'nope' not found"));
    fx_teardown(&f);
}

#define CHILD(n, t) "{\"name\":\"" n "\",\"type\":\"child<" t ">\"}"
#define TYPE_PROP "{\"name\":\"type\",\"type\":\"string\"}"
#define TEST_BLK_QOM_LIST \
    "{\"return\":[" TYPE_PROP ",{\"name\":\"serial\",\"type\":\"str\"}," \
    "{\"name\":\"drive\",\"type\":\"str\"},{\"name\":\"ioeventfd\",\"type\":\"bool\"}," \
    "{\"name\":\"prio\",\"type\":\"uint8\"},{\"name\":\"port\",\"type\":\"uint16\"}," \
    "{\"name\":\"num-queues\",\"type\":\"uint32\"}," \
    "{\"name\":\"features\",\"type\":\"uint64\"}," \
    "{\"name\":\"logical-block-size\",\"type\":\"size\"}]}"

static void test_qom_list(void)
{
    Fx f;

    fx_setup(&f);
    /* StratoVirt's argument-less form */
    expect(&f, "{\"execute\":\"qom-list\"}", "{\"return\":[]}");
    expect(&f, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/\"}}",
           "{\"return\":[" TYPE_PROP "," CHILD("machine", "microvm-machine") "]}");
    expect(&f, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/machine\"}}",
           "{\"return\":[" TYPE_PROP "," CHILD("peripheral", "container") ","
           CHILD("peripheral-anon", "container") "," CHILD("unattached", "container") "]}");
    expect(&f, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/machine/peripheral\"}}",
           "{\"return\":[" TYPE_PROP "," CHILD("disk0", "test-blk-device") "]}");
    expect(&f, "{\"execute\":\"qom-list\",\"arguments\":"
               "{\"path\":\"/machine/peripheral-anon\"}}",
           "{\"return\":[" TYPE_PROP "," CHILD("device[0]", "test-blk-device") "]}");
    /* the vCPUs first, then the board's devices */
    expect(&f, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/machine/unattached\"}}",
           "{\"return\":[" TYPE_PROP "," CHILD("device[0]", "host-x86-cpu") ","
           CHILD("device[1]", "host-x86-cpu") "," CHILD("device[2]", "test-board") "]}");
    expect(&f, "{\"execute\":\"qom-list\",\"arguments\":"
               "{\"path\":\"/machine/peripheral/disk0\"}}", TEST_BLK_QOM_LIST);
    /* partial paths: a unique suffix; empty components do not count */
    expect(&f, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"disk0\"}}",
           TEST_BLK_QOM_LIST);
    expect(&f, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"peripheral-anon/device[0]\"}}",
           TEST_BLK_QOM_LIST);
    expect(&f, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"//machine//peripheral/\"}}",
           "{\"return\":[" TYPE_PROP "," CHILD("disk0", "test-blk-device") "]}");
    expect(&f, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/machine/unattached/device[1]\"}}",
           "{\"return\":[" TYPE_PROP "]}");
    /* device[0] is both a CPU and the anonymous disk */
    expect(&f, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"device[0]\"}}",
           ERR("GenericError", "Path 'device[0]' is ambiguous"));
    expect(&f, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/machine/peripheral/nope\"}}",
           ERR("DeviceNotFound", "Device '/machine/peripheral/nope' not found"));
    /* an absolute path must be whole */
    expect(&f, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/disk0\"}}",
           ERR("DeviceNotFound", "Device '/disk0' not found"));
    fx_teardown(&f);
}

#define QOM_GET(path, prop) \
    "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"" path "\",\"property\":\"" prop "\"}}"

static void test_qom_get(void)
{
    Fx f;

    fx_setup(&f);
    expect(&f, "{\"execute\":\"qom-get\"}", "{\"return\":[]}");
    expect(&f, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine\"}}",
           ERR("GenericError", "Parameter 'property' is missing"));
    expect(&f, QOM_GET("/", "type"), "{\"return\":\"container\"}");
    expect(&f, QOM_GET("/machine", "type"), "{\"return\":\"microvm-machine\"}");
    expect(&f, QOM_GET("machine", "type"), "{\"return\":\"microvm-machine\"}");
    expect(&f, QOM_GET("/machine/peripheral", "type"), "{\"return\":\"container\"}");
    expect(&f, QOM_GET("/machine/unattached/device[1]", "type"),
           "{\"return\":\"host-x86-cpu\"}");
    expect(&f, QOM_GET("unattached/device[2]", "type"), "{\"return\":\"test-board\"}");
    /* a child<> property reads as the child's path */
    expect(&f, QOM_GET("/machine", "peripheral"), "{\"return\":\"/machine/peripheral\"}");
    expect(&f, QOM_GET("/machine/peripheral", "disk0"),
           "{\"return\":\"/machine/peripheral/disk0\"}");
    /* values given on the command line, and the defaults otherwise */
    expect(&f, QOM_GET("/machine/peripheral/disk0", "type"),
           "{\"return\":\"test-blk-device\"}");
    expect(&f, QOM_GET("disk0", "serial"), "{\"return\":\"abc\"}");
    expect(&f, QOM_GET("disk0", "num-queues"), "{\"return\":4}");
    expect(&f, QOM_GET("disk0", "drive"), "{\"return\":\"none\"}");
    expect(&f, QOM_GET("disk0", "ioeventfd"), "{\"return\":true}");
    expect(&f, QOM_GET("disk0", "prio"), "{\"return\":7}");
    expect(&f, QOM_GET("disk0", "port"), "{\"return\":1285}");
    expect(&f, QOM_GET("disk0", "features"), "{\"return\":0}");
    expect(&f, QOM_GET("disk0", "logical-block-size"), "{\"return\":4096}");
    /* an unset string reads as "", as QEMU's visitor writes it */
    expect(&f, QOM_GET("/machine/peripheral-anon/device[0]", "serial"), "{\"return\":\"\"}");
    /* errors */
    expect(&f, QOM_GET("disk0", "nope"),
           ERR("GenericError", "Property 'test-blk-device.nope' not found"));
    expect(&f, QOM_GET("/machine", "nope"),
           ERR("GenericError", "Property 'microvm-machine.nope' not found"));
    expect(&f, QOM_GET("/nonexist", "type"),
           ERR("DeviceNotFound", "Device '/nonexist' not found"));
    /* qom-get does not say "ambiguous" (QEMU passes no flag): just not found */
    expect(&f, QOM_GET("device[0]", "type"),
           ERR("DeviceNotFound", "Device 'device[0]' not found"));
    fx_teardown(&f);
}

static void test_hmp(void)
{
    Fx f;
    g_autofree char *qtree = NULL, *qdm = NULL;

    fx_setup(&f);
    qtree = qmp_hmp_qom_command(&f.m, "info qtree");
    g_assert_cmpstr(qtree, ==,
        "bus: main-system-bus\r\n"
        "  type System\r\n"
        "  dev: test-board, id \"\"\r\n"
        "  dev: test-blk-device, id \"disk0\"\r\n"
        "    serial = \"abc\"\r\n"
        "    drive = \"none\"\r\n"
        "    ioeventfd = true\r\n"
        "    prio = 7 (0x7)\r\n"
        "    port = 1285 (0x505)\r\n"
        "    num-queues = 4 (0x4)\r\n"
        "    features = 0 (0x0)\r\n"
        "    logical-block-size = 4096 (4 KiB)\r\n"
        "  dev: test-blk-device, id \"\"\r\n"
        "    serial = <null>\r\n"
        "    drive = \"none\"\r\n"
        "    ioeventfd = true\r\n"
        "    prio = 7 (0x7)\r\n"
        "    port = 1285 (0x505)\r\n"
        "    num-queues = 1 (0x1)\r\n"
        "    features = 0 (0x0)\r\n"
        "    logical-block-size = 4096 (4 KiB)\r\n");
    qdm = qmp_hmp_qom_command(&f.m, "info qdm");
    g_assert_cmpstr(qdm, ==,
        "name \"test-blk-device\", bus virtio-bus, alias \"test-blk-mmio\", "
        "desc \"Test block device\"\r\n"
        "name \"test-board\", bus ISA, no-user\r\n");
    g_assert_null(qmp_hmp_qom_command(&f.m, "info status"));
    fx_teardown(&f);
}

static void test_device_help(void)
{
    g_autofree char *types = device_help_types_text(false);
    g_autofree char *props = NULL, *none = NULL, *text = NULL;
    GError *err = NULL;

    /* -device help: only what -device can create */
    g_assert_cmpstr(types, ==, "name \"test-blk-device\", bus virtio-bus, "
                    "alias \"test-blk-mmio\", desc \"Test block device\"\n");
    /* QEMU's object_property_help(): sorted, descriptions from column 24 */
    props = device_help_props_text("test-blk-mmio", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(props, ==,
        "test-blk-device options:\n"
        "  drive=<str>            -  (default: \"none\")\n"
        "  features=<uint64>\n"
        "  ioeventfd=<bool>       - Use ioeventfd (default: true)\n"
        "  logical-block-size=<size> - Logical block size (default: 4096)\n"
        "  num-queues=<uint32>    - Number of request queues (default: 1)\n"
        "  port=<uint16>          -  (default: 1285)\n"
        "  prio=<uint8>           -  (default: 7)\n"
        "  serial=<str>           - Serial number\n");
    none = device_help_props_text("test-board", &err);
    g_assert_cmpstr(none, ==, "There are no options for test-board.\n");
    g_assert_null(device_help_props_text("nope", &err));
    g_assert_error(err, STRATUS_ERROR, STRATUS_ERROR_DEVICE_NOT_FOUND);
    g_assert_cmpstr(err->message, ==, "Device 'nope' not found");
    g_clear_error(&err);
    g_assert_null(device_help_props_text("device", &err));
    g_assert_cmpstr(err->message, ==,
                    "Parameter 'typename' expects a non-abstract device type");
    g_clear_error(&err);

    /* which -device arguments are help requests */
    g_assert_true(device_help_for_option("help", &text, &err));
    g_assert_cmpstr(text, ==, types);
    g_clear_pointer(&text, g_free);
    g_assert_true(device_help_for_option("?", &text, &err));
    g_clear_pointer(&text, g_free);
    g_assert_true(device_help_for_option("test-blk-device,id=x,help", &text, &err));
    g_assert_cmpstr(text, ==, props);
    g_clear_pointer(&text, g_free);
    g_assert_true(device_help_for_option("nope,help", &text, &err));
    g_assert_null(text);
    g_assert_cmpstr(err->message, ==, "Device 'nope' not found");
    g_clear_error(&err);
    g_assert_false(device_help_for_option("test-blk-device,id=help", &text, &err));
    g_assert_false(device_help_for_option("test-blk-device", &text, &err));
    g_assert_false(device_help_for_option("", &text, &err));
    g_assert_no_error(err);
}

static void test_types(void)
{
    g_autoptr(GArray) all = qom_types_all();
    QomType t;

    g_assert_cmpstr(qom_type_parent("test-board"), ==, "isa-device");
    g_assert_cmpstr(qom_type_parent("microvm-machine"), ==, "machine");
    g_assert_null(qom_type_parent("object"));
    g_assert_null(qom_type_parent("nope"));
    g_assert_true(qom_type_implements("test-blk-device", "device"));
    g_assert_true(qom_type_implements("object", "object"));
    g_assert_false(qom_type_implements("test-blk-device", "isa-device"));
    g_assert_false(qom_type_implements("nope", "nope"));
    g_assert_false(qom_type_find("test-blk-mmio", &t));   /* aliases are not QOM names */
    g_assert_true(qom_type_find("test-blk-device", &t));
    g_assert_true(t.dc == device_class_find("test-blk-device") && !t.abstract);
    /* every chain ends at "object" through listed types */
    for (guint i = 0; i < all->len; i++) {
        const char *name = g_array_index(all, QomType, i).name;
        g_assert_true(qom_type_implements(name, "object"));
        for (const char *p = qom_type_parent(name); p; p = qom_type_parent(p)) {
            gboolean listed = FALSE;
            for (guint j = 0; j < all->len; j++) {
                listed |= !strcmp(g_array_index(all, QomType, j).name, p);
            }
            g_assert_true(listed);
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qom/list-types", test_list_types);
    g_test_add_func("/qom/list-properties", test_list_properties);
    g_test_add_func("/qom/qom-list", test_qom_list);
    g_test_add_func("/qom/qom-get", test_qom_get);
    g_test_add_func("/qom/hmp", test_hmp);
    g_test_add_func("/qom/device-help", test_device_help);
    g_test_add_func("/qom/types", test_types);
    return g_test_run();
}
