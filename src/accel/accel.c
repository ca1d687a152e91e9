#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "accel/accel.h"
#include "util/log.h"
#include "util/strutil.h"

const AccelOps *accel_find(const char *name)
{
    static const AccelOps *const all[] = { &kvm_accel_ops, &emu_accel_ops,
                                           &qtest_accel_ops };

    for (unsigned i = 0; i < G_N_ELEMENTS(all); i++) {
        if (all[i]->name && strcmp(all[i]->name, name) == 0) {
            return all[i];
        }
    }
    return NULL;
}

bool accel_kvm_usable(char **why)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int version, saved;

    if (fd < 0) {
        if (why) {
            *why = g_strdup_printf("/dev/kvm: %s", g_strerror(errno));
        }
        return false;
    }
    version = ioctl(fd, KVM_GET_API_VERSION, 0);
    saved = errno;
    close(fd);
    if (version == KVM_API_VERSION) {
        return true;
    }
    if (why) {
        *why = version < 0
            ? g_strdup_printf("/dev/kvm: KVM_GET_API_VERSION: %s", g_strerror(saved))
            : g_strdup_printf("/dev/kvm: KVM API version %d is not supported (need %d)",
                              version, KVM_API_VERSION);
    }
    return false;
}

const AccelOps *accel_select(const AccelSelect *s, GError **err)
{
    g_auto(GStrv) names = g_strsplit(s->list ? s->list : "", ":", -1);
    g_autofree char *fallback_option = g_strdup_printf("-accel %s", s->list ? s->list : "");
    const char *option = s->option ? s->option : fallback_option;
    guint n = g_strv_length(names);

    if (n == 0) {
        set_error(err, "no accelerator given");
        return NULL;
    }
    for (guint i = 0; i < n; i++) {
        const AccelOps *ops = accel_find(names[i]);
        const char *next = i + 1 < n ? names[i + 1] : NULL;
        GError *e = NULL;

        if (!ops) {
            set_error(err, "%s: unsupported accelerator '%s'", option, names[i]);
            return NULL;
        }
        if (strcmp(ops->name, "kvm") == 0 && !s->kvm_usable) {
            const char *why = s->kvm_why ? s->kvm_why : "/dev/kvm is not usable";

            if (!next) {
                set_error(err, "%s: KVM is not available: %s", option, why);
                return NULL;
            }
            if (s->automatic) {
                log_warn("KVM is not available (%s); using the %s software CPU", why, next);
            } else {
                log_info("%s: KVM is not available (%s); trying %s", option, why, next);
            }
            continue;
        }
        if (s->init(ops, s->opaque, &e)) {
            return ops;
        }
        if (!next) {
            g_propagate_error(err, e);
            return NULL;
        }
        if (s->automatic) {
            /* The automatic list is kvm:emu, so this is KVM. */
            log_warn("KVM could not be initialised (%s); using the %s software CPU",
                     e->message, next);
        } else {
            log_info("%s: failed to initialise %s (%s); trying %s", option, ops->name,
                     e->message, next);
        }
        g_error_free(e);
    }
    return NULL;    /* not reached: the last name always returns above */
}
