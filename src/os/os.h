/*
 * os — every operating-system specific call VX6 makes outside libuv, in one
 * place (POSIX here; a Windows port replaces os_posix.c): files with modes
 * and atomic replacement, the home-directory lock, the control-socket client
 * used by the CLI, peer credentials, and the stderr log sink.
 */
#ifndef VX6_OS_OS_H
#define VX6_OS_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
