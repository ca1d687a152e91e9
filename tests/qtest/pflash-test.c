/*
 * cfi.pflash01 on q35 (src/hw/block/pflash_cfi01.c, docs/q35.md "Firmware
 * boot"): two -drive if=pflash images mapped below 4 GiB (code on top,
 * read-only; the variable store under it), the BIOS-area copy, and the
 * command set OVMF's flash driver uses, register by register: array reads,
 * read status, clear status, CFI query, read identifier, byte program and
 * block erase reaching the file, a bad erase sequence, and the read-only
 * unit refusing both with the status error bits.
 */
#include <unistd.h>

#include "qtest.h"

#define CODE_SIZE 0x10000u           /* 64 KiB: all of it is the BIOS-area copy */
#define VARS_SIZE 0x4000u            /* 16 KiB: four erase blocks */
#define CODE_BASE (0x100000000ULL - CODE_SIZE)
#define VARS_BASE (CODE_BASE - VARS_SIZE)

typedef struct Images {
    char *code, *vars;
} Images;

static char *make_image(unsigned size, uint8_t seed)
{
    g_autofree uint8_t *buf = g_malloc(size);
    g_autoptr(GError) err = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("pflash-XXXXXX", &path, &err);

    g_assert_no_error(err);
    for (unsigned i = 0; i < size; i++) {
        buf[i] = (uint8_t)(i * 7 + seed + (i >> 8));
    }
    g_assert_cmpint(write(fd, buf, size), ==, (ssize_t)size);
    close(fd);
    return path;
}

static uint8_t pattern(unsigned i, uint8_t seed)
{
    return (uint8_t)(i * 7 + seed + (i >> 8));
}

static uint8_t file_byte(const char *path, unsigned off)
{
    g_autofree char *data = NULL;
    gsize len;

    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpuint(off, <, len);
    return (uint8_t)data[off];
}

static QTestState *start(Images *im)
{
    im->code = make_image(CODE_SIZE, 1);
    im->vars = make_image(VARS_SIZE, 2);
    return qtest_initf("-machine q35 -drive if=pflash,format=raw,readonly=on,file=%s "
                       "-drive if=pflash,format=raw,file=%s", im->code, im->vars);
}

static void finish(QTestState *s, Images *im)
{
    qtest_quit(s);
    unlink(im->code);
    unlink(im->vars);
    g_free(im->code);
    g_free(im->vars);
}

static void test_array_mode(void)
{
    Images im;
    QTestState *s = start(&im);

    g_assert_cmphex(qtest_readb(s, CODE_BASE), ==, pattern(0, 1));
    g_assert_cmphex(qtest_readb(s, 0xFFFFFFF0ULL), ==, pattern(CODE_SIZE - 16, 1));
    g_assert_cmphex(qtest_readl(s, VARS_BASE + 0x100),
                    ==, (uint32_t)pattern(0x100, 2) | pattern(0x101, 2) << 8 |
                        pattern(0x102, 2) << 16 | (uint32_t)pattern(0x103, 2) << 24);
    /* The BIOS area holds the code's last 64 KiB (all of it here). */
    g_assert_cmphex(qtest_readb(s, 0xF0000), ==, pattern(0, 1));
    g_assert_cmphex(qtest_readb(s, 0xFFFF0), ==, pattern(CODE_SIZE - 16, 1));
    /* Above the code: nothing; below the variable store: nothing. */
    g_assert_cmphex(qtest_readb(s, VARS_BASE - 1), ==, 0);
    finish(s, &im);
}

static void test_status_cfi_id(void)
{
    Images im;
    QTestState *s = start(&im);

    qtest_writeb(s, VARS_BASE, 0x70);                     /* read status: ready */
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x123), ==, 0x80);
    qtest_writeb(s, VARS_BASE, 0x50);                     /* clear status, back to array */
    g_assert_cmphex(qtest_readb(s, VARS_BASE), ==, pattern(0, 2));
    qtest_writeb(s, VARS_BASE, 0x70);
    g_assert_cmphex(qtest_readb(s, VARS_BASE), ==, 0x00); /* OVMF's "is flash" probe */
    qtest_writeb(s, VARS_BASE, 0x98);                     /* CFI query */
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x10), ==, 'Q');
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x11), ==, 'R');
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x12), ==, 'Y');
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x13), ==, 0x01);   /* Intel command set */
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x27), ==, 14);     /* 2^14 bytes */
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x2C), ==, 1);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x2D), ==, 3);      /* 4 blocks */
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x2F), ==, 0x10);   /* of 4 KiB */
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x31), ==, 'P');
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x1010), ==, 'Q');  /* offset & 0xFF */
    qtest_writeb(s, VARS_BASE, 0x90);                     /* identifier: QEMU's pc zeros */
    g_assert_cmphex(qtest_readb(s, VARS_BASE), ==, 0);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 2), ==, 0);        /* block unlocked */
    qtest_writeb(s, VARS_BASE, 0xFF);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 2), ==, pattern(2, 2));
    /* Unknown commands leave the array readable. */
    qtest_writeb(s, VARS_BASE, 0xE8);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 3), ==, pattern(3, 2));
    finish(s, &im);
}

static void test_program_erase(void)
{
    Images im;
    QTestState *s = start(&im);

    qtest_writeb(s, VARS_BASE + 5, 0x40);                 /* program one byte */
    qtest_writeb(s, VARS_BASE + 5, 0x5A);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 5), ==, 0x80);      /* status, ready */
    qtest_writeb(s, VARS_BASE + 6, 0x10);                 /* the other program opcode */
    qtest_writeb(s, VARS_BASE + 6, 0xA5);
    qtest_writeb(s, VARS_BASE, 0xFF);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 5), ==, 0x5A);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 6), ==, 0xA5);
    g_assert_cmphex(file_byte(im.vars, 5), ==, 0x5A);     /* written through at once */
    g_assert_cmphex(file_byte(im.vars, 6), ==, 0xA5);
    qtest_writeb(s, VARS_BASE + 0x1234, 0x20);            /* erase the second block */
    qtest_writeb(s, VARS_BASE + 0x1234, 0xD0);
    g_assert_cmphex(qtest_readb(s, VARS_BASE), ==, 0x80);
    qtest_writeb(s, VARS_BASE, 0xFF);
    g_assert_cmphex(qtest_readl(s, VARS_BASE + 0x1000), ==, 0xFFFFFFFF);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x1FFF), ==, 0xFF);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0xFFF), ==, pattern(0xFFF, 2));
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x2000), ==, pattern(0x2000, 2));
    g_assert_cmphex(file_byte(im.vars, 0x1000), ==, 0xFF);
    g_assert_cmphex(file_byte(im.vars, 0x1FFF), ==, 0xFF);
    g_assert_cmphex(file_byte(im.vars, 0x2000), ==, pattern(0x2000, 2));
    /* Erase without its confirmation: a sequence error, nothing erased. */
    qtest_writeb(s, VARS_BASE + 0x3000, 0x20);
    qtest_writeb(s, VARS_BASE + 0x3000, 0x00);
    g_assert_cmphex(qtest_readb(s, VARS_BASE), ==, 0xB0);
    qtest_writeb(s, VARS_BASE, 0x50);
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 0x3000), ==, pattern(0x3000, 2));
    /* A reset brings array mode and the ready status back; the data stays. */
    qtest_writeb(s, VARS_BASE, 0x98);
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    g_assert_cmphex(qtest_readb(s, VARS_BASE + 5), ==, 0x5A);
    finish(s, &im);
}

static void test_readonly_unit(void)
{
    Images im;
    QTestState *s = start(&im);

    qtest_writeb(s, CODE_BASE + 8, 0x40);
    qtest_writeb(s, CODE_BASE + 8, 0x00);
    g_assert_cmphex(qtest_readb(s, CODE_BASE), ==, 0x90);   /* ready + program error */
    qtest_writeb(s, CODE_BASE, 0x50);
    qtest_writeb(s, CODE_BASE, 0x20);
    qtest_writeb(s, CODE_BASE, 0xD0);
    g_assert_cmphex(qtest_readb(s, CODE_BASE), ==, 0xA0);   /* ready + erase error */
    qtest_writeb(s, CODE_BASE, 0xFF);
    g_assert_cmphex(qtest_readb(s, CODE_BASE + 8), ==, pattern(8, 1));
    g_assert_cmphex(qtest_readb(s, CODE_BASE), ==, pattern(0, 1));
    g_assert_cmphex(file_byte(im.code, 8), ==, pattern(8, 1));
    finish(s, &im);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pflash/array-mode", test_array_mode);
    g_test_add_func("/pflash/status-cfi-id", test_status_cfi_id);
    g_test_add_func("/pflash/program-erase", test_program_erase);
    g_test_add_func("/pflash/readonly-unit", test_readonly_unit);
    return g_test_run();
}
