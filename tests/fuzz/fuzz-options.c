/*
 * libFuzzer target for the command-line parser: config_parse() over an argv
 * built from the input (arguments separated by NUL bytes, at most
 * MAX_ARGS of them, argv[0] = "stratus"). Checks:
 *   - it returns a config or a GError, never both, never neither;
 *   - the error is one non-empty line unless some argument held a newline
 *     (main.c prints it as a single "stratus: error: ..." line);
 *   - an accepted config respects the documented limits (vCPUs, RAM, serial
 *     chardev exists, every monitor's chardev exists);
 *   - everything is freed (LeakSanitizer runs after every input).
 *
 * Build and run: scripts/fuzz.sh [runs] options
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "config.h"

#define MAX_ARGS 64

static void check_config(const StratusConfig *cfg)
{
    if (cfg->show_help || cfg->show_version) {
        return;
    }
    if (cfg->smp.cpus < 1 || cfg->smp.cpus > MAX_CPUS ||
        cfg->smp.maxcpus < cfg->smp.cpus) {
        abort();
    }
    if (!cfg->machine_type || !cfg->accel) {
        abort();
    }
    /* QEMU's tests (-accel qtest, -machine none) may go below StratoVirt's floor. */
    if (cfg->mem_size < (!strcmp(cfg->accel, "qtest") || !strcmp(cfg->machine_type, "none") ?
                         QTEST_MIN_MEMORY_SIZE : MIN_MEMORY_SIZE) ||
        cfg->mem_size > MAX_MEMORY_SIZE) {
        abort();
    }
    if (cfg->serial_chardev && !config_find_chardev(cfg, cfg->serial_chardev)) {
        abort();
    }
    for (guint i = 0; i < cfg->monitors->len; i++) {
        const MonitorConfig *mon = g_ptr_array_index(cfg->monitors, i);
        if (!mon->chardev || !config_find_chardev(cfg, mon->chardev)) {
            abort();
        }
    }
    for (guint i = 0; i < cfg->chardevs->len; i++) {
        const ChardevConfig *c = g_ptr_array_index(cfg->chardevs, i);
        if (!c->id || !*c->id) {
            abort();
        }
        if (c->kind == CHARDEV_SOCKET && c->fd < 0 && !c->path &&
            (c->port < 0 || c->port > 65535)) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = g_malloc(size + 1);
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    bool newline = false;
    StratusConfig *cfg;
    GError *err = NULL;

    memcpy(buf, data, size);
    buf[size] = '\0';
    argv[argc++] = (char *)"stratus";
    for (size_t off = 0; off < size && argc <= MAX_ARGS;) {
        size_t len = strlen(buf + off);
        argv[argc++] = buf + off;
        newline = newline || memchr(buf + off, '\n', len) != NULL;
        off += len + 1;
    }
    argv[argc] = NULL;

    cfg = config_parse(argc, argv, &err);
    if (!cfg == !err) {
        abort();
    }
    if (err) {
        if (!err->message[0] || (!newline && strchr(err->message, '\n'))) {
            abort();
        }
        g_error_free(err);
    } else {
        check_config(cfg);
        config_free(cfg);
    }
    g_free(buf);
    return 0;
}
