/*
 * pins — the known_peers file: keys learned on first use, one per line,
 * "ADDR KEY [# comment]". Later entries for the same address win.
 */
#ifndef VX6_STORE_PINS_H
#define VX6_STORE_PINS_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "lib/addr.h"

typedef void vx6_pin_fn(void *ud, const char *addr, const uint8_t key[VX6_KEY_LEN]);

/* Calls fn for every valid line of text; returns the number of invalid
 * lines skipped. */
int vx6_pins_parse(const char *text, vx6_pin_fn *fn, void *ud);
/* Loads path (a missing file is empty). Returns invalid-line count or a vx6_err. */
int vx6_pins_load(const char *path, vx6_pin_fn *fn, void *ud);
int vx6_pins_append(const char *path, const char *addr, const uint8_t key[VX6_KEY_LEN]);

#endif
