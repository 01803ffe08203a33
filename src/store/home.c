#include "store/home.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "os/os.h"

static int
join(char *out, const char *dir, const char *file)
{
	int n = snprintf(out, VX6_PATH_MAX, "%s/%s", dir, file);

	return n > 0 && n < VX6_PATH_MAX ? 0 : VX6_ERR_TOO_LARGE;
}

int
vx6_home_resolve(struct vx6_home *h, const char *arg, char *err, size_t errlen)
{
	const char *env = getenv("VX6_HOME");
	char raw[VX6_PATH_MAX], cwd[VX6_PATH_MAX];
	int rc = 0;

	memset(h, 0, sizeof(*h));
	if (arg && *arg)
		snprintf(raw, sizeof(raw), "%s", arg);
	else if (env && *env)
		snprintf(raw, sizeof(raw), "%s", env);
	else if (vx6_os_default_home(raw, sizeof(raw)) != 0) {
		snprintf(err, errlen, "cannot find a home directory: pass --home DIR or set VX6_HOME");
		return VX6_ERR_NOT_FOUND;
	}
	if (raw[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL ||
		    snprintf(h->dir, sizeof(h->dir), "%s/%s", cwd, raw) >= (int)sizeof(h->dir)) {
			snprintf(err, errlen, "home path is too long");
			return VX6_ERR_TOO_LARGE;
		}
	} else {
		snprintf(h->dir, sizeof(h->dir), "%s", raw);
	}
	/* Trailing slashes make ugly paths. */
	for (size_t n = strlen(h->dir); n > 1 && h->dir[n - 1] == '/'; n--)
		h->dir[n - 1] = '\0';
	rc |= join(h->identity, h->dir, "identity.key");
	rc |= join(h->config, h->dir, "config.ini");
	rc |= join(h->services, h->dir, "services.ini");
	rc |= join(h->known_peers, h->dir, "known_peers");
	rc |= join(h->control, h->dir, "control.sock");
	rc |= join(h->lock, h->dir, "node.lock");
	rc |= join(h->services_lock, h->dir, "services.lock");
	rc |= join(h->registry, h->dir, "registry.db");
	rc |= join(h->peers, h->dir, "peers");
	if (rc) {
		snprintf(err, errlen, "home path is too long");
		return VX6_ERR_TOO_LARGE;
	}
	if (strlen(h->control) > vx6_os_unix_path_max()) {
		snprintf(err, errlen, "home path is too long for a control socket (%zu bytes max): "
		    "choose a shorter --home", vx6_os_unix_path_max() - strlen("/control.sock"));
		return VX6_ERR_TOO_LARGE;
	}
	return 0;
}
