/* Unit tests for src/util/strutil.c: parse_size, parse_uint, parse_bool. */
#include <string.h>
#include <glib.h>

#include "util/strutil.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

typedef struct SizeCase {
    const char *str;
    uint64_t unit;
    bool ok;
    uint64_t value;
} SizeCase;

static const SizeCase size_cases[] = {
    { "0", MiB, true, 0 },
    { "1", MiB, true, MiB },
    { "512", MiB, true, 512 * MiB },
    { "512", 1, true, 512 },
    { "1K", MiB, true, KiB },
    { "1k", MiB, true, KiB },
    { "64k", 1, true, 64 * KiB },
    { "127M", MiB, true, 127 * MiB },
    { "128M", MiB, true, 128 * MiB },
    { "128m", MiB, true, 128 * MiB },
    { "2G", MiB, true, 2 * GiB },
    { "2g", MiB, true, 2 * GiB },
    { "512G", MiB, true, 512 * GiB },
    { "513G", MiB, true, 513 * GiB },
    { "0G", MiB, true, 0 },
    { "007", MiB, true, 7 * MiB },
    { "17179869183G", MiB, true, 17179869183ULL * GiB },     /* just fits */
    { "18446744073709551615", 1, true, UINT64_MAX },
    { "805306368B", MiB, true, 805306368 },
    { "7b", MiB, true, 7 },
    /* overflow */
    { "17179869184G", MiB, false, 0 },
    { "99999999999999999999G", MiB, false, 0 },
    { "99999999999999999999", 1, false, 0 },
    { "18446744073709551616", 1, false, 0 },
    { "17592186044416", MiB, false, 0 },                     /* 2^44 MiB = 2^64 */
    /* junk */
    { "12X", MiB, false, 0 },
    { "-5", MiB, false, 0 },
    { "-0", MiB, false, 0 },
    { "+5", MiB, false, 0 },
    { "", MiB, false, 0 },
    { "M", MiB, false, 0 },
    { "G", MiB, false, 0 },
    { "B", MiB, false, 0 },
    { "1BB", MiB, false, 0 },
    { "1MB", MiB, false, 0 },
    { "1MM", MiB, false, 0 },
    { "1.5G", MiB, false, 0 },
    { " 1G", MiB, false, 0 },
    { "1G ", MiB, false, 0 },
    { "1 G", MiB, false, 0 },
    { "0x10", MiB, false, 0 },
    { "1T", MiB, false, 0 },
    { "abc", MiB, false, 0 },
    { "1,2", MiB, false, 0 },
};

static void test_parse_size(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(size_cases); i++) {
        const SizeCase *c = &size_cases[i];
        GError *err = NULL;
        uint64_t v = 0xdeadbeef;
        bool ok = parse_size(c->str, c->unit, &v, &err);

        if (ok != c->ok) {
            g_error("parse_size('%s') returned %d, expected %d", c->str, ok, c->ok);
        }
        if (ok) {
            g_assert_no_error(err);
            if (v != c->value) {
                g_error("parse_size('%s') = %" G_GUINT64_FORMAT ", expected %"
                        G_GUINT64_FORMAT, c->str, v, c->value);
            }
        } else {
            g_assert_error(err, STRATUS_ERROR, STRATUS_ERROR_GENERIC);
            g_assert_nonnull(strstr(err->message, c->str[0] ? c->str : ""));
            g_assert_null(strchr(err->message, '\n'));
            g_assert_cmpuint(v, ==, 0xdeadbeef);    /* untouched on error */
            g_error_free(err);
        }
    }
}

static void test_parse_size_null(void)
{
    uint64_t v;
    GError *err = NULL;

    g_assert_false(parse_size(NULL, MiB, &v, &err));
    g_assert_nonnull(err);
    g_error_free(err);
    /* A NULL GError** is allowed. */
    g_assert_false(parse_size("bad", MiB, &v, NULL));
    g_assert_true(parse_size("1", MiB, &v, NULL));
    g_assert_cmpuint(v, ==, MiB);
}

typedef struct UintCase {
    const char *str;
    bool ok;
    uint64_t value;
} UintCase;

static const UintCase uint_cases[] = {
    { "0", true, 0 },
    { "1", true, 1 },
    { "254", true, 254 },
    { "007", true, 7 },
    { "0x0", true, 0 },
    { "0x10", true, 16 },
    { "0XfF", true, 255 },
    { "0xffffffffffffffff", true, UINT64_MAX },
    { "18446744073709551615", true, UINT64_MAX },
    { "18446744073709551616", false, 0 },
    { "0x10000000000000000", false, 0 },
    { "99999999999999999999", false, 0 },
    { "", false, 0 },
    { "-1", false, 0 },
    { "+1", false, 0 },
    { " 1", false, 0 },
    { "1 ", false, 0 },
    { "0x", false, 0 },
    { "0xg", false, 0 },
    { "12a", false, 0 },
    { "1.0", false, 0 },
    { "1K", false, 0 },
};

static void test_parse_uint(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(uint_cases); i++) {
        const UintCase *c = &uint_cases[i];
        uint64_t v = 42;
        bool ok = parse_uint(c->str, &v);

        if (ok != c->ok) {
            g_error("parse_uint('%s') returned %d, expected %d", c->str, ok, c->ok);
        }
        g_assert_cmpuint(v, ==, ok ? c->value : 42);
    }
    g_assert_false(parse_uint(NULL, &(uint64_t){ 0 }));
}

typedef struct BoolCase {
    const char *str;
    bool ok;
    bool value;
} BoolCase;

static const BoolCase bool_cases[] = {
    { "on", true, true }, { "yes", true, true }, { "true", true, true },
    { "unmap", true, true },
    { "off", true, false }, { "no", true, false }, { "false", true, false },
    { "ignore", true, false },
    { "", false, false }, { "ON", false, false }, { "1", false, false },
    { "0", false, false }, { "onn", false, false }, { "of", false, false },
    { " on", false, false },
};

static void test_parse_bool(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(bool_cases); i++) {
        const BoolCase *c = &bool_cases[i];
        bool v = !c->value;
        bool ok = parse_bool(c->str, &v);

        if (ok != c->ok) {
            g_error("parse_bool('%s') returned %d, expected %d", c->str, ok, c->ok);
        }
        if (ok) {
            g_assert_cmpint(v, ==, c->value);
        }
    }
    g_assert_false(parse_bool(NULL, &(bool){ false }));
}

static void test_error_quark(void)
{
    GError *err = NULL;

    g_assert_cmpuint(STRATUS_ERROR, !=, 0);
    g_assert_cmpuint(STRATUS_ERROR, ==, stratus_error_quark());
    set_error(&err, "x %d", 1);
    g_assert_error(err, STRATUS_ERROR, STRATUS_ERROR_GENERIC);
    g_assert_cmpstr(err->message, ==, "x 1");
    g_error_free(err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/strutil/parse_size", test_parse_size);
    g_test_add_func("/strutil/parse_size_null", test_parse_size_null);
    g_test_add_func("/strutil/parse_uint", test_parse_uint);
    g_test_add_func("/strutil/parse_bool", test_parse_bool);
    g_test_add_func("/strutil/error_quark", test_error_quark);
    return g_test_run();
}
