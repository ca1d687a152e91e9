/* virtio-pci MSI-X irqfds (virtio-pci-irqfd.h). */
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "hw/virtio/virtio-pci-irqfd.h"
#include "util/log.h"

typedef struct VpciIrqfd {
    int gsi;                    /* -1: no route yet */
    int fd;
    uint64_t addr;              /* the message the route carries */
    uint32_t data;
} VpciIrqfd;

struct VpciIrqfds {
    Machine *m;
    char *name;
    bool unsupported;           /* the accelerator has no MSI routes */
    unsigned n;
    VpciIrqfd v[];
};

/* Only interrupt messages can be routed; anything else is a memory write. */
static bool apic_window(uint64_t addr)
{
    return (addr & ~0xfffffULL) == 0xfee00000ULL;
}

VpciIrqfds *vpci_irqfds_new(Machine *m, unsigned nvectors, const char *name)
{
    VpciIrqfds *vs = g_malloc0(sizeof(*vs) + nvectors * sizeof(VpciIrqfd));

    vs->m = m;
    vs->name = g_strdup(name);
    vs->n = nvectors;
    for (unsigned i = 0; i < nvectors; i++) {
        vs->v[i] = (VpciIrqfd){ .gsi = -1, .fd = -1 };
    }
    return vs;
}

static void release(VpciIrqfds *vs, VpciIrqfd *x)
{
    if (x->gsi >= 0) {
        machine_remove_irqfd(vs->m, (unsigned)x->gsi, x->fd);
        machine_remove_msi_route(vs->m, (unsigned)x->gsi);
    }
    if (x->fd >= 0) {
        close(x->fd);
    }
    *x = (VpciIrqfd){ .gsi = -1, .fd = -1 };
}

void vpci_irqfds_free(VpciIrqfds *vs)
{
    if (!vs) {
        return;
    }
    for (unsigned i = 0; i < vs->n; i++) {
        release(vs, &vs->v[i]);
    }
    g_free(vs->name);
    g_free(vs);
}

/* A route and an irqfd for vector i; false (and nothing kept) when there cannot be one. */
static bool set_up(VpciIrqfds *vs, unsigned i, uint64_t addr, uint32_t data)
{
    VpciIrqfd *x = &vs->v[i];
    g_autoptr(GError) err = NULL;
    int gsi;

    x->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (x->fd < 0) {
        log_warn("%s: vector %u: eventfd: %s", vs->name, i, g_strerror(errno));
        return false;
    }
    gsi = machine_add_msi_route(vs->m, addr, data, &err);
    if (gsi < 0) {
        vs->unsupported = !err;
        if (err) {
            log_warn("%s: vector %u: %s", vs->name, i, err->message);
        }
        release(vs, x);
        return false;
    }
    x->gsi = gsi;
    x->addr = addr;
    x->data = data;
    if (!machine_add_irqfd(vs->m, (unsigned)gsi, x->fd, &err)) {
        if (err) {
            log_warn("%s: vector %u: %s", vs->name, i, err->message);
        }
        machine_remove_msi_route(vs->m, (unsigned)gsi);
        x->gsi = -1;
        release(vs, x);
        return false;
    }
    return true;
}

/* Moves vector i's route to (addr, data); false if the hypervisor refused. */
static bool follow(VpciIrqfds *vs, unsigned i, uint64_t addr, uint32_t data)
{
    VpciIrqfd *x = &vs->v[i];
    g_autoptr(GError) err = NULL;

    if (x->addr == addr && x->data == data) {
        return true;
    }
    if (!machine_update_msi_route(vs->m, (unsigned)x->gsi, addr, data, &err)) {
        log_warn("%s: vector %u: %s", vs->name, i, err ? err->message : "route update failed");
        release(vs, x);
        return false;
    }
    x->addr = addr;
    x->data = data;
    return true;
}

bool vpci_irqfds_send(VpciIrqfds *vs, unsigned vec, uint64_t addr, uint32_t data)
{
    VpciIrqfd *x;
    uint64_t one = 1;

    if (!vs || vs->unsupported || vec >= vs->n || !apic_window(addr)) {
        return false;
    }
    x = &vs->v[vec];
    if (x->gsi < 0 ? !set_up(vs, vec, addr, data) : !follow(vs, vec, addr, data)) {
        return false;
    }
    /* EAGAIN: the counter is saturated, KVM injects anyway. */
    if (write(x->fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        return false;
    }
    return true;
}

void vpci_irqfds_entry_changed(VpciIrqfds *vs, unsigned vec, uint64_t addr, uint32_t data)
{
    if (vs && vec < vs->n && vs->v[vec].gsi >= 0 && apic_window(addr)) {
        follow(vs, vec, addr, data);
    }
}

unsigned vpci_irqfds_active(const VpciIrqfds *vs)
{
    unsigned n = 0;

    for (unsigned i = 0; vs && i < vs->n; i++) {
        n += vs->v[i].gsi >= 0;
    }
    return n;
}
