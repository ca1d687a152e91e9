/* Block layer: engines, direct I/O bounce paths, locking, errors, registry. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "block-test-util.h"
#include "block/block.h"

#define IMG_SIZE (1 << 20)

static char *tmpdir;

typedef struct Done {
    int ret;
    bool done;
} Done;

static void on_done(BlockRequest *req, int ret)
{
    Done *d = req->opaque;
    d->ret = ret;
    d->done = true;
}

static void wait_done(Done *d)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!d->done) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, TRUE);
    }
}

static char *make_image(const char *name, size_t size)
{
    char *path = g_build_filename(tmpdir, name, NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, size), ==, 0);
    close(fd);
    return path;
}

static int run(BlockBackend *bb, BlockOp op, uint64_t off, void *buf, size_t len)
{
    struct iovec iov = { buf, len };
    Done d = { 0 };
    BlockRequest req = {
        .op = op, .offset = off, .iov = &iov, .niov = buf ? 1 : 0, .len = len,
        .cb = on_done, .opaque = &d,
    };
    block_submit(bb, &req);
    g_assert_false(d.done);      /* never completes inside submit */
    wait_done(&d);
    return d.ret;
}

static BlockBackend *open_img(const char *path, BlockAioMode aio, bool direct, bool ro,
                              GError **err)
{
    BlockOptions o;
    block_options_init(&o);
    o.node_name = "n0";
    o.filename = path;
    o.aio = aio;
    o.direct = direct;
    o.read_only = ro;
    return block_open(&o, NULL, err);
}

static void test_engine(gconstpointer data)
{
    const EngineCase *c = data;
    g_autofree char *path = make_image("engine.img", IMG_SIZE);
    g_autoptr(GError) err = NULL;
    BlockBackend *bb = open_img(path, c->aio, c->direct, false, &err);
    uint8_t *buf = NULL, *big;
    int fd;

    g_assert_no_error(err);
    g_assert_cmpuint(block_size(bb), ==, IMG_SIZE);
    g_assert_cmpint(block_aio_mode(bb), ==, c->aio);
    g_assert_true(posix_memalign((void **)&buf, 4096, 8192) == 0);

    /* aligned write + read */
    memset(buf, 0xa5, 4096);
    g_assert_cmpint(run(bb, BLOCK_OP_WRITE, 8192, buf, 4096), ==, 0);
    memset(buf, 0, 4096);
    g_assert_cmpint(run(bb, BLOCK_OP_READ, 8192, buf, 4096), ==, 0);
    g_assert_cmpuint(buf[0], ==, 0xa5);
    g_assert_cmpuint(buf[4095], ==, 0xa5);

    /* misaligned memory (bounce when direct), sector-aligned offset */
    memset(buf + 1, 0x3c, 512);
    g_assert_cmpint(run(bb, BLOCK_OP_WRITE, 512, buf + 1, 512), ==, 0);
    memset(buf, 0, 1024);
    g_assert_cmpint(run(bb, BLOCK_OP_READ, 512, buf + 3, 512), ==, 0);
    g_assert_cmpuint(buf[3], ==, 0x3c);
    g_assert_cmpuint(buf[514], ==, 0x3c);

    /* misaligned offset and length: read-modify-write when direct */
    memset(buf, 0x77, 100);
    g_assert_cmpint(run(bb, BLOCK_OP_WRITE, 8192 + 1000, buf, 100), ==, 0);
    big = g_malloc0(4096);
    g_assert_cmpint(run(bb, BLOCK_OP_READ, 8192, big, 4096), ==, 0);
    g_assert_cmpuint(big[999], ==, 0xa5);
    g_assert_cmpuint(big[1000], ==, 0x77);
    g_assert_cmpuint(big[1099], ==, 0x77);
    g_assert_cmpuint(big[1100], ==, 0xa5);
    g_free(big);

    g_assert_cmpint(run(bb, BLOCK_OP_FLUSH, 0, NULL, 0), ==, 0);

    /* write-zeroes and discard */
    g_assert_cmpint(run(bb, BLOCK_OP_WRITE_ZEROES, 8192, NULL, 4096), ==, 0);
    memset(buf, 1, 4096);
    g_assert_cmpint(run(bb, BLOCK_OP_READ, 8192, buf, 4096), ==, 0);
    for (int i = 0; i < 4096; i++) {
        g_assert_cmpuint(buf[i], ==, 0);
    }
    g_assert_true(block_can_discard(bb));
    g_assert_cmpint(run(bb, BLOCK_OP_DISCARD, 0, NULL, 65536), ==, 0);

    /* beyond the end */
    g_assert_cmpint(run(bb, BLOCK_OP_READ, IMG_SIZE - 512, buf, 4096), ==, -EINVAL);
    g_assert_cmpint(run(bb, BLOCK_OP_WRITE_ZEROES, IMG_SIZE, NULL, 512), ==, -EINVAL);
    g_assert_cmpint(run(bb, BLOCK_OP_READ, UINT64_MAX - 10, buf, 512), ==, -EINVAL);

    /* many requests in flight, then drain via unref */
    Done d[64] = { 0 };
    BlockRequest reqs[64];
    struct iovec iovs[64];
    uint8_t *bufs = NULL;
    g_assert_true(posix_memalign((void **)&bufs, 4096, 64 * 4096) == 0);
    for (int i = 0; i < 64; i++) {
        memset(bufs + i * 4096, i, 4096);
        iovs[i] = (struct iovec) { bufs + i * 4096, 4096 };
        reqs[i] = (BlockRequest) { .op = BLOCK_OP_WRITE, .offset = (uint64_t)i * 4096,
                                   .iov = &iovs[i], .niov = 1, .cb = on_done, .opaque = &d[i] };
        block_submit(bb, &reqs[i]);
    }
    g_assert_cmpuint(block_inflight(bb), ==, 64);
    block_drain(bb);
    for (int i = 0; i < 64; i++) {
        g_assert_true(d[i].done);
        g_assert_cmpint(d[i].ret, ==, 0);
    }
    block_unref(bb);

    /* check the file content directly */
    fd = open(path, O_RDONLY);
    g_assert_cmpint(pread(fd, buf, 4096, 63 * 4096), ==, 4096);
    g_assert_cmpuint(buf[100], ==, 63);
    close(fd);
    free(bufs);
    free(buf);
    unlink(path);
}

static void test_read_only(void)
{
    g_autofree char *path = make_image("ro.img", IMG_SIZE);
    g_autoptr(GError) err = NULL;
    BlockBackend *bb = open_img(path, BLOCK_AIO_THREADS, false, true, &err);
    uint8_t buf[512] = { 0 };

    g_assert_no_error(err);
    g_assert_true(block_is_read_only(bb));
    g_assert_false(block_can_discard(bb));
    g_assert_false(block_can_write_zeroes(bb));
    g_assert_cmpint(run(bb, BLOCK_OP_WRITE, 0, buf, 512), ==, -EROFS);
    g_assert_cmpint(run(bb, BLOCK_OP_DISCARD, 0, NULL, 512), ==, -EROFS);
    g_assert_cmpint(run(bb, BLOCK_OP_READ, 0, buf, 512), ==, 0);
    block_unref(bb);
    unlink(path);
}

/* query-blockstats' counters: completed, failed and invalid requests per kind. */
static void test_accounting(void)
{
    g_autofree char *path = make_image("acct.img", IMG_SIZE);
    g_autoptr(GError) err = NULL;
    BlockBackend *bb = open_img(path, BLOCK_AIO_THREADS, false, false, &err);
    const BlockAcctStats *st;
    uint8_t buf[4096] = { 1 };
    JsonNode *j;
    JsonObject *o;

    g_assert_no_error(err);
    g_assert_cmpint(run(bb, BLOCK_OP_WRITE, 8192, buf, 4096), ==, 0);
    g_assert_cmpint(run(bb, BLOCK_OP_WRITE, 0, buf, 512), ==, 0);
    g_assert_cmpint(run(bb, BLOCK_OP_READ, 0, buf, 1024), ==, 0);
    g_assert_cmpint(run(bb, BLOCK_OP_FLUSH, 0, NULL, 0), ==, 0);
    g_assert_cmpint(run(bb, BLOCK_OP_WRITE_ZEROES, 16384, NULL, 4096), ==, 0);
    g_assert_cmpint(run(bb, BLOCK_OP_READ, IMG_SIZE, buf, 512), ==, -EINVAL);
    st = block_stats(bb);
    g_assert_cmpuint(st->ops[BLOCK_ACCT_WRITE], ==, 3);      /* write-zeroes is a write */
    g_assert_cmpuint(st->bytes[BLOCK_ACCT_WRITE], ==, 4096 + 512 + 4096);
    g_assert_cmpuint(st->wr_highest_offset, ==, 16384 + 4096);
    g_assert_cmpuint(st->ops[BLOCK_ACCT_READ], ==, 1);
    g_assert_cmpuint(st->bytes[BLOCK_ACCT_READ], ==, 1024);
    g_assert_cmpuint(st->invalid[BLOCK_ACCT_READ], ==, 1);
    g_assert_cmpuint(st->ops[BLOCK_ACCT_FLUSH], ==, 1);
    g_assert_cmpuint(st->failed[BLOCK_ACCT_READ], ==, 0);
    g_assert_cmpuint(st->total_time_ns[BLOCK_ACCT_WRITE], >, 0);

    j = block_query_stats(bb);
    o = json_node_get_object(j);
    g_assert_cmpint(json_object_get_int_member(o, "wr_operations"), ==, 3);
    g_assert_cmpint(json_object_get_int_member(o, "rd_bytes"), ==, 1024);
    g_assert_cmpint(json_object_get_int_member(o, "invalid_rd_operations"), ==, 1);
    g_assert_cmpint(json_object_get_int_member(o, "unmap_operations"), ==, 0);
    g_assert_true(json_object_has_member(o, "idle_time_ns"));
    g_assert_false(json_object_has_member(o, "flush_bytes"));
    g_assert_cmpuint(json_object_get_size(o), ==, 27);
    json_node_unref(j);
    block_unref(bb);
    unlink(path);
}

static void test_lock(void)
{
    g_autofree char *path = make_image("lock.img", IMG_SIZE);
    g_autoptr(GError) err = NULL;
    BlockBackend *a = open_img(path, BLOCK_AIO_OFF, false, false, &err), *b;

    g_assert_no_error(err);
    /* A second writable open conflicts (OFD locks are per open file description). */
    b = open_img(path, BLOCK_AIO_OFF, false, false, &err);
    g_assert_null(b);
    g_assert_nonnull(strstr(err->message, "Failed to lock image file"));
    g_assert_nonnull(strstr(err->message, path));
    g_assert_nonnull(strstr(err->message, "another process holds it"));
    g_clear_error(&err);
    /* A reader conflicts with the writer too. */
    b = open_img(path, BLOCK_AIO_OFF, false, true, &err);
    g_assert_null(b);
    g_clear_error(&err);
    block_unref(a);
    /* Two readers share. */
    a = open_img(path, BLOCK_AIO_OFF, false, true, &err);
    g_assert_no_error(err);
    b = open_img(path, BLOCK_AIO_OFF, false, true, &err);
    g_assert_no_error(err);
    block_unref(a);
    block_unref(b);
    /* After close, a writer gets it again. */
    a = open_img(path, BLOCK_AIO_OFF, false, false, &err);
    g_assert_no_error(err);
    block_unref(a);
    unlink(path);
}

static void test_open_errors(void)
{
    g_autofree char *path = make_image("fmt.img", IMG_SIZE);
    g_autoptr(GError) err = NULL;
    BlockOptions o;

    block_options_init(&o);
    o.node_name = "x";
    o.filename = path;
    o.format = "qcow2";
    g_assert_null(block_open(&o, NULL, &err));
    g_assert_cmpstr(err->message, ==, "format 'qcow2' is not supported yet");
    g_clear_error(&err);

    o.format = "raw";
    o.filename = "/nonexistent/stratus.img";
    g_assert_null(block_open(&o, NULL, &err));
    g_assert_nonnull(strstr(err->message, "Failed to open block file '/nonexistent/stratus.img'"));
    g_clear_error(&err);

    o.filename = tmpdir;   /* a directory */
    o.direct = false;
    o.read_only = true;
    g_assert_null(block_open(&o, NULL, &err));
    g_assert_nonnull(err);
    unlink(path);
}

static void test_defaults(void)
{
    g_autofree char *path = make_image("def.img", IMG_SIZE);
    g_autoptr(GError) err = NULL;
    BlockOptions o;
    BlockBackend *bb;

    block_options_init(&o);
    g_assert_true(o.direct);
    o.node_name = "d";
    o.filename = path;
    bb = block_open(&o, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(block_aio_mode(bb), ==, BLOCK_AIO_NATIVE);   /* direct -> native */
    g_assert_true(block_is_direct(bb));
    block_unref(bb);
    o.direct = false;
    bb = block_open(&o, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(block_aio_mode(bb), ==, BLOCK_AIO_OFF);      /* buffered -> off */
    block_unref(bb);
    unlink(path);

    BlockAioMode m;
    g_assert_true(block_aio_parse("io_uring", &m));
    g_assert_cmpint(m, ==, BLOCK_AIO_IO_URING);
    g_assert_false(block_aio_parse("posix", &m));
}

static void test_registry_and_attach(void)
{
    g_autofree char *path = make_image("reg.img", IMG_SIZE);
    g_autofree char *path2 = make_image("reg2.img", IMG_SIZE);
    g_autoptr(GError) err = NULL;
    BlockRegistry *r = block_registry_new();
    BlockBackend *bb = open_img(path, BLOCK_AIO_OFF, false, false, &err), *bb2;

    g_assert_true(block_registry_add(r, bb, &err));
    bb2 = open_img(path2, BLOCK_AIO_OFF, false, false, &err);   /* also named n0 */
    g_assert_false(block_registry_add(r, bb2, &err));
    g_assert_cmpstr(err->message, ==, "Drive n0 has been added");
    g_clear_error(&err);
    block_unref(bb2);
    g_assert_true(block_registry_find(r, "n0") == bb);
    g_assert_true(block_attach(bb, "disk0", &err));
    g_assert_false(block_attach(bb, "disk1", &err));
    g_assert_cmpstr(err->message, ==, "Drive 'n0' is already in use by 'disk0'");
    g_clear_error(&err);
    g_assert_cmpstr(block_owner(bb), ==, "disk0");
    block_detach(bb);
    g_assert_null(block_owner(bb));

    JsonNode *info = block_query_device_info(bb);
    JsonObject *o = json_node_get_object(info);
    g_assert_cmpstr(json_object_get_string_member(o, "node-name"), ==, "n0");
    g_assert_cmpstr(json_object_get_string_member(o, "drv"), ==, "raw");
    g_assert_cmpint(json_object_get_int_member(json_object_get_object_member(o, "image"),
                                               "virtual-size"), ==, IMG_SIZE);
    g_assert_false(json_object_get_boolean_member(json_object_get_object_member(o, "cache"),
                                                  "direct"));
    json_node_unref(info);

    block_unref(bb);
    g_assert_true(block_registry_remove(r, "n0"));
    g_assert_false(block_registry_remove(r, "n0"));
    block_registry_free(r);
    unlink(path);
    unlink(path2);
}

static void test_drive_options(void)
{
    g_autoptr(GError) err = NULL;
    OptList *l = optlist_parse("id=d1,file=/x.img,readonly=on,direct=off,aio=io_uring,"
                               "discard=ignore", NULL, &err);
    BlockOptions o;

    g_assert_no_error(err);
    g_assert_true(block_options_from_drive(l, &o, &err));
    g_assert_cmpstr(o.node_name, ==, "d1");
    g_assert_cmpstr(o.filename, ==, "/x.img");
    g_assert_true(o.read_only);
    g_assert_false(o.direct);
    g_assert_false(o.discard);
    g_assert_cmpint(o.aio, ==, BLOCK_AIO_IO_URING);
    optlist_free(l);

    l = optlist_parse("id=d2,file=/y.img", NULL, &err);
    g_assert_true(block_options_from_drive(l, &o, &err));
    g_assert_true(o.direct);
    g_assert_false(o.read_only);
    g_assert_cmpint(o.aio, ==, BLOCK_AIO_DEFAULT);
    optlist_free(l);

    l = optlist_parse("id=d3,file=/y.img,aio=posix", NULL, &err);
    g_assert_false(block_options_from_drive(l, &o, &err));
    g_assert_nonnull(strstr(err->message, "posix"));
    g_clear_error(&err);
    optlist_free(l);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    tmpdir = make_image_dir("stratus-block");
    for (size_t i = 0; i < G_N_ELEMENTS(engine_cases); i++) {
        g_autofree char *name = g_strdup_printf("/block/engine/%s/direct-%s",
                                                block_aio_name(engine_cases[i].aio),
                                                engine_cases[i].direct ? "on" : "off");
        g_test_add_data_func(name, &engine_cases[i], test_engine);
    }
    g_test_add_func("/block/read-only", test_read_only);
    g_test_add_func("/block/ofd-lock", test_lock);
    g_test_add_func("/block/accounting", test_accounting);
    g_test_add_func("/block/open-errors", test_open_errors);
    g_test_add_func("/block/defaults", test_defaults);
    g_test_add_func("/block/registry-attach-query", test_registry_and_attach);
    g_test_add_func("/block/drive-options", test_drive_options);
    ret = g_test_run();
    g_rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}
