/*
 * The snapshot files (docs/migration.md, "Snapshot format"): `state` holds
 * a header, the accelerator-independent VM and vCPU state and one section
 * per device; `memory` holds a small header and the guest RAM image. This
 * module only encodes and decodes them: it knows nothing of a running
 * machine (migration.c takes the states from the accelerator and devices
 * and gives them back), so the reader can be tested on every byte.
 *
 * The reader trusts nothing: the state file carries its length and a
 * CRC-32 of everything after the fixed header, so a truncated or altered
 * file is refused before any section is decoded, and every section is
 * decoded by the vmstate encoder's bounds-checked reader on top.
 */
#ifndef STRATUS_MIGRATION_SNAPSHOT_H
#define STRATUS_MIGRATION_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "accel/x86-cpu-state.h"
#include "accel/x86-vm-state.h"

/* Bumped when a reader of the previous version could misread the files. */
#define SNAPSHOT_FORMAT_VERSION 1
#define SNAPSHOT_STATE_MAGIC  "STRATUS-SNAPSHOT"    /* 16 bytes, no NUL */
#define SNAPSHOT_MEMORY_MAGIC "STRATUS-MEMORY\0\0"   /* 16 bytes */
/* The state file's fixed header: magic, version, header length, body length, CRC. */
#define SNAPSHOT_STATE_HEADER_LEN 40
/* The memory file's header; the RAM image starts here (page aligned, so it can be mapped). */
#define SNAPSHOT_MEMORY_HEADER_LEN 4096
#define SNAPSHOT_MAX_RAM_BLOCKS 8
#define SNAPSHOT_MAX_CPUS 1024
#define SNAPSHOT_ID_LEN 16
/* Longest machine/accelerator name, device type and QOM path a record holds. */
#define SNAPSHOT_NAME_MAX 32
#define SNAPSHOT_TYPE_MAX 64
#define SNAPSHOT_PATH_MAX 128

typedef struct SnapshotRamBlock {
    uint64_t gpa;
    uint64_t size;
} SnapshotRamBlock;

/* The "snapshot" section: what the restoring command line must match. */
typedef struct SnapshotInfo {
    uint8_t machine_len;
    uint8_t machine[SNAPSHOT_NAME_MAX];      /* machine type, e.g. "microvm" */
    uint8_t accel_len;
    uint8_t accel[SNAPSHOT_NAME_MAX];        /* who saved it (informational) */
    uint8_t id[SNAPSHOT_ID_LEN];             /* random; the memory file repeats it */
    uint32_t ncpus;
    uint64_t mem_size;
    uint32_t nram;
    SnapshotRamBlock ram[SNAPSHOT_MAX_RAM_BLOCKS];
    uint64_t memory_len;                     /* bytes of RAM image in the memory file */
    uint32_t ndevices;
} SnapshotInfo;

/* One device record: its type, its QOM path (the id) and its own section. */
typedef struct SnapshotDevice {
    char *type;
    char *path;
    const uint8_t *data;                     /* into the image's buffer */
    size_t len;
} SnapshotDevice;

/* A decoded state file. */
typedef struct SnapshotImage {
    SnapshotInfo info;
    X86VmState vm;
    X86VcpuState *cpus;                      /* info.ncpus of them */
    char *board;                             /* machine class whose board state follows */
    const uint8_t *board_data;
    size_t board_len;
    SnapshotDevice *devices;                 /* info.ndevices of them */
    GBytes *bytes;                           /* the file, which data pointers point into */
} SnapshotImage;

/* ---- writing ---- */

/* Starts a state body with its header section and the VM and vCPU states. */
GByteArray *snapshot_state_begin(const SnapshotInfo *info, const X86VmState *vm,
                                 const X86VcpuState *cpus, GError **err);
/* Appends a record of named data (the board's or a device's sections). */
void snapshot_state_add_record(GByteArray *body, const char *kind, const char *type,
                               const char *path, const uint8_t *data, size_t len);
/* The whole file: the fixed header (length, CRC) in front of body. */
GBytes *snapshot_state_finish(GByteArray *body);

/* The memory file's header for info (SNAPSHOT_MEMORY_HEADER_LEN bytes). */
void snapshot_memory_header(const SnapshotInfo *info, uint8_t *out);

/* ---- reading ---- */

/*
 * Decodes a state file (takes a reference on bytes). Errors name what is
 * wrong: "not a Stratus snapshot", "format version N is newer than the
 * supported 1", "truncated (N of M bytes)", "corrupt (checksum mismatch)",
 * or the vmstate encoder's message for a section.
 */
SnapshotImage *snapshot_state_parse(GBytes *bytes, GError **err);
void snapshot_image_free(SnapshotImage *img);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SnapshotImage, snapshot_image_free)

/* Checks a memory file's header (len bytes read from its start) against info. */
bool snapshot_memory_check(const SnapshotInfo *info, const uint8_t *hdr, size_t len,
                           GError **err);

/* CRC-32 (the zlib/IEEE polynomial) of buf. */
uint32_t snapshot_crc32(const uint8_t *buf, size_t len);

#endif
