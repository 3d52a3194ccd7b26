/* The master's configuration message for one file check. Every key is
 * validated: a checker that guesses a rule could pass a file the policy
 * forbids. */
#include "airlock/airlock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_NAME_MAX	     255
#define EXTENSION_MAX	     15
#define ALLOWED_TYPES_MAX    256
#define DEFAULT_ENTRIES	     10000
#define DEFAULT_RATIO	     100.0
#define DEFAULT_EXPANDED     (4ull * 1024 * 1024 * 1024)
#define DEFAULT_CLAMD_MS     60000
#define CLAMD_TIMEOUT_MAX_MS (3600 * 1000)

static int fail(char *err, size_t err_size, const char *key,
		const char *problem)
{
	snprintf(err, err_size, "worker config key %s: %s", key, problem);
	return -1;
}

static int get_uint(const json_t *obj, const char *key, bool required,
		    uint64_t min, uint64_t *out, char *err, size_t err_size)
{
	const json_t *v = json_object_get(obj, key);

	if (v == NULL && !required)
		return 0;
	if (!json_is_integer(v))
		return fail(err, err_size, key, "missing or not an integer");
	if (json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min)
		return fail(err, err_size, key, "below its minimum");
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_real(const json_t *obj, const char *key, double min, double max,
		    double *out, char *err, size_t err_size)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_number(v))
		return fail(err, err_size, key, "missing or not a number");
	double value = json_number_value(v);
	if (!(value >= min && value <= max))
		return fail(err, err_size, key, "out of range");
	*out = value;
	return 0;
}

static int get_bool(const json_t *obj, const char *key, bool *out, char *err,
		    size_t err_size)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_boolean(v))
		return fail(err, err_size, key, "missing or not true/false");
	*out = json_is_true(v);
	return 0;
}

static bool extension_is_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > EXTENSION_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static int parse_allowed_types(const json_t *rules, struct airlock_rules *out,
			       char *err, size_t err_size)
{
	const json_t *list = json_object_get(rules, "allowed_types");

	if (!json_is_array(list))
		return fail(err, err_size, "rules.allowed_types",
			    "missing or not a list");
	if (json_array_size(list) > ALLOWED_TYPES_MAX)
		return fail(err, err_size, "rules.allowed_types",
			    "more than 256 types");

	out->allowed_types = calloc(json_array_size(list) + 1, sizeof(char *));
	if (out->allowed_types == NULL)
		return fail(err, err_size, "rules.allowed_types",
			    "out of memory");

	size_t i;
	const json_t *item;
	json_array_foreach(list, i, item)
	{
		if (!json_is_string(item) ||
		    !extension_is_valid(json_string_value(item)))
			return fail(err, err_size, "rules.allowed_types",
				    "each type must be a lower-case extension "
				    "of letters and digits, at most 15");
		out->allowed_types[i] = strdup(json_string_value(item));
		if (out->allowed_types[i] == NULL)
			return fail(err, err_size, "rules.allowed_types",
				    "out of memory");
		out->allowed_types_count = i + 1;
	}
	return 0;
}

static int parse_sdc(const json_t *rules, struct airlock_sdc_rules *sdc,
		     char *err, size_t err_size)
{
	const json_t *dc = json_object_get(rules, "disclosure_control");
	const json_t *dominance = json_object_get(dc, "dominance");
	uint64_t min_count = 0;
	uint64_t n = 0;

	if (!json_is_object(dc))
		return fail(err, err_size, "rules.disclosure_control",
			    "missing or not an object");
	if (!json_is_object(dominance))
		return fail(err, err_size, "rules.disclosure_control.dominance",
			    "missing or not an object");
	if (get_uint(dc, "min_cell_count", true, 1, &min_count, err, err_size) <
		0 ||
	    get_uint(dominance, "n", true, 1, &n, err, err_size) < 0 ||
	    get_real(dominance, "k", 0.0, 1.0, &sdc->dominance_k, err,
		     err_size) < 0 ||
	    get_real(dc, "p_ratio", 0.0, 1.0, &sdc->p_ratio, err, err_size) <
		0 ||
	    get_bool(dc, "zeros_disclosive", &sdc->zeros_disclosive, err,
		     err_size) < 0)
		return -1;
	if (min_count > 1000000000 || n > 10)
		return fail(err, err_size, "rules.disclosure_control",
			    "min_cell_count or dominance.n out of range");
	sdc->min_cell_count = (int64_t)min_count;
	sdc->dominance_n = (int)n;
	return 0;
}

static int parse_rules(const json_t *rules, struct airlock_rules *out,
		       char *err, size_t err_size)
{
	if (!json_is_object(rules))
		return fail(err, err_size, "rules", "missing or not an object");
	if (get_uint(rules, "max_file_size", true, 1, &out->max_file_size, err,
		     err_size) < 0 ||
	    parse_allowed_types(rules, out, err, err_size) < 0 ||
	    parse_sdc(rules, &out->sdc, err, err_size) < 0 ||
	    get_bool(rules, "dicom_check", &out->dicom_check, err, err_size) <
		0 ||
	    get_bool(rules, "malware_scan_required",
		     &out->malware_scan_required, err, err_size) < 0)
		return -1;
	return 0;
}

static int parse_limits(const json_t *limits, struct airlock_limits *out,
			char *err, size_t err_size)
{
	out->max_archive_entries = DEFAULT_ENTRIES;
	out->max_expansion_ratio = DEFAULT_RATIO;
	out->max_expanded_bytes = DEFAULT_EXPANDED;
	if (limits == NULL)
		return 0;
	if (!json_is_object(limits))
		return fail(err, err_size, "limits", "not an object");
	if (get_uint(limits, "max_archive_entries", false, 1,
		     &out->max_archive_entries, err, err_size) < 0 ||
	    get_uint(limits, "max_expanded_bytes", false, 1,
		     &out->max_expanded_bytes, err, err_size) < 0)
		return -1;
	if (json_object_get(limits, "max_expansion_ratio") &&
	    get_real(limits, "max_expansion_ratio", 1.0, 1e9,
		     &out->max_expansion_ratio, err, err_size) < 0)
		return -1;
	return 0;
}

static int parse_file(const json_t *body, struct airlock_config *cfg, char *err,
		      size_t err_size)
{
	const char *name =
	    json_string_value(json_object_get(body, "file_name"));
	const char *direction =
	    json_string_value(json_object_get(body, "direction"));

	if (name == NULL || name[0] == '\0' || strlen(name) > FILE_NAME_MAX ||
	    strchr(name, '/') != NULL)
		return fail(err, err_size, "file_name",
			    "missing, empty, longer than 255 bytes or "
			    "containing '/'");
	if (direction == NULL || (strcmp(direction, "export") != 0 &&
				  strcmp(direction, "import") != 0))
		return fail(err, err_size, "direction",
			    "must be \"export\" or \"import\"");

	cfg->file_name = strdup(name);
	cfg->direction = strdup(direction);
	if (cfg->file_name == NULL || cfg->direction == NULL)
		return fail(err, err_size, "file_name", "out of memory");
	return get_uint(body, "size_bytes", true, 0, &cfg->size_bytes, err,
			err_size);
}

int airlock_config_parse(const json_t *body, struct airlock_config *cfg,
			 char *err, size_t err_size)
{
	uint64_t timeout_ms = DEFAULT_CLAMD_MS;

	memset(cfg, 0, sizeof(*cfg));
	if (parse_file(body, cfg, err, err_size) < 0 ||
	    parse_rules(json_object_get(body, "rules"), &cfg->rules, err,
			err_size) < 0 ||
	    parse_limits(json_object_get(body, "limits"), &cfg->limits, err,
			 err_size) < 0 ||
	    get_uint(body, "clamd_timeout_ms", false, 1, &timeout_ms, err,
		     err_size) < 0) {
		airlock_config_clear(cfg);
		return -1;
	}
	if (timeout_ms > CLAMD_TIMEOUT_MAX_MS) {
		airlock_config_clear(cfg);
		return fail(err, err_size, "clamd_timeout_ms",
			    "above one hour");
	}
	cfg->clamd_timeout_ms = (int64_t)timeout_ms;
	return 0;
}

void airlock_config_clear(struct airlock_config *cfg)
{
	free(cfg->file_name);
	free(cfg->direction);
	for (size_t i = 0; i < cfg->rules.allowed_types_count; i++)
		free(cfg->rules.allowed_types[i]);
	free(cfg->rules.allowed_types);
	memset(cfg, 0, sizeof(*cfg));
}

bool airlock_rules_allow_type(const struct airlock_rules *rules,
			      const char *extension)
{
	for (size_t i = 0; i < rules->allowed_types_count; i++)
		if (strcmp(rules->allowed_types[i], extension) == 0)
			return true;
	return false;
}
