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
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-blk.h"
#include "hw/x86/microvm.h"

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

/* machine_new() from a command line (qtest accelerator, no kernel). */
static Machine *vm_new(const char *const *extra, GError **err)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    StratusConfig *cfg;
    Machine *m;

    g_ptr_array_add(argv, (char *)"stratus");
    g_ptr_array_add(argv, (char *)"-accel");
    g_ptr_array_add(argv, (char *)"qtest");
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
        /* Property names are unique and every default parses (checked at create). */
        for (const Property *p = dc->props; p && p->name; p++) {
            g_assert_true(device_class_find_prop(dc, p->name) == p);
        }
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
        g_assert_cmpint(json_object_has_member(o, "default-value"), ==, p->defval != NULL);
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
    /* Failed creates left nothing behind: microvm-pm (no -serial) and vda. */
    g_assert_cmpuint(machine_devices(m)->len, ==, 2);

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
    g_autoptr(GError) err = NULL;
    Machine *m = vm_new((const char *const[]){ "-chardev", chr, "-serial", "chardev:ser",
                                               "-drive", drive, "-device",
                                               "virtio-blk-device,drive=d0,id=vda", "-device",
                                               "pvpanic,id=pp", NULL }, &err);
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
        g_assert_cmpuint(a->len, >, 0);
        g_assert_true(device_load_state(d, a->data, a->len, &err));
        g_assert_no_error(err);
        g_autoptr(GByteArray) b = save(d);
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
    g_test_add_func("/device/state-roundtrip", test_state_roundtrip);
    ret = g_test_run();
    g_rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}
