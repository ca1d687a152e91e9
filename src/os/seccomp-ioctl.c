/*
 * ioctl's allowed requests per thread kind (docs/security.md "ioctl
 * requests"). The kernel takes the request as an unsigned int while glibc
 * passes an unsigned long: the filter compares the low 32 bits of args[1]
 * with each request and wants the high 32 bits zero (every request macro is
 * an unsigned int, so glibc zero-extends it; a sign-extended value is
 * refused rather than guessed at).
 *
 * Only what runs once the filter is on is listed: KVM_CREATE_VM, KVM_CREATE_VCPU,
 * KVM_SET_CPUID2, KVM_CHECK_EXTENSION and the other set-up requests, and
 * VHOST_VSOCK_SET_GUEST_CID (vhost-vsock-device is not hot-pluggable) are
 * made before it; VHOST_SET_OWNER/VHOST_GET_FEATURES are listed because
 * netdev_add can claim a vhost-net descriptor at any time.
 * scripts/check-ioctl-lists.py (unit suite) holds this table and the
 * requests the code makes to each other.
 */
#include <stddef.h>
#include <sys/ioctl.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/vhost.h>
#include <linux/videodev2.h>
#include <linux/vfio.h>
#include <sys/syscall.h>

#include "os/seccomp-internal.h"

typedef struct {
    unsigned req;
    const char *name;
    unsigned kinds;         /* the narrower lists that have it too */
    unsigned need;          /* 0: always; else the SeccompNeeds bit that enables it */
} AllowedIoctl;

#define R(req, kinds, need) { (req), #req, (kinds), (need) }

/* Hot first: a vCPU's list starts with KVM_RUN, made at every exit to user space. */
static const AllowedIoctl requests[] = {
    /* -accel kvm: a vCPU runs, reports a fatal exit, and emulates devices */
    R(KVM_RUN, K_VCPU, SECCOMP_NEED_KVM),
    R(KVM_IRQ_LINE, K_VCPU, SECCOMP_NEED_KVM),      /* device interrupts */
    R(KVM_IRQFD, K_VCPU, SECCOMP_NEED_KVM),         /* virtio DRIVER_OK, reset */
    R(KVM_IOEVENTFD, K_VCPU, SECCOMP_NEED_KVM),
    R(KVM_SET_GSI_ROUTING, K_VCPU, SECCOMP_NEED_KVM),   /* virtio-pci MSI-X table writes */
    R(KVM_GET_REGS, K_VCPU, SECCOMP_NEED_KVM),      /* the fatal-exit register dump */
    R(KVM_GET_SREGS, K_VCPU, SECCOMP_NEED_KVM),
    /* the main loop: system_reset, snapshots and migration with the vCPUs paused */
    R(KVM_SET_REGS, 0, SECCOMP_NEED_KVM),
    R(KVM_SET_SREGS, 0, SECCOMP_NEED_KVM),
    R(KVM_GET_MSRS, 0, SECCOMP_NEED_KVM),
    R(KVM_SET_MSRS, 0, SECCOMP_NEED_KVM),
    R(KVM_GET_FPU, 0, SECCOMP_NEED_KVM),
    R(KVM_SET_FPU, 0, SECCOMP_NEED_KVM),
    R(KVM_GET_XSAVE, 0, SECCOMP_NEED_KVM),
    R(KVM_SET_XSAVE, 0, SECCOMP_NEED_KVM),
    R(KVM_GET_XCRS, 0, SECCOMP_NEED_KVM),
    R(KVM_SET_XCRS, 0, SECCOMP_NEED_KVM),
    R(KVM_GET_LAPIC, 0, SECCOMP_NEED_KVM),
    R(KVM_SET_LAPIC, 0, SECCOMP_NEED_KVM),
    R(KVM_GET_MP_STATE, 0, SECCOMP_NEED_KVM),
    R(KVM_SET_MP_STATE, 0, SECCOMP_NEED_KVM),
    R(KVM_GET_VCPU_EVENTS, 0, SECCOMP_NEED_KVM),
    R(KVM_SET_VCPU_EVENTS, 0, SECCOMP_NEED_KVM),
    R(KVM_GET_DEBUGREGS, 0, SECCOMP_NEED_KVM),
    R(KVM_SET_DEBUGREGS, 0, SECCOMP_NEED_KVM),
    R(KVM_GET_IRQCHIP, 0, SECCOMP_NEED_KVM),
    R(KVM_SET_IRQCHIP, 0, SECCOMP_NEED_KVM),
    R(KVM_GET_PIT2, 0, SECCOMP_NEED_KVM),
    R(KVM_SET_PIT2, 0, SECCOMP_NEED_KVM),
    R(KVM_GET_CLOCK, 0, SECCOMP_NEED_KVM),
    R(KVM_SET_CLOCK, 0, SECCOMP_NEED_KVM),
    R(KVM_GET_DIRTY_LOG, 0, SECCOMP_NEED_KVM),
    R(KVM_SET_USER_MEMORY_REGION, 0, SECCOMP_NEED_KVM),    /* dirty logging on/off */
    R(KVM_SIGNAL_MSI, 0, SECCOMP_NEED_KVM),                /* inject-nmi */
    /* isatty(): stdio's first write to a FILE on a character device (-D /dev/...) */
    R(TCGETS, K_VCPU | K_IO, 0),
    /* chardev-add pty/stdio (openpty, raw mode); stdio's terminal restored at exit */
    R(TCSETS, 0, 0),
    R(TCSETSF, 0, 0),
    R(TIOCGPTN, 0, 0),
    R(TIOCSPTLCK, 0, 0),
    R(TIOCGPTPEER, 0, 0),
    /* blockdev-add of a host block device: its size and logical block size */
    R(BLKGETSIZE64, 0, 0),
    R(BLKSSZGET, 0, 0),
    /* taps: netdev_add (main loop); offloads follow a NIC's feature negotiation (vCPU) */
    R(TUNSETOFFLOAD, K_VCPU, SECCOMP_NEED_TAP),
    R(TUNSETIFF, 0, SECCOMP_NEED_TAP),
    R(TUNGETIFF, 0, SECCOMP_NEED_TAP),
    R(TUNSETVNETHDRSZ, 0, SECCOMP_NEED_TAP),
    /* a multiqueue tap: the queue pairs a NIC's driver uses (VQ_PAIRS_SET, reset: vCPU) */
    R(TUNSETQUEUE, K_VCPU, SECCOMP_NEED_TAP),
    /*
     * vhost-vsock-device, and a vhost=on netdev (claimed at netdev_add: main loop):
     * DRIVER_OK and reset (vCPU), system_reset and teardown
     */
    R(VHOST_SET_OWNER, 0, SECCOMP_NEED_VHOST),
    R(VHOST_GET_FEATURES, 0, SECCOMP_NEED_VHOST),
    R(VHOST_NET_SET_BACKEND, K_VCPU, SECCOMP_NEED_VHOST),
    R(VHOST_GET_VRING_BASE, K_VCPU, SECCOMP_NEED_VHOST),
    R(VHOST_SET_FEATURES, K_VCPU, SECCOMP_NEED_VHOST),
    R(VHOST_SET_MEM_TABLE, K_VCPU, SECCOMP_NEED_VHOST),
    R(VHOST_SET_VRING_NUM, K_VCPU, SECCOMP_NEED_VHOST),
    R(VHOST_SET_VRING_BASE, K_VCPU, SECCOMP_NEED_VHOST),
    R(VHOST_SET_VRING_ADDR, K_VCPU, SECCOMP_NEED_VHOST),
    R(VHOST_SET_VRING_KICK, K_VCPU, SECCOMP_NEED_VHOST),
    R(VHOST_SET_VRING_CALL, K_VCPU, SECCOMP_NEED_VHOST),
    R(VHOST_VSOCK_SET_RUNNING, K_VCPU, SECCOMP_NEED_VHOST),
    /*
     * camera back ends (backends/camera-v4l2.c), main loop only: cameradev_add
     * probes a v4l2 node (QUERYCAP, ENUM_*); a stream maps and cycles buffers
     */
    R(VIDIOC_QUERYCAP, 0, SECCOMP_NEED_CAMERA),
    R(VIDIOC_ENUM_FMT, 0, SECCOMP_NEED_CAMERA),
    R(VIDIOC_ENUM_FRAMESIZES, 0, SECCOMP_NEED_CAMERA),
    R(VIDIOC_ENUM_FRAMEINTERVALS, 0, SECCOMP_NEED_CAMERA),
    R(VIDIOC_S_FMT, 0, SECCOMP_NEED_CAMERA),
    R(VIDIOC_REQBUFS, 0, SECCOMP_NEED_CAMERA),
    R(VIDIOC_QUERYBUF, 0, SECCOMP_NEED_CAMERA),
    R(VIDIOC_QBUF, 0, SECCOMP_NEED_CAMERA),
    R(VIDIOC_DQBUF, 0, SECCOMP_NEED_CAMERA),
    R(VIDIOC_STREAMON, 0, SECCOMP_NEED_CAMERA),
    R(VIDIOC_STREAMOFF, 0, SECCOMP_NEED_CAMERA),
    /* vfio-pci: MSI/MSI-X enabled by a config write (vCPU), INTx unmask on a BAR access, FLR */
    R(VFIO_DEVICE_SET_IRQS, K_VCPU, SECCOMP_NEED_VFIO),
    R(VFIO_DEVICE_RESET, 0, SECCOMP_NEED_VFIO),
    /* vfio-pci's realize, which device_add runs on the main loop (hw/vfio/vfio-host.c) */
    R(VFIO_GET_API_VERSION, 0, SECCOMP_NEED_VFIO),
    R(VFIO_CHECK_EXTENSION, 0, SECCOMP_NEED_VFIO),
    R(VFIO_GROUP_GET_STATUS, 0, SECCOMP_NEED_VFIO),
    R(VFIO_GROUP_SET_CONTAINER, 0, SECCOMP_NEED_VFIO),
    R(VFIO_SET_IOMMU, 0, SECCOMP_NEED_VFIO),
    R(VFIO_IOMMU_MAP_DMA, 0, SECCOMP_NEED_VFIO),
    R(VFIO_GROUP_GET_DEVICE_FD, 0, SECCOMP_NEED_VFIO),
    R(VFIO_DEVICE_GET_INFO, 0, SECCOMP_NEED_VFIO),
    R(VFIO_DEVICE_GET_REGION_INFO, 0, SECCOMP_NEED_VFIO),
    R(VFIO_DEVICE_GET_IRQ_INFO, 0, SECCOMP_NEED_VFIO),
};

static bool req_in_list(const AllowedIoctl *r, SeccompThread kind, unsigned needs)
{
    return seccomp_in_list(r->kinds, r->need, kind, needs);
}

bool seccomp_ioctl_allows(SeccompThread kind, unsigned needs, unsigned long req)
{
    if (req >> 32) {
        return false;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(requests); i++) {
        if (requests[i].req == (unsigned)req && req_in_list(&requests[i], kind, needs)) {
            return true;
        }
    }
    return false;
}

const char *seccomp_ioctl_name(unsigned long req)
{
    for (size_t i = 0; i < G_N_ELEMENTS(requests); i++) {
        if (requests[i].req == req) {
            return requests[i].name;
        }
    }
    return NULL;
}

void seccomp_ioctl_names(GPtrArray *names, SeccompThread kind, unsigned needs)
{
    g_autoptr(GString) s = g_string_new("ioctl(");

    for (size_t i = 0; i < G_N_ELEMENTS(requests); i++) {
        if (req_in_list(&requests[i], kind, needs)) {
            g_string_append_printf(s, "%s%s", s->len > 6 ? "|" : "", requests[i].name);
        }
    }
    g_string_append_c(s, ')');
    g_ptr_array_add(names, g_string_free(g_steal_pointer(&s), FALSE));
}

void seccomp_ioctl_need_names(GString *s, unsigned need)
{
    const char *sep = "ioctl(";

    for (size_t i = 0; i < G_N_ELEMENTS(requests); i++) {
        if (requests[i].need == need) {
            g_string_append_printf(s, "%s%s", sep, requests[i].name);
            sep = "|";
        }
    }
    g_string_append_c(s, ')');
}

/*
 * "JEQ ioctl, 1, 0; JA over": BPF_JA's 32-bit offset skips a block of any
 * length, where a conditional jump reaches 255 instructions only. Inside,
 * "JEQ req; RET ALLOW" pairs as for call numbers. x86-64 is little-endian:
 * args[1]'s low word is at its offset, the high word 4 bytes on.
 */
void seccomp_ioctl_emit(GArray *prog, SeccompThread kind, unsigned needs, unsigned deny)
{
    guint ja;

    emit(prog, JEQ(__NR_ioctl, 1, 0));
    ja = prog->len;
    emit(prog, STMT(BPF_JMP | BPF_JA, 0));
    emit(prog, STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]) + 4));
    emit(prog, JEQ(0, 1, 0));
    emit(prog, STMT(BPF_RET | BPF_K, deny));
    emit(prog, STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])));
    for (size_t i = 0; i < G_N_ELEMENTS(requests); i++) {
        if (req_in_list(&requests[i], kind, needs)) {
            emit(prog, JEQ(requests[i].req, 0, 1));
            emit(prog, STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
        }
    }
    emit(prog, STMT(BPF_RET | BPF_K, deny));
    g_array_index(prog, struct sock_filter, ja).k = prog->len - ja - 1;
}
