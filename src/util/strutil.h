/* Small shared helpers: the one GError domain, size and number parsing. */
#ifndef STRATUS_STRUTIL_H
#define STRATUS_STRUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#define STRATUS_ERROR (stratus_error_quark())
GQuark stratus_error_quark(void);

/*
 * The one error enum: codes of STRATUS_ERROR, which are QMP's error classes
 * (qmp_error_class_name() names them), so any layer can say which class a
 * failure is without knowing about QMP.
 */
typedef enum {
    STRATUS_ERROR_GENERIC,             /* "GenericError" */
    STRATUS_ERROR_COMMAND_NOT_FOUND,   /* "CommandNotFound" */
    STRATUS_ERROR_DEVICE_NOT_ACTIVE,   /* "DeviceNotActive" */
    STRATUS_ERROR_DEVICE_NOT_FOUND,    /* "DeviceNotFound" */
    STRATUS_ERROR_KVM_MISSING_CAP,     /* "KVMMissingCap" */
    STRATUS_ERROR_OPERATION_THROTTLED, /* "OperationThrottled" */
} StratusErrorCode;

#define set_error(err, ...) \
    g_set_error(err, STRATUS_ERROR, STRATUS_ERROR_GENERIC, __VA_ARGS__)

/* "<formatted message>: <strerror(errnum)>" as a STRATUS_ERROR. */
void set_error_errno(GError **err, int errnum, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/*
 * "512", "512M", "2G", "64k" -> bytes. A bare number is multiplied by
 * default_unit (1 MiB for -m, as StratoVirt). Rejects overflow, junk, negatives.
 */
bool parse_size(const char *str, uint64_t default_unit, uint64_t *out, GError **err);

/* Decimal or 0x-hex unsigned integer, whole string, no overflow. */
bool parse_uint(const char *str, uint64_t *out);

/* on|yes|true / off|no|false (StratoVirt also takes unmap/ignore for discard). */
bool parse_bool(const char *str, bool *out);

/*
 * QEMU's id_wellformed(): a letter, then letters, digits, '-', '.', '_'.
 * Device and object ids are QOM path components (/machine/peripheral/ID,
 * /objects/ID), so a '/' would hide one from its container and "[" could
 * pass for an anonymous device.
 */
bool id_wellformed(const char *id);

/*
 * QEMU's size_to_str(): three significant digits and a binary unit, switching
 * to the next unit from 1000 of the current one ("0 B", "1000 B" is "0.977 KiB",
 * "64 MiB"); what QEMU's human-readable output (info qtree, info block -v) shows.
 */
char *size_to_str(uint64_t v);

#endif
