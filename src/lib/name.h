/*
 * name — rules for node and service names.
 *
 * A label is 1..15 characters of [a-z0-9-], neither starting nor ending with
 * '-'. A node name and a service name are labels; a full service name is
 * "node.service". Names are labels bound to keys: the key is the identity.
 */
#ifndef VX6_LIB_NAME_H
#define VX6_LIB_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define VX6_NAME_MAX 15
#define VX6_NAME_BUF 16     /* VX6_NAME_MAX + NUL */

/* True when s (NUL-terminated) is a valid label. */
bool vx6_name_valid(const char *s);
/* True when the n bytes at s form a valid label (no NUL needed). */
bool vx6_name_valid_n(const char *s, size_t n);
/* Explains why s is not a valid label, or NULL when it is. */
const char *vx6_name_why_invalid(const char *s);

#endif
