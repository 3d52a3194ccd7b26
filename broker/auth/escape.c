/* LDAP filter (RFC 4515) and DN (RFC 4514) escaping. Every username that
 * reaches a filter goes through here, so a value can never add a filter
 * component or change the scope of a search. */
#include "broker/auth/escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char hex_digits[] = "0123456789abcdef";

static char *append_hex(char *out, unsigned char byte)
{
	*out++ = '\\';
	*out++ = hex_digits[byte >> 4];
	*out++ = hex_digits[byte & 0x0f];
	return out;
}

static bool is_control(unsigned char byte)
{
	return byte < 0x20 || byte == 0x7f;
}

char *auth_ldap_escape_filter(const char *value, size_t len)
{
	/* Each byte grows to at most three. */
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	char *escaped = malloc(len * 3 + 1);
	if (!escaped)
		return NULL;

	char *out = escaped;
	for (size_t i = 0; i < len; i++) {
		unsigned char byte = (unsigned char)value[i];
		if (byte == '*' || byte == '(' || byte == ')' || byte == '\\' ||
		    is_control(byte))
			out = append_hex(out, byte);
		else
			*out++ = (char)byte;
	}
	*out = '\0';
	return escaped;
}

char *auth_ldap_escape_dn(const char *value, size_t len)
{
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	char *escaped = malloc(len * 3 + 1);
	if (!escaped)
		return NULL;

	char *out = escaped;
	for (size_t i = 0; i < len; i++) {
		unsigned char byte = (unsigned char)value[i];
		bool first = i == 0;
		bool last = i + 1 == len;

		if (is_control(byte)) {
			out = append_hex(out, byte);
			continue;
		}
		if (strchr("\"+,;<>\\", byte) || (first && byte == '#') ||
		    ((first || last) && byte == ' '))
			*out++ = '\\';
		*out++ = (char)byte;
	}
	*out = '\0';
	return escaped;
}

char *auth_ldap_expand_template(const char *template, const char *value)
{
	size_t value_len = strlen(value);
	size_t size = 1;

	for (const char *p = template; *p; p++) {
		if (*p != '%') {
			size++;
			continue;
		}
		p++;
		if (*p == 's')
			size += value_len;
		else if (*p == '%')
			size++;
		else
			return NULL;
	}

	char *expanded = malloc(size);
	if (!expanded)
		return NULL;
	char *out = expanded;
	for (const char *p = template; *p; p++) {
		if (*p != '%') {
			*out++ = *p;
			continue;
		}
		p++;
		if (*p == 's') {
			memcpy(out, value, value_len);
			out += value_len;
		} else {
			*out++ = '%';
		}
	}
	*out = '\0';
	return expanded;
}
