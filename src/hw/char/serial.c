/*
 * 16550A UART.
 *
 * Simplifications (invisible to a driver that follows the datasheet):
 *  - transmit is instantaneous: a THR write goes straight to the chardev, so
 *    LSR.THRE/TEMT are set again before the guest can look;
 *  - the receive side is a SERIAL_RX_FIFO-byte buffer (StratoVirt's 1024)
 *    whether or not the FIFO is enabled; trigger levels and the character
 *    timeout are not modelled: any received byte raises "received data
 *    available" (IIR 0x04);
 *  - the divisor latch, LCR framing and SCR are storage only.
 *
 * Interrupt output: the pending state of the highest-priority enabled source
 * (line status > received data > THR empty > modem status) is driven as a
 * level on the IrqLine, gated by MCR.OUT2 as on PC hardware, where OUT2
 * enables the UART's IRQ buffer (Linux always sets OUT2; QEMU and StratoVirt
 * do not gate). The IOAPIC pin is edge-triggered, so each 0->1 change is an
 * interrupt; a THR write drops and re-raises a pending THRE interrupt, giving
 * one edge per transmitted byte.
 */
#include <string.h>

#include "hw/char/serial.h"
#include "hw/misc/pm.h"
#include "util/log.h"
#include "util/strutil.h"

/* Register offsets. */
#define UART_RX   0   /* RBR (read, DLAB=0) */
#define UART_TX   0   /* THR (write, DLAB=0) */
#define UART_DLL  0   /* DLAB=1 */
#define UART_IER  1   /* DLAB=0 */
#define UART_DLM  1   /* DLAB=1 */
#define UART_IIR  2   /* read */
#define UART_FCR  2   /* write */
#define UART_LCR  3
#define UART_MCR  4
#define UART_LSR  5
#define UART_MSR  6
#define UART_SCR  7

#define UART_IER_RDI   0x01   /* ERBFI */
#define UART_IER_THRI  0x02   /* ETBEI */
#define UART_IER_RLSI  0x04   /* ELSI */
#define UART_IER_MSI   0x08   /* EDSSI */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI    0x00
#define UART_IIR_THRI   0x02
#define UART_IIR_RDI    0x04
#define UART_IIR_RLSI   0x06
#define UART_IIR_FIFO   0xc0

#define UART_FCR_ENABLE   0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04

#define UART_LCR_DLAB  0x80

#define UART_MCR_DTR   0x01
#define UART_MCR_RTS   0x02
#define UART_MCR_OUT1  0x04
#define UART_MCR_OUT2  0x08
#define UART_MCR_LOOP  0x10

#define UART_LSR_DR    0x01
#define UART_LSR_OE    0x02
#define UART_LSR_PE    0x04
#define UART_LSR_FE    0x08
#define UART_LSR_BI    0x10
#define UART_LSR_THRE  0x20
#define UART_LSR_TEMT  0x40
#define UART_LSR_ERR   (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)

#define UART_MSR_DCTS  0x01
#define UART_MSR_DDSR  0x02
#define UART_MSR_TERI  0x04
#define UART_MSR_DDCD  0x08
#define UART_MSR_DELTA 0x0f
#define UART_MSR_CTS   0x10
#define UART_MSR_DSR   0x20
#define UART_MSR_RI    0x40
#define UART_MSR_DCD   0x80


struct SerialState {
    Machine *machine;
    uint64_t base;
    Chardev *chr;
    IrqLine irq;
    bool irq_level;
    bool registered;

    uint8_t ier, iir, fcr, lcr, mcr, lsr, msr, scr;
    uint16_t div;
    bool thr_ipending;

    uint8_t rx[SERIAL_RX_FIFO];
    unsigned rx_head, rx_count;
};

/* ---- interrupts ---- */

static void serial_update_irq(SerialState *s)
{
    uint8_t iir = UART_IIR_NO_INT;

    if ((s->ier & UART_IER_RLSI) && (s->lsr & UART_LSR_ERR)) {
        iir = UART_IIR_RLSI;
    } else if ((s->ier & UART_IER_RDI) && (s->lsr & UART_LSR_DR)) {
        iir = UART_IIR_RDI;
    } else if ((s->ier & UART_IER_THRI) && s->thr_ipending) {
        iir = UART_IIR_THRI;
    } else if ((s->ier & UART_IER_MSI) && (s->msr & UART_MSR_DELTA)) {
        iir = UART_IIR_MSI;
    }
    s->iir = iir;

    bool level = iir != UART_IIR_NO_INT && (s->mcr & UART_MCR_OUT2);
    if (level != s->irq_level) {
        s->irq_level = level;
        irq_set_level(&s->irq, level);
    }
}

/* ---- receive FIFO ---- */

static void rx_clear(SerialState *s)
{
    s->rx_head = 0;
    s->rx_count = 0;
    s->lsr &= ~UART_LSR_DR;
}

static void rx_push(SerialState *s, uint8_t b)
{
    if (s->rx_count == SERIAL_RX_FIFO) {
        s->lsr |= UART_LSR_OE;       /* overrun: the byte is lost */
        return;
    }
    s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_FIFO] = b;
    s->rx_count++;
    s->lsr |= UART_LSR_DR;
}

static uint8_t rx_pop(SerialState *s)
{
    if (s->rx_count == 0) {
        return 0;
    }
    uint8_t b = s->rx[s->rx_head];
    s->rx_head = (s->rx_head + 1) % SERIAL_RX_FIFO;
    s->rx_count--;
    if (s->rx_count == 0) {
        s->lsr &= ~UART_LSR_DR;
    }
    return b;
}

/* ---- chardev front end ---- */

static size_t serial_can_read(void *opaque)
{
    SerialState *s = opaque;
    if (s->mcr & UART_MCR_LOOP) {
        return 0;                    /* the line is disconnected in loopback */
    }
    return SERIAL_RX_FIFO - s->rx_count;
}

static void serial_receive(void *opaque, const uint8_t *buf, size_t len)
{
    SerialState *s = opaque;
    for (size_t i = 0; i < len; i++) {
        rx_push(s, buf[i]);
    }
    serial_update_irq(s);
}

static const ChardevHandlers serial_chr_handlers = {
    .can_read = serial_can_read,
    .read = serial_receive,
};

static void serial_accept_input(SerialState *s)
{
    if (s->chr) {
        chardev_accept_input(s->chr);
    }
}

/* ---- modem lines ---- */

static uint8_t loopback_msr(uint8_t mcr)
{
    uint8_t msr = 0;
    if (mcr & UART_MCR_RTS) {
        msr |= UART_MSR_CTS;
    }
    if (mcr & UART_MCR_DTR) {
        msr |= UART_MSR_DSR;
    }
    if (mcr & UART_MCR_OUT1) {
        msr |= UART_MSR_RI;
    }
    if (mcr & UART_MCR_OUT2) {
        msr |= UART_MSR_DCD;
    }
    return msr;
}

/* Recomputes the modem status lines after an MCR change, latching deltas. */
static void serial_update_msr(SerialState *s)
{
    uint8_t lines = (s->mcr & UART_MCR_LOOP)
        ? loopback_msr(s->mcr)
        : (UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
    uint8_t old = s->msr & ~UART_MSR_DELTA;
    uint8_t delta = s->msr & UART_MSR_DELTA;

    if ((old ^ lines) & UART_MSR_CTS) {
        delta |= UART_MSR_DCTS;
    }
    if ((old ^ lines) & UART_MSR_DSR) {
        delta |= UART_MSR_DDSR;
    }
    if ((old & UART_MSR_RI) && !(lines & UART_MSR_RI)) {
        delta |= UART_MSR_TERI;      /* trailing edge of ring indicator */
    }
    if ((old ^ lines) & UART_MSR_DCD) {
        delta |= UART_MSR_DDCD;
    }
    s->msr = lines | delta;
}

/* ---- registers ---- */

static void serial_transmit(SerialState *s, uint8_t b)
{
    s->thr_ipending = false;
    s->lsr &= ~(UART_LSR_THRE | UART_LSR_TEMT);
    serial_update_irq(s);

    if (s->mcr & UART_MCR_LOOP) {
        rx_push(s, b);
    } else if (s->chr) {
        chardev_write(s->chr, &b, 1);
    }

    s->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
    s->thr_ipending = true;
    serial_update_irq(s);
}

static uint8_t serial_read_reg(SerialState *s, unsigned off)
{
    uint8_t v = 0;

    switch (off) {
    case UART_RX:
        if (s->lcr & UART_LCR_DLAB) {
            return s->div & 0xff;
        }
        v = rx_pop(s);
        serial_update_irq(s);
        serial_accept_input(s);
        return v;
    case UART_IER:
        if (s->lcr & UART_LCR_DLAB) {
            return s->div >> 8;
        }
        return s->ier;
    case UART_IIR:
        v = s->iir;
        if ((v & 0x0f) == UART_IIR_THRI) {
            /* Reading IIR acknowledges a THRE interrupt. */
            s->thr_ipending = false;
            serial_update_irq(s);
        }
        if (s->fcr & UART_FCR_ENABLE) {
            v |= UART_IIR_FIFO;
        }
        return v;
    case UART_LCR:
        return s->lcr;
    case UART_MCR:
        return s->mcr;
    case UART_LSR:
        v = s->lsr;
        if (s->lsr & UART_LSR_ERR) {
            s->lsr &= ~UART_LSR_ERR;  /* error bits clear on read */
            serial_update_irq(s);
        }
        return v;
    case UART_MSR:
        v = s->msr;
        if (s->msr & UART_MSR_DELTA) {
            s->msr &= ~UART_MSR_DELTA;
            serial_update_irq(s);
        }
        return v;
    case UART_SCR:
        return s->scr;
    }
    return 0xff;
}

static void serial_write_reg(SerialState *s, unsigned off, uint8_t v)
{
    switch (off) {
    case UART_TX:
        if (s->lcr & UART_LCR_DLAB) {
            s->div = (s->div & 0xff00) | v;
            return;
        }
        serial_transmit(s, v);
        return;
    case UART_IER: {
        if (s->lcr & UART_LCR_DLAB) {
            s->div = (uint16_t)((s->div & 0x00ff) | (v << 8));
            return;
        }
        uint8_t changed = (s->ier ^ v) & 0x0f;
        s->ier = v & 0x0f;
        if (changed & UART_IER_THRI) {
            /* Enabling ETBEI with the holding register empty interrupts at once. */
            s->thr_ipending = (s->ier & UART_IER_THRI) && (s->lsr & UART_LSR_THRE);
        }
        serial_update_irq(s);
        return;
    }
    case UART_FCR: {
        bool was_on = s->fcr & UART_FCR_ENABLE;
        bool on = v & UART_FCR_ENABLE;
        bool cleared = false;
        if ((v & UART_FCR_CLEAR_RX) || was_on != on) {
            rx_clear(s);
            cleared = true;
        }
        /* Bits 1-2 self-clear; keep enable, DMA mode and trigger level. */
        s->fcr = v & ~(UART_FCR_CLEAR_RX | UART_FCR_CLEAR_TX);
        serial_update_irq(s);
        if (cleared) {
            serial_accept_input(s);
        }
        return;
    }
    case UART_LCR:
        s->lcr = v;
        return;
    case UART_MCR: {
        bool was_loop = s->mcr & UART_MCR_LOOP;
        s->mcr = v & 0x1f;
        serial_update_msr(s);
        serial_update_irq(s);
        if (was_loop && !(s->mcr & UART_MCR_LOOP)) {
            serial_accept_input(s);
        }
        return;
    }
    case UART_LSR:
    case UART_MSR:
        return;                      /* read-only (factory test registers) */
    case UART_SCR:
        s->scr = v;
        if (s->base + UART_SCR == BOOT_TIME_PORT) {
            machine_boot_time_signal(s->machine, v);
        }
        return;
    }
}

/* Wider accesses are split into byte accesses, as an 8-bit ISA device sees them. */
static uint64_t serial_io_read(void *opaque, uint64_t offset, unsigned size)
{
    SerialState *s = opaque;
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        uint8_t b = offset + i < 8 ? serial_read_reg(s, (unsigned)(offset + i)) : 0xff;
        v |= (uint64_t)b << (8 * i);
    }
    return v;
}

static void serial_io_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    SerialState *s = opaque;
    for (unsigned i = 0; i < size && offset + i < 8; i++) {
        serial_write_reg(s, (unsigned)(offset + i), (uint8_t)(value >> (8 * i)));
    }
}

static const IoRegionOps serial_ops = {
    .read = serial_io_read,
    .write = serial_io_write,
};

/* ---- lifecycle ---- */

void serial_reset(SerialState *s)
{
    s->ier = 0;
    s->iir = UART_IIR_NO_INT;
    s->fcr = 0;
    s->lcr = 0x03;                   /* 8N1, as StratoVirt */
    s->mcr = UART_MCR_OUT2;
    s->lsr = UART_LSR_THRE | UART_LSR_TEMT;
    s->msr = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
    s->scr = 0;
    s->div = 0x0c;                   /* 9600 baud */
    s->thr_ipending = false;
    rx_clear(s);
    serial_update_irq(s);
    serial_accept_input(s);
}

SerialState *serial_new(Machine *m, uint64_t base, unsigned gsi, Chardev *chr,
                        GError **err)
{
    SerialState *s = g_new0(SerialState, 1);
    s->machine = m;
    s->base = base;
    s->chr = chr;
    irq_line_init(&s->irq, m, gsi);

    if (!iobus_add(&m->pio, base, 8, &serial_ops, s, "serial", err)) {
        g_free(s);
        return NULL;
    }
    s->registered = true;

    /* Power-on state without touching the IRQ line (it is already low). */
    s->irq_level = false;
    serial_reset(s);
    if (chr) {
        chardev_set_handlers(chr, &serial_chr_handlers, s);
    }
    return s;
}

void serial_free(SerialState *s)
{
    if (!s) {
        return;
    }
    if (s->chr) {
        chardev_set_handlers(s->chr, NULL, NULL);
    }
    if (s->registered) {
        iobus_remove(&s->machine->pio, s->base);
    }
    g_free(s);
}

/* ---- the isa-serial type (hw/device.h) ---- */

typedef struct SerialDevice {
    Device dev;
    char *chardev;
    uint32_t iobase;
    uint32_t irq;
    SerialState *s;
} SerialDevice;

static bool serial_dev_realize(Device *d, GError **err)
{
    SerialDevice *sd = (SerialDevice *)d;
    Chardev *chr = NULL;

    if (sd->chardev) {
        chr = g_hash_table_lookup(d->machine->chardevs, sd->chardev);
        if (!chr) {
            set_error(err, "Property 'isa-serial.chardev' can't find value '%s'", sd->chardev);
            return false;
        }
    }
    sd->s = serial_new(d->machine, sd->iobase, sd->irq, chr, err);
    return sd->s != NULL;
}

static void serial_dev_unrealize(Device *d)
{
    SerialDevice *sd = (SerialDevice *)d;

    g_clear_pointer(&sd->s, serial_free);
}

static void serial_dev_reset(Device *d)
{
    serial_reset(((SerialDevice *)d)->s);
}

static const Property serial_props[] = {
    DEFINE_PROP("chardev", PROP_STR, SerialDevice, chardev, NULL,
                "ID of a chardev to use as a backend"),
    DEFINE_PROP_RANGE("iobase", PROP_U32, SerialDevice, iobase, "0x3f8", 0, 0xfff8,
                      "Base I/O port of the 8 UART registers"),
    DEFINE_PROP_RANGE("irq", PROP_U32, SerialDevice, irq, "4", 0, 15, "ISA IRQ (GSI)"),
    DEFINE_PROP_END,
};

static void *isa_serial_vmstate_opaque(Device *d)
{
    return ((SerialDevice *)d)->s;
}

const DeviceClass isa_serial_device_class = {
    .name = "isa-serial",
    .parent = "isa-device",
    .description = "16550A UART",
    .bus = DEVICE_BUS_ISA,
    .instance_size = sizeof(SerialDevice),
    .props = serial_props,
    .realize = serial_dev_realize,
    .unrealize = serial_dev_unrealize,
    .reset = serial_dev_reset,
    .vmsd = &vmstate_serial,
    .vmstate_opaque = isa_serial_vmstate_opaque,
};

/* ---- saved state (migration/vmstate.h) ---- */

/* The FIFO is saved as its bytes in order: rotate the ring to start at rx[0]. */
static bool serial_pre_save(void *opaque, GError **err)
{
    SerialState *s = opaque;
    uint8_t tmp[SERIAL_RX_FIFO];

    for (unsigned i = 0; i < s->rx_count; i++) {
        tmp[i] = s->rx[(s->rx_head + i) % SERIAL_RX_FIFO];
    }
    memcpy(s->rx, tmp, s->rx_count);
    s->rx_head = 0;
    return true;
}

/* IIR and the IRQ level follow from the registers; LSR.DR from the FIFO. */
static bool serial_post_load(void *opaque, uint32_t version, GError **err)
{
    SerialState *s = opaque;

    if ((s->ier & ~0x0fu) || (s->mcr & ~0x1fu)) {
        g_set_error(err, VMSTATE_ERROR, VMSTATE_ERROR_INVALID,
                    "IER 0x%02x or MCR 0x%02x has bits a 16550A does not have", s->ier,
                    s->mcr);
        return false;
    }
    s->rx_head = 0;
    s->lsr = (s->lsr & ~UART_LSR_DR) | (s->rx_count ? UART_LSR_DR : 0);
    serial_update_irq(s);
    serial_accept_input(s);
    return true;
}

const VMStateDescription vmstate_serial = {
    .name = "serial",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = serial_pre_save,
    .post_load = serial_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_U8(ier, SerialState),
        VMSTATE_U8(fcr, SerialState),
        VMSTATE_U8(lcr, SerialState),
        VMSTATE_U8(mcr, SerialState),
        VMSTATE_U8(lsr, SerialState),
        VMSTATE_U8(msr, SerialState),
        VMSTATE_U8(scr, SerialState),
        VMSTATE_U16(div, SerialState),
        VMSTATE_BOOL(thr_ipending, SerialState),
        VMSTATE_VARRAY(rx, SerialState, rx_count, SERIAL_RX_FIFO, uint8_t, VMS_U8),
        VMSTATE_END_OF_LIST()
    },
};
