/*
 * Unit tests for src/os/seccomp.c: which calls each thread kind's list has,
 * the widening by SeccompNeeds, ioctl's request lists, the BPF program
 * agreeing with the list (run through a small interpreter of the instructions
 * the builder emits), the hot-plug error text, and in child processes: a
 * narrowed thread killed by a call the union allows, ioctl requests refused
 * (killed, or logged with the request in debug mode).
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/vhost.h>
#include <linux/videodev2.h>

#include <glib.h>

#include "os/seccomp.h"

#define ALL_NEEDS (SECCOMP_NEED_IO_URING | SECCOMP_NEED_BALLOON | SECCOMP_NEED_KVM | \
                   SECCOMP_NEED_TAP | SECCOMP_NEED_VHOST | SECCOMP_NEED_CAMERA)
#define MAX_NR 512
#define HIGH (1ul << 32)

/* Requests on some list and some on none; each also with a high word (refused). */
static const unsigned long reqs[] = {
    KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_IRQ_LINE, KVM_SET_USER_MEMORY_REGION,
    KVM_CREATE_VCPU, KVM_CREATE_VM, KVM_SET_CPUID2, KVM_CHECK_EXTENSION, TCGETS, TCSETS,
    TCSETSF, TIOCSTI, TIOCGPTPEER, BLKGETSIZE64, BLKSSZGET, BLKDISCARD, TUNSETIFF,
    TUNSETOFFLOAD, TUNSETVNETHDRSZ, TUNSETPERSIST, VHOST_SET_OWNER, VHOST_SET_MEM_TABLE,
    VHOST_VSOCK_SET_RUNNING, VIDIOC_QUERYCAP, VIDIOC_DQBUF, VIDIOC_G_FMT, 0, KVM_RUN | HIGH, TCGETS | HIGH, ~0ul,
};

/* Runs prog on (nr, arg1, arg2) as the kernel would: LD|W|ABS, JEQ|K, JA, RET|K. */
static unsigned run_bpf(const GArray *prog, int nr, unsigned long arg1, unsigned long arg2)
{
    struct seccomp_data d = { .nr = nr, .arch = AUDIT_ARCH_X86_64 };
    uint32_t acc = 0;

    d.args[1] = arg1;
    d.args[2] = arg2;
    for (guint pc = 0; pc < prog->len; pc++) {
        const struct sock_filter *f = &g_array_index(prog, struct sock_filter, pc);

        switch (f->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            g_assert_cmpuint(f->k + 4, <=, sizeof(d));
            memcpy(&acc, (const char *)&d + f->k, 4);
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
            pc += acc == f->k ? f->jt : f->jf;
            break;
        case BPF_JMP | BPF_JA:
            pc += f->k;
            break;
        case BPF_RET | BPF_K:
            return f->k;
        default:
            g_assert_not_reached();
        }
    }
    g_assert_not_reached();
}

static bool named(SeccompThread kind, unsigned needs, const char *name)
{
    g_autoptr(GPtrArray) names = seccomp_list_names(kind, needs);

    for (guint i = 0; i < names->len; i++) {
        if (!strcmp(g_ptr_array_index(names, i), name)) {
            return true;
        }
    }
    return false;
}

static void test_kinds(void)
{
    static const char *const main_only[] = {
        "openat", "socket", "connect", "bind", "accept4", "unlink", "mkdir", "rename",
        "memfd_create", "mkdirat",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(main_only); i++) {
        g_assert_true(named(SECCOMP_THREAD_ALL, 0, main_only[i]));
        g_assert_false(named(SECCOMP_THREAD_VCPU, ALL_NEEDS, main_only[i]));
        g_assert_false(named(SECCOMP_THREAD_IO, ALL_NEEDS, main_only[i]));
    }
    g_assert_true(named(SECCOMP_THREAD_VCPU, 0, "io_submit"));
    g_assert_true(named(SECCOMP_THREAD_VCPU, 0, "close"));
    g_assert_true(named(SECCOMP_THREAD_IO, 0, "pwritev"));
    g_assert_true(named(SECCOMP_THREAD_IO, 0, "fallocate"));
    g_assert_false(named(SECCOMP_THREAD_IO, 0, "close"));
    g_assert_false(named(SECCOMP_THREAD_IO, 0, "clone"));
    g_assert_false(named(SECCOMP_THREAD_IO, 0, "sendmsg"));
}

/* Every call of a narrower list is in the wider one: I/O ⊂ vCPU ⊂ union. */
static void test_nesting(void)
{
    for (unsigned needs = 0; needs <= ALL_NEEDS; needs++) {
        for (long nr = 0; nr < MAX_NR; nr++) {
            for (unsigned long a = 0; a < 32 + G_N_ELEMENTS(reqs); a++) {
                unsigned long r = a < 32 ? 0 : reqs[a - 32];

                if (seccomp_list_allows(SECCOMP_THREAD_IO, needs, nr, r, a)) {
                    g_assert_true(seccomp_list_allows(SECCOMP_THREAD_VCPU, needs, nr, r, a));
                }
                if (seccomp_list_allows(SECCOMP_THREAD_VCPU, needs, nr, r, a)) {
                    g_assert_true(seccomp_list_allows(SECCOMP_THREAD_ALL, needs, nr, r, a));
                }
            }
        }
    }
}

/* A call other than ioctl: arg2 is madvise's advice. */
static bool call_ok(SeccompThread kind, unsigned needs, long nr, unsigned long arg2)
{
    return seccomp_list_allows(kind, needs, nr, 0, arg2);
}

static bool ioctl_ok(SeccompThread kind, unsigned needs, unsigned long req)
{
    return seccomp_list_allows(kind, needs, __NR_ioctl, req, 0);
}

static void test_widening(void)
{
    for (int kind = SECCOMP_THREAD_ALL; kind <= SECCOMP_THREAD_VCPU; kind++) {
        g_assert_false(call_ok(kind, 0, __NR_io_uring_enter, 0));
        g_assert_true(call_ok(kind, SECCOMP_NEED_IO_URING, __NR_io_uring_enter, 0));
    }
    g_assert_false(call_ok(SECCOMP_THREAD_ALL, SECCOMP_NEED_BALLOON, __NR_io_uring_setup, 0));
    g_assert_true(call_ok(SECCOMP_THREAD_ALL, SECCOMP_NEED_IO_URING, __NR_io_uring_setup, 0));
    g_assert_false(call_ok(SECCOMP_THREAD_VCPU, SECCOMP_NEED_IO_URING, __NR_io_uring_setup, 0));
    /* libc's madvise is always there; the balloon's MADV_REMOVE only with it. */
    g_assert_true(call_ok(SECCOMP_THREAD_IO, 0, __NR_madvise, MADV_DONTNEED));
#ifndef STRATUS_SANITIZED
    g_assert_false(call_ok(SECCOMP_THREAD_ALL, 0, __NR_madvise, MADV_REMOVE));
    g_assert_false(call_ok(SECCOMP_THREAD_ALL, ALL_NEEDS, __NR_madvise, MADV_HWPOISON));
    g_assert_true(named(SECCOMP_THREAD_VCPU, SECCOMP_NEED_BALLOON,
                        "madvise(MADV_DONTNEED|MADV_REMOVE)"));
#endif
    g_assert_true(call_ok(SECCOMP_THREAD_VCPU, SECCOMP_NEED_BALLOON, __NR_madvise, MADV_REMOVE));
}

/* Each need widens ioctl on the thread kinds that make its requests, and only those. */
static void test_ioctl_lists(void)
{
    static const unsigned long vcpu_kvm[] = {
        KVM_RUN, KVM_IRQ_LINE, KVM_IRQFD, KVM_IOEVENTFD, KVM_GET_REGS, KVM_GET_SREGS,
        KVM_SET_GSI_ROUTING,
    };
    static const unsigned long main_kvm[] = {
        KVM_SET_REGS, KVM_SET_SREGS, KVM_GET_MSRS, KVM_SET_MSRS, KVM_GET_XSAVE, KVM_SET_LAPIC,
        KVM_GET_IRQCHIP, KVM_SET_PIT2, KVM_SET_CLOCK, KVM_GET_DIRTY_LOG,
        KVM_SET_USER_MEMORY_REGION, KVM_SIGNAL_MSI,
    };
    /* set-up only, before the filter: on no list */
    static const unsigned long never[] = {
        KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_SET_CPUID2, KVM_CHECK_EXTENSION,
        KVM_GET_API_VERSION, KVM_CREATE_IRQCHIP, VHOST_VSOCK_SET_GUEST_CID,
        TIOCSTI, TUNSETPERSIST, BLKDISCARD, 0,
    };
    const unsigned no_kvm = ALL_NEEDS & ~SECCOMP_NEED_KVM;

    for (size_t i = 0; i < G_N_ELEMENTS(vcpu_kvm); i++) {
        g_assert_true(ioctl_ok(SECCOMP_THREAD_VCPU, SECCOMP_NEED_KVM, vcpu_kvm[i]));
        g_assert_true(ioctl_ok(SECCOMP_THREAD_ALL, SECCOMP_NEED_KVM, vcpu_kvm[i]));
        g_assert_false(ioctl_ok(SECCOMP_THREAD_IO, ALL_NEEDS, vcpu_kvm[i]));
        g_assert_false(ioctl_ok(SECCOMP_THREAD_ALL, no_kvm, vcpu_kvm[i]));
        g_assert_false(ioctl_ok(SECCOMP_THREAD_VCPU, no_kvm, vcpu_kvm[i]));
    }
    for (size_t i = 0; i < G_N_ELEMENTS(main_kvm); i++) {
        g_assert_true(ioctl_ok(SECCOMP_THREAD_ALL, SECCOMP_NEED_KVM, main_kvm[i]));
        g_assert_false(ioctl_ok(SECCOMP_THREAD_ALL, no_kvm, main_kvm[i]));
        g_assert_false(ioctl_ok(SECCOMP_THREAD_VCPU, ALL_NEEDS, main_kvm[i]));
    }
    for (size_t i = 0; i < G_N_ELEMENTS(never); i++) {
        for (int kind = SECCOMP_THREAD_ALL; kind <= SECCOMP_THREAD_IO; kind++) {
            g_assert_false(ioctl_ok(kind, ALL_NEEDS, never[i]));
        }
    }
    /* vhost-net: claimed by netdev_add (main loop), its backend set at DRIVER_OK (vCPU) */
    g_assert_false(ioctl_ok(SECCOMP_THREAD_ALL, SECCOMP_NEED_TAP, VHOST_SET_OWNER));
    g_assert_true(ioctl_ok(SECCOMP_THREAD_ALL, SECCOMP_NEED_VHOST, VHOST_SET_OWNER));
    g_assert_false(ioctl_ok(SECCOMP_THREAD_VCPU, SECCOMP_NEED_VHOST, VHOST_SET_OWNER));
    g_assert_true(ioctl_ok(SECCOMP_THREAD_VCPU, SECCOMP_NEED_VHOST, VHOST_NET_SET_BACKEND));
    g_assert_true(ioctl_ok(SECCOMP_THREAD_VCPU, SECCOMP_NEED_TAP, TUNSETQUEUE));
    /* taps: attached by the main loop, offloads set on the vCPU that negotiates them */
    g_assert_false(ioctl_ok(SECCOMP_THREAD_ALL, 0, TUNSETIFF));
    g_assert_true(ioctl_ok(SECCOMP_THREAD_ALL, SECCOMP_NEED_TAP, TUNSETIFF));
    g_assert_true(ioctl_ok(SECCOMP_THREAD_ALL, SECCOMP_NEED_TAP, TUNGETIFF));
    g_assert_true(ioctl_ok(SECCOMP_THREAD_ALL, SECCOMP_NEED_TAP, TUNSETVNETHDRSZ));
    g_assert_false(ioctl_ok(SECCOMP_THREAD_VCPU, ALL_NEEDS, TUNSETIFF));
    g_assert_false(ioctl_ok(SECCOMP_THREAD_VCPU, 0, TUNSETOFFLOAD));
    g_assert_true(ioctl_ok(SECCOMP_THREAD_VCPU, SECCOMP_NEED_TAP, TUNSETOFFLOAD));
    /* vhost-vsock: DRIVER_OK on a vCPU */
    g_assert_false(ioctl_ok(SECCOMP_THREAD_VCPU, no_kvm & ~SECCOMP_NEED_VHOST,
                            VHOST_SET_MEM_TABLE));
    g_assert_true(ioctl_ok(SECCOMP_THREAD_VCPU, SECCOMP_NEED_VHOST, VHOST_SET_MEM_TABLE));
    g_assert_true(ioctl_ok(SECCOMP_THREAD_ALL, SECCOMP_NEED_VHOST, VHOST_VSOCK_SET_RUNNING));
    /* camera back ends: probed and streamed by the main loop, only with NEED_CAMERA */
    g_assert_false(ioctl_ok(SECCOMP_THREAD_ALL, ALL_NEEDS & ~SECCOMP_NEED_CAMERA,
                            VIDIOC_QUERYCAP));
    g_assert_true(ioctl_ok(SECCOMP_THREAD_ALL, SECCOMP_NEED_CAMERA, VIDIOC_QUERYCAP));
    g_assert_true(ioctl_ok(SECCOMP_THREAD_ALL, SECCOMP_NEED_CAMERA, VIDIOC_DQBUF));
    g_assert_false(ioctl_ok(SECCOMP_THREAD_VCPU, ALL_NEEDS, VIDIOC_DQBUF));
    g_assert_false(ioctl_ok(SECCOMP_THREAD_ALL, ALL_NEEDS, VIDIOC_G_FMT));
    /* the base: isatty() everywhere, terminals and block devices on the main loop */
    g_assert_true(ioctl_ok(SECCOMP_THREAD_IO, 0, TCGETS));
    g_assert_true(ioctl_ok(SECCOMP_THREAD_ALL, 0, TIOCGPTPEER));
    g_assert_true(ioctl_ok(SECCOMP_THREAD_ALL, 0, BLKGETSIZE64));
    g_assert_false(ioctl_ok(SECCOMP_THREAD_VCPU, ALL_NEEDS, TCSETS));
    /* the kernel's unsigned int: a request with a high word is refused, not truncated */
    g_assert_false(ioctl_ok(SECCOMP_THREAD_ALL, ALL_NEEDS, TCGETS | HIGH));
    g_assert_false(ioctl_ok(SECCOMP_THREAD_VCPU, ALL_NEEDS, KVM_RUN | HIGH));
    g_assert_true(named(SECCOMP_THREAD_IO, ALL_NEEDS, "ioctl(TCGETS)"));
    g_assert_true(named(SECCOMP_THREAD_VCPU, SECCOMP_NEED_TAP,
                        "ioctl(TCGETS|TUNSETOFFLOAD|TUNSETQUEUE)"));
}

/* The program allows exactly what the list says, and denies as the mode says. */
static void test_program_matches_list(void)
{
    static const unsigned long advice[] = { MADV_DONTNEED, MADV_REMOVE, MADV_DONTDUMP,
                                            MADV_HWPOISON, 0 };

    for (int kind = SECCOMP_THREAD_ALL; kind <= SECCOMP_THREAD_IO; kind++) {
        for (unsigned needs = 0; needs <= ALL_NEEDS; needs++) {
            g_autoptr(GArray) kill = seccomp_filter_build(kind, needs, SECCOMP_LIST_KILL);
            g_autoptr(GArray) trap = seccomp_filter_build(kind, needs, SECCOMP_LIST_TRAP);

            g_assert_cmpuint(kill->len, <=, BPF_MAXINSNS);
            for (int nr = 0; nr < MAX_NR; nr++) {
                for (size_t a = 0; a < G_N_ELEMENTS(advice); a++) {
                    bool ok = seccomp_list_allows(kind, needs, nr, 0, advice[a]);
                    g_assert_cmphex(run_bpf(kill, nr, 0, advice[a]), ==,
                                    ok ? SECCOMP_RET_ALLOW : SECCOMP_RET_KILL_PROCESS);
                    g_assert_cmphex(run_bpf(trap, nr, 0, advice[a]), ==,
                                    ok ? SECCOMP_RET_ALLOW : SECCOMP_RET_TRAP);
                }
            }
        }
    }
}

/* The ioctl block agrees with the request lists for every need set. */
static void test_ioctl_program_matches_list(void)
{
    for (int kind = SECCOMP_THREAD_ALL; kind <= SECCOMP_THREAD_IO; kind++) {
        for (unsigned needs = 0; needs <= ALL_NEEDS; needs++) {
            g_autoptr(GArray) trap = seccomp_filter_build(kind, needs, SECCOMP_LIST_TRAP);

            for (size_t i = 0; i < G_N_ELEMENTS(reqs); i++) {
                bool ok = ioctl_ok(kind, needs, reqs[i]);
                g_assert_cmphex(run_bpf(trap, __NR_ioctl, reqs[i], 0), ==,
                                ok ? SECCOMP_RET_ALLOW : SECCOMP_RET_TRAP);
            }
            /* the request word is not read for other calls */
            g_assert_cmphex(run_bpf(trap, __NR_read, TIOCSTI, 0), ==, SECCOMP_RET_ALLOW);
        }
    }
}

static void test_policy_check(void)
{
    SeccompPolicy on = { .mode = SECCOMP_LIST_KILL, .needs = SECCOMP_NEED_BALLOON };
    SeccompPolicy off = { .mode = SECCOMP_LIST_OFF, .needs = 0 };
    GError *err = NULL;

    g_assert_true(seccomp_policy_check(&on, SECCOMP_NEED_BALLOON, "x", &err));
    g_assert_true(seccomp_policy_check(&off, SECCOMP_NEED_IO_URING, "x", &err));
    g_assert_false(seccomp_policy_check(&on, SECCOMP_NEED_IO_URING, "aio=io_uring", &err));
    g_assert_cmpstr(err->message, ==,
                    "aio=io_uring needs system calls that the seccomp filter installed at "
                    "start-up does not allow (io_uring_setup, io_uring_register, "
                    "io_uring_enter): start the VM with one in use, or with -sandbox off");
    g_error_free(err);
    err = NULL;
    g_assert_false(seccomp_policy_check(&on, SECCOMP_NEED_VHOST, "vhost-vsock-device", &err));
    g_assert_cmpstr(err->message, ==,
                    "vhost-vsock-device needs system calls that the seccomp filter installed "
                    "at start-up does not allow (ioctl(VHOST_SET_OWNER|VHOST_GET_FEATURES|"
                    "VHOST_NET_SET_BACKEND|VHOST_GET_VRING_BASE|VHOST_SET_FEATURES|"
                    "VHOST_SET_MEM_TABLE|VHOST_SET_VRING_NUM|VHOST_SET_VRING_BASE|"
                    "VHOST_SET_VRING_ADDR|VHOST_SET_VRING_KICK|VHOST_SET_VRING_CALL|"
                    "VHOST_VSOCK_SET_RUNNING)): "
                    "start the VM with one in use, or with -sandbox off");
    g_error_free(err);
}

typedef struct {
    SeccompPolicy policy;
    int report;             /* pipe: "n" once narrowed, just before the socket() */
} NarrowTest;

static gpointer io_thread(gpointer opaque)
{
    NarrowTest *t = opaque;

    if (seccomp_narrow_thread(&t->policy, SECCOMP_THREAD_IO, NULL) &&
        seccomp_narrow_thread(&t->policy, SECCOMP_THREAD_IO, NULL) &&   /* once only */
        write(t->report, "n", 1) == 1) {
        syscall(__NR_socket, AF_UNIX, SOCK_STREAM, 0);                  /* killed here */
    }
    return NULL;
}

/*
 * In a child: the main thread may call socket() under the union; the thread
 * that narrowed itself to the I/O list reports it, then dies calling it.
 */
static void test_narrowed_thread_killed(void)
{
    NarrowTest t = { .policy = { .mode = SECCOMP_LIST_KILL, .needs = 0 } };
    int fds[2], status = 0;
    char got[8] = "";
    pid_t pid;

    g_assert_cmpint(pipe(fds), ==, 0);
    t.report = fds[1];
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        close(fds[0]);
        if (!seccomp_install(&t.policy, NULL) ||
            syscall(__NR_socket, AF_UNIX, SOCK_STREAM, 0) < 0 ||
            write(t.report, "m", 1) != 1) {
            _exit(3);
        }
        g_thread_join(g_thread_new("io", io_thread, &t));
        _exit(0);
    }
    close(fds[1]);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_cmpint(read(fds[0], got, sizeof(got) - 1), ==, 2);
    close(fds[0]);
    g_assert_cmpstr(got, ==, "mn");
    g_assert_true(WIFSIGNALED(status));
    g_assert_cmpint(WTERMSIG(status), ==, SIGSYS);
}

/* In a child: an allowed request passes, one no need enabled kills the process. */
static void test_ioctl_refused_kills(void)
{
    SeccompPolicy p = { .mode = SECCOMP_LIST_KILL, .needs = 0 };
    int fds[2], status = 0;
    char got[4] = "";
    pid_t pid;

    g_assert_cmpint(pipe(fds), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        close(fds[0]);
        if (!seccomp_install(&p, NULL) || ioctl(-1, TCGETS, NULL) != -1 || errno != EBADF ||
            write(fds[1], "m", 1) != 1) {
            _exit(3);
        }
        ioctl(-1, TUNSETIFF, NULL);                 /* no tap possible: killed here */
        _exit(0);
    }
    close(fds[1]);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_cmpint(read(fds[0], got, sizeof(got) - 1), ==, 1);
    close(fds[0]);
    g_assert_true(WIFSIGNALED(status));
    g_assert_cmpint(WTERMSIG(status), ==, SIGSYS);
}

/*
 * In a child, debug mode: refused requests fail with ENOSYS and are logged
 * with the request in hex (and its name when the tables know it); a request
 * with a high word is refused even though its low word is allowed.
 */
static void test_ioctl_debug_logged(void)
{
    SeccompPolicy p = { .mode = SECCOMP_LIST_TRAP, .needs = SECCOMP_NEED_TAP };
    int fds[2], status = 0;
    char got[512] = "";
    gssize n, len = 0;
    pid_t pid;

    g_assert_cmpint(pipe(fds), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        close(fds[0]);
        if (dup2(fds[1], STDERR_FILENO) < 0 || !seccomp_install(&p, NULL)) {
            _exit(3);
        }
        if (ioctl(-1, KVM_RUN, NULL) != -1 || errno != ENOSYS) {
            _exit(4);
        }
        if (syscall(__NR_ioctl, -1, TCGETS | HIGH, NULL) != -1 || errno != ENOSYS) {
            _exit(5);
        }
        if (ioctl(-1, TIOCSTI, "x") != -1 || errno != ENOSYS) {
            _exit(6);
        }
        if (ioctl(-1, TUNSETIFF, NULL) != -1 || errno != EBADF) {   /* allowed: a tap */
            _exit(7);
        }
        _exit(0);
    }
    close(fds[1]);
    while ((n = read(fds[0], got + len, sizeof(got) - 1 - len)) > 0) {
        len += n;
    }
    close(fds[0]);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    g_assert_cmpstr(got, ==,
                    "stratus: seccomp: forbidden system call ioctl (16) request 0xae80 (KVM_RUN)\n"
                    "stratus: seccomp: forbidden system call ioctl (16) request 0x100005401\n"
                    "stratus: seccomp: forbidden system call ioctl (16) request 0x5412\n");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/os/seccomp/kinds", test_kinds);
    g_test_add_func("/os/seccomp/nesting", test_nesting);
    g_test_add_func("/os/seccomp/widening", test_widening);
    g_test_add_func("/os/seccomp/ioctl-lists", test_ioctl_lists);
    g_test_add_func("/os/seccomp/program-matches-list", test_program_matches_list);
    g_test_add_func("/os/seccomp/ioctl-program-matches-list",
                    test_ioctl_program_matches_list);
    g_test_add_func("/os/seccomp/policy-check", test_policy_check);
    g_test_add_func("/os/seccomp/narrowed-thread-killed", test_narrowed_thread_killed);
    g_test_add_func("/os/seccomp/ioctl-refused-kills", test_ioctl_refused_kills);
    g_test_add_func("/os/seccomp/ioctl-debug-logged", test_ioctl_debug_logged);
    return g_test_run();
}
