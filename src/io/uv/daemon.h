/*
 * daemon — runs a node in the foreground on a libuv loop: takes the home's
 * lock, loads identity, configuration and pins, opens the control socket,
 * reloads on SIGHUP (and `vx6 reload`), stops cleanly on SIGINT/SIGTERM.
 */
#ifndef VX6_IO_UV_DAEMON_H
#define VX6_IO_UV_DAEMON_H

#include "store/home.h"

struct vx6_daemon_opts {
	const struct vx6_home *home;
	int log_level;            /* -1: from config.ini */
};

/* Returns a process exit code (see docs: 0 clean stop, 1 error, 5 config,
 * 6 another node holds the home). */
int vx6_daemon_run(const struct vx6_daemon_opts *opts);

#endif
