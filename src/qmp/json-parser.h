/*
 * The parser stage of the QMP JSON splitter, private to json-splitter.c
 * (which lexes and collects one message's tokens) and json-parser.c (which
 * builds the value from them).
 */
#ifndef STRATUS_JSON_PARSER_H
#define STRATUS_JSON_PARSER_H

#include <stddef.h>
#include <glib.h>
#include <json-glib/json-glib.h>

typedef enum {
    TK_LCURLY, TK_RCURLY, TK_LSQUARE, TK_RSQUARE, TK_COMMA, TK_COLON,
    TK_STRING, TK_INTEGER, TK_FLOAT, TK_KEYWORD,
} TokType;

typedef struct {
    TokType type;
    size_t off;         /* into the message text (JsonSplitter.msg) */
    size_t len;
} Token;

/* A hex digit's value, -1 for anything else (the lexer's \u check, the parser's decoding). */
static inline int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/*
 * One complete message: its tokens, whose texts lie end to end in text.
 * Returns the value, or NULL with *err set (JSON_SPLITTER_ERROR_PARSE and
 * QEMU's texts: "JSON parse error, expecting value", "... premature EOI", ...).
 * *raw_id (if raw_id is not NULL): the text of the top-level object's "id"
 * member when it is a number, else NULL; g_free() it.
 */
JsonNode *json_parse_tokens(const char *text, const Token *toks, size_t n, char **raw_id,
                            GError **err);

#endif
