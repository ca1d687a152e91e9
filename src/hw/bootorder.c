/*
 * fw_cfg "bootorder" (hw/bootorder.h): learnt from what QEMU 7.2's q35 and
 * microvm serve for the same devices (tests/functional/test_q35_bootorder.py
 * compares the bytes).
 */
#include <string.h>

#include "hw/bootorder.h"
#include "util/strutil.h"

int32_t device_bootindex(const Device *d)
{
    const Property *p = device_class_find_prop(d->klass, "bootindex");

    if (!p || p->type != PROP_I32) {
        return -1;
    }
    return *(const int32_t *)((const char *)d + p->offset);
}

bool bootindex_check(Machine *m, const Device *d, GError **err)
{
    int32_t idx = device_bootindex(d);
    GPtrArray *devs = machine_devices(m);

    if (idx == 0 && m->boot_rom) {
        set_error(err, "The bootindex 0 has already been used");
        return false;
    }
    for (guint i = 0; idx >= 0 && devs && i < devs->len; i++) {
        const Device *o = g_ptr_array_index(devs, i);
        if (o != d && device_bootindex(o) == idx) {
            set_error(err, "The bootindex %" G_GINT32_FORMAT " has already been used", idx);
            return false;
        }
    }
    return true;
}

static gint by_bootindex(gconstpointer a, gconstpointer b)
{
    int32_t x = device_bootindex(*(Device *const *)a), y = device_bootindex(*(Device *const *)b);

    return x < y ? -1 : x > y;
}

GByteArray *bootorder_build(Machine *m)
{
    GByteArray *out = g_byte_array_new();
    g_autoptr(GPtrArray) boot = g_ptr_array_new();
    GPtrArray *devs = machine_devices(m);
    const MachineClass *mc = m->machine_class;
    GString *s = g_string_new(NULL);

    for (guint i = 0; devs && i < devs->len; i++) {
        Device *d = g_ptr_array_index(devs, i);
        if (device_bootindex(d) >= 0 && d->klass->boot_suffix) {
            g_ptr_array_add(boot, d);
        }
    }
    g_ptr_array_sort(boot, by_bootindex);
    if (m->boot_rom) {
        g_string_append_printf(s, "%s\n", m->boot_rom);
    }
    for (guint i = 0; mc && mc->fw_dev_path && i < boot->len; i++) {
        Device *d = g_ptr_array_index(boot, i);
        g_autofree char *path = mc->fw_dev_path(m, d);
        if (path) {
            g_string_append_printf(s, "%s%s\n", path, d->klass->boot_suffix);
        }
    }
    if (s->len && m->cfg->boot_strict) {
        g_string_append(s, "HALT\n");
    }
    if (s->len) {
        /* QEMU's separators are between lines; the last one becomes the NUL. */
        s->str[s->len - 1] = '\0';
        g_byte_array_append(out, (const guint8 *)s->str, (guint)s->len);
    }
    g_string_free(s, TRUE);
    return out;
}
