/*
 * io — what the node asks of the world, as a table of operations.
 *
 * The node (src/node) is a state machine: it never touches a socket, a clock
 * or a file. It names connections by uint64 ids it allocates, and calls these
 * operations; the I/O layer (src/io/uv for real sockets, src/io/sim for the
 * simulated network) performs them and reports back through the vx6_node_*
 * entry points in node/node.h. Rules both sides keep:
 *   - an id is valid from listen()/dial()/accept until vx6_node_closed(id);
 *   - write() takes the chunks (freed by the I/O layer after writing) and
 *     reports completion with vx6_node_wrote(); writes complete in order;
 *   - close() is asynchronous: pending writes are flushed unless reset is set,
 *     then vx6_node_closed() is called once; no other event follows it;
 *   - an operation that returns an error never calls back for that request.
 * UDP sockets (QUIC) carry datagrams, not a byte stream: udp_open() binds
 * one and starts delivering what arrives through vx6_node_datagrams();
 * udp_send() sends a batch and never calls back (datagrams may be lost;
 * a full socket buffer drops them, which QUIC's loss recovery handles).
 */
#ifndef VX6_IO_IO_H
#define VX6_IO_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/addr.h"
#include "lib/chunk.h"

enum vx6_sock_kind {
	VX6_SOCK_PEER = 1,     /* node-to-node transport */
	VX6_SOCK_APP = 2,      /* a local application (forward listener / service target) */
	VX6_SOCK_CTL = 3,      /* the control socket */
	VX6_SOCK_UDP = 4,      /* node-to-node datagrams (QUIC) */
};

/* One datagram, in either direction. data is borrowed for the call. */
struct vx6_dgram {
	struct vx6_addr local;     /* received on / send from (unspecified: any) */
	struct vx6_addr remote;
	const uint8_t *data;
	size_t len;
	uint8_t ecn;               /* IP ECN bits seen / to set (0 = not-ECT) */
};

#define VX6_UDP_BATCH 64        /* datagrams per udp_send / delivery, at most */

struct vx6_io_ops {
	/* Monotonic time in nanoseconds. */
	uint64_t (*now)(void *io);
	/* Arms the single node timer (replacing any earlier one); VX6_TIME_NEVER disarms. */
	void (*set_timer)(void *io, uint64_t when);
	/* Listens on a (TCP); writes the bound address (real port) to bound. */
	int (*listen)(void *io, uint64_t id, enum vx6_sock_kind kind, const struct vx6_addr *a,
	    struct vx6_addr *bound);
	/* Starts a TCP connection; completion via vx6_node_connected(). */
	int (*dial)(void *io, uint64_t id, enum vx6_sock_kind kind, const struct vx6_addr *a);
	/* Queues every chunk of q for writing (takes them; q is left empty). */
	int (*write)(void *io, uint64_t id, struct vx6_chunkq *q);
	/* Starts or stops delivering reads for id (new connections start stopped). */
	void (*read)(void *io, uint64_t id, bool on);
	/* Sends FIN after pending writes. */
	void (*shutdown)(void *io, uint64_t id);
	/* Closes id: flushes pending writes first unless reset (then RST). */
	void (*close)(void *io, uint64_t id, bool reset);
	/* Bytes queued for writing on id and not yet written. */
	size_t (*write_queue)(void *io, uint64_t id);
	/* Wall-clock time, unix seconds (records carry it). */
	uint64_t (*wall_now)(void *io);
	/* This host's unicast addresses (loopback and link-local excluded), up
	 * to max; returns the count. Used to build and refresh the node record. */
	size_t (*local_addrs)(void *io, struct vx6_addr *out, size_t max);
	/* The local address a connected TCP socket uses; 0 or an error (may be
	 * NULL: the node then treats every connection's address as unknown). */
	int (*conn_local_addr)(void *io, uint64_t id, struct vx6_addr *out);
	/* Binds a UDP socket on a (port 0 picks one), large buffers, and starts
	 * delivering datagrams; writes the bound address. Closed with close(). */
	int (*udp_open)(void *io, uint64_t id, const struct vx6_addr *a, struct vx6_addr *bound);
	/* Sends count (<= VX6_UDP_BATCH) datagrams from socket id (batched by
	 * the OS where it can). Returns how many were accepted (the rest are
	 * dropped: the socket buffer is full) or a negative vx6_err. */
	int (*udp_send)(void *io, uint64_t id, const struct vx6_dgram *d, size_t count);
};

#endif
