/* The standard event table (qmp-events.c). */
#ifndef STRATUS_QMP_EVENTS_H
#define STRATUS_QMP_EVENTS_H

#include "qmp/qmp-dispatch.h"

extern const QmpEventDef qmp_standard_events[];

/* query-dump's DumpQueryResult, which DUMP_COMPLETED carries. */
extern const char *const qmp_dump_status_values[];
extern const QmpType qmp_dump_info;

#endif
