/*
 * Build-time generator of the stratus(1) man page: prints it, rendered from
 * the option table that also prints -help (src/options/opt-table.c), so the
 * page cannot drift from what the binary accepts. Not installed.
 */
#include <stdio.h>

#include "config.h"

int main(void)
{
    config_print_man(stdout, STRATUS_VERSION);
    return ferror(stdout) || fflush(stdout) != 0;
}
