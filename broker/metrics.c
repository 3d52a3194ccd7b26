#include "broker/metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
};

struct metric_family {
	const char *name;
	enum metric_type type;
	const char *help;
	/* Samples come from the caller's state when rendering, not from
	 * metrics_add. */
	bool from_state;
};

/* Every metric the master exposes, in the order of the rendered text. */
static const struct metric_family families[] = {
    {"trellis_sessions_active", METRIC_GAUGE,
     "Desktop sessions starting or running, by project and driver.", true},
    {"trellis_session_starts_total", METRIC_COUNTER,
     "Desktop sessions opened, by project.", false},
    {"trellis_session_failures_total", METRIC_COUNTER,
     "Desktop sessions that ended as failed, by project.", false},
    {"trellis_logins_total", METRIC_COUNTER,
     "Portal login steps, by step and outcome.", false},
    {"trellis_airlock_requests", METRIC_GAUGE, "Airlock requests, by state.",
     true},
    {"trellis_hub_backend_bytes_total", METRIC_COUNTER,
     "Bytes the desktop hubs received from desktop servers.", false},
    {"trellis_hub_frames_total", METRIC_COUNTER,
     "Framebuffer updates the desktop hubs received.", false},
    {"trellis_hub_recording_bytes_total", METRIC_COUNTER,
     "Bytes the desktop hubs wrote to session recordings.", false},
    {"trellis_worker_restarts_total", METRIC_COUNTER,
     "Restarts of worker processes since trellisd started.", true},
    {"trellis_audit_records", METRIC_GAUGE, "Records in the audit log.", true},
    {"trellis_admin_requests_total", METRIC_COUNTER,
     "trellis-admin requests, by command and outcome.", false},
    {"trellis_recordings_deleted_total", METRIC_COUNTER,
     "Session recordings deleted after their retention period.", false},
};

#define FAMILY_COUNT (sizeof(families) / sizeof(families[0]))

struct sample {
	const struct metric_family *family;
	char *labels; /* rendered: key="value",key2="value2" */
	uint64_t value;
};

static struct sample samples[METRICS_MAX_SAMPLES];
static size_t sample_count;
static bool warned_full;

static const struct metric_family *find_family(const char *name)
{
	for (size_t i = 0; i < FAMILY_COUNT; i++)
		if (strcmp(families[i].name, name) == 0)
			return &families[i];
	return NULL;
}

/* Writes VALUE as a label value: backslash, double quote and newline are
 * escaped as the text format requires. */
static void put_label_value(FILE *out, const char *value)
{
	for (const char *p = value; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", out);
		else if (*p == '"')
			fputs("\\\"", out);
		else if (*p == '\n')
			fputs("\\n", out);
		else
			fputc(*p, out);
	}
}

char *metrics_format_labels(const char *label1, const char *value1,
			    const char *label2, const char *value2)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	if (out == NULL)
		return NULL;
	if (label1) {
		fprintf(out, "%s=\"", label1);
		put_label_value(out, value1 ? value1 : "");
		fputc('"', out);
	}
	if (label2) {
		fprintf(out, ",%s=\"", label2);
		put_label_value(out, value2 ? value2 : "");
		fputc('"', out);
	}
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static struct sample *find_sample(const struct metric_family *family,
				  const char *labels)
{
	for (size_t i = 0; i < sample_count; i++)
		if (samples[i].family == family &&
		    strcmp(samples[i].labels, labels) == 0)
			return &samples[i];
	return NULL;
}

static void add_sample(const char *name, char *labels, uint64_t n)
{
	const struct metric_family *family = find_family(name);

	if (family == NULL || family->from_state) {
		log_error("metric_add_failed", "name=%s error=%s", name,
			  family ? "read from state when rendering, not counted"
				 : "no such counter in broker/metrics.c");
		free(labels);
		return;
	}
	if (labels == NULL)
		return;

	struct sample *sample = find_sample(family, labels);
	if (sample) {
		sample->value += n;
		free(labels);
		return;
	}
	if (sample_count == METRICS_MAX_SAMPLES) {
		if (!warned_full)
			log_error("metrics_full", "name=%s max=%d", name,
				  METRICS_MAX_SAMPLES);
		warned_full = true;
		free(labels);
		return;
	}
	samples[sample_count++] = (struct sample){family, labels, n};
}

void metrics_add(const char *name, const char *label, const char *value,
		 uint64_t n)
{
	add_sample(name, metrics_format_labels(label, value, NULL, NULL), n);
}

void metrics_inc(const char *name, const char *label, const char *value)
{
	metrics_add(name, label, value, 1);
}

void metrics_inc2(const char *name, const char *label1, const char *value1,
		  const char *label2, const char *value2)
{
	add_sample(name, metrics_format_labels(label1, value1, label2, value2),
		   1);
}

uint64_t metrics_get(const char *name, const char *labels)
{
	const struct metric_family *family = find_family(name);
	struct sample *sample = family ? find_sample(family, labels) : NULL;

	return sample ? sample->value : 0;
}

void metrics_reset(void)
{
	for (size_t i = 0; i < sample_count; i++)
		free(samples[i].labels);
	sample_count = 0;
	warned_full = false;
}

void metrics_put_sample(FILE *out, const char *name, const char *labels,
			uint64_t value)
{
	if (labels[0])
		fprintf(out, "%s{%s} %llu\n", name, labels,
			(unsigned long long)value);
	else
		fprintf(out, "%s %llu\n", name, (unsigned long long)value);
}

char *metrics_render(metrics_state_fn state, void *ctx)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < FAMILY_COUNT; i++) {
		const struct metric_family *f = &families[i];
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help,
			f->name,
			f->type == METRIC_COUNTER ? "counter" : "gauge");
		if (f->from_state) {
			if (state)
				state(out, f->name, ctx);
			continue;
		}
		for (size_t j = 0; j < sample_count; j++)
			if (samples[j].family == f)
				metrics_put_sample(out, f->name,
						   samples[j].labels,
						   samples[j].value);
	}
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
