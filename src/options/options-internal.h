/*
 * What the files of the command-line parser share (config.h is the public
 * side). The parser is split by concern so that each file can be read on
 * its own:
 *
 *   options.c      config_parse(): argv walk, per-option dispatch, the
 *                  cross-option rules, the StratusConfig object
 *   opt-table.c    the option table (names, argument kinds) and the help text
 *   optlist.c      the "key=value,..." parser and the typed value checks
 *   opt-chardev.c  -chardev, -serial, -qmp, -mon, -qtest and the chardev rules
 *   opt-machine.c  -machine, -accel, -smp, -m, -name, -uuid and the accelerator
 *   opt-drive.c    -drive and -device
 *   opt-object.c   -object
 *   opt-config.c   -config FILE (StratoVirt 0.x's JSON) turned into options
 *   opt-qemu.c     -cpu, -rtc, -action, -watchdog-action, -nic (QEMU's tests)
 *   opt-readconfig.c  -readconfig FILE (QEMU's ini format) turned into options
 *
 * Every function here reports problems as a one-line GError that names the
 * option, as config_parse() promises.
 */
#ifndef STRATUS_OPTIONS_INTERNAL_H
#define STRATUS_OPTIONS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <glib.h>

#include "config.h"

/* sun_path holds the path and its NUL. */
#define MAX_SOCK_PATH_BYTES (MAX_SOCK_PATH_LENGTH - 1)

/* ---- the option table (opt-table.c) ------------------------------------- */

typedef enum {
    OPT_MACHINE, OPT_ACCEL, OPT_ENABLE_KVM, OPT_SMP, OPT_MEM,
    OPT_KERNEL, OPT_INITRD, OPT_APPEND,
    OPT_SERIAL, OPT_CHARDEV, OPT_QMP, OPT_MON,
    OPT_NAME, OPT_UUID, OPT_LOG, OPT_DAEMONIZE, OPT_PIDFILE, OPT_FREEZE,
    OPT_DRIVE, OPT_DEVICE, OPT_OBJECT, OPT_QTEST, OPT_QTEST_LOG,
    OPT_NETDEV, OPT_INCOMING, OPT_FW_CFG, OPT_CAMERADEV, OPT_GLOBAL,
    OPT_NODEFAULTS, OPT_NO_USER_CONFIG, OPT_NOGRAPHIC, OPT_NO_SHUTDOWN,
    OPT_DISPLAY, OPT_VGA,
    OPT_CONFIG, OPT_API_CHANNEL,
    OPT_SANDBOX, OPT_DISABLE_SECCOMP, OPT_RUNAS, OPT_CHROOT,
    OPT_CPU, OPT_RTC, OPT_BOOT, OPT_ACTION, OPT_WATCHDOG_ACTION, OPT_NIC, OPT_PRECONFIG, OPT_READCONFIG,
    OPT_VERSION, OPT_HELP,
    OPT__COUNT
} OptId;

typedef enum {
    ARG_NONE,       /* flag */
    ARG_REQUIRED,   /* exactly the next token */
    ARG_OPTIONAL,   /* the next token if it does not start with '-' */
    ARG_TOKENS,     /* one or more tokens up to the next option, joined by ' ' */
} ArgKind;

typedef struct OptDef {
    const char *name;
    const char *alias;      /* second spelling or NULL */
    OptId id;
    ArgKind arg;
    bool multiple;
    const char *argdesc;    /* for the help text */
    const char *help;
} OptDef;

/*
 * Split an argv token into option name and inline "--name=value" value.
 * Returns the definition or NULL if the token is not a known option.
 */
const OptDef *opt_from_token(const char *tok, const char **name, size_t *name_len,
                             const char **inline_val);
bool opt_is_known(const char *tok);
const OptDef *opt_def_by_id(OptId id);

/* ---- parser state (options.c owns it; the handlers fill it in) ---------- */

typedef struct ParseCtx {
    StratusConfig *cfg;
    GPtrArray *chardev_origin;   /* static option name per cfg->chardevs entry */
    GPtrArray *monitor_origin;   /* static option name per cfg->monitors entry */
    char *machine_accel;         /* -machine accel=, canonical (parse_accel_list) */
    char *machine_accel_origin;  /* "-machine accel=<as given>", for messages */
    char *accel_opt;             /* -accel, canonical */
    char *accel_opt_origin;      /* "-accel <as given>" */
    bool enable_kvm;
    unsigned qmp_count;
    unsigned mon_count;
    char *qtest_chardev;         /* -qtest chardev:ID */
    bool serial_given;           /* -serial seen (even "none") */
    bool nodefaults;             /* -nodefaults: no default COM1 under qtest */
    const char *origin;          /* "-config FILE: KEY" while applying the file, else NULL */
    char *mem_floor_error;       /* -m below MIN_MEMORY_SIZE: the error unless qtest/none */
    bool mem_given;              /* -m (or a config file's memory) was given */
} ParseCtx;

/* ---- OptList and value checks (optlist.c) ------------------------------- */

/*
 * force_implied: the first token is always the implied key's value, even if it
 * contains '=' (used for URIs such as "unix:/tmp/a=b,server").
 */
OptList *optlist_parse_full(const char *str, const char *implied_key,
                            bool force_implied, GError **err);
/* Parses an option's "key=value,..." argument; keys: accepted keys or NULL. */
OptList *opt_parse_params(const char *opt, const char *value, const char *implied_key,
                          bool force_implied, const char *const *keys, GError **err);
/* Non-empty and at most max characters; what names the value in the message. */
bool opt_check_str(const char *option, const char *what, const char *value,
                   size_t max, GError **err);
bool opt_check_sock_path(const char *option, const char *value, GError **err);
bool opt_parse_port(const char *option, const char *value, int *port, GError **err);
bool opt_one_of(const char *value, const char *const *choices);
/* on/off parameter; *out is untouched and *present false when it is absent. */
bool opt_get_bool(const OptList *l, const char *key, const char *option,
                  bool *out, bool *present, GError **err);
bool opt_get_str(const OptList *l, const char *key, const char *opt, size_t max,
                 bool required, const char **out, GError **err);
bool opt_get_choice(const OptList *l, const char *key, const char *const *choices,
                    const char *expected, const char *opt, const char **out,
                    GError **err);

/* ---- per-option handlers: opt is the option as written ("-m", "--smp") -- */

/* opt-chardev.c */
ChardevConfig *opt_chardev_config_new(void);
void opt_chardev_config_free(gpointer p);
void opt_monitor_config_free(gpointer p);
bool opt_handle_serial(ParseCtx *ctx, const char *opt, const char *value, GError **err);
bool opt_handle_global(ParseCtx *ctx, const char *opt, const char *value, GError **err);
void opt_global_free(gpointer p);
bool opt_handle_chardev(ParseCtx *ctx, const char *opt, const char *value, GError **err);
bool opt_handle_qmp(ParseCtx *ctx, const char *opt, const char *value, GError **err);
bool opt_handle_mon(ParseCtx *ctx, const char *opt, const char *value, GError **err);
bool opt_handle_qtest(ParseCtx *ctx, const char *opt, const char *value, GError **err);
/*
 * After all options (and opt_resolve_accel): adds the default COM1 under
 * qtest, then checks that chardev references resolve, ids are unique, one stdio.
 */
bool opt_check_chardevs(ParseCtx *ctx, GError **err);

/* opt-machine.c */
bool opt_handle_machine(ParseCtx *ctx, const char *opt, const char *value, GError **err);
bool opt_handle_accel(ParseCtx *ctx, const char *opt, const char *value, GError **err);
bool opt_handle_smp(ParseCtx *ctx, const char *opt, const char *value, GError **err);
bool opt_handle_mem(ParseCtx *ctx, const char *opt, const char *value, GError **err);
bool opt_handle_name(ParseCtx *ctx, const char *opt, const char *value, GError **err);
bool opt_handle_uuid(ParseCtx *ctx, const char *opt, const char *value, GError **err);
/* After all options: sets cfg->accel, accel_auto and accel_option. */
bool opt_resolve_accel(ParseCtx *ctx, GError **err);

/* opt-drive.c */
bool opt_handle_drive(ParseCtx *ctx, const char *opt, const char *value, GError **err);
bool opt_handle_device(ParseCtx *ctx, const char *opt, const char *value, GError **err);
/* opt-netdev.c: -netdev tap,... (net/tap.h opens it). */
bool opt_handle_netdev(ParseCtx *ctx, const char *opt, const char *value, GError **err);

/* opt-object.c */
bool opt_handle_object(ParseCtx *ctx, const char *opt, const char *value, GError **err);
/* opt-cameradev.c: -cameradev v4l2|demo,id=ID[,path=PATH]. */
bool opt_handle_cameradev(ParseCtx *ctx, const char *opt, const char *value, GError **err);
/* opt-fwcfg.c */
bool opt_handle_fw_cfg(ParseCtx *ctx, const char *opt, const char *value, GError **err);
void opt_fw_cfg_item_free(gpointer p);

/* opt-qemu.c */
bool opt_handle_cpu(ParseCtx *ctx, const char *opt, const char *value, GError **err);
bool opt_handle_rtc(ParseCtx *ctx, const char *opt, const char *value, GError **err);
bool opt_handle_action(ParseCtx *ctx, const char *opt, const char *value, GError **err);
bool opt_handle_watchdog_action(ParseCtx *ctx, const char *opt, const char *value,
                                GError **err);
bool opt_handle_nic(ParseCtx *ctx, const char *opt, const char *value, GError **err);
bool opt_handle_boot(ParseCtx *ctx, const char *opt, const char *value, GError **err);

/* opt-config.c: one option the file stands for; where is its key path. */
typedef struct ConfigItem {
    OptId id;
    char *value;
    char *where;
} ConfigItem;

/*
 * The items of -config FILE in command-line order, or NULL with a one-line
 * error "-config FILE: ..." (unreadable file, bad JSON, unknown key, wrong
 * type). The values are not checked here: the option handlers do that.
 */
GPtrArray *config_file_load(const char *file, GError **err);
void config_item_free(gpointer p);
/*
 * opt-readconfig.c: the sections of -readconfig FILE as items (where =
 * "FILE:LINE" of the section header), or NULL with "-readconfig: ..." or
 * "FILE:LINE: ..." (QEMU's texts: parse error, no group defined, There is no
 * option group 'x').
 */
GPtrArray *readconfig_load(const char *file, GError **err);

#endif
