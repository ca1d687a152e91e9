/* KVM GSI routing bookkeeping (kvm-irq-routes.h). */
#include <glib.h>

#include "accel/kvm-irq-routes.h"

static KvmMsiRoute *route(KvmRoutes *r, unsigned gsi)
{
    if (gsi < KVM_ROUTES_FIRST_MSI || gsi - KVM_ROUTES_FIRST_MSI >= KVM_ROUTES_MAX_MSI) {
        return NULL;
    }
    return &r->msi[gsi - KVM_ROUTES_FIRST_MSI];
}

int kvm_routes_add(KvmRoutes *r, uint64_t addr, uint32_t data)
{
    for (unsigned i = 0; i < KVM_ROUTES_MAX_MSI; i++) {
        if (!r->msi[i].used) {
            r->msi[i] = (KvmMsiRoute){ .used = true, .addr = addr, .data = data };
            return (int)(KVM_ROUTES_FIRST_MSI + i);
        }
    }
    return -1;
}

bool kvm_routes_update(KvmRoutes *r, unsigned gsi, uint64_t addr, uint32_t data)
{
    KvmMsiRoute *e = route(r, gsi);

    if (!e || !e->used || (e->addr == addr && e->data == data)) {
        return false;
    }
    e->addr = addr;
    e->data = data;
    return true;
}

bool kvm_routes_remove(KvmRoutes *r, unsigned gsi)
{
    KvmMsiRoute *e = route(r, gsi);

    if (!e || !e->used) {
        return false;
    }
    *e = (KvmMsiRoute){ 0 };
    return true;
}

bool kvm_routes_has(const KvmRoutes *r, unsigned gsi)
{
    const KvmMsiRoute *e = route((KvmRoutes *)r, gsi);

    return e && e->used;
}

static void irqchip_entry(struct kvm_irq_routing_entry *e, unsigned gsi, unsigned chip,
                          unsigned pin)
{
    e->gsi = gsi;
    e->type = KVM_IRQ_ROUTING_IRQCHIP;
    e->u.irqchip.irqchip = chip;
    e->u.irqchip.pin = pin;
}

struct kvm_irq_routing *kvm_routes_encode(const KvmRoutes *r)
{
    unsigned n = KVM_ROUTES_DEFAULT;
    struct kvm_irq_routing *t;
    struct kvm_irq_routing_entry *e;

    for (unsigned i = 0; i < KVM_ROUTES_MAX_MSI; i++) {
        n += r->msi[i].used;
    }
    t = g_malloc0(sizeof(*t) + n * sizeof(t->entries[0]));
    t->nr = n;
    e = t->entries;
    /* What KVM_CREATE_IRQCHIP installs; leaving one out would cut that pin off. */
    for (unsigned pin = 0; pin < KVM_ROUTES_IOAPIC_PINS; pin++) {
        if (pin < KVM_ROUTES_PIC_PINS) {
            irqchip_entry(e++, pin, pin < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                          pin % 8);
        }
        irqchip_entry(e++, pin, KVM_IRQCHIP_IOAPIC, pin);
    }
    for (unsigned i = 0; i < KVM_ROUTES_MAX_MSI; i++) {
        if (r->msi[i].used) {
            e->gsi = KVM_ROUTES_FIRST_MSI + i;
            e->type = KVM_IRQ_ROUTING_MSI;
            e->u.msi.address_lo = (uint32_t)r->msi[i].addr;
            e->u.msi.address_hi = (uint32_t)(r->msi[i].addr >> 32);
            e->u.msi.data = r->msi[i].data;
            e++;
        }
    }
    return t;
}
