#include "lib/name.h"

#include <string.h>

static bool
label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

bool
vx6_name_valid_n(const char *s, size_t n)
{
	if (n == 0 || n > VX6_NAME_MAX)
		return false;
	if (s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!label_char(s[i]))
			return false;
	return true;
}

bool
vx6_name_valid(const char *s)
{
	return s != NULL && vx6_name_valid_n(s, strnlen(s, VX6_NAME_MAX + 1));
}

const char *
vx6_name_why_invalid(const char *s)
{
	size_t n;

	if (s == NULL || *s == '\0')
		return "a name must not be empty";
	n = strnlen(s, VX6_NAME_MAX + 1);
	if (n > VX6_NAME_MAX)
		return "a name has at most 15 characters";
	for (size_t i = 0; i < n; i++)
		if (!label_char(s[i]))
			return "a name uses only lowercase letters a-z, digits 0-9 and '-'";
	if (s[0] == '-' || s[n - 1] == '-')
		return "a name must not start or end with '-'";
	return NULL;
}
