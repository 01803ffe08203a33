#include "store/keyfile.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "os/os.h"

#define MAGIC "VX6-IDENTITY-V1 "
#define MAX_FILE 4096

int
vx6_keyfile_parse(const char *text, size_t len, struct vx6_identity *id)
{
	uint8_t seed[VX6_SEED_LEN];
	const char *line = text, *end = text + len, *eol, *b64;
	size_t binlen = 0, b64len;
	const char *stop = NULL;
	int rc = VX6_ERR_MALFORMED, found = 0;

	while (line < end) {
		eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL)
			eol = end;
		if (line[0] != '#' && eol > line) {
			if (found || (size_t)(eol - line) < sizeof(MAGIC) - 1 ||
			    memcmp(line, MAGIC, sizeof(MAGIC) - 1) != 0)
				goto out;
			b64 = line + sizeof(MAGIC) - 1;
			b64len = (size_t)(eol - b64);
			if (b64len && b64[b64len - 1] == '\r')
				b64len--;
			for (size_t i = 0; i < b64len; i++)
				if (!vx6_base64url_char(b64[i]))
					goto out;
			if (sodium_base642bin(seed, sizeof(seed), b64, b64len, NULL, &binlen, &stop,
			    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 || binlen != VX6_SEED_LEN ||
			    stop != b64 + b64len)
				goto out;
			found = 1;
		}
		line = eol + 1;
	}
	if (found)
		rc = vx6_identity_from_seed(id, seed);
out:
	/* One exit: the seed is wiped whatever happened. */
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

int
vx6_keyfile_load(const char *path, struct vx6_identity *id, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int mode, rc;

	rc = vx6_os_read_file_mode(path, MAX_FILE, &text, &len, &mode);
	if (rc == VX6_ERR_NOT_FOUND) {
		snprintf(err, errlen, "no identity at %s: run `vx6 init` first", path);
		return rc;
	}
	if (rc) {
		snprintf(err, errlen, "cannot read %s: %s", path, vx6_strerror(rc));
		return rc;
	}
	if ((mode & 077) != 0) {
		sodium_memzero(text, len);
		free(text);
		snprintf(err, errlen, "%s is accessible by other users (mode %03o): run `chmod 600 %s`",
		    path, mode & 0777, path);
		return VX6_ERR_PERM;
	}
	rc = vx6_keyfile_parse(text, len, id);
	sodium_memzero(text, len);
	free(text);
	if (rc)
		snprintf(err, errlen, "%s is not a valid VX6 identity file", path);
	return rc;
}

int
vx6_keyfile_create(const char *path, bool force, struct vx6_identity *id, char *err, size_t errlen)
{
	uint8_t seed[VX6_SEED_LEN];
	char b64[sodium_base64_ENCODED_LEN(VX6_SEED_LEN, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	char text[256];
	int n, rc;

	if (vx6_os_exists(path) && !force) {
		snprintf(err, errlen, "%s already exists: refusing to replace an identity (use --force "
		    "to create a new one; the old key is lost)", path);
		return VX6_ERR_EXISTS;
	}
	randombytes_buf(seed, sizeof(seed));
	rc = vx6_identity_from_seed(id, seed);
	if (rc == 0) {
		sodium_bin2base64(b64, sizeof(b64), seed, sizeof(seed),
		    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		n = snprintf(text, sizeof(text), "# VX6 node identity (Ed25519 seed). Keep it secret.\n"
		    MAGIC "%s\n", b64);
		rc = vx6_os_write_file_atomic(path, text, (size_t)n, 0600);
		sodium_memzero(text, sizeof(text));
		sodium_memzero(b64, sizeof(b64));
		if (rc)
			snprintf(err, errlen, "cannot write %s: %s", path, vx6_strerror(rc));
	}
	sodium_memzero(seed, sizeof(seed));
	return rc;
}
