/* Send-path fault hooks for tests (tests/test_faults.c): the next K sends
 * on enrolled threads misbehave the way a busy kernel does. Internal. */
#ifndef HANDOFF_IO_SEND_FAULT_H
#define HANDOFF_IO_SEND_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Of the next K sendmmsg calls, three in four fail: ENOBUFS, EAGAIN,
 * ENOBUFS, then one goes (a run of refusals would only test the PTO's
 * exponential back-off). */
extern _Atomic int io_fault_udp_sends;
/* The next K TCP sends are short (at most 7 bytes) or fail with EAGAIN,
 * alternately. */
extern _Atomic int io_fault_tcp_sends;
/* Only the calling thread's sends count (a test enrolls the server's). */
void io_fault_enroll(bool on);

/* send(2) and sendmmsg(2) behind the hooks: one predictable branch when
 * no test armed them. */
ssize_t io_tcp_send(int fd, const void *data, size_t len, int flags);
int io_udp_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags);

#endif
