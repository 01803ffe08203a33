/*
 * namedbench — the timing client of bench/named.sh (built by that script
 * with cc into build/bench/). No dependencies beyond libc and pthreads;
 * socket and clock helpers shared with vx6bench.c are in benchnet.h.
 *
 *   namedbench httpd PORT BODY_BYTES
 *       a tiny HTTP/1.0 responder on 127.0.0.1:PORT: reads the request head,
 *       answers "200 OK" with BODY_BYTES bytes, closes (a thread each).
 *   namedbench ttfb ROUNDS PORT...
 *       ROUNDS rounds; each round, one sample per PORT in turn: t0, connect()
 *       to 127.0.0.1:PORT, write a GET, first byte of the response (t1), read
 *       to EOF (t2). Prints "index ttfb_us total_us bytes" per sample.
 *   namedbench cli ROUNDS SPEC...
 *       SPEC = "EXPECT<TAB>PROG<TAB>ARG..."; each round, each SPEC in turn:
 *       t0, fork+exec, read its stdout to EOF, waitpid (t1). Fails unless it
 *       exits 0 and its stdout contains EXPECT (when not empty). Prints
 *       "index us".
 *   namedbench ctl SOCKET ROUNDS SPEC...
 *       SPEC = "CMD<TAB>ARGS_JSON<TAB>EXPECT"; one connection to the control
 *       socket; each round, each SPEC in turn: t0, write the request line,
 *       read the reply line (t1). Fails unless "ok":true and EXPECT is in the
 *       reply. Prints "index us elapsed_ms hops holders" (- when absent).
 *   namedbench cold SOCKET ctl ARGS_JSON
 *   namedbench cold SOCKET cli PROG ARG...
 *       one cold forward: t0, then connect.open with ARGS_JSON over an
 *       already open control connection (ctl), or running the CLI command
 *       (cli, must print JSON with "listen"); t1 when the forward is ready
 *       (reply / the command exited); then a new TCP connection to its port,
 *       GET, first byte (t2), EOF (t3). Then connect.close (untimed).
 *       Prints "ready_us ttfb_us total_us listen".
 *
 * Times are CLOCK_MONOTONIC. Every TCP socket has TCP_NODELAY. Any failure
 * prints a message to stderr and exits 1.
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
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchnet.h"

#define IO_TIMEOUT_MS 20000
static const char GET[] = "GET / HTTP/1.0\r\nHost: bench\r\nUser-Agent: namedbench\r\n\r\n";

static __attribute__((noreturn, format(printf, 1, 2))) void
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "namedbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static long
num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0)
		fail("bad number '%s'", s);
	return v;
}

/* read with a timeout: >0 bytes, 0 EOF, -1 error or timeout */
static ssize_t
read_to(int fd, void *buf, size_t cap, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		int pr = poll(&pfd, 1, timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			errno = ETIMEDOUT;
		if (pr <= 0)
			return -1;
		ssize_t r = read(fd, buf, cap);
		if (r < 0 && errno == EINTR)
			continue;
		return r;
	}
}

/* --- httpd --- */

static char *http_resp;
static size_t http_resp_len;

static void *
http_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char req[8192];
	size_t n = 0;

	for (;;) {
		ssize_t r = read_to(fd, req + n, sizeof(req) - 1 - n, IO_TIMEOUT_MS);
		if (r <= 0)
			goto out;
		n += (size_t)r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
		if (n == sizeof(req) - 1)
			goto out;
	}
	(void)bench_write_all(fd, http_resp, http_resp_len);
	shutdown(fd, SHUT_WR);
	/* drain until the client closes, so the server never sends a reset */
	while (read_to(fd, req, sizeof(req), 1000) > 0)
		;
out:
	close(fd);
	return NULL;
}

static int
cmd_httpd(int port, long body)
{
	struct sockaddr_in a;
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char head[256];
	int hl;

	hl = snprintf(head, sizeof(head), "HTTP/1.0 200 OK\r\nServer: namedbench\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %ld\r\n\r\n", body);
	http_resp_len = (size_t)hl + (size_t)body;
	http_resp = malloc(http_resp_len);
	if (http_resp == NULL)
		fail("out of memory");
	memcpy(http_resp, head, (size_t)hl);
	memset(http_resp + hl, 'x', (size_t)body);
	if (fd < 0)
		fail("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1024) != 0)
		fail("httpd on 127.0.0.1:%d: %s", port, strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;
		pthread_attr_t at;
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fail("accept: %s", strerror(errno));
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, http_conn, (void *)(intptr_t)c) != 0)
			close(c);
		pthread_attr_destroy(&at);
	}
}

/* --- one HTTP fetch: ttfb and total in ns; returns bytes, fails on error --- */

static long
fetch(int port, uint64_t t0, uint64_t *ttfb, uint64_t *total)
{
	char buf[65536];
	long got = 0;
	ssize_t r;
	int fd = bench_dial(port);

	if (fd < 0)
		fail("connect to 127.0.0.1:%d: %s", port, strerror(errno));
	if (bench_write_all(fd, GET, sizeof(GET) - 1) != 0)
		fail("write to 127.0.0.1:%d: %s", port, strerror(errno));
	r = read_to(fd, buf, sizeof(buf), IO_TIMEOUT_MS);
	*ttfb = bench_now_ns() - t0;
	if (r <= 0)
		fail("no response from 127.0.0.1:%d: %s", port, r == 0 ? "EOF" : strerror(errno));
	if (r < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || memcmp(buf + 9, "200", 3) != 0)
		fail("127.0.0.1:%d answered '%.40s', not HTTP 200", port, buf);
	got = r;
	while ((r = read_to(fd, buf, sizeof(buf), IO_TIMEOUT_MS)) > 0)
		got += r;
	*total = bench_now_ns() - t0;
	if (r < 0)
		fail("reading the response from 127.0.0.1:%d: %s", port, strerror(errno));
	close(fd);
	return got;
}

static int
cmd_ttfb(long rounds, int nports, char **ports)
{
	for (long r = 0; r < rounds; r++)
		for (int i = 0; i < nports; i++) {
			uint64_t t1, t2, t0 = bench_now_ns();
			long got = fetch((int)num(ports[i]), t0, &t1, &t2);
			printf("%d %.1f %.1f %ld\n", i, t1 / 1e3, t2 / 1e3, got);
		}
	return 0;
}

/* --- child processes --- */

/* Runs argv, its stdout into *out (NUL-terminated, malloc'd); returns the
 * exit status (or -1 for a signal). */
static int
run(char **argv, char **out)
{
	int p[2], st;
	pid_t pid;
	size_t n = 0, cap = 4096;
	char *buf = malloc(cap);

	if (buf == NULL || pipe2(p, O_CLOEXEC) != 0)
		fail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		int dn = open("/dev/null", O_RDONLY);
		dup2(dn, 0);
		dup2(p[1], 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		if (n + 1 >= cap && (buf = realloc(buf, cap *= 2)) == NULL)
			fail("out of memory");
		ssize_t r = read(p[0], buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			fail("waitpid: %s", strerror(errno));
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Splits s at tabs into a NULL-terminated vector (s is modified). */
static char **
split_tabs(char *s, int *count)
{
	int n = 1;
	char **v;

	for (char *p = s; *p; p++)
		n += *p == '\t';
	v = calloc((size_t)n + 1, sizeof(*v));
	if (v == NULL)
		fail("out of memory");
	n = 0;
	for (char *p = s;; ) {
		v[n++] = p;
		p = strchr(p, '\t');
		if (p == NULL)
			break;
		*p++ = '\0';
	}
	*count = n;
	return v;
}

static int
cmd_cli(long rounds, int nspecs, char **specs)
{
	char ***argvs = calloc((size_t)nspecs, sizeof(*argvs));
	int c;

	for (int i = 0; i < nspecs; i++) {
		argvs[i] = split_tabs(specs[i], &c);
		if (c < 2)
			fail("cli spec %d: want EXPECT<TAB>PROG[<TAB>ARG...]", i);
	}
	for (long r = 0; r < rounds; r++)
		for (int i = 0; i < nspecs; i++) {
			char *out;
			uint64_t t0 = bench_now_ns();
			int st = run(argvs[i] + 1, &out);
			uint64_t t1 = bench_now_ns();
			if (st != 0)
				fail("%s %s exited with %d: %.300s", argvs[i][1], argvs[i][2] ? argvs[i][2] : "", st, out);
			if (argvs[i][0][0] && strstr(out, argvs[i][0]) == NULL)
				fail("%s: output lacks '%s': %.300s", argvs[i][1], argvs[i][0], out);
			printf("%d %.1f\n", i, (t1 - t0) / 1e3);
			free(out);
		}
	return 0;
}

/* --- control socket --- */

struct ctl {
	int fd;
	char buf[1 << 17];
	size_t have;
	long next_id;
};

static void
ctl_open(struct ctl *c, const char *path)
{
	struct sockaddr_un a;

	memset(c, 0, sizeof(*c));
	c->next_id = 1;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a.sun_path))
		fail("socket path too long: %s", path);
	strcpy(a.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		fail("connect to %s: %s", path, strerror(errno));
}

/* Sends one request and returns its reply line (static buffer, valid until
 * the next call); skips event lines. */
static char *
ctl_call(struct ctl *c, const char *cmd, const char *args)
{
	static char line[1 << 17];
	char req[8192], idtag[48];
	long id = c->next_id++;
	int n = snprintf(req, sizeof(req), "{\"id\":%ld,\"cmd\":\"%s\",\"args\":%s}\n", id, cmd, args);

	if (n <= 0 || (size_t)n >= sizeof(req))
		fail("request too long");
	if (bench_write_all(c->fd, req, (size_t)n) != 0)
		fail("write to the control socket: %s", strerror(errno));
	snprintf(idtag, sizeof(idtag), "\"id\":%ld,", id);
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->have);
		if (nl) {
			size_t len = (size_t)(nl - c->buf);
			memcpy(line, c->buf, len);
			line[len] = '\0';
			memmove(c->buf, nl + 1, c->have - len - 1);
			c->have -= len + 1;
			if (strstr(line, idtag) == NULL)
				continue;   /* an event, or another reply */
			return line;
		}
		if (c->have == sizeof(c->buf))
			fail("control reply too long");
		ssize_t r = read_to(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, 60000);
		if (r <= 0)
			fail("control socket: %s", r == 0 ? "closed" : strerror(errno));
		c->have += (size_t)r;
	}
}

/* the text after "KEY": in a JSON line, as a short token ("-" if absent) */
static void
field(const char *line, const char *key, char *out, size_t cap)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	if (p == NULL) {
		snprintf(out, cap, "-");
		return;
	}
	p += strlen(pat);
	while (*p == ' ')
		p++;
	if (*p == '"')
		p++;
	while (*p && *p != ',' && *p != '}' && *p != '"' && n + 1 < cap)
		out[n++] = *p++;
	out[n] = '\0';
}

static bool
reply_ok(const char *line)
{
	return strstr(line, "\"ok\":true") != NULL || strstr(line, "\"ok\": true") != NULL;
}

static int
cmd_ctl(const char *sock, long rounds, int nspecs, char **specs)
{
	char ***v = calloc((size_t)nspecs, sizeof(*v));
	struct ctl *c = malloc(sizeof(*c));
	const char *pe = getenv("NAMEDBENCH_PAUSE_US");
	long pause_us = pe ? num(pe) : 0;
	int cnt;

	if (v == NULL || c == NULL)
		fail("out of memory");
	for (int i = 0; i < nspecs; i++) {
		v[i] = split_tabs(specs[i], &cnt);
		if (cnt != 3)
			fail("ctl spec %d: want CMD<TAB>ARGS_JSON<TAB>EXPECT", i);
	}
	ctl_open(c, sock);
	for (long r = 0; r < rounds; r++) {
		if (r > 0 && pause_us > 0) {
			struct timespec ts = { pause_us / 1000000, (pause_us % 1000000) * 1000 };
			nanosleep(&ts, NULL);
		}
		for (int i = 0; i < nspecs; i++) {
			char el[32], hops[32], holders[32];
			uint64_t t0 = bench_now_ns();
			char *line = ctl_call(c, v[i][0], v[i][1]);
			uint64_t t1 = bench_now_ns();
			if (!reply_ok(line) || (v[i][2][0] && strstr(line, v[i][2]) == NULL))
				fail("%s %s: unexpected reply (want '%s'): %.400s", v[i][0], v[i][1], v[i][2], line);
			field(line, "elapsed_ms", el, sizeof(el));
			field(line, "hops", hops, sizeof(hops));
			field(line, "holders", holders, sizeof(holders));
			printf("%d %.1f %s %s %s\n", i, (t1 - t0) / 1e3, el, hops, holders);
		}
	}
	return 0;
}

/* the port of the "listen" address in a JSON text, or -1 */
static int
listen_of(const char *json, char *text, size_t cap)
{
	char v[128];
	const char *colon;

	field(json, "listen", v, sizeof(v));
	if (strcmp(v, "-") == 0) {
		/* pretty-printed JSON: "listen": "127.0.0.1:P" */
		const char *p = strstr(json, "\"listen\"");
		size_t n = 0;
		if (p == NULL || (p = strchr(p + 8, '"')) == NULL)
			return -1;
		for (p++; *p && *p != '"' && n + 1 < sizeof(v); )
			v[n++] = *p++;
		v[n] = '\0';
	}
	snprintf(text, cap, "%s", v);
	colon = strrchr(v, ':');
	return colon ? atoi(colon + 1) : -1;
}

static int
cmd_cold(const char *sock, const char *mode, int argc, char **argv)
{
	struct ctl *c = malloc(sizeof(*c));
	char listen[128], args[300], *out = NULL;
	const char *reply = NULL;
	uint64_t t0, t1, t2, t3;
	long got;
	int port;

	if (c == NULL)
		fail("out of memory");
	ctl_open(c, sock);
	if (strcmp(mode, "ctl") == 0 && argc == 1) {
		t0 = bench_now_ns();
		reply = ctl_call(c, "connect.open", argv[0]);
		t1 = bench_now_ns();
		if (!reply_ok(reply))
			fail("connect.open %s: %.400s", argv[0], reply);
		port = listen_of(reply, listen, sizeof(listen));
	} else if (strcmp(mode, "cli") == 0 && argc >= 1) {
		t0 = bench_now_ns();
		int st = run(argv, &out);
		t1 = bench_now_ns();
		if (st != 0)
			fail("%s exited with %d: %.300s", argv[0], st, out);
		port = listen_of(out, listen, sizeof(listen));
	} else {
		fail("cold: want SOCKET ctl ARGS_JSON | SOCKET cli PROG ARG...");
	}
	if (port <= 0)
		fail("no listen port in: %.300s", out ? out : reply);
	got = fetch(port, t0, &t2, &t3);
	snprintf(args, sizeof(args), "{\"listen\":\"%s\"}", listen);
	reply = ctl_call(c, "connect.close", args);
	if (!reply_ok(reply))
		fail("connect.close %s: %.300s", listen, reply);
	printf("%.1f %.1f %.1f %s %ld\n", t1 / 1e3 - t0 / 1e3, t2 / 1e3, t3 / 1e3, listen, got);
	return 0;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && strcmp(argv[1], "httpd") == 0)
		return cmd_httpd((int)num(argv[2]), num(argv[3]));
	if (argc >= 4 && strcmp(argv[1], "ttfb") == 0)
		return cmd_ttfb(num(argv[2]), argc - 3, argv + 3);
	if (argc >= 4 && strcmp(argv[1], "cli") == 0)
		return cmd_cli(num(argv[2]), argc - 3, argv + 3);
	if (argc >= 5 && strcmp(argv[1], "ctl") == 0)
		return cmd_ctl(argv[2], num(argv[3]), argc - 4, argv + 4);
	if (argc >= 5 && strcmp(argv[1], "cold") == 0)
		return cmd_cold(argv[2], argv[3], argc - 4, argv + 4);
	fprintf(stderr, "usage: namedbench httpd PORT BODY | ttfb ROUNDS PORT... | cli ROUNDS SPEC... |\n"
	    "       ctl SOCKET ROUNDS SPEC... | cold SOCKET ctl ARGS_JSON | cold SOCKET cli PROG ARG...\n");
	return 2;
}
