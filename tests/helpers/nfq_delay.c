/* nfq_delay — a fixed-delay line for one NFQUEUE queue (tests and benchmarks).
 *
 * The kernel here has no netem; an ip6tables rule such as
 *     ip6tables -A OUTPUT -d ADDR -j NFQUEUE --queue-num Q
 * hands every matching packet to this program, which gives each one its
 * verdict (NF_ACCEPT, unchanged) D ms after it arrived. The packet itself
 * stays in the kernel meanwhile (copy mode "meta": no payload is copied);
 * this program keeps only (id, deadline) per packet, in a ring of at most
 * MAX entries. Packets leave in the order they came (one fixed delay, a FIFO,
 * and a batch verdict "every id <= N" for the ones that are due). A poll loop
 * sleeps until the next deadline or the next packet, never per packet.
 *
 * Bounded: with MAX packets held, a new one is accepted at once (no delay)
 * and counted as an overflow; the kernel queue is sized a little above MAX and
 * set to fail open (accept rather than drop if it is ever full).
 *
 * NFQUEUE is per network namespace: run one instance inside each namespace
 * whose rules use the queue (`ip netns exec NS nfq_delay -q Q -d D`).
 *
 * Usage: nfq_delay -q QUEUE -d DELAY_MS [-m MAX_HELD] [-r READY_FILE] [-v]
 *   -r  create READY_FILE once the queue is bound (scripts poll for it)
 *   -v  print statistics every 5 s
 * SIGTERM / SIGINT: every held packet is accepted at once, the queue is
 * unbound, statistics go to stderr, exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/netfilter.h> /* NF_ACCEPT */
#include <libnetfilter_queue/libnetfilter_queue.h>

struct held {
	uint32_t id;
	int64_t due_ns;
};

static struct {
	struct nfq_q_handle *qh;
	struct held *ring;
	size_t cap, head, n; /* FIFO: ring[head], ..., n entries */
	int64_t delay_ns;
	uint64_t queued, released, overflow, max_held, verdict_errors;
} S;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void verdict_one(uint32_t id)
{
	if (nfq_set_verdict(S.qh, id, NF_ACCEPT, 0, NULL) < 0)
		S.verdict_errors++;
}

/* Accepts every held packet due at `now` (all of them when now < 0), with
 * one batch verdict: ids are increasing in the FIFO, and the kernel's batch
 * verdict applies to every queued id <= the one given. */
static void release_due(int64_t now)
{
	size_t k = 0;
	uint32_t last = 0;
	while (k < S.n) {
		const struct held *h = &S.ring[(S.head + k) % S.cap];
		if (now >= 0 && h->due_ns > now)
			break;
		last = h->id;
		k++;
	}
	if (k == 0)
		return;
	if (nfq_set_verdict_batch(S.qh, last, NF_ACCEPT) < 0) {
		/* Fall back to one verdict each. */
		for (size_t i = 0; i < k; i++)
			verdict_one(S.ring[(S.head + i) % S.cap].id);
	}
	S.head = (S.head + k) % S.cap;
	S.n -= k;
	S.released += k;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data)
{
	(void)qh;
	(void)msg;
	(void)data;
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	if (!ph)
		return 0;
	uint32_t id = ntohl(ph->packet_id);
	S.queued++;
	if (S.n == S.cap) {
		/* Full: this one goes through at once. The batch verdict of an
		 * earlier id cannot touch it (its id is larger), and later
		 * batches find it gone. */
		S.overflow++;
		verdict_one(id);
		return 0;
	}
	S.ring[(S.head + S.n) % S.cap] = (struct held){ .id = id, .due_ns = now_ns() + S.delay_ns };
	S.n++;
	if (S.n > S.max_held)
		S.max_held = S.n;
	return 0;
}

static void print_stats(const char *when)
{
	fprintf(stderr,
		"nfq_delay: %s: queued %llu released %llu held %zu max_held %llu overflow %llu verdict_errors %llu\n",
		when, (unsigned long long)S.queued, (unsigned long long)S.released, S.n,
		(unsigned long long)S.max_held, (unsigned long long)S.overflow,
		(unsigned long long)S.verdict_errors);
}

static void usage(void)
{
	fprintf(stderr, "usage: nfq_delay -q QUEUE -d DELAY_MS [-m MAX_HELD] [-r READY_FILE] [-v]\n");
	exit(2);
}

static long parse_num(const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	long queue = -1, delay_ms = -1, max_held = 100000;
	const char *ready = NULL;
	int verbose = 0, c;
	while ((c = getopt(argc, argv, "q:d:m:r:v")) != -1) {
		switch (c) {
		case 'q': queue = parse_num(optarg, 0, 65535); break;
		case 'd': delay_ms = parse_num(optarg, 0, 60000); break;
		case 'm': max_held = parse_num(optarg, 1, 10000000); break;
		case 'r': ready = optarg; break;
		case 'v': verbose = 1; break;
		default: usage();
		}
	}
	if (queue < 0 || delay_ms < 0 || optind != argc)
		usage();

	S.cap = (size_t)max_held;
	S.delay_ns = (int64_t)delay_ms * 1000000;
	S.ring = calloc(S.cap, sizeof *S.ring);
	if (!S.ring) {
		perror("nfq_delay: calloc");
		return 1;
	}

	struct sigaction sa = { 0 };
	sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct nfq_handle *h = nfq_open();
	if (!h) {
		perror("nfq_delay: nfq_open");
		return 1;
	}
	/* Older kernels want the family bound; newer ones ignore it. */
	nfq_unbind_pf(h, AF_INET6);
	nfq_bind_pf(h, AF_INET6);
	nfq_unbind_pf(h, AF_INET);
	nfq_bind_pf(h, AF_INET);
	S.qh = nfq_create_queue(h, (uint16_t)queue, on_packet, NULL);
	if (!S.qh) {
		fprintf(stderr, "nfq_delay: cannot bind queue %ld: %s (another listener on it?)\n", queue,
			strerror(errno));
		nfq_close(h);
		return 1;
	}
	if (nfq_set_mode(S.qh, NFQNL_COPY_META, 0) < 0) {
		perror("nfq_delay: nfq_set_mode");
		return 1;
	}
	uint32_t kmax = (uint32_t)(S.cap + 4096);
	if (nfq_set_queue_maxlen(S.qh, kmax) < 0)
		fprintf(stderr, "nfq_delay: nfq_set_queue_maxlen %u failed (kernel default kept)\n", kmax);
	if (nfq_set_queue_flags(S.qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN) < 0)
		fprintf(stderr, "nfq_delay: fail-open flag not supported\n");

	int fd = nfq_fd(h);
	/* Room for bursts (each message is ~100 bytes in meta mode). */
	nfnl_rcvbufsiz(nfq_nfnlh(h), 16u << 20);
	int one = 1;
	setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

	if (ready) {
		FILE *f = fopen(ready, "w");
		if (!f) {
			perror("nfq_delay: ready file");
			return 1;
		}
		fprintf(f, "%ld\n", (long)getpid());
		fclose(f);
	}
	fprintf(stderr, "nfq_delay: queue %ld, delay %ld ms, max %zu held: ready\n", queue, delay_ms, S.cap);

	static char buf[1 << 16];
	int64_t next_stats = now_ns() + 5000000000LL;
	int rc = 0;
	while (!stop_flag) {
		int64_t now = now_ns();
		release_due(now);
		int timeout = -1;
		if (S.n) {
			int64_t wait = S.ring[S.head].due_ns - now;
			/* Round up to whole ms: never wake early and spin. */
			timeout = wait <= 0 ? 0 : (int)((wait + 999999) / 1000000);
		}
		if (verbose) {
			int64_t ws = (next_stats - now + 999999) / 1000000;
			if (ws < 0)
				ws = 0;
			if (timeout < 0 || ws < timeout)
				timeout = (int)ws;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("nfq_delay: poll");
			rc = 1;
			break;
		}
		if (r > 0) {
			/* Drain the socket (bounded, so due packets are not starved). */
			for (int i = 0; i < 256; i++) {
				ssize_t len = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
				if (len < 0) {
					if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
						break;
					if (errno == ENOBUFS)
						continue; /* messages lost: those packets are dropped by the kernel */
					perror("nfq_delay: recv");
					rc = 1;
					stop_flag = 1;
					break;
				}
				nfq_handle_packet(h, buf, (int)len);
			}
		}
		if (verbose && now_ns() >= next_stats) {
			print_stats("stats");
			next_stats += 5000000000LL;
		}
	}

	release_due(-1); /* let everything held go now */
	print_stats("exit");
	nfq_destroy_queue(S.qh);
	nfq_close(h);
	free(S.ring);
	return rc;
}
