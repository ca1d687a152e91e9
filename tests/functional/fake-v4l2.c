/*
 * A fake V4L2 capture node for functional tests on hosts without a camera
 * (the CI machines): preloaded into the VMM (LD_PRELOAD), it makes the path
 * in $STRATUS_FAKE_V4L2 (e.g. /dev/video0) look like a video capture device
 * to the v4l2 camera back end (src/backends/camera-v4l2.c), so the seed's
 * `cameradev_add` of /dev/video0 can be replayed as a golden transcript.
 *
 * What it answers: stat() of the path (a character device 81:0), open() of
 * it (a descriptor of /dev/null, remembered), and on that descriptor
 * VIDIOC_QUERYCAP (video capture, streaming), one format (YUYV 640x480 at
 * 30 frames/s) through VIDIOC_ENUM_FMT / _FRAMESIZES / _FRAMEINTERVALS;
 * every other request fails with ENOTTY. Everything else goes to the next
 * definition (glibc's, or a sanitizer's interceptor). The V4L2 requests
 * never reach the kernel, so the seccomp filter is not exercised here
 * (tests/unit/test-seccomp.c checks its list).
 *
 * The real functions are looked up in a constructor, before the VMM
 * installs its seccomp filter. The VMM makes these calls on its main loop
 * only, so the one remembered descriptor needs no lock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/videodev2.h>

static int (*real_stat)(const char *, struct stat *);
static int (*real_stat64)(const char *, struct stat64 *);
static int (*real_open)(const char *, int, ...);
static int (*real_close)(int);
static int (*real_ioctl)(int, unsigned long, ...);
static const char *fake_path;
static int fake_fd = -1;

__attribute__((constructor)) static void fake_v4l2_init(void)
{
    real_stat = (int (*)(const char *, struct stat *))dlsym(RTLD_NEXT, "stat");
    real_stat64 = (int (*)(const char *, struct stat64 *))dlsym(RTLD_NEXT, "stat64");
    real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
    real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
    fake_path = getenv("STRATUS_FAKE_V4L2");
}

static int is_fake(const char *path)
{
    return fake_path && path && !strcmp(path, fake_path);
}

int stat(const char *path, struct stat *st)
{
    if (!is_fake(path)) {
        return real_stat(path, st);
    }
    memset(st, 0, sizeof(*st));
    st->st_mode = S_IFCHR | 0660;
    st->st_rdev = makedev(81, 0);
    return 0;
}

/* What the VMM calls: it is built with _FILE_OFFSET_BITS=64 (this file is not). */
int stat64(const char *path, struct stat64 *st)
{
    if (!is_fake(path)) {
        return real_stat64(path, st);
    }
    memset(st, 0, sizeof(*st));
    st->st_mode = S_IFCHR | 0660;
    st->st_rdev = makedev(81, 0);
    return 0;
}

static int open_fake(void)
{
    int fd = real_open("/dev/null", O_RDWR | O_CLOEXEC);

    if (fd >= 0) {
        if (fake_fd >= 0) {           /* one open node at a time is all the tests need */
            real_close(fd);
            errno = EBUSY;
            return -1;
        }
        fake_fd = fd;
    }
    return fd;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    mode_t mode;

    if (is_fake(path)) {
        return open_fake();
    }
    if (!(flags & O_CREAT) && (flags & O_TMPFILE) != O_TMPFILE) {
        return real_open(path, flags);
    }
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
    return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int close(int fd)
{
    if (fd >= 0 && fd == fake_fd) {
        fake_fd = -1;
    }
    return real_close(fd);
}

static int fail(int e)
{
    errno = e;
    return -1;
}

static int answer(unsigned long req, void *arg)
{
    switch (req) {
    case VIDIOC_QUERYCAP: {
        struct v4l2_capability *c = arg;
        memset(c, 0, sizeof(*c));
        strcpy((char *)c->driver, "fake-v4l2");
        strcpy((char *)c->card, "Stratus test camera");
        c->device_caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
        c->capabilities = c->device_caps | V4L2_CAP_DEVICE_CAPS;
        return 0;
    }
    case VIDIOC_ENUM_FMT: {
        struct v4l2_fmtdesc *d = arg;
        if (d->index || d->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) {
            return fail(EINVAL);
        }
        d->pixelformat = V4L2_PIX_FMT_YUYV;
        return 0;
    }
    case VIDIOC_ENUM_FRAMESIZES: {
        struct v4l2_frmsizeenum *s = arg;
        if (s->index || s->pixel_format != V4L2_PIX_FMT_YUYV) {
            return fail(EINVAL);
        }
        s->type = V4L2_FRMSIZE_TYPE_DISCRETE;
        s->discrete.width = 640;
        s->discrete.height = 480;
        return 0;
    }
    case VIDIOC_ENUM_FRAMEINTERVALS: {
        struct v4l2_frmivalenum *iv = arg;
        if (iv->index) {
            return fail(EINVAL);
        }
        iv->type = V4L2_FRMIVAL_TYPE_DISCRETE;
        iv->discrete.numerator = 1;
        iv->discrete.denominator = 30;
        return 0;
    }
    }
    return fail(ENOTTY);
}

int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    void *arg;

    va_start(ap, req);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (fd >= 0 && fd == fake_fd) {
        return answer(req, arg);
    }
    return real_ioctl(fd, req, arg);
}
