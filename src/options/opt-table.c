/*
 * The option table: every option's spellings, how it takes its value, and
 * its line in -help. One table serves the argv walk (options.c) and the help
 * text, so an option cannot be accepted without being documented or the
 * other way round; the handlers that give options their meaning live in the
 * opt-*.c files. The stratus(1) man page is rendered from the same table
 * (config_print_man(), run at build time by src/tools/stratus-mangen.c).
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "options/options-internal.h"

static const OptDef opt_defs[] = {
    /* Repeatable, as in QEMU: later -machine options add to or override earlier ones. */
    { "machine", "M", OPT_MACHINE, ARG_REQUIRED, true,
      "[type=]microvm|q35[,accel=ACCEL[:ACCEL...]][,dump-guest-core=on|off][,mem-share=on|off]",
      "machine type and properties (default microvm; accel as -accel; also "
      "rtc=on|off|auto, fw_cfg=on|off|auto, acpi=on|off|auto)" },
    { "accel", NULL, OPT_ACCEL, ARG_REQUIRED, true, "kvm|emu|tcg|qtest[:...]",
      "accelerator, or a list tried in order (tcg = emu, the software CPU); a repeated "
      "-accel adds to the list; overrides -machine accel=; default kvm if /dev/kvm is "
      "usable, else emu" },
    { "enable-kvm", NULL, OPT_ENABLE_KVM, ARG_NONE, false, NULL,
      "same as -accel kvm" },
    { "smp", NULL, OPT_SMP, ARG_REQUIRED, false,
      "[cpus=]n[,maxcpus=n][,sockets=n][,dies=n][,clusters=n][,cores=n][,threads=n]",
      "number of vCPUs (1..254) and topology (default 1)" },
    { "m", NULL, OPT_MEM, ARG_REQUIRED, false, "[size=]N[B|K|M|G][,maxmem=N[B|K|M|G]]",
      "guest RAM, bare number = MiB, 128M..512G (from 1M under -accel qtest or -machine "
      "none); default 256M" },
    { "kernel", NULL, OPT_KERNEL, ARG_REQUIRED, false, "PATH",
      "guest kernel (vmlinux ELF or bzImage); required for microvm" },
    { "initrd", NULL, OPT_INITRD, ARG_REQUIRED, false, "PATH", "initial ramdisk" },
    { "append", NULL, OPT_APPEND, ARG_TOKENS, true, "CMDLINE...",
      "kernel command line; tokens up to the next option are joined by spaces" },
    { "serial", NULL, OPT_SERIAL, ARG_REQUIRED, false,
      "stdio|pty|file,path=P|socket,path=P,server,nowait|socket,port=N[,host=H],server,nowait|chardev:ID|null|none",
      "COM1 backend (at most one); null: COM1 discarding output, none: no COM1" },
    { "chardev", NULL, OPT_CHARDEV, ARG_REQUIRED, true,
      "stdio|pty|file|socket|null,id=ID[,path=P][,host=H,port=N][,fd=N][,server][,nowait][,reconnect=SECONDS]",
      "character device backend" },
    { "qmp", NULL, OPT_QMP, ARG_REQUIRED, true,
      "unix:PATH|tcp:HOST:PORT[,server,nowait][,qmp-mode=lenient|strict][,qmp-greeting=qemu|legacy][,rate-limit=N|off]",
      "QMP monitor listening on a socket (server,nowait) or connecting to one" },
    { "mon", NULL, OPT_MON, ARG_REQUIRED, true,
      "[chardev=]ID[,id=ID][,mode=control][,pretty=on|off][,qmp-mode=..][,qmp-greeting=..][,rate-limit=..]",
      "QMP monitor on a -chardev socket" },
    { "global", NULL, OPT_GLOBAL, ARG_REQUIRED, true, "DRIVER.PROP=VALUE",
      "default value of PROP for every DRIVER device (also driver=,property=,value=)" },
    { "name", NULL, OPT_NAME, ARG_REQUIRED, false, "NAME", "guest name" },
    { "uuid", NULL, OPT_UUID, ARG_REQUIRED, false, "UUID", "guest UUID" },
    { "D", NULL, OPT_LOG, ARG_OPTIONAL, false, "[LOGFILE]",
      "enable logging, to LOGFILE or to stderr" },
    { "daemonize", NULL, OPT_DAEMONIZE, ARG_NONE, false, NULL,
      "run in the background after parsing the command line" },
    { "pidfile", NULL, OPT_PIDFILE, ARG_REQUIRED, false, "PATH",
      "write the pid to PATH (needs -daemonize)" },
    { "S", "freeze", OPT_FREEZE, ARG_NONE, false, NULL,
      "start with vCPUs paused ('cont' starts them)" },
    { "drive", NULL, OPT_DRIVE, ARG_REQUIRED, true,
      "id=ID,file=PATH[,if=none|pflash][,readonly=on|off][,direct=on|off][,format=raw|qcow2]...",
      "block device backend" },
    { "device", NULL, OPT_DEVICE, ARG_REQUIRED, true, "DRIVER[,prop=value...]",
      "add a device" },
    { "object", NULL, OPT_OBJECT, ARG_REQUIRED, true, "rng-random,id=ID[,filename=PATH]",
      "host back end for a device (rng-random: random bytes for virtio-rng)" },
    { "cameradev", NULL, OPT_CAMERADEV, ARG_REQUIRED, true,
      "v4l2|demo,id=ID[,path=PATH]",
      "camera back end (q35): a host V4L2 capture node, or synthetic frames" },
    { "netdev", NULL, OPT_NETDEV, ARG_REQUIRED, true,
      "tap,id=ID,ifname=NAME|fd=N[,vhost=on|off]",
      "network back end for a NIC (virtio-net-device,netdev=ID)" },
    { "qtest", NULL, OPT_QTEST, ARG_REQUIRED, false, "unix:PATH|chardev:ID",
      "qtest protocol socket (implies -accel qtest)" },
    { "qtest-log", NULL, OPT_QTEST_LOG, ARG_REQUIRED, false, "FILE|none",
      "qtest protocol log (default stderr)" },
    { "nodefaults", NULL, OPT_NODEFAULTS, ARG_NONE, false, NULL,
      "no default COM1 under qtest; otherwise ignored" },
    { "no-user-config", NULL, OPT_NO_USER_CONFIG, ARG_NONE, false, NULL,
      "accepted and ignored" },
    { "nographic", NULL, OPT_NOGRAPHIC, ARG_NONE, false, NULL, "accepted and ignored" },
    { "fw_cfg", NULL, OPT_FW_CFG, ARG_REQUIRED, true, "name=NAME,file=PATH|string=STR",
      "add a named file to fw_cfg (-machine fw_cfg=on; names should start with opt/)" },
    { "incoming", NULL, OPT_INCOMING, ARG_REQUIRED, false, "file:DIR[,mapped=on|off] | tcp:IP:PORT | unix:PATH | defer",
      "restore the snapshot in DIR (written by QMP migrate file:DIR) instead of booting; "
      "mapped=on (default) maps its memory copy-on-write, off reads it in" },
    { "no-shutdown", NULL, OPT_NO_SHUTDOWN, ARG_NONE, false, NULL,
      "pause instead of exiting when the guest shuts down" },
    { "display", NULL, OPT_DISPLAY, ARG_REQUIRED, false, "none",
      "accepted; only 'none' is supported" },
    { "vga", NULL, OPT_VGA, ARG_REQUIRED, false, "none",
      "accepted; only 'none' is supported" },
    { "config", NULL, OPT_CONFIG, ARG_REQUIRED, false, "FILE",
      "VM description in StratoVirt 0.x's JSON; command-line options override it" },
    { "api-channel", NULL, OPT_API_CHANNEL, ARG_REQUIRED, false, "unix:PATH",
      "StratoVirt 0.x's spelling of -qmp unix:PATH,server,nowait" },
    { "sandbox", NULL, OPT_SANDBOX, ARG_REQUIRED, false, "on|off[,debug=on|off]",
      "seccomp allow-list (default on); debug=on logs a forbidden call and fails it" },
    { "disable-seccomp", NULL, OPT_DISABLE_SECCOMP, ARG_NONE, false, NULL,
      "same as -sandbox off (StratoVirt's spelling)" },
    { "runas", NULL, OPT_RUNAS, ARG_REQUIRED, false, "USER[:GROUP]",
      "switch to USER (and GROUP) once the machine is built" },
    { "chroot", NULL, OPT_CHROOT, ARG_REQUIRED, false, "DIR",
      "chroot to DIR once the machine is built" },
    { "cpu", NULL, OPT_CPU, ARG_REQUIRED, false,
      "host|max|qemu64|base|kvm64[,+FEATURE|-FEATURE|FEATURE=VALUE...]",
      "CPU model (QEMU's names); the CPUID is Stratus's own (host's under KVM), features "
      "are accepted and not applied; host needs KVM" },
    { "rtc", NULL, OPT_RTC, ARG_REQUIRED, true,
      "[base=utc|localtime|YYYY-MM-DD[THH:MM:SS]][,clock=host|rt|vm][,driftfix=none|slew]",
      "RTC start time and clock (for the RTC device where the machine has one)" },
    { "boot", NULL, OPT_BOOT, ARG_REQUIRED, true,
      "[order=DRIVES][,once=DRIVES][,menu=on|off][,splash-time=MS][,reboot-timeout=MS][,strict=on|off]",
      "firmware boot settings, passed in fw_cfg (menu, etc/boot-menu-wait, etc/boot-fail-wait; "
      "strict=on ends bootorder with HALT); order= and once= are checked and stored only" },
    { "action", NULL, OPT_ACTION, ARG_REQUIRED, true,
      "[reboot=reset|shutdown][,shutdown=poweroff|pause][,panic=pause|shutdown|exit-failure|none][,watchdog=ACTION]",
      "shutdown=pause is -no-shutdown; reboot=, panic= and watchdog= are checked and "
      "stored (guest reset ends the VM, a panic pauses it, there is no watchdog)" },
    { "watchdog-action", NULL, OPT_WATCHDOG_ACTION, ARG_REQUIRED, false,
      "reset|shutdown|poweroff|pause|debug|none|inject-nmi",
      "checked and accepted (same as -action watchdog=; there is no watchdog device)" },
    { "nic", NULL, OPT_NIC, ARG_REQUIRED, true, "none",
      "no default NIC (there never is one); other forms: -netdev and -device" },
    { "preconfig", NULL, OPT_PRECONFIG, ARG_NONE, false, NULL,
      "QEMU's prelaunch phase: only allow-preconfig QMP commands run until "
      "x-exit-preconfig, which starts the vCPUs (unless -S)" },
    { "readconfig", NULL, OPT_READCONFIG, ARG_REQUIRED, true, "FILE",
      "QEMU's ini-style config file: [drive \"ID\"], [device \"ID\"], [netdev \"ID\"], "
      "[chardev \"ID\"], [object \"ID\"], [machine], [memory], [smp-opts], [rtc] "
      "sections with key = \"value\" lines, applied where the option stands" },
    { "version", "V", OPT_VERSION, ARG_NONE, false, NULL, "print the version and exit" },
    { "help", "h", OPT_HELP, ARG_NONE, false, NULL, "print this help and exit" },
};

static const OptDef *opt_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < G_N_ELEMENTS(opt_defs); i++) {
        const OptDef *d = &opt_defs[i];
        if ((strlen(d->name) == len && strncmp(d->name, name, len) == 0) ||
            (d->alias && strlen(d->alias) == len && strncmp(d->alias, name, len) == 0)) {
            return d;
        }
    }
    return NULL;
}

const OptDef *opt_from_token(const char *tok, const char **name, size_t *name_len,
                             const char **inline_val)
{
    const char *n;
    const char *eq = NULL;

    *inline_val = NULL;
    if (tok[0] != '-' || tok[1] == '\0') {
        return NULL;
    }
    n = tok + 1;
    if (*n == '-') {
        n++;
        eq = strchr(n, '=');
    }
    *name = n;
    *name_len = eq ? (size_t)(eq - n) : strlen(n);
    if (eq) {
        *inline_val = eq + 1;
    }
    if (*name_len == 0) {
        return NULL;
    }
    return opt_lookup(n, *name_len);
}

const OptDef *opt_def_by_id(OptId id)
{
    for (size_t i = 0; i < G_N_ELEMENTS(opt_defs); i++) {
        if (opt_defs[i].id == id) {
            return &opt_defs[i];
        }
    }
    return NULL;
}

bool opt_is_known(const char *tok)
{
    const char *name, *val;
    size_t len;

    return opt_from_token(tok, &name, &len, &val) != NULL;
}

void config_print_help(FILE *out)
{
    fprintf(out, "Usage: stratus [options]\n\n"
                 "Options may be written with one or two dashes; '--opt=value' is also "
                 "accepted.\n\n");
    for (size_t i = 0; i < G_N_ELEMENTS(opt_defs); i++) {
        const OptDef *d = &opt_defs[i];
        char *head;

        if (d->alias) {
            head = g_strdup_printf("-%s, -%s", d->name, d->alias);
        } else {
            head = g_strdup_printf("-%s", d->name);
        }
        if (d->argdesc) {
            fprintf(out, "  %s %s\n", head, d->argdesc);
        } else {
            fprintf(out, "  %s\n", head);
        }
        fprintf(out, "        %s\n", d->help);
        g_free(head);
    }
    fprintf(out, "\nSee docs/command-line.md for details.\n");
}

/* Roff text: a backslash, and '-' (which roff may hyphenate or render as a
 * Unicode hyphen, so copy-pasted options break), are escaped. An argument
 * synopsis has no spaces, so it gets break points after ',' and '|' to fit
 * the terminal. */
static void man_text(FILE *out, const char *s, bool synopsis)
{
    for (; *s; s++) {
        if (*s == '\\') {
            fputs("\\e", out);
        } else if (*s == '-') {
            fputs("\\-", out);
        } else {
            fputc(*s, out);
        }
        if (synopsis && (*s == ',' || *s == '|')) {
            fputs("\\:", out);
        }
    }
}

static void man_option(FILE *out, const OptDef *d)
{
    fputs(".TP\n\\fB\\-", out);
    man_text(out, d->name, false);
    if (d->alias) {
        fputs("\\fR, \\fB\\-", out);
        man_text(out, d->alias, false);
    }
    fputs("\\fR", out);
    if (d->argdesc) {
        fputs(" \\fI", out);
        man_text(out, d->argdesc, true);
        fputs("\\fR", out);
    }
    fputs("\n", out);
    fputs("\\&", out);            /* a text starting with '.' is not a request */
    man_text(out, d->help, false);
    fputs("\n", out);
}

void config_print_man(FILE *out, const char *version)
{
    fputs(".\\\" Generated from src/options/opt-table.c by stratus-mangen; do not edit.\n", out);
    fprintf(out, ".TH STRATUS 1 \"\" \"Stratus %s\" \"User Commands\"\n", version);
    fputs(".SH NAME\n"
          "stratus \\- virtual machine monitor for microVMs (StratoVirt-compatible)\n"
          ".SH SYNOPSIS\n"
          ".B stratus\n"
          "[\\fIoptions\\fR]\n"
          ".SH DESCRIPTION\n"
          "Stratus runs a guest on KVM or, where /dev/kvm is not usable, on its own x86\\-64 "
          "software CPU, as a drop\\-in for StratoVirt's x86_64 microvm machine: the same "
          "command line, QMP monitor and log format.\n"
          "Options may be written with one or two dashes; \\fB\\-\\-opt=value\\fR is "
          "also accepted.\n"
          "A QMP monitor (\\fB\\-qmp\\fR or \\fB\\-mon\\fR) is required.\n"
          ".SH OPTIONS\n", out);
    for (size_t i = 0; i < G_N_ELEMENTS(opt_defs); i++) {
        man_option(out, &opt_defs[i]);
    }
    fputs(".SH ENVIRONMENT\n"
          ".TP\n\\fBSTRATUS_LOG_LEVEL\\fR\n"
          "error, warn, info (default), debug or trace: the level of the \\fB\\-D\\fR log.\n"
          ".SH EXIT STATUS\n"
          "0 when the guest powers off or reboots, on QMP quit and on SIGTERM, SIGINT or "
          "SIGHUP; 1 on a bad option or a start\\-up failure, after one line "
          "\\fBstratus: error: ...\\fR on standard error.\n"
          ".SH FILES\n"
          "The full documentation is installed in \\fIshare/doc/stratus\\fR under the "
          "installation prefix: README.md, docs/command\\-line.md, docs/qmp.md, ...\n"
          ".PP\n"
          "\\fBstratus\\-conformance\\fR runs the installed test suite against this "
          "binary and reports per option, QMP command, event and device type "
          "(docs/conformance.md).\n"
          ".SH SEE ALSO\n"
          "\\fBqemu\\-system\\-x86_64\\fR(1)\n", out);
}
