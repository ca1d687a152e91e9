/*
 * Unit tests for src/os/seccomp.c: which calls each thread kind's list has,
 * the widening by SeccompNeeds, the BPF program agreeing with the list (run
 * through a small interpreter of the instructions the builder emits), the
 * hot-plug error text, and a narrowed thread killed by a call the union
 * allows (in a child process).
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
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <glib.h>

#include "os/seccomp.h"

#define ALL_NEEDS (SECCOMP_NEED_IO_URING | SECCOMP_NEED_BALLOON)
#define MAX_NR 512

/* Runs prog on (nr, arg2) as the kernel would, for LD|W|ABS, JEQ|K and RET|K. */
static unsigned run_bpf(const GArray *prog, int nr, unsigned long arg2)
{
    struct seccomp_data d = { .nr = nr, .arch = AUDIT_ARCH_X86_64 };
    uint32_t acc = 0;

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
    g_assert_true(named(SECCOMP_THREAD_VCPU, 0, "ioctl"));
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
            for (unsigned long a = 0; a < 32; a++) {
                if (seccomp_list_allows(SECCOMP_THREAD_IO, needs, nr, a)) {
                    g_assert_true(seccomp_list_allows(SECCOMP_THREAD_VCPU, needs, nr, a));
                }
                if (seccomp_list_allows(SECCOMP_THREAD_VCPU, needs, nr, a)) {
                    g_assert_true(seccomp_list_allows(SECCOMP_THREAD_ALL, needs, nr, a));
                }
            }
        }
    }
}

static void test_widening(void)
{
    for (int kind = SECCOMP_THREAD_ALL; kind <= SECCOMP_THREAD_VCPU; kind++) {
        g_assert_false(seccomp_list_allows(kind, 0, __NR_io_uring_enter, 0));
        g_assert_true(seccomp_list_allows(kind, SECCOMP_NEED_IO_URING, __NR_io_uring_enter, 0));
    }
    g_assert_false(seccomp_list_allows(SECCOMP_THREAD_ALL, SECCOMP_NEED_BALLOON,
                                       __NR_io_uring_setup, 0));
    g_assert_true(seccomp_list_allows(SECCOMP_THREAD_ALL, SECCOMP_NEED_IO_URING,
                                      __NR_io_uring_setup, 0));
    g_assert_false(seccomp_list_allows(SECCOMP_THREAD_VCPU, SECCOMP_NEED_IO_URING,
                                       __NR_io_uring_setup, 0));
    /* libc's madvise is always there; the balloon's MADV_REMOVE only with it. */
    g_assert_true(seccomp_list_allows(SECCOMP_THREAD_IO, 0, __NR_madvise, MADV_DONTNEED));
#ifndef STRATUS_SANITIZED
    g_assert_false(seccomp_list_allows(SECCOMP_THREAD_ALL, 0, __NR_madvise, MADV_REMOVE));
    g_assert_false(seccomp_list_allows(SECCOMP_THREAD_ALL, ALL_NEEDS, __NR_madvise,
                                       MADV_HWPOISON));
    g_assert_true(named(SECCOMP_THREAD_VCPU, SECCOMP_NEED_BALLOON,
                        "madvise(MADV_DONTNEED|MADV_REMOVE)"));
#endif
    g_assert_true(seccomp_list_allows(SECCOMP_THREAD_VCPU, SECCOMP_NEED_BALLOON, __NR_madvise,
                                      MADV_REMOVE));
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
                    bool ok = seccomp_list_allows(kind, needs, nr, advice[a]);
                    g_assert_cmphex(run_bpf(kill, nr, advice[a]), ==,
                                    ok ? SECCOMP_RET_ALLOW : SECCOMP_RET_KILL_PROCESS);
                    g_assert_cmphex(run_bpf(trap, nr, advice[a]), ==,
                                    ok ? SECCOMP_RET_ALLOW : SECCOMP_RET_TRAP);
                }
            }
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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/os/seccomp/kinds", test_kinds);
    g_test_add_func("/os/seccomp/nesting", test_nesting);
    g_test_add_func("/os/seccomp/widening", test_widening);
    g_test_add_func("/os/seccomp/program-matches-list", test_program_matches_list);
    g_test_add_func("/os/seccomp/policy-check", test_policy_check);
    g_test_add_func("/os/seccomp/narrowed-thread-killed", test_narrowed_thread_killed);
    return g_test_run();
}
