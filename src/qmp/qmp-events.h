/* The standard event table (qmp-events.c). */
#ifndef STRATUS_QMP_EVENTS_H
#define STRATUS_QMP_EVENTS_H

#include "qmp/qmp-dispatch.h"

extern const QmpEventDef qmp_standard_events[];

#endif
