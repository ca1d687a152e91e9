/*
 * HMP's command-line parser, QEMU's monitor/hmp.c rules: command names end
 * at a space or '/', sub-commands (info) follow their command, arguments are
 * typed by the command's args_type, integers are C-like expressions, and
 * errors print QEMU's texts ("unknown command", "extraneous characters at
 * the end of line", "integer is for 32-bit values", ...).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/hmp-internal.h"

bool hmp_is_space(char c)
{
    return g_ascii_isspace(c);
}

/* hmp_compare_cmd(): name is one of list's '|'-separated names. */
bool hmp_name_matches(const char *name, const char *list)
{
    size_t len = strlen(name);

    for (const char *p = list;;) {
        const char *end = strchrnul(p, '|');
        if ((size_t)(end - p) == len && !memcmp(p, name, len)) {
            return true;
        }
        if (!*end) {
            return false;
        }
        p = end + 1;
    }
}

static const HmpCommand *find_command(const HmpCommand *table, const char *name)
{
    for (const HmpCommand *c = table; c->name; c++) {
        if (hmp_name_matches(name, c->name)) {
            return c;
        }
    }
    return NULL;
}

/*
 * hmp_get_str(): a word, or a double-quoted string with \n \r \\ \' \"
 * escapes. false (and *pp past what was read) when there is none or it is
 * malformed.
 */
bool hmp_get_str(GString *buf, const char **pp)
{
    const char *p = *pp;

    g_string_truncate(buf, 0);
    while (hmp_is_space(*p)) {
        p++;
    }
    if (!*p) {
        *pp = p;
        return false;
    }
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            if (*p == '\\') {
                char c = *++p;
                p += c != '\0';
                switch (c) {
                case 'n':
                    c = '\n';
                    break;
                case 'r':
                    c = '\r';
                    break;
                case '\\':
                case '\'':
                case '"':
                    break;
                default:
                    *pp = p;
                    return false;
                }
                g_string_append_c(buf, c);
            } else {
                g_string_append_c(buf, *p++);
            }
        }
        if (*p != '"') {
            *pp = p;
            return false;
        }
        p++;
    } else {
        while (*p && !hmp_is_space(*p)) {
            g_string_append_c(buf, *p++);
        }
    }
    *pp = p;
    return true;
}

/*
 * monitor_parse_command(): the command (and sub-command) naming *cmdp, or
 * NULL after printing "unknown command" (or nothing, for a blank line). A
 * name ends at a space or '/'. *cmdp is left after the name and its spaces.
 */
const HmpCommand *hmp_parse_command(Hmp *h, const char *start, const char **cmdp,
                                    const HmpCommand *table)
{
    const char *p = *cmdp, *name_start;
    g_autofree char *name = NULL;
    const HmpCommand *cmd;

    while (hmp_is_space(*p)) {
        p++;
    }
    if (!*p) {
        return NULL;
    }
    name_start = p;
    while (*p && *p != '/' && !hmp_is_space(*p)) {
        p++;
    }
    name = g_strndup(name_start, (gsize)(p - name_start));
    cmd = find_command(table, name);
    if (!cmd) {
        hmp_printf(h, "unknown command: '%.*s'\n", (int)(p - start), start);
        return NULL;
    }
    while (hmp_is_space(*p)) {
        p++;
    }
    *cmdp = p;
    if (cmd->sub_table && *p) {
        return hmp_parse_command(h, start, cmdp, cmd->sub_table);
    }
    return cmd;
}

/*
 * QEMU's get_expr(): an integer expression, C precedence for + - * / % & | ^,
 * unary + - ~, parentheses, decimal/0x/0 numbers and 'c' constants.
 * CPU registers ($eax) do not exist here: "unknown register". On an error
 * prints QEMU's text and returns false.
 */
typedef struct Expr {
    Hmp *h;
    const char *p;
    bool failed;
} Expr;

static gint64 expr_sum(Expr *e);

static void expr_error(Expr *e, const char *msg, char c)
{
    if (!e->failed) {
        if (c) {
            hmp_printf(e->h, msg, c);
        } else {
            g_string_append(e->h->out, msg);
        }
        hmp_printf(e->h, "\n");
    }
    e->failed = true;
}

static void expr_next(Expr *e)
{
    if (*e->p) {
        e->p++;
        while (hmp_is_space(*e->p)) {
            e->p++;
        }
    }
}

static gint64 expr_unary(Expr *e)
{
    gint64 n = 0;
    char *end;

    if (e->failed) {
        return 0;
    }
    switch (*e->p) {
    case '+':
        expr_next(e);
        return expr_unary(e);
    case '-':
        expr_next(e);
        return -expr_unary(e);
    case '~':
        expr_next(e);
        return ~expr_unary(e);
    case '(':
        expr_next(e);
        n = expr_sum(e);
        if (*e->p != ')') {
            expr_error(e, "')' expected", 0);
        }
        expr_next(e);
        return n;
    case '\'':
        e->p++;
        if (!*e->p) {
            expr_error(e, "character constant expected", 0);
            return 0;
        }
        n = (unsigned char)*e->p++;
        if (*e->p != '\'') {
            expr_error(e, "missing terminating ' character", 0);
        }
        expr_next(e);
        return n;
    case '$':
        expr_error(e, "unknown register", 0);
        return 0;
    case '\0':
        expr_error(e, "unexpected end of expression", 0);
        return 0;
    default:
        errno = 0;
        n = (gint64)strtoull(e->p, &end, 0);
        if (errno == ERANGE) {
            expr_error(e, "number too large", 0);
        }
        if (end == e->p) {
            expr_error(e, "invalid char '%c' in expression", *end);
            return 0;
        }
        e->p = end;
        while (hmp_is_space(*e->p)) {
            e->p++;
        }
        return n;
    }
}

/* QEMU's levels, loosest first: + -, then & | ^, then * / % (not C's order). */
static const char *const expr_levels[] = { "+-", "&|^", "*/%" };

/* Wrapping arithmetic as QEMU's int64 expressions, without C's traps. */
static gint64 expr_apply(Expr *e, char op, gint64 v, gint64 w)
{
    switch (op) {
    case '+':
        return (gint64)((guint64)v + (guint64)w);
    case '-':
        return (gint64)((guint64)v - (guint64)w);
    case '*':
        return (gint64)((guint64)v * (guint64)w);
    case '&':
        return v & w;
    case '|':
        return v | w;
    case '^':
        return v ^ w;
    }
    if (w == 0) {
        expr_error(e, "division by zero", 0);
        return v;
    }
    if (w == -1) {
        return op == '/' ? (gint64)(0 - (guint64)v) : 0;  /* no INT64_MIN / -1 trap */
    }
    return op == '/' ? v / w : v % w;
}

static gint64 expr_level(Expr *e, size_t level)
{
    gint64 v;

    if (level == G_N_ELEMENTS(expr_levels)) {
        return expr_unary(e);
    }
    v = expr_level(e, level + 1);
    while (!e->failed && *e->p && strchr(expr_levels[level], *e->p)) {
        char op = *e->p;
        gint64 w;

        expr_next(e);
        w = expr_level(e, level + 1);
        v = expr_apply(e, op, v, w);
    }
    return v;
}

static gint64 expr_sum(Expr *e)
{
    return expr_level(e, 0);
}

static bool get_expr(Hmp *h, gint64 *val, const char **pp)
{
    Expr e = { .h = h, .p = *pp };

    while (hmp_is_space(*e.p)) {
        e.p++;
    }
    *val = expr_sum(&e);
    *pp = e.p;
    return !e.failed;
}

/* key_get_info(): the key before ':' of the next args_type entry. */
static const char *next_arg_type(const char *type, char **key)
{
    const char *colon;

    if (*type == ',') {
        type++;
    }
    colon = strchr(type, ':');
    if (!colon) {
        *key = NULL;
        return NULL;
    }
    *key = g_strndup(type, (gsize)(colon - type));
    return colon + 1;
}

/*
 * monitor_parse_arguments() for the types the table uses: s and B (a
 * string; '?' optional), S (the rest of the line; '?' optional), i (a 32-bit
 * integer expression) and -X (a boolean flag -X). NULL after printing the
 * problem.
 */
HmpArgs *hmp_parse_arguments(Hmp *h, const char *p, const HmpCommand *cmd)
{
    HmpArgs *args = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GString) buf = g_string_new(NULL);
    const char *type = cmd->args_type;
    char *key = NULL;

    while ((type = next_arg_type(type, &key))) {
        char c = *type++;

        switch (c) {
        case 's':
        case 'B':
            while (hmp_is_space(*p)) {
                p++;
            }
            if (*type == '?') {
                type++;
                if (!*p) {
                    break;
                }
            }
            if (!hmp_get_str(buf, &p)) {
                hmp_printf(h, c == 'B' ? "%s: block device name expected\n"
                                       : "%s: string expected\n", cmd->name);
                goto fail;
            }
            g_hash_table_insert(args, g_strdup(key), g_strdup(buf->str));
            break;
        case 'O':
            /* QEMU's option list ("driver,key=value"): one word; none at all is left to the command. */
            while (hmp_is_space(*p)) {
                p++;
            }
            if (!*p) {
                break;
            }
            if (!hmp_get_str(buf, &p)) {
                hmp_printf(h, "%s: string expected\n", cmd->name);
                goto fail;
            }
            g_hash_table_insert(args, g_strdup(key), g_strdup(buf->str));
            break;
        case 'S':
            while (hmp_is_space(*p)) {
                p++;
            }
            if (*type == '?') {
                type++;
                if (!*p) {
                    break;
                }
            }
            if (!*p) {
                hmp_printf(h, "%s: string expected\n", cmd->name);
                goto fail;
            }
            g_hash_table_insert(args, g_strdup(key), g_strdup(p));
            p += strlen(p);
            break;
        case 'i': {
            gint64 v;

            if (!get_expr(h, &v, &p)) {
                goto fail;
            }
            if ((v >> 32) & 0xffffffff) {
                hmp_printf(h, "'%s' has failed: integer is for 32-bit values\n", cmd->name);
                goto fail;
            }
            g_hash_table_insert(args, g_strdup(key),
                                g_strdup_printf("%" G_GINT64_FORMAT, v));
            break;
        }
        case '-': {
            const char *before = p;
            char opt = *type++;

            while (hmp_is_space(*p)) {
                p++;
            }
            if (*p == '-') {
                p++;
                if (opt != *p) {
                    /* Another option of this command: left for its own entry. */
                    char want[3] = { '-', *p, '\0' };
                    if (!strstr(type, want)) {
                        hmp_printf(h, "%s: unsupported option -%c\n", cmd->name, *p);
                        goto fail;
                    }
                    p = before;
                } else {
                    p++;
                    g_hash_table_insert(args, g_strdup(key), g_strdup("on"));
                }
            }
            break;
        }
        default:
            hmp_printf(h, "%s: unknown type '%c'\n", cmd->name, c);
            goto fail;
        }
        g_clear_pointer(&key, g_free);
    }
    while (hmp_is_space(*p)) {
        p++;
    }
    if (*p) {
        hmp_printf(h, "%s: extraneous characters at the end of line\n", cmd->name);
        goto fail;
    }
    return args;

fail:
    g_free(key);
    g_hash_table_unref(args);
    return NULL;
}
