/*
 * The parsed command line. src/options/ turns argv into a StratusConfig and
 * checks every value (ranges, combinations) so that machine creation never
 * sees bad input. Nothing here touches the host: files are opened later.
 */
#ifndef STRATUS_CONFIG_H
#define STRATUS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <glib.h>

#define MAX_STRING_LENGTH 255   /* ids, names (StratoVirt's limit) */
#define MAX_PATH_LENGTH 4096
#define MAX_SOCK_PATH_LENGTH 108

#define MIN_MEMORY_SIZE (128ULL << 20)
/* The floor under -accel qtest and -machine none, which run no guest (issue 17). */
#define QTEST_MIN_MEMORY_SIZE (1ULL << 20)
/* QEMU's default RAM, used under -accel qtest without -m (QEMU's tests expect it). */
#define QTEST_DEFAULT_MEMORY_SIZE (128ULL << 20)
#define MAX_MEMORY_SIZE (512ULL << 30)
#define DEFAULT_MEMORY_SIZE (256ULL << 20)
#define MAX_CPUS 254

/* The seccomp filter (docs/security.md): on by default. */
typedef enum {
    SANDBOX_OFF,                 /* -sandbox off, -disable-seccomp */
    SANDBOX_ON,                  /* -sandbox on: a call outside the list kills */
    SANDBOX_DEBUG,               /* -sandbox on,debug=on: logged, fails ENOSYS */
} SandboxMode;

/* An option string "type,key=value,flag,..." split into ordered pairs. */
typedef struct OptPair {
    char *key;
    char *value;        /* "on" for a bare flag such as "server" */
} OptPair;

typedef struct OptList {
    GPtrArray *pairs;   /* OptPair* in command-line order */
} OptList;

/*
 * implied_key: name given to a leading token without '=' (e.g. "type" for
 * -machine microvm, "cpus" for -smp 4). Bare "key" tokens after the first
 * become key=on. Commas inside values are written ",," as in QEMU.
 */
OptList *optlist_parse(const char *str, const char *implied_key, GError **err);
void optlist_free(OptList *l);
const char *optlist_get(const OptList *l, const char *key);   /* last wins */
/* Fails naming the first key not in the NULL-terminated allowed list. */
bool optlist_check_keys(const OptList *l, const char *const *allowed,
                        const char *option, GError **err);

typedef enum {
    CHARDEV_STDIO,
    CHARDEV_PTY,
    CHARDEV_FILE,
    CHARDEV_SOCKET,
    CHARDEV_NULL,        /* output discarded, never any input (-serial null) */
} ChardevBackendKind;

typedef struct ChardevConfig {
    char *id;
    ChardevBackendKind kind;
    char *path;          /* file path, or unix socket path; NULL for tcp */
    char *host;          /* tcp host (default "0.0.0.0" as StratoVirt) */
    int port;            /* tcp port, -1 if unix */
    bool server;         /* listen (true) or connect out (false) */
    bool nowait;         /* server: do not wait for a client before starting */
    int fd;              /* socket,fd=N: an inherited connected socket, else -1 */
    unsigned reconnect;  /* client socket: seconds between connection attempts; 0 = never */
    char *origin;        /* "-config FILE: console[0]" for a -config item, else NULL:
                          * its open errors name the file's key */
} ChardevConfig;

typedef enum {
    QMP_MODE_LENIENT,    /* StratoVirt: commands work before qmp_capabilities */
    QMP_MODE_STRICT,     /* QEMU: capabilities negotiation mode first */
} QmpMode;

typedef enum {
    QMP_GREETING_QEMU,   /* {"QMP":{"version":{"qemu":{...}},"package":"Stratus-x"}...} */
    QMP_GREETING_LEGACY, /* {"QMP":{"version":{"StratoVirt":{...}},"package":""}...} */
} QmpGreeting;

/* rate-limit= of -qmp/-mon: commands per second and connection. */
#define MONITOR_RATE_LIMIT_DEFAULT 100      /* StratoVirt's limit, lenient mode's default */
#define MONITOR_RATE_LIMIT_MAX 1000000

typedef struct MonitorConfig {
    char *id;
    char *chardev;       /* id of a ChardevConfig (a -qmp creates one named qmp<N>) */
    QmpMode mode;
    QmpGreeting greeting;
    /*
     * Leaky bucket per connection, in commands per second; 0 = no limit.
     * The parser resolves the default: MONITOR_RATE_LIMIT_DEFAULT in lenient
     * mode, 0 in strict (QEMU has no limit).
     */
    unsigned rate_limit;
    /* qmp-mode= / rate-limit= absent: the defaults may still depend on the accelerator. */
    bool mode_defaulted, rate_limit_defaulted;
    char *uri;           /* -qmp's "unix:PATH" / "tcp:HOST:PORT" (for messages); NULL for -mon */
} MonitorConfig;

typedef struct SmpConfig {
    uint32_t cpus, maxcpus, sockets, dies, clusters, cores, threads;
} SmpConfig;

/* An on/off/auto switch (-machine rtc=, fw_cfg=). */
typedef enum {
    FEATURE_AUTO,
    FEATURE_ON,
    FEATURE_OFF,
} FeatureSwitch;

/* One -fw_cfg name=NAME,file=PATH|string=STR (exactly one of file and string). */
typedef struct FwCfgItemConfig {
    char *name;
    char *file;
    char *string;
} FwCfgItemConfig;

/* One -global (QEMU's GlobalProperty). */
typedef struct GlobalProp {
    char *driver, *property, *value;
} GlobalProp;

typedef struct StratusConfig {
    bool show_help;
    bool show_version;

    char *machine_type;          /* "microvm" (default) or "q35" */
    /*
     * Accelerators to try in order, canonical names joined by ':' ("kvm",
     * "emu", "qtest", "kvm:emu"; "tcg" is stored as "emu"). machine_new()
     * replaces it with the one that was chosen.
     */
    char *accel;
    bool accel_auto;             /* none named: "kvm:emu", fall-back is a warning */
    char *accel_option;          /* where accel came from, for messages ("-accel kvm",
                                    "-machine accel=kvm:tcg", "-enable-kvm");
                                    NULL when accel_auto */
    bool dump_guest_core;        /* default true */
    bool mem_share;              /* default false */
    /*
     * -machine rtc= and fw_cfg= (docs/legacy-devices.md): auto is on under
     * -accel qtest (QEMU's layout, for its tests) and off otherwise
     * (StratoVirt's microvm has neither); fw_cfg is also on with -fw_cfg.
     */
    FeatureSwitch machine_rtc;
    FeatureSwitch machine_fw_cfg;
    /*
     * -accel emu,ioeventfd=on|off (or tcg,): whether the software CPU
     * matches ioeventfds (docs/accelerators.md); on unless off.
     */
    FeatureSwitch emu_ioeventfd;
    /*
     * -machine acpi=on|off|auto: ACPI tables (docs/microvm.md "ACPI"); auto
     * is off on microvm (StratoVirt's microvm has none).
     */
    FeatureSwitch machine_acpi;
    GPtrArray *fw_cfg_items;     /* FwCfgItemConfig* of each -fw_cfg, in order */
    /*
     * -global DRIVER.PROP=VALUE: a default for PROP of every DRIVER device,
     * applied after the class defaults and before the device's own values.
     */
    GPtrArray *globals;          /* GlobalProp*, in command-line order */

    SmpConfig smp;
    uint64_t mem_size;
    bool mem_size_given;         /* -m was on the command line (-machine none has no RAM otherwise) */

    char *kernel;
    char *initrd;
    char *append;                /* NULL if not given; tokens joined by ' ' */

    GPtrArray *chardevs;         /* ChardevConfig* (-chardev, -serial, -qmp) */
    GPtrArray *monitors;         /* MonitorConfig* (-qmp, -mon) */
    /*
     * Chardev id wired to COM1; NULL = no COM1 (-serial none, or no -serial
     * outside qtest: under qtest the parser adds a null one, as QEMU has a
     * default serial port, unless -nodefaults).
     */
    char *serial_chardev;

    GPtrArray *drives;           /* OptList* of each -drive, in order */
    GPtrArray *devices;          /* OptList* of each -device (implied key "driver") */
    /*
     * Per devices entry: where a -config file gave it ("-config FILE:
     * drive[0].drive_id"), prefixed to its creation errors; NULL for argv's.
     */
    GPtrArray *device_origins;
    GPtrArray *netdevs;          /* OptList* of each -netdev (implied key "type") */
    GPtrArray *objects;          /* OptList* of each -object (implied key "qom-type") */
    GPtrArray *cameradevs;       /* OptList* of each -cameradev (implied key "driver") */

    char *name;
    char *uuid;
    bool log_enabled;            /* -D given */
    char *logfile;               /* -D file; NULL = stderr */
    bool daemonize;
    char *pidfile;
    bool freeze_cpus;            /* -S */
    bool preconfig;              /* --preconfig: prelaunch until QMP x-exit-preconfig */
    bool no_shutdown;            /* -no-shutdown: pause instead of exit on guest shutdown */
    /* -incoming file:DIR[,mapped=on|off]: restore from DIR's snapshot instead of booting. */
    char *incoming;              /* DIR; NULL without -incoming */
    bool incoming_mapped;        /* map the memory image copy-on-write (default) or read it */
    /*
     * -incoming tcp:HOST:PORT | unix:PATH: receive a live migration
     * (migration/live.h); "defer": QMP migrate-incoming gives the address.
     */
    char *incoming_uri;

    char *qtest;                 /* -qtest unix:PATH | chardev:ID */
    char *qtest_log;             /* -qtest-log FILE | none; NULL = stderr */

    SandboxMode sandbox;         /* -sandbox, -disable-seccomp */
    char *runas;                 /* -runas USER[:GROUP] */
    char *chroot_dir;            /* -chroot DIR */

    /* Options QEMU's tests pass (issue 17; docs/command-line.md says what each does). */
    char *cpu_model;             /* -cpu MODEL: "host", "max", "qemu64", ...; NULL = default */
    /*
     * -rtc base=: "utc" (default), "localtime" or the datetime as given
     * ("2006-06-17T16:01:21", "2006-06-17"), which is UTC; rtc_base_epoch is
     * that datetime in seconds since the Unix epoch (0 for utc/localtime).
     */
    char *rtc_base;
    int64_t rtc_base_epoch;
    char *rtc_clock;             /* -rtc clock=: "host" (default), "rt" or "vm" */
    bool rtc_driftfix_slew;      /* -rtc driftfix=slew (accepted; nothing to slew) */
    char *action_reboot;         /* -action reboot=reset|shutdown; NULL = not given */
    char *action_panic;          /* -action panic=...; NULL = not given */
    char *action_watchdog;       /* -action watchdog= / -watchdog-action; NULL = not given */
    /*
     * -boot (QEMU's): menu=on sets fw_cfg's boot-menu item, splash-time= and
     * reboot-timeout= its etc/boot-menu-wait and etc/boot-fail-wait files
     * (for firmware; Stratus boots the kernel directly). order=, once= and
     * strict= are checked and stored.
     */
    bool boot_menu;
    int64_t boot_splash_time;    /* ms; -1 = not given */
    int64_t boot_reboot_timeout; /* ms; -1 = not given (QEMU's default) */
    char *boot_order;            /* order=; NULL = not given */
    bool boot_strict;            /* strict=on: fw_cfg "bootorder" ends with HALT */
} StratusConfig;

/*
 * The values of -action's keys (QEMU's RebootAction, ShutdownAction,
 * PanicAction, WatchdogAction), NULL-terminated; QMP's set-action and
 * watchdog-set-action take the same.
 */
extern const char *const config_reboot_actions[];
extern const char *const config_shutdown_actions[];
extern const char *const config_panic_actions[];
extern const char *const config_watchdog_actions[];

/*
 * Parse and validate argv. On error returns NULL and sets *err with a message
 * that names the option, e.g. "invalid -m value '5x': ...". -help/-version
 * return a config with show_help/show_version set and nothing else checked.
 */
StratusConfig *config_parse(int argc, char **argv, GError **err);
void config_free(StratusConfig *cfg);
const ChardevConfig *config_find_chardev(const StratusConfig *cfg, const char *id);
void config_print_help(FILE *out);
/* The stratus(1) man page (roff) from the same option table as -help. */
void config_print_man(FILE *out, const char *version);

/* query-command-line-options: an option's key=value parameters. */
typedef struct ConfigOptionParam {
    const char *name;
    const char *type;            /* "string", "boolean", "number" or "size" */
} ConfigOptionParam;
typedef struct ConfigOptionInfo {
    const char *option;          /* QEMU's name for it ("memory" for -m) */
    const ConfigOptionParam *params;   /* terminated by .name == NULL */
} ConfigOptionInfo;
/* Every option with parameters, terminated by .option == NULL. */
const ConfigOptionInfo *config_option_params(void);

#endif
