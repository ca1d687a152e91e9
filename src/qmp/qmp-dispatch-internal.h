/*
 * The command table's layout, shared by qmp-dispatch.c (which fills and
 * searches it) and qmp-schema.c (which walks it for query-qmp-schema). Not
 * part of qmp-dispatch.h: callers only add and look up commands.
 */
#ifndef STRATUS_QMP_DISPATCH_INTERNAL_H
#define STRATUS_QMP_DISPATCH_INTERNAL_H

#include <glib.h>

struct QmpCommandTable {
    GPtrArray *cmds;            /* const QmpCommand*, query-commands order */
    GHashTable *by_name;        /* name -> index+1 */
    GPtrArray *events;          /* const QmpEventDef* */
    /* QEMU's --preconfig phase: the commands that run (NULL: all, the phase is over). */
    const char *const *preconfig_allowed;
};

#endif
