#include "store/pins.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"
#include "os/os.h"

int
vx6_pins_parse(const char *text, vx6_pin_fn *fn, void *ud)
{
	const char *line = text;
	int invalid = 0;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		char buf[256], addrtext[VX6_ADDR_STRLEN], keytext[VX6_KEY_TEXT_LEN + 1];
		struct vx6_addr a;
		uint8_t key[VX6_KEY_LEN];

		if (n > 0 && line[0] != '#') {
			if (n >= sizeof(buf)) {
				invalid++;
			} else {
				memcpy(buf, line, n);
				buf[n] = '\0';
				char rest[8] = "";
				int fields = sscanf(buf, "%63s %44s %7s", addrtext, keytext, rest);
				/* ADDR KEY, optionally followed by a # comment. */
				if (fields < 2 || (fields == 3 && rest[0] != '#') ||
				    vx6_addr_parse(&a, addrtext, false) != 0 ||
				    vx6_key_from_text(key, keytext) != 0) {
					invalid++;
				} else {
					vx6_addr_format(&a, addrtext, sizeof(addrtext), false);
					fn(ud, addrtext, key);
				}
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return invalid;
}

int
vx6_pins_load(const char *path, vx6_pin_fn *fn, void *ud)
{
	char *text = NULL;
	int rc = vx6_os_read_file(path, 4 * 1024 * 1024, &text, NULL);

	if (rc == VX6_ERR_NOT_FOUND)
		return 0;
	if (rc)
		return rc;
	rc = vx6_pins_parse(text, fn, ud);
	free(text);
	return rc;
}

int
vx6_pins_append(const char *path, const char *addr, const uint8_t key[VX6_KEY_LEN])
{
	char keytext[VX6_KEY_TEXT_LEN], line[256], when[32];
	time_t now = time(NULL);
	struct tm tm;

	vx6_key_to_text(key, keytext);
	{
		/* A hand edit may have left no final newline: never glue lines. */
		char *old = NULL;
		size_t oldlen = 0;
		if (vx6_os_read_file(path, 4 * 1024 * 1024, &old, &oldlen) == 0 && oldlen > 0 &&
		    old[oldlen - 1] != '\n')
			(void)vx6_os_append_line(path, "", 0600);
		free(old);
	}
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(line, sizeof(line), "%s %s # first seen %s", addr, keytext, when);
	return vx6_os_append_line(path, line, 0600);
}
