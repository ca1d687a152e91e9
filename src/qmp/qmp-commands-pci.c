/*
 * QMP query-pci (docs/qmp.md "PCI"): QEMU's PciInfo list, read from the
 * functions' config space as the guest left it, so BAR addresses, the
 * interrupt line and bridge windows are the guest's. A machine without a
 * PCI host (microvm, none) answers [] as QEMU's microvm does.
 *
 * Buses are listed from the root: bus 0, and below each bridge the bus its
 * secondary-bus register names (QEMU lists a bridge's devices only once the
 * guest has numbered it).
 */
#include "machine.h"
#include "hw/device.h"
#include "hw/pci/pci-host.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"


static const QmpType any_list = QMP_ARRAY_TYPE(&qmp_type_any);
static const QmpMember pci_info_m[] = {
    { "bus", &qmp_type_int }, { "devices", &any_list }, { NULL }
};
static const QmpType pci_info = QMP_OBJECT_TYPE(pci_info_m);
static const QmpType pci_info_list = QMP_ARRAY_TYPE(&pci_info);

/* QEMU's descriptions (hw/pci/pci.c's class table) for the classes q35 can show. */
static const char *class_desc(uint16_t cls)
{
    static const struct { uint16_t cls; const char *desc; } t[] = {
        { 0x0100, "SCSI controller" }, { 0x0101, "IDE controller" },
        { 0x0106, "SATA controller" }, { 0x0180, "Storage controller" },
        { 0x0200, "Ethernet controller" }, { 0x0280, "Network controller" },
        { 0x0300, "VGA controller" }, { 0x0600, "Host bridge" }, { 0x0601, "ISA bridge" },
        { 0x0604, "PCI bridge" }, { 0x0680, "Bridge" }, { 0x0700, "Serial port" },
        { 0x0c03, "USB controller" }, { 0x0c05, "SMBus" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(t); i++) {
        if (t[i].cls == cls) {
            return t[i].desc;
        }
    }
    return NULL;
}

static JsonNode *obj_node(JsonObject *o)
{
    JsonNode *n = json_node_init_object(json_node_alloc(), o);

    json_object_unref(o);
    return n;
}

static JsonNode *range(uint64_t base, uint64_t limit)
{
    JsonObject *o = json_object_new();

    json_object_set_int_member(o, "base", (gint64)base);
    json_object_set_int_member(o, "limit", (gint64)limit);
    return obj_node(o);
}

static JsonNode *regions(const PciDevice *d)
{
    JsonArray *a = json_array_new();

    for (int n = 0; n < PCI_NUM_BARS; n++) {
        const PciBar *b = &d->bars[n];
        JsonObject *o;
        if (!b->size) {
            continue;
        }
        o = json_object_new();
        json_object_set_int_member(o, "bar", n);
        json_object_set_string_member(o, "type", b->flags & PCI_BAR_IO ? "io" : "memory");
        json_object_set_int_member(o, "address",
                                   b->mapped == PCI_BAR_UNMAPPED ? -1 : (gint64)b->mapped);
        json_object_set_int_member(o, "size", (gint64)b->size);
        if (!(b->flags & PCI_BAR_IO)) {
            json_object_set_boolean_member(o, "prefetch", !!(b->flags & PCI_BAR_PREFETCH));
            json_object_set_boolean_member(o, "mem_type_64", !!(b->flags & PCI_BAR_MEM64));
        }
        json_array_add_object_element(a, o);
    }
    return json_node_init_array(json_node_alloc(), a);
}

static JsonNode *bus_devices(const PciBus *b, uint8_t number, unsigned depth);

/* The bridge's windows as its registers decode them (PCI-to-PCI Bridge 1.2 §3.2.5). */
static JsonNode *bridge_info(const PciDevice *d, unsigned depth)
{
    const uint8_t *c = d->config;
    JsonObject *info = json_object_new(), *bus = json_object_new();
    uint64_t io_base = (c[PCI_IO_BASE] & 0xf0u) << 8 | (uint64_t)pci_get_word(d, PCI_IO_BASE_UPPER16) << 16;
    uint64_t io_limit = ((c[PCI_IO_BASE + 1] & 0xf0u) << 8 | 0xfff) |
                        (uint64_t)pci_get_word(d, PCI_IO_BASE_UPPER16 + 2) << 16;
    uint64_t mem_base = (uint64_t)(pci_get_word(d, PCI_MEMORY_BASE) & 0xfff0u) << 16;
    uint64_t mem_limit = (uint64_t)(pci_get_word(d, PCI_MEMORY_BASE + 2) & 0xfff0u) << 16 | 0xfffff;
    uint64_t pf_base = (uint64_t)(pci_get_word(d, PCI_PREF_MEMORY_BASE) & 0xfff0u) << 16 |
                       (uint64_t)pci_get_long(d, PCI_PREF_BASE_UPPER32) << 32;
    uint64_t pf_limit = ((uint64_t)(pci_get_word(d, PCI_PREF_MEMORY_BASE + 2) & 0xfff0u) << 16 |
                         0xfffff) | (uint64_t)pci_get_long(d, PCI_PREF_BASE_UPPER32 + 4) << 32;

    json_object_set_int_member(bus, "number", c[PCI_PRIMARY_BUS]);
    json_object_set_int_member(bus, "secondary", c[PCI_SECONDARY_BUS]);
    json_object_set_int_member(bus, "subordinate", c[PCI_SUBORDINATE_BUS]);
    json_object_set_member(bus, "io_range", range(io_base, io_limit));
    json_object_set_member(bus, "memory_range", range(mem_base, mem_limit));
    json_object_set_member(bus, "prefetchable_range", range(pf_base, pf_limit));
    json_object_set_member(info, "bus", obj_node(bus));
    /* depth bounds a guest that numbers bridges in a loop. */
    if (c[PCI_SECONDARY_BUS] && depth < PCI_MAX_BUSES && d->secondary) {
        json_object_set_member(info, "devices",
                               bus_devices(d->secondary, c[PCI_SECONDARY_BUS], depth + 1));
    }
    return obj_node(info);
}

static JsonNode *device_info(uint8_t bus, uint8_t devfn, const PciDevice *d, unsigned depth)
{
    JsonObject *o = json_object_new(), *ci = json_object_new(), *id = json_object_new();
    uint16_t cls = pci_get_word(d, PCI_CLASS_DEVICE);
    bool bridge = (d->config[PCI_HEADER_TYPE] & 0x7f) == PCI_HEADER_TYPE_BRIDGE;
    const char *desc = class_desc(cls);

    json_object_set_int_member(o, "bus", bus);
    json_object_set_int_member(o, "slot", devfn >> 3);
    json_object_set_int_member(o, "function", devfn & 7);
    if (desc) {
        json_object_set_string_member(ci, "desc", desc);
    }
    json_object_set_int_member(ci, "class", cls);
    json_object_set_member(o, "class_info", obj_node(ci));
    json_object_set_int_member(id, "device", pci_get_word(d, PCI_DEVICE_ID));
    json_object_set_int_member(id, "vendor", pci_get_word(d, PCI_VENDOR_ID));
    if (!bridge) {
        json_object_set_int_member(id, "subsystem", pci_get_word(d, PCI_SUBSYSTEM_ID));
        json_object_set_int_member(id, "subsystem-vendor",
                                   pci_get_word(d, PCI_SUBSYSTEM_VENDOR_ID));
    }
    json_object_set_member(o, "id", obj_node(id));
    if (d->config[PCI_INTERRUPT_PIN]) {
        json_object_set_int_member(o, "irq", d->config[PCI_INTERRUPT_LINE]);
    }
    json_object_set_int_member(o, "irq_pin", d->config[PCI_INTERRUPT_PIN]);
    json_object_set_string_member(o, "qdev_id", d->owner && d->owner->id ? d->owner->id : "");
    if (bridge) {
        json_object_set_member(o, "pci_bridge", bridge_info(d, depth));
    }
    json_object_set_member(o, "regions", regions(d));
    return obj_node(o);
}

static JsonNode *bus_devices(const PciBus *b, uint8_t number, unsigned depth)
{
    JsonArray *a = json_array_new();

    for (unsigned devfn = 0; devfn < 256; devfn++) {
        const PciDevice *d = b->fn[devfn];
        if (d) {
            json_array_add_element(a, device_info(number, (uint8_t)devfn, d, depth));
        }
    }
    return json_node_init_array(json_node_alloc(), a);
}

static bool qmp_query_pci(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    Machine *m = ctx->opaque;
    PciHost *h = m->machine_class->pci_host ? m->machine_class->pci_host(m) : NULL;
    JsonArray *a = json_array_new();

    (void)args;
    (void)err;
    if (h) {
        JsonObject *o = json_object_new();
        json_object_set_int_member(o, "bus", 0);
        json_object_set_member(o, "devices", bus_devices(&h->root, 0, 0));
        json_array_add_object_element(a, o);
    }
    *ret = json_node_init_array(json_node_alloc(), a);
    return true;
}

static const QmpCommand pci_cmds[] = {
    { "query-pci", qmp_query_pci, NULL, &pci_info_list },
    { NULL }
};

void qmp_register_pci_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, pci_cmds);
}
