/*
 * home — a node's home directory and the files in it:
 *   identity.key   Ed25519 seed (0600)       config.ini    node settings
 *   services.ini   published services        known_peers   TOFU pins
 *   control.sock   control socket (0600)     node.lock     one node per home
 *   registry.db    the local registry        peers         bootstrap peers added by the CLI
 * The directory itself is 0700. Plain values; no ownership.
 */
#ifndef VX6_STORE_HOME_H
#define VX6_STORE_HOME_H

#include <stddef.h>

#define VX6_PATH_MAX 1024

struct vx6_home {
	char dir[VX6_PATH_MAX];
	char identity[VX6_PATH_MAX];
	char config[VX6_PATH_MAX];
	char services[VX6_PATH_MAX];
	char known_peers[VX6_PATH_MAX];
	char control[VX6_PATH_MAX];
	char lock[VX6_PATH_MAX];
	char services_lock[VX6_PATH_MAX];
	char registry[VX6_PATH_MAX];
	char peers[VX6_PATH_MAX];
};

/* Resolves the home from --home (arg), else $VX6_HOME, else the XDG default,
 * and fills in every path. Relative paths are made absolute. */
int vx6_home_resolve(struct vx6_home *h, const char *arg, char *err, size_t errlen);

#endif
