/*
 * HMP internals shared by the files that implement it: hmp.c (dispatch,
 * help, human-monitor-command, the command tables, lifecycle commands),
 * hmp-parse.c (QEMU's command-line parser), hmp-info.c (`info` about the
 * machine, `info mtree`), hmp-block.c (`info block`) and hmp-qdev.c (the
 * device model: `info qtree`, `info qom-tree`, `device_add help`).
 */
#ifndef STRATUS_QMP_HMP_INTERNAL_H
#define STRATUS_QMP_HMP_INTERNAL_H

#include "machine.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"

typedef struct Hmp {
    Machine *m;
    QmpCommandCtx *qmp;          /* human-monitor-command's: table and session */
    GString *out;
    unsigned cpu_index;          /* the monitor's current CPU (cpu-index) */
} Hmp;

/* Parsed arguments: key -> value (flags: "on"). */
typedef GHashTable HmpArgs;
typedef void HmpFn(Hmp *h, HmpArgs *args);

typedef struct HmpCommand {
    const char *name;            /* "stop|s": the name and its aliases, as help prints it */
    const char *args_type;       /* QEMU's: "id:s", "name:S?", "nodes:-n,device:B?" */
    const char *params;
    const char *help;
    HmpFn *fn;
    const struct HmpCommand *sub_table;
} HmpCommand;

/* hmp.c */
G_GNUC_PRINTF(2, 3) void hmp_printf(Hmp *h, const char *fmt, ...);
/* QEMU's hmp_handle_error(): "Error: <message>". */
void hmp_error(Hmp *h, const GError *err);
const char *hmp_arg_str(HmpArgs *args, const char *key);
bool hmp_arg_flag(HmpArgs *args, const char *key);
/*
 * Runs a QMP command of this server's table, as QEMU's HMP commands call
 * qmp_*(). args may be NULL (no arguments), ret too (result dropped). false
 * with *err when the command failed or is not in the table.
 */
bool hmp_qmp(Hmp *h, const char *name, JsonObject *args, JsonNode **ret, GError **err);

/* hmp-parse.c: QEMU's monitor/hmp.c parser. */
bool hmp_is_space(char c);
/* name is one of list's '|'-separated names ("stop|s"). */
bool hmp_name_matches(const char *name, const char *list);
/* A word or a double-quoted string; false when there is none or it is malformed. */
bool hmp_get_str(GString *buf, const char **pp);
/*
 * The command (and sub-command) naming *cmdp in table, or NULL after
 * printing "unknown command" (nothing for a blank line); *cmdp is left after
 * the name and its spaces. start: the whole line, for the message.
 */
const HmpCommand *hmp_parse_command(Hmp *h, const char *start, const char **cmdp,
                                    const HmpCommand *table);
/* The arguments of cmd from p, or NULL after printing the problem. */
HmpArgs *hmp_parse_arguments(Hmp *h, const char *p, const HmpCommand *cmd);

/* hmp-info.c */
HmpFn hmp_info_status, hmp_info_cpus, hmp_info_version, hmp_info_name, hmp_info_uuid,
      hmp_info_kvm, hmp_info_network, hmp_info_balloon, hmp_info_migrate, hmp_info_mtree;
/* hmp-block.c */
HmpFn hmp_info_block;
/* hmp-qdev.c */
HmpFn hmp_info_qtree, hmp_info_qdm, hmp_info_qom_tree, hmp_device_add;

#endif
