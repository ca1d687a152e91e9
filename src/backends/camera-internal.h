/* Camera back ends (backends/camera.h): what camera.c shares with its drivers. */
#ifndef STRATUS_BACKENDS_CAMERA_INTERNAL_H
#define STRATUS_BACKENDS_CAMERA_INTERNAL_H

#include "backends/camera.h"

#define CAMERA_V4L2_BUFFERS 4

typedef struct CameraDriver CameraDriver;

/* One mmap'd capture buffer of a v4l2 stream. */
typedef struct CameraV4l2Buffer {
    void *addr;
    size_t len;
} CameraV4l2Buffer;

struct CameraBackend {
    char *id;
    char *path;                  /* NULL if none (demo) */
    const CameraDriver *driver;
    const CameraHostOps *host;
    unsigned n_formats;
    CameraFormat formats[CAMERA_MAX_FORMATS];

    bool streaming;
    uint32_t fourcc, width, height;
    size_t frame_size;
    uint64_t seq;                /* demo: frames rendered so far */
    /* v4l2 while streaming */
    int fd;
    unsigned n_buffers;
    CameraV4l2Buffer buffers[CAMERA_V4L2_BUFFERS];
};

struct CameraDriver {
    const char *name;
    bool needs_path;
    /* Fills b->formats; may leave nothing open. */
    bool (*probe)(CameraBackend *b, GError **err);
    /* b->fourcc/width/height are set; sets b->frame_size. */
    bool (*stream_on)(CameraBackend *b, GError **err);
    gssize (*read_frame)(CameraBackend *b, void *buf, size_t len, GError **err);
    void (*stream_off)(CameraBackend *b);
};

extern const CameraDriver camera_demo_driver;
extern const CameraDriver camera_v4l2_driver;

/* "YUYV" for V4L2_PIX_FMT_YUYV: the four characters of a fourcc (buf >= 5 bytes). */
const char *camera_fourcc_str(uint32_t fourcc, char *buf);

#endif
