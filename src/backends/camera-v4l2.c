/*
 * The v4l2 camera driver (backends/camera.h): a host Video4Linux2 capture
 * node. Adding the back end checks that the path is a V4L2 character
 * device (major 81), opens it, checks it is a capture device
 * with streaming I/O (VIDIOC_QUERYCAP; device_caps when the driver reports
 * them, as a node of a multi-node driver has its own) and records its
 * formats, frame sizes and fastest rate (VIDIOC_ENUM_FMT, _FRAMESIZES,
 * _FRAMEINTERVALS), then closes it again: an idle back end holds nothing
 * on the host, so another program can use the camera until a stream starts.
 *
 * Streaming uses V4L2's mmap I/O: CAMERA_V4L2_BUFFERS buffers queued to the
 * driver, each read dequeues a filled one (non-blocking), copies it out and
 * queues it again.
 *
 * Stepwise and continuous frame sizes are recorded as their largest size
 * only (the formats list is a fixed array; a guest device offers a handful
 * of discrete sizes anyway).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/videodev2.h>

#include "backends/camera-internal.h"
#include "util/strutil.h"

/* Bounds a driver that never ends an enumeration with EINVAL. */
#define MAX_ENUM 64
#define DEFAULT_FPS 30
/* Linux's VIDEO_MAJOR: every V4L2 node (video, vbi, radio, sub-device) has it. */
#define V4L2_MAJOR 81

/*
 * Only a V4L2 node is opened: opening some other device read-write has
 * effects of its own (a watchdog starts counting, a terminal can become the
 * controlling one), so the node's type and major number are checked first.
 */
static bool check_node(CameraBackend *b, GError **err)
{
    struct stat st;

    if (b->host->stat(b->path, &st) < 0) {
        set_error(err, "Failed to open camera device '%s': %s", b->path, g_strerror(errno));
        return false;
    }
    if (!S_ISCHR(st.st_mode)) {
        set_error(err, "'%s' is not a V4L2 device (not a character device)", b->path);
        return false;
    }
    if (major(st.st_rdev) != V4L2_MAJOR) {
        set_error(err, "'%s' is not a V4L2 device (device %u:%u, V4L2 nodes have major %d)",
                  b->path, major(st.st_rdev), minor(st.st_rdev), V4L2_MAJOR);
        return false;
    }
    return true;
}

static int open_node(CameraBackend *b, GError **err)
{
    int fd;

    if (!check_node(b, err)) {
        return -1;
    }
    fd = b->host->open(b->path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        set_error(err, "Failed to open camera device '%s': %s", b->path, g_strerror(errno));
    }
    return fd;
}

static bool check_caps(CameraBackend *b, int fd, GError **err)
{
    struct v4l2_capability cap;
    uint32_t caps;

    memset(&cap, 0, sizeof(cap));
    if (b->host->ioctl(fd, VIDIOC_QUERYCAP, &cap) < 0) {
        set_error(err, "'%s' is not a V4L2 device (VIDIOC_QUERYCAP: %s)", b->path,
                  g_strerror(errno));
        return false;
    }
    caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
    if (!(caps & V4L2_CAP_VIDEO_CAPTURE)) {
        set_error(err, "'%s' is not a video capture device", b->path);
        return false;
    }
    if (!(caps & V4L2_CAP_STREAMING)) {
        set_error(err, "'%s' does not support streaming I/O", b->path);
        return false;
    }
    return true;
}

static uint32_t interval_fps(const struct v4l2_fract *f)
{
    return f->numerator ? f->denominator / f->numerator : 0;
}

/* The fastest rate offered at this size; DEFAULT_FPS if the driver says nothing. */
static uint32_t max_fps(CameraBackend *b, int fd, uint32_t fourcc, uint32_t w, uint32_t h)
{
    uint32_t best = 0;

    for (uint32_t i = 0; i < MAX_ENUM; i++) {
        struct v4l2_frmivalenum iv;

        memset(&iv, 0, sizeof(iv));
        iv.index = i;
        iv.pixel_format = fourcc;
        iv.width = w;
        iv.height = h;
        if (b->host->ioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &iv) < 0) {
            break;
        }
        if (iv.type != V4L2_FRMIVAL_TYPE_DISCRETE) {
            best = MAX(best, interval_fps(&iv.stepwise.min));
            break;
        }
        best = MAX(best, interval_fps(&iv.discrete));
    }
    return best ? best : DEFAULT_FPS;
}

static void add_size(CameraBackend *b, int fd, CameraFormat *f, uint32_t w, uint32_t h)
{
    if (f->n_sizes < CAMERA_MAX_SIZES && w && h) {
        f->sizes[f->n_sizes++] = (CameraFrameSize){ w, h, max_fps(b, fd, f->fourcc, w, h) };
    }
}

static void enum_sizes(CameraBackend *b, int fd, CameraFormat *f)
{
    for (uint32_t i = 0; i < MAX_ENUM && f->n_sizes < CAMERA_MAX_SIZES; i++) {
        struct v4l2_frmsizeenum s;

        memset(&s, 0, sizeof(s));
        s.index = i;
        s.pixel_format = f->fourcc;
        if (b->host->ioctl(fd, VIDIOC_ENUM_FRAMESIZES, &s) < 0) {
            return;
        }
        if (s.type != V4L2_FRMSIZE_TYPE_DISCRETE) {
            add_size(b, fd, f, s.stepwise.max_width, s.stepwise.max_height);
            return;
        }
        add_size(b, fd, f, s.discrete.width, s.discrete.height);
    }
}

static bool enum_formats(CameraBackend *b, int fd, GError **err)
{
    for (uint32_t i = 0; i < MAX_ENUM && b->n_formats < CAMERA_MAX_FORMATS; i++) {
        struct v4l2_fmtdesc d;
        CameraFormat *f = &b->formats[b->n_formats];

        memset(&d, 0, sizeof(d));
        d.index = i;
        d.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        if (b->host->ioctl(fd, VIDIOC_ENUM_FMT, &d) < 0) {
            if (errno == EINVAL) {
                break;          /* the end of the list */
            }
            set_error(err, "'%s': VIDIOC_ENUM_FMT: %s", b->path, g_strerror(errno));
            return false;
        }
        memset(f, 0, sizeof(*f));
        f->fourcc = d.pixelformat;
        enum_sizes(b, fd, f);
        b->n_formats += f->n_sizes > 0;     /* a format without sizes cannot be chosen */
    }
    if (!b->n_formats) {
        set_error(err, "'%s' offers no capture format", b->path);
        return false;
    }
    return true;
}

static bool v4l2_probe(CameraBackend *b, GError **err)
{
    int fd = open_node(b, err);
    bool ok;

    if (fd < 0) {
        return false;
    }
    ok = check_caps(b, fd, err) && enum_formats(b, fd, err);
    b->host->close(fd);
    return ok;
}

/* Undoes a (partial) stream_on: buffers unmapped and freed, node closed. */
static void release(CameraBackend *b)
{
    struct v4l2_requestbuffers rb;

    for (unsigned i = 0; i < b->n_buffers; i++) {
        b->host->munmap(b->buffers[i].addr, b->buffers[i].len);
    }
    if (b->n_buffers) {
        memset(&rb, 0, sizeof(rb));
        rb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        rb.memory = V4L2_MEMORY_MMAP;
        b->host->ioctl(b->fd, VIDIOC_REQBUFS, &rb);      /* count 0 frees them */
    }
    b->n_buffers = 0;
    if (b->fd >= 0) {
        b->host->close(b->fd);
        b->fd = -1;
    }
}

static bool fail_errno(CameraBackend *b, const char *what, GError **err)
{
    set_error(err, "'%s': %s: %s", b->path, what, g_strerror(errno));
    return false;
}

static bool set_format(CameraBackend *b, GError **err)
{
    struct v4l2_format fmt;
    char fcc[5];

    memset(&fmt, 0, sizeof(fmt));
    fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    fmt.fmt.pix.width = b->width;
    fmt.fmt.pix.height = b->height;
    fmt.fmt.pix.pixelformat = b->fourcc;
    fmt.fmt.pix.field = V4L2_FIELD_ANY;
    if (b->host->ioctl(b->fd, VIDIOC_S_FMT, &fmt) < 0) {
        return fail_errno(b, "VIDIOC_S_FMT", err);
    }
    if (fmt.fmt.pix.pixelformat != b->fourcc || fmt.fmt.pix.width != b->width ||
        fmt.fmt.pix.height != b->height || !fmt.fmt.pix.sizeimage) {
        set_error(err, "'%s' did not accept %ux%u in format %s", b->path, b->width,
                  b->height, camera_fourcc_str(b->fourcc, fcc));
        return false;
    }
    b->frame_size = fmt.fmt.pix.sizeimage;
    return true;
}

static bool queue_buffer(CameraBackend *b, uint32_t index, GError **err)
{
    struct v4l2_buffer vb;

    memset(&vb, 0, sizeof(vb));
    vb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    vb.memory = V4L2_MEMORY_MMAP;
    vb.index = index;
    return b->host->ioctl(b->fd, VIDIOC_QBUF, &vb) == 0 || fail_errno(b, "VIDIOC_QBUF", err);
}

static bool map_buffers(CameraBackend *b, GError **err)
{
    struct v4l2_requestbuffers rb;

    memset(&rb, 0, sizeof(rb));
    rb.count = CAMERA_V4L2_BUFFERS;
    rb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    rb.memory = V4L2_MEMORY_MMAP;
    if (b->host->ioctl(b->fd, VIDIOC_REQBUFS, &rb) < 0) {
        return fail_errno(b, "VIDIOC_REQBUFS", err);
    }
    if (rb.count == 0) {
        set_error(err, "'%s': VIDIOC_REQBUFS gave no buffers", b->path);
        return false;
    }
    for (uint32_t i = 0; i < MIN(rb.count, CAMERA_V4L2_BUFFERS); i++) {
        struct v4l2_buffer vb;
        void *addr;

        memset(&vb, 0, sizeof(vb));
        vb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        vb.memory = V4L2_MEMORY_MMAP;
        vb.index = i;
        if (b->host->ioctl(b->fd, VIDIOC_QUERYBUF, &vb) < 0) {
            return fail_errno(b, "VIDIOC_QUERYBUF", err);
        }
        addr = b->host->mmap(vb.length, b->fd, vb.m.offset);
        if (addr == MAP_FAILED) {
            return fail_errno(b, "mmap", err);
        }
        b->buffers[b->n_buffers++] = (CameraV4l2Buffer){ addr, vb.length };
        if (!queue_buffer(b, i, err)) {
            return false;
        }
    }
    return true;
}

static bool v4l2_stream_on(CameraBackend *b, GError **err)
{
    int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;

    b->fd = open_node(b, err);
    if (b->fd < 0) {
        return false;
    }
    if (!set_format(b, err) || !map_buffers(b, err)) {
        release(b);
        return false;
    }
    if (b->host->ioctl(b->fd, VIDIOC_STREAMON, &type) < 0) {
        fail_errno(b, "VIDIOC_STREAMON", err);
        release(b);
        return false;
    }
    return true;
}

static gssize v4l2_read_frame(CameraBackend *b, void *buf, size_t len, GError **err)
{
    struct v4l2_buffer vb;
    size_t n;

    memset(&vb, 0, sizeof(vb));
    vb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    vb.memory = V4L2_MEMORY_MMAP;
    if (b->host->ioctl(b->fd, VIDIOC_DQBUF, &vb) < 0) {
        if (errno == EAGAIN) {
            return 0;           /* no frame filled yet */
        }
        fail_errno(b, "VIDIOC_DQBUF", err);
        return -1;
    }
    if (vb.index >= b->n_buffers) {
        set_error(err, "'%s': VIDIOC_DQBUF returned buffer %u of %u", b->path, vb.index,
                  b->n_buffers);
        return -1;
    }
    n = MIN(MIN((size_t)vb.bytesused, b->buffers[vb.index].len), len);
    memcpy(buf, b->buffers[vb.index].addr, n);
    return queue_buffer(b, vb.index, err) ? (gssize)n : -1;
}

static void v4l2_stream_off(CameraBackend *b)
{
    int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;

    b->host->ioctl(b->fd, VIDIOC_STREAMOFF, &type);
    release(b);
}

const CameraDriver camera_v4l2_driver = {
    .name = "v4l2",
    .needs_path = true,
    .probe = v4l2_probe,
    .stream_on = v4l2_stream_on,
    .read_frame = v4l2_read_frame,
    .stream_off = v4l2_stream_off,
};
