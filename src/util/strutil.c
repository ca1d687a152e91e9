/*
 * Small shared helpers: the STRATUS_ERROR domain, size, integer and boolean
 * parsing. Everything here is pure (no I/O, no logging) so it can be unit
 * tested in isolation.
 */
#include <stdarg.h>
#include <string.h>

#include "util/strutil.h"

G_DEFINE_QUARK(stratus-error-quark, stratus_error)

/*
 * Parse a run of digits in the given base (10 or 16) covering the whole of
 * [str, end). Rejects empty runs and overflow.
 */
static bool parse_digits(const char *str, const char *end, unsigned base,
                         uint64_t *out)
{
    uint64_t v = 0;

    if (str == end) {
        return false;
    }
    for (const char *p = str; p < end; p++) {
        unsigned d;

        if (*p >= '0' && *p <= '9') {
            d = (unsigned)(*p - '0');
        } else if (base == 16 && *p >= 'a' && *p <= 'f') {
            d = (unsigned)(*p - 'a' + 10);
        } else if (base == 16 && *p >= 'A' && *p <= 'F') {
            d = (unsigned)(*p - 'A' + 10);
        } else {
            return false;
        }
        if (v > (UINT64_MAX - d) / base) {
            return false;
        }
        v = v * base + d;
    }
    *out = v;
    return true;
}

bool parse_uint(const char *str, uint64_t *out)
{
    uint64_t v;

    if (!str || !*str) {
        return false;
    }
    if (str[0] == '0' && (str[1] == 'x' || str[1] == 'X')) {
        if (!parse_digits(str + 2, str + strlen(str), 16, &v)) {
            return false;
        }
    } else if (!parse_digits(str, str + strlen(str), 10, &v)) {
        return false;
    }
    *out = v;
    return true;
}

bool parse_size(const char *str, uint64_t default_unit, uint64_t *out, GError **err)
{
    const char *end;
    uint64_t num, unit;
    size_t len;

    if (!str || !*str) {
        set_error(err, "empty size");
        return false;
    }
    if (str[0] == '-') {
        set_error(err, "size '%s' must not be negative", str);
        return false;
    }
    len = strlen(str);
    end = str + len;
    switch (str[len - 1]) {
    case 'b': case 'B':             /* QEMU's explicit bytes */
        unit = 1;
        end--;
        break;
    case 'k': case 'K':
        unit = 1ULL << 10;
        end--;
        break;
    case 'm': case 'M':
        unit = 1ULL << 20;
        end--;
        break;
    case 'g': case 'G':
        unit = 1ULL << 30;
        end--;
        break;
    default:
        unit = default_unit;
        break;
    }
    if (end == str) {
        set_error(err, "size '%s' has no number", str);
        return false;
    }
    for (const char *p = str; p < end; p++) {
        if (*p < '0' || *p > '9') {
            set_error(err, "size '%s' is not a number with an optional B, K, M or G suffix",
                      str);
            return false;
        }
    }
    if (!parse_digits(str, end, 10, &num)) {
        set_error(err, "size '%s' is too large", str);
        return false;
    }
    if (unit != 0 && num > UINT64_MAX / unit) {
        set_error(err, "size '%s' is too large", str);
        return false;
    }
    *out = num * unit;
    return true;
}

bool id_wellformed(const char *id)
{
    if (!g_ascii_isalpha(id[0])) {
        return false;
    }
    for (const char *p = id + 1; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("-._", *p)) {
            return false;
        }
    }
    return true;
}

bool parse_bool(const char *str, bool *out)
{
    static const char *const yes[] = { "on", "yes", "true", "unmap" };
    static const char *const no[] = { "off", "no", "false", "ignore" };

    if (!str) {
        return false;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
        if (strcmp(str, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(str, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

void set_error_errno(GError **err, int errnum, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    set_error(err, "%s: %s", msg, g_strerror(errnum));
}

char *size_to_str(uint64_t v)
{
    static const char *const suffixes[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
    double threshold = 1000.0;
    unsigned i = 0;

    while (i + 1 < G_N_ELEMENTS(suffixes) && (double)v >= threshold) {
        i++;
        threshold *= 1024.0;
    }
    return g_strdup_printf("%0.3g %sB", (double)v / (double)(1ull << (10 * i)),
                           suffixes[i]);
}
