/*
 * The parser of the QMP JSON splitter: recursive descent over the tokens of
 * one complete message, which json-splitter.c's lexer and streamer have
 * collected (so nesting is already bounded by its max_depth), building a
 * JsonNode; the first error wins and has QEMU's json-parser text. Strings
 * are decoded here (escapes, surrogate pairs, UTF-8 validation).
 */
#include <errno.h>
#include <string.h>

#include "qmp/json-parser.h"
#include "qmp/json-splitter.h"

typedef struct {
    const char *text;
    const Token *toks;
    size_t n, pos;
    GError *err;
    int depth;          /* of the object being parsed (1: the message) */
    char *raw_id;       /* the message's numeric "id" as written */
} Parser;

static void parse_error(Parser *p, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void parse_error(Parser *p, const char *fmt, ...)
{
    va_list ap;
    char *m;
    if (p->err) {
        return;                 /* the first error wins, as in QEMU */
    }
    va_start(ap, fmt);
    m = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    p->err = g_error_new(JSON_SPLITTER_ERROR, JSON_SPLITTER_ERROR_PARSE,
                         "JSON parse error, %s", m);
    g_free(m);
}

static const Token *peek_tok(Parser *p)
{
    return p->pos < p->n ? &p->toks[p->pos] : NULL;
}

static const Token *pop_tok(Parser *p)
{
    return p->pos < p->n ? &p->toks[p->pos++] : NULL;
}

/* pop_tok() for a token that must be there: running out is premature EOI. */
static const Token *pop_tok_or_eoi(Parser *p)
{
    const Token *t = pop_tok(p);

    if (!t) {
        parse_error(p, "premature EOI");
    }
    return t;
}

static const char *tok_text(Parser *p, const Token *t)
{
    return p->text + t->off;
}

static JsonNode *parse_value(Parser *p);

static int cvt4hex(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(s[i]);
        if (h < 0) {
            return -1;
        }
        v = (v << 4) | h;
    }
    return v;
}

/* Decodes a quoted string token (lexically valid). */
static JsonNode *parse_string(Parser *p, const Token *t)
{
    const char *txt = tok_text(p, t);
    const char *ptr = txt + 1;
    const char *end = txt + t->len - 1;     /* the closing quote */
    GString *out = g_string_sized_new(t->len);
    JsonNode *node;

    while (ptr < end) {
        if (*ptr == '\\') {
            const char *beg = ptr;
            ptr++;
            switch (*ptr++) {
            case '"': g_string_append_c(out, '"'); break;
            case '\'': g_string_append_c(out, '\''); break;
            case '\\': g_string_append_c(out, '\\'); break;
            case '/': g_string_append_c(out, '/'); break;
            case 'b': g_string_append_c(out, '\b'); break;
            case 'f': g_string_append_c(out, '\f'); break;
            case 'n': g_string_append_c(out, '\n'); break;
            case 'r': g_string_append_c(out, '\r'); break;
            case 't': g_string_append_c(out, '\t'); break;
            case 'u': {
                long cp = cvt4hex(ptr);
                ptr += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && ptr + 6 <= end &&
                    ptr[0] == '\\' && ptr[1] == 'u') {
                    int trail = cvt4hex(ptr + 2);
                    if (trail >= 0xDC00 && trail <= 0xDFFF) {
                        cp = 0x10000 + ((cp & 0x3FF) << 10) + (trail & 0x3FF);
                        ptr += 6;
                    } else {
                        cp = -1;
                    }
                }
                /* NUL cannot live in a C string: rejected like a surrogate. */
                if (cp <= 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
                    parse_error(p, "%.*s is not a valid Unicode character",
                                (int)(ptr - beg), beg);
                    g_string_free(out, TRUE);
                    return NULL;
                }
                g_string_append_unichar(out, (gunichar)cp);
                break;
            }
            default:
                /* The lexer only lets valid escapes through. */
                parse_error(p, "invalid escape sequence in string");
                g_string_free(out, TRUE);
                return NULL;
            }
        } else {
            const char *seg = ptr;
            while (ptr < end && *ptr != '\\') {
                ptr++;
            }
            if (!g_utf8_validate(seg, ptr - seg, NULL)) {
                parse_error(p, "invalid UTF-8 sequence in string");
                g_string_free(out, TRUE);
                return NULL;
            }
            g_string_append_len(out, seg, ptr - seg);
        }
    }
    node = json_node_new(JSON_NODE_VALUE);
    json_node_set_string(node, out->str);
    g_string_free(out, TRUE);
    return node;
}

static JsonNode *parse_number(Parser *p, const Token *t)
{
    char *txt = g_strndup(tok_text(p, t), t->len);
    JsonNode *node = json_node_new(JSON_NODE_VALUE);
    if (t->type == TK_INTEGER) {
        char *endp;
        gint64 v;
        errno = 0;
        v = g_ascii_strtoll(txt, &endp, 10);
        if (errno == 0 && *endp == '\0') {
            json_node_set_int(node, v);
            g_free(txt);
            return node;
        }
        /* Out of int64 range: QEMU keeps uint64 exactly; we use a double. */
    }
    json_node_set_double(node, g_ascii_strtod(txt, NULL));
    g_free(txt);
    return node;
}

static JsonNode *parse_keyword(Parser *p, const Token *t)
{
    const char *txt = tok_text(p, t);
    JsonNode *node;
    if (t->len == 4 && !memcmp(txt, "true", 4)) {
        node = json_node_new(JSON_NODE_VALUE);
        json_node_set_boolean(node, TRUE);
    } else if (t->len == 5 && !memcmp(txt, "false", 5)) {
        node = json_node_new(JSON_NODE_VALUE);
        json_node_set_boolean(node, FALSE);
    } else if (t->len == 4 && !memcmp(txt, "null", 4)) {
        node = json_node_new(JSON_NODE_NULL);
    } else {
        parse_error(p, "invalid keyword '%.*s'", (int)t->len, txt);
        return NULL;
    }
    return node;
}

/* One "key": value member of an object (obj is the JsonObject). */
static bool parse_pair(Parser *p, void *obj)
{
    const Token *peek = peek_tok(p), *t;
    JsonNode *key, *value;
    char *k;

    if (!peek) {
        parse_error(p, "premature EOI");
        return false;
    }
    key = parse_value(p);
    if (!key || json_node_get_value_type(key) != G_TYPE_STRING) {
        parse_error(p, "key is not a string in object");
        if (key) {
            json_node_unref(key);
        }
        return false;
    }
    k = json_node_dup_string(key);
    json_node_unref(key);

    t = pop_tok_or_eoi(p);
    if (!t) {
        goto fail;
    }
    if (t->type != TK_COLON) {
        parse_error(p, "missing : in object pair");
        goto fail;
    }
    t = peek_tok(p);
    if (t && p->depth == 1 && !strcmp(k, "id") && !p->raw_id &&
        (t->type == TK_INTEGER || t->type == TK_FLOAT)) {
        /* json-glib keeps numbers as int64 or double: keep the text to echo. */
        p->raw_id = g_strndup(tok_text(p, t), t->len);
    }
    value = parse_value(p);
    if (!value) {
        parse_error(p, "Missing value in dict");
        goto fail;
    }
    if (json_object_has_member(obj, k)) {
        parse_error(p, "duplicate key");
        json_node_unref(value);
        goto fail;
    }
    json_object_set_member(obj, k, value);
    g_free(k);
    return true;

fail:
    g_free(k);
    return false;
}

/*
 * The rest of an object or array once its opening token is popped: the
 * closing token at once, or elements separated by commas up to it. elem
 * parses one element into container; sep_error says what a token that is
 * neither comma nor closing token lacks.
 */
static bool parse_elements(Parser *p, TokType close, bool (*elem)(Parser *, void *),
                           void *container, const char *sep_error)
{
    const Token *t = peek_tok(p);

    if (!t) {
        parse_error(p, "premature EOI");
        return false;
    }
    if (t->type == close) {
        pop_tok(p);
        return true;
    }
    for (;;) {
        if (!elem(p, container)) {
            return false;
        }
        t = pop_tok_or_eoi(p);
        if (!t) {
            return false;
        }
        if (t->type == close) {
            return true;
        }
        if (t->type != TK_COMMA) {
            parse_error(p, "%s", sep_error);
            return false;
        }
    }
}

static bool parse_array_element(Parser *p, void *arr)
{
    JsonNode *v = parse_value(p);

    if (!v) {
        parse_error(p, "expecting value");
        return false;
    }
    json_array_add_element(arr, v);
    return true;
}

static JsonNode *parse_object(Parser *p)
{
    JsonObject *obj = json_object_new();
    JsonNode *node;

    pop_tok(p);                 /* '{' */
    p->depth++;
    if (!parse_elements(p, TK_RCURLY, parse_pair, obj, "expected separator in dict")) {
        p->depth--;
        json_object_unref(obj);
        return NULL;
    }
    p->depth--;
    node = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(node, obj);
    return node;
}

static JsonNode *parse_array(Parser *p)
{
    JsonArray *arr = json_array_new();
    JsonNode *node;

    pop_tok(p);                 /* '[' */
    if (!parse_elements(p, TK_RSQUARE, parse_array_element, arr,
                        "expected separator in list")) {
        json_array_unref(arr);
        return NULL;
    }
    node = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(node, arr);
    return node;
}

static JsonNode *parse_value(Parser *p)
{
    const Token *t = peek_tok(p);
    if (!t) {
        parse_error(p, "premature EOI");
        return NULL;
    }
    switch (t->type) {
    case TK_LCURLY:
        return parse_object(p);
    case TK_LSQUARE:
        return parse_array(p);
    case TK_STRING:
        pop_tok(p);
        return parse_string(p, t);
    case TK_INTEGER:
    case TK_FLOAT:
        pop_tok(p);
        return parse_number(p, t);
    case TK_KEYWORD:
        pop_tok(p);
        return parse_keyword(p, t);
    default:
        parse_error(p, "expecting value");
        return NULL;
    }
}

JsonNode *json_parse_tokens(const char *text, const Token *toks, size_t n, char **raw_id,
                            GError **err)
{
    Parser p = {
        .text = text,
        .toks = toks,
        .n = n,
    };
    JsonNode *v = parse_value(&p);
    if (!v) {
        if (!p.err) {
            parse_error(&p, "expecting value");
        }
        g_free(p.raw_id);
        g_propagate_error(err, p.err);
        return NULL;
    }
    g_clear_error(&p.err);
    if (raw_id) {
        *raw_id = p.raw_id;
    } else {
        g_free(p.raw_id);
    }
    return v;
}
