/*
 * The QMP events Stratus can emit, with their data types (query-events order
 * follows StratoVirt's list; query-qmp-schema describes the data).
 *
 * Wire form (StratoVirt's, and what the seeds show):
 *   {"event":"STOP","data":{},"timestamp":{"seconds":S,"microseconds":U}}
 * "data" is always present ({} for events without data); members in the
 * order the emitter inserted them. Timestamps are wall-clock (epoch).
 *
 * Ordering relative to command replies is handled by qmp-server.c: events
 * emitted while a command runs are held and written right after its reply,
 * or right before it for commands flagged QMP_CMD_EVENTS_FIRST.
 */
#include "qmp/qmp-events.h"

static const QmpMember shutdown_members[] = {
    { "guest", &qmp_type_bool },
    { "reason", &qmp_type_str },
    { NULL }
};
static const QmpType shutdown_data = QMP_OBJECT_TYPE(shutdown_members);

static const QmpMember reset_members[] = {
    { "guest", &qmp_type_bool },
    { "reason", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType reset_data = QMP_OBJECT_TYPE(reset_members);

static const QmpMember device_deleted_members[] = {
    { "device", &qmp_type_str, .optional = true },
    { "path", &qmp_type_str },
    { NULL }
};
static const QmpType device_deleted_data = QMP_OBJECT_TYPE(device_deleted_members);

static const QmpMember balloon_members[] = {
    { "actual", &qmp_type_int },
    { NULL }
};
static const QmpType balloon_data = QMP_OBJECT_TYPE(balloon_members);

/* QEMU's GuestPanicAction; pvpanic (docs/devices.md) sends pause and run. */
static const char *const panic_action_values[] = { "pause", "poweroff", "run", NULL };
static const QmpType panic_action_enum = QMP_ENUM_TYPE(panic_action_values);

static const QmpMember guest_panic_members[] = {
    { "action", &panic_action_enum },
    { "info", &qmp_type_any, .optional = true },
    { NULL }
};
static const QmpType guest_panic_data = QMP_OBJECT_TYPE(guest_panic_members);

/* QEMU 7.2's RTC_CHANGE (mc146818rtc, docs/legacy-devices.md): seconds from host UTC. */
static const QmpMember rtc_change_members[] = {
    { "offset", &qmp_type_int },
    { NULL }
};
static const QmpType rtc_change_data = QMP_OBJECT_TYPE(rtc_change_members);

/* QEMU's DumpQueryResult (query-dump too) and DUMP_COMPLETED, which adds why a dump failed. */
const char *const qmp_dump_status_values[] = { "none", "active", "completed", "failed", NULL };
static const QmpType dump_status = QMP_ENUM_TYPE(qmp_dump_status_values);
static const QmpMember dump_info_m[] = {
    { "status", &dump_status }, { "completed", &qmp_type_int }, { "total", &qmp_type_int },
    { NULL }
};
const QmpType qmp_dump_info = QMP_OBJECT_TYPE(dump_info_m);
static const QmpMember dump_completed_members[] = {
    { "result", &qmp_dump_info },
    { "error", &qmp_type_str, .optional = true },
    { NULL }
};
static const QmpType dump_completed_data = QMP_OBJECT_TYPE(dump_completed_members);

const QmpEventDef qmp_standard_events[] = {
    { "SHUTDOWN", &shutdown_data },
    { "RESET", &reset_data },
    { "STOP", NULL },
    { "RESUME", NULL },
    { "POWERDOWN", NULL },
    { "DEVICE_DELETED", &device_deleted_data },
    { "BALLOON_CHANGED", &balloon_data },
    { "GUEST_PANICKED", &guest_panic_data },
    { "GUEST_CRASHLOADED", &guest_panic_data },
    { "RTC_CHANGE", &rtc_change_data },
    { "DUMP_COMPLETED", &dump_completed_data },
    { NULL }
};
