/* Command tables implemented in src/qmp (private). */
#ifndef STRATUS_QMP_COMMANDS_H
#define STRATUS_QMP_COMMANDS_H

#include "qmp/qmp-dispatch.h"

typedef struct Machine Machine;

/* qmp-commands-machine.c: lifecycle, queries, getfd/closefd, HMP. */
void qmp_register_machine_commands(QmpCommandTable *t);
/*
 * qmp-commands-qom.c: qom-list-types, qom-list, qom-get,
 * device-list-properties, qom-list-properties, from the device registry.
 */
void qmp_register_qom_commands(QmpCommandTable *t);
/*
 * The HMP commands human-monitor-command takes from the device model
 * (`info qtree`, `info qdm`): their output, or NULL if `line` (words
 * separated by single spaces) is not one of them.
 */
char *qmp_hmp_qom_command(Machine *m, const char *line);
/* qmp-commands-block.c: blockdev-add/del, device_add/del, query-block(-nodes). */
void qmp_register_block_commands(QmpCommandTable *t);
/* qmp-commands-balloon.c: balloon, query-balloon (hw/virtio/virtio-balloon.h). */
void qmp_register_balloon_commands(QmpCommandTable *t);

#endif
