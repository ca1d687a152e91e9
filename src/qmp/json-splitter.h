/*
 * Streaming JSON splitter and parser for QMP input (no I/O, unit-testable).
 *
 * Bytes are fed in whatever chunks the transport delivers; complete top-level
 * JSON values are pulled out one at a time with json_splitter_next(). The
 * lexer follows QEMU's json-lexer/json-streamer: brace/bracket counting (no
 * line framing), double- and single-quoted strings, '\'' escapes, recovery
 * after a lexical error (skip to a structural or control character), and the
 * same error texts ("JSON parse error, expecting value", "... stray '%s'",
 * "JSON nesting depth limit exceeded", ...).
 *
 * Limits:
 *  - max_message: bytes of one message, counted from its first byte. A longer
 *    message produces ONE error "The socket message is too long." (StratoVirt's
 *    text) as soon as the limit is crossed; the rest of that value is lexed but
 *    not stored and is dropped, then the next message is served normally.
 *  - max_depth: nesting of {} and [] together (QEMU: 1024). Exceeding it gives
 *    "JSON nesting depth limit exceeded" and, likewise, the rest of the value
 *    is discarded (QEMU would instead reparse the tail and emit junk errors).
 */
#ifndef STRATUS_JSON_SPLITTER_H
#define STRATUS_JSON_SPLITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#define JSON_SPLITTER_DEFAULT_MAX_MESSAGE 8192
#define JSON_SPLITTER_DEFAULT_MAX_DEPTH   1024

#define JSON_SPLITTER_ERROR json_splitter_error_quark()
GQuark json_splitter_error_quark(void);

typedef enum {
    JSON_SPLITTER_ERROR_PARSE,       /* lexical or syntax error */
    JSON_SPLITTER_ERROR_TOO_LONG,    /* max_message exceeded */
    JSON_SPLITTER_ERROR_TOO_DEEP,    /* max_depth exceeded */
} JsonSplitterErrorCode;

typedef struct JsonSplitter JsonSplitter;

JsonSplitter *json_splitter_new(size_t max_message, unsigned max_depth);
void json_splitter_free(JsonSplitter *s);

/* Appends input; nothing is parsed until json_splitter_next(). */
void json_splitter_feed(JsonSplitter *s, const void *buf, size_t len);

/*
 * Consumes input until one complete message or one error is found.
 * Returns true with exactly one of *msg (a value of any JSON type, owned by
 * the caller) or *err set; false when more input is needed (all fed input has
 * been consumed into the pending state).
 */
bool json_splitter_next(JsonSplitter *s, JsonNode **msg, GError **err);

/*
 * End of input: completes a pending number/keyword and reports a partial
 * message ("JSON parse error, premature EOI"). Returns like _next().
 */
bool json_splitter_finish(JsonSplitter *s, JsonNode **msg, GError **err);

/*
 * The "id" of the message json_splitter_next() returned last, as written,
 * when it is a number (json-glib's int64/double would turn 1e400, 2^64 or -0
 * into something else); NULL otherwise. Valid until the next call.
 */
const char *json_splitter_raw_id(const JsonSplitter *s);

/* Fed bytes not yet consumed by the lexer. */
size_t json_splitter_unconsumed(const JsonSplitter *s);

/* Drops all pending input and state. */
void json_splitter_reset(JsonSplitter *s);

/* Parses one complete buffer as exactly one JSON value (helper for tests). */
JsonNode *json_parse_qmp(const char *buf, size_t len, GError **err);

#endif
