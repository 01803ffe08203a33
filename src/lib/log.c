#include "lib/log.h"

#include <stdio.h>
#include <string.h>

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
vx6_log_emit(const struct vx6_log *log, enum vx6_log_level level, const char *module,
    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (log == NULL || log->sink == NULL || level > log->level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log->sink(log->ud, level, module, msg);
}

int
vx6_log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcmp(s, "warning") == 0)
		return VX6_LOG_WARN;
	return -1;
}

const char *
vx6_log_level_name(enum vx6_log_level level)
{
	if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
		return level_names[level];
	return "?";
}
