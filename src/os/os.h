/*
 * os — every operating-system specific call VX6 makes outside libuv, in one
 * place (POSIX here; a Windows port replaces os_posix.c): files with modes
 * and atomic replacement, the home-directory lock, the control-socket client
 * used by the CLI, peer credentials, the stderr log sink, address-change
 * and high-resolution timer descriptors, and the UDP
 * datagram sockets QUIC runs on (os_udp.c).
 */
#ifndef VX6_OS_OS_H
#define VX6_OS_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/addr.h"
#include "lib/log.h"

/* Reads a whole file (at most max bytes) into a NUL-terminated malloc'd
 * buffer. Returns 0, VX6_ERR_NOT_FOUND, VX6_ERR_TOO_LARGE or VX6_ERR_IO. */
int vx6_os_read_file(const char *path, size_t max, char **out, size_t *len);
/* The same, also giving the permission bits of the file that was read. */
int vx6_os_read_file_mode(const char *path, size_t max, char **out, size_t *len, int *mode);
/* Writes data to path atomically (temp file, fsync, rename) with mode. */
int vx6_os_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* Appends a line (with fsync) to path, creating it with mode. */
int vx6_os_append_line(const char *path, const char *line, unsigned mode);
bool vx6_os_exists(const char *path);
/* Permission bits of path, or -1. */
int vx6_os_file_mode(const char *path);
/* Creates dir (and parents) with mode; an existing directory is fine. */
int vx6_os_mkdir_p(const char *path, unsigned mode);
int vx6_os_unlink(const char *path);
int vx6_os_chmod(const char *path, unsigned mode);
/* Sets a umask for files this process creates next; returns the old one. */
unsigned vx6_os_umask(unsigned mask);

/* Takes an exclusive lock on path (created 0600). Returns a handle >= 0, or
 * VX6_ERR_BUSY when another process holds it, or VX6_ERR_IO. The lock dies
 * with the process. */
int vx6_os_lock(const char *path);
void vx6_os_unlock(int handle);

/* The default home: $XDG_CONFIG_HOME/vx6, else $HOME/.config/vx6. */
int vx6_os_default_home(char *out, size_t outlen);

/* Control client (blocking), owned by the caller: free with
 * vx6_os_ctl_close(). On failure returns NULL and sets *err to
 * VX6_ERR_NOT_FOUND when no node listens at path, or another vx6_err. */
struct vx6_os_ctl;
struct vx6_os_ctl *vx6_os_ctl_connect(const char *path, int *err);
int vx6_os_ctl_send(struct vx6_os_ctl *c, const char *data, size_t len);
/* Reads one line (without '\n') into a malloc'd string, waiting at most
 * timeout_ms (-1: forever). Returns 0, VX6_ERR_TIMEOUT (also when
 * *interrupted became non-zero; it is polled every 100 ms), VX6_ERR_CLOSED or
 * VX6_ERR_TOO_LARGE. */
int vx6_os_ctl_read_line(struct vx6_os_ctl *c, char **line, int timeout_ms, volatile int *interrupted);
void vx6_os_ctl_close(struct vx6_os_ctl *c);   /* NULL is a no-op */

/* True when the process at the other end of a Unix socket fd runs as our
 * user (or root). */
bool vx6_os_peer_is_same_user(int fd);
/* Max path length of a Unix socket. */
size_t vx6_os_unix_path_max(void);

/* A log sink writing "TIME LEVEL module: msg" to stderr. */
void vx6_os_log_stderr(void *ud, enum vx6_log_level level, const char *module, const char *msg);

/* A descriptor that becomes readable when this host's addresses change
 * (Linux: a NETLINK_ROUTE socket on the address groups), or -1 where there
 * is none (callers then poll). drain() empties it. */
int vx6_os_addr_watch_open(void);
void vx6_os_addr_watch_drain(int fd);
void vx6_os_addr_watch_close(int fd);

/* A descriptor that becomes readable at a deadline given in nanoseconds
 * (Linux: a timerfd on CLOCK_MONOTONIC, the clock of uv_hrtime()), or -1
 * where there is none (callers then use millisecond timers). arm() replaces
 * any earlier deadline (absolute ns on that clock) and returns 0 or
 * VX6_ERR_IO; drain() empties the descriptor after it fired. */
int vx6_os_hrtimer_open(void);
int vx6_os_hrtimer_arm(int fd, uint64_t deadline_ns);
void vx6_os_hrtimer_drain(int fd);
void vx6_os_hrtimer_close(int fd);

/* Starts this program again with argv (argv[0] is ignored), stdout and
 * stderr to /dev/null. Returns a handle (> 0) or a negative vx6_err. */
long vx6_os_spawn_self(char *const argv[]);
/* Asks the process to stop (SIGTERM), waits up to timeout_ms, then kills it. */
void vx6_os_stop_child(long handle, int timeout_ms);
void vx6_os_sleep_ms(int ms);

/* Tunes the allocator for a daemon that cycles 64-256 KiB buffers: no
 * mmap per buffer, no returning the heap top to the kernel after each burst
 * (both cost a page fault per 4 KiB on reuse). No-op where not glibc. */
void vx6_os_tune_allocator(void);

/* Wall-clock seconds since the epoch. */
int64_t vx6_os_wall_time(void);

/* --- UDP ---------------------------------------------------------------------
 * Datagram sockets for QUIC (os_udp.c): batched receive and send with the
 * per-datagram local address (pktinfo) and ECN bits, which libuv's UDP API
 * does not give. Linux uses recvmmsg/sendmmsg and UDP GSO (UDP_SEGMENT);
 * elsewhere a recvmsg/sendmsg loop does the same work one datagram at a time.
 * A socket is not thread-safe: one caller at a time (the event loop).
 *
 * Addresses: every address reported (bound, local, remote) carries
 * transport VX6_TRANSPORT_QUIC; transport is ignored on send. A socket bound
 * to the IPv6 unspecified address [::] is dual-stack (IPV6_V6ONLY off): IPv4
 * peers are reported as family 4 (never as ::ffff:a.b.c.d), and family-4
 * addresses given to send are mapped back. Any other IPv6 bind is v6-only.
 * A datagram's local address is its destination address as received
 * (pktinfo) with the socket's port; send uses a specified local address as
 * the source (family 0 or the unspecified address: the kernel chooses).
 *
 * Don't-fragment: IP_MTU_DISCOVER / IPV6_MTU_DISCOVER = PMTUDISC_PROBE on
 * Linux (DF set, no local fragmentation, the kernel's path-MTU cache is
 * ignored: QUIC finds the path MTU itself, RFC 9000 section 14); elsewhere
 * IP_DONTFRAG / IPV6_DONTFRAG where defined. A datagram larger than the
 * outgoing interface's MTU is refused (VX6_ERR_TOO_LARGE), never fragmented.
 */
#define VX6_OS_UDP_BATCH 128              /* datagrams per recv / send call, at most */
#define VX6_OS_UDP_MAX_PAYLOAD 65507      /* largest payload sent on both families */
#define VX6_OS_UDP_BUFSIZE (4 * 1024 * 1024)   /* requested SO_RCVBUF / SO_SNDBUF */
#define VX6_OS_UDP_GSO_MAX_BYTES 65000    /* payload bytes in one GSO send, at most */

/* One datagram (the same fields as io/io.h's struct vx6_dgram, which this
 * layer may not include). data is borrowed. */
struct vx6_os_dgram {
	struct vx6_addr local;
	struct vx6_addr remote;
	const uint8_t *data;
	size_t len;
	uint8_t ecn;               /* the IP ECN bits (0 not-ECT, 1 ECT(1), 2 ECT(0), 3 CE) */
};

/* What a socket got from the kernel, and its counters. */
struct vx6_os_udp_info {
	int rcvbuf, sndbuf;        /* as getsockopt reports them (Linux: twice the
	                            * bytes requested, the kernel's bookkeeping share) */
	bool buf_forced;           /* SO_RCVBUFFORCE/SO_SNDBUFFORCE were permitted */
	bool dual_stack;           /* [::] that also carries IPv4 */
	bool gso;                  /* UDP_SEGMENT in use (turns off after EIO, or an
	                            * EINVAL that a plain send then did not repeat) */
	bool mmsg;                 /* recvmmsg/sendmmsg in use */
	bool gro;                  /* UDP_GRO in use (Linux >= 5.0) */
	uint64_t rx_truncated;     /* dropped on receive: larger than the caller's slot */
	uint64_t tx_full;          /* not sent: the socket buffer was full (EAGAIN/ENOBUFS) */
	uint64_t tx_gso_fallbacks; /* GSO sends the kernel refused and that were resent plainly */
};

struct vx6_os_udp;

/* Opens a UDP socket bound to a (port 0 picks one): non-blocking,
 * close-on-exec, buffers of VX6_OS_UDP_BUFSIZE (SO_*BUFFORCE first, then
 * SO_*BUF, which the kernel caps at net.core.[rw]mem_max), pktinfo and TOS /
 * traffic class delivered with each datagram, don't-fragment as above, GSO
 * detected. Returns the socket (caller frees with vx6_os_udp_close()), or
 * NULL with *err set: VX6_ERR_INVAL (family not 4 or 6), VX6_ERR_EXISTS
 * (address in use), VX6_ERR_UNREACHABLE (not a local address), VX6_ERR_PERM,
 * VX6_ERR_NOMEM, VX6_ERR_IO. */
struct vx6_os_udp *vx6_os_udp_open(const struct vx6_addr *a, int *err);
/* Closes the descriptor and frees s (NULL is a no-op). The caller must have
 * stopped polling the descriptor first. */
void vx6_os_udp_close(struct vx6_os_udp *s);
/* The descriptor, to poll for readability (owned by s: never close it). */
int vx6_os_udp_fd(const struct vx6_os_udp *s);
/* The bound address (the real port; [::] or 0.0.0.0 stays unspecified). */
void vx6_os_udp_bound(const struct vx6_os_udp *s, struct vx6_addr *out);
void vx6_os_udp_info(const struct vx6_os_udp *s, struct vx6_os_udp_info *out);
/* For tests: stops using GSO and/or recvmmsg/sendmmsg on s (never turns
 * them on), to exercise the portable paths on Linux. */
void vx6_os_udp_disable(struct vx6_os_udp *s, bool gso, bool mmsg);

/* Receives up to max (<= VX6_OS_UDP_BATCH) waiting datagrams without
 * blocking: datagram i of the batch is read into buf + i * slot (buf is
 * borrowed and holds max * slot bytes), and out[] gets one entry per datagram
 * kept, in arrival order, with data pointing into buf (valid until the next
 * call with buf). A datagram longer than slot is dropped (rx_truncated),
 * never delivered cut. With UDP GRO (Linux >= 5.0) the kernel returns runs
 * of same-size datagrams of one flow as one buffer: they are received into
 * the socket's own buffer (up to 64 runs of up to 64 KiB; buf is then unused) and
 * split back into one entry each; what does not fit out[] is handed out by
 * the next call (with *more set), never dropped. Allocates nothing. *more is
 * set when more may be waiting. Returns the number of entries written to out
 * (0: none waiting), or VX6_ERR_IO for a socket error when nothing was
 * received (it is consumed: the next call goes on). */
int vx6_os_udp_recv(struct vx6_os_udp *s, uint8_t *buf, size_t slot, struct vx6_os_dgram *out,
    size_t max, bool *more);
/* Whether datagrams of the last receive are still held by s (handed out by
 * the next vx6_os_udp_recv without reading the socket, so polling the
 * descriptor would not report them). */
bool vx6_os_udp_buffered(const struct vx6_os_udp *s);
/* Sends count (<= VX6_OS_UDP_BATCH) datagrams, in order. Consecutive
 * datagrams to the same remote from the same local with the same ECN and
 * equal lengths (the last may be shorter) leave in one GSO send where the
 * kernel has UDP_SEGMENT; the sends go out in one sendmmsg where there is
 * one. Allocates nothing; data is borrowed for the call.
 * Returns k >= 0: d[0..k) were accepted by the kernel and d[k..count) were
 * not sent. A full socket buffer (EAGAIN/ENOBUFS) ends the batch without an
 * error (counted in tx_full). Any other failure of d[k] ends it too and is
 * returned as a negative vx6_err when k == 0 (as sendmmsg does, an error
 * after some datagrams went out gives their count; it comes back when d[k] is
 * sent again): VX6_ERR_INVAL (a family the socket cannot send to, a source
 * address that is not local, count too large), VX6_ERR_TOO_LARGE (longer
 * than VX6_OS_UDP_MAX_PAYLOAD or the interface MTU), VX6_ERR_UNREACHABLE
 * (no route), VX6_ERR_PERM (a firewall refused it), VX6_ERR_IO. */
int vx6_os_udp_send(struct vx6_os_udp *s, const struct vx6_os_dgram *d, size_t count);

#endif
