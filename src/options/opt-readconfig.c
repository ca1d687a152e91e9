/*
 * -readconfig FILE: QEMU's ini-style configuration file (the format of
 * QEMU's -writeconfig), which QEMU's tests and older tooling pass:
 *
 *     # comment
 *     [drive "disk0"]
 *       file = "disk.img"
 *       if = "none"
 *     [machine]
 *       type = "microvm"
 *
 * Each section stands for one option (the groups below); its keys become
 * that option's "key=value,..." argument, with the section's id as id=.
 * Nothing is checked here beyond the file's syntax: the option handlers
 * check the values, and options.c prefixes their errors with FILE:LINE.
 */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "options/options-internal.h"
#include "util/strutil.h"

typedef struct ReadconfigGroup {
    const char *name;
    OptId id;
    bool takes_id;           /* [group "ID"] names an instance (-drive id=ID) */
} ReadconfigGroup;

/* QEMU's option group names for the options Stratus has. */
static const ReadconfigGroup groups[] = {
    { "drive", OPT_DRIVE, true },
    { "device", OPT_DEVICE, true },
    { "netdev", OPT_NETDEV, true },
    { "chardev", OPT_CHARDEV, true },
    { "object", OPT_OBJECT, true },
    { "machine", OPT_MACHINE, false },
    { "memory", OPT_MEM, false },
    { "smp-opts", OPT_SMP, false },
    { "rtc", OPT_RTC, false },
    { NULL }
};

static const ReadconfigGroup *group_find(const char *name)
{
    for (const ReadconfigGroup *g = groups; g->name; g++) {
        if (!strcmp(g->name, name)) {
            return g;
        }
    }
    return NULL;
}

/* Appends key=value to the option string, doubling commas as the parser wants. */
static void append_pair(GString *s, const char *key, const char *value)
{
    if (s->len) {
        g_string_append_c(s, ',');
    }
    g_string_append_printf(s, "%s=", key);
    for (const char *p = value; *p; p++) {
        if (*p == ',') {
            g_string_append_c(s, ',');
        }
        g_string_append_c(s, *p);
    }
}

/* `[name]` or `[name "id"]`; false on anything else. */
static bool parse_header(const char *line, char **name, char **id)
{
    const char *end = strchr(line, ']');
    const char *q;

    if (line[0] != '[' || !end || end[1] != '\0') {
        return false;
    }
    q = strchr(line, ' ');
    if (!q || q > end) {
        *name = g_strndup(line + 1, end - line - 1);
        *id = NULL;
        return **name != '\0';
    }
    if (q[1] != '"' || end[-1] != '"' || end - 1 <= q + 2) {
        return false;
    }
    *name = g_strndup(line + 1, q - line - 1);
    *id = g_strndup(q + 2, end - 1 - (q + 2));
    return **name != '\0' && !strchr(*id, '"');
}

/* `key = "value"` (spaces around '=' optional); false on anything else. */
static bool parse_pair(const char *line, char **key, char **value)
{
    size_t klen = strcspn(line, " \t=");
    const char *p = line + klen;
    size_t vlen;

    if (klen == 0) {
        return false;
    }
    p += strspn(p, " \t");
    if (*p++ != '=') {
        return false;
    }
    p += strspn(p, " \t");
    if (*p++ != '"') {
        return false;
    }
    vlen = strcspn(p, "\"");
    if (p[vlen] != '"' || p[vlen + 1] != '\0') {
        return false;
    }
    *key = g_strndup(line, klen);
    *value = g_strndup(p, vlen);
    return true;
}

typedef struct Section {
    const ReadconfigGroup *group;
    GString *value;
    char *where;
} Section;

static void section_flush(Section *sec, GPtrArray *items)
{
    ConfigItem *it;

    if (!sec->group) {
        return;
    }
    if (sec->value->len == 0) {         /* "[machine]" alone: nothing to set */
        g_string_free(sec->value, TRUE);
        g_free(sec->where);
        *sec = (Section){ 0 };
        return;
    }
    it = g_new0(ConfigItem, 1);
    it->id = sec->group->id;
    it->value = g_string_free(sec->value, FALSE);
    it->where = sec->where;
    g_ptr_array_add(items, it);
    *sec = (Section){ 0 };
}

/* One line (trimmed); false with *err on a syntax error. */
static bool readconfig_line(const char *line, const char *where, Section *sec,
                            GPtrArray *items, GError **err)
{
    g_autofree char *a = NULL, *b = NULL;

    if (!*line || *line == '#') {
        return true;
    }
    if (*line == '[') {
        const ReadconfigGroup *g;

        if (!parse_header(line, &a, &b)) {
            set_error(err, "%s: parse error", where);
            return false;
        }
        g = group_find(a);
        if (!g) {
            set_error(err, "%s: There is no option group '%.64s'", where, a);
            return false;
        }
        if (b && !g->takes_id) {
            set_error(err, "%s: group '%s' takes no id", where, a);
            return false;
        }
        section_flush(sec, items);
        sec->group = g;
        sec->value = g_string_new(NULL);
        sec->where = g_strdup(where);
        if (b) {
            append_pair(sec->value, "id", b);
        }
        return true;
    }
    if (!parse_pair(line, &a, &b)) {
        set_error(err, "%s: parse error", where);
        return false;
    }
    if (!sec->group) {
        set_error(err, "%s: no group defined", where);
        return false;
    }
    append_pair(sec->value, a, b);
    return true;
}

GPtrArray *readconfig_load(const char *file, GError **err)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GError *local = NULL;
    GPtrArray *items = g_ptr_array_new_with_free_func(config_item_free);
    Section sec = { 0 };
    bool ok = true;

    if (!g_file_get_contents(file, &text, NULL, &local)) {
        set_error(err, "-readconfig: Could not open '%s': %s", file,
                  g_strerror(local->code == G_FILE_ERROR_NOENT ? ENOENT :
                             local->code == G_FILE_ERROR_ACCES ? EACCES : EIO));
        g_error_free(local);
        g_ptr_array_unref(items);
        return NULL;
    }
    lines = g_strsplit(text, "\n", -1);
    for (guint n = 0; ok && lines[n]; n++) {
        g_autofree char *where = g_strdup_printf("%s:%u", file, n + 1);

        ok = readconfig_line(g_strstrip(lines[n]), where, &sec, items, err);
    }
    if (!ok) {
        if (sec.group) {
            g_string_free(sec.value, TRUE);
            g_free(sec.where);
        }
        g_ptr_array_unref(items);
        return NULL;
    }
    section_flush(&sec, items);
    return items;
}
