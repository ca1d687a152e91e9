/*
 * HMP commands about the device model: `info qtree`, `info qdm`, `info
 * qom-tree` (their text comes from qmp-commands-qom.c, which owns the views
 * of the device registry) and `device_add`, whose help forms print what
 * `-device help` / `-device DRIVER,help` print (hw/device-help.h).
 */
#include <string.h>

#include "config.h"
#include "hw/device-help.h"
#include "qmp/hmp-internal.h"
#include "qmp/qmp-json.h"

/* qmp-commands-qom.c answers with "\r\n" line ends; here lines end in "\n". */
static void hmp_print_crlf(Hmp *h, const char *text)
{
    g_auto(GStrv) lines = g_strsplit(text ? text : "", "\r\n", -1);
    g_autofree char *lf = g_strjoinv("\n", lines);

    g_string_append(h->out, lf);
}

static void hmp_print_qom(Hmp *h, const char *line)
{
    g_autofree char *text = qmp_hmp_qom_command(h->m, line);

    hmp_print_crlf(h, text);
}

void hmp_info_qtree(Hmp *h, HmpArgs *args)
{
    hmp_print_qom(h, "info qtree");
}

void hmp_info_qdm(Hmp *h, HmpArgs *args)
{
    hmp_print_qom(h, "info qdm");
}

void hmp_info_qom_tree(Hmp *h, HmpArgs *args)
{
    g_autofree char *text = qmp_hmp_qom_tree(h->m, hmp_arg_str(args, "path"));

    hmp_print_crlf(h, text);
}

/* "lun" is an integer member of device_add; everything else goes as text, as QEMU's opts. */
static void add_device_member(JsonObject *a, const OptPair *p)
{
    char *end = NULL;
    gint64 lun = g_ascii_strtoll(p->value, &end, 0);

    if (!strcmp(p->key, "lun") && *p->value && !*end) {
        json_object_set_int_member(a, p->key, lun);
    } else {
        json_object_set_string_member(a, p->key, p->value);
    }
}

/*
 * QEMU's hmp_device_add(): `device_add help` and `device_add DRIVER,help`
 * print the help texts, anything else is QMP device_add with the options as
 * its arguments (errors as "Error: ...").
 */
void hmp_device_add(Hmp *h, HmpArgs *args)
{
    const char *opts = hmp_arg_str(args, "device");
    g_autoptr(JsonObject) a = json_object_new();
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    OptList *l;

    if (opts && device_help_for_option(opts, &text, &err)) {
        if (text) {
            g_string_append(h->out, text);
        } else {
            hmp_error(h, err);
        }
        return;
    }
    l = opts ? optlist_parse(opts, "driver", &err) : NULL;
    if (opts && !l) {
        hmp_error(h, err);
        return;
    }
    for (guint i = 0; l && i < l->pairs->len; i++) {
        add_device_member(a, g_ptr_array_index(l->pairs, i));
    }
    optlist_free(l);
    /* QEMU's first check (Stratus's schema would ask for the id first). */
    if (!json_object_has_member(a, "driver")) {
        hmp_printf(h, "Error: Parameter 'driver' is missing\n");
        return;
    }
    if (!hmp_qmp(h, "device_add", a, NULL, &err)) {
        hmp_error(h, err);
    }
}
