/*
 * The live migration stream (docs/migration.md, "Live migration stream"):
 * a header, then framed records in both directions. This module only
 * encodes and decodes; it knows no socket and no machine, so the decoder
 * can be tested on every truncation point.
 *
 *   header   "STRATUS-LIVEMIG\0" (16 bytes), u32 version, u32 0
 *   record   u8 type, 3 zero bytes, u32 payload length, payload
 *            (all integers little-endian)
 *   SETUP    JSON: machine type, vCPUs, RAM size and layout, device list
 *   PAGES    entries: u64 gpa|flags; a normal page's 4096 bytes follow,
 *            a zero page (flag 1) has none
 *   STATE    a snapshot `state` file (snapshot.h), the whole device state
 *   END      empty: the source has handed over (destination may run)
 *   REPLY    destination -> source: u8 0 ok / 1 error, then the message
 *   CANCEL   empty: migrate_cancel on the source; the destination gives up
 */
#ifndef STRATUS_MIGRATION_STREAM_H
#define STRATUS_MIGRATION_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#define MIGSTREAM_MAGIC "STRATUS-LIVEMIG"     /* 15 chars + NUL = 16 bytes */
#define MIGSTREAM_VERSION 1
#define MIGSTREAM_HEADER_LEN 24
#define MIGSTREAM_RECORD_HEADER_LEN 8
/* A record's payload is at most this long (a STATE record of many devices fits). */
#define MIGSTREAM_MAX_RECORD (64u << 20)
#define MIGSTREAM_PAGE_SIZE 4096u
#define MIGSTREAM_PAGE_ZERO 1u

typedef enum {
    MIGREC_SETUP = 1,
    MIGREC_PAGES = 2,
    MIGREC_STATE = 3,
    MIGREC_END = 4,
    MIGREC_REPLY = 5,
    MIGREC_CANCEL = 6,
} MigRecordType;

typedef struct MigRamRange {
    uint64_t gpa;
    uint64_t size;
} MigRamRange;

/* What the destination's command line must match. */
typedef struct MigSetup {
    char *machine;
    uint32_t cpus;
    uint64_t mem_size;
    GArray *ram;              /* MigRamRange */
    GPtrArray *dev_types;     /* char*, parallel to dev_paths */
    GPtrArray *dev_paths;
} MigSetup;

MigSetup *migsetup_new(const char *machine, uint32_t cpus, uint64_t mem_size);
void migsetup_add_ram(MigSetup *s, uint64_t gpa, uint64_t size);
void migsetup_add_device(MigSetup *s, const char *type, const char *path);
void migsetup_free(MigSetup *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MigSetup, migsetup_free)
/* Encodes as a SETUP payload / decodes one (NULL + *err if malformed). */
GBytes *migsetup_encode(const MigSetup *s);
MigSetup *migsetup_decode(const uint8_t *buf, size_t len, GError **err);
/* false + *err naming the first difference, "the source has X, this one Y". */
bool migsetup_compare(const MigSetup *src, const MigSetup *local, GError **err);

/* ---- writing ---- */
void migstream_put_header(GByteArray *out);
void migstream_put_record(GByteArray *out, MigRecordType type, const void *payload,
                          size_t len);
/* Appends one PAGES entry for the page at gpa; true if it went as a zero page. */
bool migstream_put_page(GByteArray *payload, uint64_t gpa, const uint8_t *page);
void migstream_put_reply(GByteArray *out, bool ok, const char *message);

/* ---- reading ---- */
bool migstream_check_header(const uint8_t *buf, size_t len, GError **err);
/* buf holds MIGSTREAM_RECORD_HEADER_LEN bytes; checks the type and length. */
bool migstream_record_header(const uint8_t *buf, size_t len, MigRecordType *type,
                             uint32_t *payload_len, GError **err);
/*
 * Calls page(gpa, data, opaque) for every entry of a PAGES payload, data
 * NULL for a zero page; the whole payload is checked first, so a malformed
 * one applies nothing. page returns false to stop (its *err set).
 */
typedef bool (*MigPageFn)(uint64_t gpa, const uint8_t *data, void *opaque, GError **err);
bool migstream_pages(const uint8_t *buf, size_t len, MigPageFn page, void *opaque,
                     GError **err);
/* A REPLY payload: *ok, and the message (g_free) when not ok. */
bool migstream_reply(const uint8_t *buf, size_t len, bool *ok, char **message,
                     GError **err);

#endif
