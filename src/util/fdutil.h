/*
 * Descriptor I/O that finishes the job: short writes and EINTR are retried,
 * so a caller sees either every byte written or an errno.
 */
#ifndef STRATUS_FDUTIL_H
#define STRATUS_FDUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Writes all n bytes; false with errno set (EIO for a zero-length write). */
bool fd_write_all(int fd, const void *buf, size_t n);
/* The same at a file offset (pwrite: the descriptor's own offset is left alone). */
bool fd_pwrite_all(int fd, const void *buf, size_t n, off_t offset);
/*
 * The same on a socket with MSG_NOSIGNAL: a peer that went away is EPIPE,
 * not a SIGPIPE; a send timeout (SO_SNDTIMEO) is EAGAIN.
 */
bool fd_send_all(int fd, const void *buf, size_t n);
/* ioctl(2) made again while a signal interrupts it (EINTR); otherwise its result and errno. */
int fd_ioctl(int fd, unsigned long req, void *arg);

#endif
