/*
 * err — VX6's error codes.
 *
 * Every fallible function returns 0 (or a non-negative count) on success and
 * a negative vx6_err on failure. vx6_strerror() is the one translator to text.
 * "Incomplete" (need more bytes) is kept apart from "malformed" (never valid).
 */
#ifndef VX6_LIB_ERR_H
#define VX6_LIB_ERR_H

enum vx6_err {
	VX6_OK = 0,
	VX6_ERR_NOMEM = -1,        /* allocation failed */
	VX6_ERR_INVAL = -2,        /* bad argument from our own caller */
	VX6_ERR_INCOMPLETE = -3,   /* input ends early; more bytes may fix it */
	VX6_ERR_MALFORMED = -4,    /* input can never be valid */
	VX6_ERR_TOO_LARGE = -5,    /* a length or count exceeds its cap */
	VX6_ERR_CRYPTO = -6,       /* authentication/decryption failed */
	VX6_ERR_BAD_SIGNATURE = -7,
	VX6_ERR_KEY_MISMATCH = -8, /* peer is not the identity we expected */
	VX6_ERR_VERSION = -9,      /* no protocol version in common */
	VX6_ERR_STATE = -10,       /* call not valid in the current state */
	VX6_ERR_LIMIT = -11,       /* a configured limit was reached */
	VX6_ERR_FLOW = -12,        /* peer sent beyond the credit we granted */
	VX6_ERR_NONCE = -13,       /* nonce space exhausted */
	VX6_ERR_TIMEOUT = -14,
	VX6_ERR_CLOSED = -15,      /* the session or stream is closed */
	VX6_ERR_NOT_FOUND = -16,
	VX6_ERR_EXISTS = -17,
	VX6_ERR_IO = -18,          /* an OS call failed; see errno/log */
	VX6_ERR_REFUSED = -19,     /* remote refused (reason given separately) */
	VX6_ERR_PERM = -20,        /* not allowed */
	VX6_ERR_PROTOCOL = -21,    /* peer violated the protocol */
	VX6_ERR_BUSY = -22,        /* resource locked by someone else */
	VX6_ERR_UNREACHABLE = -23,
};

/* Returns a static, human-readable string for a vx6_err (never NULL). */
const char *vx6_strerror(int err);

#endif
