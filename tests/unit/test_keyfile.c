/*
 * test_keyfile — store/keyfile: creation (mode 0600, no silent overwrite),
 * load round trip, refusal of files other users can read, and strict
 * parsing of "VX6-IDENTITY-V1 <seed base64url>" after comment lines.
 * Files live in a mkdtemp() directory that each test removes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/identity.h"
#include "lib/err.h"
#include "store/keyfile.h"
#include "testutil.h"

/* RFC 8032 TEST 1 seed and public key; SEED_TEXT is base64url(seed)
 * computed with Python's base64. */
static const char *const RFC_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char *const RFC_PK = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
#define SEED_TEXT "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"

static int
group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

struct tmp {
	char dir[64];
	char path[128];
};

static int
setup_tmp(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/vx6-test-keyfile-XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/identity.key", t->dir);
	*state = t;
	return 0;
}

/* Removes the key file (and a stray temp file, if any) and the directory. */
static int
teardown_tmp(void **state)
{
	struct tmp *t = *state;
	char stray[192];

	unlink(t->path);
	snprintf(stray, sizeof(stray), "%s.tmp.%ld", t->path, (long)getpid());
	unlink(stray);
	if (rmdir(t->dir) != 0) {
		fprintf(stderr, "could not remove %s\n", t->dir);
		free(t);
		return -1;
	}
	free(t);
	return 0;
}

static void
write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static char *
read_text(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The known seed in file form gives the RFC 8032 public key. */
static void
test_parse_known_answer(void **state)
{
	const char *text = "VX6-IDENTITY-V1 " SEED_TEXT "\n";
	struct vx6_identity id;
	uint8_t pk[32], seed[32], back[32];

	(void)state;
	tu_hex(RFC_PK, pk, sizeof(pk));
	tu_hex(RFC_SEED, seed, sizeof(seed));
	assert_int_equal(vx6_keyfile_parse(text, strlen(text), &id), 0);
	assert_memory_equal(id.pk, pk, 32);
	vx6_identity_seed(&id, back);
	assert_memory_equal(back, seed, 32);
	vx6_identity_wipe(&id);
}

/* Comment lines (before and after), a CRLF ending and a missing final
 * newline are all accepted. */
static void
test_parse_accepts_comments(void **state)
{
	static const char *const ok[] = {
		"# VX6 node identity\n# keep it secret\nVX6-IDENTITY-V1 " SEED_TEXT "\n",
		"VX6-IDENTITY-V1 " SEED_TEXT "\n# trailing comment\n",
		"\n\nVX6-IDENTITY-V1 " SEED_TEXT "\n\n",
		"VX6-IDENTITY-V1 " SEED_TEXT,
		"# windows\r\nVX6-IDENTITY-V1 " SEED_TEXT "\r\n",
		"#\nVX6-IDENTITY-V1 " SEED_TEXT "\n#",
	};
	uint8_t pk[32];
	struct vx6_identity id;

	(void)state;
	tu_hex(RFC_PK, pk, sizeof(pk));
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (vx6_keyfile_parse(ok[i], strlen(ok[i]), &id) != 0)
			fail_msg("refused valid file %zu", i);
		assert_memory_equal(id.pk, pk, 32);
		vx6_identity_wipe(&id);
	}
}

/* Wrong magic, bad base64, wrong lengths, padding, stray text, two key
 * lines, or no key line at all are MALFORMED. */
static void
test_parse_rejects_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"# only a comment\n",
		"\n\n",
		"VX6-IDENTITY-V2 " SEED_TEXT "\n",                 /* wrong magic */
		"vx6-identity-v1 " SEED_TEXT "\n",
		"VX6-IDENTITY-V1" SEED_TEXT "\n",                  /* no space */
		"VX6-IDENTITY-V1  " SEED_TEXT "\n",                /* two spaces */
		"VX6-IDENTITY-V1\t" SEED_TEXT "\n",
		" VX6-IDENTITY-V1 " SEED_TEXT "\n",                /* leading space */
		"VX6-IDENTITY-V1 \n",                              /* no key */
		"VX6-IDENTITY-V1\n",
		"VX6-IDENTITY-V1 nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2\n",    /* 42 chars */
		"VX6-IDENTITY-V1 nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2AA\n",  /* 44 chars */
		"VX6-IDENTITY-V1 nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n",  /* padding */
		"VX6-IDENTITY-V1 nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n",   /* '/' */
		"VX6-IDENTITY-V1 nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2B\n",   /* unused bits */
		"VX6-IDENTITY-V1 nWGxne_9WmC6hEr0kuwsx!RJxWl7MmkZcDusAxyuf2A\n",   /* '!' */
		"VX6-IDENTITY-V1 " SEED_TEXT " \n",                /* trailing space */
		"VX6-IDENTITY-V1 " SEED_TEXT "\nVX6-IDENTITY-V1 " SEED_TEXT "\n",  /* two keys */
		"VX6-IDENTITY-V1 " SEED_TEXT "\ngarbage\n",
		"garbage\nVX6-IDENTITY-V1 " SEED_TEXT "\n",
		"-----BEGIN OPENSSH PRIVATE KEY-----\n",
	};
	struct vx6_identity id;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = vx6_keyfile_parse(bad[i], strlen(bad[i]), &id);
		if (rc != VX6_ERR_MALFORMED)
			fail_msg("file %zu accepted (rc %d): %s", i, rc, bad[i]);
	}
}

/* A key line with a byte >= 0x80 in the base64 is MALFORMED. */
static void
test_parse_rejects_non_ascii(void **state)
{
	char text[128];
	struct vx6_identity id;
	int accepted = 0;

	(void)state;
	for (int c = 0x80; c <= 0xff; c++) {
		snprintf(text, sizeof(text), "VX6-IDENTITY-V1 %s\n", SEED_TEXT);
		text[16 + 5] = (char)c;
		if (vx6_keyfile_parse(text, strlen(text), &id) == 0) {
			accepted++;
			vx6_identity_wipe(&id);
		}
	}
	/* Regression (fixed): this failed until vx6_keyfile_parse (src/store/keyfile.c:35) checks the
	 * base64url alphabet itself before sodium_base642bin; libsodium 1.0.18
	 * decodes bytes >= 0x80 (read as a signed char) as valid digits. */
	if (accepted)
		print_message("%d non-ASCII variants of the key line accepted\n", accepted);
	assert_int_equal(accepted, 0);
}

/* The parser reads exactly len bytes: a key line cut short by len fails. */
static void
test_parse_respects_len(void **state)
{
	const char *text = "VX6-IDENTITY-V1 " SEED_TEXT "\n";
	struct vx6_identity id;

	(void)state;
	for (size_t len = 0; len < strlen(text) - 1; len++)
		assert_int_equal(vx6_keyfile_parse(text, len, &id), VX6_ERR_MALFORMED);
	assert_int_equal(vx6_keyfile_parse(text, strlen(text) - 1, &id), 0);
	vx6_identity_wipe(&id);
}

/* create writes a 0600 file (whatever the umask) holding one key line
 * after comments, and load gives back the same identity. */
static void
test_create_and_load(void **state)
{
	struct tmp *t = *state;
	struct vx6_identity made, loaded;
	char err[512];
	struct stat st;
	mode_t old = umask(0);
	int rc = vx6_keyfile_create(t->path, false, &made, err, sizeof(err));
	const char *text, *line;

	umask(old);
	assert_int_equal(rc, 0);
	assert_int_equal(stat(t->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	text = read_text(t->path);
	line = strstr(text, "VX6-IDENTITY-V1 ");
	assert_non_null(line);
	assert_true(line == text || line[-1] == '\n');
	assert_int_equal(strcspn(line + 16, "\n"), 43);
	assert_int_equal(vx6_keyfile_parse(text, strlen(text), &loaded), 0);
	assert_memory_equal(&loaded, &made, sizeof(made));
	vx6_identity_wipe(&loaded);

	assert_int_equal(vx6_keyfile_load(t->path, &loaded, err, sizeof(err)), 0);
	assert_memory_equal(loaded.node_id, made.node_id, 32);
	assert_memory_equal(&loaded, &made, sizeof(made));
	vx6_identity_wipe(&loaded);
	vx6_identity_wipe(&made);
}

/* create refuses to replace an existing identity without force (file left
 * byte-identical, message mentions --force); with force it writes a new key. */
static void
test_create_refuses_overwrite(void **state)
{
	struct tmp *t = *state;
	struct vx6_identity first, second, loaded;
	char err[512], before[4096];
	struct stat st;

	assert_int_equal(vx6_keyfile_create(t->path, false, &first, err, sizeof(err)), 0);
	snprintf(before, sizeof(before), "%s", read_text(t->path));

	err[0] = '\0';
	assert_int_equal(vx6_keyfile_create(t->path, false, &second, err, sizeof(err)), VX6_ERR_EXISTS);
	assert_non_null(strstr(err, "--force"));
	assert_non_null(strstr(err, t->path));
	assert_string_equal(read_text(t->path), before);
	assert_int_equal(vx6_keyfile_load(t->path, &loaded, err, sizeof(err)), 0);
	assert_memory_equal(loaded.pk, first.pk, 32);
	vx6_identity_wipe(&loaded);

	/* even an existing file that is not an identity is not replaced */
	assert_int_equal(chmod(t->path, 0644), 0);
	assert_int_equal(vx6_keyfile_create(t->path, false, &second, err, sizeof(err)), VX6_ERR_EXISTS);

	assert_int_equal(vx6_keyfile_create(t->path, true, &second, err, sizeof(err)), 0);
	assert_memory_not_equal(second.pk, first.pk, 32);
	assert_int_equal(stat(t->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);     /* the new file is private again */
	assert_int_equal(vx6_keyfile_load(t->path, &loaded, err, sizeof(err)), 0);
	assert_memory_equal(loaded.node_id, second.node_id, 32);
	vx6_identity_wipe(&loaded);
	vx6_identity_wipe(&first);
	vx6_identity_wipe(&second);
}

/* load refuses a key file that group or others can access, naming the
 * mode and suggesting `chmod 600 <path>`; 0600 and 0400 load. */
static void
test_load_refuses_open_modes(void **state)
{
	static const mode_t bad[] = { 0644, 0640, 0604, 0660, 0606, 0601, 0610, 0777 };
	struct tmp *t = *state;
	struct vx6_identity id;
	char err[512], hint[192];

	write_text(t->path, "VX6-IDENTITY-V1 " SEED_TEXT "\n", 0600);
	snprintf(hint, sizeof(hint), "chmod 600 %s", t->path);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char mode[8];
		assert_int_equal(chmod(t->path, bad[i]), 0);
		err[0] = '\0';
		assert_int_equal(vx6_keyfile_load(t->path, &id, err, sizeof(err)), VX6_ERR_PERM);
		assert_non_null(strstr(err, hint));
		snprintf(mode, sizeof(mode), "%03o", (unsigned)bad[i]);
		assert_non_null(strstr(err, mode));
	}
	assert_int_equal(chmod(t->path, 0600), 0);
	assert_int_equal(vx6_keyfile_load(t->path, &id, err, sizeof(err)), 0);
	vx6_identity_wipe(&id);
	assert_int_equal(chmod(t->path, 0400), 0);
	assert_int_equal(vx6_keyfile_load(t->path, &id, err, sizeof(err)), 0);
	vx6_identity_wipe(&id);
}

/* load: a missing file says to run `vx6 init`; a malformed one is refused
 * with the path in the message. */
static void
test_load_errors(void **state)
{
	struct tmp *t = *state;
	struct vx6_identity id;
	char err[512];

	err[0] = '\0';
	assert_int_equal(vx6_keyfile_load(t->path, &id, err, sizeof(err)), VX6_ERR_NOT_FOUND);
	assert_non_null(strstr(err, "vx6 init"));
	write_text(t->path, "VX6-IDENTITY-V1 not-base64!\n", 0600);
	err[0] = '\0';
	assert_int_equal(vx6_keyfile_load(t->path, &id, err, sizeof(err)), VX6_ERR_MALFORMED);
	assert_non_null(strstr(err, t->path));
	assert_non_null(strstr(err, "not a valid"));
	write_text(t->path, "VX6-IDENTITY-V1 " SEED_TEXT "\nVX6-IDENTITY-V1 " SEED_TEXT "\n", 0600);
	assert_int_equal(vx6_keyfile_load(t->path, &id, err, sizeof(err)), VX6_ERR_MALFORMED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_known_answer),
		cmocka_unit_test(test_parse_accepts_comments),
		cmocka_unit_test(test_parse_rejects_malformed),
		cmocka_unit_test(test_parse_rejects_non_ascii),
		cmocka_unit_test(test_parse_respects_len),
		cmocka_unit_test_setup_teardown(test_create_and_load, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_create_refuses_overwrite, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_load_refuses_open_modes, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_load_errors, setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
