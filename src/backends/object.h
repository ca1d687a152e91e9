/*
 * Host objects: back ends that devices refer to by id (QEMU's -object and
 * object-add; StratoVirt's -object). The machine owns one ObjectTable
 * (Machine.objects); nothing here knows about guests or the machine, so the
 * table can be tested on its own.
 *
 * Types: rng-random (a host file of random bytes for virtio-rng) and
 * memory-backend-ram (anonymous host memory; QEMU's type, which its tests
 * create and delete through object-add; no Stratus device maps one yet, so
 * it is allocated and listed by query-memdev but never guest-visible). The command-line parser and QMP check an object's keys and
 * their JSON types with their own front-end texts; this layer takes the
 * checked values and acquires the host resource (the file), so a missing or
 * unreadable file fails creation, not the first guest read.
 *
 * Not thread-safe: every call is made with the machine lock held.
 */
#ifndef STRATUS_BACKENDS_OBJECT_H
#define STRATUS_BACKENDS_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <glib.h>

#define RNG_RANDOM_DEFAULT_FILE "/dev/urandom"   /* QEMU's and StratoVirt's default */

typedef struct ObjectTable ObjectTable;
typedef struct HostObject HostObject;
typedef struct RngRandom RngRandom;
typedef struct MemoryBackend MemoryBackend;

ObjectTable *object_table_new(void);
/* Frees every object (devices using one must be gone first). */
void object_table_free(ObjectTable *t);

HostObject *object_table_find(ObjectTable *t, const char *id);
/* Every object in creation order (HostObject*, borrowed). */
GPtrArray *object_table_list(ObjectTable *t);
const char *host_object_id(const HostObject *o);
const char *host_object_type(const HostObject *o);      /* "rng-random", ... */
/* The id of the device using it, or NULL. */
const char *host_object_user(const HostObject *o);

/*
 * Opens `filename` read-only and non-blocking. Errors: QEMU's texts, "Could
 * not open '/x': No such file or directory" (also for a directory: a read
 * would fail with EISDIR), "Parameter 'id' expects an identifier" (QEMU's
 * id_wellformed(), util/strutil.h), and for an id already in the table QEMU's
 * object-add text "attempt to add duplicate property 'x' to object (type
 * 'container')" (the command line checks duplicates itself, with its own text).
 */
bool object_add_rng_random(ObjectTable *t, const char *id, const char *filename,
                           GError **err);
/*
 * object-del: "object 'x' not found", "object 'x' is in use, can not be
 * deleted" (QEMU's texts).
 */
bool object_table_del(ObjectTable *t, const char *id, GError **err);

/* ---- memory-backend-ram ---- */

/* QEMU's HostMemoryBackend properties that a RAM backend has. */
typedef struct MemoryBackendOptions {
    uint64_t size;               /* bytes, > 0 */
    bool share;                  /* MAP_SHARED (default false) */
    bool merge;                  /* MADV_MERGEABLE (default true) */
    bool dump;                   /* in core dumps (default true) */
    bool prealloc;               /* touch every page now (default false) */
    bool reserve;                /* reserve swap space (default true) */
} MemoryBackendOptions;

#define MEMORY_BACKEND_OPTIONS_INIT { .merge = true, .dump = true, .reserve = true }

/*
 * Maps the memory. Errors: QEMU's texts, "property 'size' of
 * memory-backend-ram doesn't take value '0'", "cannot set up guest memory
 * 'ID': Cannot allocate memory", and the id errors of object_add_rng_random.
 */
bool object_add_memory_backend_ram(ObjectTable *t, const char *id,
                                   const MemoryBackendOptions *o, GError **err);
/* The memory backend `o` is, or NULL for another type. */
const MemoryBackend *host_object_memory_backend(const HostObject *o);
const MemoryBackendOptions *memory_backend_options(const MemoryBackend *b);

/* ---- rng-random, for virtio-rng ---- */

/* The rng-random object with this id, or NULL (absent, or another type). */
RngRandom *object_table_find_rng(ObjectTable *t, const char *id);
const char *rng_random_filename(const RngRandom *r);
/*
 * One device per back end: the bytes are consumed, so two devices reading
 * one file would only halve each other's entropy. false when in use (*user
 * says by whom, borrowed).
 */
bool rng_random_claim(RngRandom *r, const char *user, const char **in_use_by);
void rng_random_release(RngRandom *r);
/* The file, for a G_IO_IN watch while a read would block. */
int rng_random_fd(const RngRandom *r);
/*
 * One non-blocking read: > 0 bytes read, 0 end of file (a regular file that
 * ran out), -errno (-EAGAIN: nothing to read now, wait for G_IO_IN on fd).
 */
ssize_t rng_random_read(RngRandom *r, void *buf, size_t len);

#endif
