/* trellis-admin audit tail and audit export: reading the audit log through
 * the master, a page at a time. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin/cmd_steward.h"

/* Interval of audit tail --follow between requests for new records. */
#define FOLLOW_INTERVAL_MS 1000

struct admin_steward_args admin_steward_args;

int admin_steward_option(int opt, const char *arg)
{
	struct admin_steward_args *a = &admin_steward_args;

	switch (opt) {
	case 'n': {
		char *end;
		errno = 0;
		long n = strtol(arg, &end, 10);
		if (errno || *end != '\0' || n < 1 || n > 1000) {
			fprintf(stderr,
				"trellis-admin: --lines %s: expected a "
				"number of records from 1 to 1000\n",
				arg);
			return ADMIN_EXIT_USAGE;
		}
		a->lines = n;
		return 0;
	}
	case 'f':
		a->follow = true;
		return 0;
	case 'o':
		a->output = arg;
		return 0;
	case ADMIN_STEWARD_OPTION_BASE:
		a->from = arg;
		return 0;
	case ADMIN_STEWARD_OPTION_BASE + 1:
		a->to = arg;
		return 0;
	case ADMIN_STEWARD_OPTION_BASE + 2:
		a->at = arg;
		return 0;
	case ADMIN_STEWARD_OPTION_BASE + 3:
		a->every = arg;
		return 0;
	default:
		return -1;
	}
}

int admin_parse_utc_ms(const char *text, int64_t *out_ms)
{
	struct tm tm = {0};
	const char *end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);

	if (end == NULL || *end != '\0') {
		memset(&tm, 0, sizeof(tm));
		end = strptime(text, "%Y-%m-%d", &tm);
		if (end == NULL || *end != '\0')
			return -1;
	}
	time_t seconds = timegm(&tm);
	if (seconds < 0)
		return -1;
	*out_ms = (int64_t)seconds * 1000;
	return 0;
}

void admin_format_utc(int64_t ms, char *out, size_t size)
{
	time_t seconds = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&seconds, &tm) ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "-");
}

int admin_parse_duration_ms(const char *text, int64_t *out_ms)
{
	unsigned h, m, s;
	int consumed = 0;

	if (sscanf(text, "%u:%u:%u%n", &h, &m, &s, &consumed) == 3 &&
	    text[consumed] == '\0' && m < 60 && s < 60) {
		*out_ms = ((int64_t)h * 3600 + m * 60 + s) * 1000;
		return 0;
	}

	char *end;
	errno = 0;
	long long n = strtoll(text, &end, 10);
	if (errno || end == text || n < 0 || n > 100LL * 24 * 3600 * 1000)
		return -1;
	if (strcmp(end, "ms") == 0)
		*out_ms = n;
	else if (strcmp(end, "s") == 0)
		*out_ms = n * 1000;
	else if (strcmp(end, "m") == 0)
		*out_ms = n * 60 * 1000;
	else if (strcmp(end, "h") == 0)
		*out_ms = n * 3600 * 1000;
	else
		return -1;
	return 0;
}

static const char *text(json_t *object, const char *key)
{
	const char *value = json_string_value(json_object_get(object, key));
	return value ? value : "";
}

static void print_json_line(json_t *record)
{
	char *line = json_dumps(record, JSON_COMPACT | JSON_SORT_KEYS);
	if (line) {
		printf("%s\n", line);
		free(line);
	}
}

static void print_record_row(json_t *record)
{
	char when[32];

	admin_format_utc(json_integer_value(json_object_get(record, "time_ms")),
			 when, sizeof(when));
	printf("%8lld %-20s %-24s %-22s %-24s %s\n",
	       (long long)json_integer_value(json_object_get(record, "seq")),
	       when, text(record, "actor"), text(record, "action"),
	       text(record, "object"), text(record, "outcome"));
}

static void print_records(const struct admin_options *opts, json_t *records,
			  bool skip_own_polls)
{
	size_t i;
	json_t *record;

	json_array_foreach(records, i, record)
	{
		/* Each poll of --follow is audited; echoing those records
		 * would print one line per second for ever. They stay in the
		 * log. */
		json_t *details = json_object_get(record, "details");
		if (skip_own_polls &&
		    strcmp(text(record, "object"), "audit.tail") == 0 &&
		    json_integer_value(json_object_get(details, "pid")) ==
			(json_int_t)getpid())
			continue;
		if (opts->json)
			print_json_line(record);
		else
			print_record_row(record);
	}
	fflush(stdout);
}

static volatile sig_atomic_t stop_following;

static void on_interrupt(int signo)
{
	stop_following = 1;
}

int admin_run_audit_tail(const struct admin_options *opts, int argc,
			 char **argv)
{
	const struct admin_steward_args *a = &admin_steward_args;
	json_t *r = NULL;

	if (argc != 0) {
		fprintf(stderr, "Usage: trellis-admin audit tail [-n COUNT] "
				"[--follow]\n");
		return ADMIN_EXIT_USAGE;
	}
	json_t *args =
	    json_pack("{s:I}", "lines", (json_int_t)(a->lines ? a->lines : 20));
	int rc = admin_request(opts, "audit.tail", args, &r);
	json_decref(args);
	if (rc != ADMIN_EXIT_OK)
		return rc;

	if (!opts->json)
		printf("%8s %-20s %-24s %-22s %-24s %s\n", "SEQ", "TIME",
		       "ACTOR", "ACTION", "OBJECT", "OUTCOME");
	print_records(opts, json_object_get(r, "records"), false);
	json_int_t last_seq =
	    json_integer_value(json_object_get(r, "last_seq"));
	json_decref(r);
	if (!a->follow)
		return ADMIN_EXIT_OK;

	struct sigaction sa = {.sa_handler = on_interrupt};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop_following) {
		struct timespec pause = {0, FOLLOW_INTERVAL_MS * 1000000L};
		nanosleep(&pause, NULL);
		if (stop_following)
			break;
		args = json_pack("{s:I}", "after_seq", last_seq);
		rc = admin_request(opts, "audit.tail", args, &r);
		json_decref(args);
		if (rc != ADMIN_EXIT_OK)
			return rc;
		print_records(opts, json_object_get(r, "records"), true);
		json_int_t seq =
		    json_integer_value(json_object_get(r, "last_seq"));
		if (seq > last_seq)
			last_seq = seq;
		json_decref(r);
	}
	return ADMIN_EXIT_OK;
}

int admin_run_audit_export(const struct admin_options *opts, int argc,
			   char **argv)
{
	const struct admin_steward_args *a = &admin_steward_args;
	int64_t from_ms, to_ms;
	json_int_t after_seq = 0;
	size_t exported = 0;
	bool more = true;

	if (argc != 0 || a->from == NULL || a->to == NULL) {
		fprintf(stderr, "Usage: trellis-admin audit export --from TIME "
				"--to TIME\n");
		return ADMIN_EXIT_USAGE;
	}
	if (admin_parse_utc_ms(a->from, &from_ms) < 0 ||
	    admin_parse_utc_ms(a->to, &to_ms) < 0) {
		fprintf(stderr,
			"trellis-admin audit export: invalid time %s: write "
			"UTC as 2026-12-01T00:00:00Z or a date, 2026-12-01\n",
			admin_parse_utc_ms(a->from, &from_ms) < 0 ? a->from
								  : a->to);
		return ADMIN_EXIT_USAGE;
	}
	if (to_ms < from_ms) {
		fprintf(stderr,
			"trellis-admin audit export: --to %s is before "
			"--from %s\n",
			a->to, a->from);
		return ADMIN_EXIT_USAGE;
	}

	/* The master returns the records in pages that fit its IPC payload
	 * limit. */
	while (more) {
		json_t *r = NULL;
		json_t *args = json_pack(
		    "{s:I, s:I, s:I}", "from_ms", (json_int_t)from_ms, "to_ms",
		    (json_int_t)to_ms, "after_seq", after_seq);
		int rc = admin_request(opts, "audit.export", args, &r);
		json_decref(args);
		if (rc != ADMIN_EXIT_OK)
			return rc;
		size_t i;
		json_t *record;
		json_array_foreach(json_object_get(r, "records"), i, record)
		{
			print_json_line(record);
			exported++;
		}
		more = json_is_true(json_object_get(r, "more"));
		after_seq = json_integer_value(json_object_get(r, "last_seq"));
		json_decref(r);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr,
			"trellis-admin audit export: writing the "
			"output failed: %s\n",
			strerror(errno));
		return ADMIN_EXIT_FAILED;
	}
	fprintf(stderr, "trellis-admin: %zu audit records exported\n",
		exported);
	return ADMIN_EXIT_OK;
}
