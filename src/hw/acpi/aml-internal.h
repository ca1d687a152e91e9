/*
 * What aml.c and aml-resource.c share: the Aml structure and byte helpers.
 * Only the AML builder's own files include this.
 */
#ifndef STRATUS_ACPI_AML_INTERNAL_H
#define STRATUS_ACPI_AML_INTERNAL_H

#include "hw/acpi/aml.h"

typedef enum AmlKind {
    AML_PLAIN,          /* complete bytes */
    AML_PKG,            /* head, PkgLength, body (Scope, Device, Method, If, Else, Field) */
    AML_PACKAGE,        /* PackageOp, PkgLength, element count, elements */
    AML_BUFFER,         /* BufferOp, PkgLength, size, bytes */
    AML_RES_TEMPLATE,   /* a Buffer whose bytes end with the End Tag */
} AmlKind;

struct Aml {
    AmlKind kind;
    GByteArray *head;   /* the opcode, before the PkgLength */
    GByteArray *body;   /* everything after it (names, flags, children) */
    unsigned count;     /* children appended (a Package's NumElements) */
};

Aml *aml_new_kind(AmlKind kind);
void aml_put_byte(GByteArray *b, uint8_t v);
void aml_put_le(GByteArray *b, uint64_t v, unsigned bytes);
void aml_put_name_string(GByteArray *b, const char *path);

#endif
