/*
 * sigprof: a sampling profiler to LD_PRELOAD where perf cannot sample
 * (no perf_event access on this project's hosts). Developer tool, not
 * part of the VMM.
 *
 * Every thread (the one that loads it and each one pthread_create starts)
 * gets a CPU-time timer (timer_create on CLOCK_THREAD_CPUTIME_ID, signal
 * SIGPROF to that thread only), so a busy vCPU thread is sampled in
 * proportion to the CPU it uses. The handler records the interrupted PC
 * and the return addresses found by walking the frame-pointer chain
 * (build the program with -fno-omit-frame-pointer), bounded by the
 * thread's stack. At exit each address is written as "object+offset"
 * (dladdr) or "?+address" (not in any object: generated code) for
 * scripts/prof/report.py, which names functions with nm.
 *
 *   cc -O2 -fPIC -shared -o /tmp/libsigprof.so scripts/prof/sigprof.c
 *   SIGPROF_OUT=/tmp/prof.txt SIGPROF_HZ=1000 LD_PRELOAD=/tmp/libsigprof.so \
 *       build-prof/stratus ... -sandbox off
 *   scripts/prof/report.py /tmp/prof.txt
 *
 * The program must exit through exit() (or return from main) for the
 * samples to be written; -sandbox off lets the timers and the final write
 * through the seccomp filter.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_FRAMES 24
#define MAX_SAMPLES (1u << 20)

typedef struct Sample {
    uint32_t tid;
    uint32_t n;
    uintptr_t pc[MAX_FRAMES];
} Sample;

static Sample *samples;
static unsigned nsamples;
static long period_ns = 1000000;
static __thread uintptr_t stack_lo, stack_hi;

static void on_prof(int sig, siginfo_t *si, void *uc_)
{
    ucontext_t *uc = uc_;
    unsigned i = __atomic_fetch_add(&nsamples, 1, __ATOMIC_RELAXED);
    uintptr_t fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
    Sample *s;

    (void)sig; (void)si;
    if (i >= MAX_SAMPLES) {
        return;
    }
    s = &samples[i];
    s->tid = (uint32_t)syscall(SYS_gettid);
    s->pc[0] = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    s->n = 1;
    /* Frame pointers: [fp] = the caller's fp, [fp+8] = the return address. */
    while (s->n < MAX_FRAMES && fp >= stack_lo && fp + 16 <= stack_hi && !(fp & 7)) {
        uintptr_t next = ((uintptr_t *)fp)[0];

        s->pc[s->n++] = ((uintptr_t *)fp)[1];
        if (next <= fp) {
            break;
        }
        fp = next;
    }
}

static void start_timer(void)
{
    pthread_attr_t a;
    void *addr;
    size_t size;
    struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGPROF };
    struct itimerspec its = { .it_interval = { 0, period_ns }, .it_value = { 0, period_ns } };
    timer_t t;

    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        if (pthread_attr_getstack(&a, &addr, &size) == 0) {
            stack_lo = (uintptr_t)addr;
            stack_hi = (uintptr_t)addr + size;
        }
        pthread_attr_destroy(&a);
    }
    ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &t) == 0) {
        timer_settime(t, 0, &its, NULL);
    }
}

typedef struct Start {
    void *(*fn)(void *);
    void *arg;
} Start;

static void *thread_start(void *p)
{
    Start st = *(Start *)p;

    free(p);
    start_timer();
    return st.fn(st.arg);
}

int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    Start *st = malloc(sizeof(*st));

    if (!real) {
        real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))
               dlsym(RTLD_NEXT, "pthread_create");
    }
    if (!st) {
        return real(t, a, fn, arg);
    }
    st->fn = fn;
    st->arg = arg;
    return real(t, a, thread_start, st);
}

static void put_addr(FILE *f, uintptr_t pc)
{
    Dl_info info;

    if (dladdr((void *)pc, &info) && info.dli_fname) {
        fprintf(f, " %s+0x%lx", info.dli_fname, (unsigned long)(pc - (uintptr_t)info.dli_fbase));
    } else {
        fprintf(f, " ?+0x%lx", (unsigned long)pc);
    }
}

static __attribute__((destructor)) void sigprof_fini(void)
{
    const char *out = getenv("SIGPROF_OUT");
    unsigned n = __atomic_exchange_n(&nsamples, MAX_SAMPLES, __ATOMIC_RELAXED);
    FILE *f;

    signal(SIGPROF, SIG_IGN);
    if (!samples || !(f = fopen(out ? out : "/tmp/sigprof.txt", "w"))) {
        return;
    }
    fprintf(f, "# sigprof period_ns=%ld samples=%u\n", period_ns, n < MAX_SAMPLES ? n : MAX_SAMPLES);
    for (unsigned i = 0; i < n && i < MAX_SAMPLES; i++) {
        /* Return addresses point after the call: -1 names the calling line. */
        fprintf(f, "%u", samples[i].tid);
        for (unsigned k = 0; k < samples[i].n; k++) {
            put_addr(f, samples[i].pc[k] - (k ? 1 : 0));
        }
        fputc('\n', f);
    }
    fclose(f);
}

static __attribute__((constructor)) void sigprof_init(void)
{
    struct sigaction sa = { .sa_sigaction = on_prof, .sa_flags = SA_SIGINFO | SA_RESTART };
    const char *hz = getenv("SIGPROF_HZ");

    if (hz && atol(hz) > 0) {
        period_ns = 1000000000L / atol(hz);
    }
    samples = mmap(NULL, sizeof(Sample) * MAX_SAMPLES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (samples == MAP_FAILED) {
        samples = NULL;
        return;
    }
    sigaction(SIGPROF, &sa, NULL);
    start_timer();
}
