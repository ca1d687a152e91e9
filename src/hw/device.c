/*
 * The device registry (generated from src/hw/meson.build, so it is constant
 * data), device creation and destruction, and the machine's device list.
 */
#include <string.h>

#include "hw/device.h"
#include "hw/device-internal.h"
#include "hw/bootorder.h"
#include "hw/device-list.h"
#include "config.h"
#include "migration/vmstate.h"
#include "util/log.h"
#include "util/strutil.h"

#define X(sym) extern const DeviceClass sym##_device_class;
STRATUS_DEVICE_LIST
#undef X
#define X(sym) &sym##_device_class,
static const DeviceClass *const device_classes[] = { STRATUS_DEVICE_LIST NULL };
#undef X

#define X(sym) extern const MachineClass sym##_machine_class;
STRATUS_MACHINE_LIST
#undef X
#define X(sym) &sym##_machine_class,
static const MachineClass *const machine_classes[] = { STRATUS_MACHINE_LIST NULL };
#undef X

static bool name_matches(const char *name, const char *const *aliases, const char *want)
{
    if (!strcmp(name, want)) {
        return true;
    }
    for (const char *const *a = aliases; a && *a; a++) {
        if (!strcmp(*a, want)) {
            return true;
        }
    }
    return false;
}

const DeviceClass *device_class_find(const char *name)
{
    for (const DeviceClass *const *dc = device_classes; name && *dc; dc++) {
        if (name_matches((*dc)->name, (*dc)->aliases, name)) {
            return *dc;
        }
    }
    return NULL;
}

const DeviceClass *const *device_class_all(void)
{
    return device_classes;
}

const MachineClass *machine_class_find(const char *name)
{
    for (const MachineClass *const *mc = machine_classes; name && *mc; mc++) {
        if (name_matches((*mc)->name, (*mc)->aliases, name)) {
            return *mc;
        }
    }
    return NULL;
}

const MachineClass *const *machine_class_all(void)
{
    return machine_classes;
}

/* ---- the machine's device list ---- */

GPtrArray *machine_devices(Machine *m)
{
    return m->devices;
}

Device *machine_find_device(Machine *m, const char *id)
{
    for (guint i = 0; id && m->devices && i < m->devices->len; i++) {
        Device *d = g_ptr_array_index(m->devices, i);
        if (d->id && !strcmp(d->id, id)) {
            return d;
        }
    }
    return NULL;
}

Device *machine_find_device_path(Machine *m, const char *path)
{
    for (guint i = 0; path && m->devices && i < m->devices->len; i++) {
        Device *d = g_ptr_array_index(m->devices, i);
        if (!strcmp(d->qom_path, path)) {
            return d;
        }
    }
    return machine_find_device(m, path);
}

static char *next_qom_path(Machine *m, const char *id, bool user)
{
    if (user && id) {
        return g_strdup_printf("/machine/peripheral/%s", id);
    }
    if (user) {
        return g_strdup_printf("/machine/peripheral-anon/device[%u]", m->n_peripheral_anon++);
    }
    /* The CPUs are device[0..n-1] of /machine/unattached (QEMU's order). */
    return g_strdup_printf("/machine/unattached/device[%u]",
                           m->cfg->smp.cpus + m->n_unattached++);
}

/* ---- create / destroy ---- */

static bool apply_props(Device *d, const DeviceCreateArgs *a, GError **err)
{
    for (unsigned i = 0; i < a->n_props; i++) {
        const DevicePropValue *v = &a->props[i];
        const Property *p = device_class_find_prop(d->klass, v->name);
        bool ok;

        if (!p) {
            set_error(err, "Property '%s.%s' not found", d->klass->name, v->name);
            return false;
        }
        ok = v->json ? device_prop_set_json(d, p, v->json, err)
                     : device_prop_set_text(d, p, v->text, err);
        if (!ok) {
            return false;
        }
    }
    return true;
}

/*
 * -global values for this device's class (by name or alias), in command-line
 * order, QEMU's texts: a property the class lacks or a bad value fails the
 * device.
 */
static bool apply_globals(Device *d, GError **err)
{
    for (guint i = 0; d->machine->cfg->globals && i < d->machine->cfg->globals->len; i++) {
        const GlobalProp *g = g_ptr_array_index(d->machine->cfg->globals, i);
        const Property *p;
        const char *value;
        GError *local = NULL;

        if (device_class_find(g->driver) != d->klass) {
            continue;
        }
        p = device_class_find_prop(d->klass, g->property);
        if (!p) {
            set_error(err, "can't apply global %s.%s=%s: Property '%s.%s' not found", g->driver,
                      g->property, g->value, d->klass->name, g->property);
            return false;
        }
        /* StratoVirt's one documented global is a bool written 0|1 (fast-unplug=0|1). */
        value = p->type == PROP_BOOL && !strcmp(g->value, "1") ? "on" :
                p->type == PROP_BOOL && !strcmp(g->value, "0") ? "off" : g->value;
        if (!device_prop_set_text(d, p, value, &local)) {
            set_error(err, "can't apply global %s.%s=%s: %s", g->driver, g->property, g->value,
                      local->message);
            g_error_free(local);
            return false;
        }
    }
    return true;
}

static bool check_creatable(Machine *m, const DeviceCreateArgs *a, const DeviceClass *dc,
                            GError **err)
{
    if (a->user && !dc->user_creatable) {
        set_error(err, "Parameter 'driver' expects a pluggable device type");
        return false;
    }
    if (a->id && !*a->id) {
        set_error(err, "Device id is empty");
        return false;
    }
    if (a->id && !id_wellformed(a->id)) {
        set_error(err, "Parameter 'id' expects an identifier");
        return false;
    }
    if (a->id && !strcmp(a->id, "type")) {
        /* Every QOM container already has a "type" property (QEMU's text). */
        set_error(err, "attempt to add duplicate property 'type' to object "
                  "(type 'container')");
        return false;
    }
    if (a->id && machine_find_device(m, a->id)) {
        /* StratoVirt's text (seeds first); QEMU says "Duplicate device ID". */
        set_error(err, "%s is already registered.", a->id);
        return false;
    }
    return true;
}

static void device_free(Device *d)
{
    device_props_free(d);
    g_free(d->id);
    g_free(d->qom_path);
    g_free(d->bus);
    g_free(d->addr);
    g_free(d);
}

Device *device_create(Machine *m, const DeviceCreateArgs *a, GError **err)
{
    const DeviceClass *dc = device_class_find(a->driver);
    const MachineClass *mc = m->machine_class;
    Device *d;

    if (!dc) {
        set_error(err, "'%s' is not a valid device model name", a->driver ? a->driver : "");
        return NULL;
    }
    if (!check_creatable(m, a, dc, err)) {
        return NULL;
    }
    g_assert(dc->instance_size >= sizeof(Device));
    d = g_malloc0(dc->instance_size);
    d->klass = dc;
    d->machine = m;
    d->id = g_strdup(a->id);
    d->bus = g_strdup(a->bus);
    d->addr = g_strdup(a->addr);
    d->user_created = a->user;
    d->hotplugged = a->hotplug;
    if (!device_props_set_defaults(d, err) || !apply_globals(d, err) || !apply_props(d, a, err) ||
        !bootindex_check(m, d, err) || (mc && mc->pre_plug && !mc->pre_plug(m, d, err)) ||
        (a->hotplug && !seccomp_policy_check(&m->sandbox, dc->seccomp_needs, dc->name, err)) ||
        (dc->realize && !dc->realize(d, err))) {
        device_free(d);
        return NULL;
    }
    d->realized = true;
    if (mc && mc->plug && !mc->plug(m, d, err)) {
        if (dc->unrealize) {
            dc->unrealize(d);
        }
        device_free(d);
        return NULL;
    }
    d->qom_path = next_qom_path(m, d->id, a->user);
    g_ptr_array_add(m->devices, d);
    log_info("device %s created: %s", d->qom_path, dc->name);
    return d;
}

void device_destroy(Device *d)
{
    Machine *m = d->machine;
    const MachineClass *mc = m->machine_class;

    g_ptr_array_remove(m->devices, d);
    if (mc && mc->unplug) {
        mc->unplug(m, d);
    }
    if (d->realized && d->klass->unrealize) {
        d->klass->unrealize(d);
    }
    device_free(d);
}

void machine_destroy_devices(Machine *m)
{
    /* Newest first: a device may depend on one created before it. */
    while (m->devices && m->devices->len) {
        device_destroy(g_ptr_array_index(m->devices, m->devices->len - 1));
    }
}

void machine_reset_devices(Machine *m)
{
    for (guint i = 0; m->devices && i < m->devices->len; i++) {
        Device *d = g_ptr_array_index(m->devices, i);
        if (d->klass->reset) {
            d->klass->reset(d);
        }
    }
}

/* ---- state ---- */

static void *state_opaque(Device *d)
{
    return d->klass->vmstate_opaque ? d->klass->vmstate_opaque(d) : d;
}

bool device_save_state(Device *d, GByteArray *out, GError **err)
{
    return !d->klass->vmsd || vmstate_save(d->klass->vmsd, state_opaque(d), out, err);
}

bool device_migratable(const Device *d, GError **err)
{
    const VMStateDescription *vmsd = d->klass->vmsd;

    const char *why = d->klass->migration_blocker ? d->klass->migration_blocker((Device *)d)
                                                  : NULL;

    if (vmsd && vmsd->unmigratable) {
        set_error(err, "State blocked by non-migratable device '%s/%s'", d->qom_path,
                  vmsd->name);
        return false;
    }
    if (why) {
        set_error(err, "Migration of '%s' is blocked: %s", device_name(d), why);
        return false;
    }
    return true;
}

bool device_load_state(Device *d, const uint8_t *buf, size_t len, GError **err)
{
    size_t used = 0;

    if (!d->klass->vmsd) {
        if (len) {
            set_error(err, "%s: the device has no saved state", d->klass->name);
            return false;
        }
        return true;
    }
    if (!vmstate_load(d->klass->vmsd, state_opaque(d), buf, len, &used, err)) {
        return false;
    }
    if (used != len) {
        set_error(err, "%s: %zu bytes after the device's state", d->klass->name, len - used);
        return false;
    }
    return true;
}

/* ---- -device ---- */

Device *device_create_from_opts(Machine *m, const OptList *l, GError **err)
{
    g_autoptr(GArray) props = g_array_new(FALSE, TRUE, sizeof(DevicePropValue));
    DeviceCreateArgs a = { .user = true };

    for (guint i = 0; i < l->pairs->len; i++) {
        const OptPair *p = g_ptr_array_index(l->pairs, i);
        if (!strcmp(p->key, "driver")) {
            a.driver = p->value;
        } else if (!strcmp(p->key, "id")) {
            a.id = p->value;
        } else if (!strcmp(p->key, "bus")) {
            a.bus = p->value;
        } else if (!strcmp(p->key, "addr")) {
            a.addr = p->value;
        } else {
            DevicePropValue v = { .name = p->key, .text = p->value };
            g_array_append_val(props, v);
        }
    }
    a.props = (const DevicePropValue *)(void *)props->data;
    a.n_props = props->len;
    return device_create(m, &a, err);
}

bool machine_create_cli_devices(Machine *m, GError **err)
{
    GPtrArray *devices = m->cfg->devices;

    /* QEMU's warning: tooling passes globals for devices this VMM may not have. */
    for (guint i = 0; m->cfg->globals && i < m->cfg->globals->len; i++) {
        const GlobalProp *g = g_ptr_array_index(m->cfg->globals, i);
        if (!device_class_find(g->driver)) {
            log_warn("global %s.%s has invalid class name", g->driver, g->property);
        }
    }

    for (guint i = 0; devices && i < devices->len; i++) {
        const char *origin = m->cfg->device_origins ?
                             g_ptr_array_index(m->cfg->device_origins, i) : NULL;

        if (!device_create_from_opts(m, g_ptr_array_index(devices, i), err)) {
            if (origin) {
                g_prefix_error(err, "%s: ", origin);
            }
            return false;
        }
    }
    return true;
}
