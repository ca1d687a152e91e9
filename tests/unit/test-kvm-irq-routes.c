/*
 * KVM GSI routing bookkeeping (src/accel/kvm-irq-routes.c), the table
 * kvm.c hands to KVM_SET_GSI_ROUTING: runs on hosts without /dev/kvm. The
 * default entries must be exactly what KVM_CREATE_IRQCHIP installs, since
 * the table replaces them; MSI routes follow on GSIs from 24.
 */
#include <glib.h>

#include "accel/kvm-irq-routes.h"

static const struct kvm_irq_routing_entry *find(const struct kvm_irq_routing *t, unsigned gsi,
                                                unsigned type, int chip)
{
    for (unsigned i = 0; i < t->nr; i++) {
        const struct kvm_irq_routing_entry *e = &t->entries[i];

        if (e->gsi == gsi && e->type == type &&
            (chip < 0 || e->u.irqchip.irqchip == (unsigned)chip)) {
            return e;
        }
    }
    return NULL;
}

static void test_defaults(void)
{
    KvmRoutes *r = g_new0(KvmRoutes, 1);
    g_autofree struct kvm_irq_routing *t = kvm_routes_encode(r);

    g_assert_cmpuint(t->nr, ==, 40);
    for (unsigned gsi = 0; gsi < 24; gsi++) {
        const struct kvm_irq_routing_entry *io = find(t, gsi, KVM_IRQ_ROUTING_IRQCHIP,
                                                      KVM_IRQCHIP_IOAPIC);
        const struct kvm_irq_routing_entry *pic =
            find(t, gsi, KVM_IRQ_ROUTING_IRQCHIP,
                 gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE);

        g_assert_nonnull(io);
        g_assert_cmpuint(io->u.irqchip.pin, ==, gsi);
        if (gsi < 16) {
            g_assert_nonnull(pic);
            g_assert_cmpuint(pic->u.irqchip.pin, ==, gsi % 8);
        } else {
            g_assert_null(pic);
        }
    }
    g_free(r);
}

static void test_msi_routes(void)
{
    KvmRoutes *r = g_new0(KvmRoutes, 1);
    int a = kvm_routes_add(r, 0xfee00000, 0x4041);
    int b = kvm_routes_add(r, 0x1fee01000ULL, 0x4051);
    struct kvm_irq_routing *t;
    const struct kvm_irq_routing_entry *e;

    g_assert_cmpint(a, ==, 24);
    g_assert_cmpint(b, ==, 25);
    t = kvm_routes_encode(r);
    g_assert_cmpuint(t->nr, ==, 42);
    e = find(t, 25, KVM_IRQ_ROUTING_MSI, -1);
    g_assert_nonnull(e);
    g_assert_cmphex(e->u.msi.address_lo, ==, 0xfee01000);
    g_assert_cmphex(e->u.msi.address_hi, ==, 1);
    g_assert_cmphex(e->u.msi.data, ==, 0x4051);
    g_assert_cmpuint(e->flags, ==, 0);
    g_free(t);
    /* An update reports whether anything changed; unknown GSIs are not routes. */
    g_assert_false(kvm_routes_update(r, 24, 0xfee00000, 0x4041));
    g_assert_true(kvm_routes_update(r, 24, 0xfee02000, 0x4061));
    g_assert_false(kvm_routes_update(r, 26, 0xfee00000, 0));
    g_assert_false(kvm_routes_update(r, 5, 0xfee00000, 0));
    t = kvm_routes_encode(r);
    g_assert_cmphex(find(t, 24, KVM_IRQ_ROUTING_MSI, -1)->u.msi.data, ==, 0x4061);
    g_free(t);
    /* A freed GSI is reused first and leaves the table. */
    g_assert_true(kvm_routes_remove(r, 24));
    g_assert_false(kvm_routes_remove(r, 24));
    g_assert_false(kvm_routes_has(r, 24));
    t = kvm_routes_encode(r);
    g_assert_cmpuint(t->nr, ==, 41);
    g_assert_null(find(t, 24, KVM_IRQ_ROUTING_MSI, -1));
    g_free(t);
    g_assert_cmpint(kvm_routes_add(r, 0xfee00000, 1), ==, 24);
    /* Full: -1, the table unchanged. */
    for (unsigned i = 2; i < KVM_ROUTES_MAX_MSI; i++) {
        g_assert_cmpint(kvm_routes_add(r, 0xfee00000, i), ==, (int)(24 + i));
    }
    g_assert_cmpint(kvm_routes_add(r, 0xfee00000, 0), ==, -1);
    t = kvm_routes_encode(r);
    g_assert_cmpuint(t->nr, ==, KVM_ROUTES_DEFAULT + KVM_ROUTES_MAX_MSI);
    g_free(t);
    g_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/kvm/irq-routes/defaults", test_defaults);
    g_test_add_func("/kvm/irq-routes/msi", test_msi_routes);
    return g_test_run();
}
