/*
 * The tap back end (docs/net.md): -netdev tap,... and QMP netdev_add.
 * A tap opened here (ifname=) or inherited (fd=) is non-blocking and read
 * on the machine's main loop, NET_RX_BUDGET frames per wake-up.
 */
#ifndef STRATUS_NET_TAP_H
#define STRATUS_NET_TAP_H

#include "net/net.h"

typedef struct NetdevOptions {
    const char *id;
    const char *type;          /* "tap" (NULL = tap) or "socket" (fd= only: a datagram socket) */
    const char *ifname;        /* open /dev/net/tun (or `path`) and attach to this tap */
    const char *path;          /* StratoVirt's: the tun clone device (default /dev/net/tun) */
    /* Open tap descriptors (fd= is one, fds= one per queue), taken over. */
    int fds[NET_MAX_QUEUES];
    unsigned nfds;
    /* vhostfd=/vhostfds=: open /dev/vhost-net descriptors, one per queue, taken over. */
    int vhostfds[NET_MAX_QUEUES];
    unsigned nvhostfds;
    bool vhost;                /* vhost=on: the data path in /dev/vhost-net */
    unsigned queues;           /* queues= (0 and !queues_given: as many as fds, or 1) */
    bool queues_given;
    const char *script, *downscript;
} NetdevOptions;

#define NETDEV_OPTIONS_INIT { .nfds = 0 }

/*
 * A ':'-separated list of descriptors (fds=, vhostfds=; fd= is a list of
 * one): each element goes through `resolve` (a getfd name or an inherited
 * number; -1 if neither). At most NET_MAX_QUEUES. On failure the ones
 * resolved so far are closed. Errors: "Add netdev error: failed to convert
 * {} to RawFd." (StratoVirt's), too many.
 */
bool net_parse_fd_list(const char *spec, int (*resolve)(void *opaque, const char *elem),
                       void *opaque, int *fds, unsigned *n, GError **err);

/*
 * Creates the back end and adds it to m->netdevs. On failure nothing is
 * kept and o's descriptors are closed. Errors (StratoVirt's texts where it
 * has them): "Tap device is missing, use 'ifname' or 'fd' to configure a tap
 * device", "Tap device already in use", "Duplicate ID 'X' for netdev",
 * vhost=on without /dev/vhost-net names the device.
 */
bool net_netdev_add(Machine *m, NetdevOptions *o, GError **err);
/* netdev_del: "Device 'X' not found", or in use by a NIC. */
bool net_netdev_del(Machine *m, const char *id, GError **err);

#endif
