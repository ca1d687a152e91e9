/*
 * KVM's GSI routing table with MSI routes (KVM API, KVM_SET_GSI_ROUTING):
 * the table replaces the whole routing, so it always carries the routes
 * KVM_CREATE_IRQCHIP set up by default (GSI 0-15 to the PIC pair and the
 * IOAPIC, 16-23 to the IOAPIC) and after them one KVM_IRQ_ROUTING_MSI
 * entry per MSI route, on GSIs from 24 up. An irqfd on such a GSI
 * (KVM_IRQFD) injects that message when its eventfd is signalled.
 *
 * Pure bookkeeping, no ioctls (kvm.c issues KVM_SET_GSI_ROUTING with what
 * kvm_routes_encode returns), so it is unit-tested on hosts without KVM.
 */
#ifndef STRATUS_KVM_IRQ_ROUTES_H
#define STRATUS_KVM_IRQ_ROUTES_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#define KVM_ROUTES_IOAPIC_PINS 24
#define KVM_ROUTES_PIC_PINS    16
/* The default entries: a PIC and an IOAPIC one for 0-15, an IOAPIC one for 16-23. */
#define KVM_ROUTES_DEFAULT     (KVM_ROUTES_PIC_PINS + KVM_ROUTES_IOAPIC_PINS)
/*
 * MSI routes: well inside KVM_MAX_IRQ_ROUTES (1024 on the oldest x86
 * kernels Stratus runs on) with the defaults; 128 vectors a virtio-pci
 * function at most.
 */
#define KVM_ROUTES_MAX_MSI     512
#define KVM_ROUTES_FIRST_MSI   KVM_ROUTES_IOAPIC_PINS

typedef struct KvmMsiRoute {
    bool used;
    uint64_t addr;
    uint32_t data;
} KvmMsiRoute;

typedef struct KvmRoutes {
    KvmMsiRoute msi[KVM_ROUTES_MAX_MSI];   /* msi[i] is GSI KVM_ROUTES_FIRST_MSI + i */
} KvmRoutes;

/* A new route for (addr, data): its GSI, the lowest free; -1 when all are used. */
int kvm_routes_add(KvmRoutes *r, uint64_t addr, uint32_t data);
/*
 * Points route gsi at (addr, data). Returns whether the table changed
 * (false too for a GSI that is not a route: the caller has nothing to send).
 */
bool kvm_routes_update(KvmRoutes *r, unsigned gsi, uint64_t addr, uint32_t data);
/* Frees route gsi; returns whether it was one. */
bool kvm_routes_remove(KvmRoutes *r, unsigned gsi);
/* Whether gsi is a route in use. */
bool kvm_routes_has(const KvmRoutes *r, unsigned gsi);
/*
 * The whole table for KVM_SET_GSI_ROUTING: the default entries, then the
 * used routes in GSI order. g_free() it.
 */
struct kvm_irq_routing *kvm_routes_encode(const KvmRoutes *r);

#endif
