/*
 * QMP JSON output. See qmp-json.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/qmp-json.h"

void qmp_json_append_string(GString *out, const char *str)
{
    const char *p = str;

    g_string_append_c(out, '"');
    while (*p) {
        gunichar c = g_utf8_get_char_validated(p, -1);
        if (c == (gunichar)-1 || c == (gunichar)-2) {
            /* Not valid UTF-8 (callers should not produce that). */
            g_string_append(out, "\\uFFFD");
            p++;
            continue;
        }
        p = g_utf8_next_char(p);
        switch (c) {
        case '"': g_string_append(out, "\\\""); break;
        case '\\': g_string_append(out, "\\\\"); break;
        case '\b': g_string_append(out, "\\b"); break;
        case '\f': g_string_append(out, "\\f"); break;
        case '\n': g_string_append(out, "\\n"); break;
        case '\r': g_string_append(out, "\\r"); break;
        case '\t': g_string_append(out, "\\t"); break;
        default:
            if (c >= 0x20 && c <= 0x7E) {
                g_string_append_c(out, (char)c);
            } else if (c < 0x10000) {
                g_string_append_printf(out, "\\u%04X", c);
            } else {
                c -= 0x10000;
                g_string_append_printf(out, "\\u%04X\\u%04X",
                                       0xD800 | (c >> 10), 0xDC00 | (c & 0x3FF));
            }
        }
    }
    g_string_append_c(out, '"');
}

static void append_double(GString *out, double d)
{
    char buf[64];
    if (!isfinite(d)) {
        g_string_append(out, "null");   /* not representable in JSON */
        return;
    }
    if (d == floor(d) && fabs(d) < 1e16) {
        /* integral: no exponent (QEMU's %.17g gives the same digits) */
        snprintf(buf, sizeof(buf), "%.0f", d);
        if (!strcmp(buf, "-0")) {
            strcpy(buf, "0");
        }
        g_string_append(out, buf);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d) {
            break;
        }
    }
    g_string_append(out, buf);
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void qmp_json_append(GString *out, JsonNode *node, bool sort_keys)
{
    if (!node) {
        g_string_append(out, "null");
        return;
    }
    switch (json_node_get_node_type(node)) {
    case JSON_NODE_NULL:
        g_string_append(out, "null");
        break;
    case JSON_NODE_VALUE: {
        GType t = json_node_get_value_type(node);
        if (t == G_TYPE_STRING) {
            qmp_json_append_string(out, json_node_get_string(node));
        } else if (t == G_TYPE_BOOLEAN) {
            g_string_append(out, json_node_get_boolean(node) ? "true" : "false");
        } else if (t == G_TYPE_DOUBLE || t == G_TYPE_FLOAT) {
            append_double(out, json_node_get_double(node));
        } else {
            g_string_append_printf(out, "%" G_GINT64_FORMAT, json_node_get_int(node));
        }
        break;
    }
    case JSON_NODE_ARRAY: {
        JsonArray *a = json_node_get_array(node);
        guint n = json_array_get_length(a);
        g_string_append_c(out, '[');
        for (guint i = 0; i < n; i++) {
            if (i) {
                g_string_append_c(out, ',');
            }
            qmp_json_append(out, json_array_get_element(a, i), sort_keys);
        }
        g_string_append_c(out, ']');
        break;
    }
    case JSON_NODE_OBJECT: {
        JsonObject *o = json_node_get_object(node);
        GPtrArray *keys = g_ptr_array_new();
        JsonObjectIter it;
        const char *k;
        JsonNode *v;

        json_object_iter_init_ordered(&it, o);
        while (json_object_iter_next_ordered(&it, &k, &v)) {
            g_ptr_array_add(keys, (gpointer)k);
        }
        if (sort_keys) {
            g_ptr_array_sort(keys, cmp_str);
        }
        g_string_append_c(out, '{');
        for (guint i = 0; i < keys->len; i++) {
            const char *key = g_ptr_array_index(keys, i);
            if (i) {
                g_string_append_c(out, ',');
            }
            qmp_json_append_string(out, key);
            g_string_append_c(out, ':');
            qmp_json_append(out, json_object_get_member(o, key), sort_keys);
        }
        g_string_append_c(out, '}');
        g_ptr_array_free(keys, TRUE);
        break;
    }
    }
}

char *qmp_json_to_string(JsonNode *node, bool sort_keys)
{
    GString *s = g_string_new(NULL);
    qmp_json_append(s, node, sort_keys);
    return g_string_free(s, FALSE);
}

JsonNode *qmp_node_str(const char *s)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_string(n, s);
    return n;
}

JsonNode *qmp_node_int(gint64 v)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_int(n, v);
    return n;
}

JsonNode *qmp_node_bool(bool v)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_boolean(n, v);
    return n;
}

JsonNode *qmp_node_object(JsonObject *o)
{
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    return n;
}

JsonNode *qmp_node_array(JsonArray *a)
{
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(n, a);
    return n;
}

JsonNode *qmp_node_empty_object(void)
{
    return qmp_node_object(json_object_new());
}
