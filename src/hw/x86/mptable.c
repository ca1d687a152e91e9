/*
 * Intel MultiProcessor Specification 1.4 tables for the x86 microvm.
 *
 * The guest has no ACPI; Linux (CONFIG_X86_MPPARSE) discovers the vCPUs and
 * the IOAPIC from these tables. Layout written here:
 *
 *   MP floating pointer structure (16 bytes, "_MP_", points at the config table)
 *   MP configuration table header (44 bytes, "PCMP", spec rev 1.4)
 *     n  x processor entry        (20 bytes; cpu 0 is the BSP, all enabled)
 *     1  x bus entry              ( 8 bytes; bus 0 "ISA   ")
 *     1  x I/O APIC entry         ( 8 bytes; id n+1, version 0x11)
 *     16 x I/O interrupt entry    ( 8 bytes; ISA IRQ i -> IOAPIC pin i)
 *     2  x local interrupt entry  ( 8 bytes; ExtINT -> LINT0, NMI -> LINT1)
 *
 * All multi-byte fields are little endian. Both structures carry a checksum
 * byte chosen so that all their bytes sum to zero (mod 256).
 */
#include <string.h>

#include "hw/x86/loader.h"

#define MPF_SIZE             16
#define MPC_HEADER_SIZE      44
#define MPC_CPU_SIZE         20
#define MPC_SHORT_ENTRY_SIZE 8

#define MP_SPEC_REV          4        /* 1.4 */
#define MP_LAPIC_ADDR        0xfee00000u
#define MP_APIC_VERSION      0x14
#define MP_IOAPIC_VERSION    0x11
#define MP_ISA_IRQS          16

/* Entry types */
#define MP_ENTRY_PROCESSOR   0
#define MP_ENTRY_BUS         1
#define MP_ENTRY_IOAPIC      2
#define MP_ENTRY_IOINTR      3
#define MP_ENTRY_LINTR       4

/* Interrupt types */
#define MP_INT_INT           0
#define MP_INT_NMI           1
#define MP_INT_EXTINT        3

#define MP_CPU_ENABLED       0x01
#define MP_CPU_BSP           0x02
#define MP_IOAPIC_ENABLED    0x01

/* Family 6, model 0, stepping 0; FPU and on-chip APIC feature bits. */
#define MP_CPU_SIGNATURE     0x00000600u
#define MP_CPU_FEATURES      ((1u << 0) | (1u << 9))

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = v & 0xff;
    p[1] = v >> 8;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (v >> (8 * i)) & 0xff;
    }
}

/*
 * I/O and local interrupt assignment entries share one layout: type,
 * interrupt type, flags (0: polarity and trigger conform to the bus), source
 * bus id (always 0, the ISA bus), source bus IRQ, destination id (IOAPIC or
 * local APIC), destination pin (IOAPIC INTIN# or LINTn). Returns the next entry.
 */
static uint8_t *put_int_entry(uint8_t *p, uint8_t entry_type, uint8_t int_type,
                              uint8_t src_irq, uint8_t dst_id, uint8_t dst_pin)
{
    p[0] = entry_type;
    p[1] = int_type;
    put_le16(p + 2, 0);
    p[4] = 0;
    p[5] = src_irq;
    p[6] = dst_id;
    p[7] = dst_pin;
    return p + MPC_SHORT_ENTRY_SIZE;
}

uint8_t x86_mp_checksum(const uint8_t *buf, size_t len)
{
    uint8_t sum = 0;

    for (size_t i = 0; i < len; i++) {
        sum += buf[i];
    }
    return (uint8_t)(0x100 - sum);
}

size_t x86_mp_config_size(unsigned ncpus)
{
    if (ncpus == 0 || ncpus > X86_MP_MAX_CPUS) {
        return 0;
    }
    return MPC_HEADER_SIZE + (size_t)ncpus * MPC_CPU_SIZE +
           (1 /* bus */ + 1 /* ioapic */ + MP_ISA_IRQS + 2 /* lint */) *
           MPC_SHORT_ENTRY_SIZE;
}

size_t x86_build_mp_floating(uint8_t *dst, size_t room, uint64_t config_gpa)
{
    if (room < MPF_SIZE || config_gpa > UINT32_MAX) {
        return 0;
    }
    memset(dst, 0, MPF_SIZE);
    memcpy(dst, "_MP_", 4);
    put_le32(dst + 4, (uint32_t)config_gpa);   /* physical address pointer */
    dst[8] = 1;                                /* length in 16-byte units */
    dst[9] = MP_SPEC_REV;
    /* dst[11]: feature byte 1 = 0 -> a configuration table is present.
     * dst[12]: feature byte 2 bit 7 (IMCRP) = 0 -> virtual wire mode. */
    dst[10] = x86_mp_checksum(dst, MPF_SIZE);
    return MPF_SIZE;
}

size_t x86_build_mp_config(uint8_t *dst, size_t room, unsigned ncpus,
                           uint64_t ioapic_addr)
{
    size_t total = x86_mp_config_size(ncpus);
    uint8_t ioapic_id = (uint8_t)(ncpus + 1);
    uint16_t count = 0;
    uint8_t *p;

    if (total == 0 || total > room || total > UINT16_MAX ||
        ioapic_addr > UINT32_MAX) {
        return 0;
    }
    memset(dst, 0, total);

    /* Header; checksum and entry count are filled in at the end. */
    memcpy(dst, "PCMP", 4);
    put_le16(dst + 4, (uint16_t)total);        /* base table length */
    dst[6] = MP_SPEC_REV;
    memcpy(dst + 8, "STRATUS ", 8);            /* OEM id */
    memcpy(dst + 16, "MICROVM     ", 12);      /* product id */
    /* +28 OEM table pointer, +32 OEM table size: none */
    put_le32(dst + 36, MP_LAPIC_ADDR);
    /* +40 extended table length/checksum: no extended entries */
    p = dst + MPC_HEADER_SIZE;

    for (unsigned cpu = 0; cpu < ncpus; cpu++) {
        p[0] = MP_ENTRY_PROCESSOR;
        p[1] = (uint8_t)cpu;                   /* local APIC id */
        p[2] = MP_APIC_VERSION;
        p[3] = MP_CPU_ENABLED | (cpu == 0 ? MP_CPU_BSP : 0);
        put_le32(p + 4, MP_CPU_SIGNATURE);
        put_le32(p + 8, MP_CPU_FEATURES);
        p += MPC_CPU_SIZE;
        count++;
    }

    p[0] = MP_ENTRY_BUS;
    p[1] = 0;                                  /* bus id */
    memcpy(p + 2, "ISA   ", 6);
    p += MPC_SHORT_ENTRY_SIZE;
    count++;

    p[0] = MP_ENTRY_IOAPIC;
    p[1] = ioapic_id;
    p[2] = MP_IOAPIC_VERSION;
    p[3] = MP_IOAPIC_ENABLED;
    put_le32(p + 4, (uint32_t)ioapic_addr);
    p += MPC_SHORT_ENTRY_SIZE;
    count++;

    /* ISA IRQ n goes to IOAPIC pin n. */
    for (unsigned irq = 0; irq < MP_ISA_IRQS; irq++) {
        p = put_int_entry(p, MP_ENTRY_IOINTR, MP_INT_INT, (uint8_t)irq, ioapic_id,
                          (uint8_t)irq);
        count++;
    }

    /* Virtual wire: the 8259 output (ExtINT) reaches the BSP's LINT0. */
    p = put_int_entry(p, MP_ENTRY_LINTR, MP_INT_EXTINT, 0, 0 /* BSP local APIC */,
                      0 /* LINT0 */);
    count++;

    /* NMI on LINT1 of every local APIC. */
    p = put_int_entry(p, MP_ENTRY_LINTR, MP_INT_NMI, 0, 0xff /* all local APICs */,
                      1 /* LINT1 */);
    count++;

    g_assert((size_t)(p - dst) == total);
    put_le16(dst + 34, count);
    dst[7] = x86_mp_checksum(dst, total);
    return total;
}

size_t x86_build_mptable(uint8_t *dst, size_t room, uint64_t dst_gpa, unsigned ncpus,
                         uint64_t ioapic_addr)
{
    size_t cfg_size = x86_mp_config_size(ncpus);

    if (cfg_size == 0 || room < MPF_SIZE + cfg_size) {
        return 0;
    }
    if (x86_build_mp_floating(dst, room, dst_gpa + MPF_SIZE) == 0) {
        return 0;
    }
    if (x86_build_mp_config(dst + MPF_SIZE, room - MPF_SIZE, ncpus,
                            ioapic_addr) == 0) {
        return 0;
    }
    return MPF_SIZE + cfg_size;
}
