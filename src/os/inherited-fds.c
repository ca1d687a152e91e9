/* Closing what a daemon inherited (inherited-fds.h). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "os/inherited-fds.h"

static void add_fd_list(GArray *out, const char *list)
{
    g_auto(GStrv) parts = NULL;

    if (!list) {
        return;
    }
    parts = g_strsplit(list, ":", -1);
    for (char **p = parts; *p; p++) {
        char *end;
        long v = strtol(*p, &end, 10);
        if (**p && !*end && v > 2 && v <= G_MAXINT) {
            int fd = (int)v;
            g_array_append_val(out, fd);
        }
    }
}

GArray *config_named_fds(const StratusConfig *cfg)
{
    static const char *const keys[] = { "fd", "fds", "vhostfd", "vhostfds" };
    GArray *out = g_array_new(FALSE, FALSE, sizeof(int));

    for (guint i = 0; cfg->chardevs && i < cfg->chardevs->len; i++) {
        const ChardevConfig *c = g_ptr_array_index(cfg->chardevs, i);
        if (c->fd > 2) {
            g_array_append_val(out, c->fd);
        }
    }
    for (guint i = 0; cfg->netdevs && i < cfg->netdevs->len; i++) {
        const OptList *l = g_ptr_array_index(cfg->netdevs, i);
        for (guint k = 0; k < G_N_ELEMENTS(keys); k++) {
            add_fd_list(out, optlist_get(l, keys[k]));
        }
    }
    return out;
}

static bool kept(int fd, const int *keep, unsigned nkeep)
{
    for (unsigned i = 0; i < nkeep; i++) {
        if (keep[i] == fd) {
            return true;
        }
    }
    return false;
}

unsigned close_fds_except(const int *keep, unsigned nkeep)
{
    GArray *open_fds = g_array_new(FALSE, FALSE, sizeof(int));
    DIR *d = opendir("/proc/self/fd");
    unsigned closed = 0;

    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            char *end;
            long v = strtol(e->d_name, &end, 10);
            if (e->d_name[0] != '.' && !*end && v > 2 && v != dirfd(d)) {
                int fd = (int)v;
                g_array_append_val(open_fds, fd);
            }
        }
        closedir(d);
    } else {
        /* No /proc: every possible number (bounded by the fd limit). */
        long max = sysconf(_SC_OPEN_MAX);
        for (int fd = 3; fd < (max > 0 ? MIN(max, 65536) : 1024); fd++) {
            g_array_append_val(open_fds, fd);
        }
    }
    for (guint i = 0; i < open_fds->len; i++) {
        int fd = g_array_index(open_fds, int, i);
        if (!kept(fd, keep, nkeep) && close(fd) == 0) {
            closed++;
        }
    }
    g_array_free(open_fds, TRUE);
    return closed;
}
