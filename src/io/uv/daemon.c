#include "io/uv/daemon.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "io/uv/uv_io.h"
#include "lib/err.h"
#include "os/os.h"
#include "store/config.h"
#include "store/keyfile.h"
#include "store/pins.h"
#include "registry/registry.h"

#define FORCE_STOP_MS 5000

struct daemon {
	const struct vx6_daemon_opts *opts;
	uv_loop_t loop;
	struct vx6_uv *uv;
	struct vx6_node *node;
	struct vx6_node_host host;
	struct vx6_log log;
	struct vx6_env env;
	struct vx6_registry *reg;
	uv_signal_t sig_int, sig_term, sig_hup;
	uv_timer_t force;
	uv_poll_t addr_poll;
	int addr_fd;
	bool stopping;
	bool stopped;
};

static int
host_reload(void *ud, char *err, size_t errlen)
{
	struct daemon *d = ud;
	struct vx6_node_config *cfg = malloc(sizeof(*cfg));
	int rc;

	if (cfg == NULL) {
		snprintf(err, errlen, "out of memory");
		return VX6_ERR_NOMEM;
	}
	rc = vx6_config_load_home(d->opts->home->config, d->opts->home->services, d->opts->home->peers,
	    cfg, err, errlen);
	if (rc == 0)
		rc = vx6_node_apply_config(d->node, cfg, err, errlen);
	if (rc == 0 && d->opts->log_level < 0)
		d->log.level = (enum vx6_log_level)cfg->log_level;
	if (rc)
		vx6_log_error(&d->log, "daemon", "reload failed, keeping the running configuration: %s", err);
	free(cfg);
	return rc;
}

static void
host_save_pin(void *ud, const char *addr, const uint8_t key[VX6_KEY_LEN])
{
	struct daemon *d = ud;

	if (vx6_pins_append(d->opts->home->known_peers, addr, key) != 0)
		vx6_log_error(&d->log, "daemon", "cannot record the pin for %s in %s", addr,
		    d->opts->home->known_peers);
}

static void
add_pin(void *ud, const char *addr, const uint8_t key[VX6_KEY_LEN])
{
	vx6_node_add_pin(ud, addr, key);
}

static void
close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void
finish(struct daemon *d)
{
	if (d->stopped)
		return;
	d->stopped = true;
	uv_stop(&d->loop);
}

static void
idle_check(void *ud)
{
	struct daemon *d = ud;

	if (d->stopping && vx6_node_idle(d->node))
		finish(d);
}

static void
force_stop(uv_timer_t *t)
{
	struct daemon *d = t->data;

	vx6_log_warn(&d->log, "daemon", "connections did not close in time; stopping anyway");
	finish(d);
}

static void
on_addr_change(uv_poll_t *p, int status, int events)
{
	struct daemon *d = p->data;

	(void)status;
	(void)events;
	vx6_os_addr_watch_drain(d->addr_fd);
	if (!d->stopping)
		vx6_node_addresses_changed(d->node);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;
	char err[400];

	if (signum == SIGHUP) {
		vx6_log_info(&d->log, "daemon", "SIGHUP: reloading the configuration");
		(void)host_reload(d, err, sizeof(err));
		return;
	}
	if (d->stopping) {
		finish(d);   /* second signal: do not wait */
		return;
	}
	d->stopping = true;
	vx6_log_info(&d->log, "daemon", "%s: stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
	vx6_node_shutdown(d->node);
	uv_timer_start(&d->force, force_stop, FORCE_STOP_MS, 0);
	idle_check(d);
}

int
vx6_daemon_run(const struct vx6_daemon_opts *opts)
{
	const struct vx6_home *home = opts->home;
	struct daemon d;
	struct vx6_identity id;
	struct vx6_node_config *cfg = NULL;
	char err[512], nid[VX6_NODE_ID_HEX_LEN], key[VX6_KEY_TEXT_LEN];
	int lock, rc, code = 1, bad_pins;

	memset(&d, 0, sizeof(d));
	d.opts = opts;
	d.addr_fd = -1;
	d.log.level = VX6_LOG_INFO;
	d.log.sink = vx6_os_log_stderr;
	d.env.random = vx6_env_sodium_random;
	d.env.log = &d.log;
	signal(SIGPIPE, SIG_IGN);
	vx6_os_tune_allocator();

	lock = vx6_os_lock(home->lock);
	if (lock == VX6_ERR_BUSY) {
		fprintf(stderr, "vx6: another node is already running with home %s\n", home->dir);
		return 6;
	}
	if (lock < 0) {
		fprintf(stderr, "vx6: cannot lock %s: is the home directory writable?\n", home->lock);
		return 1;
	}
	if (vx6_keyfile_load(home->identity, &id, err, sizeof(err)) != 0) {
		fprintf(stderr, "vx6: %s\n", err);
		vx6_os_unlock(lock);
		return 1;
	}
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL || vx6_config_load_home(home->config, home->services, home->peers, cfg, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "vx6: %s\n", cfg ? err : "out of memory");
		code = 5;
		goto out;
	}
	d.log.level = opts->log_level >= 0 ? (enum vx6_log_level)opts->log_level :
	    (enum vx6_log_level)cfg->log_level;

	uv_loop_init(&d.loop);
	d.uv = vx6_uv_new(&d.loop);
	d.host.io = vx6_uv_ops();
	d.host.io_ud = d.uv;
	d.host.reload = host_reload;
	d.host.save_pin = host_save_pin;
	d.host.ud = &d;
	{
		bool rebuilt = false;
		char note[1200];
		if (vx6_registry_open(home->registry, NULL, &d.reg, &rebuilt, note, sizeof(note)) != 0)
			vx6_log_warn(&d.log, "daemon", "%s; running without a local registry", note);
		else if (rebuilt)
			vx6_log_warn(&d.log, "daemon", "%s", note);
		d.host.registry = d.reg;
	}
	d.node = vx6_node_new(&id, cfg, &d.host, &d.env);
	if (d.uv == NULL || d.node == NULL) {
		fprintf(stderr, "vx6: cannot start the node (invalid configuration or out of memory)\n");
		code = 5;
		goto out_loop;
	}
	vx6_uv_set_node(d.uv, d.node);
	vx6_uv_on_idle_check(d.uv, idle_check, &d);
	bad_pins = vx6_pins_load(home->known_peers, add_pin, d.node);
	if (bad_pins > 0)
		vx6_log_warn(&d.log, "daemon", "%s: skipped %d invalid line(s)", home->known_peers, bad_pins);
	rc = vx6_uv_listen_ctl(d.uv, home->control, err, sizeof(err));
	if (rc == 0)
		rc = vx6_node_start(d.node, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vx6: %s\n", err);
		goto out_loop;
	}
	uv_signal_init(&d.loop, &d.sig_int);
	uv_signal_init(&d.loop, &d.sig_term);
	uv_signal_init(&d.loop, &d.sig_hup);
	d.sig_int.data = d.sig_term.data = d.sig_hup.data = &d;
	uv_signal_start(&d.sig_int, on_signal, SIGINT);
	uv_signal_start(&d.sig_term, on_signal, SIGTERM);
	uv_signal_start(&d.sig_hup, on_signal, SIGHUP);
	uv_timer_init(&d.loop, &d.force);
	d.force.data = &d;
	d.addr_fd = vx6_os_addr_watch_open();
	if (d.addr_fd >= 0 && uv_poll_init(&d.loop, &d.addr_poll, d.addr_fd) == 0) {
		d.addr_poll.data = &d;
		uv_poll_start(&d.addr_poll, UV_READABLE, on_addr_change);
	}

	vx6_node_id_to_hex(id.node_id, nid);
	vx6_key_to_text(id.pk, key);
	vx6_log_info(&d.log, "daemon", "node %s running (node id %.16s…, key %s); control socket %s",
	    cfg->name, nid, key, home->control);
	uv_run(&d.loop, UV_RUN_DEFAULT);
	code = 0;

out_loop:
	/* Close every handle left (listeners, timers, signals), then drain. */
	if (d.uv)
		vx6_uv_close(d.uv);
	uv_walk(&d.loop, close_walk, NULL);
	uv_run(&d.loop, UV_RUN_DEFAULT);
	uv_loop_close(&d.loop);
	vx6_os_addr_watch_close(d.addr_fd);
	vx6_node_free(d.node);
	vx6_registry_close(d.reg);
	vx6_uv_free(d.uv);
	(void)vx6_os_unlink(home->control);
	if (code == 0)
		vx6_log_info(&d.log, "daemon", "stopped");
out:
	free(cfg);
	vx6_identity_wipe(&id);
	vx6_os_unlock(lock);
	return code;
}
