/*
 * holdclient: a minimal, dependency-free TCP client for connection benchmarks.
 *
 * hold mode:  open N connections to HOST:PORT from several processes and many source addresses, print one
 *             result line on stdout once all are established (or failed), then hold them until SIGTERM/SIGINT
 *             or -t seconds, and close them all.
 * churn mode: for -t seconds, keep connecting and wait for the server to close each connection (the
 *             accept-and-close workload); print completed connections per second.
 *
 * Non-blocking connects on epoll; every socket binds its source address with IP_BIND_ADDRESS_NO_PORT, so the
 * port is picked at connect time from the whole 4-tuple space (~28k ports per source and destination).
 * Each process raises its soft RLIMIT_NOFILE to the hard limit and takes an equal share of N.
 *
 * Build: cc -O2 -Wall -o holdclient holdclient.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static const char *USAGE =
    "usage: holdclient -p PORT -n CONNS [-H HOST] [-w PROCS] [-s SOURCES] [-b FIRST_SOURCE]\n"
    "                  [-i INFLIGHT] [-t SECONDS] [-m hold|churn] [-R]\n"
    "  -p PORT          server port (required)\n"
    "  -n CONNS         connections to hold in total (hold mode; required there)\n"
    "  -H HOST          server IPv4 address (default 127.0.0.1)\n"
    "  -w PROCS         client processes (default: enough for CONNS under the fd limit, at least 1)\n"
    "  -s SOURCES       source addresses to spread over (default 1)\n"
    "  -b FIRST_SOURCE  first source address; the others follow it (default 127.0.0.2)\n"
    "  -i INFLIGHT      connects in flight per process (default 256)\n"
    "  -t SECONDS       hold: give up connecting and release after this long (default 600);\n"
    "                   churn: run this long (default 10)\n"
    "  -m MODE          hold (default) or churn\n"
    "  -R               hold: release with RST (SO_LINGER 0), so no TIME_WAIT is left behind\n"
    "output (stdout, one line): hold: 'established E failed F ramp_ms R [errno counts]'\n"
    "                           churn: 'completed C failed F seconds S rate R'\n";

enum { E_REFUSED, E_TIMEDOUT, E_ADDRNOTAVAIL, E_ADDRINUSE, E_MFILE, E_NFILE, E_RESET, E_OTHER, E_KINDS };
static const char *ERR_NAMES[E_KINDS] = {"ECONNREFUSED", "ETIMEDOUT", "EADDRNOTAVAIL", "EADDRINUSE",
                                         "EMFILE",       "ENFILE",    "ECONNRESET",    "other"};

static volatile sig_atomic_t stop_flag = 0;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static int err_kind(int e) {
    switch (e) {
    case ECONNREFUSED: return E_REFUSED;
    case ETIMEDOUT: return E_TIMEDOUT;
    case EADDRNOTAVAIL: return E_ADDRNOTAVAIL;
    case EADDRINUSE: return E_ADDRINUSE;
    case EMFILE: return E_MFILE;
    case ENFILE: return E_NFILE;
    case ECONNRESET: return E_RESET;
    default: return E_OTHER;
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct plan {
    struct sockaddr_in dst;
    struct in_addr first_src;
    long conns, procs, sources, inflight, seconds;
    int churn, reset;
};

struct tally {
    long established, failed, completed;
    long errs[E_KINDS];
};

/* Start one non-blocking connect from source #k; returns the fd or -1 (counted in t). */
static int open_one(const struct plan *p, long k, int ep, struct tally *t) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        t->failed++;
        t->errs[err_kind(errno)]++;
        return -1;
    }
    int one = 1;
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
    src.sin_addr.s_addr = htonl(ntohl(p->first_src.s_addr) + (uint32_t)(k % p->sources));
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (p->reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        (connect(fd, (struct sockaddr *)&p->dst, sizeof p->dst) < 0 && errno != EINPROGRESS)) {
        t->failed++;
        t->errs[err_kind(errno)]++;
        close(fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        t->failed++;
        t->errs[err_kind(errno)]++;
        close(fd);
        return -1;
    }
    return fd;
}

static void report(int out, int idx, char tag, const struct tally *t) {
    char line[256];
    int n = snprintf(line, sizeof line, "%c %d %ld %ld %ld", tag, idx, t->established, t->failed, t->completed);
    for (int i = 0; i < E_KINDS; i++) n += snprintf(line + n, sizeof line - n, " %ld", t->errs[i]);
    line[n++] = '\n';
    /* One write below PIPE_BUF: lines from several children never interleave. */
    if (write(out, line, n) < 0) _exit(1);
}

/* One client process: connect `share` connections (hold) or churn until the deadline. */
static void child(const struct plan *p, int idx, long share, int out) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event events[256];
    struct tally t = {0};
    long opened = 0, inflight = 0;
    double start = now_s(), deadline = start + (double)p->seconds, last_report = 0;
    while (!stop_flag && now_s() < deadline && (p->churn || t.established + t.failed < share)) {
        while (inflight < p->inflight && (p->churn || opened < share)) {
            if (open_one(p, (long)idx + opened * p->procs, ep, &t) >= 0) inflight++;
            opened++;
        }
        int n = epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd, err = 0;
            socklen_t len = sizeof err;
            if (events[i].events & EPOLLOUT) {
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) {
                    t.failed++;
                    t.errs[err_kind(err)]++;
                    close(fd);
                    inflight--;
                } else if (p->churn) {
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = fd};
                    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
                } else {
                    t.established++;
                    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                    inflight--;
                }
            } else { /* churn: the server's FIN (or RST) has arrived */
                char buf[64];
                ssize_t r;
                while ((r = read(fd, buf, sizeof buf)) > 0) {}
                if (r == 0) t.completed++;
                else if (errno != EAGAIN) { t.failed++; t.errs[err_kind(errno)]++; }
                else continue;
                close(fd);
                inflight--;
            }
        }
        if (now_s() - last_report > 0.5) {
            report(out, idx, 'P', &t);
            last_report = now_s();
        }
    }
    report(out, idx, 'D', &t);
    if (!p->churn) {
        while (!stop_flag && now_s() < deadline) usleep(100000);
    }
    _exit(0); /* closes every socket */
}

static long parse_long(const char *s, const char *what) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0) {
        fprintf(stderr, "holdclient: invalid %s '%s': expected a non-negative whole number\n%s", what, s, USAGE);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    struct plan p = {.conns = 0, .procs = 0, .sources = 1, .inflight = 256, .seconds = -1};
    p.dst.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &p.dst.sin_addr);
    inet_pton(AF_INET, "127.0.0.2", &p.first_src);
    long port = -1;
    int opt;
    while ((opt = getopt(argc, argv, "p:n:H:w:s:b:i:t:m:Rh")) != -1) {
        switch (opt) {
        case 'p': port = parse_long(optarg, "port"); break;
        case 'n': p.conns = parse_long(optarg, "connection count"); break;
        case 'H':
            if (inet_pton(AF_INET, optarg, &p.dst.sin_addr) != 1) {
                fprintf(stderr, "holdclient: invalid host '%s': expected an IPv4 address\n", optarg);
                return 2;
            }
            break;
        case 'w': p.procs = parse_long(optarg, "process count"); break;
        case 's': p.sources = parse_long(optarg, "source count"); break;
        case 'b':
            if (inet_pton(AF_INET, optarg, &p.first_src) != 1) {
                fprintf(stderr, "holdclient: invalid source '%s': expected an IPv4 address\n", optarg);
                return 2;
            }
            break;
        case 'i': p.inflight = parse_long(optarg, "in-flight count"); break;
        case 't': p.seconds = parse_long(optarg, "seconds"); break;
        case 'R': p.reset = 1; break;
        case 'm':
            if (strcmp(optarg, "hold") && strcmp(optarg, "churn")) {
                fprintf(stderr, "holdclient: invalid mode '%s': expected hold or churn\n", optarg);
                return 2;
            }
            p.churn = strcmp(optarg, "churn") == 0;
            break;
        default: fputs(USAGE, opt == 'h' ? stdout : stderr); return opt == 'h' ? 0 : 2;
        }
    }
    if (port <= 0 || port > 65535 || (!p.churn && p.conns == 0) || p.sources < 1 || p.inflight < 1) {
        fputs("holdclient: -p PORT (1-65535) is required, -n CONNS too in hold mode; -s and -i must be >= 1\n", stderr);
        fputs(USAGE, stderr);
        return 2;
    }
    p.dst.sin_port = htons((uint16_t)port);
    if (p.seconds < 0) p.seconds = p.churn ? 10 : 600;

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    long per_proc = (long)rl.rlim_cur - 32;
    if (p.procs == 0) p.procs = p.churn ? 2 : (p.conns + per_proc - 1) / per_proc;
    if (p.procs < 1) p.procs = 1;
    if (!p.churn && (p.conns + p.procs - 1) / p.procs > per_proc) {
        fprintf(stderr, "holdclient: %ld connections over %ld processes exceed the fd limit %ld per process; "
                        "use -w %ld or more\n", p.conns, p.procs, (long)rl.rlim_cur,
                (p.conns + per_proc - 1) / per_proc);
        return 2;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int pipefd[2];
    if (pipe(pipefd) < 0) { perror("holdclient: pipe"); return 2; }
    pid_t *pids = calloc(p.procs, sizeof *pids);
    struct tally *tallies = calloc(p.procs, sizeof *tallies);
    char *done = calloc(p.procs, 1);
    double start = now_s();
    for (long i = 0; i < p.procs; i++) {
        long share = p.conns / p.procs + (i < p.conns % p.procs);
        pid_t pid = fork();
        if (pid < 0) { perror("holdclient: fork"); stop_flag = 1; break; }
        if (pid == 0) {
            close(pipefd[0]);
            child(&p, (int)i, share, pipefd[1]);
        }
        pids[i] = pid;
    }
    close(pipefd[1]);

    FILE *in = fdopen(pipefd[0], "r");
    char line[256];
    long ndone = 0;
    double last_print = start, ramp = 0;
    int printed = 0;
    while (fgets(line, sizeof line, in)) {
        char tag;
        int idx;
        struct tally t = {0};
        if (sscanf(line, "%c %d %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld", &tag, &idx, &t.established, &t.failed,
                   &t.completed, &t.errs[0], &t.errs[1], &t.errs[2], &t.errs[3], &t.errs[4], &t.errs[5],
                   &t.errs[6], &t.errs[7]) != 13 || idx < 0 || idx >= p.procs)
            continue;
        tallies[idx] = t;
        if (tag == 'D' && !done[idx]) { done[idx] = 1; ndone++; }
        struct tally sum = {0};
        for (long i = 0; i < p.procs; i++) {
            sum.established += tallies[i].established;
            sum.failed += tallies[i].failed;
            sum.completed += tallies[i].completed;
            for (int k = 0; k < E_KINDS; k++) sum.errs[k] += tallies[i].errs[k];
        }
        double now = now_s();
        if (now - last_print >= 1.0) {
            fprintf(stderr, "holdclient: %s %ld failed %ld (%.0fs)\n", p.churn ? "completed" : "established",
                    p.churn ? sum.completed : sum.established, sum.failed, now - start);
            last_print = now;
        }
        if (ndone == p.procs && !printed) {
            printed = 1;
            ramp = now - start;
            if (p.churn)
                printf("completed %ld failed %ld seconds %.3f rate %.0f", sum.completed, sum.failed, ramp,
                       sum.completed / ramp);
            else
                printf("established %ld failed %ld ramp_ms %.0f", sum.established, sum.failed, ramp * 1000);
            for (int k = 0; k < E_KINDS; k++)
                if (sum.errs[k]) printf(" %s %ld", ERR_NAMES[k], sum.errs[k]);
            printf("\n");
            fflush(stdout);
            if (p.churn) break;
        }
        if (stop_flag) break;
    }
    /* Children hold until told to stop: pass SIGTERM on, then reap them. */
    while (!stop_flag && !p.churn && waitpid(-1, NULL, WNOHANG) == 0) usleep(100000);
    for (long i = 0; i < p.procs; i++)
        if (pids[i] > 0) kill(pids[i], SIGTERM);
    while (wait(NULL) > 0) {}
    return printed ? 0 : 1;
}
