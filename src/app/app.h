/*
 * app — the `vx6` command line: main() and the subcommand table, plus
 * helpers every subcommand shares (control-socket calls, output).
 *
 * Exit codes (docs in README): 0 ok, 1 error, 2 usage, 3 no node running,
 * 4 refused by the peer (key mismatch, unknown service...), 5 bad
 * configuration, 6 busy (another node holds the home, identity exists).
 */
#ifndef VX6_APP_APP_H
#define VX6_APP_APP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "os/os.h"
#include "store/home.h"

enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_USAGE = 2,
	EXIT_NOT_RUNNING = 3,
	EXIT_REFUSED = 4,
	EXIT_CONFIG = 5,
	EXIT_BUSY = 6,
};

struct app {
	const char *home_arg;        /* --home, or NULL */
	struct vx6_home home;
	bool home_ok;
};

struct app_cmd {
	const char *name;
	const char *summary;
	int (*run)(struct app *a, int argc, char **argv);
};

/* Resolves the home (prints the error). Returns EXIT_OK or an exit code. */
int app_home(struct app *a);

/* A connection to the running node's control socket. */
struct app_ctl {
	struct vx6_os_ctl *c;
	int64_t next_id;
};
/* Returns EXIT_OK, or EXIT_NOT_RUNNING after saying so (unless quiet). */
int app_ctl_open(struct app *a, struct app_ctl *ctl, bool quiet);
void app_ctl_close(struct app_ctl *ctl);
typedef void app_event_fn(void *ud, json_t *event);
/* Sends cmd with args (stolen) and waits for its reply; events that arrive
 * meanwhile go to on_event. On success *result holds the reply's result
 * (caller decrefs). On a refusal, prints "vx6: message" and returns
 * EXIT_REFUSED or EXIT_ERROR (code in errcode when not NULL). */
int app_ctl_call(struct app_ctl *ctl, const char *cmd, json_t *args, json_t **result,
    app_event_fn *on_event, void *ud, char *errcode, size_t errcodelen);
/* Waits for events until interrupted or the node goes away. Returns 0 when
 * interrupted, EXIT_ERROR when the node closed the connection. */
int app_ctl_wait_events(struct app_ctl *ctl, app_event_fn *on_event, void *ud,
    volatile int *interrupted);

/* Output helpers. */
void app_print_json(json_t *v);                 /* pretty, to stdout */
const char *app_bytes(uint64_t n, char *buf, size_t len);
const char *app_duration(double seconds, char *buf, size_t len);
int app_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool app_is_help(int argc, char **argv);

int cmd_init(struct app *a, int argc, char **argv);
int cmd_node(struct app *a, int argc, char **argv);
int cmd_identity(struct app *a, int argc, char **argv);
int cmd_service(struct app *a, int argc, char **argv);
int cmd_connect(struct app *a, int argc, char **argv);
int cmd_status(struct app *a, int argc, char **argv);
int cmd_reload(struct app *a, int argc, char **argv);
int cmd_resolve(struct app *a, int argc, char **argv);
int cmd_list(struct app *a, int argc, char **argv);
int cmd_peer(struct app *a, int argc, char **argv);
int cmd_dht(struct app *a, int argc, char **argv);

#endif
