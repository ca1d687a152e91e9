/*
 * SIGTERM/SIGINT/SIGHUP while the machine is being built (docs/command-line.md
 * "Signals"): they are blocked in every thread, as the machine's handlers are
 * not in place yet; a watcher thread takes them so that a start-up stuck in a
 * blocking call (a server socket waiting for its client, a slow open) can
 * still be ended.
 */
#ifndef STRATUS_OS_STARTUP_SIGNALS_H
#define STRATUS_OS_STARTUP_SIGNALS_H

#include <pthread.h>
#include <stdbool.h>

#include "config.h"

/* How long a start-up that got a signal may take to finish before it is ended. */
#define STARTUP_SIGNAL_GRACE_MS 2000

typedef struct StartupSignals {
    int sfd, efd;               /* signalfd; eventfd "start-up is over" */
    pthread_t thread;
    bool running;
    int caught;                 /* the first signal taken, 0 if none */
    const StratusConfig *cfg;   /* the unix server sockets to remove */
    const char *pidfile;
    int *ready_fd;              /* -daemonize: the launcher's status pipe */
} StartupSignals;

/*
 * Starts the watcher; the caller has blocked the signals. If start-up does
 * not end within STARTUP_SIGNAL_GRACE_MS of the first signal, the watcher
 * removes the pidfile and the unix server sockets of cfg, reports
 * "stratus: error: start-up interrupted by SIGTERM" and exits with status 1.
 */
void startup_signals_start(StartupSignals *s, const StratusConfig *cfg,
                           const char *pidfile, int *ready_fd);

/*
 * Start-up is over: stops the watcher. A signal it took is made pending again
 * on the process (still blocked), so machine_run() shuts down in order.
 */
void startup_signals_end(StartupSignals *s);

#endif
