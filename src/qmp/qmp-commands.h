/* Command tables implemented in src/qmp (private). */
#ifndef STRATUS_QMP_COMMANDS_H
#define STRATUS_QMP_COMMANDS_H

#include "qmp/qmp-dispatch.h"

/* qmp-commands-machine.c: lifecycle, queries, getfd/closefd, HMP, QOM. */
void qmp_register_machine_commands(QmpCommandTable *t);
/* qmp-commands-block.c: blockdev-add/del, device_add/del, query-block(-nodes). */
void qmp_register_block_commands(QmpCommandTable *t);

#endif
