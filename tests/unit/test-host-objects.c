/*
 * memory-backend-ram (src/backends/object.c) and its -object form
 * (src/options/opt-object.c): QEMU 7.2's texts for every refusal, and
 * query-command-line-options' table (src/options/opt-params.c).
 */
#include <string.h>

#include "config.h"
#include "backends/object.h"

static void test_memory_backend(void)
{
    ObjectTable *t = object_table_new();
    MemoryBackendOptions o = MEMORY_BACKEND_OPTIONS_INIT;
    const MemoryBackend *b;
    g_autoptr(GError) err = NULL;

    o.size = 1 << 20;
    o.prealloc = true;
    g_assert_true(object_add_memory_backend_ram(t, "m0", &o, &err));
    g_assert_no_error(err);
    b = host_object_memory_backend(object_table_find(t, "m0"));
    g_assert_nonnull(b);
    g_assert_cmpuint(memory_backend_options(b)->size, ==, 1 << 20);
    g_assert_true(memory_backend_options(b)->merge);
    g_assert_cmpstr(host_object_type(object_table_find(t, "m0")), ==, "memory-backend-ram");
    g_assert_false(object_add_memory_backend_ram(t, "m0", &o, &err));
    g_assert_cmpstr(err->message, ==,
                    "attempt to add duplicate property 'm0' to object (type 'container')");
    g_clear_error(&err);
    g_assert_false(object_add_memory_backend_ram(t, "9", &o, &err));
    g_assert_cmpstr(err->message, ==, "Parameter 'id' expects an identifier");
    g_clear_error(&err);
    o.size = 0;
    g_assert_false(object_add_memory_backend_ram(t, "m1", &o, &err));
    g_assert_cmpstr(err->message, ==,
                    "property 'size' of memory-backend-ram doesn't take value '0'");
    g_clear_error(&err);
    /* More than the address space: refused, not a crash (QEMU aborts here). */
    o.size = UINT64_MAX;
    o.prealloc = false;
    g_assert_false(object_add_memory_backend_ram(t, "m1", &o, &err));
    g_assert_cmpstr(err->message, ==, "cannot set up guest memory 'm1': Cannot allocate memory");
    g_clear_error(&err);
    g_assert_true(object_table_del(t, "m0", NULL));
    g_assert_null(object_table_find(t, "m0"));
    object_table_free(t);
}

static StratusConfig *parse_object(const char *value, GError **err)
{
    char *argv[] = { (char *)"stratus", (char *)"-accel", (char *)"qtest",
                     (char *)"-object", (char *)value, NULL };

    return config_parse(5, argv, err);
}

static void parse_fails(const char *value, const char *msg)
{
    g_autoptr(GError) err = NULL;

    g_assert_null(parse_object(value, &err));
    g_assert_cmpstr(err->message, ==, msg);
}

static void test_option(void)
{
    g_autoptr(GError) err = NULL;
    StratusConfig *cfg = parse_object("memory-backend-ram,id=m0,size=64M,share=on", &err);

    g_assert_no_error(err);
    g_assert_cmpuint(cfg->objects->len, ==, 1);
    config_free(cfg);
    parse_fails("memory-backend-ram,id=m0", "-object: Parameter 'size' is missing");
    parse_fails("memory-backend-ram,id=m0,size=x",
                "-object: Parameter 'size' expects a non-negative number below 2^64");
    parse_fails("memory-backend-ram,id=m0,size=1M,share=maybe",
                "-object: Parameter 'share' expects 'on' or 'off'");
    parse_fails("memory-backend-ram,id=m0,size=1M,filename=/x",
                "-object: Invalid parameter 'filename'");
}

static void test_option_params(void)
{
    static const char *const types[] = { "string", "boolean", "number", "size", NULL };
    unsigned n = 0;

    for (const ConfigOptionInfo *i = config_option_params(); i->option; i++, n++) {
        for (const ConfigOptionParam *p = i->params; p->name; p++) {
            g_assert_true(g_strv_contains(types, p->type));
        }
    }
    g_assert_cmpuint(n, >, 5);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/host-objects/memory-backend-ram", test_memory_backend);
    g_test_add_func("/host-objects/option", test_option);
    g_test_add_func("/host-objects/option-params", test_option_params);
    return g_test_run();
}
