/*
 * Whole C functions that test-emu-func.c runs both natively and as guest
 * code on the emu CPU (interpreter and generated code), comparing results.
 * They live in their own section (emufunc), are compiled without calls to
 * anything (no libc, no stack protector, no jump tables) and read constant
 * tables only through their arguments, so the section's bytes copied into
 * guest RAM run there unchanged. Each takes up to six integer arguments and
 * returns a 64-bit value; pointers are into a buffer the test provides.
 */
#ifndef STRATUS_TEST_EMU_FUNC_KERNELS_H
#define STRATUS_TEST_EMU_FUNC_KERNELS_H

#include <stdint.h>

typedef uint64_t EmuFuncKernel(uint64_t a, uint64_t b, uint64_t c, uint64_t d,
                               uint64_t e, uint64_t f);

#define EMUFUNC __attribute__((section("emufunc"), noipa, used))

/* Bignum limbs (the kernel's lib/mpi generic loops): res[i] += s[i] * m, with carry out. */
uint64_t kf_addmul(uint64_t res, uint64_t s, uint64_t n, uint64_t m, uint64_t e, uint64_t f);
/* The same as res[i] -= s[i] * m with 32-bit halves (umul_ppmm in C, as lib/mpi does). */
uint64_t kf_submul32(uint64_t res, uint64_t s, uint64_t n, uint64_t m, uint64_t e, uint64_t f);
/* res = a + b and a - b over n limbs (carry chains); returns both carries. */
uint64_t kf_addsub(uint64_t res, uint64_t a, uint64_t b, uint64_t n, uint64_t e, uint64_t f);
/* SHA-256 over n 64-byte blocks at data; state[8] updated; k: the 64 round constants. */
uint64_t kf_sha256(uint64_t state, uint64_t data, uint64_t n, uint64_t k, uint64_t e, uint64_t f);
/* ChaCha20's block function: out[16] from in[16], rounds double rounds. */
uint64_t kf_chacha(uint64_t out, uint64_t in, uint64_t rounds, uint64_t d, uint64_t e, uint64_t f);
/* CRC-32 (bitwise, reflected) of n bytes. */
uint64_t kf_crc32(uint64_t p, uint64_t n, uint64_t c, uint64_t d, uint64_t e, uint64_t f);
/* Insertion sort of n signed 64-bit values, then a signed/unsigned comparison digest. */
uint64_t kf_sort(uint64_t v, uint64_t n, uint64_t c, uint64_t d, uint64_t e, uint64_t f);
/* Byte strings: length, compare and copy loops over 8- and 16-bit data. */
uint64_t kf_bytes(uint64_t a, uint64_t b, uint64_t n, uint64_t out, uint64_t e, uint64_t f);
/* Division and remainder, signed and unsigned, 32- and 64-bit, over n values. */
uint64_t kf_divs(uint64_t v, uint64_t n, uint64_t c, uint64_t d, uint64_t e, uint64_t f);
/* Flag-reading arithmetic: overflow checks, signed compares, parity, bit scans. */
uint64_t kf_flags(uint64_t v, uint64_t n, uint64_t c, uint64_t d, uint64_t e, uint64_t f);
/* Recursion (calls and returns through the stack): a bounded Ackermann-like walk. */
uint64_t kf_recurse(uint64_t m, uint64_t n, uint64_t c, uint64_t d, uint64_t e, uint64_t f);

#endif
