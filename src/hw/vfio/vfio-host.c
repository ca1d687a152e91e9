/*
 * The Linux VFIO back end (vfio-backend.h; Documentation/driver-api/vfio.rst):
 * a type-1 IOMMU container with all of guest RAM mapped for DMA at its
 * guest-physical addresses, the function's group attached to it, and the
 * device fd whose regions and interrupts vfio-pci.c drives.
 *
 * Every step that can fail on a host without VFIO says which piece is
 * missing, in the order a user would fix them: the host device in sysfs,
 * its iommu_group link (no IOMMU, or IOMMU off), /dev/vfio/N (the device is
 * not bound to vfio-pci), /dev/vfio/vfio (the module is not loaded).
 *
 * Verified here: the sysfs and /dev/vfio error paths (tests/functional/
 * test_vfio.py). Not verified: everything after opening the group, as no
 * host this was written on has /dev/vfio (docs/vfio.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "hw/vfio/vfio-backend.h"
#include "util/strutil.h"

typedef struct VfioHost {
    VfioBackend be;
    int container, group, device;
    uint32_t device_flags;
    uint64_t offset[VFIO_REGION_COUNT];   /* each region's offset in the device fd */
    void *map[VFIO_REGION_COUNT];
} VfioHost;

static VfioHost *host(VfioBackend *b)
{
    return (VfioHost *)b;
}

/* One hex field of 1..max digits, at most `limit`. */
static bool hex_field(const char *s, size_t len, unsigned max_digits, unsigned limit,
                      unsigned *out)
{
    unsigned v = 0;

    if (!len || len > max_digits) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!g_ascii_isxdigit(s[i])) {
            return false;
        }
        v = v * 16 + (unsigned)g_ascii_xdigit_value(s[i]);
    }
    *out = v;
    return v <= limit;
}

char *vfio_parse_host_address(const char *s)
{
    g_auto(GStrv) parts = NULL;
    unsigned dom = 0, bus, slot, fn, n;
    const char *dot;

    if (!s) {
        return NULL;
    }
    parts = g_strsplit(s, ":", 4);
    n = g_strv_length(parts);
    if (n < 2 || n > 3 || (n == 3 && !hex_field(parts[0], strlen(parts[0]), 4, 0xffff, &dom))) {
        return NULL;
    }
    dot = strchr(parts[n - 1], '.');
    if (!hex_field(parts[n - 2], strlen(parts[n - 2]), 2, 0xff, &bus) || !dot ||
        !hex_field(parts[n - 1], (size_t)(dot - parts[n - 1]), 2, 31, &slot) ||
        !hex_field(dot + 1, strlen(dot + 1), 1, 7, &fn)) {
        return NULL;
    }
    return g_strdup_printf("%04x:%02x:%02x.%x", dom, bus, slot, fn);
}

static ssize_t host_read(VfioBackend *b, unsigned index, uint64_t off, void *buf, size_t len)
{
    return pread(host(b)->device, buf, len, (off_t)(host(b)->offset[index] + off));
}

static ssize_t host_write(VfioBackend *b, unsigned index, uint64_t off, const void *buf,
                          size_t len)
{
    return pwrite(host(b)->device, buf, len, (off_t)(host(b)->offset[index] + off));
}

static void *host_mmap(VfioBackend *b, unsigned index)
{
    return index < VFIO_REGION_COUNT ? host(b)->map[index] : NULL;
}

static bool host_set_irqs(VfioBackend *b, unsigned index, unsigned count, const int *fds,
                          GError **err)
{
    size_t sz = sizeof(struct vfio_irq_set) + count * sizeof(int32_t);
    g_autofree struct vfio_irq_set *set = g_malloc0(sz);

    set->argsz = (uint32_t)sz;
    set->flags = VFIO_IRQ_SET_ACTION_TRIGGER |
                 (count ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
    set->index = index;
    set->count = count;
    for (unsigned i = 0; i < count; i++) {
        ((int32_t *)set->data)[i] = fds[i];
    }
    if (ioctl(host(b)->device, VFIO_DEVICE_SET_IRQS, set) < 0) {
        set_error_errno(err, errno, "vfio-pci: VFIO_DEVICE_SET_IRQS (index %u, %u vectors)",
                        index, count);
        return false;
    }
    return true;
}

static void host_unmask_intx(VfioBackend *b)
{
    struct vfio_irq_set set = {
        .argsz = sizeof(set),
        .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
        .index = VFIO_PCI_INTX_IRQ_INDEX,
        .start = 0,
        .count = 1,
    };

    ioctl(host(b)->device, VFIO_DEVICE_SET_IRQS, &set);
}

static void host_reset(VfioBackend *b)
{
    if (host(b)->device_flags & VFIO_DEVICE_FLAGS_RESET) {
        ioctl(host(b)->device, VFIO_DEVICE_RESET);
    }
}

static void host_free(VfioBackend *b)
{
    VfioHost *h = host(b);

    for (unsigned i = 0; i < VFIO_REGION_COUNT; i++) {
        if (h->map[i]) {
            munmap(h->map[i], b->regions[i].size);
        }
    }
    /* Closing the group detaches it; closing the container drops the DMA maps. */
    if (h->device >= 0) {
        close(h->device);
    }
    if (h->group >= 0) {
        close(h->group);
    }
    if (h->container >= 0) {
        close(h->container);
    }
    g_free(h);
}

static const VfioBackendOps host_ops = {
    .read = host_read,
    .write = host_write,
    .mmap = host_mmap,
    .set_irqs = host_set_irqs,
    .unmask_intx = host_unmask_intx,
    .reset = host_reset,
    .free = host_free,
};

/* The sysfs directory of the function and the number of its IOMMU group. */
static bool find_group(const char *host_addr, const char *sysfsdev, char **dev_name,
                       char **group_id, GError **err)
{
    g_autofree char *dir = NULL, *link = NULL, *target = NULL;
    g_autoptr(GError) e = NULL;

    if (sysfsdev) {
        dir = g_strdup(sysfsdev);
    } else {
        dir = g_strdup_printf("/sys/bus/pci/devices/%s", host_addr);
    }
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        set_error(err, "vfio-pci: host device %s not found (no %s)",
                  sysfsdev ? sysfsdev : host_addr, dir);
        return false;
    }
    link = g_build_filename(dir, "iommu_group", NULL);
    target = g_file_read_link(link, &e);
    if (!target) {
        set_error(err, "vfio-pci: host device %s has no iommu_group (%s missing: "
                  "is an IOMMU enabled?)", sysfsdev ? sysfsdev : host_addr, link);
        return false;
    }
    *group_id = g_path_get_basename(target);
    *dev_name = g_path_get_basename(dir);
    return true;
}

static bool open_container(VfioHost *h, const char *group_id, const char *group_path,
                           GError **err)
{
    struct vfio_group_status st = { .argsz = sizeof(st) };
    int type;

    h->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    if (h->container < 0) {
        set_error_errno(err, errno, "vfio-pci: /dev/vfio/vfio (the VFIO container)");
        return false;
    }
    if (ioctl(h->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
        set_error(err, "vfio-pci: /dev/vfio/vfio speaks an unknown VFIO API version");
        return false;
    }
    type = ioctl(h->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ? VFIO_TYPE1v2_IOMMU
         : ioctl(h->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0 ? VFIO_TYPE1_IOMMU
         : -1;
    if (type < 0) {
        set_error(err, "vfio-pci: the host's VFIO has no type-1 IOMMU");
        return false;
    }
    if (ioctl(h->group, VFIO_GROUP_GET_STATUS, &st) < 0 ||
        !(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
        set_error(err, "vfio-pci: IOMMU group %s (%s) is not viable: bind every device in "
                  "it to vfio-pci", group_id, group_path);
        return false;
    }
    if (ioctl(h->group, VFIO_GROUP_SET_CONTAINER, &h->container) < 0 ||
        ioctl(h->container, VFIO_SET_IOMMU, type) < 0) {
        set_error_errno(err, errno, "vfio-pci: attaching IOMMU group %s to a container",
                        group_id);
        return false;
    }
    return true;
}

/* All of guest RAM, IOVA = guest-physical address, so the device DMAs as the guest asks. */
static bool map_ram(VfioHost *h, Machine *m, GError **err)
{
    for (guint i = 0; m->ram.blocks && i < m->ram.blocks->len; i++) {
        RamBlock *rb = &g_array_index(m->ram.blocks, RamBlock, i);
        struct vfio_iommu_type1_dma_map map = {
            .argsz = sizeof(map),
            .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
            .vaddr = (uint64_t)(uintptr_t)rb->hva,
            .iova = rb->gpa,
            .size = rb->size,
        };
        if (ioctl(h->container, VFIO_IOMMU_MAP_DMA, &map) < 0) {
            set_error_errno(err, errno, "vfio-pci: mapping guest RAM at 0x%llx for DMA",
                            (unsigned long long)rb->gpa);
            return false;
        }
    }
    return true;
}

static bool query_device(VfioHost *h, GError **err)
{
    struct vfio_device_info info = { .argsz = sizeof(info) };

    if (ioctl(h->device, VFIO_DEVICE_GET_INFO, &info) < 0 ||
        !(info.flags & VFIO_DEVICE_FLAGS_PCI)) {
        set_error(err, "vfio-pci: the host device is not a PCI function");
        return false;
    }
    h->device_flags = info.flags;
    for (unsigned i = 0; i < VFIO_REGION_COUNT && i < info.num_regions; i++) {
        struct vfio_region_info r = { .argsz = sizeof(r), .index = i };
        if (ioctl(h->device, VFIO_DEVICE_GET_REGION_INFO, &r) < 0) {
            continue;
        }
        h->offset[i] = r.offset;
        h->be.regions[i].size = r.size;
        h->be.regions[i].flags = (r.flags & VFIO_REGION_INFO_FLAG_READ ? VFIO_REGION_CAN_READ : 0) |
                                 (r.flags & VFIO_REGION_INFO_FLAG_WRITE ? VFIO_REGION_CAN_WRITE : 0);
        if (i < VFIO_REGION_ROM && r.size && (r.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
            /* Refused where the MSI-X table may not be mapped: trapped accesses then. */
            void *p = mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, h->device,
                           (off_t)r.offset);
            if (p != MAP_FAILED) {
                h->map[i] = p;
                h->be.regions[i].flags |= VFIO_REGION_CAN_MMAP;
            }
        }
    }
    for (unsigned i = 0; i <= VFIO_IRQ_MSIX && i < info.num_irqs; i++) {
        struct vfio_irq_info irq = { .argsz = sizeof(irq), .index = i };
        if (ioctl(h->device, VFIO_DEVICE_GET_IRQ_INFO, &irq) == 0) {
            h->be.irq_count[i] = irq.count;
        }
    }
    return true;
}

VfioBackend *vfio_host_open(Machine *m, const char *host_addr, const char *sysfsdev,
                            GError **err)
{
    g_autofree char *dev_name = NULL, *group_id = NULL, *group_path = NULL;
    VfioHost *h;

    if (!find_group(host_addr, sysfsdev, &dev_name, &group_id, err)) {
        return NULL;
    }
    group_path = g_strdup_printf("/dev/vfio/%s", group_id);
    h = g_new0(VfioHost, 1);
    h->be.ops = &host_ops;
    h->container = h->device = -1;
    h->group = open(group_path, O_RDWR | O_CLOEXEC);
    if (h->group < 0) {
        set_error_errno(err, errno, "vfio-pci: IOMMU group %s of %s: %s", group_id, dev_name,
                        group_path);
        host_free(&h->be);
        return NULL;
    }
    if (!open_container(h, group_id, group_path, err) || !map_ram(h, m, err)) {
        host_free(&h->be);
        return NULL;
    }
    h->device = ioctl(h->group, VFIO_GROUP_GET_DEVICE_FD, dev_name);
    if (h->device < 0) {
        set_error_errno(err, errno, "vfio-pci: getting %s from IOMMU group %s", dev_name,
                        group_id);
        host_free(&h->be);
        return NULL;
    }
    if (!query_device(h, err)) {
        host_free(&h->be);
        return NULL;
    }
    return &h->be;
}
