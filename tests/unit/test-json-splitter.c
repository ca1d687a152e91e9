/*
 * Unit tests for the streaming QMP JSON splitter/parser (src/qmp/json-splitter.c)
 * and the compact output writer (src/qmp/qmp-json.c).
 */
#include <string.h>
#include <glib.h>

#include "qmp/json-splitter.h"
#include "qmp/qmp-json.h"

/* Feeds `in` in chunks of `chunk` bytes (0 = all at once) and returns one
 * line per result: the compact JSON of a message or "ERR:<message>". */
static char *run(JsonSplitter *s, const char *in, size_t len, size_t chunk)
{
    GString *out = g_string_new(NULL);
    size_t off = 0;

    if (!chunk) {
        chunk = len ? len : 1;
    }
    while (off < len) {
        size_t n = MIN(chunk, len - off);
        JsonNode *msg;
        GError *err = NULL;
        json_splitter_feed(s, in + off, n);
        off += n;
        while (json_splitter_next(s, &msg, &err)) {
            if (err) {
                g_string_append_printf(out, "ERR:%s\n", err->message);
                g_clear_error(&err);
            } else {
                char *j = qmp_json_to_string(msg, false);
                g_string_append_printf(out, "%s\n", j);
                g_free(j);
                json_node_unref(msg);
            }
        }
    }
    return g_string_free(out, FALSE);
}

static char *split(const char *in, size_t chunk)
{
    JsonSplitter *s = json_splitter_new(0, 0);
    char *r = run(s, in, strlen(in), chunk);
    json_splitter_free(s);
    return r;
}

static void check(const char *in, const char *expect)
{
    /* Every chunking must give the same result. */
    size_t sizes[] = { 0, 1, 2, 3, 7 };
    for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
        char *r = split(in, sizes[i]);
        if (strcmp(r, expect)) {
            g_test_message("input %s chunk %zu", in, sizes[i]);
        }
        g_assert_cmpstr(r, ==, expect);
        g_free(r);
    }
}

static void test_no_newline(void)
{
    check("{\"execute\":\"query-status\"}",
          "{\"execute\":\"query-status\"}\n");
}

static void test_several_in_one_read(void)
{
    check("{\"execute\":\"a\"}{\"execute\":\"b\"}\n{\"execute\":\"c\"}",
          "{\"execute\":\"a\"}\n{\"execute\":\"b\"}\n{\"execute\":\"c\"}\n");
}

static void test_whitespace(void)
{
    check(" \r\n\t { \"execute\" :\n \"x\" , \"arguments\" : { } }  \r\n",
          "{\"execute\":\"x\",\"arguments\":{}}\n");
}

static void test_split_across_reads(void)
{
    JsonSplitter *s = json_splitter_new(0, 0);
    JsonNode *msg = NULL;
    GError *err = NULL;

    json_splitter_feed(s, "{\"exec", 6);
    g_assert_false(json_splitter_next(s, &msg, &err));
    json_splitter_feed(s, "ute\":\"st", 8);
    g_assert_false(json_splitter_next(s, &msg, &err));
    json_splitter_feed(s, "op\"}", 4);
    g_assert_true(json_splitter_next(s, &msg, &err));
    g_assert_no_error(err);
    g_assert_nonnull(msg);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(msg),
                                                  "execute"), ==, "stop");
    json_node_unref(msg);
    g_assert_false(json_splitter_next(s, &msg, &err));
    g_assert_cmpuint(json_splitter_unconsumed(s), ==, 0);
    json_splitter_free(s);
}

static void test_braces_in_strings(void)
{
    check("{\"a\":\"}{][\\\"\",\"b\":'x}\"y'}",
          "{\"a\":\"}{][\\\"\",\"b\":\"x}\\\"y\"}\n");
}

static void test_single_quotes(void)
{
    check("{'execute':'query-name','id':'single\\'q'}",
          "{\"execute\":\"query-name\",\"id\":\"single'q\"}\n");
}

static void test_escapes(void)
{
    check("[\"\\n\\t\\r\\b\\f\\/\\\\\\u0041\\u00e9\\ud83d\\ude00\"]",
          "[\"\\n\\t\\r\\b\\f/\\\\A\\u00E9\\uD83D\\uDE00\"]\n");
}

static void test_scalars(void)
{
    /* Top-level scalars are complete messages (dispatch rejects them). */
    check("null 5\n[1,2] true false -1.5e3 0 ",
          "null\n5\n[1,2]\ntrue\nfalse\n-1500\n0\n");
}

static void test_numbers(void)
{
    check("[0,-0,12,1.25,1e2,1E+2,2e-1,9223372036854775807,-9223372036854775808]",
          "[0,0,12,1.25,100,100,0.2,9223372036854775807,"
          "-9223372036854775808]\n");
}

static void test_syntax_errors(void)
{
    check("{]", "ERR:JSON parse error, expecting value\n");
    check("{\"execute\": }", "ERR:JSON parse error, expecting value\n");
    check("{\"a\" 1}", "ERR:JSON parse error, missing : in object pair\n");
    check("{\"a\":1 \"b\":2}", "ERR:JSON parse error, expected separator in dict\n");
    check("[1 2]", "ERR:JSON parse error, expected separator in list\n");
    check("{1:2}", "ERR:JSON parse error, key is not a string in object\n");
    check("{\"a\":foo}", "ERR:JSON parse error, invalid keyword 'foo'\n");
    check("{\"a\":1,\"a\":2}", "ERR:JSON parse error, duplicate key\n");
    check("}", "ERR:JSON parse error, expecting value\n");
    check("[1,]", "ERR:JSON parse error, expecting value\n");
}

static void test_lexical_errors(void)
{
    check("{\xff", "ERR:JSON parse error, stray '\xef\xbf\xbd'\n");
    check("{\x01", "ERR:JSON parse error, stray '\x01'\n");
    check("{\"a\x01", "ERR:JSON parse error, stray '\"a\x01'\n");
    /* Recovery resumes at the '}' / ']', which then is an error of its own
     * (QEMU behaves the same). */
    check("{\"a\\x\"}", "ERR:JSON parse error, stray '\"a\\x'\n"
                         "ERR:JSON parse error, expecting value\n");
    check("[01]", "ERR:JSON parse error, stray '01'\n"
                  "ERR:JSON parse error, expecting value\n");
    check("[A]", "ERR:JSON parse error, stray 'A'\n"
                 "ERR:JSON parse error, expecting value\n");
}

static void test_reset_after_error(void)
{
    /* After any error the next request is served (qmp-test does this). */
    check("{]{\"execute\":\"a\"}", "ERR:JSON parse error, expecting value\n"
                                   "{\"execute\":\"a\"}\n");
    check("{\x01 junk \n{\"execute\":\"b\"}",
          "ERR:JSON parse error, stray '\x01'\n{\"execute\":\"b\"}\n");
    /* recovery skips to a structural char; "junk" is not re-lexed */
    check("{\"a\":1}\xff junk junk [2]", "{\"a\":1}\n"
          "ERR:JSON parse error, stray '\xef\xbf\xbd'\n[2]\n");
    check("{\"execute\":foo}\n{\"execute\":\"c\"}\n",
          "ERR:JSON parse error, invalid keyword 'foo'\n{\"execute\":\"c\"}\n");
}

static void test_nul_byte(void)
{
    JsonSplitter *s = json_splitter_new(0, 0);
    static const char in[] = "{\"a\":\0}{\"b\":1}";
    char *r = run(s, in, sizeof(in) - 1, 0);
    /* QEMU formats the stray token with %s: the NUL ends it. */
    g_assert_cmpstr(r, ==, "ERR:JSON parse error, stray ''\n"
                           "ERR:JSON parse error, expecting value\n{\"b\":1}\n");
    g_free(r);
    json_splitter_free(s);

    s = json_splitter_new(0, 0);
    static const char in2[] = "{\"a\":\"x\0y\"}\n{\"b\":2}";
    r = run(s, in2, sizeof(in2) - 1, 0);
    g_assert_cmpstr(r, ==, "ERR:JSON parse error, stray '\"x'\n"
                           "ERR:JSON parse error, expecting value\n{\"b\":2}\n");
    g_free(r);
    json_splitter_free(s);
}

static void test_invalid_utf8(void)
{
    /* Invalid UTF-8 inside a string: a GenericError, then business as usual. */
    check("{\"a\":\"\xc3(\"}{\"b\":1}",
          "ERR:JSON parse error, invalid UTF-8 sequence in string\n{\"b\":1}\n");
    check("{\"a\":\"\xed\xa0\x80\"}{\"b\":1}",
          "ERR:JSON parse error, invalid UTF-8 sequence in string\n{\"b\":1}\n");
    /* valid multibyte passes and is escaped on output */
    check("[\"\xc3\xa9\xe2\x82\xac\"]", "[\"\\u00E9\\u20AC\"]\n");
    check("[\"\\ud800\"]",
          "ERR:JSON parse error, \\ud800 is not a valid Unicode character\n");
    check("[\"\\u0000\"]",
          "ERR:JSON parse error, \\u0000 is not a valid Unicode character\n");
}

static void test_too_long(void)
{
    JsonSplitter *s = json_splitter_new(64, 0);
    GString *in = g_string_new("{\"execute\":\"");
    char *r;

    for (int i = 0; i < 100; i++) {
        g_string_append_c(in, 'a');
    }
    g_string_append(in, "\"}{\"execute\":\"ok\"}");
    r = run(s, in->str, in->len, 0);
    g_assert_cmpstr(r, ==, "ERR:The socket message is too long.\n"
                           "{\"execute\":\"ok\"}\n");
    g_free(r);
    /* exactly at the limit is fine */
    g_string_assign(in, "[\"");
    for (int i = 0; i < 60; i++) {
        g_string_append_c(in, 'b');
    }
    g_string_append(in, "\"]");
    g_assert_cmpuint(in->len, ==, 64);
    r = run(s, in->str, in->len, 5);
    g_assert_true(g_str_has_prefix(r, "[\"bbbb"));
    g_free(r);
    g_string_free(in, TRUE);
    json_splitter_free(s);
}

static void test_one_mib_message(void)
{
    /* 1 MiB nested message in 4 KiB reads with default limits: one error,
     * the data is dropped without being stored, the next request works. */
    JsonSplitter *s = json_splitter_new(0, 0);
    GString *in = g_string_new("{\"execute\":\"x\",\"arguments\":{\"data\":[");
    char *r;

    while (in->len < (1 << 20)) {
        g_string_append(in, "{\"k\":\"}}]]\",\"v\":[1,2,3]},");
    }
    g_string_append(in, "0]}}\n{\"execute\":\"query-status\",\"id\":7}");
    r = run(s, in->str, in->len, 4096);
    g_assert_cmpstr(r, ==, "ERR:The socket message is too long.\n"
                           "{\"execute\":\"query-status\",\"id\":7}\n");
    g_free(r);
    g_string_free(in, TRUE);
    json_splitter_free(s);
}

static void test_nesting_limit(void)
{
    JsonSplitter *s = json_splitter_new(1 << 20, 0);
    GString *in = g_string_new(NULL);
    char *r;

    /* 1024 levels are fine */
    for (int i = 0; i < 1024; i++) g_string_append_c(in, '[');
    for (int i = 0; i < 1024; i++) g_string_append_c(in, ']');
    r = run(s, in->str, in->len, 0);
    g_assert_true(g_str_has_prefix(r, "[[[["));
    g_free(r);

    g_string_truncate(in, 0);
    for (int i = 0; i < 1025; i++) g_string_append(in, "{\"a\":[");
    for (int i = 0; i < 1025; i++) g_string_append(in, "]}");
    g_string_append(in, "{\"execute\":\"after\"}");
    r = run(s, in->str, in->len, 100);
    g_assert_cmpstr(r, ==, "ERR:JSON nesting depth limit exceeded\n"
                           "{\"execute\":\"after\"}\n");
    g_free(r);
    g_string_free(in, TRUE);
    json_splitter_free(s);
}

static void test_finish(void)
{
    JsonSplitter *s = json_splitter_new(0, 0);
    JsonNode *msg = NULL;
    GError *err = NULL;

    json_splitter_feed(s, "42", 2);
    g_assert_false(json_splitter_next(s, &msg, &err));   /* needs lookahead */
    g_assert_true(json_splitter_finish(s, &msg, &err));
    g_assert_no_error(err);
    g_assert_cmpint(json_node_get_int(msg), ==, 42);
    json_node_unref(msg);

    json_splitter_feed(s, "{\"a\":", 5);
    g_assert_false(json_splitter_next(s, &msg, &err));
    g_assert_true(json_splitter_finish(s, &msg, &err));
    g_assert_error(err, JSON_SPLITTER_ERROR, JSON_SPLITTER_ERROR_PARSE);
    g_assert_cmpstr(err->message, ==, "JSON parse error, premature EOI");
    g_clear_error(&err);
    g_assert_false(json_splitter_finish(s, &msg, &err));
    json_splitter_free(s);
}

static void test_reset_api(void)
{
    JsonSplitter *s = json_splitter_new(0, 0);
    JsonNode *msg = NULL;
    GError *err = NULL;
    json_splitter_feed(s, "{\"a\":[1,", 8);
    g_assert_false(json_splitter_next(s, &msg, &err));
    json_splitter_reset(s);
    json_splitter_feed(s, "{\"b\":2}", 7);
    g_assert_true(json_splitter_next(s, &msg, &err));
    g_assert_nonnull(msg);
    json_node_unref(msg);
    json_splitter_free(s);
}

static void test_output_format(void)
{
    GError *err = NULL;
    static const char in[] = "{\"z\":1,\"a\":{\"y\":[true,null],\"b\":0.5},"
                             "\"M\":\"\\u0001\\u007f\\\"\"}";
    JsonNode *n = json_parse_qmp(in, strlen(in), &err);
    char *s;
    g_assert_no_error(err);
    s = qmp_json_to_string(n, false);
    g_assert_cmpstr(s, ==, "{\"z\":1,\"a\":{\"y\":[true,null],\"b\":0.5},"
                           "\"M\":\"\\u0001\\u007F\\\"\"}");
    g_free(s);
    s = qmp_json_to_string(n, true);
    g_assert_cmpstr(s, ==, "{\"M\":\"\\u0001\\u007F\\\"\",\"a\":{\"b\":0.5,"
                           "\"y\":[true,null]},\"z\":1}");
    g_free(s);
    json_node_unref(n);
}

/* A numeric id is kept as written; anything else has no raw text. */
static void test_raw_id(void)
{
    static const struct { const char *in, *raw; } cases[] = {
        { "{\"execute\":\"x\",\"id\":1e400}", "1e400" },
        { "{\"id\":18446744073709551616}", "18446744073709551616" },
        { "{\"id\":-0}", "-0" },
        { "{\"id\":1.50,\"arguments\":{\"id\":7}}", "1.50" },
        { "{\"arguments\":{\"id\":7}}", NULL },
        { "{\"id\":\"7\"}", NULL },
        { "[1]", NULL },
    };
    JsonSplitter *s = json_splitter_new(JSON_SPLITTER_DEFAULT_MAX_MESSAGE,
                                        JSON_SPLITTER_DEFAULT_MAX_DEPTH);

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        JsonNode *msg = NULL;
        GError *err = NULL;

        json_splitter_feed(s, cases[i].in, strlen(cases[i].in));
        g_assert_true(json_splitter_next(s, &msg, &err));
        g_assert_no_error(err);
        g_assert_cmpstr(json_splitter_raw_id(s), ==, cases[i].raw);
        json_node_unref(msg);
    }
    json_splitter_free(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/json-splitter/no-newline", test_no_newline);
    g_test_add_func("/json-splitter/several-in-one-read", test_several_in_one_read);
    g_test_add_func("/json-splitter/whitespace", test_whitespace);
    g_test_add_func("/json-splitter/split-across-reads", test_split_across_reads);
    g_test_add_func("/json-splitter/braces-in-strings", test_braces_in_strings);
    g_test_add_func("/json-splitter/single-quotes", test_single_quotes);
    g_test_add_func("/json-splitter/escapes", test_escapes);
    g_test_add_func("/json-splitter/scalars", test_scalars);
    g_test_add_func("/json-splitter/numbers", test_numbers);
    g_test_add_func("/json-splitter/syntax-errors", test_syntax_errors);
    g_test_add_func("/json-splitter/lexical-errors", test_lexical_errors);
    g_test_add_func("/json-splitter/reset-after-error", test_reset_after_error);
    g_test_add_func("/json-splitter/nul-byte", test_nul_byte);
    g_test_add_func("/json-splitter/invalid-utf8", test_invalid_utf8);
    g_test_add_func("/json-splitter/too-long", test_too_long);
    g_test_add_func("/json-splitter/one-mib-message", test_one_mib_message);
    g_test_add_func("/json-splitter/nesting-limit", test_nesting_limit);
    g_test_add_func("/json-splitter/finish", test_finish);
    g_test_add_func("/json-splitter/reset-api", test_reset_api);
    g_test_add_func("/json-splitter/output-format", test_output_format);
    g_test_add_func("/json-splitter/raw-id", test_raw_id);
    return g_test_run();
}
