/*
 * Descriptor I/O that finishes the job: short writes and EINTR are retried,
 * so a caller sees either every byte written or an errno.
 */
#ifndef STRATUS_FDUTIL_H
#define STRATUS_FDUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Writes all n bytes; false with errno set (EIO for a zero-length write). */
bool fd_write_all(int fd, const void *buf, size_t n);

#endif
