/*
 * Camera back ends (StratoVirt's -cameradev and QMP cameradev_add/del,
 * docs/camera.md): the host side of a camera that a guest device would
 * stream from. Two drivers:
 *
 *   demo  synthetic frames (moving colour bars), a fixed format list;
 *   v4l2  a host Video4Linux2 capture node (`path`, e.g. /dev/video0),
 *         probed with VIDIOC_QUERYCAP and its formats enumerated when the
 *         back end is added, streamed through mmap buffers.
 *
 * The machine owns one CameraTable (Machine.cameras); nothing here knows
 * about guests, QMP or the machine. No guest device uses a back end yet
 * (StratoVirt's usb-camera on xHCI is not implemented), so the streaming
 * calls are exercised by the unit tests only.
 *
 * The v4l2 driver makes its host calls through CameraHostOps so that tests
 * can stand in for a capture device; camera_table_new(NULL) uses the real
 * system calls.
 *
 * Not thread-safe: every call is made with the machine lock held, on the
 * main loop (the seccomp lists allow the VIDIOC_* requests there only).
 */
#ifndef STRATUS_BACKENDS_CAMERA_H
#define STRATUS_BACKENDS_CAMERA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <glib.h>

#define CAMERA_MAX_FORMATS 16
#define CAMERA_MAX_SIZES 16

typedef struct CameraFrameSize {
    uint32_t width, height;
    uint32_t fps;                /* frames per second (the fastest offered) */
} CameraFrameSize;

typedef struct CameraFormat {
    uint32_t fourcc;             /* V4L2 pixel format, e.g. V4L2_PIX_FMT_YUYV */
    unsigned n_sizes;
    CameraFrameSize sizes[CAMERA_MAX_SIZES];
} CameraFormat;

/* The host calls the v4l2 driver makes (a test's fake, or the real ones). */
typedef struct CameraHostOps {
    int (*stat)(const char *path, struct stat *st);
    int (*open)(const char *path, int flags);
    int (*close)(int fd);
    int (*ioctl)(int fd, unsigned long req, void *arg);  /* retries EINTR itself */
    void *(*mmap)(size_t len, int fd, off_t offset);     /* read-only, shared */
    int (*munmap)(void *addr, size_t len);
} CameraHostOps;

typedef struct CameraTable CameraTable;
typedef struct CameraBackend CameraBackend;

/* host: NULL for the real system calls. */
CameraTable *camera_table_new(const CameraHostOps *host);
/* Stops any stream and frees every back end. */
void camera_table_free(CameraTable *t);

/*
 * cameradev_add / -cameradev: driver "v4l2" or "demo"; path required for
 * v4l2 (opened and probed now, closed again until a stream starts),
 * recorded for demo. Errors (StratoVirt's texts where it has one):
 * "Unknown camera backend type", "Parameter 'id' expects an identifier",
 * "no path configured for cameradev", "cameradev with id \"ID\" has already
 * existed", "another cameradev has the same backend device", and for v4l2
 * "Failed to open camera device 'P': <strerror>", "'P' is not a V4L2 device
 * (not a character device)", "'P' is not a V4L2 device (device 1:3, V4L2
 * nodes have major 81)", "'P' is not a V4L2 device (VIDIOC_QUERYCAP:
 * <strerror>)", "'P' is not a video capture device",
 * "'P' does not support streaming I/O", "'P' offers no capture format".
 */
bool camera_backend_add(CameraTable *t, const char *id, const char *driver,
                        const char *path, GError **err);
/* cameradev_del: "no cameradev with id ID" (StratoVirt's text). */
bool camera_backend_del(CameraTable *t, const char *id, GError **err);

CameraBackend *camera_table_find(CameraTable *t, const char *id);
/* Every back end in creation order (CameraBackend*, borrowed). */
GPtrArray *camera_table_list(CameraTable *t);

const char *camera_backend_id(const CameraBackend *b);
const char *camera_backend_driver(const CameraBackend *b);     /* "v4l2", "demo" */
const char *camera_backend_path(const CameraBackend *b);       /* NULL if none */
/* The formats and frame sizes the back end offers (*fmts borrowed). */
unsigned camera_backend_formats(const CameraBackend *b, const CameraFormat **fmts);

/*
 * Streaming, for a device: picks fourcc at width x height (one the back
 * end offers), then each camera_backend_read_frame() copies the next frame
 * into buf and returns its length, 0 when none is ready yet (v4l2: the
 * host has not filled a buffer), -1 with *err on failure. A frame longer
 * than len is cut to len. stream_off releases the host device.
 * Errors: "'ID' does not offer WxH in format FOURCC", "cameradev 'ID' is
 * already streaming", the v4l2 request that failed with its strerror.
 */
bool camera_backend_stream_on(CameraBackend *b, uint32_t fourcc, uint32_t width,
                              uint32_t height, GError **err);
gssize camera_backend_read_frame(CameraBackend *b, void *buf, size_t len, GError **err);
void camera_backend_stream_off(CameraBackend *b);
bool camera_backend_streaming(const CameraBackend *b);
/* Bytes in one frame of the current stream (0 when not streaming). */
size_t camera_backend_frame_size(const CameraBackend *b);

/*
 * The demo driver's frame: eight vertical colour bars (white, yellow, cyan,
 * green, magenta, red, blue, black) shifted left by 4 pixels per frame
 * number `seq`, in YUYV (4:2:2, 2 bytes a pixel) or RGB565 (little-endian).
 * Returns the frame's length, or 0 for another format or a buffer shorter
 * than a frame.
 */
size_t camera_demo_render(uint32_t fourcc, uint32_t width, uint32_t height, uint64_t seq,
                          uint8_t *buf, size_t len);

#endif
