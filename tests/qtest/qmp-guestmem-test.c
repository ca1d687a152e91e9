/*
 * pmemsave / memsave (src/qmp/qmp-commands-guestmem.c): what qtest writes
 * into guest RAM is what the file holds; outside RAM reads as zeros; QEMU
 * 7.2's error texts. Under qtest no vCPU runs, so memsave's linear addresses
 * are physical (the page walk itself is unit-tested: test-pagewalk).
 */
#include <string.h>
#include <unistd.h>
#include "qtest.h"

static char *tmp_file(void)
{
    g_autoptr(GError) err = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("memsave-XXXXXX", &path, &err);

    g_assert_no_error(err);
    close(fd);
    return path;
}

static void assert_file(const char *path, const void *want, size_t n)
{
    g_autofree char *got = NULL;
    gsize len = 0;

    g_assert_true(g_file_get_contents(path, &got, &len, NULL));
    g_assert_cmpuint(len, ==, n);
    g_assert_cmpmem(got, len, want, n);
}

static void test_pmemsave(void)
{
    QTestState *s = qtest_init("-m 128M");
    g_autofree char *path = tmp_file();
    uint8_t pat[6000], want[64] = { 0 };

    for (size_t i = 0; i < sizeof(pat); i++) {
        pat[i] = (uint8_t)(i * 7 + 3);
    }
    /* Across a page boundary. */
    qtest_memwrite(s, 0x101f00, pat, sizeof(pat));
    qtest_qmp_assert_success(s, "{'execute': 'pmemsave', 'arguments': {'val': %d, "
                             "'size': %zu, 'filename': '%s'}}", 0x101f00, sizeof(pat), path);
    assert_file(path, pat, sizeof(pat));
    qtest_qmp_assert_success(s, "{'execute': 'memsave', 'arguments': {'val': %d, "
                             "'size': %zu, 'filename': '%s', 'cpu-index': 0}}",
                             0x101f00, sizeof(pat), path);
    assert_file(path, pat, sizeof(pat));
    /* Past the end of RAM (128 MiB): zeros, not an error. */
    qtest_qmp_assert_success(s, "{'execute': 'pmemsave', 'arguments': {'val': %d, "
                             "'size': 64, 'filename': '%s'}}", 0x8000000, path);
    assert_file(path, want, sizeof(want));
    qtest_qmp_assert_success(s, "{'execute': 'pmemsave', 'arguments': {'val': 0, "
                             "'size': 0, 'filename': '%s'}}", path);
    assert_file(path, want, 0);
    unlink(path);
    qtest_quit(s);
}

static void test_errors(void)
{
    QTestState *s = qtest_init("");

    qtest_qmp_assert_error(s, "GenericError",
                           "Could not open '/nonexistent/x': No such file or directory",
                           "{'execute': 'pmemsave', 'arguments': {'val': 0, 'size': 16, "
                           "'filename': '/nonexistent/x'}}");
    qtest_qmp_assert_error(s, "GenericError", "Parameter 'size' expects a non-negative value",
                           "{'execute': 'pmemsave', 'arguments': {'val': 0, 'size': -1, "
                           "'filename': '/dev/null'}}");
    qtest_qmp_assert_error(s, "GenericError", "Parameter 'filename' is missing",
                           "{'execute': 'pmemsave', 'arguments': {'val': 0, 'size': 16}}");
    qtest_qmp_assert_error(s, "GenericError",
                           "Invalid parameter type for 'val', expected: integer",
                           "{'execute': 'memsave', 'arguments': {'val': '0', 'size': 16, "
                           "'filename': '/dev/null'}}");
    qtest_qmp_assert_error(s, "GenericError", "Parameter 'cpu-index' expects a CPU number",
                           "{'execute': 'memsave', 'arguments': {'val': 0, 'size': 16, "
                           "'filename': '/dev/null', 'cpu-index': 5}}");
    qtest_qmp_assert_error(s, "GenericError", "Parameter 'cpu-index' expects a CPU number",
                           "{'execute': 'memsave', 'arguments': {'val': 0, 'size': 16, "
                           "'filename': '/dev/null', 'cpu-index': -1}}");
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp-guestmem/pmemsave", test_pmemsave);
    g_test_add_func("/qmp-guestmem/errors", test_errors);
    return g_test_run();
}
