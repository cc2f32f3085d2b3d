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
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[64 * 1024];

static void fail(const char *what) {
    perror(what);
    _exit(1);
}

/* Writes all of buf[0..len), waiting for room when the socket is full (only the
 * 64 KiB scenario fills it). Returns -1 if the peer is gone. */
static int send_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n >= 0) {
            data += n;
            len -= (size_t)n;
        } else if (errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, -1);
        } else if (errno != EINTR) {
            return -1;
        }
    }
    return 0;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    int one = 1;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t addr_len = sizeof addr;
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(listener, 4096) < 0 || getsockname(listener, (struct sockaddr *)&addr, &addr_len) < 0)
        fail("listen");
    printf("listening tcp 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) < 0)
        fail("epoll");
    struct epoll_event ready[256];
    for (;;) {
        int n = epoll_wait(ep, ready, 256, -1);
        if (n < 0 && errno != EINTR)
            fail("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = ready[i].data.fd;
            if (fd == listener) {
                int conn;
                while ((conn = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    /* As every other server in the comparison does. */
                    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event c = {.events = EPOLLIN, .data.fd = conn};
                    epoll_ctl(ep, EPOLL_CTL_ADD, conn, &c);
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
