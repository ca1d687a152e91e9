/*
 * pmemsave / memsave (src/qmp/qmp-commands-guestmem.c) and dump-guest-memory
 * (src/qmp/qmp-commands-dump.c): what qtest writes
 * into guest RAM is what the file holds; outside RAM reads as zeros; QEMU
 * 7.2's error texts. Under qtest no vCPU runs, so memsave's linear addresses
 * are physical (the page walk itself is unit-tested: test-pagewalk).
 */
#include <elf.h>
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

/*
 * dump-guest-memory (docs/qmp.md "Guest core dumps"): an ELF core whose
 * PT_LOAD at the written address holds what qtest wrote; begin/length
 * clip it to exactly that range.
 */
static void check_core(const char *path, uint64_t addr, const uint8_t *want, size_t n,
                       unsigned want_loads)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    const Elf64_Ehdr *eh;
    unsigned loads = 0;
    bool found = false;

    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    eh = (const Elf64_Ehdr *)data;
    g_assert_cmpmem(eh->e_ident, SELFMAG, ELFMAG, SELFMAG);
    g_assert_cmpuint(eh->e_type, ==, ET_CORE);
    g_assert_cmpuint(eh->e_machine, ==, EM_X86_64);
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(data + eh->e_phoff) + i;
        if (ph->p_type != PT_LOAD) {
            continue;
        }
        loads++;
        g_assert_cmpuint(ph->p_offset + ph->p_filesz, <=, len);
        if (ph->p_paddr <= addr && addr + n <= ph->p_paddr + ph->p_filesz) {
            g_assert_cmpmem(data + ph->p_offset + (addr - ph->p_paddr), n, want, n);
            found = true;
        }
    }
    g_assert_true(found);
    g_assert_cmpuint(loads, ==, want_loads);
}

static void test_dump(void)
{
    QTestState *s = qtest_init("-m 128M");
    g_autofree char *path = tmp_file();
    uint8_t pat[5000];

    for (size_t i = 0; i < sizeof(pat); i++) {
        pat[i] = (uint8_t)(i * 13 + 1);
    }
    qtest_memwrite(s, 0x234f00, pat, sizeof(pat));
    unlink(path);
    qtest_qmp_assert_success(s, "{'execute': 'dump-guest-memory', 'arguments': "
                             "{'paging': false, 'protocol': 'file:%s'}}", path);
    qtest_qmp_eventwait(s, "DUMP_COMPLETED");
    check_core(path, 0x234f00, pat, sizeof(pat), 1);
    unlink(path);
    qtest_qmp_assert_success(s, "{'execute': 'dump-guest-memory', 'arguments': "
                             "{'paging': false, 'protocol': 'file:%s', 'begin': %d, "
                             "'length': %zu}}", path, 0x234f00, sizeof(pat));
    check_core(path, 0x234f00, pat, sizeof(pat), 1);
    qtest_qmp_assert_error(s, "GenericError", "Parameter 'length' is missing",
                           "{'execute': 'dump-guest-memory', 'arguments': "
                           "{'paging': false, 'protocol': 'file:/dev/null', 'begin': 0}}");
    unlink(path);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp-guestmem/pmemsave", test_pmemsave);
    g_test_add_func("/qmp-guestmem/errors", test_errors);
    g_test_add_func("/qmp-guestmem/dump", test_dump);
    return g_test_run();
}
