/* 16550 UART on COM1, polled.  Its interrupts are still enabled so that they
 * show up in the LAPIC IRR (IOAPIC pin 4) for the `irq` command, and are taken
 * by `intr serial` (intr.c). */
#include "guest.h"

#define COM1     0x3F8
#define UART_RBR 0
#define UART_THR 0
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_IIR 2
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_DR   0x01
#define LSR_THRE 0x20

void uart_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, 0x80);    /* DLAB */
	outb(COM1 + UART_DLL, 1);       /* 115200 baud */
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, 0x03);    /* 8N1 */
	outb(COM1 + UART_FCR, 0x07);    /* FIFO on, both cleared */
	outb(COM1 + UART_MCR, 0x0B);    /* DTR, RTS, OUT2 (gates the IRQ line) */
	outb(COM1 + UART_IER, 0x03);    /* RX data and THR empty interrupts */
}

void uart_putc(char c)
{
	/* Bounded: a UART that never reports THRE must not hang the guest. */
	for (int i = 0; i < 1000000 && !(inb(COM1 + UART_LSR) & LSR_THRE); i++)
		cpu_relax();
	outb(COM1 + UART_THR, (u8)c);
}

int uart_getc(void)
{
	if (!(inb(COM1 + UART_LSR) & LSR_DR))
		return -1;
	return inb(COM1 + UART_RBR);
}

u8 uart_iir(void)
{
	return inb(COM1 + UART_IIR);
}

void uart_set_ier(u8 ier)
{
	outb(COM1 + UART_IER, ier);
}
