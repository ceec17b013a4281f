/* echo_raw_epoll.c — the reference echo server of the echo benchmark: C11 on raw epoll, one
 * thread, no library. What a careful C programmer writes, and the floor the other servers are
 * compared with.
 *
 *   echo_raw_epoll --port P [--drain]        (P = 0: the kernel picks a free port)
 *
 * Listens on 127.0.0.1 only, prints one line `port=<N>` (flushed) once listening, then serves
 * until SIGTERM or SIGINT (exit status 0).
 *
 * Each connection is registered once, edge-triggered, for EPOLLIN | EPOLLOUT | EPOLLRDHUP (no
 * epoll_ctl per message). On any event the connection is pumped: write back what is still
 * buffered; if the socket is full, stop and wait for the next edge (EPOLLOUT); else read (up
 * to 64 KiB, the buffer of every server in the benchmark) and write the bytes back at once;
 * repeat until the socket is drained (edge-triggered: nothing is reported again until new data
 * arrives). A connection never reads more while it has unsent bytes, so a client that does
 * not read only fills its own socket buffers. At EOF (everything echoed) the connection is
 * closed. Accepted sockets get TCP_NODELAY, as asyncio and uvloop set it on theirs.
 *
 * Drained means: a read said EAGAIN, or a read returned less than it asked for — a TCP socket
 * hands over everything queued, so a short read emptied it, and data arriving after it makes
 * a new edge. Asio's reactor uses the same rule ("done_and_exhausted"). The exception is a
 * peer that has shut down (EPOLLRDHUP/HUP/ERR seen): its FIN may have arrived together with the
 * data, in the same edge, so such a connection is read until EOF. A 64-byte ping-pong message
 * then costs 2 system calls (read, write) plus a share of an epoll_wait.
 * --drain: generic edge-triggered code, which reads until EAGAIN (3 system calls per message:
 * read, write, read -> EAGAIN); reported as its own row, for scale.
 *
 * Fairness: one pump reads at most 16 times; a connection that still has data then (its peer
 * answers faster than the server echoes) goes to the back of a ready list, served after the
 * other connections' events (epoll_wait with timeout 0 while the list is not empty), so one
 * fast connection cannot starve the rest (without the bound it does, e.g. with the server
 * under strace).
 *
 * Build: cc -O2 -std=c11 -o echo_raw_epoll echo_raw_epoll.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define READ_BUDGET 16 /* reads per pump before the connection yields to the others */

typedef struct Conn {
    int fd;            /* -1 once closed (the struct waits on the ready list to be freed) */
    int queued;        /* on the ready list */
    int peer_shut;     /* EPOLLRDHUP/HUP/ERR seen: short reads prove nothing, read to EOF */
    struct Conn* next; /* ready list link */
    size_t off, len;   /* buf[off, len) is read but not yet written back */
    unsigned char buf[BUF_SIZE];
} Conn;

static volatile sig_atomic_t g_stop = 0;
static int g_drain = 0; /* --drain: read until EAGAIN, ignore short reads */

/* Connections whose last pump ran out of budget with data possibly left (FIFO). */
static Conn* g_ready_head = NULL;
static Conn** g_ready_tail = &g_ready_head;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void die(const char* what) {
    fprintf(stderr, "echo_raw_epoll: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void conn_close(Conn* c) {
    close(c->fd); /* also removes it from the epoll set */
    c->fd = -1;
    if (!c->queued) free(c); /* else freed when the ready list reaches it */
}

static void conn_queue(Conn* c) {
    if (c->queued) return;
    c->queued = 1;
    c->next = NULL;
    *g_ready_tail = c;
    g_ready_tail = &c->next;
}

/* Echoes until the socket is drained, or cannot take more (EAGAIN on write: the next EPOLLOUT
 * edge resumes here), or READ_BUDGET reads were done (then the connection goes on the ready
 * list). `events` is what epoll reported (0 from the ready list). */
static void conn_pump(Conn* c, uint32_t events) {
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->peer_shut = 1;
    int drained = 0;
    for (int reads = 0;; ++reads) {
        while (c->off < c->len) {
            ssize_t w = write(c->fd, c->buf + c->off, c->len - c->off);
            if (w > 0) {
                c->off += (size_t)w;
            } else if (w < 0 && errno == EINTR) {
                continue;
            } else if (w < 0 && errno == EAGAIN) {
                return;
            } else {
                conn_close(c); /* EPIPE, ECONNRESET: the peer is gone */
                return;
            }
        }
        c->off = c->len = 0;
        if (drained) return;
        if (reads == READ_BUDGET) {
            conn_queue(c);
            return;
        }
        ssize_t r = read(c->fd, c->buf, BUF_SIZE);
        if (r > 0) {
            c->len = (size_t)r;
            drained = r < BUF_SIZE && !g_drain && !c->peer_shut;
            continue; /* written back at the top of the loop */
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) return;
        conn_close(c); /* EOF with everything echoed, or an error */
        return;
    }
}

int main(int argc, char** argv) {
    int port = -1, bad = 0;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            char* end = NULL;
            long p = strtol(argv[++i], &end, 10);
            if (*end || p < 0 || p > 65535) bad = 1;
            port = (int)p;
        } else if (!strcmp(argv[i], "--drain")) {
            g_drain = 1;
        } else {
            bad = 1;
        }
    }
    if (port < 0 || bad) {
        fprintf(stderr, "usage: echo_raw_epoll --port P [--drain]   (P = 0: any free port)\n");
        return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr*)&addr, sizeof addr) != 0) die("bind");
    if (listen(lfd, SOMAXCONN) != 0) die("listen");
    socklen_t alen = sizeof addr;
    if (getsockname(lfd, (struct sockaddr*)&addr, &alen) != 0) die("getsockname");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev;
    ev.events = EPOLLIN; /* the listener: level-triggered, accept until EAGAIN anyway */
    ev.data.ptr = NULL;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0) die("epoll_ctl(listener)");

    printf("port=%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    struct epoll_event evs[256];
    while (!g_stop) {
        int n = epoll_wait(ep, evs, 256, g_ready_head ? 0 : -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int k = 0; k < n; ++k) {
            Conn* c = evs[k].data.ptr;
            if (c) { /* each fd is reported at most once per epoll_wait: c is live */
                conn_pump(c, evs[k].events);
                continue;
            }
            for (;;) { /* the listener */
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                    if (errno == EINTR || errno == ECONNABORTED) continue;
                    if (errno == EAGAIN) break;
                    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                        fprintf(stderr, "echo_raw_epoll: accept: %s\n", strerror(errno));
                        break;
                    }
                    die("accept4");
                }
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                Conn* nc = malloc(sizeof *nc);
                if (!nc) {
                    close(fd);
                    continue;
                }
                nc->fd = fd;
                nc->queued = nc->peer_shut = 0;
                nc->next = NULL;
                nc->off = nc->len = 0;
                struct epoll_event cev;
                cev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
                cev.data.ptr = nc;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) != 0) die("epoll_ctl(connection)");
                /* Nothing to do yet: the EPOLLOUT reported for the registration (or the first
                 * EPOLLIN edge) starts it. */
            }
        }
        /* Then the connections that ran out of budget, each once (those queued again by
         * this round wait for the next). */
        Conn* ready = g_ready_head;
        g_ready_head = NULL;
        g_ready_tail = &g_ready_head;
        while (ready) {
            Conn* c = ready;
            ready = c->next;
            c->queued = 0;
            if (c->fd < 0) free(c);
            else conn_pump(c, 0);
        }
    }
    /* Connections still open are closed by the process exit. */
    close(ep);
    close(lfd);
    return 0;
}
