/*
 * The test-only VFIO back end (vfio-backend.h, docs/vfio.md "Testing
 * without /dev/vfio"): a directory whose files stand in for a host
 * function's regions, so qtest can drive vfio-pci's configuration-space
 * emulation where no IOMMU exists. Selected by vfio-pci's x-fake-dir=.
 *
 *   config        the configuration space (256 or 4096 bytes); required
 *   bar0..bar5    BAR n's region, its file size the region size; BARs of
 *                 a page or more are mmapped, smaller ones use pread/pwrite
 *   rom           the expansion ROM region (present or not, it stays off)
 *   irq-log       appended by the back end: one line per set_irqs, INTx
 *                 unmask and reset ("msix 4", "msix 0", "unmask", "reset")
 *   trigger       optional FIFO: each byte v written to it signals vector
 *                 v of the interrupt the device has on (as the host kernel
 *                 would signal the eventfd), so the VMM's forwarding runs
 *
 * Interrupt counts come from the configuration space, as a real function's
 * do: INTx if the interrupt pin is set, MSI and MSI-X from their capabilities.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib-unix.h>

#include "hw/vfio/vfio-backend.h"
#include "util/strutil.h"

#define FAKE_PAGE 4096

typedef struct VfioFake {
    VfioBackend be;
    Machine *m;
    char *dir;
    int fd[VFIO_REGION_COUNT];
    void *map[VFIO_REGION_COUNT];
    int trigger_fd;
    GSource *trigger_src;
    unsigned on_index;           /* the interrupt set_irqs last turned on */
    unsigned on_count;
    int on_fds[2048];            /* borrowed from the device */
} VfioFake;

static VfioFake *fake(VfioBackend *b)
{
    return (VfioFake *)b;
}

static void fake_log(VfioFake *f, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void fake_log(VfioFake *f, const char *fmt, ...)
{
    g_autofree char *path = g_build_filename(f->dir, "irq-log", NULL);
    g_autofree char *line = NULL;
    va_list ap;
    FILE *fp = fopen(path, "a");

    if (!fp) {
        return;
    }
    va_start(ap, fmt);
    line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(fp, "%s\n", line);
    fclose(fp);
}

static ssize_t fake_read(VfioBackend *b, unsigned index, uint64_t off, void *buf, size_t len)
{
    VfioFake *f = fake(b);

    if (index >= VFIO_REGION_COUNT || f->fd[index] < 0) {
        errno = EINVAL;
        return -1;
    }
    return pread(f->fd[index], buf, len, (off_t)off);
}

static ssize_t fake_write(VfioBackend *b, unsigned index, uint64_t off, const void *buf,
                          size_t len)
{
    VfioFake *f = fake(b);

    if (index >= VFIO_REGION_COUNT || f->fd[index] < 0 || off + len > b->regions[index].size) {
        errno = EINVAL;
        return -1;
    }
    return pwrite(f->fd[index], buf, len, (off_t)off);
}

static void *fake_mmap(VfioBackend *b, unsigned index)
{
    return index < VFIO_REGION_COUNT ? fake(b)->map[index] : NULL;
}

static const char *irq_name(unsigned index)
{
    return index == VFIO_IRQ_INTX ? "intx" : index == VFIO_IRQ_MSI ? "msi" : "msix";
}

static bool fake_set_irqs(VfioBackend *b, unsigned index, unsigned count, const int *fds,
                          GError **err)
{
    VfioFake *f = fake(b);

    if (index > VFIO_IRQ_MSIX || count > b->irq_count[index] ||
        count > G_N_ELEMENTS(f->on_fds)) {
        set_error(err, "vfio-pci: %u %s vectors are more than the device has", count,
                  irq_name(index));
        return false;
    }
    fake_log(f, "%s %u", irq_name(index), count);
    if (count) {
        f->on_index = index;
        memcpy(f->on_fds, fds, count * sizeof(int));
    } else if (f->on_index != index) {
        return true;
    }
    f->on_count = count;
    return true;
}

static void fake_unmask_intx(VfioBackend *b)
{
    fake_log(fake(b), "unmask");
}

static void fake_reset(VfioBackend *b)
{
    fake_log(fake(b), "reset");
}

/* A byte from the FIFO: signal that vector's eventfd, as the host kernel would. */
static gboolean trigger_ready(gint fd, GIOCondition cond, gpointer opaque)
{
    VfioFake *f = opaque;
    uint8_t v[64];
    ssize_t n = read(fd, v, sizeof(v));

    (void)cond;
    for (ssize_t i = 0; i < n; i++) {
        uint64_t one = 1;
        if (v[i] < f->on_count && write(f->on_fds[v[i]], &one, sizeof(one)) < 0) {
            break;
        }
    }
    return G_SOURCE_CONTINUE;
}

static void fake_free(VfioBackend *b)
{
    VfioFake *f = fake(b);

    if (f->trigger_src) {
        g_source_destroy(f->trigger_src);
        g_source_unref(f->trigger_src);
    }
    if (f->trigger_fd >= 0) {
        close(f->trigger_fd);
    }
    for (unsigned i = 0; i < VFIO_REGION_COUNT; i++) {
        if (f->map[i]) {
            munmap(f->map[i], b->regions[i].size);
        }
        if (f->fd[i] >= 0) {
            close(f->fd[i]);
        }
    }
    g_free(f->dir);
    g_free(f);
}

static const VfioBackendOps fake_ops = {
    .read = fake_read,
    .write = fake_write,
    .mmap = fake_mmap,
    .set_irqs = fake_set_irqs,
    .unmask_intx = fake_unmask_intx,
    .reset = fake_reset,
    .free = fake_free,
};

static bool open_region(VfioFake *f, unsigned index, const char *name, GError **err)
{
    g_autofree char *path = g_build_filename(f->dir, name, NULL);
    VfioRegion *r = &f->be.regions[index];
    struct stat st;
    int fd = open(path, O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOENT && index != VFIO_REGION_CONFIG) {
            return true;          /* no such region */
        }
        set_error_errno(err, errno, "vfio-pci: x-fake-dir: cannot open '%s'", path);
        return false;
    }
    f->fd[index] = fd;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        set_error(err, "vfio-pci: x-fake-dir: '%s' is not a regular file", path);
        return false;
    }
    r->size = (uint64_t)st.st_size;
    r->flags = VFIO_REGION_CAN_READ | VFIO_REGION_CAN_WRITE;
    if (index < VFIO_REGION_ROM && r->size >= FAKE_PAGE && !(r->size % FAKE_PAGE)) {
        void *p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            f->map[index] = p;
            r->flags |= VFIO_REGION_CAN_MMAP;
        }
    }
    return true;
}

/* What the configuration space says the function has: INTx, MSI and MSI-X vectors. */
static void count_irqs(VfioFake *f)
{
    uint8_t c[256] = { 0 };
    unsigned hops = 0;

    if (pread(f->fd[VFIO_REGION_CONFIG], c, sizeof(c), 0) < 0x40) {
        return;
    }
    f->be.irq_count[VFIO_IRQ_INTX] = c[0x3d] ? 1 : 0;
    for (uint8_t p = c[0x34] & 0xfc; p >= 0x40 && hops++ < 48; p = c[p + 1] & 0xfc) {
        uint16_t ctrl = (uint16_t)(c[p + 2] | c[p + 3] << 8);
        if (c[p] == 0x05) {
            f->be.irq_count[VFIO_IRQ_MSI] = 1u << ((ctrl >> 1) & 7);
        } else if (c[p] == 0x11) {
            f->be.irq_count[VFIO_IRQ_MSIX] = (ctrl & 0x7ff) + 1u;
        }
    }
}

static bool open_trigger(VfioFake *f, GError **err)
{
    g_autofree char *path = g_build_filename(f->dir, "trigger", NULL);

    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        return true;
    }
    /* O_RDWR: the FIFO never reports end-of-file while the test reopens it. */
    f->trigger_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (f->trigger_fd < 0) {
        set_error_errno(err, errno, "vfio-pci: x-fake-dir: cannot open '%s'", path);
        return false;
    }
    f->trigger_src = g_unix_fd_source_new(f->trigger_fd, G_IO_IN);
    g_source_set_callback(f->trigger_src, G_SOURCE_FUNC(trigger_ready), f, NULL);
    g_source_attach(f->trigger_src, f->m->ctx);
    return true;
}

VfioBackend *vfio_fake_open(Machine *m, const char *dir, GError **err)
{
    static const char *const names[VFIO_REGION_COUNT] = {
        "bar0", "bar1", "bar2", "bar3", "bar4", "bar5", "rom", "config",
    };
    VfioFake *f = g_new0(VfioFake, 1);

    f->be.ops = &fake_ops;
    f->m = m;
    f->dir = g_strdup(dir);
    f->trigger_fd = -1;
    for (unsigned i = 0; i < VFIO_REGION_COUNT; i++) {
        f->fd[i] = -1;
    }
    for (unsigned i = 0; i < VFIO_REGION_COUNT; i++) {
        if (!open_region(f, i, names[i], err)) {
            fake_free(&f->be);
            return NULL;
        }
    }
    count_irqs(f);
    if (!open_trigger(f, err)) {
        fake_free(&f->be);
        return NULL;
    }
    return &f->be;
}
