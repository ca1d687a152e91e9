/*
 * File descriptor sets (docs/qmp.md "File descriptor sets"): add-fd,
 * remove-fd, query-fdsets with QEMU 7.2's arguments, answers and error
 * texts. A management tool passes descriptors it opened (SCM_RIGHTS) and
 * groups them by set id; unlike getfd's names they are machine-wide, not per
 * monitor, as in QEMU.
 *
 * One difference, on purpose: remove-fd closes the descriptor at once and a
 * set without descriptors disappears. QEMU 7.2 keeps a removed descriptor
 * (and lists it) until no monitor is connected, because something may still
 * use a duplicate of it; nothing in Stratus opens /dev/fdset/N paths, so no
 * duplicate can exist.
 *
 * Sets and descriptors are bounded (QMP_MAX_FDSETS, QMP_MAX_FDSET_FDS) so a
 * client cannot exhaust the VMM's descriptors through them. Handlers run on
 * the main loop with the machine lock held; ctx->opaque is the Machine.
 */
#include <unistd.h>

#include "machine.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "qmp/qmp-json.h"

#define QMP_MAX_FDSETS     64
#define QMP_MAX_FDSET_FDS  64      /* in all sets together */

typedef struct {
    int fd;
    char *opaque;               /* NULL when not given */
} FdSetFd;

typedef struct {
    gint64 id;
    GArray *fds;                /* FdSetFd, in the order added */
} FdSet;

static void fdset_fd_clear(gpointer p)
{
    FdSetFd *f = p;

    close(f->fd);
    g_free(f->opaque);
}

static void fdset_free(gpointer p)
{
    FdSet *s = p;

    g_array_unref(s->fds);
    g_free(s);
}

static const QmpMember add_fd_args_m[] = {
    { "fdset-id", &qmp_type_int, .optional = true },
    { "opaque", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType add_fd_args = QMP_OBJECT_TYPE(add_fd_args_m);

static const QmpMember addfd_info_m[] = {
    { "fdset-id", &qmp_type_int }, { "fd", &qmp_type_int }, { NULL }
};
static const QmpType addfd_info = QMP_OBJECT_TYPE(addfd_info_m);

static const QmpMember remove_fd_args_m[] = {
    { "fdset-id", &qmp_type_int },
    { "fd", &qmp_type_int, .optional = true },
    { NULL }
};
static const QmpType remove_fd_args = QMP_OBJECT_TYPE(remove_fd_args_m);

static const QmpMember fdset_fd_info_m[] = {
    { "fd", &qmp_type_int }, { "opaque", &qmp_type_str, .optional = true }, { NULL }
};
static const QmpType fdset_fd_info = QMP_OBJECT_TYPE(fdset_fd_info_m);
static const QmpType fdset_fd_info_list = QMP_ARRAY_TYPE(&fdset_fd_info);
static const QmpMember fdset_info_m[] = {
    { "fdset-id", &qmp_type_int }, { "fds", &fdset_fd_info_list }, { NULL }
};
static const QmpType fdset_info = QMP_OBJECT_TYPE(fdset_info_m);
static const QmpType fdset_info_list = QMP_ARRAY_TYPE(&fdset_info);

static GHashTable *fdsets(Machine *m)
{
    if (!m->fdsets) {
        m->fdsets = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, fdset_free);
    }
    return m->fdsets;
}

static guint fdset_fd_count(GHashTable *sets)
{
    GHashTableIter it;
    gpointer v;
    guint n = 0;

    g_hash_table_iter_init(&it, sets);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        n += ((FdSet *)v)->fds->len;
    }
    return n;
}

/* QEMU's choice without fdset-id: the lowest id not in use. */
static gint64 fdset_free_id(GHashTable *sets)
{
    gint64 id = 0;

    while (g_hash_table_contains(sets, &id)) {
        id++;
    }
    return id;
}

static FdSet *fdset_get_or_add(GHashTable *sets, gint64 id, GError **err)
{
    FdSet *s = g_hash_table_lookup(sets, &id);

    if (s) {
        return s;
    }
    if (g_hash_table_size(sets) >= QMP_MAX_FDSETS) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "Too many file descriptor sets (at most %d)", QMP_MAX_FDSETS);
        return NULL;
    }
    s = g_new0(FdSet, 1);
    s->id = id;
    s->fds = g_array_new(FALSE, FALSE, sizeof(FdSetFd));
    g_array_set_clear_func(s->fds, fdset_fd_clear);
    g_hash_table_insert(sets, &s->id, s);
    return s;
}

static bool qmp_add_fd(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    GHashTable *sets = fdsets(ctx->opaque);
    gint64 id = json_object_has_member(args, "fdset-id") ?
                json_object_get_int_member(args, "fdset-id") : fdset_free_id(sets);
    FdSetFd f = { -1, NULL };
    JsonObject *o;
    FdSet *s;

    /* QEMU checks the id before looking for the descriptor. */
    if (id < 0) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "Parameter 'fdset-id' expects a non-negative value");
        return false;
    }
    f.fd = qmp_session_take_scm_fd(ctx->session);
    if (f.fd < 0) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "No file descriptor supplied via SCM_RIGHTS");
        return false;
    }
    if (fdset_fd_count(sets) >= QMP_MAX_FDSET_FDS) {
        close(f.fd);
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "Too many descriptors in file descriptor sets (at most %d)",
                      QMP_MAX_FDSET_FDS);
        return false;
    }
    s = fdset_get_or_add(sets, id, err);
    if (!s) {
        close(f.fd);
        return false;
    }
    if (json_object_has_member(args, "opaque")) {
        f.opaque = g_strdup(json_object_get_string_member(args, "opaque"));
    }
    g_array_append_val(s->fds, f);
    o = json_object_new();
    json_object_set_int_member(o, "fdset-id", id);
    json_object_set_int_member(o, "fd", f.fd);
    *ret = qmp_node_object(o);
    return true;
}

static bool qmp_remove_fd(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    GHashTable *sets = fdsets(ctx->opaque);
    gint64 id = json_object_get_int_member(args, "fdset-id");
    bool one = json_object_has_member(args, "fd");
    gint64 fd = one ? json_object_get_int_member(args, "fd") : -1;
    FdSet *s = g_hash_table_lookup(sets, &id);

    if (s && !one) {
        g_hash_table_remove(sets, &id);
        return true;
    }
    for (guint i = 0; s && i < s->fds->len; i++) {
        if (g_array_index(s->fds, FdSetFd, i).fd == fd) {
            g_array_remove_index(s->fds, i);
            if (s->fds->len == 0) {
                g_hash_table_remove(sets, &id);
            }
            return true;
        }
    }
    if (one) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "File descriptor named 'fdset-id:%" G_GINT64_FORMAT ", fd:%"
                      G_GINT64_FORMAT "' not found", id, fd);
    } else {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "File descriptor named 'fdset-id:%" G_GINT64_FORMAT "' not found", id);
    }
    return false;
}

static gint fdset_cmp_desc(gconstpointer a, gconstpointer b)
{
    gint64 x = (*(FdSet *const *)a)->id, y = (*(FdSet *const *)b)->id;

    return x < y ? 1 : x > y ? -1 : 0;
}

static JsonObject *fdset_json(const FdSet *s)
{
    JsonObject *o = json_object_new();
    JsonArray *fds = json_array_new();

    for (guint i = 0; i < s->fds->len; i++) {
        const FdSetFd *f = &g_array_index(s->fds, FdSetFd, i);
        JsonObject *e = json_object_new();

        json_object_set_int_member(e, "fd", f->fd);
        if (f->opaque) {
            json_object_set_string_member(e, "opaque", f->opaque);
        }
        json_array_add_object_element(fds, e);
    }
    json_object_set_array_member(o, "fds", fds);
    json_object_set_int_member(o, "fdset-id", s->id);
    return o;
}

/* Highest id first, as QEMU 7.2 lists them; descriptors in the order added. */
static bool qmp_query_fdsets(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                             GError **err)
{
    g_autoptr(GPtrArray) v = g_ptr_array_new();
    JsonArray *a = json_array_new();
    GHashTableIter it;
    gpointer s;

    g_hash_table_iter_init(&it, fdsets(ctx->opaque));
    while (g_hash_table_iter_next(&it, NULL, &s)) {
        g_ptr_array_add(v, s);
    }
    g_ptr_array_sort(v, fdset_cmp_desc);
    for (guint i = 0; i < v->len; i++) {
        json_array_add_object_element(a, fdset_json(g_ptr_array_index(v, i)));
    }
    *ret = qmp_node_array(a);
    return true;
}

static const QmpCommand fdset_cmds[] = {
    { "add-fd", qmp_add_fd, &add_fd_args, &addfd_info },
    { "remove-fd", qmp_remove_fd, &remove_fd_args, &qmp_type_empty },
    { "query-fdsets", qmp_query_fdsets, NULL, &fdset_info_list },
    { NULL }
};

void qmp_register_fdset_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, fdset_cmds);
}
