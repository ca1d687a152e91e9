/* -runas and -chroot (privdrop.h). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "os/privdrop.h"

static void set_err(GError **err, int e, const char *fmt, const char *arg)
{
    g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), fmt, arg, g_strerror(e));
}

/* USER or numeric uid; GROUP or numeric gid. */
static gboolean lookup(const char *runas, uid_t *uid, gid_t *gid, GError **err)
{
    g_auto(GStrv) parts = g_strsplit(runas, ":", 2);
    struct passwd *pw;

    if (!parts[0] || !*parts[0]) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL, "-runas: no user given");
        return FALSE;
    }
    errno = 0;
    pw = getpwnam(parts[0]);
    if (!pw) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                    "-runas: user '%s' not found", parts[0]);
        return FALSE;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    if (parts[1]) {
        struct group *gr = getgrnam(parts[1]);
        if (!gr) {
            g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                        "-runas: group '%s' not found", parts[1]);
            return FALSE;
        }
        *gid = gr->gr_gid;
    }
    return TRUE;
}

gboolean privdrop_apply(const char *runas, const char *dir, GError **err)
{
    uid_t uid = 0;
    gid_t gid = 0;

    if (runas && !lookup(runas, &uid, &gid, err)) {
        return FALSE;
    }
    if (dir) {
        if (chroot(dir) < 0) {
            set_err(err, errno, "-chroot: cannot chroot to '%s': %s", dir);
            return FALSE;
        }
        if (chdir("/") < 0) {
            set_err(err, errno, "-chroot: cannot enter '%s': %s", dir);
            return FALSE;
        }
    }
    if (runas) {
        if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
            set_err(err, errno, "-runas: cannot switch to '%s': %s", runas);
            return FALSE;
        }
        /* A switch that could be undone is no drop (QEMU checks the same). */
        if (uid != 0 && setuid(0) == 0) {
            g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_PERM,
                        "-runas: could still switch back to root after '%s'", runas);
            return FALSE;
        }
    }
    return TRUE;
}
