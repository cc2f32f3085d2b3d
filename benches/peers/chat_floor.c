/*
 * The floor for benches/chat-vs-peers.sh: the least work an IRC fan-out can do for
 * `netkit bench chat`. One thread, epoll; it answers NICK/USER with 001, JOIN with
 * 366 (one channel list, whatever the name), PING with PONG, and fans each PRIVMSG
 * out to every other member: the line is built once and appended to each
 * receiver's output buffer, and after every epoll round each receiver's buffer goes
 * out in one send. No history, no checks, no flood control, no limit but a 1 MiB
 * send queue per receiver. What it costs per delivery is about what the kernel
 * costs with this load generator.
 *
 *     cc -O2 -o chat_floor chat_floor.c && ./chat_floor
 *
 * It listens on 127.0.0.1 with a port the kernel picks, prints
 * `listening irc 127.0.0.1:PORT` and runs until it is killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "floor.h"

#define MAX_FD 65536
#define LINE_MAX 8192
/* A receiver whose unsent lines pass this is dropped, as netkit's --sendq does. */
#define SENDQ (1 << 20)

struct client {
    int fd;
    int member;       /* joined the channel */
    int dirty;        /* on the flush list */
    int want_out;     /* EPOLLOUT registered: the socket was full */
    int overflowed;   /* passed SENDQ: dropped at the flush */
    char nick[64];
    size_t in_len;
    char in[LINE_MAX + 2];
    char *out;
    size_t out_len, out_cap;
};

static struct client *clients[MAX_FD];
static int members[MAX_FD], n_members;
static struct client *dirty[MAX_FD];
static int n_dirty;
static int ep;

static void drop(struct client *c) {
    if (c->member)
        for (int i = 0; i < n_members; i++)
            if (members[i] == c->fd) {
                members[i] = members[--n_members];
                break;
            }
    clients[c->fd] = NULL;
    close(c->fd);
    c->fd = -1;
    if (!c->dirty) { /* a client on the flush list is freed there */
        free(c->out);
        free(c);
    }
}

static void mark_dirty(struct client *c) {
    if (!c->dirty) {
        c->dirty = 1;
        dirty[n_dirty++] = c;
    }
}

static void queue(struct client *c, const char *data, size_t len) {
    if (c->fd < 0 || c->overflowed)
        return;
    if (c->out_len + len > SENDQ) {
        /* Dropped at the flush, not here: the caller may be walking the members. */
        c->overflowed = 1;
        mark_dirty(c);
        return;
    }
    if (c->out_len + len > c->out_cap) {
        c->out_cap = (c->out_len + len) * 2;
        if (!(c->out = realloc(c->out, c->out_cap)))
            fail("realloc");
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    mark_dirty(c);
}

static void flush(struct client *c) {
    if (c->overflowed) {
        drop(c);
        return;
    }
    size_t done = 0;
    while (done < c->out_len) {
        ssize_t n = send(c->fd, c->out + done, c->out_len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            break;
        } else {
            drop(c);
            return;
        }
    }
    memmove(c->out, c->out + done, c->out_len - done);
    c->out_len -= done;
    int want = c->out_len > 0;
    if (want != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.fd = c->fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want;
    }
}

static void reply(struct client *c, const char *fmt, const char *a, const char *b) {
    char line[512];
    int n = snprintf(line, sizeof line, fmt, a, b);
    queue(c, line, (size_t)n);
}

static void command(struct client *c, char *line) {
    if (!strncmp(line, "NICK ", 5)) {
        snprintf(c->nick, sizeof c->nick, "%s", line + 5);
    } else if (!strncmp(line, "USER ", 5)) {
        reply(c, ":floor 001 %s :Welcome%s\r\n", c->nick, "");
    } else if (!strncmp(line, "PING ", 5)) {
        reply(c, ":floor PONG floor %s%s\r\n", line + 5, "");
    } else if (!strncmp(line, "JOIN ", 5)) {
        if (!c->member) {
            c->member = 1;
            members[n_members++] = c->fd;
        }
        reply(c, ":%s JOIN %s\r\n", c->nick, line + 5);
        reply(c, ":floor 366 %s %s :End of /NAMES list.\r\n", c->nick, line + 5);
    } else if (!strncmp(line, "PRIVMSG ", 8)) {
        char out[LINE_MAX + 128];
        int n = snprintf(out, sizeof out, ":%s!u@floor %s\r\n", c->nick, line);
        for (int i = 0; i < n_members; i++)
            if (members[i] != c->fd)
                queue(clients[members[i]], out, (size_t)n);
    }
}

static void readable(struct client *c) {
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->in_len, LINE_MAX - c->in_len, 0);
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            drop(c);
            return;
        }
        c->in_len += (size_t)n;
        char *start = c->in, *end = c->in + c->in_len, *nl;
        while ((nl = memchr(start, '\n', (size_t)(end - start)))) {
            *nl = 0;
            if (nl > start && nl[-1] == '\r')
                nl[-1] = 0;
            command(c, start);
            if (c->fd < 0)
                return;
            start = nl + 1;
        }
        c->in_len = (size_t)(end - start);
        if (c->in_len == LINE_MAX)
            c->in_len = 0; /* an overlong line: dropped */
        memmove(c->in, start, c->in_len);
        if ((size_t)n < LINE_MAX - c->in_len)
            return;
    }
}

int main(void) {
    int listener = listen_loopback("irc", &ep);
    static struct epoll_event ready[1024];
    for (;;) {
        int n = wait_ready(ep, ready, 1024);
        for (int i = 0; i < n; i++) {
            int fd = ready[i].data.fd;
            if (fd == listener) {
                int conn;
                while ((conn = accept_registered(listener, ep)) >= 0) {
                    if (conn >= MAX_FD) {
                        close(conn);
                        continue;
                    }
                    struct client *c = calloc(1, sizeof *c);
                    c->fd = conn;
                    strcpy(c->nick, "*");
                    clients[conn] = c;
                }
                continue;
            }
            struct client *c = clients[fd];
            if (!c)
                continue;
            if (ready[i].events & EPOLLOUT)
                mark_dirty(c);
            if (ready[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                readable(c);
        }
        /* One send per receiver per round: the coalescing every server does. */
        for (int i = 0; i < n_dirty; i++) {
            struct client *c = dirty[i];
            if (c->fd >= 0)
                flush(c);
            c->dirty = 0;
            if (c->fd < 0) {
                free(c->out);
                free(c);
            }
        }
        n_dirty = 0;
    }
}
