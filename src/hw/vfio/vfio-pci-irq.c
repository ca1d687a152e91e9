/*
 * vfio-pci's interrupts (docs/vfio.md "Interrupts"). The host kernel
 * signals one eventfd per vector (VFIO_DEVICE_SET_IRQS); the main loop
 * turns each signal into what the guest programmed:
 *   MSI-X  the table and PBA are emulated here, never the host's: an
 *          unmasked vector is the guest's message through the machine's MSI
 *          path (KVM_SIGNAL_MSI, the software APIC; a memory write under
 *          qtest), a masked one latches its PBA bit and fires on unmask
 *   MSI    the capability is emulated; the message is its address and data
 *          (the vector in data's low bits), per-vector masks honoured
 *   INTx   level on the slot's GSI. VFIO masks the line in the host when it
 *          fires; the next guest access to a BAR (the driver reading its
 *          status) lowers the line and unmasks it, and the host signals
 *          again if the device still asserts it, as QEMU's vfio does
 *          without a resample eventfd.
 * Only one of them is on at a time, as VFIO requires: enabling MSI or MSI-X
 * turns INTx off and disabling both turns it back on.
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <glib-unix.h>

#include "hw/vfio/vfio-pci-internal.h"
#include "util/log.h"

static bool touches(uint32_t addr, unsigned len, uint32_t lo, uint32_t hi)
{
    return addr < hi && addr + len > lo;
}

static uint16_t cfg_word(VfioPci *v, uint32_t off)
{
    return pci_get_word(&v->pci, off);
}

/* ---- delivery ---- */

static void msix_fire(VfioPci *v, unsigned n)
{
    uint32_t *e = &v->msix.table[n * 4];

    if ((cfg_word(v, v->msix.cap + 2) & MSIX_CTRL_MASKALL) || (e[3] & MSIX_ENTRY_MASKED)) {
        v->msix.pba[n / 64] |= 1ULL << (n % 64);
        return;
    }
    v->msix.pba[n / 64] &= ~(1ULL << (n % 64));
    machine_send_msi(v->parent.machine, (uint64_t)e[1] << 32 | e[0], e[2]);
}

static void msix_flush_pending(VfioPci *v)
{
    for (unsigned n = 0; n < v->msix.nvec; n++) {
        if (v->msix.pba[n / 64] & (1ULL << (n % 64))) {
            msix_fire(v, n);
        }
    }
}

/* Where the MSI capability keeps data, the mask and the pending bits. */
static uint32_t msi_data_off(VfioPci *v)
{
    return v->msi_cap + (cfg_word(v, v->msi_cap + 2) & MSI_CTRL_64BIT ? 12 : 8);
}

static void msi_fire(VfioPci *v, unsigned n)
{
    uint16_t ctrl = cfg_word(v, v->msi_cap + 2);
    uint32_t data_off = msi_data_off(v);
    uint64_t addr = pci_get_long(&v->pci, v->msi_cap + 4);
    unsigned mme = (ctrl >> 4) & 7;
    uint32_t data = cfg_word(v, data_off);

    if (ctrl & MSI_CTRL_64BIT) {
        addr |= (uint64_t)pci_get_long(&v->pci, v->msi_cap + 8) << 32;
    }
    if (ctrl & MSI_CTRL_PVM) {
        uint32_t mask = pci_get_long(&v->pci, data_off + 4);
        uint32_t pend = pci_get_long(&v->pci, data_off + 8);
        if (mask & (1u << n)) {
            pci_set_long(&v->pci, data_off + 8, pend | 1u << n);
            return;
        }
        pci_set_long(&v->pci, data_off + 8, pend & ~(1u << n));
    }
    data = (data & ~((1u << mme) - 1)) | (n & ((1u << mme) - 1));
    machine_send_msi(v->parent.machine, addr, data);
}

static void intx_update(VfioPci *v)
{
    bool disabled = cfg_word(v, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;

    irq_set_level(&v->intx, v->intx_level && !disabled);
}

static gboolean vector_ready(gint fd, GIOCondition cond, gpointer opaque)
{
    VfioVector *vec = opaque;
    VfioPci *v = vec->v;
    uint64_t cnt;

    (void)cond;
    if (read(fd, &cnt, sizeof(cnt)) != sizeof(cnt)) {
        return G_SOURCE_CONTINUE;
    }
    if (vec == &v->intx_vec) {
        v->intx_level = true;
        intx_update(v);
    } else if (v->irq_on == VFIO_IRQ_MSIX) {
        msix_fire(v, vec->n);
    } else if (v->irq_on == VFIO_IRQ_MSI) {
        msi_fire(v, vec->n);
    }
    return G_SOURCE_CONTINUE;
}

/* ---- switching the host's interrupt ---- */

static bool vector_open(VfioPci *v, VfioVector *vec, unsigned n)
{
    vec->v = v;
    vec->n = n;
    vec->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vec->fd < 0) {
        return false;
    }
    vec->src = g_unix_fd_source_new(vec->fd, G_IO_IN);
    g_source_set_callback(vec->src, G_SOURCE_FUNC(vector_ready), vec, NULL);
    g_source_attach(vec->src, v->parent.machine->ctx);
    return true;
}

static void vector_close(VfioVector *vec)
{
    if (vec->src) {
        g_source_destroy(vec->src);
        g_source_unref(vec->src);
        vec->src = NULL;
    }
    if (vec->fd >= 0) {
        close(vec->fd);
        vec->fd = -1;
    }
}

static void intx_off(VfioPci *v)
{
    if (v->intx_vec.fd < 0) {
        return;
    }
    v->be->ops->set_irqs(v->be, VFIO_IRQ_INTX, 0, NULL, NULL);
    vector_close(&v->intx_vec);
    v->intx_level = false;
    intx_update(v);
}

static void intx_on(VfioPci *v)
{
    g_autoptr(GError) err = NULL;

    if (v->intx_vec.fd >= 0 || !v->pci.config[PCI_INTERRUPT_PIN]) {
        return;
    }
    if (!vector_open(v, &v->intx_vec, 0) ||
        !v->be->ops->set_irqs(v->be, VFIO_IRQ_INTX, 1, &v->intx_vec.fd, &err)) {
        log_warn("vfio-pci %s: INTx not forwarded: %s", device_name(&v->parent),
                 err ? err->message : g_strerror(errno));
        vector_close(&v->intx_vec);
    }
}

static void vectors_off(VfioPci *v)
{
    if (v->irq_on < 0) {
        return;
    }
    v->be->ops->set_irqs(v->be, (unsigned)v->irq_on, 0, NULL, NULL);
    for (unsigned i = 0; i < v->nvecs; i++) {
        vector_close(&v->vecs[i]);
    }
    g_clear_pointer(&v->vecs, g_free);
    v->nvecs = 0;
    v->irq_on = -1;
}

/* Turns the host's interrupt `index` on with `count` vectors (-1: back to INTx). */
static void switch_irq(VfioPci *v, int index, unsigned count)
{
    g_autofree int *fds = NULL;
    g_autoptr(GError) err = NULL;

    if (index == v->irq_on && count == v->nvecs) {
        return;
    }
    vectors_off(v);
    if (index < 0) {
        intx_on(v);
        return;
    }
    intx_off(v);
    v->vecs = g_new0(VfioVector, count);
    fds = g_new(int, count);
    for (unsigned i = 0; i < count; i++) {
        v->vecs[i].fd = -1;
    }
    v->nvecs = count;
    v->irq_on = index;
    for (unsigned i = 0; i < count; i++) {
        if (!vector_open(v, &v->vecs[i], i)) {
            break;
        }
        fds[i] = v->vecs[i].fd;
    }
    if (v->vecs[count - 1].fd < 0 ||
        !v->be->ops->set_irqs(v->be, (unsigned)index, count, fds, &err)) {
        log_warn("vfio-pci %s: %u %s vectors not forwarded: %s", device_name(&v->parent),
                 count, index == VFIO_IRQ_MSIX ? "MSI-X" : "MSI",
                 err ? err->message : g_strerror(errno));
        for (unsigned i = 0; i < count; i++) {
            vector_close(&v->vecs[i]);
        }
        g_clear_pointer(&v->vecs, g_free);
        v->nvecs = 0;
        v->irq_on = -1;
    }
}

/* Which interrupt the guest has on: MSI-X, else MSI, else INTx. */
static void update_irq(VfioPci *v)
{
    if (v->msix.cap && (cfg_word(v, v->msix.cap + 2) & MSIX_CTRL_ENABLE)) {
        switch_irq(v, VFIO_IRQ_MSIX, v->msix.nvec);
        return;
    }
    if (v->msi_cap && (cfg_word(v, v->msi_cap + 2) & MSI_CTRL_ENABLE)) {
        uint16_t ctrl = cfg_word(v, v->msi_cap + 2);
        unsigned want = 1u << ((ctrl >> 4) & 7), cap = 1u << ((ctrl >> 1) & 7);
        switch_irq(v, VFIO_IRQ_MSI, MIN(MIN(want, cap), MAX(v->be->irq_count[VFIO_IRQ_MSI], 1u)));
        return;
    }
    switch_irq(v, -1, 0);
}

void vfio_irq_config_written(VfioPci *v, uint32_t addr, unsigned len)
{
    bool msix = v->msix.cap && touches(addr, len, v->msix.cap + 2, v->msix.cap + 4);
    bool msi = v->msi_cap && touches(addr, len, v->msi_cap + 2, v->msi_cap + 4);

    if (msix || msi) {
        update_irq(v);
    }
    if (msix && v->irq_on == VFIO_IRQ_MSIX) {
        msix_flush_pending(v);
    }
    if (v->msi_cap && v->irq_on == VFIO_IRQ_MSI &&
        (cfg_word(v, v->msi_cap + 2) & MSI_CTRL_PVM) &&
        touches(addr, len, msi_data_off(v) + 4, msi_data_off(v) + 8)) {
        uint32_t pend = pci_get_long(&v->pci, msi_data_off(v) + 8);
        for (unsigned n = 0; n < v->nvecs; n++) {
            if (pend & (1u << n)) {
                msi_fire(v, n);
            }
        }
    }
    if (touches(addr, len, PCI_COMMAND, PCI_COMMAND + 2)) {
        intx_update(v);
    }
}

void vfio_irq_bar_access(VfioPci *v)
{
    if (v->intx_level) {
        v->intx_level = false;
        intx_update(v);
        v->be->ops->unmask_intx(v->be);
    }
}

/* ---- the MSI-X table and PBA ---- */

static bool in_range(uint64_t off, unsigned size, uint64_t lo, uint64_t len)
{
    return off >= lo && off + size <= lo + len;
}

static uint64_t pba_len(const VfioMsix *x)
{
    return (x->nvec + 63) / 64 * 8;
}

/* Whether an access of BAR n reaches the table at all (it is then the VMM's, never the host's). */
static bool hits_table(const VfioMsix *x, int n, uint64_t off, unsigned size)
{
    return n == x->table_bar && touches((uint32_t)MIN(off, UINT32_MAX), size, x->table_off,
                                        x->table_off + x->nvec * 16);
}

static bool hits_pba(const VfioMsix *x, int n, uint64_t off, unsigned size)
{
    return n == x->pba_bar && touches((uint32_t)MIN(off, UINT32_MAX), size, x->pba_off,
                                      x->pba_off + pba_len(x));
}

/* Dword or qword, aligned, wholly inside the table (PCIe 6.1.4.2); anything else is dropped. */
static bool table_access_ok(const VfioMsix *x, uint64_t off, unsigned size)
{
    return in_range(off, size, x->table_off, x->nvec * 16) && !((off - x->table_off) & 3) &&
           (size == 4 || size == 8);
}

bool vfio_msix_read(VfioPci *v, int n, uint64_t off, unsigned size, uint64_t *val)
{
    VfioMsix *x = &v->msix;

    if (!x->cap) {
        return false;
    }
    if (hits_table(x, n, off, size)) {
        uint64_t rel = off - x->table_off;
        *val = 0;
        if (table_access_ok(x, off, size)) {
            *val = x->table[rel / 4];
            if (size == 8) {
                *val |= (uint64_t)x->table[rel / 4 + 1] << 32;
            }
        }
        return true;
    }
    if (hits_pba(x, n, off, size)) {
        *val = 0;
        for (unsigned i = 0; i < size && in_range(off + i, 1, x->pba_off, pba_len(x)); i++) {
            uint64_t b = off + i - x->pba_off;
            *val |= ((x->pba[b / 8] >> (8 * (b % 8))) & 0xff) << (8 * i);
        }
        return true;
    }
    return false;
}

static void table_write(VfioPci *v, uint64_t rel, uint32_t val)
{
    v->msix.table[rel / 4] = val;
    if ((rel & 15) == 12) {
        v->msix.table[rel / 4] &= MSIX_ENTRY_MASKED;
        if (v->irq_on == VFIO_IRQ_MSIX) {
            msix_flush_pending(v);
        }
    }
}

bool vfio_msix_write(VfioPci *v, int n, uint64_t off, uint64_t val, unsigned size)
{
    VfioMsix *x = &v->msix;

    if (!x->cap) {
        return false;
    }
    if (hits_table(x, n, off, size)) {
        uint64_t rel = off - x->table_off;
        if (table_access_ok(x, off, size)) {
            table_write(v, rel, (uint32_t)val);
            if (size == 8) {
                table_write(v, rel + 4, (uint32_t)(val >> 32));
            }
        }
        return true;
    }
    /* The PBA is read-only. */
    return hits_pba(x, n, off, size);
}

/* ---- life cycle ---- */

static void msix_reset_table(VfioPci *v)
{
    for (unsigned n = 0; n < v->msix.nvec; n++) {
        memset(&v->msix.table[n * 4], 0, 16);
        v->msix.table[n * 4 + 3] = MSIX_ENTRY_MASKED;
    }
    if (v->msix.pba) {
        memset(v->msix.pba, 0, (v->msix.nvec + 63) / 64 * 8);
    }
}

bool vfio_irq_init(VfioPci *v, GError **err)
{
    (void)err;
    v->irq_on = -1;
    v->intx_vec.fd = -1;
    if (v->msix.cap) {
        v->msix.table = g_new0(uint32_t, v->msix.nvec * 4);
        v->msix.pba = g_new0(uint64_t, (v->msix.nvec + 63) / 64);
        msix_reset_table(v);
    }
    intx_on(v);
    return true;
}

void vfio_irq_reset(VfioPci *v)
{
    vectors_off(v);
    msix_reset_table(v);
    v->intx_level = false;
    intx_update(v);
    intx_on(v);
}

void vfio_irq_cleanup(VfioPci *v)
{
    vectors_off(v);
    intx_off(v);
    g_clear_pointer(&v->msix.table, g_free);
    g_clear_pointer(&v->msix.pba, g_free);
}
