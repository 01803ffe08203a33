/*
 * vx6bench — the load tool behind bench/run.sh. One static binary, no
 * dependencies beyond libc and pthreads, built by run.sh with `cc -O2`.
 *
 *   vx6bench source PORT BYTES
 *       listens on 127.0.0.1:PORT; each accepted connection gets BYTES bytes
 *       written from a static buffer, then is closed (one thread each).
 *   vx6bench echo PORT
 *       listens on 127.0.0.1:PORT; echoes everything back (one thread per
 *       connection, TCP_NODELAY).
 *   vx6bench sink PORT EXPECT
 *       connects to 127.0.0.1:PORT, reads to EOF; prints
 *       "bytes seconds MiB/s cpu_seconds" (cpu: this process, user+system);
 *       exits 1 if the byte count is not EXPECT.
 *   vx6bench pingpong PORT N
 *       one connection, 200 warm-up round trips then N timed 1-byte round
 *       trips; prints "p50_us p99_us mean_us min_us max_us".
 *   vx6bench connrate PORT COUNT PAR
 *       PAR threads share COUNT iterations of: connect, 1-byte round trip,
 *       close; prints "ok failed seconds conns_per_s cpu_seconds".
 *   vx6bench wait PORT TIMEOUT_MS
 *       polls until a 1-byte round trip through PORT succeeds; exit 1 on
 *       timeout.
 *   vx6bench cold PORT TIMEOUT_MS CMD [ARGS...]
 *       takes t0, starts CMD (stdin/stdout to /dev/null, stderr inherited),
 *       then polls until a 1-byte round trip through PORT succeeds; prints
 *       "microseconds child_pid child_status" (child_status is the exit code
 *       if CMD already ended, else "running"). CMD is left running, in a
 *       process group of its own (kill -- -PID ends it with its children).
 *   vx6bench coldwait PORT TIMEOUT_MS CMD [ARGS...]
 *       as cold, then (untimed) waits for CMD to exit; for commands that
 *       return once their work is set up (`vx6 connect --detach`).
 *   vx6bench freeport
 *       prints a TCP port that is free on both 127.0.0.1 and [::1].
 *
 * PORT is always on 127.0.0.1. Every socket has TCP_NODELAY. Errors go to
 * stderr with a non-zero exit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchnet.h"

#define SRC_BUF (1 << 20)
#define SINK_BUF (256 * 1024)
#define WARMUP 200

static uint8_t srcbuf[SRC_BUF];

static void
die(const char *what)
{
	fprintf(stderr, "vx6bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int
parse_port(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v <= 0 || v > 65535) {
		fprintf(stderr, "vx6bench: bad port '%s'\n", s);
		exit(2);
	}
	return (int)v;
}

static unsigned long long
parse_u64(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno) {
		fprintf(stderr, "vx6bench: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static int
listen_on(int port)
{
	struct sockaddr_in a = bench_loopback(port);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		die("bind");
	if (listen(fd, 1024) != 0)
		die("listen");
	return fd;
}

/* Reads exactly one byte, waiting at most timeout_ms (<0: forever).
 * Returns 1, 0 on EOF, -1 on error or timeout. */
static int
read_one(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t b;
	ssize_t r;

	for (;;) {
		if (timeout_ms >= 0) {
			int pr = poll(&pfd, 1, timeout_ms);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr <= 0)
				return -1;
		}
		r = read(fd, &b, 1);
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -1 : (int)r;
	}
}

/* One round trip of one byte on a connected socket: 0 on success. */
static int
round_trip(int fd, int timeout_ms)
{
	uint8_t b = 'x';

	if (bench_write_all(fd, &b, 1) != 0)
		return -1;
	return read_one(fd, timeout_ms) == 1 ? 0 : -1;
}

/* --- servers --- */

static unsigned long long source_bytes;

static void *
source_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned long long left = source_bytes;

	while (left > 0) {
		size_t n = left > SRC_BUF ? SRC_BUF : (size_t)left;
		if (bench_write_all(fd, srcbuf, n) != 0)
			break;
		left -= n;
	}
	close(fd);
	return NULL;
}

static void *
echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static __thread uint8_t buf[65536];
	ssize_t r;

	for (;;) {
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || bench_write_all(fd, buf, (size_t)r) != 0)
			break;
	}
	close(fd);
	return NULL;
}

static __attribute__((noreturn)) void
serve(int port, void *(*fn)(void *))
{
	int lfd = listen_on(port);
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		pthread_t t;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
				if (errno == EMFILE || errno == ENFILE)
					usleep(1000);
				continue;
			}
			die("accept");
		}
		bench_nodelay(fd);
		if (pthread_create(&t, &attr, fn, (void *)(intptr_t)fd) != 0)
			close(fd);
	}
}

/* --- clients --- */

/* CPU seconds (user + system) this process has used so far. */
static double
self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int
cmd_sink(int port, unsigned long long expect)
{
	static uint8_t buf[SINK_BUF];
	unsigned long long got = 0;
	uint64_t t0, t1;
	double secs;
	int fd;

	t0 = bench_now_ns();
	if ((fd = bench_dial(port)) < 0)
		die("connect");
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read");
		if (r == 0)
			break;
		got += (unsigned long long)r;
	}
	t1 = bench_now_ns();
	close(fd);
	secs = (double)(t1 - t0) / 1e9;
	printf("%llu %.6f %.1f %.3f\n", got, secs, (double)got / (1024.0 * 1024.0) / secs, self_cpu());
	if (got != expect) {
		fprintf(stderr, "vx6bench: sink got %llu bytes, expected %llu\n", got, expect);
		return 1;
	}
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmd_pingpong(int port, unsigned long n)
{
	uint64_t *rtt = calloc(n, sizeof(*rtt)), sum = 0;
	int fd;

	if (rtt == NULL || n == 0)
		die("calloc");
	if ((fd = bench_dial(port)) < 0)
		die("connect");
	for (unsigned long i = 0; i < WARMUP + n; i++) {
		uint64_t t0 = bench_now_ns();
		if (round_trip(fd, 10000) != 0) {
			fprintf(stderr, "vx6bench: round trip %lu failed\n", i);
			return 1;
		}
		if (i >= WARMUP)
			rtt[i - WARMUP] = bench_now_ns() - t0;
	}
	close(fd);
	for (unsigned long i = 0; i < n; i++)
		sum += rtt[i];
	qsort(rtt, n, sizeof(*rtt), cmp_u64);
	printf("%.1f %.1f %.1f %.1f %.1f\n", rtt[n / 2] / 1e3, rtt[(n * 99) / 100] / 1e3,
	    (double)sum / n / 1e3, rtt[0] / 1e3, rtt[n - 1] / 1e3);
	free(rtt);
	return 0;
}

struct crate {
	int port;
	long count;                 /* iterations left, shared */
	long ok, failed;
	pthread_mutex_t mu;
};

static void *
crate_thread(void *arg)
{
	struct crate *c = arg;

	for (;;) {
		int fd, rc = -1;
		pthread_mutex_lock(&c->mu);
		if (c->count <= 0) {
			pthread_mutex_unlock(&c->mu);
			return NULL;
		}
		c->count--;
		pthread_mutex_unlock(&c->mu);
		if ((fd = bench_dial(c->port)) >= 0) {
			rc = round_trip(fd, 10000);
			close(fd);
		}
		pthread_mutex_lock(&c->mu);
		if (rc == 0)
			c->ok++;
		else
			c->failed++;
		pthread_mutex_unlock(&c->mu);
	}
}

static int
cmd_connrate(int port, long count, int par)
{
	struct crate c = { .port = port, .count = count };
	pthread_t t[64];
	uint64_t t0, t1;
	double secs;

	if (par < 1 || par > 64)
		par = 4;
	pthread_mutex_init(&c.mu, NULL);
	t0 = bench_now_ns();
	for (int i = 0; i < par; i++)
		if (pthread_create(&t[i], NULL, crate_thread, &c) != 0)
			die("pthread_create");
	for (int i = 0; i < par; i++)
		pthread_join(t[i], NULL);
	t1 = bench_now_ns();
	secs = (double)(t1 - t0) / 1e9;
	printf("%ld %ld %.6f %.1f %.3f\n", c.ok, c.failed, secs, (double)c.ok / secs, self_cpu());
	return c.failed ? 1 : 0;
}

/* Polls until a 1-byte round trip through port succeeds or the deadline
 * passes. Returns 0 on success. */
static int
poll_round_trip(int port, uint64_t deadline)
{
	for (;;) {
		uint64_t now = bench_now_ns();
		int fd;
		if (now >= deadline)
			return -1;
		if ((fd = bench_dial(port)) >= 0) {
			int left_ms = (int)((deadline - now) / 1000000) + 1;
			int rc = round_trip(fd, left_ms);
			close(fd);
			if (rc == 0)
				return 0;
		}
		usleep(200);
	}
}

static int
cmd_wait(int port, long timeout_ms)
{
	if (poll_round_trip(port, bench_now_ns() + (uint64_t)timeout_ms * 1000000ull) != 0) {
		fprintf(stderr, "vx6bench: no round trip through port %d within %ld ms\n", port, timeout_ms);
		return 1;
	}
	return 0;
}

static int
cmd_cold(int port, long timeout_ms, char **argv, bool wait_child)
{
	uint64_t t0, t1;
	pid_t pid;
	int status, devnull;
	char st[32] = "running";

	t0 = bench_now_ns();
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
		}
		setpgid(0, 0);
		execvp(argv[0], argv);
		fprintf(stderr, "vx6bench: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (poll_round_trip(port, t0 + (uint64_t)timeout_ms * 1000000ull) != 0) {
		fprintf(stderr, "vx6bench: cold: no round trip through port %d within %ld ms\n", port,
		    timeout_ms);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return 1;
	}
	t1 = bench_now_ns();
	if (waitpid(pid, &status, wait_child ? 0 : WNOHANG) == pid)
		snprintf(st, sizeof(st), "%d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	printf("%.0f %d %s\n", (double)(t1 - t0) / 1e3, (int)pid, st);
	return 0;
}

/* Binds port 0 on [::1], then checks the same port is free on 127.0.0.1. */
static int
cmd_freeport(void)
{
	for (int tries = 0; tries < 50; tries++) {
		struct sockaddr_in6 a6;
		struct sockaddr_in a4;
		socklen_t len = sizeof(a6);
		int f6 = socket(AF_INET6, SOCK_STREAM, 0), f4 = socket(AF_INET, SOCK_STREAM, 0), ok;

		if (f6 < 0 || f4 < 0)
			die("socket");
		memset(&a6, 0, sizeof(a6));
		a6.sin6_family = AF_INET6;
		a6.sin6_addr = in6addr_loopback;
		if (bind(f6, (struct sockaddr *)&a6, sizeof(a6)) != 0 ||
		    getsockname(f6, (struct sockaddr *)&a6, &len) != 0)
			die("bind [::1]:0");
		a4 = bench_loopback(ntohs(a6.sin6_port));
		ok = bind(f4, (struct sockaddr *)&a4, sizeof(a4)) == 0;
		close(f4);
		close(f6);
		if (ok) {
			printf("%d\n", ntohs(a6.sin6_port));
			return 0;
		}
	}
	fprintf(stderr, "vx6bench: no free port found\n");
	return 1;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: vx6bench source PORT BYTES | echo PORT | sink PORT EXPECT |\n"
	    "       pingpong PORT N | connrate PORT COUNT PAR | wait PORT TIMEOUT_MS |\n"
	    "       cold|coldwait PORT TIMEOUT_MS CMD [ARGS...] | freeport\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 2 && strcmp(argv[1], "freeport") == 0)
		return cmd_freeport();
	if (argc < 3)
		usage();
	for (size_t i = 0; i < SRC_BUF; i++)
		srcbuf[i] = (uint8_t)(i * 131u + 7u);
	if (strcmp(argv[1], "source") == 0 && argc == 4) {
		source_bytes = parse_u64(argv[3]);
		serve(parse_port(argv[2]), source_conn);
	}
	if (strcmp(argv[1], "echo") == 0 && argc == 3)
		serve(parse_port(argv[2]), echo_conn);
	if (strcmp(argv[1], "sink") == 0 && argc == 4)
		return cmd_sink(parse_port(argv[2]), parse_u64(argv[3]));
	if (strcmp(argv[1], "pingpong") == 0 && argc == 4)
		return cmd_pingpong(parse_port(argv[2]), (unsigned long)parse_u64(argv[3]));
	if (strcmp(argv[1], "connrate") == 0 && argc == 5)
		return cmd_connrate(parse_port(argv[2]), (long)parse_u64(argv[3]), (int)parse_u64(argv[4]));
	if (strcmp(argv[1], "wait") == 0 && argc == 4)
		return cmd_wait(parse_port(argv[2]), (long)parse_u64(argv[3]));
	if (strcmp(argv[1], "cold") == 0 && argc >= 5)
		return cmd_cold(parse_port(argv[2]), (long)parse_u64(argv[3]), argv + 4, false);
	if (strcmp(argv[1], "coldwait") == 0 && argc >= 5)
		return cmd_cold(parse_port(argv[2]), (long)parse_u64(argv[3]), argv + 4, true);
	usage();
	return 2;
}
