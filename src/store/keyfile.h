/*
 * keyfile — the identity file: one line "VX6-IDENTITY-V1 <seed, base64url>"
 * after comment lines, mode 0600. Loading refuses a file other users can
 * read, and wipes every copy of the seed it handled.
 */
#ifndef VX6_STORE_KEYFILE_H
#define VX6_STORE_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "crypto/identity.h"

/* Parses identity file text. Returns 0 or VX6_ERR_MALFORMED. */
int vx6_keyfile_parse(const char *text, size_t len, struct vx6_identity *id);
/* Loads path into id; checks the mode. Errors carry a message in err. */
int vx6_keyfile_load(const char *path, struct vx6_identity *id, char *err, size_t errlen);
/* Creates a new identity at path; refuses to replace one unless force. */
int vx6_keyfile_create(const char *path, bool force, struct vx6_identity *id, char *err,
    size_t errlen);

#endif
