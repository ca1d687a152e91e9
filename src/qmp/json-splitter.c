/*
 * Streaming JSON splitter + parser for QMP input. See json-splitter.h.
 *
 * Structure (mirrors QEMU's json-lexer / json-streamer / json-parser split):
 *   lexer    byte-at-a-time state machine producing tokens; a lexical error
 *            yields "JSON parse error, stray '<token so far>'" and puts the
 *            lexer in recovery (skip to a structural/control character).
 *   streamer counts braces/brackets; a token that brings both counts to zero
 *            (or makes one negative) completes a message.
 *   parser   recursive descent over the collected tokens (depth is bounded by
 *            max_depth, so recursion is safe) building a JsonNode: in
 *            json-parser.c; this file is the lexer and the streamer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/json-parser.h"
#include "qmp/json-splitter.h"

G_DEFINE_QUARK(stratus-json-splitter-error, json_splitter_error)

typedef enum {
    LX_START,
    LX_STRING,          /* inside a quoted string; quote char in s->quote */
    LX_ESCAPE,
    LX_UHEX,            /* \u followed by s->uhex hex digits so far */
    LX_NEG,
    LX_ZERO,
    LX_NONZERO,
    LX_MANT,
    LX_MANT_DIGITS,
    LX_EXP,
    LX_EXP_SIGN,
    LX_EXP_DIGITS,
    LX_KEYWORD,
    LX_RECOVERY,
} LexState;

struct JsonSplitter {
    size_t max_message;
    unsigned max_depth;

    GByteArray *in;     /* fed, not yet consumed input starts at in_pos */
    size_t in_pos;

    LexState state;
    char quote;
    int uhex;
    GString *tok;       /* text of the token being lexed */

    /* The message being assembled. */
    bool in_message;
    bool discarding;    /* limit exceeded: lex to the end, store nothing */
    size_t msg_bytes;
    int brace, bracket;
    GString *msg;       /* concatenated token texts */
    GArray *tokens;     /* Token */

    /* One emission per json_splitter_next(). */
    bool emitted;
    JsonNode *out_msg;
    GError *out_err;
    char *out_raw_id;   /* of out_msg */
    char *raw_id;       /* of the message last returned */
};

JsonSplitter *json_splitter_new(size_t max_message, unsigned max_depth)
{
    JsonSplitter *s = g_new0(JsonSplitter, 1);
    s->max_message = max_message ? max_message : JSON_SPLITTER_DEFAULT_MAX_MESSAGE;
    s->max_depth = max_depth ? max_depth : JSON_SPLITTER_DEFAULT_MAX_DEPTH;
    s->in = g_byte_array_new();
    s->tok = g_string_new(NULL);
    s->msg = g_string_new(NULL);
    s->tokens = g_array_new(FALSE, FALSE, sizeof(Token));
    s->state = LX_START;
    return s;
}

void json_splitter_free(JsonSplitter *s)
{
    if (!s) {
        return;
    }
    g_byte_array_unref(s->in);
    g_string_free(s->tok, TRUE);
    g_string_free(s->msg, TRUE);
    g_array_unref(s->tokens);
    if (s->out_msg) {
        json_node_unref(s->out_msg);
    }
    g_clear_error(&s->out_err);
    g_free(s->out_raw_id);
    g_free(s->raw_id);
    g_free(s);
}

static void message_reset(JsonSplitter *s)
{
    s->in_message = false;
    s->discarding = false;
    s->msg_bytes = 0;
    s->brace = s->bracket = 0;
    g_string_truncate(s->msg, 0);
    g_array_set_size(s->tokens, 0);
    /* Don't keep megabytes around after one big message. */
    if (s->msg->allocated_len > 65536) {
        g_string_free(s->msg, TRUE);
        s->msg = g_string_new(NULL);
    }
}

void json_splitter_reset(JsonSplitter *s)
{
    g_byte_array_set_size(s->in, 0);
    s->in_pos = 0;
    s->state = LX_START;
    g_string_truncate(s->tok, 0);
    message_reset(s);
}

void json_splitter_feed(JsonSplitter *s, const void *buf, size_t len)
{
    if (len) {
        g_byte_array_append(s->in, buf, len);
    }
}

size_t json_splitter_unconsumed(const JsonSplitter *s)
{
    return s->in->len - s->in_pos;
}

static void emit_error(JsonSplitter *s, int code, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void emit_error(JsonSplitter *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_assert(!s->emitted);
    s->out_err = g_error_new_valist(JSON_SPLITTER_ERROR, code, fmt, ap);
    s->emitted = true;
    va_end(ap);
}

/*
 * Makes arbitrary bytes printable in an error text the way QEMU's output does:
 * stops at NUL (QEMU formats the token with %s) and replaces every byte that
 * does not start a valid UTF-8 sequence with U+FFFD.
 */
static char *sanitize_bytes(const char *p, size_t len)
{
    GString *out = g_string_new(NULL);
    const char *end = p + strnlen(p, len);
    while (p < end) {
        const char *next;
        gunichar c = g_utf8_get_char_validated(p, end - p);
        if (c == (gunichar)-1 || c == (gunichar)-2) {
            g_string_append_unichar(out, 0xFFFD);
            p++;
            continue;
        }
        next = g_utf8_next_char(p);
        g_string_append_len(out, p, next - p);
        p = next;
    }
    return g_string_free(out, FALSE);
}

/* The collected message to the parser (json-parser.c): one value or one error. */
static void parse_message(JsonSplitter *s)
{
    GError *err = NULL;
    JsonNode *v = json_parse_tokens(s->msg->str, (const Token *)s->tokens->data,
                                    s->tokens->len, &s->out_raw_id, &err);
    g_assert(!s->emitted);
    if (!v) {
        s->out_err = err;
    } else {
        s->out_msg = v;
    }
    s->emitted = true;
}

/* ------------------------------------------------------------------------ */
/* Streamer                                                                 */

/*
 * A limit was exceeded: report it and drop what is stored of this message.
 * The brace/bracket counts stay, so lexing goes on to the end of the value
 * and the stream resynchronises there.
 */
static void start_discarding(JsonSplitter *s, int code, const char *why)
{
    emit_error(s, code, "%s", why);
    s->discarding = true;
    g_string_truncate(s->msg, 0);
    g_array_set_size(s->tokens, 0);
    g_string_truncate(s->tok, 0);
}

static void token_done(JsonSplitter *s, TokType type)
{
    Token t;
    bool complete;

    s->state = LX_START;
    switch (type) {
    case TK_LCURLY: s->brace++; break;
    case TK_RCURLY: s->brace--; break;
    case TK_LSQUARE: s->bracket++; break;
    case TK_RSQUARE: s->bracket--; break;
    default: break;
    }
    complete = !((s->brace > 0 || s->bracket > 0) &&
                 s->brace >= 0 && s->bracket >= 0);

    if (s->discarding) {
        if (complete) {
            message_reset(s);
        }
        g_string_truncate(s->tok, 0);
        return;
    }
    if (s->brace + s->bracket > (int)s->max_depth) {
        start_discarding(s, JSON_SPLITTER_ERROR_TOO_DEEP,
                         "JSON nesting depth limit exceeded");
        return;
    }
    t.type = type;
    t.off = s->msg->len;
    t.len = s->tok->len;
    g_string_append_len(s->msg, s->tok->str, s->tok->len);
    g_array_append_val(s->tokens, t);
    g_string_truncate(s->tok, 0);

    if (complete) {
        parse_message(s);
        message_reset(s);
    }
}

/* Reports the token lexed so far as stray (nothing, if the message is dropped). */
static void emit_stray(JsonSplitter *s)
{
    if (!s->discarding) {
        char *txt = sanitize_bytes(s->tok->str, s->tok->len);
        emit_error(s, JSON_SPLITTER_ERROR_PARSE,
                   "JSON parse error, stray '%s'", txt);
        g_free(txt);
    }
}

static void lex_error(JsonSplitter *s)
{
    s->state = LX_RECOVERY;
    emit_stray(s);
    g_string_truncate(s->tok, 0);
    message_reset(s);
}

/* A byte that belongs to the message was consumed. */
static void take(JsonSplitter *s, guint8 ch)
{
    if (!s->in_message) {
        s->in_message = true;
        s->msg_bytes = 0;
    }
    if (s->discarding) {
        return;
    }
    if (++s->msg_bytes > s->max_message) {
        start_discarding(s, JSON_SPLITTER_ERROR_TOO_LONG, "The socket message is too long.");
        return;
    }
    g_string_append_c(s->tok, (char)ch);
}

static bool is_digit(guint8 c)
{
    return c >= '0' && c <= '9';
}

/* Processes one byte; returns true if it was consumed (false: lookahead). */
static bool step(JsonSplitter *s, guint8 ch)
{
    switch (s->state) {
    case LX_START:
        switch (ch) {
        case ' ': case '\t': case '\r': case '\n':
            /* Whitespace inside a message counts towards its size. */
            if (s->in_message && !s->discarding &&
                ++s->msg_bytes > s->max_message) {
                /* Between tokens: s->tok is empty already. */
                start_discarding(s, JSON_SPLITTER_ERROR_TOO_LONG,
                                 "The socket message is too long.");
            }
            return true;
        case '{': take(s, ch); token_done(s, TK_LCURLY); return true;
        case '}': take(s, ch); token_done(s, TK_RCURLY); return true;
        case '[': take(s, ch); token_done(s, TK_LSQUARE); return true;
        case ']': take(s, ch); token_done(s, TK_RSQUARE); return true;
        case ',': take(s, ch); token_done(s, TK_COMMA); return true;
        case ':': take(s, ch); token_done(s, TK_COLON); return true;
        case '"': case '\'':
            take(s, ch);
            s->quote = (char)ch;
            s->state = LX_STRING;
            return true;
        case '-': take(s, ch); s->state = LX_NEG; return true;
        case '0': take(s, ch); s->state = LX_ZERO; return true;
        default:
            if (ch >= '1' && ch <= '9') {
                take(s, ch);
                s->state = LX_NONZERO;
            } else if (ch >= 'a' && ch <= 'z') {
                take(s, ch);
                s->state = LX_KEYWORD;
            } else {
                take(s, ch);
                lex_error(s);
            }
            return true;
        }

    case LX_STRING:
        take(s, ch);
        if (ch < 0x20 || ch >= 0xFE) {
            lex_error(s);
        } else if (ch == '\\') {
            s->state = LX_ESCAPE;
        } else if (ch == (guint8)s->quote) {
            token_done(s, TK_STRING);
        }
        return true;

    case LX_ESCAPE:
        take(s, ch);
        if (ch == 'u') {
            s->uhex = 0;
            s->state = LX_UHEX;
        } else if (ch && strchr("\"'\\/bfnrt", ch)) {
            s->state = LX_STRING;
        } else {
            lex_error(s);
        }
        return true;

    case LX_UHEX:
        take(s, ch);
        if (hexval((char)ch) < 0) {
            lex_error(s);
        } else if (++s->uhex == 4) {
            s->state = LX_STRING;
        }
        return true;

    case LX_NEG:
        take(s, ch);
        if (ch == '0') {
            s->state = LX_ZERO;
        } else if (ch >= '1' && ch <= '9') {
            s->state = LX_NONZERO;
        } else {
            lex_error(s);
        }
        return true;

    case LX_ZERO:
    case LX_NONZERO:
        if (is_digit(ch)) {
            take(s, ch);
            if (s->state == LX_ZERO) {
                lex_error(s);   /* leading zero */
            }
            return true;
        }
        if (ch == '.') {
            take(s, ch);
            s->state = LX_MANT;
            return true;
        }
        if (ch == 'e' || ch == 'E') {
            take(s, ch);
            s->state = LX_EXP;
            return true;
        }
        token_done(s, TK_INTEGER);
        return false;

    case LX_MANT:
        take(s, ch);
        if (is_digit(ch)) {
            s->state = LX_MANT_DIGITS;
        } else {
            lex_error(s);
        }
        return true;

    case LX_MANT_DIGITS:
        if (is_digit(ch)) {
            take(s, ch);
            return true;
        }
        if (ch == 'e' || ch == 'E') {
            take(s, ch);
            s->state = LX_EXP;
            return true;
        }
        token_done(s, TK_FLOAT);
        return false;

    case LX_EXP:
        take(s, ch);
        if (ch == '+' || ch == '-') {
            s->state = LX_EXP_SIGN;
        } else if (is_digit(ch)) {
            s->state = LX_EXP_DIGITS;
        } else {
            lex_error(s);
        }
        return true;

    case LX_EXP_SIGN:
        take(s, ch);
        if (is_digit(ch)) {
            s->state = LX_EXP_DIGITS;
        } else {
            lex_error(s);
        }
        return true;

    case LX_EXP_DIGITS:
        if (is_digit(ch)) {
            take(s, ch);
            return true;
        }
        token_done(s, TK_FLOAT);
        return false;

    case LX_KEYWORD:
        if (ch >= 'a' && ch <= 'z') {
            take(s, ch);
            return true;
        }
        token_done(s, TK_KEYWORD);
        return false;

    case LX_RECOVERY:
        /*
         * Skip to a promising resynchronization point: a structural
         * character, a control character other than TAB (so a newline), or
         * one of the impossible UTF-8 bytes 0xFE/0xFF.
         */
        if (ch == '{' || ch == '}' || ch == '[' || ch == ']' ||
            (ch < 0x20 && ch != '\t') || ch >= 0xFE) {
            s->state = LX_START;
            if (ch == '\r' || ch == '\n') {
                return true;
            }
            return false;
        }
        return true;
    }
    g_assert_not_reached();
}

static bool take_output(JsonSplitter *s, JsonNode **msg, GError **err)
{
    s->emitted = false;
    g_free(s->raw_id);
    s->raw_id = s->out_raw_id;
    s->out_raw_id = NULL;
    if (s->out_err) {
        g_propagate_error(err, s->out_err);
        s->out_err = NULL;
        if (msg) {
            *msg = NULL;
        }
    } else {
        *msg = s->out_msg;
        s->out_msg = NULL;
    }
    return true;
}

static void compact_input(JsonSplitter *s)
{
    if (s->in_pos == s->in->len) {
        if (s->in->len > 65536) {
            /* don't keep a flood's worth of memory around */
            g_byte_array_unref(s->in);
            s->in = g_byte_array_new();
        } else {
            g_byte_array_set_size(s->in, 0);
        }
        s->in_pos = 0;
    } else if (s->in_pos > 65536) {
        g_byte_array_remove_range(s->in, 0, s->in_pos);
        s->in_pos = 0;
    }
}

bool json_splitter_next(JsonSplitter *s, JsonNode **msg, GError **err)
{
    if (msg) {
        *msg = NULL;
    }
    while (s->in_pos < s->in->len) {
        if (step(s, s->in->data[s->in_pos])) {
            s->in_pos++;
        }
        if (s->emitted) {
            compact_input(s);
            return take_output(s, msg, err);
        }
    }
    compact_input(s);
    return false;
}

bool json_splitter_finish(JsonSplitter *s, JsonNode **msg, GError **err)
{
    if (json_splitter_next(s, msg, err)) {
        return true;
    }
    switch (s->state) {
    case LX_ZERO:
    case LX_NONZERO:
        token_done(s, TK_INTEGER);
        break;
    case LX_MANT_DIGITS:
    case LX_EXP_DIGITS:
        token_done(s, TK_FLOAT);
        break;
    case LX_KEYWORD:
        token_done(s, TK_KEYWORD);
        break;
    case LX_START:
    case LX_RECOVERY:
        break;
    default:
        /* Inside a string or a number that needs more characters. */
        emit_stray(s);
        break;
    }
    if (!s->emitted && !s->discarding && s->tokens->len) {
        parse_message(s);
    }
    s->state = LX_START;
    g_string_truncate(s->tok, 0);
    message_reset(s);
    if (s->emitted) {
        return take_output(s, msg, err);
    }
    return false;
}

const char *json_splitter_raw_id(const JsonSplitter *s)
{
    return s->raw_id;
}

JsonNode *json_parse_qmp(const char *buf, size_t len, GError **err)
{
    JsonSplitter *s = json_splitter_new(SIZE_MAX, JSON_SPLITTER_DEFAULT_MAX_DEPTH);
    JsonNode *msg = NULL;
    GError *e = NULL;

    json_splitter_feed(s, buf, len);
    if (!json_splitter_next(s, &msg, &e) && !json_splitter_finish(s, &msg, &e)) {
        g_set_error(&e, JSON_SPLITTER_ERROR, JSON_SPLITTER_ERROR_PARSE,
                    "JSON parse error, premature EOI");
    }
    json_splitter_free(s);
    if (e) {
        g_propagate_error(err, e);
        return NULL;
    }
    return msg;
}
