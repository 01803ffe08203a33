/*
 * os_udp — UDP datagram sockets for QUIC: batched receive and send with
 * pktinfo (the local address of each datagram), ECN bits and, on Linux,
 * recvmmsg/sendmmsg and UDP GSO. The contract is in os.h under "UDP".
 *
 * Linux-only features are guarded: VX6_UDP_MMSG (recvmmsg/sendmmsg) and
 * VX6_UDP_GSO (UDP_SEGMENT, kernel >= 4.18, detected per socket). Without
 * them the same batch is received and sent one datagram per system call.
 * Every buffer a batch needs lives in struct vx6_os_udp, allocated once when
 * the socket opens: nothing is allocated per datagram.
 */
#define _GNU_SOURCE 1   /* struct in6_pktinfo, IPV6_RECVPKTINFO, recvmmsg/sendmmsg */
#include "os/os.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/err.h"

#ifdef __linux__
#define VX6_UDP_MMSG 1
#define VX6_UDP_GSO 1
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103   /* linux/udp.h, Linux 4.18 */
#endif
#define VX6_UDP_GRO 1
#ifndef UDP_GRO
#define UDP_GRO 104       /* linux/udp.h, Linux 5.0 */
#endif
#endif

/* With GRO, one receive may hold this many bytes of same-size datagrams,
 * and (as a GSO send has at most 64 segments; ours too) this many of them. */
#define GRO_MSG 65536
/* Messages per receive with GRO: each gets GRO_MSG bytes of the socket's
 * buffer (4 MiB of address space; only what arrives is ever touched). */
#define GRO_NMSG 64

/* Room for the control messages of one datagram: IPV6_PKTINFO (20),
 * IPV6_TCLASS (int), IP_PKTINFO (12), IP_TOS (1) on receive; a pktinfo, a
 * TOS/traffic class and UDP_SEGMENT (uint16) on send; each padded. */
#define CTRL_LEN 256
#define BATCH VX6_OS_UDP_BATCH

union sa_any {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

union ctrl {
	char buf[CTRL_LEN];
	struct cmsghdr align;
};

#ifdef VX6_UDP_MMSG
typedef struct mmsghdr mhdr;
#else
typedef struct {
	struct msghdr msg_hdr;
	unsigned int msg_len;
} mhdr;
#endif

struct vx6_os_udp {
	int fd;
	int family;                 /* AF_INET or AF_INET6 */
	bool dual;                  /* AF_INET6 with IPV6_V6ONLY off */
	bool gso, mmsg, gro;
	struct vx6_addr bound;
	uint8_t *grobuf;            /* GRO_NMSG x GRO_MSG, when gro */
	size_t rx_got, rx_i, rx_off; /* received messages not yet handed out */
	struct vx6_os_udp_info info;

	/* receive scratch */
	mhdr rmsg[BATCH];
	struct iovec riov[BATCH];
	union sa_any rname[BATCH];
	union ctrl rctrl[BATCH];

	/* send scratch: a message per send; tiov[k] is datagram k of the batch,
	 * so a GSO message points at a run of consecutive entries. */
	mhdr tmsg[BATCH];
	struct iovec tiov[BATCH];
	union sa_any tname[BATCH];
	union ctrl tctrl[BATCH];
	size_t tfirst[BATCH];       /* the first datagram of message m */
	bool tgso[BATCH];           /* message m carries UDP_SEGMENT */
};

static const uint8_t v4mapped_prefix[12] = { [10] = 0xff, [11] = 0xff };

static int
errno_to_err(int e)
{
	switch (e) {
	case EMSGSIZE: return VX6_ERR_TOO_LARGE;
	case EINVAL: case EAFNOSUPPORT: case EDESTADDRREQ: return VX6_ERR_INVAL;
	case EADDRINUSE: return VX6_ERR_EXISTS;
	case EADDRNOTAVAIL: case ENETUNREACH: case EHOSTUNREACH: case ENETDOWN:
#ifdef EHOSTDOWN
	case EHOSTDOWN:
#endif
		return VX6_ERR_UNREACHABLE;
	case EACCES: case EPERM: return VX6_ERR_PERM;
	case ECONNREFUSED: return VX6_ERR_REFUSED;
	case ENOMEM: return VX6_ERR_NOMEM;
	default: return VX6_ERR_IO;
	}
}

static bool
buffer_full(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS;
}

static bool
local_unspecified(const struct vx6_addr *a)
{
	return a->family == 0 || vx6_addr_is_unspecified(a);
}

/* A kernel address as VX6 reports it: ::ffff:a.b.c.d becomes family 4. */
static void
addr_from_in6(const struct in6_addr *ip, uint16_t port_be, struct vx6_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->transport = VX6_TRANSPORT_QUIC;
	a->port = ntohs(port_be);
	if (memcmp(ip->s6_addr, v4mapped_prefix, 12) == 0) {
		a->family = 4;
		memcpy(a->ip, ip->s6_addr + 12, 4);
	} else {
		a->family = 6;
		memcpy(a->ip, ip->s6_addr, 16);
	}
}

static void
addr_from_in4(const struct in_addr *ip, uint16_t port_be, struct vx6_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->transport = VX6_TRANSPORT_QUIC;
	a->family = 4;
	a->port = ntohs(port_be);
	memcpy(a->ip, &ip->s_addr, 4);
}

static bool
addr_from_sa(const union sa_any *sa, socklen_t len, struct vx6_addr *a)
{
	if (sa->sa.sa_family == AF_INET6 && len >= (socklen_t)sizeof(sa->in6)) {
		addr_from_in6(&sa->in6.sin6_addr, sa->in6.sin6_port, a);
		return true;
	}
	if (sa->sa.sa_family == AF_INET && len >= (socklen_t)sizeof(sa->in)) {
		addr_from_in4(&sa->in.sin_addr, sa->in.sin_port, a);
		return true;
	}
	return false;
}

/* The IPv6 form of a (mapped when a is IPv4) for an AF_INET6 socket. */
static void
in6_from_addr(const struct vx6_addr *a, struct in6_addr *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (a->family == 4) {
		memcpy(ip->s6_addr, v4mapped_prefix, 12);
		memcpy(ip->s6_addr + 12, a->ip, 4);
	} else {
		memcpy(ip->s6_addr, a->ip, 16);
	}
}

/* The destination sockaddr for a on socket s: 0 or VX6_ERR_INVAL when the
 * socket cannot reach that family. */
static int
dest_sa(const struct vx6_os_udp *s, const struct vx6_addr *a, union sa_any *sa, socklen_t *len)
{
	memset(sa, 0, sizeof(*sa));
	if (s->family == AF_INET) {
		if (a->family != 4)
			return VX6_ERR_INVAL;
		sa->in.sin_family = AF_INET;
		sa->in.sin_port = htons(a->port);
		memcpy(&sa->in.sin_addr, a->ip, 4);
		*len = sizeof(sa->in);
		return 0;
	}
	if (a->family != 6 && !(a->family == 4 && s->dual))
		return VX6_ERR_INVAL;
	sa->in6.sin6_family = AF_INET6;
	sa->in6.sin6_port = htons(a->port);
	in6_from_addr(a, &sa->in6.sin6_addr);
	*len = sizeof(sa->in6);
	return 0;
}

static int
set_int(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v));
}

/* Asks for VX6_OS_UDP_BUFSIZE: the FORCE variant ignores net.core.*mem_max
 * but needs CAP_NET_ADMIN; the plain one is capped by the kernel. Returns
 * what getsockopt reports afterwards. */
static int
grow_buffer(int fd, int name, int force_name, bool *forced)
{
	int v = 0;
	socklen_t len = sizeof(v);

	(void)force_name;
	*forced = false;
#if defined(SO_RCVBUFFORCE) && defined(SO_SNDBUFFORCE)
	if (set_int(fd, SOL_SOCKET, force_name, VX6_OS_UDP_BUFSIZE) == 0)
		*forced = true;
	else
#endif
		(void)set_int(fd, SOL_SOCKET, name, VX6_OS_UDP_BUFSIZE);
	if (getsockopt(fd, SOL_SOCKET, name, &v, &len) != 0)
		return 0;
	return v;
}

static int
set_nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
		return -1;
	fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) != 0)
		return -1;
	return 0;
}

/* Per-datagram local address, ECN bits and don't-fragment for the IPv4
 * side of the socket (an AF_INET socket, or the IPv4 half of a dual-stack
 * one: Linux accepts IPPROTO_IP options on AF_INET6 sockets for that).
 * Failures are tolerated: without them local falls back to the bound
 * address and ECN reads 0. */
static void
set_v4_options(int fd)
{
#if defined(IP_PKTINFO)
	(void)set_int(fd, IPPROTO_IP, IP_PKTINFO, 1);
#elif defined(IP_RECVDSTADDR)
	(void)set_int(fd, IPPROTO_IP, IP_RECVDSTADDR, 1);
#endif
#ifdef IP_RECVTOS
	(void)set_int(fd, IPPROTO_IP, IP_RECVTOS, 1);
#endif
#if defined(IP_MTU_DISCOVER) && defined(IP_PMTUDISC_PROBE)
	(void)set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE);
#elif defined(IP_MTU_DISCOVER) && defined(IP_PMTUDISC_DO)
	(void)set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
#elif defined(IP_DONTFRAG)
	(void)set_int(fd, IPPROTO_IP, IP_DONTFRAG, 1);
#endif
}

static void
set_v6_options(int fd)
{
#ifdef IPV6_RECVPKTINFO
	(void)set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
#endif
#ifdef IPV6_RECVTCLASS
	(void)set_int(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1);
#endif
#if defined(IPV6_MTU_DISCOVER) && defined(IPV6_PMTUDISC_PROBE)
	(void)set_int(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE);
#elif defined(IPV6_MTU_DISCOVER) && defined(IPV6_PMTUDISC_DO)
	(void)set_int(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO);
#endif
#ifdef IPV6_DONTFRAG
	(void)set_int(fd, IPPROTO_IPV6, IPV6_DONTFRAG, 1);
#endif
}

struct vx6_os_udp *
vx6_os_udp_open(const struct vx6_addr *a, int *err)
{
	struct vx6_os_udp *s;
	union sa_any sa;
	socklen_t len;
	int fd, type = SOCK_DGRAM;

	if (a->family != 4 && a->family != 6) {
		*err = VX6_ERR_INVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		*err = VX6_ERR_NOMEM;
		return NULL;
	}
	s->family = a->family == 6 ? AF_INET6 : AF_INET;
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
	type |= SOCK_NONBLOCK | SOCK_CLOEXEC;
#endif
	fd = socket(s->family, type, IPPROTO_UDP);
	if (fd < 0) {
		*err = errno_to_err(errno);
		free(s);
		return NULL;
	}
	s->fd = fd;
	if (set_nonblock_cloexec(fd) != 0)
		goto fail;

	if (s->family == AF_INET6) {
		/* [::] is dual-stack, like the TCP listeners libuv opens; a
		 * specific IPv6 address can only ever see IPv6. */
		bool want_dual = vx6_addr_is_unspecified(a);
		/* On failure the system default stays: not dual (see info). */
		s->dual = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, want_dual ? 0 : 1) == 0 && want_dual;
		set_v6_options(fd);
		if (s->dual)
			set_v4_options(fd);
	} else {
		set_v4_options(fd);
	}
	s->info.rcvbuf = grow_buffer(fd, SO_RCVBUF,
#ifdef SO_RCVBUFFORCE
	    SO_RCVBUFFORCE,
#else
	    0,
#endif
	    &s->info.buf_forced);
	{
		bool forced;
		s->info.sndbuf = grow_buffer(fd, SO_SNDBUF,
#ifdef SO_SNDBUFFORCE
		    SO_SNDBUFFORCE,
#else
		    0,
#endif
		    &forced);
		s->info.buf_forced = s->info.buf_forced && forced;
	}

	memset(&sa, 0, sizeof(sa));
	if (s->family == AF_INET6) {
		sa.in6.sin6_family = AF_INET6;
		sa.in6.sin6_port = htons(a->port);
		memcpy(&sa.in6.sin6_addr, a->ip, 16);
		len = sizeof(sa.in6);
	} else {
		sa.in.sin_family = AF_INET;
		sa.in.sin_port = htons(a->port);
		memcpy(&sa.in.sin_addr, a->ip, 4);
		len = sizeof(sa.in);
	}
	if (bind(fd, &sa.sa, len) != 0)
		goto fail;
	len = sizeof(sa);
	if (getsockname(fd, &sa.sa, &len) != 0 || !addr_from_sa(&sa, len, &s->bound))
		goto fail;
	if (s->family == AF_INET6 && s->bound.family == 4) {
		/* Bound to an explicitly mapped address: report it as given. */
		s->bound.family = 6;
		memcpy(s->bound.ip, a->ip, 16);
	}

#ifdef VX6_UDP_MMSG
	s->mmsg = true;
#endif
#ifdef VX6_UDP_GSO
	{
		int v = 0;
		socklen_t vl = sizeof(v);
		/* Kernels before 4.18 answer ENOPROTOOPT. */
		s->gso = getsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &v, &vl) == 0;
	}
#endif
#ifdef VX6_UDP_GRO
	{
		/* The kernel hands over runs of same-size datagrams of one flow
		 * as one buffer (split in vx6_os_udp_recv): one receive instead
		 * of dozens when the sender used GSO. Before 5.0: ENOPROTOOPT. */
		int on = 1;
		s->grobuf = malloc((size_t)GRO_NMSG * GRO_MSG);
		s->gro = s->grobuf && setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof(on)) == 0;
		if (!s->gro) {
			free(s->grobuf);
			s->grobuf = NULL;
		}
	}
#endif
	s->info.dual_stack = s->dual;
	s->info.gso = s->gso;
	s->info.gro = s->gro;
	s->info.mmsg = s->mmsg;
	return s;

fail:
	*err = errno_to_err(errno);
	close(fd);
	free(s);
	return NULL;
}

void
vx6_os_udp_close(struct vx6_os_udp *s)
{
	if (s == NULL)
		return;
	close(s->fd);
	free(s->grobuf);
	free(s);
}

int
vx6_os_udp_fd(const struct vx6_os_udp *s)
{
	return s->fd;
}

void
vx6_os_udp_bound(const struct vx6_os_udp *s, struct vx6_addr *out)
{
	*out = s->bound;
}

bool
vx6_os_udp_buffered(const struct vx6_os_udp *s)
{
	return s->rx_i < s->rx_got;
}

void
vx6_os_udp_info(const struct vx6_os_udp *s, struct vx6_os_udp_info *out)
{
	*out = s->info;
}

void
vx6_os_udp_disable(struct vx6_os_udp *s, bool gso, bool mmsg)
{
	if (gso)
		s->gso = s->info.gso = false;
	if (mmsg)
		s->mmsg = s->info.mmsg = false;
}

/* --- receive ------------------------------------------------------------- */

/* Reads the local address and ECN bits from a received datagram's control
 * messages into o (left as the bound address and 0 when absent). */
static void
parse_cmsgs(const struct vx6_os_udp *s, struct msghdr *mh, struct vx6_os_dgram *o)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		const unsigned char *p = CMSG_DATA(cm);
		size_t dlen = cm->cmsg_len - (size_t)(p - (const unsigned char *)cm);

		if (cm->cmsg_level == IPPROTO_IPV6) {
#ifdef IPV6_PKTINFO
			if (cm->cmsg_type == IPV6_PKTINFO && dlen >= sizeof(struct in6_pktinfo)) {
				struct in6_pktinfo pi;
				memcpy(&pi, p, sizeof(pi));
				addr_from_in6(&pi.ipi6_addr, htons(s->bound.port), &o->local);
				continue;
			}
#endif
#ifdef IPV6_TCLASS
			if (cm->cmsg_type == IPV6_TCLASS && dlen >= sizeof(int)) {
				int tc;
				memcpy(&tc, p, sizeof(tc));
				o->ecn = (uint8_t)(tc & 3);
			}
#endif
			continue;
		}
		if (cm->cmsg_level != IPPROTO_IP)
			continue;
#if defined(IP_PKTINFO)
		if (cm->cmsg_type == IP_PKTINFO && dlen >= sizeof(struct in_pktinfo)) {
			struct in_pktinfo pi;
			memcpy(&pi, p, sizeof(pi));
			/* ipi_addr is the header's destination address. */
			addr_from_in4(&pi.ipi_addr, htons(s->bound.port), &o->local);
			continue;
		}
#elif defined(IP_RECVDSTADDR)
		if (cm->cmsg_type == IP_RECVDSTADDR && dlen >= sizeof(struct in_addr)) {
			struct in_addr ia;
			memcpy(&ia, p, sizeof(ia));
			addr_from_in4(&ia, htons(s->bound.port), &o->local);
			continue;
		}
#endif
		/* Linux reports IP_TOS (one byte); the BSDs IP_RECVTOS. */
		if ((cm->cmsg_type == IP_TOS
#ifdef IP_RECVTOS
		    || cm->cmsg_type == IP_RECVTOS
#endif
		    ) && dlen >= 1)
			o->ecn = (uint8_t)(p[0] & 3);
	}
}

/* The UDP_GRO segment size of a received message, 0 when it has none. */
static size_t
gro_segment(struct msghdr *mh)
{
#ifdef VX6_UDP_GRO
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_UDP && cm->cmsg_type == UDP_GRO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int g;
			memcpy(&g, CMSG_DATA(cm), sizeof(g));
			return g > 0 ? (size_t)g : 0;
		}
	}
#else
	(void)mh;
#endif
	return 0;
}

/* Fills o from message i's address and control data; false if it has no
 * usable source address. */
static bool
msg_meta(struct vx6_os_udp *s, size_t i, struct vx6_os_dgram *o)
{
	struct msghdr *mh = &s->rmsg[i].msg_hdr;

	memset(o, 0, sizeof(*o));
	if (!addr_from_sa(&s->rname[i], mh->msg_namelen, &o->remote))
		return false;   /* no source address: nothing to answer */
	o->local = s->bound;
	parse_cmsgs(s, mh, o);
	return true;
}

/* Hands out datagrams of the received messages, from where the last call
 * stopped (s->rx_i, s->rx_off), until out[] is full. */
static size_t
deliver(struct vx6_os_udp *s, uint8_t *base, size_t msg_len, size_t slot, struct vx6_os_dgram *out,
    size_t max)
{
	size_t n = 0;

	while (s->rx_i < s->rx_got && n < max) {
		size_t i = s->rx_i;
		struct msghdr *mh = &s->rmsg[i].msg_hdr;
		size_t len = s->rmsg[i].msg_len, seg = gro_segment(mh);
		struct vx6_os_dgram meta;

		if ((mh->msg_flags & MSG_TRUNC) || !msg_meta(s, i, &meta)) {
			s->info.rx_truncated += (mh->msg_flags & MSG_TRUNC) != 0;
			s->rx_i++;
			s->rx_off = 0;
			continue;
		}
		if (len == 0) {   /* an empty datagram is a datagram too */
			out[n] = meta;
			out[n].data = base + i * msg_len;
			out[n++].len = 0;
			s->rx_i++;
			continue;
		}
		if (seg == 0 || seg >= len)
			seg = len;
		/* A GRO run is split back into its datagrams (the last may be
		 * shorter); each must fit the caller's slot like any datagram. */
		while (s->rx_off < len && n < max) {
			size_t l = len - s->rx_off < seg ? len - s->rx_off : seg;
			if (l <= slot) {
				out[n] = meta;
				out[n].data = base + i * msg_len + s->rx_off;
				out[n].len = l;
				n++;
			} else {
				s->info.rx_truncated++;
			}
			s->rx_off += seg;
		}
		if (s->rx_off >= len) {
			s->rx_i++;
			s->rx_off = 0;
		}
	}
	return n;
}

int
vx6_os_udp_recv(struct vx6_os_udp *s, uint8_t *buf, size_t slot, struct vx6_os_dgram *out,
    size_t max, bool *more)
{
	size_t nmsg, msg_len, n;
	uint8_t *base;

	*more = false;
	if (max > BATCH)
		max = BATCH;
	if (max == 0 || slot == 0)
		return 0;
	/* With GRO a message is a run of up to 64 KiB, received into the
	 * socket's own buffer (a caller's small slot would truncate it). */
	base = s->gro ? s->grobuf : buf;
	msg_len = s->gro ? GRO_MSG : slot;
	if (s->rx_i < s->rx_got) {
		/* Datagrams of the last receive that did not fit out[]. */
		n = deliver(s, base, msg_len, slot, out, max);
		*more = s->rx_i < s->rx_got || n == max;
		return (int)n;
	}
	nmsg = s->gro && GRO_NMSG < max ? GRO_NMSG : max;
	for (size_t i = 0; i < nmsg; i++) {
		struct msghdr *mh = &s->rmsg[i].msg_hdr;
		s->riov[i].iov_base = base + i * msg_len;
		s->riov[i].iov_len = msg_len;
		mh->msg_name = &s->rname[i];
		mh->msg_namelen = sizeof(s->rname[i]);
		mh->msg_iov = &s->riov[i];
		mh->msg_iovlen = 1;
		mh->msg_control = s->rctrl[i].buf;
		mh->msg_controllen = sizeof(s->rctrl[i].buf);
		mh->msg_flags = 0;
	}
	s->rx_got = s->rx_i = s->rx_off = 0;
#ifdef VX6_UDP_MMSG
	if (s->mmsg) {
		int r;
		do
			r = recvmmsg(s->fd, s->rmsg, (unsigned int)nmsg, MSG_DONTWAIT, NULL);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : VX6_ERR_IO;
		s->rx_got = (size_t)r;
	} else
#endif
	{
		while (s->rx_got < nmsg) {
			ssize_t r = recvmsg(s->fd, &s->rmsg[s->rx_got].msg_hdr, MSG_DONTWAIT);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				if ((errno == EAGAIN || errno == EWOULDBLOCK) || s->rx_got > 0)
					break;   /* a later call reports a pending error */
				return VX6_ERR_IO;
			}
			s->rmsg[s->rx_got].msg_len = (unsigned int)r;
			s->rx_got++;
		}
	}
	n = deliver(s, base, msg_len, slot, out, max);
	*more = s->rx_i < s->rx_got || s->rx_got == nmsg;
	return (int)n;
}

/* --- send ---------------------------------------------------------------- */

static bool
same_addr(const struct vx6_addr *a, const struct vx6_addr *b)
{
	return a->port == b->port && vx6_addr_same_host(a, b);
}

/* Whether d can follow first in first's GSO message. */
static bool
same_flow(const struct vx6_os_dgram *first, const struct vx6_os_dgram *d)
{
	if (d->ecn != first->ecn || !same_addr(&d->remote, &first->remote))
		return false;
	if (local_unspecified(&first->local) || local_unspecified(&d->local))
		return local_unspecified(&first->local) && local_unspecified(&d->local);
	return vx6_addr_same_host(&d->local, &first->local);
}

static struct cmsghdr *
add_cmsg(union ctrl *c, size_t *used, int level, int type, const void *data, size_t len)
{
	struct cmsghdr *cm = (struct cmsghdr *)(void *)(c->buf + *used);

	memset(cm, 0, CMSG_SPACE(len));
	cm->cmsg_level = level;
	cm->cmsg_type = type;
	cm->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(cm), data, len);
	*used += CMSG_SPACE(len);
	return cm;
}

/* Fills message m for datagrams [first, first + n): destination, source
 * (pktinfo), ECN, and UDP_SEGMENT when n > 1. Returns 0 or a vx6_err for
 * d[first] that no send could fix. */
static int
build_msg(struct vx6_os_udp *s, size_t m, const struct vx6_os_dgram *d, size_t first, size_t n)
{
	const struct vx6_os_dgram *g = &d[first];
	struct msghdr *mh = &s->tmsg[m].msg_hdr;
	union ctrl *c = &s->tctrl[m];
	socklen_t namelen;
	size_t used = 0;
	bool v4dest = g->remote.family == 4;
	int rc;

	rc = dest_sa(s, &g->remote, &s->tname[m], &namelen);
	if (rc)
		return rc;
	memset(mh, 0, sizeof(*mh));
	mh->msg_name = &s->tname[m];
	mh->msg_namelen = namelen;
	mh->msg_iov = &s->tiov[first];
	mh->msg_iovlen = n;
	s->tfirst[m] = first;
	s->tgso[m] = n > 1;

	if (!local_unspecified(&g->local)) {
		if (g->local.family != g->remote.family)
			return VX6_ERR_INVAL;
		if (s->family == AF_INET6) {
#ifdef IPV6_PKTINFO
			struct in6_pktinfo pi;
			memset(&pi, 0, sizeof(pi));
			in6_from_addr(&g->local, &pi.ipi6_addr);
			add_cmsg(c, &used, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
#else
			return VX6_ERR_INVAL;
#endif
		} else {
#if defined(IP_PKTINFO)
			struct in_pktinfo pi;
			memset(&pi, 0, sizeof(pi));
			memcpy(&pi.ipi_spec_dst, g->local.ip, 4);
			add_cmsg(c, &used, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
#elif defined(IP_SENDSRCADDR)
			struct in_addr ia;
			memcpy(&ia, g->local.ip, 4);
			add_cmsg(c, &used, IPPROTO_IP, IP_SENDSRCADDR, &ia, sizeof(ia));
#else
			return VX6_ERR_INVAL;
#endif
		}
	}
	if (g->ecn != 0) {
		/* An IPv4 destination takes IP_TOS even on an AF_INET6 socket (the
		 * kernel's IPv4 path ignores IPV6_TCLASS). Linux reads an int; the
		 * BSDs a byte. */
		if (v4dest) {
#ifdef __linux__
			int tos = g->ecn & 3;
#else
			unsigned char tos = g->ecn & 3;
#endif
			add_cmsg(c, &used, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
		} else {
#ifdef IPV6_TCLASS
			int tc = g->ecn & 3;
			add_cmsg(c, &used, IPPROTO_IPV6, IPV6_TCLASS, &tc, sizeof(tc));
#endif
		}
	}
#ifdef VX6_UDP_GSO
	if (n > 1) {
		uint16_t seg = (uint16_t)g->len;
		add_cmsg(c, &used, IPPROTO_UDP, UDP_SEGMENT, &seg, sizeof(seg));
	}
#endif
	if (used > 0) {
		mh->msg_control = c->buf;
		mh->msg_controllen = used;
	}
	return 0;
}

/* Groups d[from..count) into messages (GSO runs when use_gso). Stops before
 * the first datagram that cannot be sent at all: *limit is its index (count
 * when there is none) and *bad its error. Returns the message count. */
static size_t
build_batch(struct vx6_os_udp *s, const struct vx6_os_dgram *d, size_t from, size_t count,
    bool use_gso, size_t *limit, int *bad)
{
	size_t m = 0, i = from;

	*bad = 0;
	while (i < count) {
		size_t j = i + 1, total = d[i].len;
		int rc;

		if (d[i].len > VX6_OS_UDP_MAX_PAYLOAD) {
			*bad = VX6_ERR_TOO_LARGE;
			break;
		}
		/* A run: same flow, equal lengths, the last one may be shorter. */
		while (use_gso && d[i].len > 0 && j < count && same_flow(&d[i], &d[j]) &&
		    d[j].len > 0 && d[j].len <= d[i].len &&
		    total + d[j].len <= VX6_OS_UDP_GSO_MAX_BYTES) {
			total += d[j].len;
			if (d[j++].len < d[i].len)
				break;
		}
		rc = build_msg(s, m, d, i, j - i);
		if (rc) {
			*bad = rc;
			break;
		}
		m++;
		i = j;
	}
	*limit = i;
	return m;
}

/* Sends messages [0, nm); returns how many went out, with *eno the error
 * that stopped the rest. */
static size_t
send_msgs(struct vx6_os_udp *s, size_t nm, int *eno)
{
	size_t done = 0;

	*eno = 0;
#ifdef VX6_UDP_MMSG
	if (s->mmsg) {
		while (done < nm) {
			int r = sendmmsg(s->fd, &s->tmsg[done], (unsigned int)(nm - done), MSG_DONTWAIT);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				*eno = r < 0 ? errno : EIO;
				break;
			}
			done += (size_t)r;
		}
		return done;
	}
#endif
	while (done < nm) {
		ssize_t r = sendmsg(s->fd, &s->tmsg[done].msg_hdr, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*eno = errno;
			break;
		}
		done++;
	}
	return done;
}

int
vx6_os_udp_send(struct vx6_os_udp *s, const struct vx6_os_dgram *d, size_t count)
{
	size_t from = 0, accepted = 0, einval_retry_at = SIZE_MAX;
	bool use_gso = s->gso;
	int err = 0;

	if (count > BATCH)
		return VX6_ERR_INVAL;
	for (size_t k = 0; k < count; k++) {
		s->tiov[k].iov_base = (void *)(uintptr_t)d[k].data;
		s->tiov[k].iov_len = d[k].len;
	}
	for (;;) {
		size_t limit, nm, sent;
		int bad, eno;

		nm = build_batch(s, d, from, count, use_gso, &limit, &bad);
		sent = send_msgs(s, nm, &eno);
		accepted = sent < nm ? s->tfirst[sent] : limit;
		if (sent == nm) {
			err = bad;   /* 0, or why d[limit] cannot be sent */
			break;
		}
		if (buffer_full(eno)) {
			s->info.tx_full += count - accepted;
			err = 0;
			break;
		}
		if (s->tgso[sent] && (eno == EIO || eno == EINVAL)) {
			/* EIO: the device cannot checksum segments, for good.
			 * EINVAL: GSO refused, or something else wrong with the
			 * datagrams; a plain resend tells which. */
			s->info.tx_gso_fallbacks++;
			if (eno == EIO)
				s->gso = s->info.gso = false;
			else
				einval_retry_at = accepted;
			use_gso = false;
			from = accepted;
			continue;
		}
		err = errno_to_err(eno);
		break;
	}
	if (einval_retry_at != SIZE_MAX && accepted > einval_retry_at)
		s->gso = s->info.gso = false;   /* plain sends passed where GSO did not */
	if (accepted == 0 && err)
		return err;
	return (int)accepted;
}
