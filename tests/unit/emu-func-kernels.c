/*
 * The functions test-emu-func.c runs natively and on the emu CPU
 * (emu-func-kernels.h says what each computes and how it is built). They
 * are the shapes of code a Linux boot spends its time in: the kernel's
 * bignum loops (module signatures, RSA self-tests), hashes and ciphers
 * (sha256, chacha20, crc32), sorting and string loops, division and
 * flag-heavy arithmetic, and calls and returns.
 */
#include "emu-func-kernels.h"

#define P64(x) ((uint64_t *)(uintptr_t)(x))
#define P32(x) ((uint32_t *)(uintptr_t)(x))

EMUFUNC uint64_t kf_addmul(uint64_t res, uint64_t s, uint64_t n, uint64_t m, uint64_t e,
                           uint64_t f)
{
    uint64_t *r = P64(res), *a = P64(s), cy = 0;

    for (uint64_t i = 0; i < n; i++) {
        unsigned __int128 p = (unsigned __int128)a[i] * m + cy;
        uint64_t lo = (uint64_t)p, x = r[i];

        cy = (uint64_t)(p >> 64);
        lo += x;
        cy += lo < x;
        r[i] = lo;
    }
    return cy;
}

EMUFUNC uint64_t kf_submul32(uint64_t res, uint64_t s, uint64_t n, uint64_t m, uint64_t e,
                             uint64_t f)
{
    uint64_t *r = P64(res), *a = P64(s), cy = 0;

    for (uint64_t i = 0; i < n; i++) {
        uint64_t u = a[i], ul = u & 0xFFFFFFFFu, uh = u >> 32;
        uint64_t vl = m & 0xFFFFFFFFu, vh = m >> 32;
        uint64_t x0 = ul * vl, x1 = ul * vh, x2 = uh * vl, x3 = uh * vh, lo, hi, x;

        x1 += x0 >> 32;
        x1 += x2;
        if (x1 < x2) {
            x3 += 1ull << 32;
        }
        hi = x3 + (x1 >> 32);
        lo = (x1 << 32) + (x0 & 0xFFFFFFFFu);
        lo += cy;
        cy = (lo < cy) + hi;
        x = r[i];
        lo = x - lo;
        cy += lo > x;
        r[i] = lo;
    }
    return cy;
}

EMUFUNC uint64_t kf_addsub(uint64_t res, uint64_t a, uint64_t b, uint64_t n, uint64_t e,
                           uint64_t f)
{
    uint64_t *r = P64(res), *x = P64(a), *y = P64(b);
    unsigned long long c1 = 0, c2 = 0;

    for (uint64_t i = 0; i < n; i++) {
        unsigned long long s, d;
        unsigned char o1 = __builtin_uaddll_overflow(x[i], y[i], &s);

        o1 |= __builtin_uaddll_overflow(s, c1, &s);
        c1 = o1;
        unsigned char o2 = __builtin_usubll_overflow(x[i], y[i], &d);

        o2 |= __builtin_usubll_overflow(d, c2, &d);
        c2 = o2;
        r[i] = s;
        r[n + i] = d;
    }
    return c1 | c2 << 1;
}

static inline uint32_t ror32(uint32_t v, unsigned s)
{
    return v >> s | v << (32 - s);
}

EMUFUNC uint64_t kf_sha256(uint64_t state, uint64_t data, uint64_t n, uint64_t k, uint64_t e,
                           uint64_t f)
{
    uint32_t *st = P32(state), *kk = P32(k);
    const uint8_t *p = (const uint8_t *)(uintptr_t)data;
    uint32_t w[64];

    for (uint64_t blk = 0; blk < n; blk++, p += 64) {
        uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
        uint32_t e2 = st[4], f2 = st[5], g = st[6], h = st[7];

        for (int i = 0; i < 16; i++) {
            w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
                   (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
        }
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);

            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = h + (ror32(e2, 6) ^ ror32(e2, 11) ^ ror32(e2, 25)) +
                          ((e2 & f2) ^ (~e2 & g)) + kk[i] + w[i];
            uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) +
                          ((a & b) ^ (a & c) ^ (b & c));

            h = g; g = f2; f2 = e2; e2 = d + t1;
            d = c; c = b; b = a; a = t1 + t2;
        }
        st[0] += a; st[1] += b; st[2] += c; st[3] += d;
        st[4] += e2; st[5] += f2; st[6] += g; st[7] += h;
    }
    return st[0] ^ st[7];
}

#define QR(a, b, c, d) \
    (a += b, d ^= a, d = d << 16 | d >> 16, c += d, b ^= c, b = b << 12 | b >> 20, \
     a += b, d ^= a, d = d << 8 | d >> 24, c += d, b ^= c, b = b << 7 | b >> 25)

EMUFUNC uint64_t kf_chacha(uint64_t out, uint64_t in, uint64_t rounds, uint64_t d, uint64_t e,
                           uint64_t f)
{
    uint32_t *o = P32(out), *s = P32(in), x[16];

    for (int i = 0; i < 16; i++) {
        x[i] = s[i];
    }
    for (uint64_t r = 0; r < rounds; r++) {
        QR(x[0], x[4], x[8], x[12]); QR(x[1], x[5], x[9], x[13]);
        QR(x[2], x[6], x[10], x[14]); QR(x[3], x[7], x[11], x[15]);
        QR(x[0], x[5], x[10], x[15]); QR(x[1], x[6], x[11], x[12]);
        QR(x[2], x[7], x[8], x[13]); QR(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++) {
        o[i] = x[i] + s[i];
    }
    return o[0];
}

EMUFUNC uint64_t kf_crc32(uint64_t p, uint64_t n, uint64_t c, uint64_t d, uint64_t e, uint64_t f)
{
    const uint8_t *b = (const uint8_t *)(uintptr_t)p;
    uint32_t crc = 0xFFFFFFFFu;

    for (uint64_t i = 0; i < n; i++) {
        crc ^= b[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
        }
    }
    return ~crc;
}

EMUFUNC uint64_t kf_sort(uint64_t v, uint64_t n, uint64_t c, uint64_t d, uint64_t e, uint64_t f)
{
    int64_t *a = (int64_t *)(uintptr_t)v;
    uint64_t digest = 0;

    for (uint64_t i = 1; i < n; i++) {
        int64_t key = a[i];
        uint64_t j = i;

        while (j > 0 && a[j - 1] > key) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = key;
    }
    for (uint64_t i = 1; i < n; i++) {
        digest = digest * 3 + ((uint64_t)a[i - 1] < (uint64_t)a[i]) * 2 + (a[i - 1] == a[i]);
        digest ^= (int32_t)a[i] < (int32_t)a[i - 1];
        digest += (int16_t)a[i] >= (int16_t)a[i - 1];
    }
    return digest;
}

EMUFUNC uint64_t kf_bytes(uint64_t a, uint64_t b, uint64_t n, uint64_t out, uint64_t e,
                          uint64_t f)
{
    const uint8_t *x = (const uint8_t *)(uintptr_t)a, *y = (const uint8_t *)(uintptr_t)b;
    uint16_t *o = (uint16_t *)(uintptr_t)out;
    uint64_t len = 0, diff = 0, acc = 0;

    while (len < n && x[len]) {
        len++;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (x[i] != y[i]) {
            diff = diff * 7 + (x[i] < y[i] ? 1 : 2) + i;
        }
    }
    for (uint64_t i = 0; i + 1 < n; i += 2) {
        uint16_t w = (uint16_t)(x[i] | y[i + 1] << 8);
        int8_t sb = (int8_t)y[i];

        o[i / 2] = (uint16_t)(w + (uint16_t)sb);
        acc += (uint8_t)(x[i] + y[i]) + (int16_t)w / 3;
    }
    return len ^ diff << 8 ^ acc << 32;
}

EMUFUNC uint64_t kf_divs(uint64_t v, uint64_t n, uint64_t c, uint64_t d, uint64_t e, uint64_t f)
{
    uint64_t *a = P64(v), acc = 0;

    for (uint64_t i = 0; i + 1 < n; i++) {
        uint64_t x = a[i], y = a[i + 1] | 1;
        int64_t sx = (int64_t)x, sy = (int64_t)(y >> 1) + 1;
        uint32_t x32 = (uint32_t)x, y32 = (uint32_t)y | 1;
        int32_t sx32 = (int32_t)x32, sy32 = (int32_t)(y32 >> 1) + 1;

        acc = acc * 31 + x / y + x % y;
        acc = acc * 31 + (uint64_t)(sx / sy) + (uint64_t)(sx % sy);
        acc = acc * 31 + x32 / y32 + x32 % y32;
        acc = acc * 31 + (uint64_t)(int64_t)(sx32 / sy32) + (uint64_t)(int64_t)(sx32 % sy32);
    }
    return acc;
}

EMUFUNC uint64_t kf_flags(uint64_t v, uint64_t n, uint64_t c, uint64_t d, uint64_t e, uint64_t f)
{
    int64_t *a = (int64_t *)(uintptr_t)v;
    uint64_t acc = 0;

    for (uint64_t i = 0; i + 1 < n; i++) {
        long long s, p;
        int x32 = (int)a[i], y32 = (int)a[i + 1], s32;

        acc = acc * 5 + __builtin_saddll_overflow(a[i], a[i + 1], &s);
        acc = acc * 5 + __builtin_smulll_overflow(a[i], a[i + 1], &p);
        acc = acc * 5 + __builtin_ssub_overflow(x32, y32, &s32);
        acc += (a[i] < a[i + 1]) + (a[i] <= 0) * 2 + (x32 > y32) * 4;
        acc += (uint64_t)__builtin_parityll((uint64_t)a[i]) << 3;
        acc += a[i] ? (uint64_t)__builtin_ctzll((uint64_t)a[i]) : 64;
        acc += a[i + 1] ? (uint64_t)__builtin_clzll((uint64_t)a[i + 1]) << 7 : 1;
        acc ^= (uint64_t)(s + p + s32);
        if ((a[i] ^ a[i + 1]) < 0) {
            acc = acc << 1 | acc >> 63;
        }
    }
    return acc;
}

/* In the section too: kf_recurse calls it. */
EMUFUNC static uint64_t walk(uint64_t m, uint64_t n, uint64_t depth)
{
    if (depth > 40 || m == 0) {
        return n + 1;
    }
    if (n == 0) {
        return walk(m - 1, 1, depth + 1);
    }
    return walk(m - 1, walk(m, n - 1, depth + 1) & 7, depth + 1);
}

EMUFUNC uint64_t kf_recurse(uint64_t m, uint64_t n, uint64_t c, uint64_t d, uint64_t e,
                            uint64_t f)
{
    return walk(m, n, 0);
}
