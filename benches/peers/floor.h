/*
 * What the floor servers (epoll_floor.c, chat_floor.c) share: failing loudly, and
 * a non-blocking listener on 127.0.0.1 with a port the kernel picks, announced
 * with the ready line `listening KIND 127.0.0.1:PORT` and registered with a new
 * epoll set, and accepting connections into that set.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static void fail(const char *what) {
    perror(what);
    exit(1);
}

/* Returns the listener; *ep becomes the epoll set that holds it. */
static int listen_loopback(const char *kind, int *ep) {
    signal(SIGPIPE, SIG_IGN);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t addr_len = sizeof addr;
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(listener, 4096) < 0 || getsockname(listener, (struct sockaddr *)&addr, &addr_len) < 0)
        fail("listen");
    printf("listening %s 127.0.0.1:%d\n", kind, ntohs(addr.sin_port));
    fflush(stdout);
    *ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
    if (*ep < 0 || epoll_ctl(*ep, EPOLL_CTL_ADD, listener, &ev) < 0)
        fail("epoll");
    return listener;
}

/* Waits for events on ep, as many as max. */
static int wait_ready(int ep, struct epoll_event *ready, int max) {
    int n = epoll_wait(ep, ready, max, -1);
    if (n < 0 && errno != EINTR)
        fail("epoll_wait");
    return n < 0 ? 0 : n;
}

/* Accepts one connection with TCP_NODELAY (as every server in the comparisons
 * sets), registered with ep for reading; -1 when none is waiting. */
static int accept_registered(int listener, int ep) {
    int one = 1;
    int conn = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
    if (conn < 0)
        return -1;
    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = conn};
    epoll_ctl(ep, EPOLL_CTL_ADD, conn, &ev);
    return conn;
}
