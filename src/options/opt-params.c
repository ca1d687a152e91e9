/*
 * The parameters of the options that take key=value lists, with QEMU's
 * CommandLineParameterType names, for QMP query-command-line-options. Like
 * QEMU, options whose keys depend on a type (-chardev, -device, -netdev,
 * -object) are listed without parameters. The parsers own the keys; this
 * table repeats their names for the one query that lists them.
 */
#include <string.h>

#include "config.h"

static const ConfigOptionParam machine_params[] = {
    { "type", "string" }, { "accel", "string" }, { "dump-guest-core", "boolean" },
    { "mem-share", "boolean" }, { "usb", "boolean" }, { "rtc", "string" },
    { "fw_cfg", "string" }, { NULL }
};
static const ConfigOptionParam accel_params[] = {
    { "accel", "string" }, { NULL }
};
static const ConfigOptionParam smp_params[] = {
    { "cpus", "number" }, { "maxcpus", "number" }, { "sockets", "number" },
    { "dies", "number" }, { "clusters", "number" }, { "cores", "number" },
    { "threads", "number" }, { NULL }
};
static const ConfigOptionParam memory_params[] = {
    { "size", "size" }, { "maxmem", "size" }, { NULL }
};
static const ConfigOptionParam mon_params[] = {
    { "chardev", "string" }, { "id", "string" }, { "mode", "string" },
    { "pretty", "boolean" }, { NULL }
};
static const ConfigOptionParam name_params[] = {
    { "guest", "string" }, { "process", "string" }, { "debug-threads", "boolean" }, { NULL }
};
static const ConfigOptionParam drive_params[] = {
    { "id", "string" }, { "file", "string" }, { "if", "string" }, { "readonly", "boolean" },
    { "direct", "boolean" }, { "aio", "string" }, { "format", "string" },
    { "discard", "string" }, { "detect-zeroes", "string" }, { NULL }
};
static const ConfigOptionParam rtc_params[] = {
    { "base", "string" }, { "clock", "string" }, { "driftfix", "string" }, { NULL }
};
static const ConfigOptionParam action_params[] = {
    { "reboot", "string" }, { "shutdown", "string" }, { "panic", "string" },
    { "watchdog", "string" }, { NULL }
};
static const ConfigOptionParam fw_cfg_params[] = {
    { "name", "string" }, { "file", "string" }, { "string", "string" }, { NULL }
};
static const ConfigOptionParam none_params[] = { { NULL } };

/* QEMU's option names: -m is "memory" there. */
static const ConfigOptionInfo option_params[] = {
    { "machine", machine_params },
    { "accel", accel_params },
    { "smp-opts", smp_params },
    { "memory", memory_params },
    { "mon", mon_params },
    { "name", name_params },
    { "drive", drive_params },
    { "rtc", rtc_params },
    { "action", action_params },
    { "chardev", none_params },
    { "device", none_params },
    { "netdev", none_params },
    { "object", none_params },
    { "fw_cfg", fw_cfg_params },
    { NULL, NULL }
};

const ConfigOptionInfo *config_option_params(void)
{
    return option_params;
}
