/* Send-path fault hooks for tests (send_fault.h). */
#define _GNU_SOURCE /* sendmmsg */
#include "io/send_fault.h"

#include <errno.h>

_Atomic int io_fault_udp_sends;
_Atomic int io_fault_tcp_sends;
static _Thread_local bool enrolled;

void io_fault_enroll(bool on) { enrolled = on; }

/* Takes one of the K faults; *k gets how many were left before. */
static bool take(_Atomic int *faults, int *k)
{
    if (!enrolled)
        return false;
    int left = atomic_load(faults);
    while (left > 0) {
        if (atomic_compare_exchange_weak(faults, &left, left - 1)) {
            *k = left;
            return true;
        }
    }
    return false;
}

ssize_t io_tcp_send(int fd, const void *data, size_t len, int flags)
{
    int k;
    if (__builtin_expect(atomic_load_explicit(&io_fault_tcp_sends, memory_order_relaxed) != 0, 0) &&
        take(&io_fault_tcp_sends, &k)) {
        if (k % 2 == 0) {
            errno = EAGAIN;
            return -1;
        }
        if (len > 7)
            len = 7;
    }
    return send(fd, data, len, flags);
}

int io_udp_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags)
{
    int k;
    if (__builtin_expect(atomic_load_explicit(&io_fault_udp_sends, memory_order_relaxed) != 0, 0) &&
        take(&io_fault_udp_sends, &k) && k % 4 != 2) {
        errno = k % 4 == 0 ? EAGAIN : ENOBUFS;
        return -1;
    }
    return sendmmsg(fd, msgs, n, flags);
}
