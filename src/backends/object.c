/*
 * The host object table (backends/object.h): ids to objects, creation order
 * kept for listing (qom-list /objects), and the rng-random and
 * memory-backend-ram types.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "backends/object.h"
#include "util/strutil.h"

typedef enum {
    HOST_OBJECT_RNG_RANDOM,
    HOST_OBJECT_MEMORY_BACKEND_RAM,
} HostObjectKind;

struct HostObject {
    HostObjectKind kind;
    char *id;
    char *user;                  /* the device using it, NULL when free */
};

struct RngRandom {
    HostObject obj;              /* first: a HostObject* is a RngRandom* */
    char *filename;
    int fd;
};

struct MemoryBackend {
    HostObject obj;              /* first, as in RngRandom */
    MemoryBackendOptions opts;
    void *mem;
};

struct ObjectTable {
    GPtrArray *objects;          /* HostObject*, creation order */
};

static void host_object_free(HostObject *o)
{
    if (!o) {
        return;
    }
    switch (o->kind) {
    case HOST_OBJECT_RNG_RANDOM: {
        RngRandom *r = (RngRandom *)o;
        if (r->fd >= 0) {
            close(r->fd);
        }
        g_free(r->filename);
        break;
    }
    case HOST_OBJECT_MEMORY_BACKEND_RAM: {
        MemoryBackend *b = (MemoryBackend *)o;
        munmap(b->mem, b->opts.size);
        break;
    }
    }
    g_free(o->user);
    g_free(o->id);
    g_free(o);
}

ObjectTable *object_table_new(void)
{
    ObjectTable *t = g_new0(ObjectTable, 1);

    t->objects = g_ptr_array_new_with_free_func((GDestroyNotify)host_object_free);
    return t;
}

void object_table_free(ObjectTable *t)
{
    if (!t) {
        return;
    }
    g_ptr_array_free(t->objects, TRUE);
    g_free(t);
}

HostObject *object_table_find(ObjectTable *t, const char *id)
{
    for (guint i = 0; t && id && i < t->objects->len; i++) {
        HostObject *o = g_ptr_array_index(t->objects, i);
        if (!strcmp(o->id, id)) {
            return o;
        }
    }
    return NULL;
}

GPtrArray *object_table_list(ObjectTable *t)
{
    return t->objects;
}

const char *host_object_id(const HostObject *o)
{
    return o->id;
}

const char *host_object_type(const HostObject *o)
{
    switch (o->kind) {
    case HOST_OBJECT_RNG_RANDOM:
        return "rng-random";
    case HOST_OBJECT_MEMORY_BACKEND_RAM:
        return "memory-backend-ram";
    }
    return "object";
}

const char *host_object_user(const HostObject *o)
{
    return o->user;
}

/* The checks every type shares: QEMU's texts for a bad or duplicate id. */
static bool check_new_id(ObjectTable *t, const char *id, GError **err)
{
    if (!id_wellformed(id)) {
        set_error(err, "Parameter 'id' expects an identifier");
        return false;
    }
    if (object_table_find(t, id)) {
        set_error(err, "attempt to add duplicate property '%s' to object (type 'container')",
                  id);
        return false;
    }
    return true;
}

bool object_add_rng_random(ObjectTable *t, const char *id, const char *filename,
                           GError **err)
{
    RngRandom *r;
    struct stat st;
    int fd;

    if (!check_new_id(t, id, err)) {
        return false;
    }
    /*
     * Non-blocking: a source that runs dry (/dev/random on an old kernel, a
     * FIFO) must leave the main loop running; the device waits for G_IO_IN.
     */
    fd = open(filename, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        set_error(err, "Could not open '%s': %s", filename, g_strerror(errno));
        return false;
    }
    /* A directory opens but never reads: say so now, not at the guest's first read. */
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        set_error(err, "Could not open '%s': %s", filename, g_strerror(EISDIR));
        return false;
    }
    r = g_new0(RngRandom, 1);
    r->obj.kind = HOST_OBJECT_RNG_RANDOM;
    r->obj.id = g_strdup(id);
    r->filename = g_strdup(filename);
    r->fd = fd;
    g_ptr_array_add(t->objects, r);
    return true;
}

bool object_add_memory_backend_ram(ObjectTable *t, const char *id,
                                   const MemoryBackendOptions *o, GError **err)
{
    MemoryBackend *b;
    void *mem;
    int flags = (o->share ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS |
                (o->reserve ? 0 : MAP_NORESERVE);

    if (!check_new_id(t, id, err)) {
        return false;
    }
    if (o->size == 0) {
        set_error(err, "property 'size' of memory-backend-ram doesn't take value '0'");
        return false;
    }
    mem = o->size > SIZE_MAX ? MAP_FAILED
                             : mmap(NULL, o->size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (mem == MAP_FAILED) {
        set_error(err, "cannot set up guest memory '%s': %s", id, g_strerror(ENOMEM));
        return false;
    }
    /* Advice only: a kernel without KSM or MADV_DONTDUMP still gives the memory. */
    (void)madvise(mem, o->size, o->merge ? MADV_MERGEABLE : MADV_UNMERGEABLE);
    if (!o->dump) {
        (void)madvise(mem, o->size, MADV_DONTDUMP);
    }
    if (o->prealloc) {
        /* Touching every page is what MADV_POPULATE_WRITE does, on any kernel. */
        long page = sysconf(_SC_PAGESIZE);
        for (uint64_t off = 0; off < o->size; off += page) {
            ((volatile uint8_t *)mem)[off] = 0;
        }
    }
    b = g_new0(MemoryBackend, 1);
    b->obj.kind = HOST_OBJECT_MEMORY_BACKEND_RAM;
    b->obj.id = g_strdup(id);
    b->opts = *o;
    b->mem = mem;
    g_ptr_array_add(t->objects, b);
    return true;
}

const MemoryBackend *host_object_memory_backend(const HostObject *o)
{
    return o->kind == HOST_OBJECT_MEMORY_BACKEND_RAM ? (const MemoryBackend *)o : NULL;
}

const MemoryBackendOptions *memory_backend_options(const MemoryBackend *b)
{
    return &b->opts;
}

bool object_table_del(ObjectTable *t, const char *id, GError **err)
{
    HostObject *o = object_table_find(t, id);

    if (!o) {
        set_error(err, "object '%s' not found", id);
        return false;
    }
    if (o->user) {
        set_error(err, "object '%s' is in use, can not be deleted", id);
        return false;
    }
    g_ptr_array_remove(t->objects, o);
    return true;
}

RngRandom *object_table_find_rng(ObjectTable *t, const char *id)
{
    HostObject *o = object_table_find(t, id);

    return o && o->kind == HOST_OBJECT_RNG_RANDOM ? (RngRandom *)o : NULL;
}

const char *rng_random_filename(const RngRandom *r)
{
    return r->filename;
}

bool rng_random_claim(RngRandom *r, const char *user, const char **in_use_by)
{
    if (r->obj.user) {
        *in_use_by = r->obj.user;
        return false;
    }
    r->obj.user = g_strdup(user);
    return true;
}

void rng_random_release(RngRandom *r)
{
    g_clear_pointer(&r->obj.user, g_free);
}

int rng_random_fd(const RngRandom *r)
{
    return r->fd;
}

ssize_t rng_random_read(RngRandom *r, void *buf, size_t len)
{
    ssize_t n;

    do {
        n = read(r->fd, buf, len);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}
