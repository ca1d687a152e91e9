/* Command tables implemented in src/qmp (private). */
#ifndef STRATUS_QMP_COMMANDS_H
#define STRATUS_QMP_COMMANDS_H

#include "qmp/qmp-dispatch.h"

typedef struct Machine Machine;
struct Device;
struct BlockBackend;

/* qmp-commands-machine.c: lifecycle, queries, getfd/closefd. */
void qmp_register_machine_commands(QmpCommandTable *t);
/* --preconfig: only QEMU's allow-preconfig commands run until x-exit-preconfig. */
void qmp_enter_preconfig(QmpCommandTable *t);
/*
 * hmp.c: HMP through human-monitor-command (its entry stays in the machine
 * table, for StratoVirt's query-commands order).
 */
bool qmp_cmd_human_monitor_command(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret,
                                   GError **err);
extern const QmpType qmp_hmp_args;
/*
 * Runs one HMP command line as human-monitor-command does (ctx: its context,
 * opaque = the Machine; cpu_index: the monitor's current CPU) and returns the
 * text with "\r\n" line ends (an unknown command's text too).
 */
char *hmp_run(QmpCommandCtx *ctx, const char *line, unsigned cpu_index);
/* For tests: both HMP tables are sorted by name, as QEMU sorts its own. */
bool hmp_tables_sorted(void);
/*
 * qmp-commands-qom.c: qom-list-types, qom-list, qom-get,
 * device-list-properties, qom-list-properties, from the device registry.
 */
void qmp_register_qom_commands(QmpCommandTable *t);
/*
 * The HMP commands hmp.c takes from the device model (`info qtree`, `info
 * qdm`): their output ("\r\n" line ends), or NULL if `line` (words separated
 * by single spaces) is not one of them.
 */
char *qmp_hmp_qom_command(Machine *m, const char *line);
/*
 * `info qom-tree [path]`: QEMU's composition tree from /machine (or path),
 * "\r\n" line ends; QEMU's texts for a path that resolves to nothing or to
 * several objects.
 */
char *qmp_hmp_qom_tree(Machine *m, const char *path);
/* qmp-commands-block.c: blockdev-add/del, device_add/del, query-block(-nodes). */
void qmp_register_block_commands(QmpCommandTable *t);
/* qmp-commands-balloon.c: balloon, query-balloon (hw/virtio/virtio-balloon.h). */
void qmp_register_balloon_commands(QmpCommandTable *t);
/* qmp-commands-net.c: netdev_add, netdev_del (net/tap.h). */
void qmp_register_net_commands(QmpCommandTable *t);
/* qmp-commands-object.c: object-add, object-del (backends/object.h). */
void qmp_register_object_commands(QmpCommandTable *t);
/* qmp-commands-migration.c: migrate (file: snapshots), query-migrate. */
void qmp_register_migration_commands(QmpCommandTable *t);
/* qmp-commands-memory.c: query-memdev, query-memory-devices, query-memory-size-summary. */
void qmp_register_memory_commands(QmpCommandTable *t);
/* qmp-commands-char.c: query-chardev, query-chardev-backends, query-yank. */
void qmp_register_char_commands(QmpCommandTable *t);
/*
 * qmp-commands-features.c: the feature queries QEMU's tests send every
 * machine (query-current-machine, query-sev, ...).
 */
void qmp_register_feature_commands(QmpCommandTable *t);
/* qmp-commands-absent.c: QEMU's answers for features microvm lacks (query-pci, ...). */
void qmp_register_absent_commands(QmpCommandTable *t);
/* Shared by the command files for absent features: answers [] or {}. */
bool qmp_cmd_empty_list(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err);
bool qmp_cmd_nothing(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err);
/* QEMU's HumanReadableText ({"human-readable-text": text}) and its type. */
JsonNode *qmp_human_readable_text(const char *text);
extern const QmpType qmp_type_human_readable;
void qmp_register_fdset_commands(QmpCommandTable *t);
void qmp_register_action_commands(QmpCommandTable *t);
void qmp_register_guestmem_commands(QmpCommandTable *t);
void qmp_register_absent_object_commands(QmpCommandTable *t);
void qmp_register_xquery_commands(QmpCommandTable *t);
void qmp_register_virtio_commands(QmpCommandTable *t);
void qmp_register_dump_commands(QmpCommandTable *t);
void qmp_register_announce_commands(QmpCommandTable *t);
/* qmp-commands-pci.c: query-pci from the machine's PCI host ([] without one). */
void qmp_register_pci_commands(QmpCommandTable *t);
void qmp_register_xen_commands(QmpCommandTable *t);
/* qmp-commands-block.c: the drive device d uses (attached), NULL if none. */
struct BlockBackend *qmp_device_drive(Machine *m, struct Device *d);
/* qmp-commands-block-absent.c: QEMU's block features Stratus lacks. */
void qmp_register_block_absent_commands(QmpCommandTable *t);
/* qmp-commands-cpu.c: query-cpu-definitions, query-cpu-model-expansion. */
void qmp_register_cpu_commands(QmpCommandTable *t);
/* qmp-commands-camera.c: cameradev_add, cameradev_del (backends/camera.h). */
void qmp_register_camera_commands(QmpCommandTable *t);
/* qmp-commands-chardev.c: chardev-add, chardev-remove (chardev/chardev.h). */
void qmp_register_chardev_commands(QmpCommandTable *t);

#endif
