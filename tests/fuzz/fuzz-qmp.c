/*
 * libFuzzer target for the QMP input path: streaming splitter (fed in
 * input-dependent chunk sizes) -> dispatch (strict and lenient sessions, a
 * table exercising every argument type) -> response formatting. Every
 * response must be one valid JSON object on one line.
 *
 * Build and run: scripts/fuzz-qmp.sh [runs]
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "qmp/json-splitter.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-events.h"
#include "qmp/qmp-json.h"

static bool h_args(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                   GError **err)
{
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(n, args);
    *ret = n;
    return true;
}

static bool h_fail(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                   GError **err)
{
    qmp_error_set(err, STRATUS_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found",
                  json_object_get_string_member(args, "id"));
    return false;
}

static const char *const mode_values[] = { "a", "b", NULL };
static const QmpType mode_enum = QMP_ENUM_TYPE(mode_values);
static const QmpType str_list = QMP_ARRAY_TYPE(&qmp_type_str);
static const QmpMember inner_m[] = {
    { "driver", &qmp_type_str },
    { "n", &qmp_type_number, .optional = true },
    { NULL }
};
static const QmpType inner = QMP_OBJECT_TYPE(inner_m);
static const QmpMember all_m[] = {
    { "s", &qmp_type_str },
    { "i", &qmp_type_int, .optional = true },
    { "b", &qmp_type_bool, .optional = true },
    { "a", &qmp_type_any, .optional = true },
    { "l", &str_list, .optional = true },
    { "e", &mode_enum, .optional = true },
    { "o", &inner, .optional = true },
    { NULL }
};
static const QmpType all_args = QMP_OBJECT_TYPE(all_m);
static const QmpMember id_m[] = { { "id", &qmp_type_str }, { NULL } };
static const QmpType id_args = QMP_OBJECT_TYPE(id_m);

static const QmpCommand cmds[] = {
    { "qmp_capabilities", qmp_cmd_qmp_capabilities, &qmp_capabilities_args,
      NULL, QMP_CMD_NEGOTIATION },
    { "all", h_args, &all_args, &qmp_type_any },
    { "lenient", h_args, &id_args, &qmp_type_any, QMP_CMD_ALLOW_EXTRA_ARGS },
    { "fail", h_fail, &id_args },
    { "query-commands", qmp_cmd_query_commands, NULL, &qmp_commands_ret },
    { "query-events", qmp_cmd_query_events, NULL, &qmp_events_ret },
    { "query-qmp-schema", qmp_cmd_query_qmp_schema, NULL, &qmp_schema_ret },
    { NULL }
};

static QmpCommandTable *table;

static void check_line(const char *line)
{
    GError *err = NULL;
    JsonNode *n;
    if (strchr(line, '\n') || strchr(line, '\r')) {
        abort();
    }
    for (const char *p = line; *p; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
            abort();                    /* output must be printable ASCII */
        }
    }
    if (strlen(line) > 2048) {
        return;                         /* the schema: re-parsing it is slow */
    }
    n = json_parse_qmp(line, strlen(line), &err);
    if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
        abort();
    }
    json_node_unref(n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    QmpSession sess[2];
    JsonSplitter *sp;
    size_t chunk, off = 0;
    JsonNode *msg;
    GError *err = NULL;

    if (!table) {
        table = qmp_command_table_new();
        qmp_command_table_add(table, cmds);
        qmp_command_table_add_events(table, qmp_standard_events);
    }
    /* chunking varies with the input without consuming any of it */
    chunk = size % 17 + 1;

    qmp_session_init(&sess[0], QMP_MODE_STRICT, NULL);
    qmp_session_init(&sess[1], QMP_MODE_LENIENT, NULL);
    /* small limits so the fuzzer reaches them */
    sp = json_splitter_new(512, 16);
    for (;;) {
        bool got;
        if (off < size) {
            size_t n = MIN(chunk, size - off);
            json_splitter_feed(sp, data + off, n);
            off += n;
        }
        while ((got = json_splitter_next(sp, &msg, &err)) ||
               (off >= size && json_splitter_finish(sp, &msg, &err))) {
            for (int i = 0; i < 2; i++) {
                unsigned flags;
                JsonNode *resp = qmp_dispatch(table, &sess[i], NULL, msg, err, &flags);
                char *line = qmp_format_response(resp);
                check_line(line);
                g_free(line);
                json_node_unref(resp);
            }
            if (msg) {
                json_node_unref(msg);
            }
            g_clear_error(&err);
        }
        if (off >= size) {
            break;
        }
    }
    json_splitter_free(sp);
    return 0;
}
