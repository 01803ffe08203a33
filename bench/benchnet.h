/*
 * benchnet.h — the few socket and clock helpers both load tools share
 * (bench/vx6bench.c and bench/namedbench.c). Header-only: each tool is one
 * `cc` invocation from the bench scripts, with no build system between.
 * Every helper keeps errno for the caller and never exits.
 */
#ifndef VX6_BENCH_BENCHNET_H
#define VX6_BENCH_BENCHNET_H

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* 127.0.0.1:port */
static inline struct sockaddr_in
bench_loopback(int port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static inline void
bench_nodelay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A TCP connection to 127.0.0.1:port with TCP_NODELAY, or -1 (errno set). */
static inline int
bench_dial(int port)
{
	struct sockaddr_in a = bench_loopback(port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	bench_nodelay(fd);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Writes all n bytes (retrying EINTR); 0, or -1 (errno set). */
static inline int
bench_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

#endif
