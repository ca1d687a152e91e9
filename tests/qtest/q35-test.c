/*
 * The q35 machine's PCI host (src/hw/x86/q35.c, src/hw/pci/, docs/q35.md),
 * register by register as QEMU's libqos drives a host bridge: the host
 * bridge function through the CF8/CFC pair and through ECAM at 0xB0000000,
 * its read-only identity, the writable command register, master aborts for
 * empty slots and buses, byte and word accesses at every CFC offset, and
 * hostile accesses (enable bit clear, out-of-range registers, unaligned
 * ECAM) that must be ignored without harming the VMM.
 */
#include "qtest.h"

#define CF8 0xcf8
#define CFC 0xcfc
#define ECAM 0xB0000000ULL

static uint32_t cf8_addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
    return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

static uint32_t conf_readl(QTestState *s, unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
    qtest_outl(s, CF8, cf8_addr(bus, dev, fn, reg));
    return qtest_inl(s, CFC);
}

static uint64_t ecam(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
    return ECAM + ((uint64_t)bus << 20 | dev << 15 | fn << 12 | reg);
}

static QTestState *start(void)
{
    return qtest_init("-machine q35");
}

static void test_host_bridge_identity(void)
{
    QTestState *s = start();

    g_assert_cmphex(conf_readl(s, 0, 0, 0, 0x00), ==, 0x29c08086);
    g_assert_cmphex(conf_readl(s, 0, 0, 0, 0x08) >> 8, ==, 0x060000);
    g_assert_cmphex(conf_readl(s, 0, 0, 0, 0x2c), ==, 0x11001af4);
    g_assert_cmphex(qtest_readl(s, ecam(0, 0, 0, 0x00)), ==, 0x29c08086);
    g_assert_cmphex(qtest_readw(s, ecam(0, 0, 0, 0x02)), ==, 0x29c0);
    /* Sub-dword reads through the data port: CFC+2 is the device ID. */
    qtest_outl(s, CF8, cf8_addr(0, 0, 0, 0));
    g_assert_cmphex(qtest_inw(s, CFC + 2), ==, 0x29c0);
    g_assert_cmphex(qtest_inb(s, CFC + 1), ==, 0x80);
    /* The identity is read-only by either path. */
    qtest_outl(s, CF8, cf8_addr(0, 0, 0, 0));
    qtest_outl(s, CFC, 0x12345678);
    qtest_writel(s, ecam(0, 0, 0, 0x08), 0xffffffff);
    g_assert_cmphex(conf_readl(s, 0, 0, 0, 0x00), ==, 0x29c08086);
    g_assert_cmphex(conf_readl(s, 0, 0, 0, 0x08) >> 8, ==, 0x060000);
    qtest_quit(s);
}

static void test_command_register(void)
{
    QTestState *s = start();

    qtest_writew(s, ecam(0, 0, 0, 0x04), 0x0006);
    g_assert_cmphex(conf_readl(s, 0, 0, 0, 0x04) & 0xffff, ==, 0x0006);
    /* system_reset brings it back to power-on. */
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    g_assert_cmphex(qtest_readw(s, ecam(0, 0, 0, 0x04)), ==, 0);
    qtest_quit(s);
}

static void test_master_abort(void)
{
    QTestState *s = start();

    g_assert_cmphex(conf_readl(s, 0, 1, 0, 0), ==, 0xffffffff);
    g_assert_cmphex(conf_readl(s, 0, 0, 1, 0), ==, 0xffffffff);
    g_assert_cmphex(conf_readl(s, 7, 0, 0, 0), ==, 0xffffffff);
    g_assert_cmphex(qtest_readl(s, ecam(255, 31, 7, 0xffc)), ==, 0xffffffff);
    qtest_writel(s, ecam(3, 2, 1, 0x10), 0xffffffff);       /* dropped */
    g_assert_cmphex(qtest_readl(s, ecam(3, 2, 1, 0x10)), ==, 0xffffffff);
    qtest_quit(s);
}

static void test_hostile_accesses(void)
{
    QTestState *s = start();

    /* Enable bit clear: the data port decodes nothing. */
    qtest_outl(s, CF8, 0x00000000);
    g_assert_cmphex(qtest_inl(s, CFC), ==, 0xffffffff);
    qtest_outl(s, CFC, 0);
    /* The address latch reads back what was written. */
    qtest_outl(s, CF8, 0x8000fffc);
    g_assert_cmphex(qtest_inl(s, CF8), ==, 0x8000fffc);
    /* Extended registers of a conventional function read 0, writes are dropped. */
    qtest_writel(s, ecam(0, 0, 0, 0x100), 0xdeadbeef);
    g_assert_cmphex(qtest_readl(s, ecam(0, 0, 0, 0x100)), ==, 0);
    /* The BAR-less bridge ignores BAR sizing. */
    qtest_writel(s, ecam(0, 0, 0, 0x10), 0xffffffff);
    g_assert_cmphex(qtest_readl(s, ecam(0, 0, 0, 0x10)), ==, 0);
    g_assert_cmphex(conf_readl(s, 0, 0, 0, 0x00), ==, 0x29c08086);
    qtest_quit(s);
}

static void test_query_pci(void)
{
    QTestState *s = start();
    JsonNode *r = qtest_qmp(s, "{'execute': 'query-pci'}");
    char *text = json_to_string(json_object_get_member(qmp_obj(r), "return"), FALSE);

    g_assert_cmpstr(text, ==,
        "[{\"bus\":0,\"devices\":[{\"bus\":0,\"class_info\":{\"class\":1536,\"desc\":"
        "\"Host bridge\"},\"function\":0,\"id\":{\"device\":10688,\"subsystem\":4352,"
        "\"subsystem-vendor\":6900,\"vendor\":32902},\"irq_pin\":0,\"qdev_id\":\"\","
        "\"regions\":[],\"slot\":0},{\"bus\":0,\"class_info\":{\"class\":1537,\"desc\":"
        "\"ISA bridge\"},\"function\":0,\"id\":{\"device\":10520,\"subsystem\":4352,"
        "\"subsystem-vendor\":6900,\"vendor\":32902},\"irq_pin\":0,\"qdev_id\":\"\","
        "\"regions\":[],\"slot\":31}]}]");
    g_free(text);
    json_node_unref(r);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/q35/host-bridge/identity", test_host_bridge_identity);
    g_test_add_func("/q35/host-bridge/command", test_command_register);
    g_test_add_func("/q35/master-abort", test_master_abort);
    g_test_add_func("/q35/hostile", test_hostile_accesses);
    g_test_add_func("/q35/query-pci", test_query_pci);
    return g_test_run();
}
