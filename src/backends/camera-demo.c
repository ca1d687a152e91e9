/*
 * The demo camera driver (backends/camera.h): synthetic frames, no host
 * device, for tests and demonstrations. A frame is rendered on each read
 * (pacing frames at the chosen rate is the reader's business), the colour
 * bars moving 4 pixels left per frame so consecutive frames differ.
 *
 * Formats (docs/camera.md): YUYV 1280x720@10, 640x480@30, 320x240@30,
 * 160x120@60; RGB565 640x480@30, 320x240@30. `path` is recorded only:
 * StratoVirt's demo back end reads tuning options from it, Stratus has none.
 */
#include <string.h>
#include <linux/videodev2.h>

#include "backends/camera-internal.h"

#define BARS 8
#define SHIFT_PER_FRAME 4

/* White, yellow, cyan, green, magenta, red, blue, black (SMPTE order). */
static const uint8_t bar_rgb[BARS][3] = {
    { 255, 255, 255 }, { 255, 255, 0 }, { 0, 255, 255 }, { 0, 255, 0 },
    { 255, 0, 255 }, { 255, 0, 0 }, { 0, 0, 255 }, { 0, 0, 0 },
};

static const CameraFormat demo_formats[] = {
    { V4L2_PIX_FMT_YUYV, 4, {
        { 1280, 720, 10 }, { 640, 480, 30 }, { 320, 240, 30 }, { 160, 120, 60 } } },
    { V4L2_PIX_FMT_RGB565, 2, { { 640, 480, 30 }, { 320, 240, 30 } } },
};

/* BT.601 limited range, integer form. */
static void rgb_to_yuv(const uint8_t *rgb, uint8_t *y, uint8_t *u, uint8_t *v)
{
    int r = rgb[0], g = rgb[1], b = rgb[2];

    *y = (uint8_t)(16 + ((66 * r + 129 * g + 25 * b + 128) >> 8));
    *u = (uint8_t)(128 + ((-38 * r - 74 * g + 112 * b + 128) >> 8));
    *v = (uint8_t)(128 + ((112 * r - 94 * g - 18 * b + 128) >> 8));
}

static unsigned bar_at(uint32_t x, uint32_t width, uint64_t seq)
{
    uint64_t pos = (x + seq * SHIFT_PER_FRAME) % width;

    return (unsigned)(pos * BARS / width);
}

static void render_yuyv_row(uint8_t *row, uint32_t width, uint64_t seq)
{
    for (uint32_t x = 0; x + 1 < width; x += 2) {
        uint8_t y0, y1, u, v, u1, v1;

        rgb_to_yuv(bar_rgb[bar_at(x, width, seq)], &y0, &u, &v);
        rgb_to_yuv(bar_rgb[bar_at(x + 1, width, seq)], &y1, &u1, &v1);
        row[2 * x] = y0;
        row[2 * x + 1] = u;          /* chroma of the pair's first pixel */
        row[2 * x + 2] = y1;
        row[2 * x + 3] = v;
    }
}

static void render_rgb565_row(uint8_t *row, uint32_t width, uint64_t seq)
{
    for (uint32_t x = 0; x < width; x++) {
        const uint8_t *c = bar_rgb[bar_at(x, width, seq)];
        uint16_t p = (uint16_t)(((c[0] >> 3) << 11) | ((c[1] >> 2) << 5) | (c[2] >> 3));

        row[2 * x] = (uint8_t)p;
        row[2 * x + 1] = (uint8_t)(p >> 8);
    }
}

size_t camera_demo_render(uint32_t fourcc, uint32_t width, uint32_t height, uint64_t seq,
                          uint8_t *buf, size_t len)
{
    size_t stride = (size_t)width * 2;
    void (*row_fn)(uint8_t *, uint32_t, uint64_t);

    if (fourcc == V4L2_PIX_FMT_YUYV && width % 2 == 0) {
        row_fn = render_yuyv_row;
    } else if (fourcc == V4L2_PIX_FMT_RGB565) {
        row_fn = render_rgb565_row;
    } else {
        return 0;
    }
    if (!width || !height || len < stride * height) {
        return 0;
    }
    /* Every row of a bar pattern is the same: render one, copy it. */
    row_fn(buf, width, seq);
    for (uint32_t y = 1; y < height; y++) {
        memcpy(buf + stride * y, buf, stride);
    }
    return stride * height;
}

static bool demo_probe(CameraBackend *b, GError **err)
{
    b->n_formats = G_N_ELEMENTS(demo_formats);
    memcpy(b->formats, demo_formats, sizeof(demo_formats));
    return true;
}

static bool demo_stream_on(CameraBackend *b, GError **err)
{
    b->frame_size = (size_t)b->width * b->height * 2;
    b->seq = 0;
    return true;
}

static gssize demo_read_frame(CameraBackend *b, void *buf, size_t len, GError **err)
{
    g_autofree uint8_t *tmp = NULL;
    uint8_t *out = buf;

    if (len < b->frame_size) {
        out = tmp = g_malloc(b->frame_size);
    }
    camera_demo_render(b->fourcc, b->width, b->height, b->seq++, out, b->frame_size);
    if (tmp) {
        memcpy(buf, tmp, len);
        return (gssize)len;
    }
    return (gssize)b->frame_size;
}

static void demo_stream_off(CameraBackend *b)
{
}

const CameraDriver camera_demo_driver = {
    .name = "demo",
    .needs_path = false,
    .probe = demo_probe,
    .stream_on = demo_stream_on,
    .read_frame = demo_read_frame,
    .stream_off = demo_stream_off,
};
