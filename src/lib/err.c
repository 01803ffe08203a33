#include "lib/err.h"

const char *
vx6_strerror(int err)
{
	switch (err) {
	case VX6_OK: return "success";
	case VX6_ERR_NOMEM: return "out of memory";
	case VX6_ERR_INVAL: return "invalid argument";
	case VX6_ERR_INCOMPLETE: return "input is incomplete";
	case VX6_ERR_MALFORMED: return "input is malformed";
	case VX6_ERR_TOO_LARGE: return "input exceeds a size limit";
	case VX6_ERR_CRYPTO: return "decryption or authentication failed";
	case VX6_ERR_BAD_SIGNATURE: return "signature does not verify";
	case VX6_ERR_KEY_MISMATCH: return "peer key does not match the expected key";
	case VX6_ERR_VERSION: return "no common protocol version";
	case VX6_ERR_STATE: return "operation not valid in this state";
	case VX6_ERR_LIMIT: return "a configured limit was reached";
	case VX6_ERR_FLOW: return "flow-control violation";
	case VX6_ERR_NONCE: return "nonce space exhausted";
	case VX6_ERR_TIMEOUT: return "timed out";
	case VX6_ERR_CLOSED: return "closed";
	case VX6_ERR_NOT_FOUND: return "not found";
	case VX6_ERR_EXISTS: return "already exists";
	case VX6_ERR_IO: return "I/O error";
	case VX6_ERR_REFUSED: return "refused by peer";
	case VX6_ERR_PERM: return "permission denied";
	case VX6_ERR_PROTOCOL: return "protocol violation";
	case VX6_ERR_BUSY: return "resource is busy";
	case VX6_ERR_UNREACHABLE: return "unreachable";
	}
	return "unknown error";
}
