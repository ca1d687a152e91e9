/*
 * The seccomp allow-list (seccomp.h). The filter checks the architecture
 * (anything but x86-64 kills: i386 and x32 numbers mean other calls), then
 * compares the call number with each allowed one. Arguments are not
 * checked: ioctl, for instance, is allowed whole, since KVM, tap, vhost and
 * block devices all need it (docs/security.md says what that leaves open).
 * One list serves every thread kind (main loop, vCPUs, I/O workers): a
 * per-kind list would need each kind to install its own filter from its own
 * thread, which GLib's and the block engines' helper threads do not allow.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "os/seccomp.h"
#include "syscall-names.h"

#define ALLOW(name) { __NR_##name, #name }

typedef struct {
    int nr;
    const char *name;
} AllowedCall;

/*
 * What Stratus calls once running: the main loop (poll, sockets, QMP,
 * hot-plug opening images and taps), vCPUs (KVM ioctls, futexes, the emu
 * CPU's memory), block engines (aio, io_uring, thread pool), GLib and libc
 * (malloc, threads, clocks, signals), balloon (madvise), teardown (unlink).
 */
static const AllowedCall allowed[] = {
    ALLOW(read), ALLOW(write), ALLOW(readv), ALLOW(writev), ALLOW(pread64),
    ALLOW(pwrite64), ALLOW(preadv), ALLOW(pwritev), ALLOW(preadv2), ALLOW(pwritev2),
    ALLOW(close), ALLOW(openat), ALLOW(open), ALLOW(newfstatat), ALLOW(fstat),
    ALLOW(stat), ALLOW(lstat), ALLOW(statx), ALLOW(lseek), ALLOW(fcntl), ALLOW(dup),
    ALLOW(dup2), ALLOW(dup3), ALLOW(pipe2), ALLOW(ioctl), ALLOW(poll), ALLOW(ppoll),
    ALLOW(select), ALLOW(pselect6), ALLOW(epoll_create1), ALLOW(epoll_ctl),
    ALLOW(epoll_wait), ALLOW(epoll_pwait), ALLOW(eventfd2), ALLOW(timerfd_create),
    ALLOW(timerfd_settime), ALLOW(timerfd_gettime), ALLOW(signalfd4),
    ALLOW(recvfrom), ALLOW(recvmsg), ALLOW(recvmmsg), ALLOW(sendto), ALLOW(sendmsg),
    ALLOW(sendmmsg), ALLOW(accept4), ALLOW(accept), ALLOW(shutdown), ALLOW(socket),
    ALLOW(connect), ALLOW(bind), ALLOW(listen), ALLOW(getsockopt), ALLOW(setsockopt),
    ALLOW(getsockname), ALLOW(getpeername), ALLOW(socketpair),
    ALLOW(mmap), ALLOW(munmap), ALLOW(mremap), ALLOW(mprotect), ALLOW(madvise),
    ALLOW(brk), ALLOW(mlock), ALLOW(munlock), ALLOW(memfd_create),
    ALLOW(futex), ALLOW(set_robust_list), ALLOW(get_robust_list), ALLOW(clone),
    ALLOW(exit), ALLOW(exit_group), ALLOW(gettid), ALLOW(getpid), ALLOW(getppid),
    ALLOW(tgkill), ALLOW(rt_sigaction), ALLOW(rt_sigprocmask), ALLOW(rt_sigreturn),
    ALLOW(rt_sigtimedwait), ALLOW(sigaltstack), ALLOW(restart_syscall),
    ALLOW(clock_gettime), ALLOW(clock_getres), ALLOW(clock_nanosleep),
    ALLOW(nanosleep), ALLOW(gettimeofday), ALLOW(time), ALLOW(sched_yield),
    ALLOW(sched_getaffinity), ALLOW(getrandom), ALLOW(prctl), ALLOW(membarrier),
    ALLOW(fsync), ALLOW(fdatasync), ALLOW(fallocate), ALLOW(ftruncate),
    ALLOW(sync_file_range), ALLOW(flock), ALLOW(fstatfs), ALLOW(statfs),
    ALLOW(io_setup), ALLOW(io_destroy), ALLOW(io_submit), ALLOW(io_getevents),
    ALLOW(io_cancel), ALLOW(io_pgetevents), ALLOW(io_uring_setup),
    ALLOW(io_uring_enter), ALLOW(io_uring_register),
    ALLOW(unlink), ALLOW(unlinkat), ALLOW(getdents64), ALLOW(readlink),
    ALLOW(readlinkat), ALLOW(access), ALLOW(faccessat), ALLOW(uname), ALLOW(getuid),
    ALLOW(geteuid), ALLOW(getgid), ALLOW(getegid), ALLOW(getrlimit), ALLOW(prlimit64),
    ALLOW(getrusage), ALLOW(sysinfo), ALLOW(getcwd),
#ifdef __NR_clone3
    ALLOW(clone3),
#endif
#ifdef __NR_rseq
    ALLOW(rseq),
#endif
#ifdef __NR_close_range
    ALLOW(close_range),
#endif
#ifdef __NR_faccessat2
    ALLOW(faccessat2),
#endif
#ifdef __NR_epoll_pwait2
    ALLOW(epoll_pwait2),
#endif
};

const char *seccomp_syscall_name(long nr)
{
    if (nr >= 0 && nr < (long)G_N_ELEMENTS(syscall_names) && syscall_names[nr]) {
        return syscall_names[nr];
    }
    return "unknown";
}

size_t seccomp_allowed_count(void)
{
    return G_N_ELEMENTS(allowed);
}

const char *seccomp_allowed_name(size_t i)
{
    return i < G_N_ELEMENTS(allowed) ? allowed[i].name : NULL;
}

/* Async-signal-safe: formats by hand and writes once. */
static void sigsys_handler(int sig, siginfo_t *si, void *uc_)
{
    ucontext_t *uc = uc_;
    char buf[128] = "stratus: seccomp: forbidden system call ";
    size_t n = strlen(buf);
    const char *name = seccomp_syscall_name(si->si_syscall);
    char digits[24];
    int d = 0;
    unsigned long v = (unsigned long)(si->si_syscall < 0 ? 0 : si->si_syscall);

    (void)sig;
    for (const char *p = name; *p && n < sizeof(buf) - 32; p++) {
        buf[n++] = *p;
    }
    buf[n++] = ' ';
    buf[n++] = '(';
    do {
        digits[d++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (d) {
        buf[n++] = digits[--d];
    }
    buf[n++] = ')';
    buf[n++] = '\n';
    if (write(STDERR_FILENO, buf, n) < 0) {
        /* Nowhere else to say it. */
    }
    /* The call fails with ENOSYS and the process goes on (debug mode). */
    uc->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
}

void seccomp_selftest(void)
{
    if (syscall(__NR_getpriority, 0, 0) < 0 && errno == ENOSYS) {
        g_printerr("stratus: seccomp self-test: getpriority failed with ENOSYS\n");
    }
}

bool seccomp_install(SeccompMode mode, GError **err)
{
    enum { HEAD = 4, TAIL = 2 };
    size_t n = G_N_ELEMENTS(allowed);
    g_autofree struct sock_filter *f = g_new0(struct sock_filter, HEAD + n + TAIL);
    struct sock_fprog prog = { .len = (unsigned short)(HEAD + n + TAIL), .filter = f };
    size_t k = 0;

    if (mode == SECCOMP_LIST_OFF) {
        return true;
    }
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, arch));
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64,
                                          1, 0);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, nr));
    /* x32 numbers (bit 30) match no entry: they fall through to the default. */
    for (size_t i = 0; i < n; i++) {
        /* Equal: jump to the ALLOW at the very end. */
        f[k] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                            (unsigned)allowed[i].nr,
                                            (unsigned char)(n - i), 0);
        k++;
    }
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                          mode == SECCOMP_LIST_TRAP ? SECCOMP_RET_TRAP
                                                                    : SECCOMP_RET_KILL_PROCESS);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);

    if (mode == SECCOMP_LIST_TRAP) {
        struct sigaction sa = { .sa_sigaction = sigsys_handler, .sa_flags = SA_SIGINFO };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSYS, &sa, NULL);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
                &prog) != 0) {
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot install the seccomp filter: %s", g_strerror(errno));
        return false;
    }
    return true;
}
