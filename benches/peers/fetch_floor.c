/*
 * The floor for benches/fetch-vs-peers.sh: the least work a fetcher can do for the
 * bench's corpora. One thread, epoll, J keep-alive HTTP/1.1 connections to one
 * server, one GET at a time on each, bodies framed by Content-Length only (what
 * nginx sends for static files), each body written to an O_TMPFILE and linked
 * under OUT/PATH when complete, as a safe fetcher must. No redirects, retries,
 * decoding, timeouts or reports. What it costs is about what the kernel costs, so
 * no fetcher that writes files safely can use much less CPU.
 *
 *     cc -O2 -o fetch_floor fetch_floor.c
 *     ./fetch_floor URLS OUT [J]
 *
 * URLS holds one http://127.0.0.1:PORT/PATH per line, all on the same server;
 * OUT is an existing directory. Exits 1 on any error (a status other than 200, a
 * response without Content-Length, a failed write).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_J 256

struct conn {
    int fd;
    int file;          /* the body's O_TMPFILE, -1 between responses */
    const char *path;  /* relative to OUT */
    long left;         /* body bytes still to come */
    int in_head;       /* still reading the status line and headers */
    size_t head_len;
    char head[4096];
};

static char **paths;
static size_t n_paths, next_path, n_done;
static int out_dir, port;
static char buf[64 * 1024];

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "fetch_floor: %s: %s\n", what, detail ? detail : strerror(errno));
    exit(1);
}

static void request_next(struct conn *c) {
    if (next_path == n_paths)
        return;
    c->path = paths[next_path++];
    char req[1024];
    int n = snprintf(req, sizeof req, "GET /%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", c->path, port);
    if (send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        fail("send", NULL);
    c->in_head = 1;
    c->head_len = 0;
}

static void take_body(struct conn *c, const char *data, long n) {
    if (c->file < 0 && (c->file = openat(out_dir, ".", O_TMPFILE | O_WRONLY, 0644)) < 0)
        fail("O_TMPFILE", NULL);
    if (n > 0 && write(c->file, data, (size_t)n) != n)
        fail("write", NULL);
    c->left -= n;
    if (c->left == 0) {
        if (linkat(c->file, "", out_dir, c->path, AT_EMPTY_PATH) < 0)
            fail(c->path, NULL);
        close(c->file);
        c->file = -1;
        n_done++;
        request_next(c);
    }
}

/* Consumes one read's bytes: the rest of the head, then body bytes. */
static void take(struct conn *c, char *p, long len) {
    while (len > 0) {
        if (!c->in_head) {
            long k = len < c->left ? len : c->left;
            take_body(c, p, k);
            p += k;
            len -= k;
            continue;
        }
        size_t room = sizeof c->head - 1 - c->head_len;
        size_t k = (size_t)len < room ? (size_t)len : room;
        memcpy(c->head + c->head_len, p, k);
        c->head[c->head_len + k] = 0;
        char *end = strstr(c->head, "\r\n\r\n");
        if (!end) {
            if (k == room)
                fail(c->path, "response head too long");
            c->head_len += k;
            p += k;
            len -= (long)k;
            continue;
        }
        size_t used = (size_t)(end + 4 - c->head) - c->head_len;
        p += used;
        len -= (long)used;
        if (strncmp(c->head, "HTTP/1.1 200 ", 13) != 0)
            fail(c->path, "status is not 200");
        char *cl = strcasestr(c->head, "\r\nContent-Length:");
        if (!cl)
            fail(c->path, "no Content-Length");
        c->left = atol(cl + 17);
        c->in_head = 0;
        if (c->left == 0)
            take_body(c, p, 0);
    }
}

/* Reads URLS, keeping each PATH, and creates the directories they name under OUT. */
static void read_paths(const char *file) {
    FILE *f = fopen(file, "r");
    if (!f)
        fail(file, NULL);
    char line[2048];
    size_t cap = 1024;
    paths = malloc(cap * sizeof *paths);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *authority = strstr(line, "://");
        char *path = authority ? strchr(authority + 3, '/') : NULL;
        if (!path)
            fail(line, "not an http URL with a path");
        if (!port) {
            char *colon = strchr(authority + 3, ':');
            port = colon && colon < path ? atoi(colon + 1) : 80;
        }
        if (n_paths == cap)
            paths = realloc(paths, (cap *= 2) * sizeof *paths);
        paths[n_paths++] = strdup(path + 1);
        for (char *slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
            *slash = 0;
            if (mkdirat(out_dir, path + 1, 0755) < 0 && errno != EEXIST)
                fail(path + 1, NULL);
            *slash = '/';
        }
    }
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc < 3)
        fail("usage", "fetch_floor URLS OUT [J]");
    int j = argc > 3 ? atoi(argv[3]) : 64;
    if (j < 1 || j > MAX_J)
        fail("J", "must be 1 to 256");
    if ((out_dir = open(argv[2], O_DIRECTORY | O_PATH)) < 0)
        fail(argv[2], NULL);
    read_paths(argv[1]);

    static struct conn conns[MAX_J];
    int ep = epoll_create1(0), one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < j; i++) {
        struct conn *c = &conns[i];
        c->file = -1;
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0)
            fail("connect", NULL);
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            fail("epoll_ctl", NULL);
        request_next(c);
    }
    struct epoll_event ready[MAX_J];
    while (n_done < n_paths) {
        int n = epoll_wait(ep, ready, MAX_J, 30000);
        if (n <= 0)
            fail("epoll_wait", n == 0 ? "nothing for 30 s" : NULL);
        for (int i = 0; i < n; i++) {
            struct conn *c = ready[i].data.ptr;
            ssize_t got = recv(c->fd, buf, sizeof buf, 0);
            if (got == 0)
                fail("recv", "the server closed a connection");
            if (got < 0 && errno != EAGAIN)
                fail("recv", NULL);
            if (got > 0)
                take(c, buf, got);
        }
    }
    return 0;
}
