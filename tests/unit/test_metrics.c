/* The master's counters and their Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/metrics.h"

static int reset(void **state)
{
	metrics_reset();
	return 0;
}

static void metrics_counts_by_label(void **state)
{
	metrics_inc("trellis_session_starts_total", "project", "alpha");
	metrics_inc("trellis_session_starts_total", "project", "alpha");
	metrics_inc("trellis_session_starts_total", "project", "beta");
	metrics_add("trellis_hub_frames_total", NULL, NULL, 40);
	metrics_add("trellis_hub_frames_total", NULL, NULL, 2);

	assert_int_equal(
	    metrics_get("trellis_session_starts_total", "project=\"alpha\""),
	    2);
	assert_int_equal(
	    metrics_get("trellis_session_starts_total", "project=\"beta\""), 1);
	assert_int_equal(metrics_get("trellis_hub_frames_total", ""), 42);
	assert_int_equal(
	    metrics_get("trellis_session_starts_total", "project=\"gamma\""),
	    0);
}

static void metrics_two_labels(void **state)
{
	metrics_inc2("trellis_logins_total", "step", "login.password",
		     "outcome", "failure");
	char *text = metrics_render(NULL, NULL);

	assert_non_null(text);
	assert_non_null(strstr(text, "trellis_logins_total{step=\"login."
				     "password\",outcome=\"failure\"} 1\n"));
	free(text);
}

static void metrics_escape_label_values(void **state)
{
	metrics_inc("trellis_session_starts_total", "project", "a\"b\\c\nd");
	char *text = metrics_render(NULL, NULL);

	assert_non_null(text);
	assert_non_null(strstr(
	    text,
	    "trellis_session_starts_total{project=\"a\\\"b\\\\c\\nd\"} 1\n"));
	free(text);
}

static void metrics_render_every_family(void **state)
{
	static const char *const names[] = {
	    "trellis_sessions_active",	      "trellis_session_starts_total",
	    "trellis_session_failures_total", "trellis_logins_total",
	    "trellis_airlock_requests",	      "trellis_hub_backend_bytes_total",
	    "trellis_hub_frames_total",	      "trellis_worker_restarts_total",
	    "trellis_audit_records",	      "trellis_admin_requests_total",
	};
	char *text = metrics_render(NULL, NULL);
	char line[128];

	assert_non_null(text);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(line, sizeof(line), "# HELP %s ", names[i]);
		assert_non_null(strstr(text, line));
		snprintf(line, sizeof(line), "# TYPE %s ", names[i]);
		assert_non_null(strstr(text, line));
	}
	assert_non_null(strstr(text, "# TYPE trellis_logins_total counter\n"));
	assert_non_null(strstr(text, "# TYPE trellis_audit_records gauge\n"));
	assert_int_equal(text[strlen(text) - 1], '\n');
	free(text);
}

static void metrics_ignore_unknown_names(void **state)
{
	metrics_inc("trellis_no_such_metric", NULL, NULL);
	/* Gauges come from the master's state, never from metrics_add. */
	metrics_inc("trellis_audit_records", NULL, NULL);
	char *text = metrics_render(NULL, NULL);

	assert_non_null(text);
	assert_null(strstr(text, "trellis_no_such_metric"));
	assert_null(strstr(text, "trellis_audit_records 1"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(metrics_counts_by_label, reset),
	    cmocka_unit_test_setup(metrics_two_labels, reset),
	    cmocka_unit_test_setup(metrics_escape_label_values, reset),
	    cmocka_unit_test_setup(metrics_render_every_family, reset),
	    cmocka_unit_test_setup(metrics_ignore_unknown_names, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
