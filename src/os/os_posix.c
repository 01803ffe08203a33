#define _GNU_SOURCE 1   /* SO_PEERCRED / struct ucred */
#include "os/os.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/timerfd.h>
#endif

#include "lib/err.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif

int
vx6_os_read_file(const char *path, size_t max, char **out, size_t *len)
{
	return vx6_os_read_file_mode(path, max, out, len, NULL);
}

int
vx6_os_read_file_mode(const char *path, size_t max, char **out, size_t *len, int *mode)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t off = 0;
	ssize_t n;

	*out = NULL;
	if (fd < 0)
		return errno == ENOENT ? VX6_ERR_NOT_FOUND : VX6_ERR_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return VX6_ERR_IO;
	}
	if (mode)
		*mode = (int)(st.st_mode & 07777);
	if ((size_t)st.st_size > max) {
		close(fd);
		return VX6_ERR_TOO_LARGE;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return VX6_ERR_NOMEM;
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	*out = buf;
	if (len)
		*len = off;
	return 0;
}

int
vx6_os_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[4096];
	const char *p = data;
	int fd;
	ssize_t n;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return VX6_ERR_TOO_LARGE;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return VX6_ERR_IO;
	(void)fchmod(fd, mode);   /* the umask must not loosen nor tighten it */
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			unlink(tmp);
			return VX6_ERR_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return VX6_ERR_IO;
	}
	return 0;
}

int
vx6_os_append_line(const char *path, const char *line, unsigned mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode);
	size_t len = strlen(line);
	int rc = 0;

	if (fd < 0)
		return VX6_ERR_IO;
	if (write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0)
		rc = VX6_ERR_IO;
	close(fd);
	return rc;
}

bool
vx6_os_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

int
vx6_os_file_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return -1;
	return (int)(st.st_mode & 07777);
}

int
vx6_os_mkdir_p(const char *path, unsigned mode)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return VX6_ERR_INVAL;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return VX6_ERR_IO;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return VX6_ERR_IO;
	return 0;
}

int
vx6_os_unlink(const char *path)
{
	return unlink(path) == 0 || errno == ENOENT ? 0 : VX6_ERR_IO;
}

int
vx6_os_chmod(const char *path, unsigned mode)
{
	return chmod(path, (mode_t)mode) == 0 ? 0 : VX6_ERR_IO;
}

unsigned
vx6_os_umask(unsigned mask)
{
	return (unsigned)umask((mode_t)mask);
}

int
vx6_os_lock(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return VX6_ERR_IO;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int busy = errno == EWOULDBLOCK;
		close(fd);
		return busy ? VX6_ERR_BUSY : VX6_ERR_IO;
	}
	return fd;
}

void
vx6_os_unlock(int handle)
{
	if (handle >= 0)
		close(handle);
}

int
vx6_os_default_home(char *out, size_t outlen)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	int n;

	if (xdg && *xdg)
		n = snprintf(out, outlen, "%s/vx6", xdg);
	else if (home && *home)
		n = snprintf(out, outlen, "%s/.config/vx6", home);
	else
		return VX6_ERR_NOT_FOUND;
	return n > 0 && (size_t)n < outlen ? 0 : VX6_ERR_TOO_LARGE;
}

size_t
vx6_os_unix_path_max(void)
{
	struct sockaddr_un sun;

	return sizeof(sun.sun_path) - 1;
}

struct vx6_os_ctl {
	int fd;
	size_t len;
	char buf[65536 + 2];
};

struct vx6_os_ctl *
vx6_os_ctl_connect(const char *path, int *err)
{
	struct sockaddr_un sun;
	struct vx6_os_ctl *c;
	int fd;

	if (strlen(path) > vx6_os_unix_path_max()) {
		*err = VX6_ERR_TOO_LARGE;
		return NULL;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = VX6_ERR_IO;
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;
		close(fd);
		*err = (e == ENOENT || e == ECONNREFUSED) ? VX6_ERR_NOT_FOUND :
		    e == EACCES ? VX6_ERR_PERM : VX6_ERR_IO;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		*err = VX6_ERR_NOMEM;
		return NULL;
	}
	c->fd = fd;
	return c;
}

int
vx6_os_ctl_send(struct vx6_os_ctl *c, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return VX6_ERR_CLOSED;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int
vx6_os_ctl_read_line(struct vx6_os_ctl *c, char **line, int timeout_ms, volatile int *interrupted)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int waited = 0, step, rc;
	ssize_t n;
	char *nl;

	*line = NULL;
	for (;;) {
		nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			size_t l = (size_t)(nl - c->buf);
			*line = malloc(l + 1);
			if (*line == NULL)
				return VX6_ERR_NOMEM;
			memcpy(*line, c->buf, l);
			(*line)[l] = '\0';
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return 0;
		}
		if (c->len >= sizeof(c->buf) - 1)
			return VX6_ERR_TOO_LARGE;
		step = 100;
		if (timeout_ms >= 0 && timeout_ms - waited < step)
			step = timeout_ms - waited;
		if (timeout_ms >= 0 && step <= 0)
			return VX6_ERR_TIMEOUT;
		rc = poll(&pfd, 1, step);
		if (rc < 0 && errno != EINTR)
			return VX6_ERR_IO;
		if (interrupted && *interrupted)
			return VX6_ERR_TIMEOUT;
		if (rc <= 0) {
			waited += step;
			continue;
		}
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return VX6_ERR_CLOSED;
		c->len += (size_t)n;
	}
}

void
vx6_os_ctl_close(struct vx6_os_ctl *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c);
}

bool
vx6_os_peer_is_same_user(int fd)
{
#ifdef SO_PEERCRED
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return false;
	return cred.uid == getuid() || cred.uid == 0;
#else
	(void)fd;
	return true;   /* the socket's 0600 mode is the guard here */
#endif
}

void
vx6_os_log_stderr(void *ud, enum vx6_log_level level, const char *module, const char *msg)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	(void)ud;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %-5s %s: %s\n", when, ts.tv_nsec / 1000000L,
	    vx6_log_level_name(level), module, msg);
}

int
vx6_os_addr_watch_open(void)
{
#ifdef __linux__
	struct sockaddr_nl sa;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
#else
	return -1;
#endif
}

void
vx6_os_addr_watch_drain(int fd)
{
	char buf[8192];

	/* The content does not matter: any change triggers a full re-read. */
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

void
vx6_os_addr_watch_close(int fd)
{
	if (fd >= 0)
		close(fd);
}

int
vx6_os_hrtimer_open(void)
{
#ifdef __linux__
	return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
#else
	return -1;
#endif
}

int
vx6_os_hrtimer_arm(int fd, uint64_t deadline_ns)
{
#ifdef __linux__
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	/* 0 would disarm it: a deadline at the epoch of the clock is "now". */
	if (deadline_ns == 0)
		deadline_ns = 1;
	its.it_value.tv_sec = (time_t)(deadline_ns / 1000000000ULL);
	its.it_value.tv_nsec = (long)(deadline_ns % 1000000000ULL);
	return timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) == 0 ? 0 : VX6_ERR_IO;
#else
	(void)fd;
	(void)deadline_ns;
	return VX6_ERR_IO;
#endif
}

void
vx6_os_hrtimer_drain(int fd)
{
	uint64_t expirations;

	while (read(fd, &expirations, sizeof(expirations)) > 0)
		;
}

void
vx6_os_hrtimer_close(int fd)
{
	if (fd >= 0)
		close(fd);
}

long
vx6_os_spawn_self(char *const argv[])
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	pid_t pid;

	if (n <= 0)
		return VX6_ERR_IO;
	self[n] = '\0';
	pid = fork();
	if (pid < 0)
		return VX6_ERR_IO;
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(self, argv);
		_exit(127);
	}
	return (long)pid;
}

void
vx6_os_stop_child(long handle, int timeout_ms)
{
	pid_t pid = (pid_t)handle;
	int status;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int waited = 0; waited < timeout_ms; waited += 50) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return;
		vx6_os_sleep_ms(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

void
vx6_os_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void
vx6_os_tune_allocator(void)
{
#ifdef __GLIBC__
	mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
#endif
}

int64_t
vx6_os_wall_time(void)
{
	return (int64_t)time(NULL);
}
