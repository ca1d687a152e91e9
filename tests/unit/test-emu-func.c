/*
 * Whole functions on the emu CPU against the host CPU as the oracle.
 *
 * test-emu-insn checks one instruction at a time; the code generator's
 * bugs live between instructions too (flags kept from one instruction to
 * the next, blocks chained to blocks, loops, the TLB path inside longer
 * blocks, calls and returns). So this runs real compiled C functions
 * (emu-func-kernels.c, the shapes of code a Linux boot spends its time in)
 * natively and as guest code, from the same inputs, and compares the
 * return value and every byte of the data they work on. Each function runs
 * in the interpreter alone (emu_step), with generated code for every block
 * at once (jit_after 0), and with the default compile threshold, where
 * the first runs are interpreted and later ones mix interpreted blocks
 * with generated code chained into them.
 *
 * The guest is a bare 64-bit CPU without paging (linear = physical): the
 * kernels' section at CODE_GPA, a stack below STACK_TOP whose return
 * address is a hlt, and the data at DATA_GPA.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <string.h>

#include "accel/emu/emu-cpu.h"
#include "emu-bare-cpu.h"
#include "emu-func-kernels.h"

#define HLT_GPA    0x8000ull
#define CODE_GPA   0x100000ull
#define STACK_TOP  0x200000ull
#define DATA_GPA   0x300000ull
#define DATA_SIZE  0x10000u
#define RAM_SIZE   (4ull << 20)
#define MAX_BLOCKS 200000000ull   /* a runaway guest fails instead of hanging */

/* The linker's bounds of the section the kernels are in. */
extern const uint8_t __start_emufunc[], __stop_emufunc[];

enum Mode { MODE_INTERP, MODE_JIT, MODE_MIXED, MODE_COUNT };
static const char *const mode_name[MODE_COUNT] = { "interp", "jit", "mixed" };

typedef struct Env {
    GuestRam ram;
    EmuCpu *cpu;
    uint8_t *host;             /* the native run's data */
    uint8_t *init;             /* the inputs, copied to both before each run */
} Env;

static Env env;

/* An argument: a value, or an offset into the data (ptr). */
typedef struct Arg {
    uint64_t v;
    bool ptr;
} Arg;

typedef void SetupFn(uint8_t *data, Arg arg[6], GRand *r);

typedef struct Kernel {
    const char *name;
    EmuFuncKernel *fn;
    SetupFn *setup;
} Kernel;

static void fill(uint8_t *p, size_t n, GRand *r)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)g_rand_int(r);
    }
}

static Arg val(uint64_t v)
{
    return (Arg){ v, false };
}

static Arg ptr(uint64_t off)
{
    return (Arg){ off, true };
}

/* Limbs that are often all-ones or zero, so carries run through many of them. */
static void fill_limbs(uint8_t *p, unsigned n, GRand *r)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t v = (uint64_t)g_rand_int(r) << 32 | g_rand_int(r);
        unsigned k = g_rand_int_range(r, 0, 4);

        v = k == 0 ? ~0ull : k == 1 ? 0 : v;
        memcpy(p + 8 * i, &v, 8);
    }
}

static void setup_mul(uint8_t *d, Arg a[6], GRand *r)
{
    unsigned n = g_rand_int_range(r, 1, 200);

    fill_limbs(d, n, r);
    fill_limbs(d + 0x4000, n, r);
    a[0] = ptr(0); a[1] = ptr(0x4000); a[2] = val(n);
    a[3] = val(g_rand_boolean(r) ? ~0ull : (uint64_t)g_rand_int(r) << 32 | g_rand_int(r));
}

static void setup_addsub(uint8_t *d, Arg a[6], GRand *r)
{
    unsigned n = g_rand_int_range(r, 1, 300);

    fill_limbs(d + 0x4000, n, r);
    fill_limbs(d + 0x8000, n, r);
    a[0] = ptr(0); a[1] = ptr(0x4000); a[2] = ptr(0x8000); a[3] = val(n);
}

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

static void setup_sha256(uint8_t *d, Arg a[6], GRand *r)
{
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    unsigned n = g_rand_int_range(r, 1, 40);

    memcpy(d, iv, sizeof(iv));
    memcpy(d + 0x100, sha256_k, sizeof(sha256_k));
    fill(d + 0x1000, 64 * n, r);
    a[0] = ptr(0); a[1] = ptr(0x1000); a[2] = val(n); a[3] = ptr(0x100);
}

static void setup_chacha(uint8_t *d, Arg a[6], GRand *r)
{
    fill(d + 0x100, 64, r);
    a[0] = ptr(0); a[1] = ptr(0x100); a[2] = val(g_rand_int_range(r, 1, 20));
}

static void setup_bytes(uint8_t *d, Arg a[6], GRand *r)
{
    unsigned n = g_rand_int_range(r, 2, 3000);

    fill(d, n, r);
    memcpy(d + 0x4000, d, n);
    for (unsigned i = 0; i < n / 50; i++) {      /* a few differences, and an early NUL */
        d[0x4000 + g_rand_int_range(r, 0, n)] ^= (uint8_t)g_rand_int(r);
    }
    d[g_rand_int_range(r, 0, n)] = 0;
    a[0] = ptr(0); a[1] = ptr(0x4000); a[2] = val(n); a[3] = ptr(0x8000);
}

/* Values spread over magnitudes and signs, with the edges. */
static void setup_values(uint8_t *d, Arg a[6], GRand *r)
{
    static const uint64_t edge[] = { 0, 1, ~0ull, 1ull << 63, (1ull << 63) - 1, 0x80000000u,
                                     0x7FFFFFFF, 0xFFFFFFFFu };
    unsigned n = g_rand_int_range(r, 2, 600);

    for (unsigned i = 0; i < n; i++) {
        uint64_t v = (uint64_t)g_rand_int(r) << 32 | g_rand_int(r);
        unsigned k = g_rand_int_range(r, 0, 8);

        v = k == 0 ? edge[g_rand_int_range(r, 0, G_N_ELEMENTS(edge))] : v >> (k * 7);
        v = g_rand_boolean(r) ? v : 0 - v;
        memcpy(d + 8 * i, &v, 8);
    }
    a[0] = ptr(0); a[1] = val(n);
}

static void setup_sort(uint8_t *d, Arg a[6], GRand *r)
{
    setup_values(d, a, r);
    a[1] = val(MIN(a[1].v, 300));
}

static void setup_crc(uint8_t *d, Arg a[6], GRand *r)
{
    unsigned n = g_rand_int_range(r, 1, 2000);

    fill(d, n, r);
    a[0] = ptr(0); a[1] = val(n);
}

static void setup_recurse(uint8_t *d, Arg a[6], GRand *r)
{
    a[0] = val(g_rand_int_range(r, 1, 4)); a[1] = val(g_rand_int_range(r, 0, 6));
}

static const Kernel kernels[] = {
    { "addmul", kf_addmul, setup_mul },
    { "submul32", kf_submul32, setup_mul },
    { "addsub", kf_addsub, setup_addsub },
    { "sha256", kf_sha256, setup_sha256 },
    { "chacha", kf_chacha, setup_chacha },
    { "crc32", kf_crc32, setup_crc },
    { "sort", kf_sort, setup_sort },
    { "bytes", kf_bytes, setup_bytes },
    { "divs", kf_divs, setup_values },
    { "flags", kf_flags, setup_values },
    { "recurse", kf_recurse, setup_recurse },
};

static uint64_t native_run(const Kernel *k, const Arg arg[6])
{
    uint64_t v[6];

    for (int i = 0; i < 6; i++) {
        v[i] = arg[i].v + (arg[i].ptr ? (uint64_t)(uintptr_t)env.host : 0);
    }
    return k->fn(v[0], v[1], v[2], v[3], v[4], v[5]);
}

/* Runs the kernel's guest copy to the hlt its return lands on; false on a fault or a runaway. */
static bool emu_call(const Kernel *k, const Arg arg[6], enum Mode mode, uint64_t *ret)
{
    static const int arg_reg[6] = { R_DI, R_SI, R_DX, R_CX, 8, 9 };
    EmuCpu *c = env.cpu;
    uint64_t rsp = STACK_TOP - 8, hlt = HLT_GPA;
    volatile uint64_t blocks = 0;

    for (int i = 0; i < 6; i++) {
        c->gpr[arg_reg[i]] = arg[i].v + (arg[i].ptr ? DATA_GPA : 0);
    }
    g_assert_true(guest_ram_write(&env.ram, rsp, &hlt, 8));
    c->gpr[R_SP] = rsp;
    c->rip = CODE_GPA + (uint64_t)((const uint8_t *)(void *)k->fn - __start_emufunc);
    c->rflags = 0x2;
    c->halted = false;
    c->exc_vector = -1;
    c->jit_after = mode == MODE_JIT ? 0 : EMU_JIT_AFTER;
    if (setjmp(c->jmp) != 0) {
        g_test_message("%s/%s: exception %d at rip %#" PRIx64, k->name, mode_name[mode],
                       c->exc_vector, c->rip);
        return false;
    }
    while (!c->halted && blocks++ < MAX_BLOCKS) {
        if (mode == MODE_INTERP) {
            emu_step(c);
        } else {
            emu_run_block(c);
        }
    }
    if (!c->halted || c->rip != HLT_GPA + 1 || c->gpr[R_SP] != STACK_TOP) {
        g_test_message("%s/%s: did not return (rip %#" PRIx64 ", rsp %#" PRIx64 ")",
                       k->name, mode_name[mode], c->rip, c->gpr[R_SP]);
        return false;
    }
    *ret = c->gpr[R_AX];
    return true;
}

static void test_kernel(gconstpointer data)
{
    const Kernel *k = data;
    g_autoptr(GRand) r = g_rand_new_with_seed(0x5eed0000u ^ g_str_hash(k->name));
    uint8_t *guest = guest_ram_ptr(&env.ram, DATA_GPA, DATA_SIZE);
    unsigned bad = 0;

    for (int round = 0; round < 12; round++) {
        Arg arg[6] = { { 0 } };
        uint64_t want;

        memset(env.init, 0, DATA_SIZE);
        k->setup(env.init, arg, r);
        memcpy(env.host, env.init, DATA_SIZE);
        want = native_run(k, arg);
        for (enum Mode m = 0; m < MODE_COUNT; m++) {
            uint64_t got = ~want;

            memcpy(guest, env.init, DATA_SIZE);
            if (!emu_call(k, arg, m, &got) || got != want ||
                memcmp(guest, env.host, DATA_SIZE) != 0) {
                g_test_message("%s round %d, %s: returned %#" PRIx64 " (native %#" PRIx64
                               "), data %s", k->name, round, mode_name[m], got, want,
                               memcmp(guest, env.host, DATA_SIZE) ? "differs" : "same");
                bad++;
            }
        }
    }
    g_assert_cmpuint(bad, ==, 0);
}

static void env_init(void)
{
    static const uint8_t hlt = 0xF4;
    EmuCpu *cpu = emu_bare_cpu64(&env.ram, RAM_SIZE);
    size_t code_len = (size_t)(__stop_emufunc - __start_emufunc);

    g_assert_cmpuint(code_len, >, 0);
    g_assert_cmpuint(code_len, <, STACK_TOP - 0x10000 - CODE_GPA);
    g_assert_true(guest_ram_write(&env.ram, CODE_GPA, __start_emufunc, code_len));
    g_assert_true(guest_ram_write(&env.ram, HLT_GPA, &hlt, 1));
    env.cpu = cpu;
    env.host = g_malloc0(DATA_SIZE);
    env.init = g_malloc0(DATA_SIZE);
}

static void env_destroy(void)
{
    g_free(env.host);
    g_free(env.init);
    emu_bare_cpu_free(env.cpu, &env.ram);
}

int main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    g_test_set_nonfatal_assertions();
    env_init();
    for (size_t i = 0; i < G_N_ELEMENTS(kernels); i++) {
        g_autofree char *path = g_strdup_printf("/emu-func/%s", kernels[i].name);

        g_test_add_data_func(path, &kernels[i], test_kernel);
    }
    rc = g_test_run();
    env_destroy();
    return rc;
}
