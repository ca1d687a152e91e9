/*
 * The device model (hw/device.h) on a real microvm built by machine_new()
 * under the qtest accelerator: the registry, property parsing and its error
 * texts from text and JSON, ids and QOM paths, and the microvm machine
 * class's replaceable virtio-blk slots (device_add / device_del semantics).
 */
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "machine.h"
#include "block/block.h"
#include "hw/device.h"
#include "hw/device-internal.h"
#include "hw/pci/pci-host.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-blk.h"
#include "hw/x86/microvm.h"
#include "hw/virtio/virtio-net.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"

#define IMG_SIZE (1024 * 1024)

static char *tmpdir;

static char *make_image(const char *name)
{
    char *path = g_build_filename(tmpdir, name, NULL);
    FILE *f = fopen(path, "w");

    g_assert_nonnull(f);
    g_assert_cmpint(ftruncate(fileno(f), IMG_SIZE), ==, 0);
    fclose(f);
    return path;
}

/* machine_new() from a command line (no kernel). */
static Machine *vm_new_on(const char *accel, const char *const *extra, GError **err)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    StratusConfig *cfg;
    Machine *m;

    g_ptr_array_add(argv, (char *)"stratus");
    g_ptr_array_add(argv, (char *)"-accel");
    g_ptr_array_add(argv, (char *)accel);
    for (; extra && *extra; extra++) {
        g_ptr_array_add(argv, (char *)*extra);
    }
    g_ptr_array_add(argv, NULL);
    cfg = config_parse(argv->len - 1, (char **)argv->pdata, err);
    if (!cfg) {
        return NULL;
    }
    m = machine_new(cfg, err);
    if (!m) {
        config_free(cfg);
    }
    return m;
}

/* ... under the qtest accelerator. */
static Machine *vm_new(const char *const *extra, GError **err)
{
    return vm_new_on("qtest", extra, err);
}

static void vm_fails(const char *const *extra, const char *msg)
{
    g_autoptr(GError) err = NULL;
    Machine *m = vm_new(extra, &err);

    if (m) {
        g_test_message("expected '%s' but the machine was built", msg);
        machine_free(m);
    }
    g_assert_null(m);
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, msg);
}

static uint64_t slot_capacity(Machine *m, unsigned slot)
{
    return virtio_config_read(microvm_blk_slot_device(m, slot), VIRTIO_BLK_CFG_CAPACITY, 8);
}

static void test_registry(void)
{
    const DeviceClass *const *all = device_class_all();
    unsigned n = 0;

    for (; all[n]; n++) {
        const DeviceClass *dc = all[n];
        g_assert_true(device_class_find(dc->name) == dc);
        for (const char *const *a = dc->aliases; a && *a; a++) {
            g_assert_true(device_class_find(*a) == dc);
        }
        g_assert_cmpuint(dc->instance_size, >=, sizeof(Device));
        g_assert_nonnull(dc->parent);
        /* Property names are unique. */
        for (const Property *p = dc->props; p && p->name; p++) {
            g_assert_true(device_class_find_prop(dc, p->name) == p);
        }
        /*
         * Every default parses and is within its range: a bad one would
         * fail every creation of the type, and device-list-properties
         * would show 0 for it.
         */
        g_autoptr(GError) err = NULL;
        Device *scratch = g_malloc0(dc->instance_size);
        scratch->klass = dc;
        g_assert_true(device_props_set_defaults(scratch, &err));
        g_assert_no_error(err);
        device_props_free(scratch);
        g_free(scratch);
    }
    g_assert_cmpuint(n, >=, 3);
    g_assert_true(device_class_find("virtio-blk-mmio") == &virtio_blk_device_class);
    g_assert_null(device_class_find("virtio-gpu"));
    g_assert_true(machine_class_find("microvm") == &microvm_machine_class);
    g_assert_null(machine_class_find("pc"));
}

static void test_props_json(void)
{
    const DeviceClass *dc = &virtio_blk_device_class;
    g_autoptr(JsonNode) props = device_class_properties_json(dc);
    JsonArray *a = json_node_get_array(props);
    unsigned n = 0;

    for (const Property *p = dc->props; p->name; p++, n++) {
        JsonObject *o = json_array_get_object_element(a, n);
        g_assert_cmpstr(json_object_get_string_member(o, "name"), ==, p->name);
        g_assert_cmpstr(json_object_get_string_member(o, "type"), ==, prop_type_name(p->type));
        g_assert_cmpint(json_object_has_member(o, "default-value"), ==,
                        p->defval != NULL && !p->hide_default);
    }
    g_assert_cmpuint(json_array_get_length(a), ==, n);
}

static void test_cli_errors(void)
{
    g_autofree char *img = make_image("cli.img");
    g_autofree char *drive = g_strdup_printf("id=d0,file=%s,direct=off", img);

    vm_fails((const char *const[]){ "-device", "foo", NULL },
             "'foo' is not a valid device model name");
    vm_fails((const char *const[]){ "-drive", drive, "-device",
                                    "virtio-blk-device,drive=d0,foo=1", NULL },
             "Property 'virtio-blk-device.foo' not found");
    vm_fails((const char *const[]){ "-drive", drive, "-device",
                                    "virtio-blk-device,drive=d0,num-queues=x", NULL },
             "Parameter 'num-queues' expects integer");
    vm_fails((const char *const[]){ "-drive", drive, "-device",
                                    "virtio-blk-device,drive=d0,num-queues=70000", NULL },
             "Parameter 'num-queues' expects uint16_t");
    vm_fails((const char *const[]){ "-drive", drive, "-device",
                                    "virtio-blk-device,drive=d0,num-queues=2", NULL },
             "Property virtio-blk-device.num-queues doesn't take value 2 "
             "(minimum: 1, maximum: 1)");
    vm_fails((const char *const[]){ "-device", "virtio-blk-device,drive=nope", NULL },
             "Drive 'nope' for virtio-blk-device not found");
    vm_fails((const char *const[]){ "-device", "microvm-pm", NULL },
             "Parameter 'driver' expects a pluggable device type");
    vm_fails((const char *const[]){ "-drive", drive, "-device",
                                    "virtio-blk-device,drive=d0,id=a", "-device",
                                    "virtio-blk-device,drive=d0,id=a", NULL },
             "-device: Device id 'a' has been added");
    unlink(img);
}

static Device *add(Machine *m, const char *id, const char *addr, const char *drive,
                   GError **err)
{
    g_autoptr(JsonNode) jdrive = drive ? json_node_init_string(json_node_alloc(), drive)
                                       : NULL;
    DevicePropValue p = { .name = "drive", .json = jdrive };
    DeviceCreateArgs a = {
        .driver = "virtio-blk-mmio", .id = id, .addr = addr,
        .props = &p, .n_props = drive ? 1 : 0, .user = true, .hotplug = true,
    };

    return device_create(m, &a, err);
}

static unsigned count_user_devices(Machine *m)
{
    unsigned n = 0;

    for (guint i = 0; i < machine_devices(m)->len; i++) {
        n += ((Device *)g_ptr_array_index(machine_devices(m), i))->user_created;
    }
    return n;
}

static void expect_add_error(Machine *m, const char *id, const char *addr,
                             const char *drive, const char *msg)
{
    g_autoptr(GError) err = NULL;

    g_assert_null(add(m, id, addr, drive, &err));
    g_assert_cmpstr(err->message, ==, msg);
}

/* -device fills slot 0; device_add / device_del hot-replace the others. */
static void test_microvm_slots(void)
{
    g_autofree char *p1 = make_image("root.img");
    g_autofree char *p2 = make_image("data.img");
    g_autofree char *drive1 = g_strdup_printf("id=rootfs,file=%s,direct=off", p1);
    g_autofree char *drive2 = g_strdup_printf("id=drive-1,file=%s,direct=off", p2);
    g_autoptr(GError) err = NULL;
    Machine *m = vm_new((const char *const[]){ "-drive", drive1, "-drive", drive2, "-device",
                                               "virtio-blk-device,drive=rootfs,id=vda,"
                                               "serial=ROOT", NULL }, &err);
    bool pending = true;

    g_assert_no_error(err);
    machine_lock(m);
    g_assert_cmpuint(slot_capacity(m, 0), ==, IMG_SIZE / 512);
    g_assert_cmpuint(slot_capacity(m, 1), ==, 0);
    Device *vda = machine_find_device(m, "vda");
    g_assert_nonnull(vda);
    g_assert_cmpstr(vda->qom_path, ==, "/machine/peripheral/vda");
    g_assert_true(machine_find_device_path(m, "/machine/peripheral/vda") == vda);
    g_autofree char *serial = device_prop_get_text(vda, device_class_find_prop(vda->klass,
                                                                              "serial"));
    g_assert_cmpstr(serial, ==, "ROOT");

    expect_add_error(m, "drive-1", "0x0", NULL, "The slot 0 is occupied already.");
    expect_add_error(m, "drive-1", "0x6", NULL,
                     "A maximum of 6 block replaceable devices are supported.");
    expect_add_error(m, "drive-1", "zz", NULL, "Invalid addr for device drive-1");
    expect_add_error(m, "nope", "0x1", NULL, "Failed to find device configuration.");
    expect_add_error(m, "vda", "0x1", "drive-1", "vda is already registered.");
    expect_add_error(m, "x", "0x1", "rootfs", "Drive 'rootfs' is already in use by 'vda'");
    /* Failed creates left nothing behind: vda is the only user device. */
    g_assert_cmpuint(count_user_devices(m), ==, 1);

    Device *d = add(m, "drive-1", "0x1", NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(d->qom_path, ==, "/machine/peripheral/drive-1");
    g_assert_cmpuint(slot_capacity(m, 1), ==, IMG_SIZE / 512);
    g_assert_cmpstr(block_owner(block_registry_find(m->block_nodes, "drive-1")), ==, "drive-1");

    /* device_del: slot empty, node released with the device (StratoVirt). */
    g_assert_true(m->machine_class->unplug_request(m, d, &pending, &err));
    g_assert_false(pending);
    g_assert_cmpuint(slot_capacity(m, 1), ==, 0);
    g_assert_null(machine_find_device(m, "drive-1"));
    g_assert_null(block_registry_find(m->block_nodes, "drive-1"));
    g_assert_true(g_hash_table_contains(m->released_nodes, "drive-1"));

    machine_system_reset(m);
    g_assert_cmpuint(slot_capacity(m, 0), ==, IMG_SIZE / 512);
    machine_unlock(m);
    machine_free(m);
    unlink(p1);
    unlink(p2);
}

static void test_json_types(void)
{
    g_autofree char *img = make_image("json.img");
    g_autofree char *drive = g_strdup_printf("id=d0,file=%s,direct=off", img);
    g_autoptr(GError) err = NULL;
    Machine *m = vm_new((const char *const[]){ "-drive", drive, NULL }, &err);
    static const struct { const char *json, *prop, *msg; } cases[] = {
        { "5", "serial", "Invalid parameter type for 'serial', expected: string" },
        { "\"4\"", "num-queues", "Invalid parameter type for 'num-queues', expected: integer" },
        { "-1", "num-queues", "Parameter 'num-queues' expects uint16_t" },
        { "1", "nope", "Property 'virtio-blk-device.nope' not found" },
    };

    g_assert_no_error(err);
    machine_lock(m);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonNode) v = json_from_string(cases[i].json, NULL);
        g_autoptr(JsonNode) jd = json_node_init_string(json_node_alloc(), "d0");
        DevicePropValue p[] = { { .name = "drive", .json = jd },
                                { .name = cases[i].prop, .json = v } };
        DeviceCreateArgs a = { .driver = "virtio-blk-device", .id = "x", .props = p,
                               .n_props = 2, .user = true, .hotplug = true };
        g_assert_null(device_create(m, &a, &err));
        g_assert_cmpstr(err->message, ==, cases[i].msg);
        g_clear_error(&err);
    }
    /* A failed create leaves nothing behind: the node is still free. */
    g_assert_null(block_owner(block_registry_find(m->block_nodes, "d0")));
    machine_unlock(m);
    machine_free(m);
    unlink(img);
}

/* One QMP request against the machine's block and QOM commands -> the reply line. */
static char *qmp(Machine *m, const char *request)
{
    QmpCommandTable *t = qmp_command_table_new();
    g_autoptr(JsonNode) msg = json_from_string(request, NULL);
    g_autoptr(JsonNode) resp = NULL;
    QmpSession sess;
    unsigned flags;

    g_assert_nonnull(msg);
    qmp_register_block_commands(t);
    qmp_register_qom_commands(t);
    qmp_session_init(&sess, QMP_MODE_LENIENT, NULL);
    resp = qmp_dispatch(t, &sess, m, msg, NULL, &flags);
    qmp_command_table_free(t);
    return qmp_format_response(resp);
}

#define QMP_OK "{\"return\":{}}"
#define QMP_ERR(d) "{\"error\":{\"class\":\"GenericError\",\"desc\":\"" d "\"}}"

static void expect_qmp(Machine *m, const char *request, const char *reply)
{
    g_autofree char *r = qmp(m, request);

    g_assert_cmpstr(r, ==, reply);
}

/*
 * Device ids become QOM path components (/machine/peripheral/ID), so they
 * must be QEMU identifiers: a letter, then letters, digits, '-', '.', '_'.
 * A '/' hid the device from every listing, "type" shadowed the container's
 * own property. Refused from -device and device_add alike, before any node
 * lookup, leaving nothing behind.
 */
static void test_ids(void)
{
    static const char *const bad[] = {
        "../x", "a/b", "/machine/peripheral/x", "device[0]", "a,b", "1disk", "-x", "_x",
        "a b", "\u00e9", ".",
    };
    g_autofree char *img = make_image("ids.img");
    g_autofree char *other = make_image("ids-other.img");
    g_autofree char *drive = g_strdup_printf("id=d0,file=%s,direct=off", img);
    g_autoptr(GError) err = NULL;
    Machine *m;

    vm_fails((const char *const[]){ "-device", "pvpanic,id=../x", NULL },
             "Parameter 'id' expects an identifier");
    vm_fails((const char *const[]){ "-device", "pvpanic,id=device[0]", NULL },
             "Parameter 'id' expects an identifier");
    vm_fails((const char *const[]){ "-device", "pvpanic,id=type", NULL },
             "attempt to add duplicate property 'type' to object (type 'container')");
    m = vm_new((const char *const[]){ "-drive", drive, "-device",
                                      "pvpanic,id=Pv-0.a_b", NULL }, &err);
    g_assert_no_error(err);
    machine_lock(m);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *node = g_strdup_printf(
            "{\"execute\":\"blockdev-add\",\"arguments\":{\"node-name\":\"%s\","
            "\"file\":{\"driver\":\"file\",\"filename\":\"%s\"}}}", bad[i], other);
        g_autofree char *add = g_strdup_printf(
            "{\"execute\":\"device_add\",\"arguments\":{\"id\":\"%s\","
            "\"driver\":\"virtio-blk-mmio\"}}", bad[i]);
        g_autofree char *del = g_strdup_printf(
            "{\"execute\":\"blockdev-del\",\"arguments\":{\"node-name\":\"%s\"}}", bad[i]);

        g_test_message("id '%s'", bad[i]);
        /* Node names stay free-form (StratoVirt); only device ids are checked. */
        expect_qmp(m, node, QMP_OK);
        expect_qmp(m, add, QMP_ERR("Parameter 'id' expects an identifier"));
        expect_qmp(m, del, QMP_OK);
    }
    expect_qmp(m, "{\"execute\":\"device_add\",\"arguments\":{\"id\":\"type\","
                  "\"driver\":\"virtio-blk-mmio\",\"drive\":\"d0\"}}",
               QMP_ERR("attempt to add duplicate property 'type' to object "
                       "(type 'container')"));
    /* Nothing was left: Pv-0.a_b is the only user device, the node free. */
    g_assert_cmpuint(count_user_devices(m), ==, 1);
    g_assert_null(block_owner(block_registry_find(m->block_nodes, "d0")));
    expect_qmp(m, "{\"execute\":\"device_add\",\"arguments\":{\"id\":\"vd-a.1_x\","
                  "\"driver\":\"virtio-blk-mmio\",\"drive\":\"d0\"}}", QMP_OK);
    g_assert_cmpstr(machine_find_device(m, "vd-a.1_x")->qom_path, ==,
                    "/machine/peripheral/vd-a.1_x");
    machine_unlock(m);
    machine_free(m);
    unlink(img);
    unlink(other);
}

/*
 * bus= and addr= are the machine's to interpret; microvm knows "isa.0" for
 * ISA devices, "virtio-mmio-bus[.N]" (one per transport) and a hex slot
 * number for virtio-blk. Anything else is refused rather than ignored, and a
 * refused device claims nothing: the same ioport works right after.
 */
static void test_placement(void)
{
    g_autofree char *img = make_image("place.img");
    g_autofree char *drive = g_strdup_printf("id=d0,file=%s,direct=off", img);
    g_autoptr(GError) err = NULL;
    static const struct { const char *dev, *msg; } cases[] = {
        { "pvpanic,ioport=0x520,addr=0x5", "Property 'pvpanic.addr' not found" },
        { "pvpanic,ioport=0x520,addr=", "Property 'pvpanic.addr' not found" },
        { "pvpanic,ioport=0x520,bus=isa.0x", "Bus 'isa.0x' not found" },
        { "pvpanic,ioport=0x520,bus=isa.1", "Bus 'isa.1' not found" },
        { "pvpanic,ioport=0x520,bus=virtio-mmio-bus", "Bus 'virtio-mmio-bus' not found" },
        { "virtio-blk-device,drive=d0,bus=virtio-mmio-busfoo",
          "Bus 'virtio-mmio-busfoo' not found" },
        { "virtio-blk-device,drive=d0,bus=virtio-mmio-bus.", "Bus 'virtio-mmio-bus.' not found" },
        { "virtio-blk-device,drive=d0,bus=virtio-mmio-bus.8", "Bus 'virtio-mmio-bus.8' not found" },
        { "virtio-blk-device,drive=d0,bus=virtio-mmio-bus.-1",
          "Bus 'virtio-mmio-bus.-1' not found" },
        { "virtio-blk-device,drive=d0,bus=virtio-mmio-bus.01",
          "Bus 'virtio-mmio-bus.01' not found" },
        { "virtio-blk-device,drive=d0,bus=isa.0", "Bus 'isa.0' not found" },
        { "virtio-blk-device,drive=d0,addr=-1", "Invalid addr for device d0" },
        { "virtio-blk-device,drive=d0,addr=+1", "Invalid addr for device d0" },
        { "virtio-blk-device,drive=d0,addr= 1", "Invalid addr for device d0" },
        { "virtio-blk-device,drive=d0,addr=0x-1", "Invalid addr for device d0" },
        { "virtio-blk-device,drive=d0,addr=", "Invalid addr for device d0" },
        { "virtio-blk-device,drive=d0,id=v,addr=0x", "Invalid addr for device v" },
    };
    Machine *m;

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_test_message("-device %s", cases[i].dev);
        vm_fails((const char *const[]){ "-drive", drive, "-device", cases[i].dev, NULL },
                 cases[i].msg);
    }
    m = vm_new((const char *const[]){ "-drive", drive, "-device", "pvpanic,bus=isa.0",
                                      "-device", "virtio-blk-device,drive=d0,id=v,"
                                      "bus=virtio-mmio-bus.7,addr=0x5", NULL }, &err);
    g_assert_no_error(err);
    machine_lock(m);
    g_assert_cmpuint(slot_capacity(m, 5), ==, IMG_SIZE / 512);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *dev = cases[i].dev;
        if (g_str_has_prefix(dev, "pvpanic,")) {
            OptList *l = optlist_parse(dev, "driver", NULL);
            g_assert_null(device_create_from_opts(m, l, &err));
            g_assert_cmpstr(err->message, ==, cases[i].msg);
            g_clear_error(&err);
            optlist_free(l);
        }
    }
    /* None of the refused pvpanics holds 0x520. */
    OptList *ok = optlist_parse("pvpanic,ioport=0x520,bus=isa.0", "driver", NULL);
    g_assert_nonnull(device_create_from_opts(m, ok, &err));
    g_assert_no_error(err);
    optlist_free(ok);
    machine_unlock(m);
    machine_free(m);
    unlink(img);
}

/*
 * Property text: booleans are QEMU's six words (not -drive's discard values
 * "unmap"/"ignore"), integers decimal or 0x hex at their exact limits.
 */
static void test_text_values(void)
{
    static const struct { const char *driver, *prop, *text, *msg; } cases[] = {
        { "microvm-pm", "boot-time-port", "unmap",
          "Parameter 'boot-time-port' expects 'on' or 'off'" },
        { "microvm-pm", "boot-time-port", "ignore",
          "Parameter 'boot-time-port' expects 'on' or 'off'" },
        { "microvm-pm", "boot-time-port", "", "Parameter 'boot-time-port' expects 'on' or 'off'" },
        { "pvpanic", "ioport", "65536", "Parameter 'ioport' expects uint16_t" },
        { "pvpanic", "ioport", "0x10000", "Parameter 'ioport' expects uint16_t" },
        { "pvpanic", "ioport", "-1", "Parameter 'ioport' expects integer" },
        { "pvpanic", "ioport", "", "Parameter 'ioport' expects integer" },
        { "pvpanic", "events", "4",
          "Property pvpanic.events doesn't take value 4 (minimum: 0, maximum: 3)" },
        { "pvpanic", "events", "256", "Parameter 'events' expects uint8_t" },
        { "isa-serial", "iobase", "0xfff9",
          "Property isa-serial.iobase doesn't take value 65529 (minimum: 0, maximum: 65528)" },
        { "isa-serial", "irq", "4294967296", "Parameter 'irq' expects uint32_t" },
    };
    g_autoptr(GError) err = NULL;
    Machine *m = vm_new(NULL, &err);

    g_assert_no_error(err);
    machine_lock(m);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        DevicePropValue v = { .name = cases[i].prop, .text = cases[i].text };
        DeviceCreateArgs a = { .driver = cases[i].driver, .props = &v, .n_props = 1 };
        g_test_message("%s,%s=%s", cases[i].driver, cases[i].prop, cases[i].text);
        g_assert_null(device_create(m, &a, &err));
        g_assert_cmpstr(err->message, ==, cases[i].msg);
        g_clear_error(&err);
    }
    /* The exact limits are accepted (the board's devices left these ports free). */
    static const char *const ok[][3] = {
        { "pvpanic", "ioport", "65535" }, { "pvpanic", "events", "3" },
        { "pvpanic", "ioport", "0xfffe" }, { "pvpanic", "events", "0" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(ok); i += 2) {
        DevicePropValue v[] = { { .name = ok[i][1], .text = ok[i][2] },
                                { .name = ok[i + 1][1], .text = ok[i + 1][2] } };
        DeviceCreateArgs a = { .driver = "pvpanic", .props = v, .n_props = 2, .user = true };
        g_assert_nonnull(device_create(m, &a, &err));
        g_assert_no_error(err);
    }
    machine_unlock(m);
    machine_free(m);
}

/* device_add's lun is StratoVirt's slot - 1: the largest one is just a slot too far. */
static void test_qmp_lun(void)
{
    g_autofree char *img = make_image("lun.img");
    g_autofree char *drive = g_strdup_printf("id=d0,file=%s,direct=off", img);
    g_autoptr(GError) err = NULL;
    Machine *m = vm_new((const char *const[]){ "-drive", drive, NULL }, &err);

    g_assert_no_error(err);
    machine_lock(m);
    expect_qmp(m, "{\"execute\":\"device_add\",\"arguments\":{\"id\":\"d0\","
                  "\"driver\":\"virtio-blk-mmio\",\"lun\":9223372036854775807}}",
               QMP_ERR("A maximum of 6 block replaceable devices are supported."));
    expect_qmp(m, "{\"execute\":\"device_add\",\"arguments\":{\"id\":\"d0\","
                  "\"driver\":\"virtio-blk-mmio\",\"lun\":9223372036854775806}}",
               QMP_ERR("A maximum of 6 block replaceable devices are supported."));
    expect_qmp(m, "{\"execute\":\"device_add\",\"arguments\":{\"id\":\"d0\","
                  "\"driver\":\"virtio-blk-mmio\",\"lun\":4}}", QMP_OK);
    g_assert_cmpuint(slot_capacity(m, 5), ==, IMG_SIZE / 512);
    machine_unlock(m);
    machine_free(m);
    unlink(img);
}

/*
 * Machine teardown unplugs every device, and emptying a slot whose driver is
 * up raises its config-change interrupt: the interrupt controller it reaches
 * must still have its vCPUs (on emu, ASan saw the IOAPIC wake a freed one).
 */
static void test_teardown_with_driver(void)
{
    g_autofree char *img = make_image("teardown.img");
    g_autofree char *drive = g_strdup_printf("id=d0,file=%s,direct=off", img);
    g_autofree char *qmp_opt = g_strdup_printf("unix:%s/teardown.sock,server,nowait", tmpdir);
    /* A raw kernel (the loader wants 1 KiB at least): hlt; jmp back to it. */
    g_autofree char *kernel = g_build_filename(tmpdir, "hlt.bin", NULL);
    guint8 hlt_loop[4096] = { 0xf4, 0xeb, 0xfd };
    g_autoptr(GError) err = NULL;
    Machine *m;

    g_assert_true(g_file_set_contents(kernel, (const char *)hlt_loop, sizeof(hlt_loop), NULL));
    m = vm_new_on("emu", (const char *const[]){ "-qmp", qmp_opt, "-kernel", kernel,
                                               "-drive", drive, "-device",
                                               "virtio-blk-device,drive=d0", NULL }, &err);

    g_assert_no_error(err);
    machine_lock(m);
    /* What the guest's driver leaves: DRIVER_OK (interrupts reach the guest). */
    microvm_blk_slot_device(m, 0)->status |= VIRTIO_STATUS_DRIVER_OK;
    machine_unlock(m);
    machine_free(m);
    unlink(img);
    unlink(kernel);
}

/* Bytes of the device's state section (vmstate encoding). */
static GByteArray *save(Device *d)
{
    g_autoptr(GError) err = NULL;
    GByteArray *b = g_byte_array_new();

    g_assert_true(device_save_state(d, b, &err));
    g_assert_no_error(err);
    return b;
}

/*
 * Every device of a machine that has one of each user-creatable type plus
 * the board devices: its state saves, loads back, saves to the same bytes,
 * and a truncated, over-long or foreign stream is refused with an error.
 */
static void test_state_roundtrip(void)
{
    g_autofree char *img = make_image("state.img");
    g_autofree char *log = g_build_filename(tmpdir, "serial.log", NULL);
    g_autofree char *drive = g_strdup_printf("id=d0,file=%s,direct=off", img);
    g_autofree char *chr = g_strdup_printf("file,id=ser,path=%s", log);
    g_autofree char *vsock = g_strdup_printf("virtio-vsock-device,id=vs,guest-cid=3,"
                                             "uds-path=%s/vsock.sock", tmpdir);
    g_autoptr(GError) err = NULL;
    /* Under qtest the board has the mc146818rtc and fw_cfg_io of -machine rtc/fw_cfg=auto. */
    Machine *m = vm_new((const char *const[]){ "-chardev", chr, "-serial", "chardev:ser",
                                               "-object", "rng-random,id=rng-src", "-device",
                                               "virtio-rng-device,rng=rng-src,id=rng0,"
                                               "max-bytes=4096,period=1000",
                                               "-drive", drive, "-device",
                                               "virtio-blk-device,drive=d0,id=vda", "-device",
                                               "pvpanic,id=pp", "-device",
                                               "virtio-balloon-device,id=bal", "-device",
                                               "virtio-net-device,id=nic0", "-device",
                                               vsock, "-chardev",
                                               "null,id=vc0", "-chardev", "null,id=vp1",
                                               "-device", "virtio-serial-device,id=vser",
                                               "-device", "virtconsole,chardev=vc0,id=con0",
                                               "-device", "virtserialport,chardev=vp1,"
                                               "id=port1,name=org.test.1", NULL }, &err);
    GPtrArray *devs;
    unsigned with_state = 0;

    g_assert_no_error(err);
    machine_lock(m);
    devs = machine_devices(m);
    for (const DeviceClass *const *dc = device_class_all(); *dc; dc++) {
        bool found = false;
        for (guint i = 0; i < devs->len; i++) {
            found |= ((Device *)g_ptr_array_index(devs, i))->klass == *dc;
        }
        /*
         * One vsock per VM, and the vhost one needs /dev/vhost-vsock (absent
         * on CI); its state is refused by design (docs/devices-vsock.md).
         */
        if (!strcmp((*dc)->name, "vhost-vsock-device")) {
            g_test_message("vhost-vsock-device not instantiated: it needs /dev/vhost-vsock "
                           "and shares the one vsock per VM with virtio-vsock-device");
            continue;
        }
        if (!strcmp((*dc)->name, "vfio-pci")) {
            g_test_message("vfio-pci not instantiated: q35 only, needs a host device, "
                           "unmigratable (test_unmigratable)");
            continue;
        }
        /* The -pci forms share their -device twin's state description; this machine is microvm. */
        if (!strcmp((*dc)->name, "cfi.pflash01")) {
            g_test_message("cfi.pflash01: q35's -drive if=pflash, test_pflash_state");
            continue;
        }
        if ((*dc)->bus == DEVICE_BUS_PCI) {
            g_test_message("%s: q35 only, same vmsd as its virtio-mmio form", (*dc)->name);
            continue;
        }
        if (!found) {
            g_test_message("no instance of %s in the state test machine", (*dc)->name);
        }
        g_assert_true(found);
    }
    for (guint i = 0; i < devs->len; i++) {
        Device *d = g_ptr_array_index(devs, i);
        g_autoptr(GByteArray) a = save(d);
        if (!d->klass->vmsd) {
            g_assert_cmpuint(a->len, ==, 0);
            continue;
        }
        with_state++;
        g_assert_true(device_migratable(d, &err));
        g_assert_cmpuint(a->len, >, 0);
        g_assert_true(device_load_state(d, a->data, a->len, &err));
        g_assert_no_error(err);
        g_autoptr(GByteArray) b = save(d);
        if (a->len != b->len || memcmp(a->data, b->data, a->len)) {
            g_test_message("%s: state differs after a load", d->klass->name);
        }
        g_assert_cmpmem(a->data, a->len, b->data, b->len);
        for (guint cut = 0; cut < a->len; cut++) {
            g_assert_false(device_load_state(d, a->data, cut, &err));
            g_assert_nonnull(err);
            g_clear_error(&err);
        }
        g_byte_array_append(b, (const guint8 *)"x", 1);
        g_assert_false(device_load_state(d, b->data, b->len, &err));
        g_clear_error(&err);
        /* Another type's section is refused. */
        for (guint k = 0; k < devs->len; k++) {
            Device *o = g_ptr_array_index(devs, k);
            if (o->klass->vmsd && o->klass->vmsd != d->klass->vmsd) {
                g_autoptr(GByteArray) other = save(o);
                g_assert_false(device_load_state(d, other->data, other->len, &err));
                g_clear_error(&err);
            }
        }
    }
    g_assert_cmpuint(with_state, >=, 2);
    machine_unlock(m);
    machine_free(m);
    unlink(img);
    unlink(log);
}

/*
 * cfi.pflash01 (q35's -drive if=pflash): the command state saves, loads
 * back to the same bytes, and truncated or impossible states are refused.
 */
static void test_pflash_state(void)
{
    g_autofree char *img = g_build_filename(tmpdir, "flash.fd", NULL);
    g_autofree char *drive = NULL;
    g_autofree uint8_t *zero = g_malloc0(8192);
    g_autoptr(GError) err = NULL;
    Machine *m;
    Device *flash = NULL;
    GPtrArray *devs;

    g_assert_true(g_file_set_contents(img, (const char *)zero, 8192, NULL));
    drive = g_strdup_printf("if=pflash,format=raw,file=%s", img);
    m = vm_new((const char *const[]){ "-machine", "q35", "-drive", drive, NULL }, &err);
    g_assert_no_error(err);
    machine_lock(m);
    devs = machine_devices(m);
    for (guint i = 0; i < devs->len; i++) {
        Device *d = g_ptr_array_index(devs, i);
        flash = !strcmp(d->klass->name, "cfi.pflash01") ? d : flash;
    }
    g_assert_nonnull(flash);
    {
        g_autoptr(GByteArray) a = save(flash);
        g_autoptr(GByteArray) b = NULL;
        g_assert_cmpuint(a->len, >, 0);
        g_assert_true(device_load_state(flash, a->data, a->len, &err));
        g_assert_no_error(err);
        b = save(flash);
        g_assert_cmpmem(a->data, a->len, b->data, b->len);
        for (guint cut = 0; cut < a->len; cut++) {
            g_assert_false(device_load_state(flash, a->data, cut, &err));
            g_clear_error(&err);
        }
        /* The mode is the section's first field byte: 9 is no mode. */
        b->data[b->len - 3] = 9;
        g_assert_false(device_load_state(flash, b->data, b->len, &err));
        g_assert_nonnull(err);
        g_clear_error(&err);
    }
    machine_unlock(m);
    machine_free(m);
    unlink(img);
}

/*
 * virtio-net-device fills net slot 0 then 1 (no back end: link down), addr=
 * is relative to the net slots, a third NIC and an occupied slot are refused
 * with StratoVirt's texts, a malformed MAC and an unknown netdev with QEMU's.
 */
static void test_microvm_net_slots(void)
{
    g_autoptr(GError) err = NULL;
    Machine *m = vm_new((const char *const[]){ "-device", "virtio-net-device,id=n0", "-device",
                                               "virtio-net-mmio,id=n1,mac=02:00:00:00:00:01",
                                               NULL }, &err);

    g_assert_no_error(err);
    machine_lock(m);
    g_assert_true(virtio_net_device_is(machine_find_device(m, "n0")));
    g_assert_cmphex(virtio_net_device_mac(machine_find_device(m, "n1"))[5], ==, 1);
    g_assert_null(virtio_net_device_backend(machine_find_device(m, "n0")));
    machine_unlock(m);
    machine_free(m);

    vm_fails((const char *const[]){ "-device", "virtio-net-device,id=a", "-device",
                                    "virtio-net-device,id=b", "-device",
                                    "virtio-net-device,id=c", NULL },
             "A maximum of 2 net replaceable devices are supported.");
    vm_fails((const char *const[]){ "-device", "virtio-net-device,id=a,addr=0x1", "-device",
                                    "virtio-net-device,id=b,addr=0x1", NULL },
             "The slot 1 is occupied already.");
    vm_fails((const char *const[]){ "-device", "virtio-net-device,id=a,addr=0x2", NULL },
             "A maximum of 2 net replaceable devices are supported.");
    vm_fails((const char *const[]){ "-device", "virtio-net-device,id=a,mac=52:54:00:12:34", NULL },
             "Property 'virtio-net-device.mac' doesn't take value '52:54:00:12:34'");
    vm_fails((const char *const[]){ "-device", "virtio-net-device,id=a,netdev=nope", NULL },
             "Property 'virtio-net-device.netdev' can't find value 'nope'");
}

/*
 * vhost-vsock-device's and vfio-pci's state is in the host kernel or the
 * hardware: migrate refuses them up front with QEMU's blocker text. Checked
 * on an unrealized stand-in, since realizing needs /dev/vhost-vsock or
 * /dev/vfio; only the class and path are read.
 */
static bool host_state_device(const char *name)
{
    return !strcmp(name, "vhost-vsock-device") || !strcmp(name, "vfio-pci");
}

static void test_unmigratable(void)
{
    g_autoptr(GError) err = NULL;

    for (const DeviceClass *const *dc = device_class_all(); *dc; dc++) {
        /* Zeroed instances: a runtime blocker (virtio-net's vhost) sees no back end. */
        g_autofree Device *d = g_malloc0(MAX((*dc)->instance_size, sizeof(Device)));

        d->klass = *dc;
        d->qom_path = (char *)"/machine/peripheral/vs0";
        g_assert_cmpint(device_migratable(d, NULL), ==, !host_state_device((*dc)->name));
        if (!strcmp((*dc)->name, "vhost-vsock-device")) {
            g_assert_false(device_migratable(d, &err));
            g_assert_cmpstr(err->message, ==, "State blocked by non-migratable device "
                            "'/machine/peripheral/vs0/vhost-vsock'");
        }
    }
    g_assert_nonnull(err);
}

/* A class's migration_blocker refuses one instance, naming it by id and saying why. */
static const char *blocked_now(Device *d)
{
    return d->id ? "its back end keeps state the stream cannot carry" : NULL;
}

static void test_migration_blocker(void)
{
    g_autoptr(GError) err = NULL;
    DeviceClass k = { .name = "test-dev", .migration_blocker = blocked_now };
    Device d = { .klass = &k, .qom_path = (char *)"/machine/peripheral-anon/device[0]" };

    g_assert_true(device_migratable(&d, NULL));
    d.id = (char *)"nic0";
    g_assert_false(device_migratable(&d, &err));
    g_assert_cmpstr(err->message, ==, "Migration of 'nic0' is blocked: its back end keeps "
                    "state the stream cannot carry");
}

/* The port's function: slot control (PCIe capability + 0x18) written as the guest does. */
static void root_port_slot_control(Machine *m, uint16_t ctl)
{
    PciDevice *f = pci_host_find(m->machine_class->pci_host(m), 0, PCI_DEVFN(2, 0));
    unsigned c = f->config[PCI_CAPABILITY_LIST];

    while (c && f->config[c] != PCI_CAP_ID_EXP) {
        c = f->config[c + 1];
    }
    g_assert_cmpuint(c, !=, 0);
    pci_config_write(f, c + 0x18, ctl, 2);
}

/*
 * A snapshot taken after the guest powered an occupied slot off, before the
 * main loop removed the device: the loaded port still removes it.
 */
static void test_root_port_removal_in_snapshot(void)
{
    g_autofree char *img = make_image("rp.img");
    g_autofree char *drive = g_strdup_printf("id=d0,file=%s,direct=off", img);
    const char *const extra[] = { "-machine", "q35", "-drive", drive, "-device",
                                  "pcie-root-port,id=rp1,addr=0x2", "-device",
                                  "virtio-blk-pci,drive=d0,id=disk0,bus=rp1,addr=0x0", NULL };
    g_autoptr(GError) err = NULL;
    Machine *src = vm_new(extra, &err), *dst;
    g_autoptr(GByteArray) state = NULL;

    g_assert_no_error(err);
    machine_lock(src);
    root_port_slot_control(src, 0x07c0);                 /* power off, power indicator off */
    state = save(machine_find_device(src, "rp1"));
    machine_unlock(src);
    machine_free(src);
    dst = vm_new(extra, &err);
    g_assert_no_error(err);
    machine_lock(dst);
    g_assert_true(device_load_state(machine_find_device(dst, "rp1"), state->data, state->len,
                                    &err));
    g_assert_no_error(err);
    while (g_main_context_iteration(dst->ctx, FALSE)) {
    }
    g_assert_null(machine_find_device(dst, "disk0"));
    machine_unlock(dst);
    machine_free(dst);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("stratus-dev-XXXXXX", NULL);
    g_test_add_func("/device/registry", test_registry);
    g_test_add_func("/device/properties-json", test_props_json);
    g_test_add_func("/device/cli-errors", test_cli_errors);
    g_test_add_func("/device/json-types", test_json_types);
    g_test_add_func("/device/microvm-slots", test_microvm_slots);
    g_test_add_func("/device/microvm-net-slots", test_microvm_net_slots);
    g_test_add_func("/device/state-roundtrip", test_state_roundtrip);
    g_test_add_func("/device/pflash-state", test_pflash_state);
    g_test_add_func("/device/ids", test_ids);
    g_test_add_func("/device/placement", test_placement);
    g_test_add_func("/device/qmp-lun", test_qmp_lun);
    g_test_add_func("/device/text-values", test_text_values);
    g_test_add_func("/device/teardown-with-driver", test_teardown_with_driver);
    g_test_add_func("/device/unmigratable", test_unmigratable);
    g_test_add_func("/device/migration-blocker", test_migration_blocker);
    g_test_add_func("/device/root-port-removal-in-snapshot", test_root_port_removal_in_snapshot);
    ret = g_test_run();
    g_rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}
