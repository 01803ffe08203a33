/*
 * uv_io — the libuv implementation of io/io.h: real TCP sockets, the
 * control socket (a Unix socket checked for the caller's uid), UDP sockets
 * (os_udp, polled), and the node timer, on one uv loop. The node timer is a
 * uv timer for whole milliseconds, the os layer's high-resolution timer
 * (polled) for a wake-up under a millisecond, and an idle handle for one
 * already due (never a 0 ms uv timer: libuv 1.44 would re-run it in the
 * same turn without polling). The adapter owns every uv handle; a handle's
 * memory is freed only in its close callback.
 */
#ifndef VX6_IO_UV_IO_H
#define VX6_IO_UV_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "io/io.h"
#include "node/node.h"

struct vx6_uv;

/* loop is borrowed. Returns NULL on OOM. */
struct vx6_uv *vx6_uv_new(uv_loop_t *loop);
const struct vx6_io_ops *vx6_uv_ops(void);
/* The node to deliver events to (borrowed). */
void vx6_uv_set_node(struct vx6_uv *u, struct vx6_node *node);
/* Opens the control socket at path (mode 0600) as VX6_NODE_CTL_LISTENER. */
int vx6_uv_listen_ctl(struct vx6_uv *u, const char *path, char *err, size_t errlen);
/* Called after each close callback (to notice when the node went idle). */
void vx6_uv_on_idle_check(struct vx6_uv *u, void (*fn)(void *), void *ud);
/* Closes every handle the adapter owns, without telling the node; run the
 * loop until it drains, then vx6_uv_free(). */
void vx6_uv_close(struct vx6_uv *u);
void vx6_uv_free(struct vx6_uv *u);
/* Translates a libuv error into a vx6_err. */
int vx6_uv_err(int uverr);

#endif
