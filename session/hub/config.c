/* The hub's settings from the master's IPC_WORKER_CONFIG message. */
#include "session/hub/hub.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_MAX_WIDTH	   4096
#define DEFAULT_MAX_HEIGHT	   2160
#define DEFAULT_BACKEND_TIMEOUT_MS 10000

static int parse_clip_rule(json_t *parent, const char *key,
			   struct hub_clip_rule *rule, char *err,
			   size_t err_size)
{
	json_t *obj = json_object_get(parent, key);

	/* Default deny: a direction the master did not grant is off. */
	rule->mode = HUB_CLIP_OFF;
	rule->max_bytes = 0;
	if (obj == NULL)
		return 0;

	const char *mode = json_string_value(json_object_get(obj, "mode"));
	json_t *max = json_object_get(obj, "max_bytes");
	if (mode == NULL || strcmp(mode, "off") == 0)
		return 0;
	if (strcmp(mode, "text") != 0) {
		snprintf(err, err_size,
			 "clipboard.%s.mode \"%s\" is invalid (expected off "
			 "or text)",
			 key, mode);
		return -1;
	}
	if (!json_is_integer(max) || json_integer_value(max) < 1 ||
	    json_integer_value(max) > (json_int_t)HUB_CUT_TEXT_HARD_MAX) {
		snprintf(err, err_size, "clipboard.%s.max_bytes must be 1..%u",
			 key, HUB_CUT_TEXT_HARD_MAX);
		return -1;
	}
	rule->mode = HUB_CLIP_TEXT;
	rule->max_bytes = (size_t)json_integer_value(max);
	return 0;
}

static int get_dimension(json_t *body, const char *key, uint16_t fallback,
			 uint16_t *out, char *err, size_t err_size)
{
	json_t *v = json_object_get(body, key);

	*out = fallback;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > 16384) {
		snprintf(err, err_size, "%s must be an integer 1..16384", key);
		return -1;
	}
	*out = (uint16_t)json_integer_value(v);
	return 0;
}

int hub_config_parse(json_t *body, struct hub_config *cfg, char *err,
		     size_t err_size)
{
	const char *session =
	    json_string_value(json_object_get(body, "session"));
	json_t *clip = json_object_get(body, "clipboard");
	json_t *idle = json_object_get(body, "idle_timeout_ms");
	json_t *timeout = json_object_get(body, "backend_timeout_ms");
	json_t *rec = json_object_get(body, "recording");

	memset(cfg, 0, sizeof(*cfg));
	if (session == NULL || session[0] == '\0' ||
	    strlen(session) >= sizeof(cfg->session)) {
		snprintf(err, err_size, "session must be a non-empty string");
		return -1;
	}
	snprintf(cfg->session, sizeof(cfg->session), "%s", session);

	if (get_dimension(body, "max_width", DEFAULT_MAX_WIDTH, &cfg->max_width,
			  err, err_size) < 0 ||
	    get_dimension(body, "max_height", DEFAULT_MAX_HEIGHT,
			  &cfg->max_height, err, err_size) < 0)
		return -1;

	if (parse_clip_rule(clip, "to_session", &cfg->to_session, err,
			    err_size) < 0 ||
	    parse_clip_rule(clip, "from_session", &cfg->from_session, err,
			    err_size) < 0)
		return -1;

	if (idle && (!json_is_integer(idle) || json_integer_value(idle) < 0)) {
		snprintf(err, err_size,
			 "idle_timeout_ms must be a non-negative integer");
		return -1;
	}
	cfg->idle_timeout_ms = idle ? json_integer_value(idle) : 0;

	cfg->backend_timeout_ms = DEFAULT_BACKEND_TIMEOUT_MS;
	if (timeout) {
		if (!json_is_integer(timeout) ||
		    json_integer_value(timeout) < 100 ||
		    json_integer_value(timeout) > 600000) {
			snprintf(err, err_size,
				 "backend_timeout_ms must be 100..600000");
			return -1;
		}
		cfg->backend_timeout_ms = json_integer_value(timeout);
	}

	if (rec) {
		const char *path =
		    json_string_value(json_object_get(rec, "path"));
		cfg->recording_required =
		    json_is_true(json_object_get(rec, "required"));
		if (path && strlen(path) >= sizeof(cfg->recording_path)) {
			snprintf(err, err_size, "recording.path is too long");
			return -1;
		}
		if (path)
			snprintf(cfg->recording_path,
				 sizeof(cfg->recording_path), "%s", path);
	}
	return 0;
}
