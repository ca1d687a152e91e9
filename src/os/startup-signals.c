/*
 * The start-up signal watcher (startup-signals.h). A signalfd rather than a
 * handler: the signals stay blocked, so no system call of the start-up code is
 * interrupted, and one taken while start-up finishes in time is simply queued
 * again for the machine's own handlers.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "os/startup-signals.h"
#include "util/log.h"

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
    }
}

static void remove_unix_servers(const StratusConfig *cfg)
{
    struct stat st;

    for (guint i = 0; cfg && cfg->chardevs && i < cfg->chardevs->len; i++) {
        const ChardevConfig *c = g_ptr_array_index(cfg->chardevs, i);
        if (c->kind == CHARDEV_SOCKET && c->server && c->path &&
            lstat(c->path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            unlink(c->path);
        }
    }
}

G_GNUC_NORETURN static void startup_interrupted(StartupSignals *s)
{
    char status = 1;

    if (s->pidfile) {
        unlink(s->pidfile);
    }
    remove_unix_servers(s->cfg);
    report_error("start-up interrupted by %s", signal_name(s->caught));
    if (s->ready_fd && *s->ready_fd >= 0 && write(*s->ready_fd, &status, 1) != 1) {
        /* The launcher is gone: nobody to tell. */
    }
    _exit(1);
}

static void *watch(void *opaque)
{
    StartupSignals *s = opaque;
    gint64 deadline = -1;

    for (;;) {
        struct pollfd p[2] = {
            { .fd = s->sfd, .events = POLLIN },
            { .fd = s->efd, .events = POLLIN },
        };
        int timeout = -1;
        int n;

        if (deadline >= 0) {
            timeout = (int)MAX(0, (deadline - g_get_monotonic_time()) / 1000);
        }
        n = poll(p, 2, timeout);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n > 0 && (p[1].revents & POLLIN)) {
            return NULL;
        }
        if (n == 0 && deadline >= 0) {
            startup_interrupted(s);
        }
        if (n > 0 && (p[0].revents & POLLIN)) {
            struct signalfd_siginfo si;
            if (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) && !s->caught) {
                s->caught = (int)si.ssi_signo;
                deadline = g_get_monotonic_time() + STARTUP_SIGNAL_GRACE_MS * 1000;
            }
        }
    }
}

void startup_signals_start(StartupSignals *s, const StratusConfig *cfg,
                           const char *pidfile, int *ready_fd)
{
    sigset_t set;

    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->pidfile = pidfile;
    s->ready_fd = ready_fd;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    s->sfd = signalfd(-1, &set, SFD_CLOEXEC);
    s->efd = eventfd(0, EFD_CLOEXEC);
    if (s->sfd < 0 || s->efd < 0 || pthread_create(&s->thread, NULL, watch, s) != 0) {
        /* Without a watcher the signals just stay pending, as before. */
        log_warn("start-up signal watcher unavailable: %s", g_strerror(errno));
        startup_signals_end(s);
        return;
    }
    s->running = true;
}

void startup_signals_end(StartupSignals *s)
{
    uint64_t one = 1;

    if (s->running) {
        if (write(s->efd, &one, sizeof(one)) != sizeof(one)) {
            /* An eventfd write only fails on overflow. */
        }
        pthread_join(s->thread, NULL);
        s->running = false;
        if (s->caught) {
            kill(getpid(), s->caught);
        }
    }
    if (s->sfd >= 0) {
        close(s->sfd);
    }
    if (s->efd >= 0) {
        close(s->efd);
    }
    s->sfd = s->efd = -1;
}
