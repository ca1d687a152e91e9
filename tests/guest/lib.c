/* Freestanding helpers: memory/string functions gcc may call, number parsing,
 * a small printf to COM1, CRC-32 and the mem pattern. */
#include "guest.h"

void *memset(void *d, int c, size_t n)
{
	u8 *p = d;

	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	u8 *p = d;
	const u8 *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *p = a, *q = b;

	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (u8)*a - (u8)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

/* Decimal, or hex with a 0x prefix.  Returns 0 if no digit or on overflow. */
int parse_u64(const char *s, const char **end, u64 *out)
{
	unsigned base = 10;
	u64 v = 0;
	int any = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (int d; (d = digit_value(*s)) < (int)base; s++, any = 1) {
		if (v > (~0ULL - d) / base)
			return 0;
		v = v * base + d;
	}
	*end = s;
	*out = v;
	return any;
}

char *arg_skip(char *s)
{
	while (*s == ' ')
		s++;
	return s;
}

char *arg_word(char **s)
{
	char *w = arg_skip(*s), *e = w;

	while (*e && *e != ' ')
		e++;
	if (*e)
		*e++ = 0;
	*s = e;
	return w;
}

int arg_u64(char **s, u64 *v)
{
	const char *end;
	char *w = arg_word(s);

	return *w && parse_u64(w, &end, v) && !*end;
}

int arg_end(char *s)
{
	return !*arg_skip(s);
}

u64 splitmix64(u64 z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static u32 crc_table[256];

static void crc32_init(void)
{
	for (u32 i = 0; i < 256; i++) {
		u32 c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320U ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* zlib-compatible: crc32_update(0, p, n) == zlib.crc32(p). */
u32 crc32_update(u32 crc, const u8 *p, u64 n)
{
	if (!crc_table[1])
		crc32_init();
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
	return ~crc;
}

/* ---- printf subset: %s %c %d %u %x %lu %lx %llu %llx, optional 0-pad width ---- */
static void put_str(const char *s)
{
	while (*s)
		uart_putc(*s++);
}

static void put_num(u64 v, unsigned base, int width, char pad)
{
	char buf[24];
	int n = 0;

	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (width-- > n)
		uart_putc(pad);
	while (n)
		uart_putc(buf[--n]);
}

static u64 take_unsigned(va_list *ap, int longs)
{
	return longs ? va_arg(*ap, u64) : va_arg(*ap, unsigned);
}

static const char *format_one(const char *f, va_list *ap)
{
	int width = 0, longs = 0;
	char pad = ' ';

	if (*f == '0')
		pad = *f++;
	while (*f >= '0' && *f <= '9')
		width = width * 10 + (*f++ - '0');
	while (*f == 'l')
		longs++, f++;
	switch (*f) {
	case 's': put_str(va_arg(*ap, const char *)); break;
	case 'c': uart_putc((char)va_arg(*ap, int)); break;
	case 'u': put_num(take_unsigned(ap, longs), 10, width, pad); break;
	case 'x': put_num(take_unsigned(ap, longs), 16, width, pad); break;
	case 'd': {
		long long v = longs ? va_arg(*ap, long long) : va_arg(*ap, int);

		if (v < 0)
			uart_putc('-');
		put_num(v < 0 ? -(u64)v : (u64)v, 10, width, pad);
		break;
	}
	default: uart_putc(*f); break;
	}
	return f + 1;
}

void kvprintf(const char *fmt, va_list ap)
{
	va_list aq;

	va_copy(aq, ap);
	while (*fmt) {
		if (*fmt != '%')
			uart_putc(*fmt++);
		else
			fmt = format_one(fmt + 1, &aq);
	}
	va_end(aq);
}

void kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}
