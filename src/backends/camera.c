/*
 * The camera back-end table (backends/camera.h): ids to back ends, creation
 * order kept, and the driver-independent half of streaming (the format
 * check, the streaming flag).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "backends/camera-internal.h"
#include "util/fdutil.h"
#include "util/strutil.h"

struct CameraTable {
    const CameraHostOps *host;
    GPtrArray *backends;         /* CameraBackend*, creation order */
};

static int host_open(const char *path, int flags)
{
    return open(path, flags);
}

static void *host_mmap(size_t len, int fd, off_t offset)
{
    return mmap(NULL, len, PROT_READ, MAP_SHARED, fd, offset);
}

static const CameraHostOps real_host = {
    .stat = stat,
    .open = host_open,
    .close = close,
    .ioctl = fd_ioctl,           /* a signal during a request: made again, as libv4l2 does */
    .mmap = host_mmap,
    .munmap = munmap,
};

static const CameraDriver *const drivers[] = { &camera_v4l2_driver, &camera_demo_driver };

const char *camera_fourcc_str(uint32_t fourcc, char *buf)
{
    for (int i = 0; i < 4; i++) {
        char c = (char)((fourcc >> (8 * i)) & 0xff);
        buf[i] = g_ascii_isprint(c) ? c : '?';
    }
    buf[4] = '\0';
    return buf;
}

static void backend_free(CameraBackend *b)
{
    if (!b) {
        return;
    }
    camera_backend_stream_off(b);
    g_free(b->id);
    g_free(b->path);
    g_free(b);
}

CameraTable *camera_table_new(const CameraHostOps *host)
{
    CameraTable *t = g_new0(CameraTable, 1);

    t->host = host ? host : &real_host;
    t->backends = g_ptr_array_new_with_free_func((GDestroyNotify)backend_free);
    return t;
}

void camera_table_free(CameraTable *t)
{
    if (!t) {
        return;
    }
    g_ptr_array_unref(t->backends);
    g_free(t);
}

CameraBackend *camera_table_find(CameraTable *t, const char *id)
{
    for (guint i = 0; i < t->backends->len; i++) {
        CameraBackend *b = g_ptr_array_index(t->backends, i);
        if (!strcmp(b->id, id)) {
            return b;
        }
    }
    return NULL;
}

GPtrArray *camera_table_list(CameraTable *t)
{
    return t->backends;
}

static const CameraDriver *find_driver(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(drivers); i++) {
        if (!strcmp(drivers[i]->name, name)) {
            return drivers[i];
        }
    }
    return NULL;
}

/* StratoVirt refuses a second back end of the same kind on the same host path. */
static bool path_taken(CameraTable *t, const CameraDriver *d, const char *path)
{
    for (guint i = 0; path && i < t->backends->len; i++) {
        CameraBackend *b = g_ptr_array_index(t->backends, i);
        if (b->driver == d && b->path && !strcmp(b->path, path)) {
            return true;
        }
    }
    return false;
}

/* StratoVirt's checks, in its order (driver, path, duplicate id, same device). */
static bool check_add(CameraTable *t, const char *id, const CameraDriver *d,
                      const char *path, GError **err)
{
    if (!d) {
        set_error(err, "Unknown camera backend type");
        return false;
    }
    if (!id_wellformed(id)) {
        set_error(err, "Parameter 'id' expects an identifier");
        return false;
    }
    if (d->needs_path && (!path || !*path)) {
        set_error(err, "no path configured for cameradev");
        return false;
    }
    if (camera_table_find(t, id)) {
        set_error(err, "cameradev with id \"%s\" has already existed", id);
        return false;
    }
    if (path_taken(t, d, path)) {
        set_error(err, "another cameradev has the same backend device");
        return false;
    }
    return true;
}

bool camera_backend_add(CameraTable *t, const char *id, const char *driver,
                        const char *path, GError **err)
{
    const CameraDriver *d = find_driver(driver);
    CameraBackend *b;

    if (!check_add(t, id, d, path, err)) {
        return false;
    }
    b = g_new0(CameraBackend, 1);
    b->id = g_strdup(id);
    b->path = path && *path ? g_strdup(path) : NULL;
    b->driver = d;
    b->host = t->host;
    b->fd = -1;
    if (!d->probe(b, err)) {
        backend_free(b);
        return false;
    }
    g_ptr_array_add(t->backends, b);
    return true;
}

bool camera_backend_del(CameraTable *t, const char *id, GError **err)
{
    CameraBackend *b = camera_table_find(t, id);

    if (!b) {
        set_error(err, "no cameradev with id %s", id);
        return false;
    }
    g_ptr_array_remove(t->backends, b);
    return true;
}

const char *camera_backend_id(const CameraBackend *b)
{
    return b->id;
}

const char *camera_backend_driver(const CameraBackend *b)
{
    return b->driver->name;
}

const char *camera_backend_path(const CameraBackend *b)
{
    return b->path;
}

unsigned camera_backend_formats(const CameraBackend *b, const CameraFormat **fmts)
{
    *fmts = b->formats;
    return b->n_formats;
}

static bool offers(const CameraBackend *b, uint32_t fourcc, uint32_t w, uint32_t h)
{
    for (unsigned i = 0; i < b->n_formats; i++) {
        const CameraFormat *f = &b->formats[i];
        for (unsigned j = 0; f->fourcc == fourcc && j < f->n_sizes; j++) {
            if (f->sizes[j].width == w && f->sizes[j].height == h) {
                return true;
            }
        }
    }
    return false;
}

bool camera_backend_stream_on(CameraBackend *b, uint32_t fourcc, uint32_t width,
                              uint32_t height, GError **err)
{
    char fcc[5];

    if (b->streaming) {
        set_error(err, "cameradev '%s' is already streaming", b->id);
        return false;
    }
    if (!offers(b, fourcc, width, height)) {
        set_error(err, "'%s' does not offer %ux%u in format %s", b->id, width, height,
                  camera_fourcc_str(fourcc, fcc));
        return false;
    }
    b->fourcc = fourcc;
    b->width = width;
    b->height = height;
    if (!b->driver->stream_on(b, err)) {
        return false;
    }
    b->streaming = true;
    return true;
}

gssize camera_backend_read_frame(CameraBackend *b, void *buf, size_t len, GError **err)
{
    if (!b->streaming) {
        set_error(err, "cameradev '%s' is not streaming", b->id);
        return -1;
    }
    return b->driver->read_frame(b, buf, len, err);
}

void camera_backend_stream_off(CameraBackend *b)
{
    if (b->streaming) {
        b->driver->stream_off(b);
        b->streaming = false;
        b->frame_size = 0;
    }
}

bool camera_backend_streaming(const CameraBackend *b)
{
    return b->streaming;
}

size_t camera_backend_frame_size(const CameraBackend *b)
{
    return b->streaming ? b->frame_size : 0;
}
