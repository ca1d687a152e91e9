/*
 * How devices reach the guest and are reached by it, whatever the
 * accelerator: interrupt lines (with the per-pin counts x-query-irq
 * prints), irqfds and ioeventfds. The accelerator does the delivery; the
 * machine only forwards and counts.
 */
#include <inttypes.h>

#include "machine.h"
#include "accel/accel.h"
#include "util/log.h"

void irq_line_init(IrqLine *irq, Machine *m, unsigned gsi)
{
    irq->machine = m;
    irq->gsi = gsi;
    irq->level = false;
}

void machine_send_msi(Machine *m, uint64_t addr, uint32_t data)
{
    uint32_t le = GUINT32_TO_LE(data);

    if ((addr & ~0xfffffULL) == 0xfee00000ULL && m->accel_ops && m->accel_ops->send_msi) {
        m->accel_ops->send_msi(m, addr, data);
        return;
    }
    if (!guest_ram_write(&m->ram, addr, &le, sizeof(le))) {
        log_debug("MSI write of 0x%x to 0x%" PRIx64 " outside RAM dropped", data, addr);
    }
}

void machine_count_irq(Machine *m, unsigned gsi)
{
    if (gsi < MACHINE_MAX_GSI) {
        m->irq_counts[gsi]++;
    }
}

/* The wired-OR of gsi's sources after this one moved to `level`. */
static bool shared_line(Machine *m, IrqLine *irq, bool level)
{
    uint32_t bit = 1u << irq->gsi;
    bool line;

    if (level != irq->level) {
        irq->level = level;
        if (level) {
            m->irq_high[irq->gsi]++;
        } else if (m->irq_high[irq->gsi]) {
            m->irq_high[irq->gsi]--;
        }
    }
    line = m->irq_high[irq->gsi] != 0;
    if (line && !(m->irq_levels & bit)) {
        m->irq_counts[irq->gsi]++;
    }
    m->irq_levels = line ? m->irq_levels | bit : m->irq_levels & ~bit;
    return line;
}

void irq_set_level(IrqLine *irq, bool level)
{
    Machine *m = irq->machine;
    bool line = level;

    if (!m) {
        return;
    }
    if (irq->gsi < MACHINE_MAX_GSI) {
        line = shared_line(m, irq, level);
    }
    if (m->accel_ops && m->accel_ops->set_irq) {
        m->accel_ops->set_irq(m, irq->gsi, line);
    }
}

void irq_pulse(IrqLine *irq)
{
    irq_set_level(irq, true);
    irq_set_level(irq, false);
}

bool machine_add_irqfd(Machine *m, unsigned gsi, int fd, GError **err)
{
    if (!m->accel_ops->add_irqfd) {
        return false;
    }
    return m->accel_ops->add_irqfd(m, gsi, fd, err);
}

void machine_remove_irqfd(Machine *m, unsigned gsi, int fd)
{
    if (m->accel_ops->remove_irqfd) {
        m->accel_ops->remove_irqfd(m, gsi, fd);
    }
}

bool machine_add_ioeventfd(Machine *m, bool pio, uint64_t addr, unsigned size,
                           bool datamatch, uint64_t data, int fd, GError **err)
{
    if (!m->accel_ops->add_ioeventfd) {
        return false;
    }
    return m->accel_ops->add_ioeventfd(m, pio, addr, size, datamatch, data, fd, err);
}

void machine_remove_ioeventfd(Machine *m, bool pio, uint64_t addr, unsigned size,
                              bool datamatch, uint64_t data, int fd)
{
    if (m->accel_ops->remove_ioeventfd) {
        m->accel_ops->remove_ioeventfd(m, pio, addr, size, datamatch, data, fd);
    }
}

int machine_add_msi_route(Machine *m, uint64_t addr, uint32_t data, GError **err)
{
    if (!m->accel_ops->add_msi_route) {
        return -1;
    }
    return m->accel_ops->add_msi_route(m, addr, data, err);
}

bool machine_update_msi_route(Machine *m, unsigned gsi, uint64_t addr, uint32_t data,
                              GError **err)
{
    if (!m->accel_ops->update_msi_route) {
        return true;
    }
    return m->accel_ops->update_msi_route(m, gsi, addr, data, err);
}

void machine_remove_msi_route(Machine *m, unsigned gsi)
{
    if (m->accel_ops->remove_msi_route) {
        m->accel_ops->remove_msi_route(m, gsi);
    }
}
