/*
 * The "type,key=value,flag,..." parser behind every option that takes
 * parameters (OptList, public in config.h), and the typed value checks the
 * option handlers share. Kept apart from the handlers because -drive and
 * -device lists outlive parsing (machine code reads them with optlist_get())
 * and because every handler reports bad values with the same texts.
 */
#include <string.h>

#include "config.h"
#include "options/options-internal.h"
#include "util/strutil.h"

/* ------------------------------------------------------------------------ */
/* OptList: "type,key=value,flag,..."                                        */
/* ------------------------------------------------------------------------ */

static void optpair_free(gpointer p)
{
    OptPair *pair = p;

    g_free(pair->key);
    g_free(pair->value);
    g_free(pair);
}

static void optlist_add(OptList *l, const char *key, const char *value)
{
    OptPair *pair = g_new0(OptPair, 1);

    pair->key = g_strdup(key);
    pair->value = g_strdup(value);
    g_ptr_array_add(l->pairs, pair);
}

OptList *optlist_parse_full(const char *str, const char *implied_key,
                            bool force_implied, GError **err)
{
    OptList *l;
    GString *tok;
    const char *p;
    bool first = true;

    if (!str || !*str) {
        set_error(err, "empty parameter string");
        return NULL;
    }
    l = g_new0(OptList, 1);
    l->pairs = g_ptr_array_new_with_free_func(optpair_free);
    tok = g_string_new(NULL);
    p = str;
    for (;;) {
        bool end_of_token = false;
        bool end_of_string = false;

        if (*p == '\0') {
            end_of_token = end_of_string = true;
        } else if (*p == ',') {
            if (p[1] == ',') {
                g_string_append_c(tok, ',');
                p += 2;
                continue;
            }
            end_of_token = true;
            p++;
        } else {
            g_string_append_c(tok, *p);
            p++;
            continue;
        }

        if (end_of_token) {
            char *eq = strchr(tok->str, '=');

            if (tok->len == 0) {
                set_error(err, "empty parameter in '%s'", str);
                goto fail;
            }
            if (first && implied_key && (force_implied || !eq)) {
                optlist_add(l, implied_key, tok->str);
            } else if (!eq) {
                optlist_add(l, tok->str, "on");
            } else if (eq == tok->str) {
                set_error(err, "parameter '%s' has no name in '%s'", tok->str, str);
                goto fail;
            } else {
                *eq = '\0';
                optlist_add(l, tok->str, eq + 1);
            }
            first = false;
            g_string_truncate(tok, 0);
        }
        if (end_of_string) {
            break;
        }
    }
    g_string_free(tok, TRUE);
    return l;

fail:
    g_string_free(tok, TRUE);
    optlist_free(l);
    return NULL;
}

OptList *optlist_parse(const char *str, const char *implied_key, GError **err)
{
    return optlist_parse_full(str, implied_key, false, err);
}

void optlist_free(OptList *l)
{
    if (!l) {
        return;
    }
    g_ptr_array_unref(l->pairs);
    g_free(l);
}

const char *optlist_get(const OptList *l, const char *key)
{
    if (!l || !key) {
        return NULL;
    }
    for (guint i = l->pairs->len; i > 0; i--) {
        const OptPair *pair = g_ptr_array_index(l->pairs, i - 1);
        if (strcmp(pair->key, key) == 0) {
            return pair->value;
        }
    }
    return NULL;
}

bool optlist_check_keys(const OptList *l, const char *const *allowed,
                        const char *option, GError **err)
{
    for (guint i = 0; i < l->pairs->len; i++) {
        const OptPair *pair = g_ptr_array_index(l->pairs, i);
        bool ok = false;

        for (const char *const *a = allowed; *a; a++) {
            if (strcmp(*a, pair->key) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            set_error(err, "%s: unknown parameter '%s'", option, pair->key);
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Value checks shared by the option handlers                                */
/* ------------------------------------------------------------------------ */

bool opt_check_str(const char *option, const char *what, const char *value,
                   size_t max, GError **err)
{
    size_t len = strlen(value);

    if (len == 0) {
        set_error(err, "%s: %s must not be empty", option, what);
        return false;
    }
    if (len > max) {
        set_error(err, "%s: %s is too long (%zu > %zu characters)", option, what, len, max);
        return false;
    }
    return true;
}

bool opt_check_sock_path(const char *option, const char *value, GError **err)
{
    if (!opt_check_str(option, "socket path", value, MAX_PATH_LENGTH, err)) {
        return false;
    }
    if (strlen(value) > MAX_SOCK_PATH_BYTES) {
        set_error(err, "%s: unix socket path '%.40s...' is too long (%zu > %d bytes)",
                  option, value, strlen(value), MAX_SOCK_PATH_BYTES);
        return false;
    }
    return true;
}

bool opt_get_bool(const OptList *l, const char *key, const char *option,
                  bool *out, bool *present, GError **err)
{
    const char *v = optlist_get(l, key);

    if (present) {
        *present = v != NULL;
    }
    if (!v) {
        return true;
    }
    if (!parse_bool(v, out)) {
        set_error(err, "%s: invalid value '%s' for '%s' (expected on or off)",
                  option, v, key);
        return false;
    }
    return true;
}

bool opt_parse_port(const char *option, const char *value, int *port, GError **err)
{
    uint64_t v;

    if (!parse_uint(value, &v) || v > 65535) {
        set_error(err, "%s: invalid port '%s' (expected 0..65535)", option, value);
        return false;
    }
    *port = (int)v;
    return true;
}

bool opt_one_of(const char *value, const char *const *choices)
{
    for (const char *const *c = choices; *c; c++) {
        if (strcmp(*c, value) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Parses an option's "key=value,..." argument. Syntax errors get the option
 * name in front, as every other error here has; keys, if given, are the
 * parameters the option accepts.
 */
OptList *opt_parse_params(const char *opt, const char *value, const char *implied_key,
                          bool force_implied, const char *const *keys, GError **err)
{
    OptList *l = optlist_parse_full(value, implied_key, force_implied, err);

    if (!l) {
        g_prefix_error(err, "%s: ", opt);
        return NULL;
    }
    if (keys && !optlist_check_keys(l, keys, opt, err)) {
        optlist_free(l);
        return NULL;
    }
    return l;
}

/*
 * A string parameter that must pass opt_check_str() when present; required:
 * its absence is an error too. *out is NULL when it is absent.
 */
bool opt_get_str(const OptList *l, const char *key, const char *opt, size_t max,
                 bool required, const char **out, GError **err)
{
    *out = optlist_get(l, key);
    if (!*out) {
        if (required) {
            set_error(err, "%s: '%s' is required", opt, key);
            return false;
        }
        return true;
    }
    return opt_check_str(opt, key, *out, max, err);
}

/*
 * An optional parameter with a fixed set of values; expected is the list as
 * the error message spells it. *out is NULL when it is absent.
 */
bool opt_get_choice(const OptList *l, const char *key, const char *const *choices,
                    const char *expected, const char *opt, const char **out,
                    GError **err)
{
    *out = optlist_get(l, key);
    if (*out && !opt_one_of(*out, choices)) {
        set_error(err, "%s: invalid %s '%s' (expected %s)", opt, key, *out, expected);
        return false;
    }
    return true;
}
