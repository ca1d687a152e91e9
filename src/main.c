/*
 * stratus: parse the command line, daemonize if asked, build the machine and
 * run it. Every failure before the VM runs is one "stratus: error: ..." line
 * and exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "machine.h"
#include "hw/device.h"
#include "hw/device-help.h"
#include "os/inherited-fds.h"
#include "os/privdrop.h"
#include "os/seccomp.h"
#include "os/startup-signals.h"
#include "util/log.h"

/*
 * Fork twice and detach. The original process waits on a pipe until the
 * daemon reports that the machine was built, so its exit status says whether
 * the VM started (as QEMU does), and the pidfile exists when it returns.
 */
static int daemonize(int *ready_fd)
{
    int pipefd[2];
    pid_t pid;

    if (pipe(pipefd) < 0) {
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid > 0) {
        char status = 1;
        close(pipefd[1]);
        if (read(pipefd[0], &status, 1) != 1) {
            status = 1;
        }
        _exit(status);
    }
    close(pipefd[0]);
    if (setsid() < 0) {
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid > 0) {
        _exit(0);
    }
    *ready_fd = pipefd[1];
    return 0;
}

static void detach_stdio(void)
{
    int fd = open("/dev/null", O_RDWR);

    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO) {
            close(fd);
        }
    }
}

/*
 * The daemon keeps only what it uses of what it inherited: stdio (made
 * /dev/null later), the launcher's status pipe, the log and the descriptors
 * the command line names.
 */
static void close_inherited_fds(const StratusConfig *cfg, int ready_fd)
{
    g_autoptr(GArray) keep = config_named_fds(cfg);
    int log_fd = log_fileno();

    g_array_append_val(keep, ready_fd);
    g_array_append_val(keep, log_fd);
    close_fds_except((const int *)(void *)keep->data, keep->len);
}

static void report_ready(int *ready_fd, char status)
{
    if (*ready_fd >= 0) {
        if (write(*ready_fd, &status, 1) != 1) {
            /* The parent is gone; nothing to tell. */
        }
        close(*ready_fd);
        *ready_fd = -1;
    }
}

/* StratoVirt: the pidfile must not exist already; it is created 0600. */
static bool write_pidfile(const char *path, GError **err)
{
    g_autofree char *text = g_strdup_printf("%d\n", (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd < 0) {
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot create pidfile '%s': %s", path, g_strerror(errno));
        return false;
    }
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot write pidfile '%s': %s", path, g_strerror(errno));
        close(fd);
        unlink(path);
        return false;
    }
    close(fd);
    return true;
}

/*
 * The signal mask the machine is built with, inherited by every thread it
 * starts:
 *  - SIGTERM, SIGINT and SIGHUP stay pending until machine_run() has its
 *    handlers in place (watch_signals() in machine.c unblocks them), so a
 *    stop request that arrives while the machine is being built still ends
 *    in an orderly shutdown (SHUTDOWN event, sockets and pidfile removed,
 *    status 0) instead of killing the process and leaving its sockets behind.
 *    Meanwhile the start-up watcher (os/startup-signals.h) takes them, so
 *    that a start-up stuck in a blocking call can still be ended.
 *  - SIGUSR1 is the KVM vCPU kick (accel/kvm.c): only vCPU threads unblock
 *    it, so a stray `kill -USR1` cannot interrupt a system call of the main
 *    loop or of a helper thread.
 */
static void block_signals_for_startup(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static int fail(GError *err, const char *pidfile, int *ready_fd)
{
    report_error("%s", err->message);
    g_error_free(err);
    if (pidfile) {
        unlink(pidfile);
    }
    report_ready(ready_fd, 1);
    return 1;
}

/*
 * Once the machine is built (everything the command line names is open) and
 * before the guest runs: -chroot, -runas, then the seccomp filter, widened
 * by what the devices and block nodes declare. It covers every thread; the
 * vCPUs and block I/O workers started later narrow it for themselves.
 */
static bool confine(Machine *m, const StratusConfig *cfg, GError **err)
{
    static const SeccompMode modes[] = {
        [SANDBOX_OFF] = SECCOMP_LIST_OFF,
        [SANDBOX_ON] = SECCOMP_LIST_KILL,
        [SANDBOX_DEBUG] = SECCOMP_LIST_TRAP,
    };

    if ((cfg->runas || cfg->chroot_dir) &&
        !privdrop_apply(cfg->runas, cfg->chroot_dir, err)) {
        return false;
    }
    m->sandbox.mode = modes[cfg->sandbox];
    m->sandbox.needs = machine_seccomp_needs(m);
    if (!seccomp_install(&m->sandbox, err)) {
        return false;
    }
    if (g_getenv("STRATUS_SECCOMP_SELFTEST")) {
        seccomp_selftest();         /* the tests' deliberately forbidden call */
    }
    return true;
}

/*
 * `-device help` and `-device DRIVER,help` answer before the rest of the
 * command line is checked, as in QEMU, so they work without -qmp or a
 * kernel. Returns true (and the exit status) when one was asked for.
 */
static bool device_help(int argc, char **argv, int *status)
{
    for (int i = 1; i < argc; i++) {
        const char *val = NULL;
        g_autofree char *text = NULL;
        GError *err = NULL;

        if ((!strcmp(argv[i], "-device") || !strcmp(argv[i], "--device")) && i + 1 < argc) {
            val = argv[++i];
        } else if (g_str_has_prefix(argv[i], "--device=")) {
            val = argv[i] + strlen("--device=");
        }
        if (!val || !device_help_for_option(val, &text, &err)) {
            continue;
        }
        if (!text) {
            report_error("-device: %s", err->message);
            g_error_free(err);
            *status = 1;
            return true;
        }
        fputs(text, stdout);
        *status = 0;
        return true;
    }
    return false;
}

/* `-machine help` / `-M ?`, QEMU's listing, from the machine registry. */
static bool machine_help(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++) {
        g_autofree char *type = NULL;

        if (strcmp(argv[i], "-machine") && strcmp(argv[i], "-M") &&
            strcmp(argv[i], "--machine")) {
            continue;
        }
        type = g_strndup(argv[i + 1], strcspn(argv[i + 1], ","));
        if (strcmp(type, "help") && strcmp(type, "?")) {
            continue;
        }
        printf("Supported machines are:\n");
        for (const MachineClass *const *mc = machine_class_all(); *mc; mc++) {
            printf("%-20s %s%s\n", (*mc)->name, (*mc)->description,
                   (*mc)->is_default ? " (default)" : "");
        }
        return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    GError *err = NULL;
    StratusConfig *cfg;
    const char *pidfile = NULL;
    Machine *m;
    int ready_fd = -1;
    int status;

    signal(SIGPIPE, SIG_IGN);
    if (device_help(argc, argv, &status)) {
        return status;
    }
    if (machine_help(argc, argv)) {
        return 0;
    }
    cfg = config_parse(argc, argv, &err);
    if (!cfg) {
        return fail(err, NULL, &ready_fd);
    }
    if (cfg->show_help || cfg->show_version) {
        if (cfg->show_help) {
            config_print_help(stdout);
        } else {
            printf("Stratus version %s\n", STRATUS_VERSION);
        }
        config_free(cfg);
        return 0;
    }
    if (cfg->log_enabled && !log_open(cfg->logfile, &err)) {
        config_free(cfg);
        return fail(err, NULL, &ready_fd);
    }
    if (cfg->daemonize) {
        if (daemonize(&ready_fd) < 0) {
            report_error("cannot daemonize: %s", g_strerror(errno));
            config_free(cfg);
            return 1;
        }
        block_signals_for_startup();        /* the daemon, before its pidfile */
        close_inherited_fds(cfg, ready_fd);
        if (cfg->pidfile) {
            if (!write_pidfile(cfg->pidfile, &err)) {
                config_free(cfg);
                return fail(err, NULL, &ready_fd);
            }
            pidfile = cfg->pidfile;
        }
    }
    /* machine_new() logs "VmConfig is ..." once the accelerator is chosen. */
    g_autofree char *pidfile_copy = g_strdup(pidfile);
    block_signals_for_startup();
    StartupSignals startup_sigs;
    startup_signals_start(&startup_sigs, cfg, pidfile_copy, &ready_fd);
    m = machine_new(cfg, &err);
    startup_signals_end(&startup_sigs);
    if (!m) {
        config_free(cfg);
        return fail(err, pidfile_copy, &ready_fd);
    }
    if (pidfile_copy) {
        machine_add_cleanup_path(m, pidfile_copy);
    }
    if (!confine(m, cfg, &err)) {
        machine_free(m);
        return fail(err, pidfile_copy, &ready_fd);
    }
    if (cfg->daemonize) {
        report_ready(&ready_fd, 0);
        detach_stdio();
    }
    status = machine_run(m);
    machine_free(m);
    log_info("stratus exits with status %d", status);
    log_close();
    return status;
}
