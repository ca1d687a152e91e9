/*
 * Resource descriptors for _CRS (ACPI 6.4 §6.4): small descriptors (IO,
 * IRQ) and large ones (Memory32Fixed, extended Interrupt, the Word/DWord/
 * QWord address space descriptors), inside a resource template (a Buffer
 * that aml_to_bytes() closes with the End Tag).
 */
#include "hw/acpi/aml-internal.h"

#define RES_IRQ_NO_FLAGS     0x22           /* small item 4, length 2 */
#define RES_IO               0x47           /* small item 8, length 7 */
#define RES_MEMORY32_FIXED   0x86
#define RES_DWORD_ADDRESS    0x87
#define RES_WORD_ADDRESS     0x88
#define RES_INTERRUPT        0x89
#define RES_QWORD_ADDRESS    0x8a

#define ADDR_SPACE_MEMORY    0
#define ADDR_SPACE_IO        1
#define ADDR_SPACE_BUS       2

/* General flags: MaxFixed (bit 3), MinFixed (bit 2), PosDecode, ResourceProducer. */
#define ADDR_PRODUCER_FIXED  0x0c
#define IO_ENTIRE_RANGE      0x03           /* _RNG: ISA and non-ISA ranges */
#define MEM_READ_WRITE       0x01

Aml *aml_resource_template(void)
{
    Aml *a = aml_new_kind(AML_RES_TEMPLATE);

    aml_put_byte(a->head, 0x11);            /* BufferOp */
    return a;
}

Aml *aml_io(uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
    Aml *a = aml_seq();

    aml_put_byte(a->body, RES_IO);
    aml_put_byte(a->body, 0x01);            /* Decode16 */
    aml_put_le(a->body, min, 2);
    aml_put_le(a->body, max, 2);
    aml_put_byte(a->body, align);
    aml_put_byte(a->body, len);
    return a;
}

Aml *aml_irq_no_flags(uint8_t irq)
{
    Aml *a = aml_seq();

    g_assert(irq < 16);
    aml_put_byte(a->body, RES_IRQ_NO_FLAGS);
    aml_put_le(a->body, 1u << irq, 2);
    return a;
}

/* A large item's tag and the length of what follows the 3-byte header. */
static Aml *large_item(uint8_t tag, uint16_t len)
{
    Aml *a = aml_seq();

    aml_put_byte(a->body, tag);
    aml_put_le(a->body, len, 2);
    return a;
}

Aml *aml_interrupt(AmlInterruptFlags f, const uint32_t *irqs, unsigned n)
{
    Aml *a;

    g_assert(n >= 1 && n <= 255);
    a = large_item(RES_INTERRUPT, (uint16_t)(2 + 4 * n));
    /* Bit 0 consumer, bit 1 edge, bit 2 active low, bit 3 shared. */
    aml_put_byte(a->body, (uint8_t)((f.consumer ? 1 : 0) | (f.level ? 0 : 2) |
                                    (f.active_low ? 4 : 0) | (f.shared ? 8 : 0)));
    aml_put_byte(a->body, (uint8_t)n);
    for (unsigned i = 0; i < n; i++) {
        aml_put_le(a->body, irqs[i], 4);
    }
    return a;
}

Aml *aml_memory32_fixed(uint32_t base, uint32_t len, bool read_write)
{
    Aml *a = large_item(RES_MEMORY32_FIXED, 9);

    aml_put_byte(a->body, read_write ? MEM_READ_WRITE : 0);
    aml_put_le(a->body, base, 4);
    aml_put_le(a->body, len, 4);
    return a;
}

/*
 * The common part of the address space descriptors: type, general and
 * type-specific flags, then granularity, min, max, translation and length,
 * each `width` bytes.
 */
static Aml *address_space(uint8_t tag, unsigned width, uint8_t type, uint8_t type_flags,
                          uint64_t min, uint64_t max)
{
    Aml *a = large_item(tag, (uint16_t)(3 + 5 * width));

    g_assert(max >= min);
    aml_put_byte(a->body, type);
    aml_put_byte(a->body, ADDR_PRODUCER_FIXED);
    aml_put_byte(a->body, type_flags);
    aml_put_le(a->body, 0, width);            /* granularity: a fixed range */
    aml_put_le(a->body, min, width);
    aml_put_le(a->body, max, width);
    aml_put_le(a->body, 0, width);            /* translation offset */
    aml_put_le(a->body, max - min + 1, width);
    return a;
}

Aml *aml_word_bus_number(uint16_t min, uint16_t max)
{
    return address_space(RES_WORD_ADDRESS, 2, ADDR_SPACE_BUS, 0, min, max);
}

Aml *aml_word_io(uint16_t min, uint16_t max)
{
    return address_space(RES_WORD_ADDRESS, 2, ADDR_SPACE_IO, IO_ENTIRE_RANGE, min, max);
}

Aml *aml_dword_memory(AmlCacheable cache, uint32_t min, uint32_t max)
{
    return address_space(RES_DWORD_ADDRESS, 4, ADDR_SPACE_MEMORY,
                         (uint8_t)(MEM_READ_WRITE | (cache << 1)), min, max);
}

Aml *aml_qword_memory(AmlCacheable cache, uint64_t min, uint64_t max)
{
    return address_space(RES_QWORD_ADDRESS, 8, ADDR_SPACE_MEMORY,
                         (uint8_t)(MEM_READ_WRITE | (cache << 1)), min, max);
}
