/*
 * The seccomp allow-lists (docs/security.md): classic BPF filters, written by
 * hand so that no library is needed. One process-wide filter (the union of
 * every thread kind's calls) is installed on every thread once the machine is
 * built and before the guest runs; threads Stratus creates itself (vCPUs,
 * block I/O workers) then stack a narrower filter of their own kind.
 *
 * Which optional call groups are allowed (SeccompNeeds: calls, or ioctl
 * requests) is declared by the accelerator, devices and back ends of the
 * configuration; this file knows none of them.
 */
#ifndef STRATUS_OS_SECCOMP_H
#define STRATUS_OS_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>

#include <glib.h>

/*
 * Sanitizer runtimes make calls of their own once the filter is on. GCC
 * says -fsanitize=address with a macro, clang with __has_feature; deciding
 * here also covers builds outside meson (scripts/fuzz.sh), and the unit
 * test sees the same answer as seccomp.c.
 */
#if defined(__SANITIZE_ADDRESS__)
#define STRATUS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRATUS_SANITIZED 1
#endif
#endif

typedef enum {
    SECCOMP_LIST_OFF,       /* -sandbox off, -disable-seccomp */
    SECCOMP_LIST_KILL,      /* -sandbox on (the default): a call outside the list kills */
    SECCOMP_LIST_TRAP,      /* -sandbox on,debug=on: log the call's name, fail it ENOSYS */
} SeccompMode;

/* Thread kinds, each with its own list. */
typedef enum {
    SECCOMP_THREAD_ALL,     /* the process-wide union: main loop, GLib's helper threads */
    SECCOMP_THREAD_VCPU,    /* vCPU threads (also run device emulation) */
    SECCOMP_THREAD_IO,      /* block I/O worker threads */
} SeccompThread;

/* Optional call groups, allowed only when the configuration uses them. */
typedef enum {
    SECCOMP_NEED_IO_URING = 1u << 0,    /* aio=io_uring: io_uring_setup/enter/register */
    SECCOMP_NEED_BALLOON = 1u << 1,     /* virtio-balloon: madvise(MADV_REMOVE) */
    SECCOMP_NEED_KVM = 1u << 2,         /* -accel kvm: ioctl(KVM_RUN...) */
    SECCOMP_NEED_TAP = 1u << 3,         /* a tap netdev, or netdev_add: ioctl(TUNSETIFF...) */
    SECCOMP_NEED_VHOST = 1u << 4,       /* vhost-vsock-device, vhost-net: ioctl(VHOST_...) */
    SECCOMP_NEED_CAMERA = 1u << 5,      /* -cameradev, cameradev_add: ioctl(VIDIOC_...) */
    SECCOMP_NEED_VFIO = 1u << 6,        /* vfio-pci: ioctl(VFIO_DEVICE_SET_IRQS, _RESET) */
} SeccompNeeds;

/* What the machine installed; lives in the machine object. */
typedef struct SeccompPolicy {
    SeccompMode mode;
    unsigned needs;         /* SeccompNeeds bits allowed at start-up */
} SeccompPolicy;

/* The names of the calls a list allows, sorted as in the table, for docs and tests. */
GPtrArray *seccomp_list_names(SeccompThread kind, unsigned needs);
/*
 * Whether the list lets call nr through; arg1 (ioctl's request) and arg2
 * (madvise's advice) are checked only for those calls.
 */
bool seccomp_list_allows(SeccompThread kind, unsigned needs, long nr, unsigned long arg1,
                         unsigned long arg2);

/* The BPF program of one list (struct sock_filter elements). */
GArray *seccomp_filter_build(SeccompThread kind, unsigned needs, SeccompMode mode);

/* The name of system call nr ("unknown" when unknown); a static string. */
const char *seccomp_syscall_name(long nr);

/*
 * Sets PR_SET_NO_NEW_PRIVS and installs the union filter on every thread
 * (SECCOMP_FILTER_FLAG_TSYNC). Nothing to do for SECCOMP_LIST_OFF.
 */
bool seccomp_install(const SeccompPolicy *p, GError **err);

/*
 * Stacks kind's narrower filter on the calling thread only, once per thread
 * (later calls return true at once). Nothing to do when p is NULL or off.
 */
bool seccomp_narrow_thread(const SeccompPolicy *p, SeccompThread kind, GError **err);

/*
 * For hot-plug: true when everything in needs was allowed at start-up, else a
 * QMP-ready error naming what (what: e.g. "aio=io_uring") and the calls.
 */
bool seccomp_policy_check(const SeccompPolicy *p, unsigned needs, const char *what,
                          GError **err);

/*
 * The test hook (STRATUS_SECCOMP_SELFTEST=1): makes one call outside the list,
 * getpriority(), harmless when no filter is installed.
 */
void seccomp_selftest(void);

#endif
