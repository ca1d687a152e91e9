/*
 * What firmware reads, for the q35 and fw_cfg tests (see qtest.h): fw_cfg
 * files through the I/O ports, as SeaBIOS and OVMF find them, and a blank
 * flash image for -drive if=pflash. Kept apart from qtest.c (the protocol).
 */
#include <string.h>
#include <unistd.h>

#include "qtest.h"

#define FW_CFG_CTL       0x510
#define FW_CFG_DATA      0x511
#define FW_CFG_FILE_DIR  0x19

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void read_data(QTestState *s, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = qtest_inb(s, FW_CFG_DATA);
    }
}

uint16_t qtest_fw_cfg_find(QTestState *s, const char *name, uint32_t *size)
{
    uint8_t head[4];
    uint32_t count;

    qtest_outw(s, FW_CFG_CTL, FW_CFG_FILE_DIR);
    read_data(s, head, sizeof(head));
    count = be32(head);
    for (uint32_t i = 0; i < count; i++) {
        uint8_t e[64];                     /* be32 size, be16 select, 2 reserved, name[56] */
        read_data(s, e, sizeof(e));
        if (!strncmp((const char *)e + 8, name, 56)) {
            *size = be32(e);
            return (uint16_t)(e[4] << 8 | e[5]);
        }
    }
    *size = 0;
    return 0;
}

uint8_t *qtest_fw_cfg_file(QTestState *s, const char *name, uint32_t *size)
{
    uint16_t key = qtest_fw_cfg_find(s, name, size);
    uint8_t *p;

    if (!key) {
        return NULL;
    }
    p = g_malloc(*size + 1);
    qtest_outw(s, FW_CFG_CTL, key);
    read_data(s, p, *size);
    return p;
}

char *qtest_blank_flash_image(size_t size)
{
    g_autofree uint8_t *ff = g_malloc(size);
    g_autoptr(GError) err = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("stqtest-flash-XXXXXX", &path, &err);

    g_assert_no_error(err);
    memset(ff, 0xff, size);
    g_assert_cmpint(write(fd, ff, size), ==, (ssize_t)size);
    close(fd);
    return path;
}
