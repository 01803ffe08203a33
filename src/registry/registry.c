#include "registry/registry.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

#define SCHEMA_VERSION 1

struct vx6_registry {
	sqlite3 *db;
	struct vx6_registry_limits lim;
	uint64_t hits, misses;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER);"
    "CREATE TABLE IF NOT EXISTS nodes(node_id BLOB PRIMARY KEY, key BLOB NOT NULL,"
    "  name TEXT NOT NULL, seq INTEGER NOT NULL, expires INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL, record BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS nodes_name ON nodes(name);"
    "CREATE TABLE IF NOT EXISTS services(node TEXT NOT NULL, service TEXT NOT NULL,"
    "  signer BLOB NOT NULL, seq INTEGER NOT NULL, expires INTEGER NOT NULL,"
    "  visibility INTEGER NOT NULL, last_seen INTEGER NOT NULL, record BLOB NOT NULL,"
    "  PRIMARY KEY(node, service, signer));"
    "CREATE TABLE IF NOT EXISTS pins(name TEXT PRIMARY KEY, key BLOB NOT NULL,"
    "  first_seen INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS claims(name TEXT NOT NULL, key BLOB NOT NULL,"
    "  first_seen INTEGER NOT NULL, PRIMARY KEY(name, key));"
    "CREATE TABLE IF NOT EXISTS peers(node_id BLOB PRIMARY KEY, last_seen INTEGER NOT NULL,"
    "  rtt_ms REAL, failures INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS hidden_aliases(alias TEXT PRIMARY KEY,"
    "  descriptor_key BLOB NOT NULL, created INTEGER NOT NULL, note TEXT);"
    "INSERT OR IGNORE INTO meta(k, v) VALUES('schema', 1);";

void
vx6_registry_limits_defaults(struct vx6_registry_limits *l)
{
	l->max_nodes = 20000;
	l->max_services = 20000;
	l->max_peers = 5000;
}

static int
exec(struct vx6_registry *r, const char *sql)
{
	return sqlite3_exec(r->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : VX6_ERR_IO;
}

static int
try_open(const char *path, sqlite3 **db)
{
	int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	sqlite3_stmt *st = NULL;
	bool ok = false;

	if (rc != SQLITE_OK)
		return rc;
	sqlite3_busy_timeout(*db, 2000);
	if (sqlite3_prepare_v2(*db, "PRAGMA quick_check", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		ok = t && strcmp((const char *)t, "ok") == 0;
	}
	sqlite3_finalize(st);
	if (ok && sqlite3_exec(*db, schema, NULL, NULL, NULL) == SQLITE_OK)
		return SQLITE_OK;
	return SQLITE_CORRUPT;
}

int
vx6_registry_open(const char *path, const struct vx6_registry_limits *lim, struct vx6_registry **out,
    bool *rebuilt, char *note, size_t notelen)
{
	struct vx6_registry *r = calloc(1, sizeof(*r));
	char aside[1200];
	int rc;

	*out = NULL;
	*rebuilt = false;
	if (note && notelen)
		note[0] = '\0';
	if (r == NULL)
		return VX6_ERR_NOMEM;
	if (lim)
		r->lim = *lim;
	else
		vx6_registry_limits_defaults(&r->lim);
	rc = try_open(path, &r->db);
	if (rc != SQLITE_OK && strcmp(path, ":memory:") != 0) {
		/* Unreadable: keep the bad file for inspection and start empty. */
		sqlite3_close(r->db);
		r->db = NULL;
		snprintf(aside, sizeof(aside), "%s.corrupt", path);
		(void)rename(path, aside);
		{
			char wal[1200], shm[1200];
			snprintf(wal, sizeof(wal), "%s-wal", path);
			snprintf(shm, sizeof(shm), "%s-shm", path);
			(void)remove(wal);
			(void)remove(shm);
		}
		*rebuilt = true;
		if (note)
			snprintf(note, notelen, "the registry %s was unreadable; moved it to %s and started "
			    "an empty one (it refills from the network)", path, aside);
		rc = try_open(path, &r->db);
	}
	if (rc != SQLITE_OK) {
		if (note)
			snprintf(note, notelen, "cannot open the registry %s: %s", path,
			    r->db ? sqlite3_errmsg(r->db) : "out of memory");
		sqlite3_close(r->db);
		free(r);
		return VX6_ERR_IO;
	}
	*out = r;
	return 0;
}

void
vx6_registry_close(struct vx6_registry *r)
{
	if (r == NULL)
		return;
	sqlite3_close(r->db);
	free(r);
}

static sqlite3_stmt *
prep(struct vx6_registry *r, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	return st;
}

static int
step_done(sqlite3_stmt *st)
{
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;

	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : VX6_ERR_IO;
}

int
vx6_registry_claim(struct vx6_registry *r, const char *name, const uint8_t key[VX6_KEY_LEN], int64_t now)
{
	sqlite3_stmt *st = prep(r, "INSERT OR IGNORE INTO claims(name, key, first_seen) VALUES(?,?,?)");

	if (st == NULL)
		return VX6_ERR_IO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 2, key, VX6_KEY_LEN, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, now);
	return step_done(st);
}

int
vx6_registry_put_node(struct vx6_registry *r, const struct vx6_node_record *rec, const uint8_t *bytes,
    size_t len, uint64_t now)
{
	sqlite3_stmt *st = prep(r,
	    "INSERT INTO nodes(node_id, key, name, seq, expires, last_seen, record) VALUES(?,?,?,?,?,?,?)"
	    " ON CONFLICT(node_id) DO UPDATE SET name=excluded.name, seq=excluded.seq,"
	    " expires=excluded.expires, last_seen=excluded.last_seen, record=excluded.record"
	    " WHERE excluded.seq > nodes.seq");
	int rc;

	if (st == NULL)
		return VX6_ERR_IO;
	sqlite3_bind_blob(st, 1, rec->node_id, VX6_NODE_ID_LEN, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 2, rec->key, VX6_KEY_LEN, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, rec->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)rec->seq);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)rec->expires_at);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)now);
	sqlite3_bind_blob(st, 7, bytes, (int)len, SQLITE_TRANSIENT);
	rc = step_done(st);
	if (rc == 0)
		rc = vx6_registry_claim(r, rec->name, rec->key, (int64_t)now);
	return rc;
}

static int
copy_blob(sqlite3_stmt *st, int col, uint8_t *buf, size_t cap, size_t *len)
{
	const void *b = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (b == NULL || n <= 0 || (size_t)n > cap)
		return VX6_ERR_MALFORMED;
	memcpy(buf, b, (size_t)n);
	*len = (size_t)n;
	return 0;
}

int
vx6_registry_get_node(struct vx6_registry *r, const uint8_t id[VX6_NODE_ID_LEN], uint64_t now,
    uint8_t *buf, size_t cap, size_t *len)
{
	sqlite3_stmt *st = prep(r, "SELECT record FROM nodes WHERE node_id = ? AND expires > ?");
	int rc = VX6_ERR_NOT_FOUND;

	if (st == NULL)
		return VX6_ERR_IO;
	sqlite3_bind_blob(st, 1, id, VX6_NODE_ID_LEN, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	if (sqlite3_step(st) == SQLITE_ROW)
		rc = copy_blob(st, 0, buf, cap, len);
	sqlite3_finalize(st);
	if (rc == 0)
		r->hits++;
	else
		r->misses++;
	return rc;
}

static int
each_record(sqlite3_stmt *st, vx6_registry_rec_fn *fn, void *ud)
{
	int n = 0;

	if (st == NULL)
		return VX6_ERR_IO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(st, 0);
		int len = sqlite3_column_bytes(st, 0);
		if (b && len > 0) {
			fn(ud, b, (size_t)len);
			n++;
		}
	}
	sqlite3_finalize(st);
	return n;
}

int
vx6_registry_nodes_by_name(struct vx6_registry *r, const char *name, uint64_t now,
    vx6_registry_rec_fn *fn, void *ud)
{
	sqlite3_stmt *st = prep(r, "SELECT record FROM nodes WHERE name = ? AND expires > ?"
	    " ORDER BY last_seen DESC");

	if (st) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	}
	return each_record(st, fn, ud);
}

int
vx6_registry_put_service(struct vx6_registry *r, const struct vx6_service_record *rec,
    const uint8_t *bytes, size_t len, uint64_t now)
{
	sqlite3_stmt *st = prep(r,
	    "INSERT INTO services(node, service, signer, seq, expires, visibility, last_seen, record)"
	    " VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(node, service, signer) DO UPDATE SET"
	    " seq=excluded.seq, expires=excluded.expires, visibility=excluded.visibility,"
	    " last_seen=excluded.last_seen, record=excluded.record WHERE excluded.seq > services.seq");

	if (st == NULL)
		return VX6_ERR_IO;
	sqlite3_bind_text(st, 1, rec->node_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, rec->service, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 3, rec->owner_key, VX6_KEY_LEN, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)rec->seq);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)rec->expires_at);
	sqlite3_bind_int(st, 6, rec->visibility);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)now);
	sqlite3_bind_blob(st, 8, bytes, (int)len, SQLITE_TRANSIENT);
	return step_done(st);
}

int
vx6_registry_services(struct vx6_registry *r, const char *node, const char *service, uint64_t now,
    vx6_registry_rec_fn *fn, void *ud)
{
	sqlite3_stmt *st = prep(r, "SELECT record FROM services WHERE node = ? AND service = ?"
	    " AND expires > ? ORDER BY last_seen DESC");
	int n;

	if (st) {
		sqlite3_bind_text(st, 1, node, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, service, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
	}
	n = each_record(st, fn, ud);
	if (n > 0)
		r->hits++;
	else if (n == 0)
		r->misses++;
	return n;
}

int
vx6_registry_pin_get(struct vx6_registry *r, const char *name, uint8_t key[VX6_KEY_LEN], int64_t *first_seen)
{
	sqlite3_stmt *st = prep(r, "SELECT key, first_seen FROM pins WHERE name = ?");
	int rc = VX6_ERR_NOT_FOUND;
	size_t len;

	if (st == NULL)
		return VX6_ERR_IO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW && copy_blob(st, 0, key, VX6_KEY_LEN, &len) == 0 &&
	    len == VX6_KEY_LEN) {
		if (first_seen)
			*first_seen = sqlite3_column_int64(st, 1);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

int
vx6_registry_pin_set(struct vx6_registry *r, const char *name, const uint8_t key[VX6_KEY_LEN],
    int64_t first_seen)
{
	uint8_t existing[VX6_KEY_LEN];
	sqlite3_stmt *st;

	if (vx6_registry_pin_get(r, name, existing, NULL) == 0)
		return memcmp(existing, key, VX6_KEY_LEN) == 0 ? 0 : VX6_ERR_EXISTS;
	st = prep(r, "INSERT INTO pins(name, key, first_seen) VALUES(?,?,?)");
	if (st == NULL)
		return VX6_ERR_IO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 2, key, VX6_KEY_LEN, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, first_seen);
	return step_done(st);
}

int
vx6_registry_claims(struct vx6_registry *r, const char *name, vx6_registry_claim_fn *fn, void *ud)
{
	sqlite3_stmt *st = prep(r, "SELECT key, first_seen FROM claims WHERE name = ? ORDER BY first_seen");
	int n = 0;
	uint8_t key[VX6_KEY_LEN];
	size_t len;

	if (st == NULL)
		return VX6_ERR_IO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW)
		if (copy_blob(st, 0, key, sizeof(key), &len) == 0 && len == VX6_KEY_LEN) {
			fn(ud, key, sqlite3_column_int64(st, 1));
			n++;
		}
	sqlite3_finalize(st);
	return n;
}

int
vx6_registry_peer_seen(struct vx6_registry *r, const uint8_t id[VX6_NODE_ID_LEN], int64_t now, double rtt_ms)
{
	sqlite3_stmt *st = prep(r, "INSERT INTO peers(node_id, last_seen, rtt_ms, failures) VALUES(?,?,?,0)"
	    " ON CONFLICT(node_id) DO UPDATE SET last_seen=excluded.last_seen,"
	    " rtt_ms=COALESCE(excluded.rtt_ms, peers.rtt_ms), failures=0");

	if (st == NULL)
		return VX6_ERR_IO;
	sqlite3_bind_blob(st, 1, id, VX6_NODE_ID_LEN, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	if (rtt_ms > 0)
		sqlite3_bind_double(st, 3, rtt_ms);
	else
		sqlite3_bind_null(st, 3);
	return step_done(st);
}

int
vx6_registry_peer_failed(struct vx6_registry *r, const uint8_t id[VX6_NODE_ID_LEN])
{
	sqlite3_stmt *st = prep(r, "UPDATE peers SET failures = failures + 1 WHERE node_id = ?");

	if (st == NULL)
		return VX6_ERR_IO;
	sqlite3_bind_blob(st, 1, id, VX6_NODE_ID_LEN, SQLITE_TRANSIENT);
	return step_done(st);
}

int
vx6_registry_live_peers(struct vx6_registry *r, unsigned limit, uint64_t now, vx6_registry_rec_fn *fn,
    void *ud)
{
	sqlite3_stmt *st = prep(r, "SELECT n.record FROM peers p JOIN nodes n ON n.node_id = p.node_id"
	    " WHERE n.expires > ? ORDER BY p.failures ASC, p.last_seen DESC LIMIT ?");

	if (st) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
		sqlite3_bind_int(st, 2, (int)limit);
	}
	return each_record(st, fn, ud);
}

static uint32_t
count(struct vx6_registry *r, const char *table)
{
	char sql[80];
	sqlite3_stmt *st;
	uint32_t n = 0;

	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
	st = prep(r, sql);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		n = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

void
vx6_registry_counts(struct vx6_registry *r, struct vx6_registry_counts *c)
{
	c->nodes = count(r, "nodes");
	c->services = count(r, "services");
	c->pins = count(r, "pins");
	c->claims = count(r, "claims");
	c->peers = count(r, "peers");
	c->hits = r->hits;
	c->misses = r->misses;
}

int
vx6_registry_evict(struct vx6_registry *r, uint64_t now)
{
	char sql[512];
	int rc = 0;

	snprintf(sql, sizeof(sql), "DELETE FROM nodes WHERE expires <= %llu;"
	    "DELETE FROM services WHERE expires <= %llu;", (unsigned long long)now,
	    (unsigned long long)now);
	rc |= exec(r, sql);
	snprintf(sql, sizeof(sql), "DELETE FROM nodes WHERE node_id IN (SELECT node_id FROM nodes"
	    " ORDER BY last_seen DESC LIMIT -1 OFFSET %u);", r->lim.max_nodes);
	rc |= exec(r, sql);
	snprintf(sql, sizeof(sql), "DELETE FROM services WHERE rowid IN (SELECT rowid FROM services"
	    " ORDER BY last_seen DESC LIMIT -1 OFFSET %u);", r->lim.max_services);
	rc |= exec(r, sql);
	snprintf(sql, sizeof(sql), "DELETE FROM peers WHERE node_id IN (SELECT node_id FROM peers"
	    " ORDER BY last_seen DESC LIMIT -1 OFFSET %u);", r->lim.max_peers);
	rc |= exec(r, sql);
	/* Claims and pins are small and are what defends names: kept. */
	return rc ? VX6_ERR_IO : 0;
}

int
vx6_registry_all_services(struct vx6_registry *r, uint64_t now, vx6_registry_rec_fn *fn, void *ud)
{
	sqlite3_stmt *st = prep(r, "SELECT record FROM services WHERE expires > ? ORDER BY node, service");

	if (st)
		sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	return each_record(st, fn, ud);
}

int
vx6_registry_all_nodes(struct vx6_registry *r, uint64_t now, vx6_registry_rec_fn *fn, void *ud)
{
	sqlite3_stmt *st = prep(r, "SELECT record FROM nodes WHERE expires > ? ORDER BY name");

	if (st)
		sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	return each_record(st, fn, ud);
}
