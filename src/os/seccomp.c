/*
 * The seccomp allow-lists (seccomp.h). A filter checks the architecture
 * (anything but x86-64 kills: i386 and x32 numbers mean other calls), then
 * compares the call number with each allowed one. Two calls have an argument
 * checked: ioctl's request (first in the program, since KVM_RUN is the
 * hottest call of all; the request lists are in seccomp-ioctl.c) and
 * madvise's advice (the balloon's MADV_REMOVE is a widening of its own).
 * docs/security.md says what that leaves open.
 *
 * Every call is in the process-wide union, which GLib's own helper threads
 * keep; an entry's kinds say which narrower per-thread lists also have it.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "os/seccomp.h"
#include "os/seccomp-internal.h"
#include "syscall-names.h"

#ifdef STRATUS_SANITIZED
#define SANITIZER_KINDS (K_VCPU | K_IO)
#else
#define SANITIZER_KINDS 0u
#endif

typedef struct {
    int nr;
    const char *name;
    unsigned kinds;         /* the narrower lists that have it too */
    unsigned need;          /* 0: always; else the SeccompNeeds bit that enables it */
} AllowedCall;

#define M(name) { __NR_##name, #name, 0, 0 }                 /* main loop only */
#define V(name) { __NR_##name, #name, K_VCPU, 0 }            /* + vCPUs */
#define A(name) { __NR_##name, #name, K_VCPU | K_IO, 0 }     /* + I/O workers */
#define G(name, need, kinds) { __NR_##name, #name, (kinds), (need) }

/*
 * What Stratus calls once running. vCPU threads also run device emulation
 * (virtqueue notifies submit block and network I/O, kick eventfds, start a
 * block helper thread when none is idle: GLib creates it from the pushing
 * thread, copying its scheduling attributes); I/O workers do file I/O and hand
 * completions back. The main loop alone opens files and sockets (QMP,
 * hot-plug, snapshots), creates fds and removes files.
 */
static const AllowedCall allowed[] = {
    /* file and socket I/O, memory, locks, clocks, signals: every kind */
    A(read), A(write), A(readv), A(writev), A(pread64), A(pwrite64), A(preadv),
    A(pwritev), A(preadv2), A(pwritev2), A(lseek), A(fstat), A(newfstatat),
    A(fsync), A(fdatasync), A(fallocate), A(sync_file_range),
    A(mmap), A(munmap), A(mremap), A(mprotect), A(brk), A(futex),
    A(exit), A(exit_group), A(gettid), A(getpid), A(tgkill), A(rt_sigprocmask),
    A(rt_sigreturn), A(restart_syscall), A(clock_gettime), A(clock_nanosleep),
    A(nanosleep), A(gettimeofday), A(time), A(sched_yield), A(getrandom),
    /* device emulation on vCPUs, and thread start-up (GLib pool threads) */
    V(close), V(poll), V(ppoll), V(eventfd2), V(fcntl), V(recvfrom), V(recvmsg),
    V(recvmmsg), V(sendto), V(sendmsg), V(sendmmsg), V(shutdown), V(getsockopt),
    V(setsockopt), V(timerfd_settime), V(timerfd_gettime), V(io_submit),
    V(io_getevents), V(io_cancel), V(io_pgetevents), V(clone), V(set_robust_list),
    V(prctl), V(sched_getattr), V(sched_setattr), V(membarrier),
    /* a pool thread started by a vCPU narrows itself (filters only ever add limits) */
    V(seccomp),
    /* main loop only: opening and creating things, set-up, teardown */
    M(openat), M(open), M(stat), M(lstat), M(statx), M(dup), M(dup2), M(dup3),
    M(pipe2), M(select), M(pselect6), M(epoll_create1), M(epoll_ctl), M(epoll_wait),
    M(epoll_pwait), M(timerfd_create), M(signalfd4), M(accept4), M(accept), M(socket),
    M(connect), M(bind), M(listen), M(getsockname), M(getpeername), M(socketpair),
    M(mlock), M(munlock), M(memfd_create), M(get_robust_list), M(getppid),
    M(rt_sigaction), M(rt_sigtimedwait), M(clock_getres),
    M(ftruncate), M(flock), M(fstatfs), M(statfs),
    M(io_setup), M(io_destroy), M(unlink), M(unlinkat), M(mkdir), M(mkdirat),
    M(chmod), M(fchmod), M(fchmodat), M(rename), M(renameat), M(renameat2),
    M(getdents64), M(readlink), M(readlinkat),
    M(access), M(faccessat), M(uname), M(getuid), M(geteuid), M(getgid), M(getegid),
    M(getrlimit), M(prlimit64), M(getrusage), M(sysinfo), M(getcwd),
    /* aio=io_uring: set up by the main loop, entered by vCPUs and the loop */
    G(io_uring_setup, SECCOMP_NEED_IO_URING, 0),
    G(io_uring_register, SECCOMP_NEED_IO_URING, 0),
    G(io_uring_enter, SECCOMP_NEED_IO_URING, K_VCPU),
    /* sanitizer runtimes: a thread's alternate signal stack goes at its exit */
    { __NR_sigaltstack, "sigaltstack", SANITIZER_KINDS, 0 },
    /* ASan's thread start asks for the CPU set: a vCPU that starts a block
     * helper thread makes the call (found by test_block's aio=threads). */
    { __NR_sched_getaffinity, "sched_getaffinity", SANITIZER_KINDS, 0 },
#ifdef STRATUS_SANITIZED
    /*
     * LeakSanitizer's exit scan (a helper task cloned without CLONE_THREAD
     * lists the threads with the old getdents and ptraces them; exit waits
     * for it forever if it is killed) and the sanitizers' madvise.
     */
    A(ptrace), A(wait4), A(getdents), A(madvise),
#endif
#ifdef __NR_clone3
    V(clone3),
#endif
#ifdef __NR_rseq
    V(rseq),
#endif
#ifdef __NR_close_range
    M(close_range),
#endif
#ifdef __NR_faccessat2
    M(faccessat2),
#endif
#ifdef __NR_epoll_pwait2
    M(epoll_pwait2),
#endif
};

typedef struct {
    int advice;
    const char *name;
    unsigned kinds;
    unsigned need;
} AllowedAdvice;

/*
 * madvise's allowed advice (args[2]). glibc's free() and thread exit use
 * MADV_DONTNEED, so the balloon's private-RAM path needs nothing more; its
 * shared-RAM path (MADV_REMOVE) is the widening. Memory back ends set the
 * others when created (object-add included).
 */
static const AllowedAdvice advices[] = {
    { MADV_DONTNEED, "MADV_DONTNEED", K_VCPU | K_IO, 0 },
    { MADV_DONTDUMP, "MADV_DONTDUMP", 0, 0 },
    { MADV_MERGEABLE, "MADV_MERGEABLE", 0, 0 },
    { MADV_UNMERGEABLE, "MADV_UNMERGEABLE", 0, 0 },
    { MADV_REMOVE, "MADV_REMOVE", K_VCPU, SECCOMP_NEED_BALLOON },
};

/* Sanitized builds allow madvise whole (the table has it): no advice check. */
static bool advice_checked(void)
{
#ifdef STRATUS_SANITIZED
    return false;
#else
    return true;
#endif
}

GPtrArray *seccomp_list_names(SeccompThread kind, unsigned needs)
{
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) adv = g_string_new(NULL);

    for (size_t i = 0; i < G_N_ELEMENTS(allowed); i++) {
        if (seccomp_in_list(allowed[i].kinds, allowed[i].need, kind, needs)) {
            g_ptr_array_add(names, g_strdup(allowed[i].name));
        }
    }
    for (size_t i = 0; advice_checked() && i < G_N_ELEMENTS(advices); i++) {
        if (seccomp_in_list(advices[i].kinds, advices[i].need, kind, needs)) {
            g_string_append_printf(adv, "%s%s", adv->len ? "|" : "", advices[i].name);
        }
    }
    seccomp_ioctl_names(names, kind, needs);
    if (adv->len) {
        g_ptr_array_add(names, g_strdup_printf("madvise(%s)", adv->str));
    }
    return names;
}

bool seccomp_list_allows(SeccompThread kind, unsigned needs, long nr, unsigned long arg1,
                         unsigned long arg2)
{
    if (nr == __NR_ioctl) {
        return seccomp_ioctl_allows(kind, needs, arg1);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(allowed); i++) {
        if (allowed[i].nr == nr &&
            seccomp_in_list(allowed[i].kinds, allowed[i].need, kind, needs)) {
            return true;
        }
    }
    for (size_t i = 0; nr == __NR_madvise && advice_checked() &&
                       i < G_N_ELEMENTS(advices); i++) {
        if ((unsigned)advices[i].advice == (unsigned)arg2 &&
            seccomp_in_list(advices[i].kinds, advices[i].need, kind, needs)) {
            return true;
        }
    }
    return false;
}

/*
 * Accumulator holds the call number. Each allowed advice costs "JEQ; RET
 * ALLOW"; the block skips itself for other calls and ends denying, so the
 * accumulator (now the advice) is never compared with call numbers.
 */
static void emit_madvise(GArray *prog, SeccompThread kind, unsigned needs, unsigned deny)
{
    unsigned n = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(advices); i++) {
        n += seccomp_in_list(advices[i].kinds, advices[i].need, kind, needs);
    }
    if (!advice_checked() || !n) {
        return;
    }
    emit(prog, JEQ(__NR_madvise, 0, (unsigned char)(2 * n + 2)));
    emit(prog, STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])));
    for (size_t i = 0; i < G_N_ELEMENTS(advices); i++) {
        if (seccomp_in_list(advices[i].kinds, advices[i].need, kind, needs)) {
            emit(prog, JEQ((unsigned)advices[i].advice, 0, 1));
            emit(prog, STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
        }
    }
    emit(prog, STMT(BPF_RET | BPF_K, deny));
}

/* "JEQ nr; RET ALLOW" pairs: no jump is longer than one, whatever the list's length. */
GArray *seccomp_filter_build(SeccompThread kind, unsigned needs, SeccompMode mode)
{
    GArray *prog = g_array_new(FALSE, FALSE, sizeof(struct sock_filter));
    unsigned deny = mode == SECCOMP_LIST_TRAP ? SECCOMP_RET_TRAP : SECCOMP_RET_KILL_PROCESS;

    emit(prog, STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
    emit(prog, JEQ(AUDIT_ARCH_X86_64, 1, 0));
    emit(prog, STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
    emit(prog, STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
    seccomp_ioctl_emit(prog, kind, needs, deny);
    /* x32 numbers (bit 30) match no entry: they fall through to the default. */
    for (size_t i = 0; i < G_N_ELEMENTS(allowed); i++) {
        if (seccomp_in_list(allowed[i].kinds, allowed[i].need, kind, needs)) {
            emit(prog, JEQ((unsigned)allowed[i].nr, 0, 1));
            emit(prog, STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
        }
    }
    emit_madvise(prog, kind, needs, deny);
    emit(prog, STMT(BPF_RET | BPF_K, deny));
    return prog;
}

const char *seccomp_syscall_name(long nr)
{
    if (nr >= 0 && nr < (long)G_N_ELEMENTS(syscall_names) && syscall_names[nr]) {
        return syscall_names[nr];
    }
    return "unknown";
}

/* Async-signal-safe helpers of the handler below: append to buf, bounded. */
typedef struct {
    char buf[192];
    size_t n;
} LogLine;

static void put_str(LogLine *l, const char *s)
{
    while (*s && l->n < sizeof(l->buf) - 1) {
        l->buf[l->n++] = *s++;
    }
}

static void put_num(LogLine *l, unsigned long v, unsigned base)
{
    char digits[24];
    int d = 0;

    do {
        digits[d++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (d && l->n < sizeof(l->buf) - 1) {
        l->buf[l->n++] = digits[--d];
    }
}

/*
 * Async-signal-safe: formats by hand and writes once. For ioctl the request
 * (rsi: the kernel saw the call's registers as they were) is what is missing
 * from a list, so it is logged too, in hex, with its name when the tables
 * know it (allowed on another thread kind, or with another need).
 */
static void sigsys_handler(int sig, siginfo_t *si, void *uc_)
{
    ucontext_t *uc = uc_;
    LogLine l = { .n = 0 };

    (void)sig;
    put_str(&l, "stratus: seccomp: forbidden system call ");
    put_str(&l, seccomp_syscall_name(si->si_syscall));
    put_str(&l, " (");
    put_num(&l, (unsigned long)(si->si_syscall < 0 ? 0 : si->si_syscall), 10);
    put_str(&l, ")");
    if (si->si_syscall == __NR_ioctl) {
        unsigned long req = (unsigned long)uc->uc_mcontext.gregs[REG_RSI];
        const char *name = seccomp_ioctl_name(req);

        put_str(&l, " request 0x");
        put_num(&l, req, 16);
        if (name) {
            put_str(&l, " (");
            put_str(&l, name);
            put_str(&l, ")");
        }
    }
    put_str(&l, "\n");
    if (write(STDERR_FILENO, l.buf, l.n) < 0) {
        /* Nowhere else to say it. */
    }
    /* The call fails with ENOSYS and the process goes on (debug mode). */
    uc->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
}

/* TIOCSTI (typing into a terminal) is on no list; fd -1 keeps it harmless unfiltered. */
void seccomp_selftest(void)
{
    if (syscall(__NR_getpriority, 0, 0) < 0 && errno == ENOSYS) {
        g_printerr("stratus: seccomp self-test: getpriority failed with ENOSYS\n");
    }
    if (ioctl(-1, TIOCSTI, "x") < 0 && errno == ENOSYS) {
        g_printerr("stratus: seccomp self-test: ioctl TIOCSTI failed with ENOSYS\n");
    }
}

static bool load(GArray *prog, unsigned flags, GError **err)
{
    struct sock_fprog fprog = {
        .len = (unsigned short)prog->len,
        .filter = (struct sock_filter *)(void *)prog->data,
    };

    if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog) != 0) {
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot install the seccomp filter: %s", g_strerror(errno));
        return false;
    }
    return true;
}

bool seccomp_install(const SeccompPolicy *p, GError **err)
{
    g_autoptr(GArray) prog = NULL;

    if (p->mode == SECCOMP_LIST_OFF) {
        return true;
    }
    prog = seccomp_filter_build(SECCOMP_THREAD_ALL, p->needs, p->mode);
    if (p->mode == SECCOMP_LIST_TRAP) {
        struct sigaction sa = { .sa_sigaction = sigsys_handler, .sa_flags = SA_SIGINFO };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSYS, &sa, NULL);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot install the seccomp filter: %s", g_strerror(errno));
        return false;
    }
    return load(prog, SECCOMP_FILTER_FLAG_TSYNC, err);
}

bool seccomp_narrow_thread(const SeccompPolicy *p, SeccompThread kind, GError **err)
{
    /*
     * Which narrower filter this thread carries: per-thread kernel state that
     * a thread cannot read back without calls its own list forbids, and GLib's
     * pool threads give no start hook to do it once. Not VMM state.
     */
    static __thread bool narrowed;
    g_autoptr(GArray) prog = NULL;

    if (!p || p->mode == SECCOMP_LIST_OFF || narrowed || kind == SECCOMP_THREAD_ALL) {
        return true;
    }
    prog = seccomp_filter_build(kind, p->needs, p->mode);
    /* No TSYNC: this thread only. NO_NEW_PRIVS came with the union's TSYNC. */
    if (!load(prog, 0, err)) {
        return false;
    }
    narrowed = true;
    return true;
}

/* The groups' calls, for the hot-plug error; ioctl's groups are named by the table. */
static const char *const need_calls[] = {
    [0] = "io_uring_setup, io_uring_register, io_uring_enter",   /* SECCOMP_NEED_IO_URING */
    [1] = "madvise(MADV_REMOVE)",                                 /* SECCOMP_NEED_BALLOON */
    [2] = NULL,                                                   /* SECCOMP_NEED_KVM */
    [3] = NULL,                                                   /* SECCOMP_NEED_TAP */
    [4] = NULL,                                                   /* SECCOMP_NEED_VHOST */
    [5] = NULL,                                                   /* SECCOMP_NEED_CAMERA */
    [6] = NULL,                                                   /* SECCOMP_NEED_VFIO */
};

bool seccomp_policy_check(const SeccompPolicy *p, unsigned needs, const char *what,
                          GError **err)
{
    unsigned missing = needs & ~p->needs;
    g_autoptr(GString) calls = g_string_new(NULL);

    if (p->mode == SECCOMP_LIST_OFF || !missing) {
        return true;
    }
    for (unsigned b = 0; b < G_N_ELEMENTS(need_calls); b++) {
        if (!(missing & (1u << b))) {
            continue;
        }
        if (calls->len) {
            g_string_append(calls, ", ");
        }
        if (need_calls[b]) {
            g_string_append(calls, need_calls[b]);
        } else {
            seccomp_ioctl_need_names(calls, 1u << b);
        }
    }
    g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_PERM,
                "%s needs system calls that the seccomp filter installed at start-up "
                "does not allow (%s): start the VM with one in use, or with -sandbox off",
                what, calls->str);
    return false;
}
