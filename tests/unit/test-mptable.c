/* Unit tests for the Intel MP table builder (src/hw/x86/mptable.c). */
#include <string.h>
#include <glib.h>

#include "hw/x86/loader.h"
#include "le-bytes.h"

#define GPA 0x9fc00u

static uint8_t sum8(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++) {
        s += p[i];
    }
    return s;
}

/* Walks a config table and checks every entry against what the spec says. */
static void check_config(const uint8_t *c, unsigned ncpus, uint32_t ioapic_addr)
{
    uint16_t len = le16(c + 4);
    uint16_t count = le16(c + 34);
    unsigned cpus = 0, buses = 0, ioapics = 0, ioints = 0, lints = 0;
    const uint8_t *p = c + 44;
    const uint8_t *end = c + len;

    g_assert_cmpmem(c, 4, "PCMP", 4);
    g_assert_cmpuint(len, ==, x86_mp_config_size(ncpus));
    g_assert_cmpuint(len, ==, 44 + 20 * ncpus + 8 * (1 + 1 + 16 + 2));
    g_assert_cmpuint(c[6], ==, 4);                       /* spec rev 1.4 */
    g_assert_cmpuint(sum8(c, len), ==, 0);
    g_assert_cmpuint(count, ==, ncpus + 1 + 1 + 16 + 2);
    g_assert_cmphex(le32(c + 36), ==, 0xfee00000);       /* local APIC */
    g_assert_cmpuint(le16(c + 40), ==, 0);               /* no extended table */

    for (unsigned i = 0; i < count; i++) {
        g_assert_true(p < end);
        switch (p[0]) {
        case 0:
            g_assert_cmpuint(p[1], ==, cpus);            /* APIC id */
            g_assert_cmphex(p[2], ==, 0x14);
            g_assert_cmphex(p[3], ==, cpus == 0 ? 0x3 : 0x1);
            g_assert_cmphex(le32(p + 8) & 0x200, ==, 0x200); /* APIC feature */
            cpus++;
            p += 20;
            break;
        case 1:
            g_assert_cmpuint(p[1], ==, 0);
            g_assert_cmpmem(p + 2, 6, "ISA   ", 6);
            buses++;
            p += 8;
            break;
        case 2:
            g_assert_cmpuint(p[1], ==, ncpus + 1);
            g_assert_cmphex(p[2], ==, 0x11);
            g_assert_cmphex(p[3], ==, 0x1);
            g_assert_cmphex(le32(p + 4), ==, ioapic_addr);
            ioapics++;
            p += 8;
            break;
        case 3:
            g_assert_cmpuint(p[1], ==, 0);               /* INT */
            g_assert_cmpuint(p[4], ==, 0);               /* ISA bus */
            g_assert_cmpuint(p[5], ==, ioints);          /* IRQ i */
            g_assert_cmpuint(p[6], ==, ncpus + 1);       /* IOAPIC id */
            g_assert_cmpuint(p[7], ==, ioints);          /* pin i */
            ioints++;
            p += 8;
            break;
        case 4:
            if (lints == 0) {
                g_assert_cmpuint(p[1], ==, 3);           /* ExtINT */
                g_assert_cmpuint(p[7], ==, 0);           /* LINT0 */
            } else {
                g_assert_cmpuint(p[1], ==, 1);           /* NMI */
                g_assert_cmphex(p[6], ==, 0xff);
                g_assert_cmpuint(p[7], ==, 1);           /* LINT1 */
            }
            lints++;
            p += 8;
            break;
        default:
            g_assert_not_reached();
        }
    }
    g_assert_true(p == end);
    g_assert_cmpuint(cpus, ==, ncpus);
    g_assert_cmpuint(buses, ==, 1);
    g_assert_cmpuint(ioapics, ==, 1);
    g_assert_cmpuint(ioints, ==, 16);
    g_assert_cmpuint(lints, ==, 2);
}

static void check_floating(const uint8_t *f, uint32_t config_gpa)
{
    g_assert_cmpmem(f, 4, "_MP_", 4);
    g_assert_cmphex(le32(f + 4), ==, config_gpa);
    g_assert_cmpuint(f[8], ==, 1);
    g_assert_cmpuint(f[9], ==, 4);
    g_assert_cmpuint(sum8(f, 16), ==, 0);
    g_assert_cmpuint(f[11], ==, 0);                      /* config table present */
}

static void test_ncpus(gconstpointer data)
{
    unsigned ncpus = GPOINTER_TO_UINT(data);
    size_t room = 16 + x86_mp_config_size(ncpus);
    uint8_t *buf = g_malloc(room + 64);
    size_t n;

    memset(buf, 0xcc, room + 64);
    n = x86_build_mptable(buf, room, GPA, ncpus, 0xfec00000);
    g_assert_cmpuint(n, ==, room);
    check_floating(buf, GPA + 16);
    check_config(buf + 16, ncpus, 0xfec00000);
    /* nothing past the table is touched */
    for (size_t i = room; i < room + 64; i++) {
        g_assert_cmphex(buf[i], ==, 0xcc);
    }
    /* one byte short of room: refused, returns 0 */
    g_assert_cmpuint(x86_build_mptable(buf, room - 1, GPA, ncpus, 0xfec00000), ==, 0);
    g_free(buf);
}

static void test_invalid(void)
{
    uint8_t buf[8192];

    g_assert_cmpuint(x86_mp_config_size(0), ==, 0);
    g_assert_cmpuint(x86_mp_config_size(255), ==, 0);
    g_assert_cmpuint(x86_build_mptable(buf, sizeof(buf), GPA, 0, 0xfec00000), ==, 0);
    g_assert_cmpuint(x86_build_mptable(buf, sizeof(buf), GPA, 255, 0xfec00000), ==, 0);
    g_assert_cmpuint(x86_build_mp_config(buf, sizeof(buf), 4, 0x100000000ULL), ==, 0);
    g_assert_cmpuint(x86_build_mp_floating(buf, 15, GPA), ==, 0);
    g_assert_cmpuint(x86_build_mp_floating(buf, 16, 0x100000000ULL), ==, 0);
}

static void test_split(void)
{
    /* 254 vCPUs: floating pointer on its own, config table elsewhere. */
    uint8_t f[16];
    size_t size = x86_mp_config_size(254);
    uint8_t *c = g_malloc(size);

    g_assert_cmpuint(size, ==, 44 + 254 * 20 + 160);
    g_assert_cmpuint(size, <=, BOOT_MPTABLE_HIGH_SIZE);
    g_assert_cmpuint(x86_build_mp_floating(f, sizeof(f), BOOT_MPTABLE_HIGH_ADDR), ==, 16);
    check_floating(f, BOOT_MPTABLE_HIGH_ADDR);
    g_assert_cmpuint(x86_build_mp_config(c, size, 254, 0xfec00000), ==, size);
    check_config(c, 254, 0xfec00000);
    g_free(c);
}

static void test_ebda_fit(void)
{
    /* The whole table fits the 1 KiB EBDA up to 40 vCPUs. */
    g_assert_cmpuint(16 + x86_mp_config_size(40), <=, BOOT_EBDA_SIZE);
    g_assert_cmpuint(16 + x86_mp_config_size(41), >, BOOT_EBDA_SIZE);
}

static void test_checksum(void)
{
    uint8_t b[5] = { 1, 2, 3, 250, 0 };

    b[4] = x86_mp_checksum(b, 4);
    g_assert_cmpuint(sum8(b, 5), ==, 0);
    g_assert_cmpuint(x86_mp_checksum(b, 0), ==, 0);
    b[0] = 0;
    g_assert_cmpuint(x86_mp_checksum(b, 1), ==, 0);
}

int main(int argc, char **argv)
{
    static const unsigned counts[] = { 1, 2, 4, 40, 41, 128, 254 };

    g_test_init(&argc, &argv, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(counts); i++) {
        char *name = g_strdup_printf("/mptable/ncpus/%u", counts[i]);
        g_test_add_data_func(name, GUINT_TO_POINTER(counts[i]), test_ncpus);
        g_free(name);
    }
    g_test_add_func("/mptable/invalid", test_invalid);
    g_test_add_func("/mptable/split", test_split);
    g_test_add_func("/mptable/ebda-fit", test_ebda_fit);
    g_test_add_func("/mptable/checksum", test_checksum);
    return g_test_run();
}
