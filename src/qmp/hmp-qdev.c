/*
 * HMP commands about the device model: `info qtree`, `info qdm`. Their text
 * comes from qmp-commands-qom.c, which owns the device registry views.
 */
#include <string.h>

#include "qmp/hmp-internal.h"

/* qmp-commands-qom.c answers with "\r\n" line ends; here lines end in "\n". */
static void hmp_print_qom(Hmp *h, const char *line)
{
    g_autofree char *text = qmp_hmp_qom_command(h->m, line);
    g_auto(GStrv) lines = g_strsplit(text ? text : "", "\r\n", -1);
    g_autofree char *lf = g_strjoinv("\n", lines);

    g_string_append(h->out, lf);
}

void hmp_info_qtree(Hmp *h, HmpArgs *args)
{
    hmp_print_qom(h, "info qtree");
}

void hmp_info_qdm(Hmp *h, HmpArgs *args)
{
    hmp_print_qom(h, "info qdm");
}
