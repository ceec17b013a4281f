/* echo_client.c — the load generator of the echo benchmark: C11, raw epoll, one thread,
 * non-blocking sockets with TCP_NODELAY. It is the same program for every server, so the
 * servers are compared under the same client.
 *
 *   echo_client pingpong --port P [--host 127.0.0.1] [--connections 50] [--size 64]
 *                        [--seconds 5] [--warmup 1]
 *       Opens N connections. Each sends one message of `size` bytes, waits for exactly `size`
 *       bytes back, checks them byte for byte against what it sent, then sends the next (the
 *       content changes from message to message). The first `warmup` seconds are not counted;
 *       then it counts the round trips completed in the next `seconds` seconds by all
 *       connections and prints
 *           msgs_per_sec=<float>
 *       (plus a line of per-connection statistics on stderr). The whole run is bounded: it ends
 *       within warmup + seconds + 5 s, or exits 1 with a message.
 *
 *   echo_client bulk --port P [--host 127.0.0.1] [--bytes 1073741824] [--timeout 300]
 *       One connection. Writes `bytes` bytes (byte i is i % 251) while reading the echo in the
 *       same epoll loop, verifies every echoed byte, shuts the write side down once everything
 *       is sent, and prints
 *           mib_per_sec=<float>
 *       (MiB echoed per second, wall clock from the first send to the last byte received). It
 *       then waits (briefly) for the server's EOF and fails if the server sent extra bytes.
 *
 * Exit status: 0 success; 1 a connection failed, the echo differed from what was sent, or the
 * run took too long; 2 usage error.
 *
 * Build: cc -O2 -std=c11 -o echo_client echo_client.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PATTERN_MOD 251 /* a prime, so the pattern never lines up with a power-of-two chunk */

static const char* g_mode = "";

static void fail(const char* fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "echo_client %s: ", g_mode);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void fail_errno(const char* what) __attribute__((noreturn));
static void fail_errno(const char* what) {
    fprintf(stderr, "echo_client %s: %s: %s\n", g_mode, what, strerror(errno));
    exit(1);
}

static double cpu_s(void) { /* this process's user + system time */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The backstop for the time bound: whatever happens (a server that stops answering, a
 * connect that hangs), SIGALRM ends the process with status 1. */
static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "echo_client: time limit exceeded (the server stopped answering?)\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(1);
}

static void arm_alarm(double seconds) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    unsigned s = (unsigned)seconds;
    if ((double)s < seconds) ++s;
    alarm(s);
}

/* Filled with i % 251 for i in [0, len): any window pattern + (k % 251) is the stream's bytes
 * k, k+1, ... */
static unsigned char* make_pattern(size_t len) {
    unsigned char* p = malloc(len);
    if (!p) fail("out of memory");
    for (size_t i = 0; i < len; ++i) p[i] = (unsigned char)(i % PATTERN_MOD);
    return p;
}

static void set_nonblock_nodelay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) fail_errno("setsockopt(TCP_NODELAY)");
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) fail_errno("fcntl(O_NONBLOCK)");
}

/* Connects (blocking, then switched to non-blocking), retrying for up to `retry_s` seconds
 * while the server refuses: it may only just have started. */
static int connect_retry(const char* host, int port, double retry_s) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) fail("bad --host %s (numeric IPv4 only)", host);
    double give_up = now_s() + retry_s;
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) fail_errno("socket");
        if (connect(fd, (struct sockaddr*)&addr, sizeof addr) == 0) {
            set_nonblock_nodelay(fd);
            return fd;
        }
        int err = errno;
        close(fd);
        if ((err != ECONNREFUSED && err != EINTR && err != EAGAIN && err != ETIMEDOUT) || now_s() > give_up) {
            errno = err;
            fprintf(stderr, "echo_client %s: connect to %s:%d: %s\n", g_mode, host, port, strerror(err));
            exit(1);
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* --- pingpong ------------------------------------------------------------------------------ */

typedef struct {
    int fd;
    int id;
    uint64_t seq;     /* messages completed */
    size_t sent;      /* bytes of the current message written */
    size_t got;       /* bytes of the current message read back */
    const unsigned char* msg; /* the current message: a window of the pattern */
    unsigned char* rbuf;      /* the echo of the current message so far (`size` bytes) */
    int want_out;     /* registered for EPOLLOUT (a write came up short) */
    uint64_t seq_at_start;
} Conn;

static const unsigned char* message_of(const unsigned char* pattern, const Conn* c) {
    return pattern + (size_t)((c->seq * 7 + (uint64_t)c->id * 13) % PATTERN_MOD);
}

static void conn_events(int ep, Conn* c, int want_out) {
    if (c->want_out == want_out) return;
    struct epoll_event ev;
    ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) fail_errno("epoll_ctl(MOD)");
    c->want_out = want_out;
}

/* Writes what is left of the current message; asks for EPOLLOUT if the socket is full. */
static void conn_send(int ep, Conn* c, size_t size) {
    while (c->sent < size) {
        ssize_t n = send(c->fd, c->msg + c->sent, size - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            conn_events(ep, c, 1);
            return;
        } else {
            fprintf(stderr, "echo_client pingpong: connection %d: send: %s\n", c->id, strerror(errno));
            exit(1);
        }
    }
    conn_events(ep, c, 0);
}

static int run_pingpong(const char* host, int port, int nconn, size_t size, double seconds, double warmup) {
    double t_begin = now_s();
    double limit = warmup + seconds + 5.0;
    arm_alarm(limit);

    unsigned char* pattern = make_pattern(size + PATTERN_MOD);
    unsigned char* rbufs = malloc(size * (size_t)nconn);
    Conn* conns = calloc((size_t)nconn, sizeof(Conn));
    if (!rbufs || !conns) fail("out of memory");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) fail_errno("epoll_create1");
    for (int i = 0; i < nconn; ++i) {
        Conn* c = &conns[i];
        c->id = i;
        c->rbuf = rbufs + (size_t)i * size;
        c->fd = connect_retry(host, port, 3.0);
        struct epoll_event ev;
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) fail_errno("epoll_ctl(ADD)");
    }
    /* Every connection sends its first message; the clock starts now. */
    double t0 = now_s();
    for (int i = 0; i < nconn; ++i) {
        conns[i].msg = message_of(pattern, &conns[i]);
        conn_send(ep, &conns[i], size);
    }

    double warm_end = t0 + warmup, meas_end = warm_end + seconds, hard_end = t_begin + limit - 0.5;
    int measuring = warmup <= 0;
    uint64_t total = 0, total_at_start = 0;
    double t_start = t0, t_stop = 0, cpu_start = cpu_s(), cpu_stop = 0;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, 50);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail_errno("epoll_wait");
        }
        for (int k = 0; k < n; ++k) {
            Conn* c = evs[k].data.ptr;
            if ((evs[k].events & EPOLLOUT) && c->sent < size) conn_send(ep, c, size);
            if (!(evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            /* Read what is left of the echo (never more: the next bytes belong to the next
             * message, and the server sends nothing we did not ask for). */
            for (;;) {
                unsigned char* rbuf = c->rbuf;
                ssize_t r = recv(c->fd, rbuf + c->got, size - c->got, 0);
                if (r > 0) {
                    c->got += (size_t)r;
                    if (c->got < size) continue;
                    if (c->sent != size) {
                        fprintf(stderr, "echo_client pingpong: connection %d: the server echoed bytes that were not sent yet\n", c->id);
                        exit(1);
                    }
                    if (memcmp(rbuf, c->msg, size) != 0) {
                        size_t at = 0;
                        while (rbuf[at] == c->msg[at]) ++at;
                        fprintf(stderr,
                                "echo_client pingpong: connection %d, message %llu: echoed byte %zu is %u, sent %u\n",
                                c->id, (unsigned long long)c->seq, at, rbuf[at], c->msg[at]);
                        exit(1);
                    }
                    ++c->seq;
                    ++total;
                    c->got = 0;
                    c->sent = 0;
                    c->msg = message_of(pattern, c);
                    conn_send(ep, c, size);
                    break; /* the answer is not there yet: one recv less per round trip */
                }
                if (r == 0) {
                    fprintf(stderr, "echo_client pingpong: connection %d: the server closed the connection after %llu messages\n",
                            c->id, (unsigned long long)c->seq);
                    exit(1);
                }
                if (errno == EINTR) continue;
                if (errno == EAGAIN) break;
                fprintf(stderr, "echo_client pingpong: connection %d: recv: %s\n", c->id, strerror(errno));
                exit(1);
            }
        }
        double t = now_s();
        if (!measuring && t >= warm_end) {
            measuring = 1;
            t_start = t;
            cpu_start = cpu_s();
            total_at_start = total;
            for (int i = 0; i < nconn; ++i) conns[i].seq_at_start = conns[i].seq;
            meas_end = t + seconds;
        }
        if (measuring && t >= meas_end) {
            t_stop = t;
            cpu_stop = cpu_s();
            break;
        }
        if (t >= hard_end) fail("time limit exceeded (%.1f s)", limit);
    }

    uint64_t counted = total - total_at_start, min_c = UINT64_MAX, max_c = 0;
    for (int i = 0; i < nconn; ++i) {
        uint64_t d = conns[i].seq - conns[i].seq_at_start;
        if (d < min_c) min_c = d;
        if (d > max_c) max_c = d;
    }
    double rate = (double)counted / (t_stop - t_start);
    fprintf(stderr, "echo_client pingpong: %d connections x %zu bytes, %.3f s counted, %llu round trips "
                    "(per connection min %llu, max %llu), client cpu %.0f%%\n",
            nconn, size, t_stop - t_start, (unsigned long long)counted, (unsigned long long)min_c,
            (unsigned long long)max_c, 100.0 * (cpu_stop - cpu_start) / (t_stop - t_start));
    if (min_c == 0) {
        fprintf(stderr, "echo_client pingpong: a connection completed no round trip in the counted window (server stalled?)\n");
        return 1;
    }
    printf("msgs_per_sec=%.1f\n", rate);
    fflush(stdout);
    for (int i = 0; i < nconn; ++i) close(conns[i].fd);
    close(ep);
    free(conns);
    free(rbufs);
    free(pattern);
    return 0;
}

/* --- bulk ---------------------------------------------------------------------------------- */

#define CHUNK (256 * 1024)

static int run_bulk(const char* host, int port, uint64_t bytes, double timeout) {
    arm_alarm(timeout);
    unsigned char* pattern = make_pattern(CHUNK + PATTERN_MOD);
    unsigned char* rbuf = malloc(CHUNK);
    if (!rbuf) fail("out of memory");
    int fd = connect_retry(host, port, 3.0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) fail_errno("epoll_create1");
    struct epoll_event ev;
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET; /* both directions, registered once */
    ev.data.fd = fd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) fail_errno("epoll_ctl(ADD)");

    uint64_t sent = 0, got = 0;
    int shut = 0;
    double t0 = now_s(), t_last = t0, deadline = t0 + timeout - 0.5, cpu0 = cpu_s();
    int can_write = 1, can_read = 1;
    while (got < bytes) {
        /* Write until the socket is full or everything is sent. */
        while (can_write && sent < bytes) {
            uint64_t left = bytes - sent;
            size_t len = left < CHUNK ? (size_t)left : CHUNK;
            ssize_t n = send(fd, pattern + (size_t)(sent % PATTERN_MOD), len, MSG_NOSIGNAL);
            if (n > 0) {
                sent += (uint64_t)n;
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else if (n < 0 && errno == EAGAIN) {
                can_write = 0;
            } else {
                fail_errno("send");
            }
        }
        if (sent == bytes && !shut) {
            if (shutdown(fd, SHUT_WR) != 0) fail_errno("shutdown(SHUT_WR)");
            shut = 1;
        }
        /* Read until EAGAIN, checking every byte. */
        while (can_read && got < bytes) {
            ssize_t r = recv(fd, rbuf, CHUNK, 0);
            if (r > 0) {
                if ((uint64_t)r > bytes - got) {
                    fprintf(stderr, "echo_client bulk: the server echoed more bytes than were sent\n");
                    exit(1);
                }
                const unsigned char* want = pattern + (size_t)(got % PATTERN_MOD);
                if (memcmp(rbuf, want, (size_t)r) != 0) {
                    size_t at = 0;
                    while (rbuf[at] == want[at]) ++at;
                    fprintf(stderr, "echo_client bulk: echoed byte %llu is %u, sent %u\n",
                            (unsigned long long)(got + at), rbuf[at], want[at]);
                    exit(1);
                }
                got += (uint64_t)r;
                if (got > sent) {
                    fprintf(stderr, "echo_client bulk: the server echoed bytes that were not sent yet\n");
                    exit(1);
                }
            } else if (r == 0) {
                fprintf(stderr, "echo_client bulk: the server closed the connection after %llu of %llu bytes\n",
                        (unsigned long long)got, (unsigned long long)bytes);
                exit(1);
            } else if (errno == EINTR) {
                continue;
            } else if (errno == EAGAIN) {
                can_read = 0;
            } else {
                fail_errno("recv");
            }
        }
        if (got == bytes) {
            t_last = now_s();
            break;
        }
        int n = epoll_wait(ep, &ev, 1, 100);
        if (n < 0 && errno != EINTR) fail_errno("epoll_wait");
        if (n > 0) {
            if (ev.events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) can_write = 1;
            if (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) can_read = 1;
        }
        if (now_s() > deadline) {
            fprintf(stderr, "echo_client bulk: time limit (%.0f s) exceeded after %llu of %llu bytes echoed\n", timeout,
                    (unsigned long long)got, (unsigned long long)bytes);
            exit(1);
        }
    }
    double secs = t_last - t0, cpu = cpu_s() - cpu0;

    /* The server echoes until our EOF, then closes: expect EOF and nothing more (up to 2 s;
     * outside the timed part). */
    {
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        struct timeval tv = {2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t r;
        do r = recv(fd, rbuf, CHUNK, 0);
        while (r < 0 && errno == EINTR);
        if (r > 0) {
            fprintf(stderr, "echo_client bulk: the server sent %zd bytes more than were sent\n", r);
            exit(1);
        }
        if (r < 0 && errno != EAGAIN && errno != ECONNRESET)
            fprintf(stderr, "echo_client bulk: waiting for the server's EOF: %s\n", strerror(errno));
        else if (r < 0 && errno == EAGAIN)
            fprintf(stderr, "echo_client bulk: note: the server did not close the connection within 2 s of our EOF\n");
    }
    close(fd);
    close(ep);
    fprintf(stderr, "echo_client bulk: %llu bytes echoed in %.3f s, client cpu %.0f%%\n", (unsigned long long)bytes, secs,
            100.0 * cpu / secs);
    printf("mib_per_sec=%.1f\n", (double)bytes / (1024.0 * 1024.0) / secs);
    fflush(stdout);
    free(rbuf);
    free(pattern);
    return 0;
}

/* --- command line -------------------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr,
            "usage: echo_client pingpong --port P [--host 127.0.0.1] [--connections 50] [--size 64]\n"
            "                            [--seconds 5] [--warmup 1]\n"
            "       echo_client bulk --port P [--host 127.0.0.1] [--bytes 1073741824] [--timeout 300]\n");
    exit(2);
}

static double num_arg(const char* name, const char* v, double lo, double hi) {
    char* end = NULL;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < lo || d > hi) {
        fprintf(stderr, "echo_client: bad value for %s: '%s'\n", name, v);
        exit(2);
    }
    return d;
}

int main(int argc, char** argv) {
    if (argc < 2) usage();
    g_mode = argv[1];
    int pingpong = strcmp(g_mode, "pingpong") == 0, bulk = strcmp(g_mode, "bulk") == 0;
    if (!pingpong && !bulk) usage();
    const char* host = "127.0.0.1";
    int port = -1, nconn = 50;
    size_t size = 64;
    double seconds = 5, warmup = 1, timeout = 300;
    uint64_t bytes = 1073741824ull;
    for (int i = 2; i < argc; ++i) {
        const char* a = argv[i];
        if (i + 1 >= argc) usage();
        const char* v = argv[++i];
        if (!strcmp(a, "--port")) port = (int)num_arg(a, v, 1, 65535);
        else if (!strcmp(a, "--host")) host = v;
        else if (pingpong && !strcmp(a, "--connections")) nconn = (int)num_arg(a, v, 1, 100000);
        else if (pingpong && !strcmp(a, "--size")) size = (size_t)num_arg(a, v, 1, 1 << 20);
        else if (pingpong && !strcmp(a, "--seconds")) seconds = num_arg(a, v, 0.01, 86400);
        else if (pingpong && !strcmp(a, "--warmup")) warmup = num_arg(a, v, 0, 86400);
        else if (bulk && !strcmp(a, "--bytes")) bytes = (uint64_t)num_arg(a, v, 1, 1e15);
        else if (bulk && !strcmp(a, "--timeout")) timeout = num_arg(a, v, 1, 86400);
        else usage();
    }
    if (port < 0) usage();
    signal(SIGPIPE, SIG_IGN);
    return pingpong ? run_pingpong(host, port, nconn, size, seconds, warmup) : run_bulk(host, port, bytes, timeout);
}
