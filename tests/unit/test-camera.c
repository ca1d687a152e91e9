/*
 * Camera back ends (src/backends/camera*.c): the demo frame generator, the
 * table's refusals (StratoVirt's texts), and the v4l2 driver's capability
 * check, enumeration and mmap streaming against a fake capture device
 * behind CameraHostOps, plus the real system calls on /dev/null, a directory
 * and a path that does not exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/videodev2.h>

#include "backends/camera.h"

#define FAKE_FD 100
#define FAKE_BUF_LEN (640 * 480 * 2)
#define FAKE_OFFSET_STEP 0x100000

/* A capture device: YUYV 640x480, 320x240 (discrete), MJPG up to 1920x1080 (stepwise). */
typedef struct FakeCam {
    const char *path;
    mode_t mode;                 /* S_IFCHR, or another type */
    unsigned major;              /* 81 for a V4L2 node */
    bool not_v4l2;               /* QUERYCAP fails with ENOTTY, as on /dev/null */
    uint32_t caps, device_caps;
    int opens, closes, munmaps, reqbufs_zero;
    bool streaming;
    bool queued[4];
    unsigned frames_ready;
    uint32_t bytesused;
    uint8_t fill;
    uint8_t bufs[4][FAKE_BUF_LEN];
} FakeCam;

static FakeCam fake;

static void fake_reset(void)
{
    memset(&fake, 0, sizeof(fake));
    fake.path = "/dev/fake0";
    fake.mode = S_IFCHR | 0660;
    fake.major = 81;
    fake.caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
}

static int fake_stat(const char *path, struct stat *st)
{
    if (strcmp(path, fake.path)) {
        errno = ENOENT;
        return -1;
    }
    memset(st, 0, sizeof(*st));
    st->st_mode = fake.mode;
    st->st_rdev = makedev(fake.major, 0);
    return 0;
}

static int fake_open(const char *path, int flags)
{
    g_assert_true(flags & O_NOCTTY);
    if (strcmp(path, fake.path)) {
        errno = ENOENT;
        return -1;
    }
    fake.opens++;
    return FAKE_FD;
}

static int fake_close(int fd)
{
    g_assert_cmpint(fd, ==, FAKE_FD);
    fake.closes++;
    return 0;
}

static int fail(int e)
{
    errno = e;
    return -1;
}

static int enum_sizes(struct v4l2_frmsizeenum *s)
{
    static const uint32_t yuyv[][2] = { { 640, 480 }, { 320, 240 } };

    if (s->pixel_format == V4L2_PIX_FMT_YUYV && s->index < 2) {
        s->type = V4L2_FRMSIZE_TYPE_DISCRETE;
        s->discrete.width = yuyv[s->index][0];
        s->discrete.height = yuyv[s->index][1];
        return 0;
    }
    if (s->pixel_format == V4L2_PIX_FMT_MJPEG && s->index == 0) {
        s->type = V4L2_FRMSIZE_TYPE_STEPWISE;
        s->stepwise = (struct v4l2_frmsize_stepwise){ 160, 1920, 16, 120, 1080, 8 };
        return 0;
    }
    return fail(EINVAL);
}

/* 640x480 YUYV: 1/15 and 1/30 s; 320x240: 1/60 s; MJPG: stepwise from 1/25 s. */
static int enum_intervals(struct v4l2_frmivalenum *iv)
{
    if (iv->pixel_format == V4L2_PIX_FMT_MJPEG && iv->index == 0) {
        iv->type = V4L2_FRMIVAL_TYPE_STEPWISE;
        iv->stepwise.min = (struct v4l2_fract){ 1, 25 };
        iv->stepwise.max = (struct v4l2_fract){ 1, 1 };
        iv->stepwise.step = (struct v4l2_fract){ 1, 1 };
        return 0;
    }
    if (iv->pixel_format != V4L2_PIX_FMT_YUYV || iv->index >= (iv->width == 640 ? 2u : 1u)) {
        return fail(EINVAL);
    }
    iv->type = V4L2_FRMIVAL_TYPE_DISCRETE;
    iv->discrete = (struct v4l2_fract){ 1, iv->width == 320 ? 60 : (iv->index ? 30 : 15) };
    return 0;
}

static int set_fmt(struct v4l2_format *f)
{
    if (f->fmt.pix.pixelformat == V4L2_PIX_FMT_MJPEG) {
        f->fmt.pix.width = 1280;         /* the driver adjusts: not what was asked for */
        f->fmt.pix.height = 720;
    }
    f->fmt.pix.sizeimage = f->fmt.pix.width * f->fmt.pix.height * 2;
    return 0;
}

static int dqbuf(struct v4l2_buffer *b)
{
    if (!fake.streaming || !fake.frames_ready) {
        return fail(EAGAIN);
    }
    for (uint32_t i = 0; i < 4; i++) {
        if (fake.queued[i]) {
            fake.queued[i] = false;
            fake.frames_ready--;
            memset(fake.bufs[i], fake.fill, FAKE_BUF_LEN);
            b->index = i;
            b->bytesused = fake.bytesused;
            return 0;
        }
    }
    return fail(EAGAIN);
}

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
    g_assert_cmpint(fd, ==, FAKE_FD);
    switch (req) {
    case VIDIOC_QUERYCAP: {
        struct v4l2_capability *c = arg;
        if (fake.not_v4l2) {
            return fail(ENOTTY);
        }
        c->capabilities = fake.caps;
        c->device_caps = fake.device_caps;
        return 0;
    }
    case VIDIOC_ENUM_FMT: {
        struct v4l2_fmtdesc *d = arg;
        static const uint32_t fmts[] = { V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_MJPEG };
        g_assert_cmpuint(d->type, ==, V4L2_BUF_TYPE_VIDEO_CAPTURE);
        if (d->index >= 2) {
            return fail(EINVAL);
        }
        d->pixelformat = fmts[d->index];
        return 0;
    }
    case VIDIOC_ENUM_FRAMESIZES:
        return enum_sizes(arg);
    case VIDIOC_ENUM_FRAMEINTERVALS:
        return enum_intervals(arg);
    case VIDIOC_S_FMT:
        return set_fmt(arg);
    case VIDIOC_REQBUFS: {
        struct v4l2_requestbuffers *r = arg;
        g_assert_cmpuint(r->memory, ==, V4L2_MEMORY_MMAP);
        fake.reqbufs_zero += r->count == 0;
        r->count = MIN(r->count, 4);
        return 0;
    }
    case VIDIOC_QUERYBUF: {
        struct v4l2_buffer *b = arg;
        b->length = FAKE_BUF_LEN;
        b->m.offset = b->index * FAKE_OFFSET_STEP;
        return 0;
    }
    case VIDIOC_QBUF:
        fake.queued[((struct v4l2_buffer *)arg)->index] = true;
        return 0;
    case VIDIOC_DQBUF:
        return dqbuf(arg);
    case VIDIOC_STREAMON:
    case VIDIOC_STREAMOFF:
        fake.streaming = req == VIDIOC_STREAMON;
        return 0;
    }
    return fail(ENOTTY);
}

static void *fake_mmap(size_t len, int fd, off_t offset)
{
    g_assert_cmpuint(len, ==, FAKE_BUF_LEN);
    return fake.bufs[offset / FAKE_OFFSET_STEP];
}

static int fake_munmap(void *addr, size_t len)
{
    fake.munmaps++;
    return 0;
}

static const CameraHostOps fake_ops = {
    fake_stat, fake_open, fake_close, fake_ioctl, fake_mmap, fake_munmap,
};

/* ---- the demo generator ---- */

static void test_demo_render(void)
{
    g_autofree uint8_t *a = g_malloc(160 * 120 * 2);
    g_autofree uint8_t *b = g_malloc(160 * 120 * 2);

    g_assert_cmpuint(camera_demo_render(V4L2_PIX_FMT_YUYV, 160, 120, 0, a, 160 * 120 * 2),
                     ==, 160 * 120 * 2);
    /* first bar white (Y 235, neutral chroma), sixth red (BT.601: 82, 90, 240) */
    g_assert_cmpuint(a[0], ==, 235);
    g_assert_cmpuint(a[1], ==, 128);
    g_assert_cmpuint(a[3], ==, 128);
    g_assert_cmpuint(a[2 * 100], ==, 82);
    g_assert_cmpuint(a[2 * 100 + 1], ==, 90);
    g_assert_cmpuint(a[2 * 100 + 3], ==, 240);
    /* every row alike */
    g_assert_cmpmem(a, 320, a + 320 * 119, 320);
    /* frame 1 is frame 0 moved 4 pixels left */
    camera_demo_render(V4L2_PIX_FMT_YUYV, 160, 120, 1, b, 160 * 120 * 2);
    g_assert_cmpmem(b, 2 * 150, a + 2 * 4, 2 * 150);
    g_assert_true(memcmp(a, b, 320) != 0);
    /* RGB565: white, then black in the last bar */
    g_assert_cmpuint(camera_demo_render(V4L2_PIX_FMT_RGB565, 160, 120, 0, a, 160 * 120 * 2),
                     ==, 160 * 120 * 2);
    g_assert_cmpuint(a[0] | a[1] << 8, ==, 0xffff);
    g_assert_cmpuint(a[2 * 159] | a[2 * 159 + 1] << 8, ==, 0);
    g_assert_cmpuint(a[2 * 100] | a[2 * 100 + 1] << 8, ==, 0xf800);
    /* refused: short buffer, unknown format, odd YUYV width, empty frame */
    g_assert_cmpuint(camera_demo_render(V4L2_PIX_FMT_YUYV, 160, 120, 0, a, 100), ==, 0);
    g_assert_cmpuint(camera_demo_render(V4L2_PIX_FMT_MJPEG, 160, 120, 0, a, 160 * 240), ==, 0);
    g_assert_cmpuint(camera_demo_render(V4L2_PIX_FMT_YUYV, 159, 120, 0, a, 160 * 240), ==, 0);
    g_assert_cmpuint(camera_demo_render(V4L2_PIX_FMT_YUYV, 0, 120, 0, a, 160 * 240), ==, 0);
}

static void test_demo_backend(void)
{
    CameraTable *t = camera_table_new(NULL);
    CameraBackend *b;
    const CameraFormat *f;
    g_autofree uint8_t *one = g_malloc(640 * 480 * 2);
    g_autofree uint8_t *two = g_malloc(640 * 480 * 2);
    uint8_t small[16];
    g_autoptr(GError) err = NULL;

    g_assert_true(camera_backend_add(t, "cam0", "demo", NULL, &err));
    g_assert_no_error(err);
    b = camera_table_find(t, "cam0");
    g_assert_cmpstr(camera_backend_driver(b), ==, "demo");
    g_assert_null(camera_backend_path(b));
    g_assert_cmpuint(camera_backend_formats(b, &f), ==, 2);
    g_assert_cmpuint(f[0].fourcc, ==, V4L2_PIX_FMT_YUYV);
    g_assert_cmpuint(f[0].n_sizes, ==, 4);
    g_assert_cmpuint(f[0].sizes[1].width, ==, 640);
    g_assert_cmpuint(f[0].sizes[1].fps, ==, 30);
    g_assert_cmpuint(f[1].fourcc, ==, V4L2_PIX_FMT_RGB565);

    g_assert_false(camera_backend_stream_on(b, V4L2_PIX_FMT_RGB565, 1280, 720, &err));
    g_assert_cmpstr(err->message, ==, "'cam0' does not offer 1280x720 in format RGBP");
    g_clear_error(&err);
    g_assert_cmpint(camera_backend_read_frame(b, one, 16, &err), ==, -1);
    g_assert_cmpstr(err->message, ==, "cameradev 'cam0' is not streaming");
    g_clear_error(&err);

    g_assert_true(camera_backend_stream_on(b, V4L2_PIX_FMT_YUYV, 640, 480, &err));
    g_assert_cmpuint(camera_backend_frame_size(b), ==, 640 * 480 * 2);
    g_assert_false(camera_backend_stream_on(b, V4L2_PIX_FMT_YUYV, 640, 480, &err));
    g_assert_cmpstr(err->message, ==, "cameradev 'cam0' is already streaming");
    g_clear_error(&err);
    g_assert_cmpint(camera_backend_read_frame(b, one, 640 * 480 * 2, &err), ==, 640 * 480 * 2);
    g_assert_cmpint(camera_backend_read_frame(b, two, 640 * 480 * 2, &err), ==, 640 * 480 * 2);
    g_assert_true(memcmp(one, two, 640 * 2) != 0);      /* the bars moved */
    /* a short buffer gets the frame's start (frame 2 = frame 1 moved on) */
    g_assert_cmpint(camera_backend_read_frame(b, small, sizeof(small), &err), ==, 16);
    g_assert_cmpmem(small, 16, two + 2 * 4, 16);
    camera_backend_stream_off(b);
    g_assert_false(camera_backend_streaming(b));
    g_assert_cmpuint(camera_backend_frame_size(b), ==, 0);
    /* freeing the table stops a stream that is still on */
    g_assert_true(camera_backend_stream_on(b, V4L2_PIX_FMT_RGB565, 320, 240, &err));
    camera_table_free(t);
}

/* ---- the table ---- */

static void expect_add_error(CameraTable *t, const char *id, const char *driver,
                             const char *path, const char *msg)
{
    g_autoptr(GError) err = NULL;

    g_assert_false(camera_backend_add(t, id, driver, path, &err));
    g_assert_cmpstr(err->message, ==, msg);
}

static void test_table(void)
{
    CameraTable *t;
    g_autoptr(GError) err = NULL;
    GPtrArray *l;

    fake_reset();
    t = camera_table_new(&fake_ops);
    expect_add_error(t, "c0", "usb", NULL, "Unknown camera backend type");
    expect_add_error(t, "0c", "demo", NULL, "Parameter 'id' expects an identifier");
    expect_add_error(t, "c0", "v4l2", NULL, "no path configured for cameradev");
    expect_add_error(t, "c0", "v4l2", "", "no path configured for cameradev");
    g_assert_true(camera_backend_add(t, "c0", "v4l2", "/dev/fake0", &err));
    g_assert_true(camera_backend_add(t, "c1", "demo", "/dev/fake0", &err));
    g_assert_no_error(err);
    expect_add_error(t, "c0", "demo", NULL, "cameradev with id \"c0\" has already existed");
    expect_add_error(t, "c2", "v4l2", "/dev/fake0",
                     "another cameradev has the same backend device");
    l = camera_table_list(t);
    g_assert_cmpuint(l->len, ==, 2);
    g_assert_cmpstr(camera_backend_id(g_ptr_array_index(l, 0)), ==, "c0");
    g_assert_cmpstr(camera_backend_id(g_ptr_array_index(l, 1)), ==, "c1");
    g_assert_cmpstr(camera_backend_path(g_ptr_array_index(l, 1)), ==, "/dev/fake0");

    g_assert_false(camera_backend_del(t, "c9", &err));
    g_assert_cmpstr(err->message, ==, "no cameradev with id c9");
    g_clear_error(&err);
    g_assert_true(camera_backend_del(t, "c0", &err));
    g_assert_null(camera_table_find(t, "c0"));
    g_assert_false(camera_backend_del(t, "c0", &err));
    g_clear_error(&err);
    /* the id and the device are free again */
    g_assert_true(camera_backend_add(t, "c0", "v4l2", "/dev/fake0", &err));
    g_assert_no_error(err);
    camera_table_free(t);
    g_assert_cmpint(fake.opens, ==, fake.closes);
}

/* ---- v4l2 ---- */

static void test_v4l2_capability_check(void)
{
    CameraTable *t;

    fake_reset();
    t = camera_table_new(&fake_ops);
    expect_add_error(t, "c0", "v4l2", "/dev/video9",
                     "Failed to open camera device '/dev/video9': No such file or directory");
    /* checked before opening: only a V4L2 node (major 81) is opened */
    fake.mode = S_IFREG | 0644;
    expect_add_error(t, "c0", "v4l2", "/dev/fake0",
                     "'/dev/fake0' is not a V4L2 device (not a character device)");
    fake.mode = S_IFCHR | 0660;
    fake.major = 10;
    expect_add_error(t, "c0", "v4l2", "/dev/fake0",
                     "'/dev/fake0' is not a V4L2 device (device 10:0, V4L2 nodes have major 81)");
    g_assert_cmpint(fake.opens, ==, 0);
    fake.major = 81;
    /* a V4L2 node without VIDIOC_QUERYCAP (a sub-device node) */
    fake.not_v4l2 = true;
    expect_add_error(t, "c0", "v4l2", "/dev/fake0", "'/dev/fake0' is not a V4L2 device "
                     "(VIDIOC_QUERYCAP: Inappropriate ioctl for device)");
    fake.not_v4l2 = false;
    fake.caps = V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_STREAMING;
    expect_add_error(t, "c0", "v4l2", "/dev/fake0", "'/dev/fake0' is not a video capture device");
    /* device_caps, when reported, are the node's: a metadata node of a camera driver */
    fake.caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_META_CAPTURE | V4L2_CAP_STREAMING |
                V4L2_CAP_DEVICE_CAPS;
    fake.device_caps = V4L2_CAP_META_CAPTURE | V4L2_CAP_STREAMING;
    expect_add_error(t, "c0", "v4l2", "/dev/fake0", "'/dev/fake0' is not a video capture device");
    fake.device_caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_READWRITE;
    expect_add_error(t, "c0", "v4l2", "/dev/fake0",
                     "'/dev/fake0' does not support streaming I/O");
    fake.device_caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
    g_assert_true(camera_backend_add(t, "c0", "v4l2", "/dev/fake0", NULL));
    g_assert_cmpuint(camera_table_list(t)->len, ==, 1);
    /* every probe closed the node again */
    g_assert_cmpint(fake.opens, ==, 5);
    g_assert_cmpint(fake.closes, ==, 5);
    camera_table_free(t);
}

static void test_v4l2_formats(void)
{
    CameraTable *t;
    const CameraFormat *f;

    fake_reset();
    t = camera_table_new(&fake_ops);
    g_assert_true(camera_backend_add(t, "c0", "v4l2", "/dev/fake0", NULL));
    g_assert_cmpuint(camera_backend_formats(camera_table_find(t, "c0"), &f), ==, 2);
    g_assert_cmpuint(f[0].fourcc, ==, V4L2_PIX_FMT_YUYV);
    g_assert_cmpuint(f[0].n_sizes, ==, 2);
    g_assert_cmpuint(f[0].sizes[0].width, ==, 640);
    g_assert_cmpuint(f[0].sizes[0].height, ==, 480);
    g_assert_cmpuint(f[0].sizes[0].fps, ==, 30);        /* the faster of 15 and 30 */
    g_assert_cmpuint(f[0].sizes[1].width, ==, 320);
    g_assert_cmpuint(f[0].sizes[1].fps, ==, 60);
    /* stepwise: its largest size, at the fastest rate */
    g_assert_cmpuint(f[1].fourcc, ==, V4L2_PIX_FMT_MJPEG);
    g_assert_cmpuint(f[1].n_sizes, ==, 1);
    g_assert_cmpuint(f[1].sizes[0].width, ==, 1920);
    g_assert_cmpuint(f[1].sizes[0].height, ==, 1080);
    g_assert_cmpuint(f[1].sizes[0].fps, ==, 25);
    camera_table_free(t);
}

static void test_v4l2_stream(void)
{
    CameraTable *t;
    CameraBackend *b;
    g_autofree uint8_t *buf = g_malloc(FAKE_BUF_LEN);
    g_autoptr(GError) err = NULL;

    fake_reset();
    t = camera_table_new(&fake_ops);
    g_assert_true(camera_backend_add(t, "c0", "v4l2", "/dev/fake0", NULL));
    b = camera_table_find(t, "c0");
    /* the driver changes the size: refused, everything released */
    g_assert_false(camera_backend_stream_on(b, V4L2_PIX_FMT_MJPEG, 1920, 1080, &err));
    g_assert_cmpstr(err->message, ==, "'/dev/fake0' did not accept 1920x1080 in format MJPG");
    g_clear_error(&err);
    g_assert_cmpint(fake.opens, ==, fake.closes);

    g_assert_true(camera_backend_stream_on(b, V4L2_PIX_FMT_YUYV, 640, 480, &err));
    g_assert_no_error(err);
    g_assert_true(fake.streaming);
    g_assert_cmpuint(camera_backend_frame_size(b), ==, 640 * 480 * 2);
    for (int i = 0; i < 4; i++) {
        g_assert_true(fake.queued[i]);
    }
    /* nothing captured yet */
    g_assert_cmpint(camera_backend_read_frame(b, buf, FAKE_BUF_LEN, &err), ==, 0);
    g_assert_no_error(err);
    fake.frames_ready = 1;
    fake.bytesused = 1000;
    fake.fill = 0x5a;
    g_assert_cmpint(camera_backend_read_frame(b, buf, FAKE_BUF_LEN, &err), ==, 1000);
    g_assert_cmpuint(buf[0], ==, 0x5a);
    g_assert_cmpuint(buf[999], ==, 0x5a);
    g_assert_true(fake.queued[0]);                       /* given back to the driver */
    /* a frame longer than the buffer is cut */
    fake.frames_ready = 1;
    fake.bytesused = FAKE_BUF_LEN;
    g_assert_cmpint(camera_backend_read_frame(b, buf, 64, &err), ==, 64);

    camera_backend_stream_off(b);
    g_assert_false(fake.streaming);
    g_assert_cmpint(fake.munmaps, ==, 4);
    g_assert_cmpint(fake.reqbufs_zero, ==, 1);           /* the refusal had mapped none */
    g_assert_cmpint(fake.opens, ==, fake.closes);
    camera_table_free(t);
}

/* The real system calls: what cameradev_add says on a host without a camera. */
static void test_v4l2_host(void)
{
    CameraTable *t = camera_table_new(NULL);

    expect_add_error(t, "c0", "v4l2", "/dev/null",
                     "'/dev/null' is not a V4L2 device (device 1:3, V4L2 nodes have major 81)");
    expect_add_error(t, "c0", "v4l2", "/", "'/' is not a V4L2 device (not a character device)");
    expect_add_error(t, "c0", "v4l2", "/nonexistent/video0",
                     "Failed to open camera device '/nonexistent/video0': "
                     "No such file or directory");
    g_assert_cmpuint(camera_table_list(t)->len, ==, 0);
    camera_table_free(t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/camera/demo-render", test_demo_render);
    g_test_add_func("/camera/demo-backend", test_demo_backend);
    g_test_add_func("/camera/table", test_table);
    g_test_add_func("/camera/v4l2-capability-check", test_v4l2_capability_check);
    g_test_add_func("/camera/v4l2-formats", test_v4l2_formats);
    g_test_add_func("/camera/v4l2-stream", test_v4l2_stream);
    g_test_add_func("/camera/v4l2-host", test_v4l2_host);
    return g_test_run();
}
