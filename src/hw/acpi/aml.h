/*
 * An AML (ACPI Machine Language) byte-code builder, ACPI 6.x §20.
 *
 * An Aml is a piece of encoded byte code. Terms (integers, names, strings,
 * operators) are complete when created. Blocks (Scope, Device, Method, If,
 * Else, Package, Buffer, resource templates, Field) collect children with
 * aml_append() and get their PkgLength (and element count or buffer size)
 * when they are themselves appended or serialised, because a PkgLength's own
 * size depends on the length it encodes.
 *
 * aml_append(parent, child) takes ownership of child. Every constructor
 * returns a new Aml; one that is never appended is freed with aml_free().
 * Names are ASL-style strings: "\\_SB.PCI0", "^PCI0", "_HID", "COM1"; each
 * segment is up to four characters (padded with '_'). A malformed name is a
 * programming error (g_assert), not guest- or user-controlled input.
 */
#ifndef STRATUS_ACPI_AML_H
#define STRATUS_ACPI_AML_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

typedef struct Aml Aml;

void aml_free(Aml *a);
/* Appends child (taking ownership) to a block or to a plain byte sequence. */
void aml_append(Aml *parent, Aml *child);
/* The finished encoding of a (a block is closed first); a is consumed. */
GByteArray *aml_to_bytes(Aml *a);

/* ---- data objects ---- */
/* A sequence with no encoding of its own: a DSDT body, a list of terms. */
Aml *aml_seq(void);
/* Smallest encoding: ZeroOp, OneOp, BytePrefix, WordPrefix, DWordPrefix, QWordPrefix. */
Aml *aml_int(uint64_t v);
Aml *aml_string(const char *s);
/* A NameString reference: "\\_SB.PCI0". */
Aml *aml_name(const char *path);
/* Name(name, value). */
Aml *aml_name_decl(const char *name, Aml *value);
/* EISA ID "PNP0501" as its 32-bit compressed integer (DWordPrefix). */
Aml *aml_eisaid(const char *id);
/* The 32-bit compressed EISA id value itself ("PNP0A03" -> 0x030AD041). */
uint32_t aml_eisaid_value(const char *id);
/* ToUUID("33DB4D5B-1FF7-401C-9657-7441C03DD766") as a 16-byte Buffer. */
Aml *aml_uuid(const char *uuid);
/* Buffer(){bytes}. */
Aml *aml_buffer(const uint8_t *bytes, size_t len);
/* Package(){...}: a block; aml_append the elements. */
Aml *aml_package(void);
Aml *aml_arg(unsigned n);          /* Arg0..Arg6 */
Aml *aml_local(unsigned n);        /* Local0..Local7 */

/* ---- named objects and blocks ---- */
Aml *aml_scope(const char *name);
Aml *aml_device(const char *name);
/* Method(name, nargs, Serialized|NotSerialized). */
Aml *aml_method(const char *name, unsigned nargs, bool serialized);
Aml *aml_if(Aml *predicate);
Aml *aml_else(void);

/* OperationRegion(name, space, offset, length). */
typedef enum AmlRegionSpace {
    AML_SYSTEM_MEMORY = 0,
    AML_SYSTEM_IO = 1,
    AML_PCI_CONFIG = 2,
} AmlRegionSpace;
Aml *aml_operation_region(const char *name, AmlRegionSpace space, uint64_t offset,
                          uint64_t len);

/* Field(region, access, NoLock, update){...}: a block of aml_named_field / aml_reserved_field. */
typedef enum AmlFieldAccess {
    AML_ANY_ACC = 0,
    AML_BYTE_ACC = 1,
    AML_WORD_ACC = 2,
    AML_DWORD_ACC = 3,
    AML_QWORD_ACC = 4,
} AmlFieldAccess;
typedef enum AmlFieldUpdate {
    AML_PRESERVE = 0,
    AML_WRITE_AS_ONES = 1,
    AML_WRITE_AS_ZEROS = 2,
} AmlFieldUpdate;
Aml *aml_field(const char *region, AmlFieldAccess access, AmlFieldUpdate update);
Aml *aml_named_field(const char *name, unsigned bits);
Aml *aml_reserved_field(unsigned bits);

/* ---- statements and expressions ---- */
Aml *aml_return(Aml *value);
Aml *aml_notify(Aml *target, Aml *value);
Aml *aml_store(Aml *src, Aml *dst);                /* Store(src, dst) */
Aml *aml_equal(Aml *a, Aml *b);                    /* LEqual(a, b) */
Aml *aml_and(Aml *a, Aml *b, Aml *target);         /* And(a, b, target); target NULL = none */
Aml *aml_or(Aml *a, Aml *b, Aml *target);          /* Or(a, b, target); target NULL = none */
/* CreateDWordField(buffer, byte_index, name). */
Aml *aml_create_dword_field(Aml *buffer, Aml *index, const char *name);

/* ---- resource templates (ACPI 6.x §6.4): Buffer(){descriptors, EndTag} ---- */
Aml *aml_resource_template(void);
/* IO(Decode16, min, max, align, len). */
Aml *aml_io(uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags(){irq} (edge, active high, exclusive). */
Aml *aml_irq_no_flags(uint8_t irq);

typedef struct AmlInterruptFlags {
    bool consumer;            /* ResourceConsumer (true) or ResourceProducer */
    bool level;               /* Level (true) or Edge */
    bool active_low;          /* ActiveLow (true) or ActiveHigh */
    bool shared;              /* Shared (true) or Exclusive */
} AmlInterruptFlags;
/* Interrupt(...){irqs}: the extended interrupt descriptor. */
Aml *aml_interrupt(AmlInterruptFlags f, const uint32_t *irqs, unsigned n);
/* Memory32Fixed(ReadWrite|ReadOnly, base, len). */
Aml *aml_memory32_fixed(uint32_t base, uint32_t len, bool read_write);

typedef enum AmlCacheable {
    AML_NON_CACHEABLE = 0,
    AML_CACHEABLE = 1,
    AML_WRITE_COMBINING = 2,
    AML_PREFETCHABLE = 3,
} AmlCacheable;
/*
 * Address space descriptors as a host bridge's _CRS produces them
 * (ResourceProducer, PosDecode, MinFixed, MaxFixed): the range [min, max],
 * translation 0, length max - min + 1.
 */
Aml *aml_word_bus_number(uint16_t min, uint16_t max);
Aml *aml_word_io(uint16_t min, uint16_t max);
Aml *aml_dword_memory(AmlCacheable cache, uint32_t min, uint32_t max);
Aml *aml_qword_memory(AmlCacheable cache, uint64_t min, uint64_t max);

#endif
