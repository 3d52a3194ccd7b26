/* Allowlist of the keys a client may send when it launches or connects. */
#include "policy/client_request.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

enum client_key {
	KEY_PROJECT,
	KEY_SESSION,
	KEY_ACCESS,
	KEY_VIEW_ONLY,
};

struct allowed_key {
	const char *name;
	enum client_key key;
	bool launch;
	bool connect;
	bool required;
};

static const struct allowed_key allowed_keys[] = {
    {"project", KEY_PROJECT, true, false, true},
    {"session", KEY_SESSION, false, true, true},
    {"access", KEY_ACCESS, true, true, true},
    {"view_only", KEY_VIEW_ONLY, true, true, false},
};

#define ALLOWED_KEY_COUNT (sizeof(allowed_keys) / sizeof(allowed_keys[0]))

static int reject(char *reason, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int reject(char *reason, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, size, fmt, ap);
	va_end(ap);
	return -1;
}

static bool allowed_for(const struct allowed_key *key,
			enum policy_client_request_kind kind)
{
	return kind == POLICY_CLIENT_LAUNCH ? key->launch : key->connect;
}

static const struct allowed_key *find_key(const char *name)
{
	for (size_t i = 0; i < ALLOWED_KEY_COUNT; i++)
		if (strcmp(allowed_keys[i].name, name) == 0)
			return &allowed_keys[i];
	return NULL;
}

static bool is_client_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > POLICY_SESSION_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static int check_value(const struct allowed_key *key, json_t *value,
		       struct policy_client_request *out, char *reason,
		       size_t size)
{
	switch (key->key) {
	case KEY_PROJECT:
	case KEY_SESSION: {
		const char *text = json_string_value(value);
		if (!text || !is_client_id(text))
			return reject(reason, size,
				      "%s must be an id of letters, digits, "
				      "'-' and '_' (at most %d)",
				      key->name, POLICY_SESSION_ID_MAX);
		if (key->key == KEY_PROJECT)
			out->project = text;
		else
			out->session = text;
		return 0;
	}
	case KEY_ACCESS: {
		const char *text = json_string_value(value);
		if (text && strcmp(text, "browser") == 0)
			out->access = POLICY_ACCESS_BROWSER;
		else if (text && strcmp(text, "rdp") == 0)
			out->access = POLICY_ACCESS_RDP;
		else
			return reject(reason, size,
				      "access must be \"browser\" or \"rdp\"");
		return 0;
	}
	case KEY_VIEW_ONLY:
		/* false is the default, so either value only keeps or
		 * narrows what the policy grants. */
		if (!json_is_boolean(value))
			return reject(reason, size,
				      "view_only must be true or false");
		out->view_only = json_is_true(value);
		return 0;
	}
	return reject(reason, size, "internal error: unhandled key");
}

int policy_client_request_check(enum policy_client_request_kind kind,
				const json_t *request,
				struct policy_client_request *out, char *reason,
				size_t reason_size)
{
	struct policy_client_request parsed = {0};
	bool seen[ALLOWED_KEY_COUNT] = {false};
	const char *name;
	json_t *value;

	if (!json_is_object(request))
		return reject(reason, reason_size,
			      "the request must be a JSON object");

	json_object_foreach((json_t *)request, name, value)
	{
		const struct allowed_key *key = find_key(name);
		if (!key || !allowed_for(key, kind))
			return reject(reason, reason_size,
				      "key \"%.64s\" is not accepted from a "
				      "client: session settings come from "
				      "the policy",
				      name);
		if (check_value(key, value, &parsed, reason, reason_size) < 0)
			return -1;
		seen[key - allowed_keys] = true;
	}

	for (size_t i = 0; i < ALLOWED_KEY_COUNT; i++) {
		const struct allowed_key *key = &allowed_keys[i];
		if (key->required && allowed_for(key, kind) && !seen[i])
			return reject(reason, reason_size, "missing key \"%s\"",
				      key->name);
	}
	*out = parsed;
	return 0;
}
