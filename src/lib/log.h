/*
 * log — leveled logging through an injected sink.
 *
 * Cores never print: they log through the struct vx6_log they were given, so
 * the daemon can send lines to stderr and the simulator can capture or drop
 * them. Messages are one line, formatted printf-style.
 */
#ifndef VX6_LIB_LOG_H
#define VX6_LIB_LOG_H

#include <stdarg.h>

enum vx6_log_level {
	VX6_LOG_ERROR = 0,
	VX6_LOG_WARN = 1,
	VX6_LOG_INFO = 2,
	VX6_LOG_DEBUG = 3,
};

typedef void vx6_log_sink_fn(void *ud, enum vx6_log_level level, const char *module, const char *msg);

struct vx6_log {
	enum vx6_log_level level;   /* messages above this level are dropped */
	vx6_log_sink_fn *sink;      /* NULL drops everything */
	void *ud;
};

void vx6_log_emit(const struct vx6_log *log, enum vx6_log_level level, const char *module,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Parses "error", "warn", "info", "debug"; returns -1 when unknown. */
int vx6_log_level_parse(const char *s);
const char *vx6_log_level_name(enum vx6_log_level level);

#define vx6_log_error(log, mod, ...) vx6_log_emit((log), VX6_LOG_ERROR, (mod), __VA_ARGS__)
#define vx6_log_warn(log, mod, ...) vx6_log_emit((log), VX6_LOG_WARN, (mod), __VA_ARGS__)
#define vx6_log_info(log, mod, ...) vx6_log_emit((log), VX6_LOG_INFO, (mod), __VA_ARGS__)
#define vx6_log_debug(log, mod, ...) vx6_log_emit((log), VX6_LOG_DEBUG, (mod), __VA_ARGS__)

#endif
