/*
 * The floor for benches/echo-vs-peers.sh: the least work an epoll echo server can
 * do. One thread, level-triggered epoll, one recv and one send per wake-up, no
 * timers, no limits, no shutdown. What it costs per round trip is what the kernel
 * costs (on loopback a send also carries the receiver's TCP processing), so no
 * epoll server can use much less CPU than this one.
 *
 *     cc -O2 -o epoll_floor epoll_floor.c && ./epoll_floor
 *
 * It listens on 127.0.0.1 with a port the kernel picks, prints
 * `listening tcp 127.0.0.1:PORT` and runs until it is killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "floor.h"

static char buf[64 * 1024];

/* Writes all of buf[0..len), waiting for room when the socket is full (only the
 * 64 KiB scenario fills it), up to 5 s at a time. Returns -1 if the peer is gone
 * or stopped reading. */
static int send_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n >= 0) {
            data += n;
            len -= (size_t)n;
        } else if (errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 5000) == 0)
                return -1;
        } else if (errno != EINTR) {
            return -1;
        }
    }
    return 0;
}

int main(void) {
    int ep;
    int listener = listen_loopback("tcp", &ep);
    struct epoll_event ready[256];
    for (;;) {
        int n = wait_ready(ep, ready, 256);
        for (int i = 0; i < n; i++) {
            int fd = ready[i].data.fd;
            if (fd == listener) {
                while (accept_registered(listener, ep) >= 0) {
                    /* nothing more: it is in the epoll set */
                }
                continue;
            }
            ssize_t got = recv(fd, buf, sizeof buf, 0);
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR) ||
                (got > 0 && send_all(fd, buf, (size_t)got) < 0))
                close(fd); /* closing also removes it from the epoll set */
        }
    }
}
