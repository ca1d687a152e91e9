/*
 * Compact JSON output for QMP: no whitespace, ASCII only (everything outside
 * 0x20..0x7E is escaped, non-ASCII as \uXXXX / surrogate pairs, as QEMU does),
 * doubles in the shortest form that round-trips. Object members are written in
 * insertion order, or sorted by key (recursively) when sort_keys is set, which
 * reproduces StratoVirt's serde_json::Value output of "return" payloads.
 */
#ifndef STRATUS_QMP_JSON_H
#define STRATUS_QMP_JSON_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

void qmp_json_append(GString *out, JsonNode *node, bool sort_keys);
char *qmp_json_to_string(JsonNode *node, bool sort_keys);
void qmp_json_append_string(GString *out, const char *str);

/* Small builders used throughout the QMP code. */
JsonNode *qmp_node_str(const char *s);
JsonNode *qmp_node_int(gint64 v);
JsonNode *qmp_node_bool(bool v);
JsonNode *qmp_node_object(JsonObject *o);   /* takes o */
JsonNode *qmp_node_array(JsonArray *a);     /* takes a */
JsonNode *qmp_node_empty_object(void);

#endif
