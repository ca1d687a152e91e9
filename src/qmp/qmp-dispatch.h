/*
 * QMP dispatch core: the command table (one table: handler + argument schema
 * + return type), request checking with QEMU's exact error texts, argument
 * validation before any handler runs, query-commands / query-qmp-schema /
 * query-events generated from the table, capabilities negotiation, response
 * formatting and the per-connection leaky bucket. Implemented in
 * qmp-dispatch.c (table, dispatch, formats), qmp-schema.c (errors, types,
 * schema) and qmp-session.c (sessions, fds, rate limiter).
 *
 * Nothing here knows about Machine or sockets: handlers get a QmpCommandCtx
 * whose `opaque` is whatever the caller passed (the server passes Machine*),
 * so the core is unit-testable on its own.
 *
 * Other subsystems add their commands to the server's table
 * (qmp_server_table() in qmp.h) after the server is created and before the
 * main loop runs:
 *
 *   static const QmpMember my_args_m[] = {
 *       { "id", &qmp_type_str },
 *       { "addr", &qmp_type_str, .optional = true },
 *       { NULL }
 *   };
 *   static const QmpType my_args = QMP_OBJECT_TYPE(my_args_m);
 *   static bool qmp_my_cmd(QmpCommandCtx *ctx, JsonObject *args,
 *                          JsonNode **ret, GError **err) {
 *       Machine *m = ctx->opaque;
 *       ...;  on failure: qmp_error_set(err, STRATUS_ERROR_GENERIC, "...");
 *       return true;                 (*ret left NULL = {"return":{}})
 *   }
 *   static const QmpCommand my_cmds[] = {
 *       { "my-cmd", qmp_my_cmd, &my_args },
 *       { NULL }
 *   };
 *   qmp_command_table_add(qmp_server_table(m->qmp), my_cmds);
 */
#ifndef STRATUS_QMP_DISPATCH_H
#define STRATUS_QMP_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "config.h"
#include "util/strutil.h"

/* ---- errors ------------------------------------------------------------- */

/*
 * QMP errors are GErrors of the one STRATUS_ERROR domain (util/strutil.h):
 * the code is the QMP error class, so a lower layer's error keeps its class
 * (DeviceNotFound from the type registry, KVMMissingCap from kvm) without a
 * translation table. Errors of any other domain answer GenericError.
 */
const char *qmp_error_class_name(StratusErrorCode c);
void qmp_error_set(GError **err, StratusErrorCode c, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* ---- types (argument schemas, return types, introspection) -------------- */

typedef struct QmpType QmpType;

typedef struct QmpMember {
    const char *name;
    const QmpType *type;
    bool optional;
} QmpMember;

typedef enum {
    QMP_KIND_BUILTIN,   /* str int bool number any null */
    QMP_KIND_ENUM,
    QMP_KIND_OBJECT,
    QMP_KIND_ARRAY,
} QmpTypeKind;

struct QmpType {
    QmpTypeKind kind;
    const char *builtin;          /* BUILTIN: "str", "int", ... */
    const char *const *values;    /* ENUM: NULL-terminated */
    const QmpMember *members;     /* OBJECT: terminated by .name == NULL; may be NULL */
    const QmpType *element;       /* ARRAY */
    bool open;                    /* OBJECT: extra members accepted and ignored */
};

extern const QmpType qmp_type_str, qmp_type_int, qmp_type_bool,
                     qmp_type_number, qmp_type_any, qmp_type_null;
extern const QmpType qmp_type_empty;   /* object without members */

#define QMP_OBJECT_TYPE(m) { .kind = QMP_KIND_OBJECT, .members = (m) }
#define QMP_ENUM_TYPE(v)   { .kind = QMP_KIND_ENUM, .values = (v) }
#define QMP_ARRAY_TYPE(e)  { .kind = QMP_KIND_ARRAY, .element = (e) }
/*
 * An argument object `var` whose listed members are checked and whose other
 * members are accepted unchecked (commands that act on none of them).
 */
#define QMP_OPEN_ARGS(var, ...) \
    static const QmpMember var##_m[] = { __VA_ARGS__, { NULL } }; \
    static const QmpType var = { .kind = QMP_KIND_OBJECT, .members = var##_m, .open = true }

/* ---- sessions (one per connection) ------------------------------------- */

typedef struct QmpSession {
    QmpMode mode;
    bool negotiated;              /* strict mode: qmp_capabilities done */
    bool oob_offered;             /* the greeting listed "oob" */
    bool oob_enabled;             /* qmp_capabilities enabled it: exec-oob accepted */
    /* File descriptors that came (SCM_RIGHTS) with the data being processed. */
    int *scm_fds;
    unsigned n_scm_fds;
    /* getfd'd descriptors: name -> fd, owned (per monitor). May be NULL. */
    GHashTable *named_fds;
} QmpSession;

void qmp_session_init(QmpSession *s, QmpMode mode, GHashTable *named_fds);
/* Closes unconsumed SCM fds; does not touch named_fds. */
void qmp_session_clear_scm_fds(QmpSession *s);
/* Replaces the SCM fds (takes the array; previous unconsumed ones are closed). */
void qmp_session_set_scm_fds(QmpSession *s, int *fds, unsigned n);
/* Strict-mode events are only delivered after negotiation. */
bool qmp_session_wants_events(const QmpSession *s);
/* name -> fd map with owned fds (closes them on destroy). */
GHashTable *qmp_named_fds_new(void);
/* getfd keeps at most this many names per monitor (each holds an fd open). */
#define QMP_MAX_NAMED_FDS 64
/* Takes the last SCM_RIGHTS fd that came with this command; -1 if none. */
int qmp_session_take_scm_fd(QmpSession *s);
/* Removes and returns the getfd'd fd called `name` (caller owns it); -1 if none. */
int qmp_session_take_named_fd(QmpSession *s, const char *name);

/* ---- commands ---------------------------------------------------------- */

typedef struct QmpCommandTable QmpCommandTable;

typedef struct QmpCommandCtx {
    void *opaque;                 /* the server passes Machine* */
    QmpSession *session;
    const QmpCommandTable *table;
    const struct QmpCommand *cmd;
} QmpCommandCtx;

/*
 * Runs after the arguments were validated against the schema. Returns true
 * and sets *ret (NULL means {}), or false with *err set (any GError; a
 * STRATUS_ERROR code selects the class, anything else is GenericError).
 */
typedef bool (*QmpCommandFn)(QmpCommandCtx *ctx, JsonObject *args,
                             JsonNode **ret, GError **err);

enum {
    /* StratoVirt's "lenient" commands: unknown argument members are ignored. */
    QMP_CMD_ALLOW_EXTRA_ARGS = 1u << 0,
    /*
     * Events the command causes are written before its reply (the seeds show
     * stop/cont/device_del that way). Default: after the reply.
     */
    QMP_CMD_EVENTS_FIRST = 1u << 1,
    /* Accepted in strict-mode capabilities negotiation (qmp_capabilities). */
    QMP_CMD_NEGOTIATION = 1u << 2,
    /* Listed with "features":["deprecated"] in query-qmp-schema. */
    QMP_CMD_DEPRECATED = 1u << 3,
    /* Runs with exec-oob (QEMU's allow-oob; "allow-oob": true in the schema). */
    QMP_CMD_ALLOW_OOB = 1u << 4,
};

typedef struct QmpCommand {
    const char *name;
    QmpCommandFn fn;
    const QmpType *args;          /* OBJECT type; NULL = no arguments */
    const QmpType *ret;           /* NULL = empty object {} */
    unsigned flags;
} QmpCommand;

typedef struct QmpEventDef {
    const char *name;
    const QmpType *data;          /* OBJECT type; NULL = no data */
} QmpEventDef;

QmpCommandTable *qmp_command_table_new(void);
void qmp_command_table_free(QmpCommandTable *t);
/*
 * Adds commands (array terminated by .name == NULL; must stay valid). A name
 * already present is replaced in place (its query-commands position kept).
 */
void qmp_command_table_add(QmpCommandTable *t, const QmpCommand *cmds);
void qmp_command_table_add_events(QmpCommandTable *t, const QmpEventDef *evs);
const QmpCommand *qmp_command_table_find(const QmpCommandTable *t, const char *name);
guint qmp_command_table_size(const QmpCommandTable *t);
/*
 * QEMU's --preconfig phase: while allowed (NULL-terminated, must stay valid)
 * is set, any other command fails with GenericError "The command 'X' is
 * permitted only after machine initialization has completed". NULL ends it.
 */
void qmp_command_table_set_preconfig(QmpCommandTable *t, const char *const *allowed);
bool qmp_command_table_in_preconfig(const QmpCommandTable *t);


/* Protocol commands implemented by the core, for use in command tables. */
bool qmp_cmd_qmp_capabilities(QmpCommandCtx *, JsonObject *, JsonNode **, GError **);
bool qmp_cmd_query_commands(QmpCommandCtx *, JsonObject *, JsonNode **, GError **);
bool qmp_cmd_query_events(QmpCommandCtx *, JsonObject *, JsonNode **, GError **);
bool qmp_cmd_query_qmp_schema(QmpCommandCtx *, JsonObject *, JsonNode **, GError **);
extern const QmpType qmp_capabilities_args;
extern const QmpType qmp_commands_ret, qmp_events_ret, qmp_schema_ret;

/* Result builders used by the protocol commands (exposed for tests). */
JsonNode *qmp_command_table_commands(const QmpCommandTable *t);
JsonNode *qmp_command_table_events(const QmpCommandTable *t);
JsonNode *qmp_command_table_schema(const QmpCommandTable *t);

/*
 * Validates `args` (may be NULL = {}) against an OBJECT type with QEMU's
 * messages ("Parameter 'x' is missing", "Invalid parameter type for 'x',
 * expected: string", "Parameter 'x' does not accept value 'y'", "Parameter
 * 'x' is unexpected"). allow_extra ignores unknown members at the top level.
 */
bool qmp_validate_args(const QmpType *type, JsonObject *args, bool allow_extra,
                       GError **err);
/*
 * One value against any type, named `path` in the messages ("backend.data"
 * gives "Parameter 'backend.data.path' is missing"): for members whose type
 * depends on another one (a union's data, checked once its tag is known).
 */
bool qmp_validate_value(const QmpType *type, JsonNode *v, const char *path, GError **err);

/* ---- dispatch ---------------------------------------------------------- */

/*
 * Handles one input message: `req` is the parsed value, or NULL with
 * `parse_err` set for a JSON error. Always returns a response object
 * {"return":...} or {"error":{"class","desc"}} plus "id" when the request was
 * an object with an id. *flags_out receives the command's flags (0 if no
 * command ran).
 */
JsonNode *qmp_dispatch(const QmpCommandTable *t, QmpSession *sess, void *opaque,
                       JsonNode *req, const GError *parse_err, unsigned *flags_out);

/*
 * An exec-oob request of a session that enabled OOB: the server runs it
 * ahead of the in-band requests it has queued.
 */
bool qmp_request_is_oob(const QmpSession *sess, JsonNode *req);

/* Error response for a request (id copied from req when it is an object). */
JsonNode *qmp_error_response(JsonNode *req, StratusErrorCode c, const char *desc);

/* Response -> one line without "\r\n": return payloads sorted by key. */
char *qmp_format_response(JsonNode *resp);
/* The same, a numeric "id" written as raw_id (the request's text) when given. */
char *qmp_format_response_raw_id(JsonNode *resp, const char *raw_id);

/* ---- output formats ----------------------------------------------------- */

/* oob: the capabilities list "oob" (QEMU greeting only). */
char *qmp_format_greeting(QmpGreeting g, const char *package_version, bool oob);
/* data may be NULL (written as {}); wall_us = microseconds since the epoch. */
char *qmp_format_event(const char *name, JsonNode *data, gint64 wall_us);

/* ---- leaky bucket (the monitor's rate-limit=, commands per second) ------ */

/* StratoVirt's limit: the default of lenient-mode monitors (config.h). */
#define QMP_RATE_LIMIT MONITOR_RATE_LIMIT_DEFAULT

typedef struct QmpRateLimiter {
    unsigned rate;                /* commands per second; 0 = no limit */
    gint64 level;                 /* in 1/1000000 command units */
    gint64 last_us;               /* time of the last update */
    bool started;
} QmpRateLimiter;

void qmp_rate_limiter_init(QmpRateLimiter *r, unsigned rate);
/* True if one more command may run at now_us (and accounts for it). */
bool qmp_rate_limiter_admit(QmpRateLimiter *r, gint64 now_us);
/* Microseconds until a command would be admitted (0 = now). */
gint64 qmp_rate_limiter_delay(QmpRateLimiter *r, gint64 now_us);

#endif
