/* MD5 (RFC 1321), for `blk md5`: hashlib.md5 on the host gives the same digest. */
#include "guest.h"

static const u32 K[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
static const u8 R[64] = {
	7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
	5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
	4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
	6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

static void md5_block(u32 h[4], const u8 *p)
{
	u32 w[16], a = h[0], b = h[1], c = h[2], d = h[3];

	for (int i = 0; i < 16; i++)
		w[i] = p[4 * i] | p[4 * i + 1] << 8 | p[4 * i + 2] << 16 | (u32)p[4 * i + 3] << 24;
	for (int i = 0; i < 64; i++) {
		u32 f, g, t;

		if (i < 16) {
			f = (b & c) | (~b & d);
			g = i;
		} else if (i < 32) {
			f = (d & b) | (~d & c);
			g = (5 * i + 1) & 15;
		} else if (i < 48) {
			f = b ^ c ^ d;
			g = (3 * i + 5) & 15;
		} else {
			f = c ^ (b | ~d);
			g = (7 * i) & 15;
		}
		t = d;
		d = c;
		c = b;
		f += a + K[i] + w[g];
		b += (f << R[i]) | (f >> (32 - R[i]));
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
}

void md5_init(struct md5 *m)
{
	m->h[0] = 0x67452301;
	m->h[1] = 0xefcdab89;
	m->h[2] = 0x98badcfe;
	m->h[3] = 0x10325476;
	m->len = 0;
}

void md5_update(struct md5 *m, const void *data, u64 n)
{
	const u8 *p = data;
	u32 fill = m->len & 63;

	m->len += n;
	if (fill) {
		u32 take = 64 - fill < n ? 64 - fill : (u32)n;

		memcpy(m->buf + fill, p, take);
		p += take;
		n -= take;
		if (fill + take < 64)
			return;
		md5_block(m->h, m->buf);
	}
	for (; n >= 64; n -= 64, p += 64)
		md5_block(m->h, p);
	memcpy(m->buf, p, n);
}

void md5_final(struct md5 *m, u8 out[16])
{
	u64 bits = m->len * 8;
	u8 pad[72] = { 0x80 };
	u32 fill = m->len & 63;
	u32 padlen = fill < 56 ? 56 - fill : 120 - fill;

	for (int i = 0; i < 8; i++)
		pad[padlen + i] = (u8)(bits >> (8 * i));
	md5_update(m, pad, padlen + 8);
	for (int i = 0; i < 16; i++)
		out[i] = (u8)(m->h[i / 4] >> (8 * (i % 4)));
}
