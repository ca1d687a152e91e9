/*
 * Unit tests for the QMP dispatch core (src/qmp/qmp-dispatch.h): request
 * checking and its exact error texts, id echo, argument validation, the
 * negotiation modes, query-commands / query-qmp-schema / query-events
 * generated from the table, response/greeting/event bytes, the leaky bucket
 * with a fake clock, and SCM/named fd bookkeeping. No Machine is involved:
 * the handlers below get an opaque test context.
 *
 * The second half drives the real server (qmp-server.c) and the machine
 * commands over sockets, with the handful of machine.c functions they call
 * stubbed in this file.
 */
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <glib.h>

#include "qmp/json-splitter.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-events.h"
#include "qmp/qmp-json.h"

typedef struct {
    int calls;
    char *last_cmd;
} TestCtx;

static bool h_echo(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                   GError **err)
{
    TestCtx *t = ctx->opaque;
    t->calls++;
    g_free(t->last_cmd);
    t->last_cmd = g_strdup(ctx->cmd->name);
    {
        JsonNode *n = json_node_new(JSON_NODE_OBJECT);
        json_node_set_object(n, args);       /* adds a reference */
        *ret = n;
    }
    return true;
}

static bool h_status(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                     GError **err)
{
    JsonObject *o = json_object_new();
    ((TestCtx *)ctx->opaque)->calls++;
    json_object_set_string_member(o, "status", "running");
    json_object_set_boolean_member(o, "singlestep", FALSE);
    json_object_set_boolean_member(o, "running", TRUE);
    *ret = qmp_node_object(o);
    return true;
}

static bool h_nothing(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                      GError **err)
{
    ((TestCtx *)ctx->opaque)->calls++;
    return true;
}

static bool h_fail_dev(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                       GError **err)
{
    qmp_error_set(err, STRATUS_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found",
                  json_object_get_string_member(args, "id"));
    return false;
}

static bool h_fail_other(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                         GError **err)
{
    g_set_error_literal(err, G_IO_ERROR, G_IO_ERROR_FAILED, "plain failure");
    return false;
}

static bool h_fail_silent(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                          GError **err)
{
    return false;   /* StratoVirt's "false -> empty desc" */
}

static bool h_take_fd(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                      GError **err)
{
    int fd = qmp_session_take_scm_fd(ctx->session);
    *ret = qmp_node_int(fd >= 0 ? 1 : 0);
    if (fd >= 0) {
        close(fd);
    }
    return true;
}

static const char *const mode_values[] = { "fast", "slow", NULL };
static const QmpType mode_enum = QMP_ENUM_TYPE(mode_values);
static const QmpType str_list = QMP_ARRAY_TYPE(&qmp_type_str);
static const QmpMember file_m[] = {
    { "driver", &qmp_type_str },
    { "direct", &qmp_type_bool, .optional = true },
    { NULL }
};
static const QmpType file_type = QMP_OBJECT_TYPE(file_m);
static const QmpMember typed_m[] = {
    { "s", &qmp_type_str },
    { "i", &qmp_type_int, .optional = true },
    { "b", &qmp_type_bool, .optional = true },
    { "n", &qmp_type_number, .optional = true },
    { "a", &qmp_type_any, .optional = true },
    { "o", &qmp_type_empty, .optional = true },
    { "l", &str_list, .optional = true },
    { "e", &mode_enum, .optional = true },
    { "file", &file_type, .optional = true },
    { NULL }
};
static const QmpType typed_args = QMP_OBJECT_TYPE(typed_m);
static const QmpMember id_m[] = {
    { "id", &qmp_type_str },
    { NULL }
};
static const QmpType id_args = QMP_OBJECT_TYPE(id_m);
static const QmpMember status_m[] = {
    { "running", &qmp_type_bool },
    { "singlestep", &qmp_type_bool },
    { "status", &qmp_type_str },
    { NULL }
};
static const QmpType status_ret = QMP_OBJECT_TYPE(status_m);

static const QmpCommand test_cmds[] = {
    { "qmp_capabilities", qmp_cmd_qmp_capabilities, &qmp_capabilities_args,
      NULL, QMP_CMD_NEGOTIATION },
    { "typed", h_echo, &typed_args, &qmp_type_any },
    { "query-status", h_status, NULL, &status_ret },
    { "stop", h_nothing, .flags = QMP_CMD_EVENTS_FIRST },
    { "lenient", h_nothing, &id_args, NULL, QMP_CMD_ALLOW_EXTRA_ARGS },
    { "fail-dev", h_fail_dev, &id_args },
    { "fail-other", h_fail_other },
    { "fail-silent", h_fail_silent },
    { "take-fd", h_take_fd, NULL, &qmp_type_int },
    { "oob-ok", h_nothing, .flags = QMP_CMD_ALLOW_OOB },
    { "query-commands", qmp_cmd_query_commands, NULL, &qmp_commands_ret },
    { "query-events", qmp_cmd_query_events, NULL, &qmp_events_ret },
    { "query-qmp-schema", qmp_cmd_query_qmp_schema, NULL, &qmp_schema_ret },
    { NULL }
};

typedef struct {
    QmpCommandTable *t;
    QmpSession sess;
    TestCtx ctx;
    unsigned flags;
} Fixture;

static void fx_setup(Fixture *f, QmpMode mode)
{
    memset(f, 0, sizeof(*f));
    f->t = qmp_command_table_new();
    qmp_command_table_add(f->t, test_cmds);
    qmp_command_table_add_events(f->t, qmp_standard_events);
    qmp_session_init(&f->sess, mode, qmp_named_fds_new());
}

static void fx_teardown(Fixture *f)
{
    qmp_session_clear_scm_fds(&f->sess);
    g_hash_table_destroy(f->sess.named_fds);
    qmp_command_table_free(f->t);
    g_free(f->ctx.last_cmd);
}

/* One request (raw bytes) -> one response line. */
static char *req(Fixture *f, const char *in)
{
    JsonSplitter *sp = json_splitter_new(0, 0);
    JsonNode *msg = NULL, *resp;
    GError *err = NULL;
    char *line;

    json_splitter_feed(sp, in, strlen(in));
    if (!json_splitter_next(sp, &msg, &err)) {
        g_assert_true(json_splitter_finish(sp, &msg, &err));
    }
    resp = qmp_dispatch(f->t, &f->sess, &f->ctx, msg, err, &f->flags);
    line = qmp_format_response(resp);
    json_node_unref(resp);
    if (msg) {
        json_node_unref(msg);
    }
    g_clear_error(&err);
    json_splitter_free(sp);
    return line;
}

#define GENERIC(d) "{\"error\":{\"class\":\"GenericError\",\"desc\":\"" d "\"}}"
#define GENERIC_ID(d, id) \
    "{\"error\":{\"class\":\"GenericError\",\"desc\":\"" d "\"},\"id\":" id "}"

static void expect(Fixture *f, const char *in, const char *out)
{
    char *r = req(f, in);
    g_assert_cmpstr(r, ==, out);
    g_free(r);
}

static void test_request_errors(void)
{
    Fixture f;
    fx_setup(&f, QMP_MODE_LENIENT);

    expect(&f, "null", GENERIC("QMP input must be a JSON object"));
    expect(&f, "[1,2]", GENERIC("QMP input must be a JSON object"));
    expect(&f, "5 ", GENERIC("QMP input must be a JSON object"));
    expect(&f, "\"execute\"", GENERIC("QMP input must be a JSON object"));
    expect(&f, "{}", GENERIC("QMP input lacks member 'execute'"));
    expect(&f, "{\"id\":5}", GENERIC_ID("QMP input lacks member 'execute'", "5"));
    expect(&f, "{\"execute\":true}",
           GENERIC("QMP input member 'execute' must be a string"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":[],\"id\":\"a\"}",
           GENERIC_ID("QMP input member 'arguments' must be an object", "\"a\""));
    expect(&f, "{\"execute\":\"typed\",\"extra\":true}",
           GENERIC("QMP input member 'extra' is unexpected"));
    expect(&f, "{\"exec-oob\":\"typed\",\"id\":1}",
           GENERIC_ID("QMP input member 'exec-oob' is unexpected", "1"));
    expect(&f, "{\"execute\":\"no-such-cmd\",\"id\":\"x\"}",
           "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":"
           "\"The command no-such-cmd has not been found\"},\"id\":\"x\"}");
    /* JSON errors: no id */
    expect(&f, "{]", GENERIC("JSON parse error, expecting value"));
    expect(&f, "{\"execute\": }", GENERIC("JSON parse error, expecting value"));
    expect(&f, "{\xff", GENERIC("JSON parse error, stray '\\uFFFD'"));
    expect(&f, "{\x01", GENERIC("JSON parse error, stray '\\u0001'"));
    expect(&f, "{\"id\":1,\"execute\":x}",
           GENERIC("JSON parse error, invalid keyword 'x'"));
    g_assert_cmpint(f.ctx.calls, ==, 0);
    fx_teardown(&f);
}

static void test_argument_errors(void)
{
    Fixture f;
    fx_setup(&f, QMP_MODE_LENIENT);

    expect(&f, "{\"execute\":\"typed\"}", GENERIC("Parameter 's' is missing"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{},\"id\":[1]}",
           GENERIC_ID("Parameter 's' is missing", "[1]"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":1}}",
           GENERIC("Invalid parameter type for 's', expected: string"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":\"\",\"i\":1.5}}",
           GENERIC("Invalid parameter type for 'i', expected: integer"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":\"\",\"b\":\"true\"}}",
           GENERIC("Invalid parameter type for 'b', expected: boolean"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":\"\",\"n\":null}}",
           GENERIC("Invalid parameter type for 'n', expected: number"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":\"\",\"o\":[]}}",
           GENERIC("Invalid parameter type for 'o', expected: object"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":\"\",\"l\":{}}}",
           GENERIC("Invalid parameter type for 'l', expected: array"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":\"\",\"l\":[\"a\",2]}}",
           GENERIC("Invalid parameter type for 'l[1]', expected: string"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":\"\",\"e\":\"medium\"}}",
           GENERIC("Parameter 'e' does not accept value 'medium'"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":\"\",\"e\":3}}",
           GENERIC("Invalid parameter type for 'e', expected: string"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":\"\",\"bogus\":1}}",
           GENERIC("Parameter 'bogus' is unexpected"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":\"\",\"file\":{}}}",
           GENERIC("Parameter 'file.driver' is missing"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":\"\",\"file\":"
               "{\"driver\":\"f\",\"x\":1}}}",
           GENERIC("Parameter 'file.x' is unexpected"));
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":\"\",\"o\":{\"k\":1}}}",
           GENERIC("Parameter 'o.k' is unexpected"));
    /* missing/type errors win over unexpected ones (QEMU visitor order) */
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"zz\":1}}",
           GENERIC("Parameter 's' is missing"));
    /* commands without arguments reject any */
    expect(&f, "{\"execute\":\"query-status\",\"arguments\":{\"x\":1}}",
           GENERIC("Parameter 'x' is unexpected"));
    g_assert_cmpint(f.ctx.calls, ==, 0);

    /* lenient (StratoVirt's list): unknown members ignored, known checked */
    expect(&f, "{\"execute\":\"lenient\",\"arguments\":{\"id\":\"a\",\"x\":1}}",
           "{\"return\":{}}");
    expect(&f, "{\"execute\":\"lenient\",\"arguments\":{\"x\":1}}",
           GENERIC("Parameter 'id' is missing"));
    g_assert_cmpint(f.ctx.calls, ==, 1);

    /* all types accepted */
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":\"x\",\"i\":-3,"
               "\"b\":false,\"n\":2,\"a\":[null],\"o\":{},\"l\":[],\"e\":\"slow\","
               "\"file\":{\"driver\":\"raw\",\"direct\":true}}}",
           "{\"return\":{\"a\":[null],\"b\":false,\"e\":\"slow\",\"file\":"
           "{\"direct\":true,\"driver\":\"raw\"},\"i\":-3,\"l\":[],\"n\":2,"
           "\"o\":{},\"s\":\"x\"}}");
    expect(&f, "{\"execute\":\"typed\",\"arguments\":{\"s\":\"x\",\"n\":0.5}}",
           "{\"return\":{\"n\":0.5,\"s\":\"x\"}}");
    fx_teardown(&f);
}

static void test_id_echo(void)
{
    Fixture f;
    fx_setup(&f, QMP_MODE_LENIENT);
    expect(&f, "{\"execute\":\"stop\",\"id\":\"abc\"}", "{\"return\":{},\"id\":\"abc\"}");
    expect(&f, "{\"execute\":\"stop\",\"id\":1}", "{\"return\":{},\"id\":1}");
    expect(&f, "{\"execute\":\"stop\",\"id\":-2.5}", "{\"return\":{},\"id\":-2.5}");
    expect(&f, "{\"execute\":\"stop\",\"id\":null}", "{\"return\":{},\"id\":null}");
    expect(&f, "{\"execute\":\"stop\",\"id\":true}", "{\"return\":{},\"id\":true}");
    /* objects keep their member order (not sorted like return values) */
    expect(&f, "{\"id\":{\"z\":[1,2],\"a\":{}},\"execute\":\"stop\"}",
           "{\"return\":{},\"id\":{\"z\":[1,2],\"a\":{}}}");
    expect(&f, "{\"execute\":\"stop\",\"id\":[\"x\",{\"y\":1}]}",
           "{\"return\":{},\"id\":[\"x\",{\"y\":1}]}");
    expect(&f, "{'execute':'stop','id':'single\\'q'}",
           "{\"return\":{},\"id\":\"single'q\"}");
    expect(&f, "{\"execute\":\"qmp_capabilities\",\"id\":\"c\"}",
           "{\"return\":{},\"id\":\"c\"}");
    expect(&f, "{\"execute\":\"nope\",\"id\":{\"a\":1}}",
           "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":"
           "\"The command nope has not been found\"},\"id\":{\"a\":1}}");
    fx_teardown(&f);
}

static void test_return_order_and_flags(void)
{
    Fixture f;
    fx_setup(&f, QMP_MODE_LENIENT);
    expect(&f, "{\"execute\":\"query-status\"}",
           "{\"return\":{\"running\":true,\"singlestep\":false,\"status\":\"running\"}}");
    g_assert_cmpuint(f.flags, ==, 0);
    expect(&f, "{\"execute\":\"stop\"}", "{\"return\":{}}");
    g_assert_cmpuint(f.flags & QMP_CMD_EVENTS_FIRST, !=, 0);
    expect(&f, "{\"execute\":\"nope\"}",
           "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":"
           "\"The command nope has not been found\"}}");
    g_assert_cmpuint(f.flags, ==, 0);
    fx_teardown(&f);
}

static void test_handler_errors(void)
{
    Fixture f;
    fx_setup(&f, QMP_MODE_LENIENT);
    expect(&f, "{\"execute\":\"fail-dev\",\"arguments\":{\"id\":\"d0\"},\"id\":3}",
           "{\"error\":{\"class\":\"DeviceNotFound\",\"desc\":"
           "\"Device 'd0' not found\"},\"id\":3}");
    expect(&f, "{\"execute\":\"fail-other\"}", GENERIC("plain failure"));
    expect(&f, "{\"execute\":\"fail-silent\"}", GENERIC(""));
    fx_teardown(&f);
}

static void test_strict_negotiation(void)
{
    Fixture f;
    fx_setup(&f, QMP_MODE_STRICT);
    g_assert_false(qmp_session_wants_events(&f.sess));
    expect(&f, "{\"execute\":\"query-status\"}",
           "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":"
           "\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}");
    expect(&f, "{\"execute\":\"query-status\",\"id\":\"pre\"}",
           "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":"
           "\"Expecting capabilities negotiation with 'qmp_capabilities'\"},"
           "\"id\":\"pre\"}");
    expect(&f, "{\"execute\":\"no-such-cmd\"}",
           "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":"
           "\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}");
    /* malformed input is still diagnosed normally */
    expect(&f, "{}", GENERIC("QMP input lacks member 'execute'"));
    expect(&f, "{\"execute\":\"qmp_capabilities\",\"arguments\":"
               "{\"enable\":[\"cap-does-not-exist\"]}}",
           GENERIC("Parameter 'enable[0]' does not accept value 'cap-does-not-exist'"));
    expect(&f, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}",
           GENERIC("Capability 'oob' not available"));
    expect(&f, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"x\":1}}",
           GENERIC("Parameter 'x' is unexpected"));
    g_assert_false(f.sess.negotiated);
    g_assert_cmpint(f.ctx.calls, ==, 0);

    expect(&f, "{\"execute\":\"qmp_capabilities\",\"id\":1}", "{\"return\":{},\"id\":1}");
    g_assert_true(f.sess.negotiated);
    g_assert_true(qmp_session_wants_events(&f.sess));
    expect(&f, "{\"execute\":\"qmp_capabilities\",\"id\":1}",
           "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":"
           "\"Capabilities negotiation is already complete, command ignored\"},"
           "\"id\":1}");
    expect(&f, "{\"execute\":\"query-status\"}",
           "{\"return\":{\"running\":true,\"singlestep\":false,\"status\":\"running\"}}");
    expect(&f, "{\"execute\":\"no-such-cmd\"}",
           "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":"
           "\"The command no-such-cmd has not been found\"}}");
    fx_teardown(&f);
}

/* QEMU's OOB: offered, negotiated, then exec-oob for commands that allow it. */
static void test_oob_negotiation(void)
{
    Fixture f;

    fx_setup(&f, QMP_MODE_STRICT);
    f.sess.oob_offered = true;
    expect(&f, "{\"exec-oob\":\"oob-ok\",\"id\":1}",
           GENERIC_ID("QMP input member 'exec-oob' is unexpected", "1"));
    expect(&f, "{\"execute\":\"qmp_capabilities\",\"arguments\":"
               "{\"enable\":[\"cap-does-not-exist\"]}}",
           GENERIC("Parameter 'enable[0]' does not accept value 'cap-does-not-exist'"));
    g_assert_false(f.sess.negotiated);
    expect(&f, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}",
           "{\"return\":{}}");
    g_assert_true(f.sess.oob_enabled);
    expect(&f, "{\"exec-oob\":\"oob-ok\",\"id\":\"o1\"}", "{\"return\":{},\"id\":\"o1\"}");
    expect(&f, "{\"exec-oob\":\"query-status\",\"id\":2}",
           GENERIC_ID("The command query-status does not support OOB", "2"));
    expect(&f, "{\"exec-oob\":\"nope\"}",
           "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":"
           "\"The command nope has not been found\"}}");
    expect(&f, "{\"exec-oob\":\"oob-ok\",\"execute\":\"oob-ok\"}",
           GENERIC("QMP input member 'execute' clashes with 'exec-oob'"));
    expect(&f, "{\"execute\":\"oob-ok\",\"exec-oob\":\"oob-ok\"}",
           GENERIC("QMP input member 'execute' clashes with 'exec-oob'"));
    expect(&f, "{\"exec-oob\":1}", GENERIC("QMP input member 'exec-oob' must be a string"));
    /* In-band commands are unchanged, OOB-capable ones included. */
    expect(&f, "{\"execute\":\"oob-ok\"}", "{\"return\":{}}");
    fx_teardown(&f);

    /* Without the offer (lenient mode, stdio), nothing can be enabled. */
    fx_setup(&f, QMP_MODE_STRICT);
    expect(&f, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}",
           GENERIC("Capability 'oob' not available"));
    expect(&f, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[]}}",
           "{\"return\":{}}");
    g_assert_false(f.sess.oob_enabled);
    fx_teardown(&f);
}

static void test_lenient_mode(void)
{
    Fixture f;
    fx_setup(&f, QMP_MODE_LENIENT);
    g_assert_true(qmp_session_wants_events(&f.sess));
    expect(&f, "{\"execute\":\"query-status\"}",
           "{\"return\":{\"running\":true,\"singlestep\":false,\"status\":\"running\"}}");
    expect(&f, "{\"execute\":\"qmp_capabilities\"}", "{\"return\":{}}");
    expect(&f, "{\"execute\":\"qmp_capabilities\"}", "{\"return\":{}}");
    expect(&f, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[]}}",
           "{\"return\":{}}");
    fx_teardown(&f);
}

static void test_query_commands(void)
{
    Fixture f;
    char *r;
    GString *exp = g_string_new("{\"return\":[");
    fx_setup(&f, QMP_MODE_LENIENT);
    for (const QmpCommand *c = test_cmds; c->name; c++) {
        g_string_append_printf(exp, "%s{\"name\":\"%s\"}",
                               c == test_cmds ? "" : ",", c->name);
    }
    g_string_append(exp, "]}");
    r = req(&f, "{\"execute\":\"query-commands\"}");
    g_assert_cmpstr(r, ==, exp->str);
    g_free(r);
    g_string_free(exp, TRUE);

    expect(&f, "{\"execute\":\"query-events\"}",
           "{\"return\":[{\"name\":\"SHUTDOWN\"},{\"name\":\"RESET\"},"
           "{\"name\":\"STOP\"},{\"name\":\"RESUME\"},{\"name\":\"POWERDOWN\"},"
           "{\"name\":\"DEVICE_DELETED\"},{\"name\":\"BALLOON_CHANGED\"},"
           "{\"name\":\"GUEST_PANICKED\"},{\"name\":\"GUEST_CRASHLOADED\"},"
           "{\"name\":\"RTC_CHANGE\"},{\"name\":\"DUMP_COMPLETED\"}]}");
    fx_teardown(&f);
}

static void test_table_replace(void)
{
    static const QmpCommand over[] = {
        { "query-status", h_nothing },
        { "new-one", h_nothing },
        { NULL }
    };
    Fixture f;
    fx_setup(&f, QMP_MODE_LENIENT);
    guint n = qmp_command_table_size(f.t);
    qmp_command_table_add(f.t, over);
    g_assert_cmpuint(qmp_command_table_size(f.t), ==, n + 1);
    g_assert_true(qmp_command_table_find(f.t, "query-status") == &over[0]);
    expect(&f, "{\"execute\":\"query-status\"}", "{\"return\":{}}");
    fx_teardown(&f);
}

/* Every command in the table appears in the schema with resolvable types and
 * arg-type members matching its argument schema. */
static void test_schema_consistency(void)
{
    Fixture f;
    GError *err = NULL;
    char *r;
    JsonNode *resp;
    JsonArray *ents;
    GHashTable *byname = g_hash_table_new(g_str_hash, g_str_equal);
    unsigned ncmd = 0, nev = 0;

    fx_setup(&f, QMP_MODE_LENIENT);
    r = req(&f, "{\"execute\":\"query-qmp-schema\"}");
    resp = json_parse_qmp(r, strlen(r), &err);
    g_assert_no_error(err);
    ents = json_object_get_array_member(json_node_get_object(resp), "return");
    for (guint i = 0; i < json_array_get_length(ents); i++) {
        JsonObject *e = json_array_get_object_element(ents, i);
        const char *name = json_object_get_string_member(e, "name");
        g_assert_false(g_hash_table_contains(byname, name));
        g_hash_table_insert(byname, (gpointer)name, e);
    }
    /* "0" is the empty object, as in QEMU */
    {
        JsonObject *zero = g_hash_table_lookup(byname, "0");
        g_assert_nonnull(zero);
        g_assert_cmpstr(json_object_get_string_member(zero, "meta-type"), ==, "object");
        g_assert_cmpuint(json_array_get_length(
            json_object_get_array_member(zero, "members")), ==, 0);
    }
    for (guint i = 0; i < json_array_get_length(ents); i++) {
        JsonObject *e = json_array_get_object_element(ents, i);
        const char *mt = json_object_get_string_member(e, "meta-type");
        if (!strcmp(mt, "command")) {
            const char *name = json_object_get_string_member(e, "name");
            const QmpCommand *c = qmp_command_table_find(f.t, name);
            JsonObject *arg;
            JsonArray *members;
            unsigned nm = 0;
            g_assert_nonnull(c);
            ncmd++;
            arg = g_hash_table_lookup(byname, json_object_get_string_member(e, "arg-type"));
            g_assert_nonnull(arg);
            g_assert_nonnull(g_hash_table_lookup(byname,
                json_object_get_string_member(e, "ret-type")));
            g_assert_cmpstr(json_object_get_string_member(arg, "meta-type"), ==, "object");
            members = json_object_get_array_member(arg, "members");
            for (const QmpMember *m = c->args ? c->args->members : NULL;
                 m && m->name; m++, nm++) {
                JsonObject *jm = json_array_get_object_element(members, nm);
                g_assert_cmpstr(json_object_get_string_member(jm, "name"), ==, m->name);
                g_assert_cmpint(json_object_has_member(jm, "default"), ==, m->optional);
                g_assert_nonnull(g_hash_table_lookup(byname,
                    json_object_get_string_member(jm, "type")));
            }
            g_assert_cmpuint(json_array_get_length(members), ==, nm);
        } else if (!strcmp(mt, "event")) {
            nev++;
            g_assert_nonnull(g_hash_table_lookup(byname,
                json_object_get_string_member(e, "arg-type")));
        } else if (!strcmp(mt, "array")) {
            g_assert_nonnull(g_hash_table_lookup(byname,
                json_object_get_string_member(e, "element-type")));
        } else if (!strcmp(mt, "enum")) {
            g_assert_cmpuint(json_array_get_length(json_object_get_array_member(e, "values")),
                             ==, json_array_get_length(json_object_get_array_member(e, "members")));
        } else if (!strcmp(mt, "builtin")) {
            g_assert_true(json_object_has_member(e, "json-type"));
        } else {
            g_assert_cmpstr(mt, ==, "object");
        }
    }
    g_assert_cmpuint(ncmd, ==, qmp_command_table_size(f.t));
    g_assert_cmpuint(nev, ==, 11);
    /* spot checks */
    {
        JsonObject *q = g_hash_table_lookup(byname, "query-status");
        JsonObject *ret = g_hash_table_lookup(byname,
            json_object_get_string_member(q, "ret-type"));
        g_assert_cmpstr(json_object_get_string_member(q, "arg-type"), ==, "0");
        g_assert_cmpuint(json_array_get_length(
            json_object_get_array_member(ret, "members")), ==, 3);
        JsonObject *s = g_hash_table_lookup(byname, "str");
        g_assert_cmpstr(json_object_get_string_member(s, "json-type"), ==, "string");
        g_assert_nonnull(g_hash_table_lookup(byname, "[str]"));
    }
    g_hash_table_destroy(byname);
    json_node_unref(resp);
    g_free(r);
    fx_teardown(&f);
}

static void test_greeting(void)
{
    char *g = qmp_format_greeting(QMP_GREETING_QEMU, "1.2.3", false);
    g_assert_cmpstr(g, ==, "{\"QMP\":{\"version\":{\"qemu\":{\"micro\":1,\"minor\":0,"
                           "\"major\":5},\"package\":\"Stratus-1.2.3\"},"
                           "\"capabilities\":[]}}");
    g_free(g);
    g = qmp_format_greeting(QMP_GREETING_QEMU, "1.2.3", true);
    g_assert_cmpstr(g, ==, "{\"QMP\":{\"version\":{\"qemu\":{\"micro\":1,\"minor\":0,"
                           "\"major\":5},\"package\":\"Stratus-1.2.3\"},"
                           "\"capabilities\":[\"oob\"]}}");
    g_free(g);
    g = qmp_format_greeting(QMP_GREETING_LEGACY, "1.2.3", false);
    g_assert_cmpstr(g, ==, "{\"QMP\":{\"version\":{\"StratoVirt\":{\"micro\":1,"
                           "\"minor\":0,\"major\":0},\"package\":\"\"},"
                           "\"capabilities\":[]}}");
    g_free(g);
}

static void test_event_format(void)
{
    JsonObject *d = json_object_new();
    JsonNode *data;
    char *e;

    e = qmp_format_event("STOP", NULL, 1583908726162739LL);
    g_assert_cmpstr(e, ==, "{\"event\":\"STOP\",\"data\":{},\"timestamp\":"
                           "{\"seconds\":1583908726,\"microseconds\":162739}}");
    g_free(e);
    json_object_set_boolean_member(d, "guest", FALSE);
    json_object_set_string_member(d, "reason", "host-qmp-quit");
    data = qmp_node_object(d);
    e = qmp_format_event("SHUTDOWN", data, 1590563776519808LL);
    g_assert_cmpstr(e, ==, "{\"event\":\"SHUTDOWN\",\"data\":{\"guest\":false,"
                           "\"reason\":\"host-qmp-quit\"},\"timestamp\":"
                           "{\"seconds\":1590563776,\"microseconds\":519808}}");
    g_free(e);
    json_node_unref(data);
    /* data members keep the emitter's order */
    d = json_object_new();
    json_object_set_string_member(d, "path", "p");
    json_object_set_string_member(d, "device", "d");
    data = qmp_node_object(d);
    e = qmp_format_event("DEVICE_DELETED", data, 5);
    g_assert_cmpstr(e, ==, "{\"event\":\"DEVICE_DELETED\",\"data\":{\"path\":\"p\","
                           "\"device\":\"d\"},\"timestamp\":{\"seconds\":0,"
                           "\"microseconds\":5}}");
    g_free(e);
    json_node_unref(data);
}

static void test_rate_limiter(void)
{
    QmpRateLimiter r;
    gint64 t = 1000000000;

    qmp_rate_limiter_init(&r, QMP_RATE_LIMIT);
    for (int i = 0; i < QMP_RATE_LIMIT; i++) {
        g_assert_true(qmp_rate_limiter_admit(&r, t));
    }
    g_assert_false(qmp_rate_limiter_admit(&r, t));
    g_assert_false(qmp_rate_limiter_admit(&r, t + 9999));
    g_assert_cmpint(qmp_rate_limiter_delay(&r, t + 9999), ==, 1);
    /* 10 ms later there is room for exactly one more */
    g_assert_true(qmp_rate_limiter_admit(&r, t + 10000));
    g_assert_false(qmp_rate_limiter_admit(&r, t + 10000));
    g_assert_cmpint(qmp_rate_limiter_delay(&r, t + 10000), ==, 10000);
    /* after a quiet second the whole burst is available again */
    t += 2 * G_USEC_PER_SEC;
    g_assert_cmpint(qmp_rate_limiter_delay(&r, t), ==, 0);
    for (int i = 0; i < QMP_RATE_LIMIT; i++) {
        g_assert_true(qmp_rate_limiter_admit(&r, t));
    }
    g_assert_false(qmp_rate_limiter_admit(&r, t));
    /* steady 100/s is sustainable */
    for (int i = 0; i < 500; i++) {
        t += 10000;
        g_assert_true(qmp_rate_limiter_admit(&r, t));
    }
    /* a clock going backwards never admits more than the capacity */
    g_assert_false(qmp_rate_limiter_admit(&r, t - 5000000));
}

/* rate-limit=N for other N: a burst of N, then one every 1/N s; 0 is no limit. */
static void test_rate_limiter_rates(void)
{
    QmpRateLimiter r;
    gint64 t = 5000000;

    qmp_rate_limiter_init(&r, 3);
    for (int i = 0; i < 3; i++) {
        g_assert_true(qmp_rate_limiter_admit(&r, t));
    }
    g_assert_false(qmp_rate_limiter_admit(&r, t));
    /* 1/3 s, rounded up to the microsecond */
    g_assert_cmpint(qmp_rate_limiter_delay(&r, t), ==, 333334);
    g_assert_false(qmp_rate_limiter_admit(&r, t + 333333));
    g_assert_true(qmp_rate_limiter_admit(&r, t + 333334));
    /* hours of silence: no overflow, just a full budget */
    t += (gint64)G_USEC_PER_SEC * 3600 * 24 * 365;
    for (int i = 0; i < 3; i++) {
        g_assert_true(qmp_rate_limiter_admit(&r, t));
    }
    g_assert_false(qmp_rate_limiter_admit(&r, t));

    qmp_rate_limiter_init(&r, MONITOR_RATE_LIMIT_MAX);
    for (int i = 0; i < MONITOR_RATE_LIMIT_MAX; i++) {
        g_assert_true(qmp_rate_limiter_admit(&r, t));
    }
    g_assert_false(qmp_rate_limiter_admit(&r, t));
    g_assert_true(qmp_rate_limiter_admit(&r, t + 1));

    qmp_rate_limiter_init(&r, 0);
    for (int i = 0; i < 100000; i++) {
        g_assert_true(qmp_rate_limiter_admit(&r, t));
    }
    g_assert_cmpint(qmp_rate_limiter_delay(&r, t), ==, 0);
}

static void test_scm_fds(void)
{
    Fixture f;
    int p[2], q[2];
    int *fds;

    fx_setup(&f, QMP_MODE_LENIENT);
    expect(&f, "{\"execute\":\"take-fd\"}", "{\"return\":0}");
    g_assert_cmpint(pipe(p), ==, 0);
    g_assert_cmpint(pipe(q), ==, 0);
    fds = g_new(int, 2);
    fds[0] = p[0];
    fds[1] = p[1];
    qmp_session_set_scm_fds(&f.sess, fds, 2);
    g_assert_cmpint(qmp_session_take_scm_fd(&f.sess), ==, p[1]);   /* the last */
    close(p[1]);
    /* new fds replace (and close) unconsumed ones */
    fds = g_new(int, 1);
    fds[0] = q[0];
    qmp_session_set_scm_fds(&f.sess, fds, 1);
    g_assert_cmpint(fcntl(p[0], F_GETFD), ==, -1);
    expect(&f, "{\"execute\":\"take-fd\"}", "{\"return\":1}");
    expect(&f, "{\"execute\":\"take-fd\"}", "{\"return\":0}");

    /* named fds */
    g_hash_table_insert(f.sess.named_fds, g_strdup("fd1"), GINT_TO_POINTER(q[1]));
    g_assert_cmpint(qmp_session_take_named_fd(&f.sess, "nope"), ==, -1);
    g_assert_cmpint(qmp_session_take_named_fd(&f.sess, "fd1"), ==, q[1]);
    g_assert_cmpint(qmp_session_take_named_fd(&f.sess, "fd1"), ==, -1);
    close(q[1]);
    fx_teardown(&f);
}


/* ======================================================================== */
/* The server over real sockets (qmp-server.c + qmp-commands-machine.c),    */
/* with the few machine.c functions it calls stubbed here.                  */

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "machine.h"
#include "qmp/qmp.h"
#include "qmp/qmp-commands.h"
#include "net/net.h"

static gint64 fake_mono_us;
static gint64 fake_clock(void *opaque)
{
    return fake_mono_us;
}
static gint64 fake_wall(void *opaque)
{
    return 1583908726162739LL;
}

const char *runstate_name(RunState st)
{
    static const char *const n[] = { "prelaunch", "running", "paused", "shutdown",
                                     "internal-error", "guest-panicked" };
    return st < G_N_ELEMENTS(n) ? n[st] : "unknown";
}

const ChardevConfig *config_find_chardev(const StratusConfig *cfg, const char *id)
{
    for (guint i = 0; i < cfg->chardevs->len; i++) {
        const ChardevConfig *c = g_ptr_array_index(cfg->chardevs, i);
        if (!strcmp(c->id, id)) {
            return c;
        }
    }
    return NULL;
}

void machine_emit_event(Machine *m, const char *name, JsonNode *data)
{
    qmp_server_emit_event(m->qmp, name, data);
}

bool machine_pause(Machine *m, GError **err)
{
    if (m->runstate != RUN_STATE_RUNNING) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED, "VM is not running");
        return false;
    }
    m->runstate = RUN_STATE_PAUSED;
    machine_emit_event(m, "STOP", NULL);
    return true;
}

bool machine_resume(Machine *m, GError **err)
{
    if (m->runstate == RUN_STATE_RUNNING) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED, "VM is already running");
        return false;
    }
    m->runstate = RUN_STATE_RUNNING;
    machine_emit_event(m, "RESUME", NULL);
    return true;
}

void machine_system_reset(Machine *m)
{
}

void machine_powerdown(Machine *m)
{
    machine_emit_event(m, "POWERDOWN", NULL);
}

static gboolean stub_shutdown(gpointer opaque)
{
    Machine *m = opaque;
    JsonObject *d = json_object_new();
    json_object_set_boolean_member(d, "guest", FALSE);
    json_object_set_string_member(d, "reason", "host-qmp-quit");
    machine_emit_event(m, "SHUTDOWN", qmp_node_object(d));
    return G_SOURCE_REMOVE;
}

/* Like machine.c: record, then emit SHUTDOWN from the main loop. */
void machine_request_shutdown(Machine *m, ShutdownReason reason)
{
    GSource *src;
    if (m->shutdown_request != SHUTDOWN_NONE) {
        return;
    }
    m->shutdown_request = reason;
    src = g_idle_source_new();
    g_source_set_callback(src, stub_shutdown, m, NULL);
    g_source_attach(src, m->ctx);
    g_source_unref(src);
}

typedef struct {
    StratusConfig cfg;
    ChardevConfig chr;
    MonitorConfig mon;
    Machine m;
    int client;             /* our end of the socketpair, or a unix client */
    GString *in;
    char *dir;
} Srv;

/* rate: the monitor's rate-limit (-1: the parser's default for the mode). */
static void srv_start_rate(Srv *t, QmpMode mode, QmpGreeting greeting, const char *path,
                           int rate)
{
    GError *err = NULL;
    int sv[2];

    memset(t, 0, sizeof(*t));
    t->cfg.chardevs = g_ptr_array_new();
    t->cfg.monitors = g_ptr_array_new();
    t->chr.id = (char *)"mon";
    t->chr.kind = CHARDEV_SOCKET;
    t->chr.port = -1;
    t->chr.fd = -1;
    t->client = -1;
    if (path) {
        t->chr.path = (char *)path;
        t->chr.server = true;
        t->chr.nowait = true;
    } else {
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
        t->chr.fd = sv[1];
        t->client = sv[0];
    }
    t->mon.id = (char *)"monitor0";
    t->mon.chardev = (char *)"mon";
    t->mon.mode = mode;
    t->mon.greeting = greeting;
    /* What the option parser resolves: StratoVirt's 100/s in lenient mode only. */
    t->mon.rate_limit = rate >= 0 ? (unsigned)rate
                                  : mode == QMP_MODE_LENIENT ? QMP_RATE_LIMIT : 0;
    g_ptr_array_add(t->cfg.chardevs, &t->chr);
    g_ptr_array_add(t->cfg.monitors, &t->mon);
    t->cfg.smp = (SmpConfig){ .cpus = 2, .maxcpus = 3, .sockets = 3, .dies = 1,
                              .clusters = 1, .cores = 1, .threads = 1 };
    t->m.cfg = &t->cfg;
    t->m.ctx = g_main_context_new();
    t->m.vcpus = g_ptr_array_new();
    t->m.runstate = RUN_STATE_RUNNING;
    t->in = g_string_new(NULL);
    g_assert_true(g_main_context_acquire(t->m.ctx));
    t->m.qmp = qmp_server_new(&t->m, &err);
    g_assert_no_error(err);
    g_assert_nonnull(t->m.qmp);
    fake_mono_us = 1000000;
    qmp_server_set_clock(t->m.qmp, fake_clock, fake_wall, NULL);
}

static void srv_start(Srv *t, QmpMode mode, QmpGreeting greeting, const char *path)
{
    srv_start_rate(t, mode, greeting, path, -1);
}

static void srv_stop(Srv *t)
{
    qmp_server_free(t->m.qmp);
    if (t->client >= 0) {
        close(t->client);
    }
    while (g_main_context_iteration(t->m.ctx, FALSE)) {
    }
    g_main_context_release(t->m.ctx);
    g_main_context_unref(t->m.ctx);
    g_ptr_array_free(t->cfg.chardevs, TRUE);
    g_ptr_array_free(t->cfg.monitors, TRUE);
    g_ptr_array_free(t->m.vcpus, TRUE);
    g_string_free(t->in, TRUE);
}

static void srv_spin(Srv *t)
{
    for (int i = 0; i < 10; i++) {
        g_main_context_iteration(t->m.ctx, FALSE);
    }
}

static void srv_send(Srv *t, const void *buf, size_t len)
{
    g_assert_cmpint(send(t->client, buf, len, MSG_NOSIGNAL), ==, (ssize_t)len);
}

static void srv_sends(Srv *t, const char *s)
{
    srv_send(t, s, strlen(s));
}

/* Next line including its "\r\n" (NULL on timeout or EOF). */
static char *srv_line_timeout(Srv *t, int ms)
{
    gint64 deadline = g_get_monotonic_time() + ms * 1000;
    for (;;) {
        char *nl = strstr(t->in->str, "\r\n");
        char buf[65536];
        ssize_t n;
        if (nl) {
            size_t len = nl - t->in->str + 2;
            char *line = g_strndup(t->in->str, len);
            g_string_erase(t->in, 0, len);
            return line;
        }
        if (g_get_monotonic_time() > deadline) {
            return NULL;
        }
        g_main_context_iteration(t->m.ctx, FALSE);
        n = recv(t->client, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0) {
            return NULL;
        }
        if (n > 0) {
            g_string_append_len(t->in, buf, n);
        } else {
            g_usleep(200);
        }
    }
}

static char *srv_line(Srv *t)
{
    char *l = srv_line_timeout(t, 2000);
    g_assert_nonnull(l);
    return l;
}

static void srv_expect(Srv *t, const char *expect)
{
    char *l = srv_line(t);
    g_assert_cmpstr(l, ==, expect);
    g_free(l);
}

static void srv_expect_nothing(Srv *t)
{
    char *l = srv_line_timeout(t, 100);
    g_assert_null(l);
}

#define GREETING_QEMU "{\"QMP\":{\"version\":{\"qemu\":{\"micro\":1,\"minor\":0," \
    "\"major\":5},\"package\":\"Stratus-" STRATUS_VERSION "\"},\"capabilities\":[]}}\r\n"
/* Strict mode on a socket offers OOB, as QEMU's monitor in its I/O thread. */
#define GREETING_QEMU_OOB "{\"QMP\":{\"version\":{\"qemu\":{\"micro\":1,\"minor\":0," \
    "\"major\":5},\"package\":\"Stratus-" STRATUS_VERSION "\"},\"capabilities\":[\"oob\"]}}\r\n"
#define TS "\"timestamp\":{\"seconds\":1583908726,\"microseconds\":162739}}\r\n"

static void test_server_greeting_and_framing(void)
{
    Srv t;
    srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, NULL);
    srv_expect(&t, GREETING_QEMU);
    /* two requests in one write, no newline */
    srv_sends(&t, "{\"execute\":\"query-status\"}{\"execute\":\"query-name\",\"id\":1}");
    srv_expect(&t, "{\"return\":{\"running\":true,\"singlestep\":false,"
                   "\"status\":\"running\"}}\r\n");
    srv_expect(&t, "{\"return\":{},\"id\":1}\r\n");
    /* one request split over reads */
    srv_sends(&t, "{\"execute\":\"query-t");
    srv_spin(&t);
    srv_expect_nothing(&t);
    srv_sends(&t, "arget\"}");
    srv_expect(&t, "{\"return\":{\"arch\":\"x86_64\"}}\r\n");
    /* errors keep the connection usable */
    srv_sends(&t, "{]\n{\"execute\":\"no-such\"}");
    srv_expect(&t, "{\"error\":{\"class\":\"GenericError\",\"desc\":"
                   "\"JSON parse error, expecting value\"}}\r\n");
    srv_expect(&t, "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":"
                   "\"The command no-such has not been found\"}}\r\n");
    srv_stop(&t);

    srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_LEGACY, NULL);
    srv_expect(&t, "{\"QMP\":{\"version\":{\"StratoVirt\":{\"micro\":1,\"minor\":0,"
                   "\"major\":0},\"package\":\"\"},\"capabilities\":[]}}\r\n");
    srv_stop(&t);
}

static void test_server_big_message(void)
{
    Srv t;
    GString *big = g_string_new("{\"execute\":\"query-name\",\"arguments\":{\"x\":\"");
    srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, NULL);
    srv_expect(&t, GREETING_QEMU);
    while (big->len < (1 << 20)) {
        g_string_append(big, "0123456789abcdef");
    }
    g_string_append(big, "\"}}{\"execute\":\"query-name\",\"id\":\"after\"}");
    /* the socket buffer is smaller than 1 MiB: feed and serve alternately */
    for (size_t off = 0; off < big->len;) {
        ssize_t n = send(t.client, big->str + off, MIN(big->len - off, 65536),
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += n;
        }
        srv_spin(&t);
    }
    srv_expect(&t, "{\"error\":{\"class\":\"GenericError\",\"desc\":"
                   "\"The socket message is too long.\"}}\r\n");
    srv_expect(&t, "{\"return\":{},\"id\":\"after\"}\r\n");
    g_string_free(big, TRUE);
    srv_stop(&t);
}

static void test_server_event_order(void)
{
    Srv t;
    srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, NULL);
    srv_expect(&t, GREETING_QEMU);
    /* stop/cont: the event first (as the seeds show) */
    srv_sends(&t, "{\"execute\":\"stop\"}");
    srv_expect(&t, "{\"event\":\"STOP\",\"data\":{}," TS);
    srv_expect(&t, "{\"return\":{}}\r\n");
    srv_sends(&t, "{\"execute\":\"stop\"}");
    srv_expect(&t, "{\"error\":{\"class\":\"GenericError\",\"desc\":"
                   "\"VM is not running\"}}\r\n");
    srv_sends(&t, "{\"execute\":\"cont\",\"id\":2}");
    srv_expect(&t, "{\"event\":\"RESUME\",\"data\":{}," TS);
    srv_expect(&t, "{\"return\":{},\"id\":2}\r\n");
    /* other events caused by a command follow its reply */
    srv_sends(&t, "{\"execute\":\"system_powerdown\"}");
    srv_expect(&t, "{\"return\":{}}\r\n");
    srv_expect(&t, "{\"event\":\"POWERDOWN\",\"data\":{}," TS);
    /* an event outside a command goes out at once */
    qmp_server_emit_event(t.m.qmp, "RESET", NULL);
    srv_expect(&t, "{\"event\":\"RESET\",\"data\":{}," TS);
    /* quit: reply, SHUTDOWN, and input after it is not served */
    srv_sends(&t, "{\"execute\":\"quit\"}{\"execute\":\"query-name\"}");
    srv_expect(&t, "{\"return\":{}}\r\n");
    srv_expect(&t, "{\"event\":\"SHUTDOWN\",\"data\":{\"guest\":false,"
                   "\"reason\":\"host-qmp-quit\"}," TS);
    srv_expect_nothing(&t);
    srv_stop(&t);
}

static gpointer emit_from_thread(gpointer opaque)
{
    Srv *t = opaque;
    qmp_server_emit_event(t->m.qmp, "STOP", NULL);
    return NULL;
}

static void test_server_thread_event(void)
{
    Srv t;
    GThread *th;
    srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, NULL);
    srv_expect(&t, GREETING_QEMU);
    th = g_thread_new("vcpu", emit_from_thread, &t);
    g_thread_join(th);
    srv_expect(&t, "{\"event\":\"STOP\",\"data\":{}," TS);
    srv_stop(&t);
}

static void test_server_strict_events(void)
{
    Srv t;
    srv_start(&t, QMP_MODE_STRICT, QMP_GREETING_QEMU, NULL);
    srv_expect(&t, GREETING_QEMU_OOB);
    qmp_server_emit_event(t.m.qmp, "RESET", NULL);
    srv_sends(&t, "{\"execute\":\"stop\"}");
    srv_expect(&t, "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":"
                   "\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}\r\n");
    srv_sends(&t, "{\"execute\":\"qmp_capabilities\"}");
    srv_expect(&t, "{\"return\":{}}\r\n");
    qmp_server_emit_event(t.m.qmp, "RESET", NULL);
    srv_expect(&t, "{\"event\":\"RESET\",\"data\":{}," TS);
    srv_stop(&t);
}

/*
 * In-band requests read together with an exec-oob one wait for it; without
 * OOB enabled everything is served in order.
 */
static void test_server_oob_order(void)
{
    Srv t;
    const char *batch = "{\"execute\":\"query-name\",\"id\":1}"
                        "{\"execute\":\"query-uuid\",\"id\":2}"
                        "{\"exec-oob\":\"migrate-pause\",\"id\":3}";

    srv_start(&t, QMP_MODE_STRICT, QMP_GREETING_QEMU, NULL);
    srv_expect(&t, GREETING_QEMU_OOB);
    srv_sends(&t, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}");
    srv_expect(&t, "{\"return\":{}}\r\n");
    srv_sends(&t, batch);
    srv_expect(&t, "{\"error\":{\"class\":\"GenericError\",\"desc\":\"migrate-pause is "
                   "currently only supported during postcopy-active state\"},\"id\":3}\r\n");
    srv_expect(&t, "{\"return\":{},\"id\":1}\r\n");
    srv_expect(&t, "{\"return\":{\"UUID\":\"00000000-0000-0000-0000-000000000000\"},"
                   "\"id\":2}\r\n");
    srv_stop(&t);

    srv_start(&t, QMP_MODE_STRICT, QMP_GREETING_QEMU, NULL);
    srv_expect(&t, GREETING_QEMU_OOB);
    srv_sends(&t, "{\"execute\":\"qmp_capabilities\"}");
    srv_expect(&t, "{\"return\":{}}\r\n");
    srv_sends(&t, batch);
    srv_expect(&t, "{\"return\":{},\"id\":1}\r\n");
    srv_expect(&t, "{\"return\":{\"UUID\":\"00000000-0000-0000-0000-000000000000\"},"
                   "\"id\":2}\r\n");
    srv_expect(&t, "{\"error\":{\"class\":\"GenericError\",\"desc\":"
                   "\"QMP input member 'exec-oob' is unexpected\"},\"id\":3}\r\n");
    srv_stop(&t);
}

static void test_server_throttle(void)
{
    Srv t;
    GString *burst = g_string_new(NULL);
    srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, NULL);
    srv_expect(&t, GREETING_QEMU);
    for (int i = 0; i < 102; i++) {
        g_string_append_printf(burst, "{\"execute\":\"query-name\",\"id\":%d}", i);
    }
    srv_send(&t, burst->str, burst->len);
    for (int i = 0; i < 100; i++) {
        char *exp = g_strdup_printf("{\"return\":{},\"id\":%d}\r\n", i);
        srv_expect(&t, exp);
        g_free(exp);
    }
    /* the excess requests get the error (with their id); nothing else lost */
    srv_expect(&t, "{\"error\":{\"class\":\"OperationThrottled\",\"desc\":"
                   "\"More than 100 requests received during 1 second\"},\"id\":100}\r\n");
    srv_expect(&t, "{\"error\":{\"class\":\"OperationThrottled\",\"desc\":"
                   "\"More than 100 requests received during 1 second\"},\"id\":101}\r\n");
    srv_sends(&t, "{\"execute\":\"query-name\"}");
    srv_expect(&t, "{\"error\":{\"class\":\"OperationThrottled\",\"desc\":"
                   "\"More than 100 requests received during 1 second\"}}\r\n");
    fake_mono_us += 10000;      /* 10 ms: room for one */
    srv_sends(&t, "{\"execute\":\"query-name\",\"id\":\"a\"}{\"execute\":\"query-name\",\"id\":\"b\"}");
    srv_expect(&t, "{\"return\":{},\"id\":\"a\"}\r\n");
    srv_expect(&t, "{\"error\":{\"class\":\"OperationThrottled\",\"desc\":"
                   "\"More than 100 requests received during 1 second\"},\"id\":\"b\"}\r\n");
    fake_mono_us += G_USEC_PER_SEC;
    srv_sends(&t, "{\"execute\":\"query-status\"}");
    srv_expect(&t, "{\"return\":{\"running\":true,\"singlestep\":false,"
                   "\"status\":\"running\"}}\r\n");
    g_string_free(burst, TRUE);
    srv_stop(&t);
}

/* A burst of n query-name requests in one write; returns how many were throttled. */
static int srv_burst(Srv *t, int n, const char *throttled_desc)
{
    GString *burst = g_string_new(NULL);
    int throttled = 0;

    for (int i = 0; i < n; i++) {
        g_string_append_printf(burst, "{\"execute\":\"query-name\",\"id\":%d}", i);
    }
    srv_send(t, burst->str, burst->len);
    for (int i = 0; i < n; i++) {
        char *ok = g_strdup_printf("{\"return\":{},\"id\":%d}\r\n", i);
        char *no = g_strdup_printf("{\"error\":{\"class\":\"OperationThrottled\","
                                   "\"desc\":\"%s\"},\"id\":%d}\r\n",
                                   throttled_desc ? throttled_desc : "", i);
        char *line = srv_line(t);
        if (strcmp(line, ok) != 0) {
            g_assert_cmpstr(line, ==, no);
            throttled++;
        }
        g_free(line);
        g_free(ok);
        g_free(no);
    }
    g_string_free(burst, TRUE);
    return throttled;
}

/*
 * rate-limit: strict mode has none by default (QEMU), an explicit rate-limit
 * works in either mode, and "off" lifts lenient mode's default.
 */
static void test_server_rate_limit_settings(void)
{
    Srv t;

    srv_start(&t, QMP_MODE_STRICT, QMP_GREETING_QEMU, NULL);
    srv_expect(&t, GREETING_QEMU_OOB);
    srv_sends(&t, "{\"execute\":\"qmp_capabilities\"}");
    srv_expect(&t, "{\"return\":{}}\r\n");
    g_assert_cmpint(srv_burst(&t, 500, NULL), ==, 0);
    srv_stop(&t);

    srv_start_rate(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, NULL, 0);
    srv_expect(&t, GREETING_QEMU);
    g_assert_cmpint(srv_burst(&t, 500, NULL), ==, 0);
    srv_stop(&t);

    srv_start_rate(&t, QMP_MODE_STRICT, QMP_GREETING_QEMU, NULL, 5);
    srv_expect(&t, GREETING_QEMU_OOB);
    srv_sends(&t, "{\"execute\":\"qmp_capabilities\"}");
    srv_expect(&t, "{\"return\":{}}\r\n");
    g_assert_cmpint(srv_burst(&t, 7, "More than 5 requests received during 1 second"),
                    ==, 3);     /* qmp_capabilities took one of the five */
    fake_mono_us += G_USEC_PER_SEC / 5;
    g_assert_cmpint(srv_burst(&t, 2, "More than 5 requests received during 1 second"),
                    ==, 1);
    srv_stop(&t);
}

static void send_with_fd(Srv *t, const char *data, int fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { .iov_base = (void *)data, .iov_len = strlen(data) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    g_assert_cmpint(sendmsg(t->client, &mh, MSG_NOSIGNAL), ==, (ssize_t)strlen(data));
}

static void test_server_getfd(void)
{
    Srv t;
    int p[2];
    srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, NULL);
    srv_expect(&t, GREETING_QEMU);
    g_assert_cmpint(pipe(p), ==, 0);
    srv_sends(&t, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"fd0\"}}");
    srv_expect(&t, "{\"error\":{\"class\":\"GenericError\",\"desc\":"
                   "\"Invalid SCM message\"}}\r\n");
    /* qemu.qmp style: the fd rides on a lone space, the command follows */
    send_with_fd(&t, " ", p[0]);
    srv_spin(&t);
    srv_sends(&t, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"fd1\"}}");
    srv_expect(&t, "{\"return\":{}}\r\n");
    /* or with the command itself */
    send_with_fd(&t, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"fd2\"}}", p[1]);
    srv_expect(&t, "{\"return\":{}}\r\n");
    srv_sends(&t, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"1x\"}}");
    srv_expect(&t, "{\"error\":{\"class\":\"GenericError\",\"desc\":"
                   "\"Parameter 'fdname' expects a name not starting with a digit\"}}\r\n");
    srv_sends(&t, "{\"execute\":\"closefd\",\"arguments\":{\"fdname\":\"fd1\"}}"
                  "{\"execute\":\"closefd\",\"arguments\":{\"fdname\":\"fd1\"}}");
    srv_expect(&t, "{\"return\":{}}\r\n");
    srv_expect(&t, "{\"error\":{\"class\":\"GenericError\",\"desc\":"
                   "\"File descriptor named 'fd1' not found\"}}\r\n");
    close(p[0]);
    close(p[1]);
    srv_stop(&t);
}

static void test_server_machine_queries(void)
{
    Srv t;
    Vcpu v[2] = { { .index = 0, .tid = 4242 }, { .index = 1, .tid = 4243 } };
    srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, NULL);
    g_ptr_array_add(t.m.vcpus, &v[0]);
    g_ptr_array_add(t.m.vcpus, &v[1]);
    srv_expect(&t, GREETING_QEMU);
    /* the seeds' shapes (001/004), with -smp 2 as 2 sockets */
    srv_sends(&t, "{ \"execute\": \"query-cpus\" }");
    srv_expect(&t, "{\"return\":[{\"CPU\":0,\"arch\":\"x86\",\"current\":true,"
        "\"halted\":false,\"props\":{\"core-id\":0,\"socket-id\":0,\"thread-id\":0},"
        "\"qom_path\":\"/machine/unattached/device[0]\",\"thread_id\":4242},"
        "{\"CPU\":1,\"arch\":\"x86\",\"current\":true,\"halted\":false,\"props\":"
        "{\"core-id\":0,\"socket-id\":1,\"thread-id\":0},\"qom_path\":"
        "\"/machine/unattached/device[1]\",\"thread_id\":4243}]}\r\n");
    srv_sends(&t, "{ \"execute\": \"query-hotpluggable-cpus\" }");
    srv_expect(&t, "{\"return\":[{\"props\":{\"core-id\":0,\"socket-id\":0,"
        "\"thread-id\":0},\"qom-path\":\"/machine/unattached/device[0]\",\"type\":"
        "\"host-x86-cpu\",\"vcpus-count\":1},{\"props\":{\"core-id\":0,\"socket-id\":1,"
        "\"thread-id\":0},\"qom-path\":\"/machine/unattached/device[1]\",\"type\":"
        "\"host-x86-cpu\",\"vcpus-count\":1},{\"props\":{\"core-id\":0,\"socket-id\":2,"
        "\"thread-id\":0},\"type\":\"host-x86-cpu\",\"vcpus-count\":1}]}\r\n");
    srv_sends(&t, "{\"execute\":\"query-cpus-fast\"}");
    srv_expect(&t, "{\"return\":[{\"cpu-index\":0,\"props\":{\"core-id\":0,"
        "\"socket-id\":0,\"thread-id\":0},\"qom-path\":\"/machine/unattached/device[0]\","
        "\"target\":\"x86_64\",\"thread-id\":4242},{\"cpu-index\":1,\"props\":"
        "{\"core-id\":0,\"socket-id\":1,\"thread-id\":0},\"qom-path\":"
        "\"/machine/unattached/device[1]\",\"target\":\"x86_64\",\"thread-id\":4243}]}\r\n");
    srv_sends(&t, "{\"execute\":\"query-version\"}");
    srv_expect(&t, "{\"return\":{\"package\":\"Stratus-" STRATUS_VERSION "\",\"qemu\":"
                   "{\"major\":5,\"micro\":1,\"minor\":0}}}\r\n");
    /* machine_new() chose kvm on a host with a usable /dev/kvm */
    t.cfg.accel = (char *)"kvm";
    t.m.kvm_present = true;
    srv_sends(&t, "{\"execute\":\"query-kvm\",\"arguments\":{\"libvirt\":1}}");
    srv_expect(&t, "{\"return\":{\"enabled\":true,\"present\":true}}\r\n");
    srv_sends(&t, "{\"execute\":\"human-monitor-command\",\"arguments\":"
                  "{\"command-line\":\"info kvm\"}}");
    srv_expect(&t, "{\"return\":\"kvm support: enabled\\r\\n\"}\r\n");
    srv_sends(&t, "{\"execute\":\"query-uuid\"}{\"execute\":\"query-name\"}");
    srv_expect(&t, "{\"return\":{\"UUID\":\"00000000-0000-0000-0000-000000000000\"}}\r\n");
    srv_expect(&t, "{\"return\":{}}\r\n");
    srv_sends(&t, "{\"execute\":\"human-monitor-command\",\"arguments\":"
                  "{\"command-line\":\"info  status\"}}");
    srv_expect(&t, "{\"return\":\"VM status: running\\r\\n\"}\r\n");
    srv_sends(&t, "{\"execute\":\"human-monitor-command\",\"arguments\":"
                  "{\"command-line\":\"info cpus\"}}");
    srv_expect(&t, "{\"return\":\"* CPU #0: thread_id=4242\\r\\n  CPU #1: "
                   "thread_id=4243\\r\\n\"}\r\n");
    srv_sends(&t, "{\"execute\":\"human-monitor-command\",\"arguments\":"
                  "{\"command-line\":\"frobnicate\"}}");
    srv_expect(&t, "{\"return\":\"unknown command: 'frobnicate'\\r\\n\"}\r\n");
    srv_sends(&t, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine\","
                  "\"property\":\"type\"}}");
    srv_expect(&t, "{\"return\":\"microvm-machine\"}\r\n");
    srv_sends(&t, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine\","
                  "\"property\":\"nope\"}}");
    srv_expect(&t, "{\"error\":{\"class\":\"GenericError\",\"desc\":"
                   "\"Property 'microvm-machine.nope' not found\"}}\r\n");
    srv_sends(&t, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/nonexist\"}}");
    srv_expect(&t, "{\"error\":{\"class\":\"DeviceNotFound\",\"desc\":"
                   "\"Device '/nonexist' not found\"}}\r\n");
    srv_sends(&t, "{\"execute\":\"qom-list\"}");
    srv_expect(&t, "{\"return\":[]}\r\n");
    srv_sends(&t, "{\"execute\":\"query-status\",\"arguments\":{\"x\":1}}");
    srv_expect(&t, "{\"error\":{\"class\":\"GenericError\",\"desc\":"
                   "\"Parameter 'x' is unexpected\"}}\r\n");
    t.m.runstate = RUN_STATE_PRELAUNCH;
    srv_sends(&t, "{\"execute\":\"query-status\"}");
    srv_expect(&t, "{\"return\":{\"running\":false,\"singlestep\":false,"
                   "\"status\":\"prelaunch\"}}\r\n");
    srv_stop(&t);
}

/* ------------------------------------------------------------------------ */
/* HMP (hmp.c) through human-monitor-command                                */

/* QEMU 7.2's query-block / query-named-block-nodes for a -drive (removable,
 * read-only, detect-zeroes=on) and a -blockdev attached to a device; the
 * expected texts below are what QEMU 7.2 printed for them. */
#define QEMU_IMG1 "{\"virtual-size\":1048576,\"filename\":\"/tmp/d2.img\",\"format\":\"raw\"," \
    "\"actual-size\":4096,\"dirty-flag\":false}"
#define QEMU_IMG0 "{\"virtual-size\":67108864,\"filename\":\"/tmp/d.img\",\"format\":\"raw\"," \
    "\"actual-size\":0,\"dirty-flag\":false}"
#define QEMU_CACHE(direct) "{\"no-flush\":false,\"direct\":" direct ",\"writeback\":true}"
#define QEMU_INSERTED(node, drv, file, ro, dz, direct, img) \
    "{\"detect_zeroes\":\"" dz "\",\"image\":" img ",\"ro\":" ro ",\"node-name\":\"" node \
    "\",\"backing_file_depth\":0,\"drv\":\"" drv "\",\"iops\":0,\"bps\":0,\"encrypted\":false," \
    "\"cache\":" QEMU_CACHE(direct) ",\"file\":\"" file "\"}"
static const char qemu_query_block[] =
    "[{\"device\":\"drv1\",\"locked\":false,\"removable\":true,\"inserted\":"
    QEMU_INSERTED("#block172", "raw", "/tmp/d2.img", "true", "on", "false", QEMU_IMG1)
    ",\"type\":\"unknown\"},"
    "{\"io-status\":\"ok\",\"device\":\"\",\"locked\":false,\"removable\":false,\"inserted\":"
    QEMU_INSERTED("fmt0", "raw", "/tmp/d.img", "false", "off", "false", QEMU_IMG0)
    ",\"qdev\":\"disk0\",\"type\":\"unknown\"}]";
static const char qemu_named_nodes[] =
    "[" QEMU_INSERTED("#block172", "raw", "/tmp/d2.img", "true", "on", "false", QEMU_IMG1) ","
    QEMU_INSERTED("#block010", "file", "/tmp/d2.img", "true", "off", "false", QEMU_IMG1) ","
    QEMU_INSERTED("fmt0", "raw", "/tmp/d.img", "false", "off", "false", QEMU_IMG0) ","
    QEMU_INSERTED("drive-0", "file", "/tmp/d.img", "false", "off", "true", QEMU_IMG0) "]";

static const char *fake_block_json = qemu_query_block;

static bool fake_json_reply(const char *json, JsonNode **ret)
{
    *ret = json_from_string(json, NULL);
    g_assert_nonnull(*ret);
    return true;
}

static bool fake_query_block(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                             GError **err)
{
    return fake_json_reply(fake_block_json, ret);
}

static bool fake_named_nodes(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                             GError **err)
{
    return fake_json_reply(qemu_named_nodes, ret);
}

static bool fake_query_balloon(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                               GError **err)
{
    return fake_json_reply("{\"actual\":1073741824}", ret);
}

/*
 * query-migrate answers for info migrate (QEMU 7.2's layout, checked against
 * its output for the same numbers): never migrated, a destination listening
 * on tcp, one receiving on unix, a failed and a completed source.
 */
#define MIGRATE_GLOBALS "globals:\r\nstore-global-state: on\r\nonly-migratable: off\r\n" \
    "send-configuration: on\r\nsend-section-footer: on\r\ndecompress-error-check: on\r\n" \
    "clear-bitmap-shift: 18\r\n"
static bool fake_migrate_listening(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                   GError **err)
{
    return fake_json_reply("{\"status\":\"setup\",\"socket-address\":[{\"port\":\"45999\","
                           "\"ipv4\":true,\"host\":\"127.0.0.1\",\"type\":\"inet\"}]}", ret);
}

static bool fake_migrate_receiving(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                   GError **err)
{
    return fake_json_reply("{\"status\":\"active\",\"socket-address\":[{\"path\":"
                           "\"/tmp/h.sock\",\"type\":\"unix\"}]}", ret);
}

static bool fake_migrate_failed(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                GError **err)
{
    return fake_json_reply("{\"status\":\"failed\",\"ram\":{\"transferred\":601211,"
                           "\"remaining\":71364608,\"total\":268500992,\"duplicate\":48087,"
                           "\"normal\":41,\"normal-bytes\":167936,\"dirty-pages-rate\":12,"
                           "\"mbps\":1.5606760563380282,\"dirty-sync-count\":1,"
                           "\"page-size\":4096},\"setup-time\":0,\"total-time\":1349,"
                           "\"error-desc\":\"Unable to write to socket: Broken pipe\"}", ret);
}

static bool fake_migrate_completed(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                   GError **err)
{
    return fake_json_reply("{\"status\":\"completed\",\"ram\":{\"transferred\":799042,"
                           "\"remaining\":0,\"total\":268500992,\"duplicate\":65506,"
                           "\"normal\":51,\"normal-bytes\":208896,\"dirty-pages-rate\":0,"
                           "\"mbps\":5.494796638655463,\"dirty-sync-count\":3,"
                           "\"page-size\":4096},\"setup-time\":1,\"total-time\":1191,"
                           "\"downtime\":0}", ret);
}

static const QmpCommand fake_migrate_cmds[][2] = {
    { { "query-migrate", fake_migrate_listening }, { NULL } },
    { { "query-migrate", fake_migrate_receiving }, { NULL } },
    { { "query-migrate", fake_migrate_failed }, { NULL } },
    { { "query-migrate", fake_migrate_completed }, { NULL } },
};

/* StratoVirt's not-found text, and another error passed through as it is. */
static bool fake_device_del(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                            GError **err)
{
    const char *id = json_object_get_string_member(args, "id");
    if (!strcmp(id, "pp")) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Device 'pp' does not support hotplugging");
    } else if (strcmp(id, "disk0") != 0) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Device %s not found", id);
        return false;
    } else {
        return true;
    }
    return false;
}

static const QmpCommand fake_block_cmds[] = {
    { "query-block", fake_query_block },
    { "query-named-block-nodes", fake_named_nodes },
    { "device_del", fake_device_del },
    { NULL }
};
static const QmpCommand fake_balloon_cmds[] = {
    { "query-balloon", fake_query_balloon },
    { NULL }
};

/* Runs one HMP line (and an optional cpu-index) and returns its text. */
static char *srv_hmp(Srv *t, const char *line, int cpu)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) req = NULL;
    g_autofree char *text = NULL;
    g_autofree char *l = NULL;
    g_autoptr(JsonNode) reply = NULL;
    JsonObject *o;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, "human-monitor-command");
    json_builder_set_member_name(b, "arguments");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "command-line");
    json_builder_add_string_value(b, line);
    if (cpu >= 0) {
        json_builder_set_member_name(b, "cpu-index");
        json_builder_add_int_value(b, cpu);
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    req = json_builder_get_root(b);
    text = json_to_string(req, FALSE);
    srv_sends(t, text);
    for (;;) {
        g_clear_pointer(&l, g_free);
        l = srv_line(t);
        if (!g_str_has_prefix(l, "{\"event\"")) {
            break;
        }
    }
    reply = json_from_string(l, NULL);
    o = json_node_get_object(reply);
    g_assert_true(json_object_has_member(o, "return"));
    return g_strdup(json_object_get_string_member(o, "return"));
}

static void srv_hmp_expect(Srv *t, const char *line, const char *want)
{
    g_autofree char *got = srv_hmp(t, line, -1);
    g_assert_cmpstr(got, ==, want);
}

static void srv_hmp_info_migrate(Srv *t)
{
    static const char *const want[] = {
        MIGRATE_GLOBALS "socket address: [\r\n\ttcp:127.0.0.1:45999\r\n]\r\n",
        MIGRATE_GLOBALS "Migration status: active\r\ntotal time: 0 ms\r\n"
        "socket address: [\r\n\tunix:/tmp/h.sock\r\n]\r\n",
        MIGRATE_GLOBALS "Migration status: failed (Unable to write to socket: Broken pipe)\r\n"
        "total time: 1349 ms\r\nsetup: 0 ms\r\ntransferred ram: 587 kbytes\r\n"
        "throughput: 1.56 mbps\r\nremaining ram: 69692 kbytes\r\ntotal ram: 262208 kbytes\r\n"
        "duplicate: 48087 pages\r\nskipped: 0 pages\r\nnormal: 41 pages\r\n"
        "normal bytes: 164 kbytes\r\ndirty sync count: 1\r\npage size: 4 kbytes\r\n"
        "multifd bytes: 0 kbytes\r\npages-per-second: 0\r\ndirty pages rate: 12 pages\r\n",
        MIGRATE_GLOBALS "Migration status: completed\r\ntotal time: 1191 ms\r\n"
        "downtime: 0 ms\r\nsetup: 1 ms\r\ntransferred ram: 780 kbytes\r\n"
        "throughput: 5.49 mbps\r\nremaining ram: 0 kbytes\r\ntotal ram: 262208 kbytes\r\n"
        "duplicate: 65506 pages\r\nskipped: 0 pages\r\nnormal: 51 pages\r\n"
        "normal bytes: 204 kbytes\r\ndirty sync count: 3\r\npage size: 4 kbytes\r\n"
        "multifd bytes: 0 kbytes\r\npages-per-second: 0\r\n",
    };

    srv_hmp_expect(t, "info migrate", "Error: The command query-migrate has not been found\r\n");
    for (guint i = 0; i < G_N_ELEMENTS(want); i++) {
        qmp_command_table_add(qmp_server_table(t->m.qmp), fake_migrate_cmds[i]);
        srv_hmp_expect(t, "info migrate", want[i]);
    }
}

#define HELP_TEXT \
    "cont|c  -- resume emulation\r\n" \
    "cpu index -- set the default CPU\r\n" \
    "device_add driver[,prop=value][,...] -- add device, like -device on the command " \
    "line\r\n" \
    "device_del device -- remove device\r\n" \
    "help|? [cmd] -- show the help\r\n" \
    "info [subcommand] -- show various information about the system state\r\n" \
    "quit|q  -- quit the emulator\r\n" \
    "stop|s  -- stop emulation\r\n" \
    "system_powerdown  -- send system power down event\r\n" \
    "system_reset  -- reset the system\r\n"
#define INFO_TEXT \
    "info balloon  -- show balloon information\r\n" \
    "info block [-n] [-v] [device] -- show info of one block device or all block " \
    "devices (-n: show named nodes; -v: show details)\r\n" \
    "info cpus  -- show infos for each CPU\r\n" \
    "info kvm  -- show KVM information\r\n" \
    "info migrate  -- show migration status\r\n" \
    "info mtree [-f][-D] -- show memory tree (-f: dump flat view for address spaces;" \
    "-D: dump disabled regions)\r\n" \
    "info name  -- show the current VM name\r\n" \
    "info network  -- show the network state\r\n" \
    "info qdm  -- show qdev device model list\r\n" \
    "info qom-tree [path] -- show QOM composition tree\r\n" \
    "info qtree  -- show device tree\r\n" \
    "info status  -- show the current VM status (running|paused)\r\n" \
    "info uuid  -- show the current VM UUID\r\n" \
    "info version  -- show the version of QEMU\r\n"

/* help, info and the parser's answers: QEMU 7.2's texts for the same lines. */
static void test_server_hmp_parser(void)
{
    Srv t;

    g_assert_true(hmp_tables_sorted());
    srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, NULL);
    srv_expect(&t, GREETING_QEMU);
    srv_hmp_expect(&t, "help", HELP_TEXT);
    srv_hmp_expect(&t, "?", HELP_TEXT);
    srv_hmp_expect(&t, "info", INFO_TEXT);
    srv_hmp_expect(&t, "info  ", INFO_TEXT);
    srv_hmp_expect(&t, "help info", INFO_TEXT);
    srv_hmp_expect(&t, "help stop", "stop|s  -- stop emulation\r\n");
    srv_hmp_expect(&t, "help c", "cont|c  -- resume emulation\r\n");
    srv_hmp_expect(&t, "help help", "help|? [cmd] -- show the help\r\n");
    srv_hmp_expect(&t, "help info status",
                   "info status  -- show the current VM status (running|paused)\r\n");
    srv_hmp_expect(&t, "help \"info\" block",
                   "info block [-n] [-v] [device] -- show info of one block device or all "
                   "block devices (-n: show named nodes; -v: show details)\r\n");
    srv_hmp_expect(&t, "help foo", "unknown command: 'foo'\r\n");
    srv_hmp_expect(&t, "help info foo", "unknown command: 'info foo'\r\n");
    srv_hmp_expect(&t, "help \"unterminated", "");
    /* Unknown commands: the text is the result, never a QMP error. */
    srv_hmp_expect(&t, "foo", "unknown command: 'foo'\r\n");
    srv_hmp_expect(&t, "  foo  bar", "unknown command: '  foo'\r\n");
    srv_hmp_expect(&t, "info foo", "unknown command: 'info foo'\r\n");
    srv_hmp_expect(&t, "info   foo bar", "unknown command: 'info   foo'\r\n");
    srv_hmp_expect(&t, "info snapshots", "unknown command: 'info snapshots'\r\n");
    srv_hmp_expect(&t, "", "");
    srv_hmp_expect(&t, "   ", "");
    /* Arguments: QEMU's messages, then its "Try" line. */
    srv_hmp_expect(&t, "stop foo", "stop|s: extraneous characters at the end of line\r\n"
                   "Try \"help stop\" for more information\r\n");
    srv_hmp_expect(&t, "s/x", "stop|s: extraneous characters at the end of line\r\n"
                   "Try \"help s\" for more information\r\n");
    srv_hmp_expect(&t, "info status x", "status: extraneous characters at the end of line\r\n"
                   "Try \"help info status\" for more information\r\n");
    srv_hmp_expect(&t, "device_del", "device_del: string expected\r\n"
                   "Try \"help device_del\" for more information\r\n");
    srv_hmp_expect(&t, "device_del \"a\\x\"", "device_del: string expected\r\n"
                   "Try \"help device_del\" for more information\r\n");
    srv_hmp_expect(&t, "device_del  a b", "device_del: extraneous characters at the end "
                   "of line\r\nTry \"help device_del\" for more information\r\n");
    srv_hmp_expect(&t, "info block -x", "block: unsupported option -x\r\n"
                   "Try \"help info block\" for more information\r\n");
    srv_hmp_expect(&t, "info block a b", "block: extraneous characters at the end of line\r\n"
                   "Try \"help info block\" for more information\r\n");
    srv_hmp_expect(&t, "info mtree -o", "mtree: unsupported option -o\r\n"
                   "Try \"help info mtree\" for more information\r\n");
    srv_stop(&t);
}

/* The machine's state, each as QEMU 7.2 prints it. */
static void test_server_hmp_info(void)
{
    Srv t;
    Vcpu v[2] = { { .index = 0, .tid = 4242 }, { .index = 1, .tid = 4243 } };
    g_autofree char *s = NULL;

    srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, NULL);
    g_ptr_array_add(t.m.vcpus, &v[0]);
    g_ptr_array_add(t.m.vcpus, &v[1]);
    srv_expect(&t, GREETING_QEMU);

    srv_hmp_expect(&t, "info status", "VM status: running\r\n");
    t.m.runstate = RUN_STATE_PAUSED;
    srv_hmp_expect(&t, "info status", "VM status: paused\r\n");
    t.m.runstate = RUN_STATE_PRELAUNCH;
    srv_hmp_expect(&t, "info status", "VM status: paused (prelaunch)\r\n");
    t.m.runstate = RUN_STATE_GUEST_PANICKED;
    srv_hmp_expect(&t, "info status", "VM status: paused (guest-panicked)\r\n");
    t.m.runstate = RUN_STATE_RUNNING;

    srv_hmp_expect(&t, "info cpus", "* CPU #0: thread_id=4242\r\n  CPU #1: thread_id=4243\r\n");
    s = srv_hmp(&t, "info cpus", 1);
    g_assert_cmpstr(s, ==, "  CPU #0: thread_id=4242\r\n* CPU #1: thread_id=4243\r\n");
    for (int i = 0; i < 2; i++) {
        srv_sends(&t, i ? "{\"execute\":\"human-monitor-command\",\"arguments\":"
                          "{\"command-line\":\"info version\",\"cpu-index\":-1}}"
                        : "{\"execute\":\"human-monitor-command\",\"arguments\":"
                          "{\"command-line\":\"info version\",\"cpu-index\":2}}");
        srv_expect(&t, "{\"error\":{\"class\":\"GenericError\",\"desc\":"
                       "\"Parameter 'cpu-index' expects a CPU number\"}}\r\n");
    }

    srv_hmp_expect(&t, "info network", "");
    /*
     * Back ends and NICs in QEMU's order (creation, a NIC at the moment it
     * attached): a lone back end, a NIC with its tap after " \\ ".
     */
    {
        static const NetClientOps tap = { .type = "tap" };
        NetClient lone = { .ops = &tap, .id = (char *)"lone", .seq = 1,
                           .info_str = (char *)"fd=5" };
        NetClient t0 = { .ops = &tap, .id = (char *)"t0", .seq = 2,
                         .info_str = (char *)"ifname=tap0,script=no,downscript=no",
                         .peer = (const NetPeerOps *)&tap, .peer_seq = 4,
                         .peer_name = (char *)"nic0",
                         .peer_info = (char *)"model=virtio-net-device,macaddr="
                                              "52:54:00:12:34:56" };
        NetClient late = { .ops = &tap, .id = (char *)"late", .seq = 3,
                           .info_str = (char *)"fd=7" };
        t.m.netdevs = g_hash_table_new(g_str_hash, g_str_equal);
        g_hash_table_insert(t.m.netdevs, t0.id, &t0);
        g_hash_table_insert(t.m.netdevs, late.id, &late);
        g_hash_table_insert(t.m.netdevs, lone.id, &lone);
        srv_hmp_expect(&t, "info network",
                       "lone: index=0,type=tap,fd=5\r\n"
                       "late: index=0,type=tap,fd=7\r\n"
                       "nic0: index=0,type=nic,model=virtio-net-device,"
                       "macaddr=52:54:00:12:34:56\r\n"
                       " \\ t0: index=0,type=tap,ifname=tap0,script=no,downscript=no\r\n");
        g_hash_table_destroy(t.m.netdevs);
        t.m.netdevs = NULL;
    }
    srv_hmp_info_migrate(&t);
    /* No balloon: QEMU's DeviceNotActive text; with one, its size in MiB. */
    srv_hmp_expect(&t, "info balloon", "Error: No balloon device has been activated\r\n");
    qmp_command_table_add(qmp_server_table(t.m.qmp), fake_balloon_cmds);
    srv_hmp_expect(&t, "info balloon", "balloon: actual=1024\r\n");

    /* info block over QEMU's own query-block answer: QEMU's text. */
    qmp_command_table_add(qmp_server_table(t.m.qmp), fake_block_cmds);
    srv_hmp_expect(&t, "info block",
        "drv1 (#block172): /tmp/d2.img (raw, read-only)\r\n"
        "    Removable device: not locked, tray closed\r\n"
        "    Cache mode:       writeback\r\n"
        "    Detect zeroes:    on\r\n\r\n"
        "fmt0: /tmp/d.img (raw)\r\n"
        "    Attached to:      disk0\r\n"
        "    Cache mode:       writeback\r\n");
    srv_hmp_expect(&t, "info block -v",
        "drv1 (#block172): /tmp/d2.img (raw, read-only)\r\n"
        "    Removable device: not locked, tray closed\r\n"
        "    Cache mode:       writeback\r\n"
        "    Detect zeroes:    on\r\n\r\nImages:\r\nimage: /tmp/d2.img\r\n"
        "file format: raw\r\nvirtual size: 1 MiB (1048576 bytes)\r\ndisk size: 4 KiB\r\n\r\n"
        "fmt0: /tmp/d.img (raw)\r\n"
        "    Attached to:      disk0\r\n"
        "    Cache mode:       writeback\r\n\r\nImages:\r\nimage: /tmp/d.img\r\n"
        "file format: raw\r\nvirtual size: 64 MiB (67108864 bytes)\r\ndisk size: 0 B\r\n");
    srv_hmp_expect(&t, "info block -n",
        "#block172: /tmp/d2.img (raw, read-only)\r\n"
        "    Cache mode:       writeback\r\n"
        "    Detect zeroes:    on\r\n\r\n"
        "#block010: /tmp/d2.img (file, read-only)\r\n"
        "    Cache mode:       writeback\r\n\r\n"
        "fmt0: /tmp/d.img (raw)\r\n"
        "    Cache mode:       writeback\r\n\r\n"
        "drive-0: /tmp/d.img (file)\r\n"
        "    Cache mode:       writeback, direct\r\n");
    srv_hmp_expect(&t, "info block drv1",
        "drv1 (#block172): /tmp/d2.img (raw, read-only)\r\n"
        "    Removable device: not locked, tray closed\r\n"
        "    Cache mode:       writeback\r\n"
        "    Detect zeroes:    on\r\n");
    /* QEMU's quirk: the separator goes by position in the whole list. */
    srv_hmp_expect(&t, "info block fmt0", "\r\nfmt0: /tmp/d.img (raw)\r\n"
                   "    Cache mode:       writeback\r\n");
    srv_hmp_expect(&t, "info block -n -v fmt0", "\r\nfmt0: /tmp/d.img (raw)\r\n"
                   "    Cache mode:       writeback\r\n\r\nImages:\r\nimage: /tmp/d.img\r\n"
                   "file format: raw\r\nvirtual size: 64 MiB (67108864 bytes)\r\n"
                   "disk size: 0 B\r\n");
    srv_hmp_expect(&t, "info block -n drive-0", "\r\ndrive-0: /tmp/d.img (file)\r\n"
                   "    Cache mode:       writeback, direct\r\n");
    srv_hmp_expect(&t, "info block disk0", "");
    /* cpu N: only checked (the monitor lives for one command); QEMU's expressions. */
    srv_hmp_expect(&t, "cpu 1", "");
    srv_hmp_expect(&t, "cpu 0x1", "");
    srv_hmp_expect(&t, "cpu (3 - 1) * 2 / 4", "");
    srv_hmp_expect(&t, "cpu 2", "invalid CPU index\r\n");
    srv_hmp_expect(&t, "cpu 1 | 2", "invalid CPU index\r\n");
    srv_hmp_expect(&t, "cpu", "unexpected end of expression\r\n"
                   "Try \"help cpu\" for more information\r\n");
    srv_hmp_expect(&t, "cpu x", "invalid char 'x' in expression\r\n"
                   "Try \"help cpu\" for more information\r\n");
    srv_hmp_expect(&t, "cpu -1", "'cpu' has failed: integer is for 32-bit values\r\n"
                   "Try \"help cpu\" for more information\r\n");
    srv_hmp_expect(&t, "cpu 4294967296", "'cpu' has failed: integer is for 32-bit "
                   "values\r\nTry \"help cpu\" for more information\r\n");
    srv_hmp_expect(&t, "cpu 1 / 0", "division by zero\r\n"
                   "Try \"help cpu\" for more information\r\n");
    srv_hmp_expect(&t, "cpu (1", "')' expected\r\nTry \"help cpu\" for more information\r\n");
    srv_hmp_expect(&t, "cpu $eax", "unknown register\r\n"
                   "Try \"help cpu\" for more information\r\n");
    srv_hmp_expect(&t, "cpu 1 2", "cpu: extraneous characters at the end of line\r\n"
                   "Try \"help cpu\" for more information\r\n");
    fake_block_json = "[]";
    srv_hmp_expect(&t, "info block", "");
    fake_block_json = qemu_query_block;

    /* device_del: QEMU's not-found text; other errors as QMP gives them. */
    srv_hmp_expect(&t, "device_del disk0", "");
    srv_hmp_expect(&t, "device_del nope", "Error: Device 'nope' not found\r\n");
    srv_hmp_expect(&t, "device_del pp",
                   "Error: Device 'pp' does not support hotplugging\r\n");
    srv_stop(&t);
}

/* stop, cont, system_powerdown, quit: QEMU's (silent) answers and the events. */
static void test_server_hmp_lifecycle(void)
{
    Srv t;

    srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, NULL);
    srv_expect(&t, GREETING_QEMU);
    /* As QEMU writes them: the event a command raises, then its reply. */
    srv_sends(&t, "{\"execute\":\"human-monitor-command\",\"arguments\":"
                  "{\"command-line\":\"stop\"}}");
    srv_expect(&t, "{\"event\":\"STOP\",\"data\":{}," TS);
    srv_expect(&t, "{\"return\":\"\"}\r\n");
    /* stop on a paused VM and cont on a running one are silent no-ops (QEMU). */
    srv_hmp_expect(&t, "s", "");
    srv_hmp_expect(&t, "info status", "VM status: paused\r\n");
    srv_sends(&t, "{\"execute\":\"human-monitor-command\",\"arguments\":"
                  "{\"command-line\":\"c\"}}");
    srv_expect(&t, "{\"event\":\"RESUME\",\"data\":{}," TS);
    srv_expect(&t, "{\"return\":\"\"}\r\n");
    srv_hmp_expect(&t, "cont", "");
    srv_expect_nothing(&t);
    srv_sends(&t, "{\"execute\":\"human-monitor-command\",\"arguments\":"
                  "{\"command-line\":\"system_powerdown\"}}");
    srv_expect(&t, "{\"event\":\"POWERDOWN\",\"data\":{}," TS);
    srv_expect(&t, "{\"return\":\"\"}\r\n");
    srv_hmp_expect(&t, "system_reset", "");
    /* quit: the reply, SHUTDOWN, and nothing more is read. */
    srv_sends(&t, "{\"execute\":\"human-monitor-command\",\"arguments\":"
                  "{\"command-line\":\"q\"}}{\"execute\":\"query-status\"}");
    srv_expect(&t, "{\"return\":\"\"}\r\n");
    srv_expect(&t, "{\"event\":\"SHUTDOWN\",\"data\":{\"guest\":false,"
                   "\"reason\":\"host-qmp-quit\"}," TS);
    srv_expect_nothing(&t);
    srv_stop(&t);
}

/*
 * info mtree over a fake machine: RAM below and above 4 GiB, an MMIO region
 * and two port regions, as QEMU prints the same layout.
 */
static void test_server_hmp_mtree(void)
{
    Srv t;
    Vcpu v[2] = { { .index = 0, .tid = 1 }, { .index = 1, .tid = 2 } };
    RamBlock ram[2] = { { .gpa = 0, .size = 0xc0000000ULL },
                        { .gpa = 0x100000000ULL, .size = 0x40000000ULL } };
    IoRegion mmio = { .base = 0xfeb00000, .size = 0x200, .name = (char *)"virtio-mmio" };
    IoRegion pio[2] = { { .base = 0x3f8, .size = 8, .name = (char *)"serial" },
                        { .base = 0x600, .size = 4, .name = (char *)"pm-evt" } };

    srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, NULL);
    g_ptr_array_add(t.m.vcpus, &v[0]);
    g_ptr_array_add(t.m.vcpus, &v[1]);
    t.cfg.machine_type = (char *)"microvm";
    t.m.ram.blocks = g_array_new(FALSE, TRUE, sizeof(RamBlock));
    g_array_append_vals(t.m.ram.blocks, ram, 2);
    t.m.mmio.regions = g_array_new(FALSE, TRUE, sizeof(IoRegion));
    g_array_append_val(t.m.mmio.regions, mmio);
    t.m.pio.regions = g_array_new(FALSE, TRUE, sizeof(IoRegion));
    g_array_append_vals(t.m.pio.regions, pio, 2);
    srv_expect(&t, GREETING_QEMU);

#define MT_MEMORY \
    "address-space: cpu-memory-0\r\naddress-space: cpu-memory-1\r\n" \
    "address-space: memory\r\n" \
    "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\r\n" \
    "    0000000000000000-00000000bfffffff (prio 0, ram): alias ram-below-4g " \
    "@microvm.ram 0000000000000000-00000000bfffffff\r\n" \
    "    00000000feb00000-00000000feb001ff (prio 0, i/o): virtio-mmio\r\n" \
    "    0000000100000000-000000013fffffff (prio 0, ram): alias ram-above-4g " \
    "@microvm.ram 00000000c0000000-00000000ffffffff\r\n\r\n" \
    "address-space: I/O\r\n" \
    "  0000000000000000-000000000000ffff (prio 0, i/o): io\r\n" \
    "    00000000000003f8-00000000000003ff (prio 0, i/o): serial\r\n" \
    "    0000000000000600-0000000000000603 (prio 0, i/o): pm-evt\r\n\r\n" \
    "memory-region: microvm.ram\r\n" \
    "  0000000000000000-00000000ffffffff (prio 0, ram): microvm.ram\r\n\r\n"
    srv_hmp_expect(&t, "info mtree", MT_MEMORY);
    srv_hmp_expect(&t, "info mtree -D", MT_MEMORY);
#undef MT_MEMORY
    srv_hmp_expect(&t, "info mtree -f",
        "FlatView #0\r\n AS \"memory\", root: system\r\n AS \"cpu-memory-0\", root: system\r\n"
        " AS \"cpu-memory-1\", root: system\r\n Root memory region: system\r\n"
        "  0000000000000000-00000000bfffffff (prio 0, ram): microvm.ram\r\n"
        "  00000000feb00000-00000000feb001ff (prio 0, i/o): virtio-mmio\r\n"
        "  0000000100000000-000000013fffffff (prio 0, ram): microvm.ram @00000000c0000000\r\n"
        "\r\n"
        "FlatView #1\r\n AS \"I/O\", root: io\r\n Root memory region: io\r\n"
        "  0000000000000000-00000000000003f7 (prio 0, i/o): io\r\n"
        "  00000000000003f8-00000000000003ff (prio 0, i/o): serial\r\n"
        "  0000000000000400-00000000000005ff (prio 0, i/o): io @0000000000000400\r\n"
        "  0000000000000600-0000000000000603 (prio 0, i/o): pm-evt\r\n"
        "  0000000000000604-000000000000ffff (prio 0, i/o): io @0000000000000604\r\n\r\n");
    /* On KVM QEMU marks the ranges KVM maps: the RAM. */
    t.cfg.accel = (char *)"kvm";
    {
        g_autofree char *f = srv_hmp(&t, "info mtree -f", -1);
        g_assert_nonnull(strstr(f, "(prio 0, ram): microvm.ram kvm\r\n"));
        g_assert_nonnull(strstr(f, "microvm.ram @00000000c0000000 kvm\r\n"));
        g_assert_null(strstr(f, "virtio-mmio kvm"));
    }
    t.cfg.accel = NULL;
    srv_stop(&t);
    g_array_free(t.m.ram.blocks, TRUE);
    g_array_free(t.m.mmio.regions, TRUE);
    g_array_free(t.m.pio.regions, TRUE);
}

/* query-kvm and "info kvm" for each accelerator machine_new() may choose. */
static void test_server_query_kvm(void)
{
    static const struct {
        const char *accel;      /* cfg->accel after machine_new() */
        bool kvm_present;       /* /dev/kvm usable */
        const char *query, *info;
    } cases[] = {
        { "kvm", true, "{\"enabled\":true,\"present\":true}", "enabled" },
        { "emu", true, "{\"enabled\":false,\"present\":true}", "disabled" },
        { "emu", false, "{\"enabled\":false,\"present\":false}", "disabled" },
        { "qtest", true, "{\"enabled\":false,\"present\":true}", "disabled" },
        { "qtest", false, "{\"enabled\":false,\"present\":false}", "disabled" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        Srv t;
        g_autofree char *query = g_strdup_printf("{\"return\":%s}\r\n", cases[i].query);
        g_autofree char *info =
            g_strdup_printf("{\"return\":\"kvm support: %s\\r\\n\"}\r\n", cases[i].info);

        srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, NULL);
        t.cfg.accel = (char *)cases[i].accel;
        t.m.kvm_present = cases[i].kvm_present;
        srv_expect(&t, GREETING_QEMU);
        srv_sends(&t, "{\"execute\":\"query-kvm\"}");
        srv_expect(&t, query);
        srv_sends(&t, "{\"execute\":\"human-monitor-command\",\"arguments\":"
                      "{\"command-line\":\"info kvm\"}}");
        srv_expect(&t, info);
        srv_stop(&t);
    }
}

static int unix_client(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), ==, 0);
    return fd;
}

static void test_server_unix_listener(void)
{
    Srv t;
    char *dir = g_dir_make_tmp("qmp-test-XXXXXX", NULL);
    char *path = g_build_filename(dir, "qmp.sock", NULL);
    struct stat st;
    int a, b;

    /* a stale file is replaced */
    g_assert_true(g_file_set_contents(path, "stale", -1, NULL));
    srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, path);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_true(S_ISSOCK(st.st_mode));
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);

    a = unix_client(path);
    t.client = a;
    srv_expect(&t, GREETING_QEMU);
    /* a second client waits: the listener is parked */
    b = unix_client(path);
    t.client = b;
    srv_expect_nothing(&t);
    t.client = a;
    srv_sends(&t, "{\"execute\":\"query-name\"}");
    srv_expect(&t, "{\"return\":{}}\r\n");
    close(a);
    t.client = b;
    srv_expect(&t, GREETING_QEMU);
    srv_sends(&t, "{\"execute\":\"query-name\"}");
    srv_expect(&t, "{\"return\":{}}\r\n");
    srv_stop(&t);           /* closes b */
    g_assert_cmpint(stat(path, &st), ==, -1);   /* unlinked */
    rmdir(dir);
    g_free(path);
    g_free(dir);
}

static void test_server_peer_close(void)
{
    Srv t;
    srv_start(&t, QMP_MODE_LENIENT, QMP_GREETING_QEMU, NULL);
    srv_expect(&t, GREETING_QEMU);
    srv_sends(&t, "{\"execute\":\"query-name\"}");
    close(t.client);
    t.client = -1;
    srv_spin(&t);
    /* events to a closed peer are harmless */
    qmp_server_emit_event(t.m.qmp, "RESET", NULL);
    srv_spin(&t);
    srv_stop(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp-dispatch/request-errors", test_request_errors);
    g_test_add_func("/qmp-dispatch/argument-errors", test_argument_errors);
    g_test_add_func("/qmp-dispatch/id-echo", test_id_echo);
    g_test_add_func("/qmp-dispatch/return-order-and-flags", test_return_order_and_flags);
    g_test_add_func("/qmp-dispatch/handler-errors", test_handler_errors);
    g_test_add_func("/qmp-dispatch/strict-negotiation", test_strict_negotiation);
    g_test_add_func("/qmp-dispatch/lenient-mode", test_lenient_mode);
    g_test_add_func("/qmp-dispatch/query-commands-events", test_query_commands);
    g_test_add_func("/qmp-dispatch/oob-negotiation", test_oob_negotiation);
    g_test_add_func("/qmp-dispatch/server-oob-order", test_server_oob_order);
    g_test_add_func("/qmp-dispatch/table-replace", test_table_replace);
    g_test_add_func("/qmp-dispatch/schema-consistency", test_schema_consistency);
    g_test_add_func("/qmp-dispatch/greeting", test_greeting);
    g_test_add_func("/qmp-dispatch/event-format", test_event_format);
    g_test_add_func("/qmp-dispatch/rate-limiter", test_rate_limiter);
    g_test_add_func("/qmp-dispatch/rate-limiter-rates", test_rate_limiter_rates);
    g_test_add_func("/qmp-dispatch/server-hmp-parser", test_server_hmp_parser);
    g_test_add_func("/qmp-dispatch/server-hmp-info", test_server_hmp_info);
    g_test_add_func("/qmp-dispatch/server-hmp-lifecycle", test_server_hmp_lifecycle);
    g_test_add_func("/qmp-dispatch/server-hmp-mtree", test_server_hmp_mtree);
    g_test_add_func("/qmp-dispatch/server-rate-limit-settings",
                    test_server_rate_limit_settings);
    g_test_add_func("/qmp-dispatch/scm-fds", test_scm_fds);
    g_test_add_func("/qmp-server/greeting-and-framing", test_server_greeting_and_framing);
    g_test_add_func("/qmp-server/big-message", test_server_big_message);
    g_test_add_func("/qmp-server/event-order", test_server_event_order);
    g_test_add_func("/qmp-server/thread-event", test_server_thread_event);
    g_test_add_func("/qmp-server/strict-events", test_server_strict_events);
    g_test_add_func("/qmp-server/throttle", test_server_throttle);
    g_test_add_func("/qmp-server/getfd", test_server_getfd);
    g_test_add_func("/qmp-server/machine-queries", test_server_machine_queries);
    g_test_add_func("/qmp-server/query-kvm", test_server_query_kvm);
    g_test_add_func("/qmp-server/unix-listener", test_server_unix_listener);
    g_test_add_func("/qmp-server/peer-close", test_server_peer_close);
    return g_test_run();
}
