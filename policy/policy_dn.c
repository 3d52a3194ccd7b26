/* Distinguished names compared the way a directory does for group lookups:
 * case-insensitive, ignoring spaces around separators. */
#include "policy/policy.h"

#include <ctype.h>
#include <string.h>

/* Appends one attribute=value part; END is one past its last byte. */
static int append_part(const char *start, const char *end, char *out,
		       size_t size, size_t *used)
{
	while (start < end && *start == ' ')
		start++;
	while (end > start && end[-1] == ' ' &&
	       !(end - 1 > start && end[-2] == '\\'))
		end--;

	const char *equals = NULL;
	for (const char *p = start; p < end; p++) {
		if (*p == '\\') {
			p++;
			continue;
		}
		if (*p == '=') {
			equals = p;
			break;
		}
	}
	if (!equals)
		return -1;

	const char *name_end = equals;
	while (name_end > start && name_end[-1] == ' ')
		name_end--;
	const char *value = equals + 1;
	while (value < end && *value == ' ')
		value++;
	if (name_end == start || value == end)
		return -1;

	size_t needed = (size_t)(name_end - start) + 1 + (size_t)(end - value) +
			(*used ? 1 : 0);
	if (*used + needed + 1 > size)
		return -1;
	if (*used)
		out[(*used)++] = ',';
	for (const char *p = start; p < name_end; p++)
		out[(*used)++] = (char)tolower((unsigned char)*p);
	out[(*used)++] = '=';
	for (const char *p = value; p < end; p++)
		out[(*used)++] = (char)tolower((unsigned char)*p);
	out[*used] = '\0';
	return 0;
}

int policy_dn_normalize(const char *dn, char *out, size_t size)
{
	size_t used = 0;
	const char *start = dn;

	if (size == 0)
		return -1;
	out[0] = '\0';
	for (const char *p = dn;; p++) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
			continue;
		}
		if (*p == ',' || *p == '\0') {
			if (append_part(start, p, out, size, &used) < 0)
				return -1;
			if (*p == '\0')
				break;
			start = p + 1;
		}
	}
	return 0;
}
