/*
 * vfio-pci's pure pieces (src/hw/vfio/): host= address parsing into the
 * canonical sysfs name, accepted and refused forms.
 */
#include <glib.h>

#include "hw/vfio/vfio-backend.h"

static void check(const char *in, const char *want)
{
    g_autofree char *got = vfio_parse_host_address(in);

    g_assert_cmpstr(got, ==, want);
}

static void test_host_address(void)
{
    check("0000:01:00.0", "0000:01:00.0");
    check("01:00.0", "0000:01:00.0");            /* the domain is optional */
    check("ABCD:Ef:1f.7", "abcd:ef:1f.7");
    check("1:2:3.4", "0001:02:03.4");
    check("ffff:ff:1f.7", "ffff:ff:1f.7");
    check(NULL, NULL);
    check("", NULL);
    check("01:00", NULL);                        /* no function */
    check("01:20.0", NULL);                      /* slot > 31 */
    check("01:00.8", NULL);                      /* function > 7 */
    check("01:00.0x", NULL);                     /* trailing text */
    check("10000:01:00.0", NULL);                /* domain too wide */
    check("01:00.0 ", NULL);
    check(" 01:00.0", NULL);
    check("-1:00.0", NULL);
    check("+1:00.0", NULL);
    check("0x1:00.0", NULL);
    check("01:00:00.0:0", NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vfio/host-address", test_host_address);
    return g_test_run();
}
