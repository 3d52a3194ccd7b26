/* The metrics that trellisd reads from its own state when rendering:
 * active sessions, audit records, worker restarts and airlock requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/master.h"
#include "broker/metrics.h"
#include "broker/sessions.h"

static const char *driver_name(enum policy_driver driver)
{
	return driver == POLICY_DRIVER_VM ? "vm" : "ns";
}

/* Counts the sessions of sessions_list_json by project and driver. The
 * driver is the one the store recorded for the session, or else the one of
 * the project's image in the policy in force. */
static void render_sessions_active(FILE *out, const char *name,
				   struct master *m)
{
	json_t *counts = json_object();
	json_t *list =
	    m->sessions ? sessions_list_json(m->sessions, false) : NULL;
	size_t i;
	json_t *session;

	json_array_foreach(list, i, session)
	{
		const char *project =
		    json_string_value(json_object_get(session, "project"));
		if (project == NULL)
			continue;
		const struct policy_project *p =
		    m->policy ? policy_find_project(m->policy, project) : NULL;
		const char *driver =
		    json_string_value(json_object_get(session, "driver"));
		if (driver == NULL)
			driver = p && p->image ? driver_name(p->image->driver)
					       : "unknown";
		char *labels =
		    metrics_format_labels("project", project, "driver", driver);
		if (labels == NULL)
			continue;
		json_int_t n =
		    json_integer_value(json_object_get(counts, labels));
		json_object_set_new(counts, labels, json_integer(n + 1));
		free(labels);
	}

	const char *labels;
	json_t *count;
	json_object_foreach(counts, labels, count) metrics_put_sample(
	    out, name, labels, (uint64_t)json_integer_value(count));
	json_decref(list);
	json_decref(counts);
}

static void render_audit_records(FILE *out, const char *name, struct master *m)
{
	int64_t records = m->audit ? audit_length(m->audit) : -1;

	if (records >= 0)
		metrics_put_sample(out, name, "", (uint64_t)records);
}

static void render_worker_restarts(FILE *out, const char *name,
				   struct master *m)
{
	if (m->workers)
		metrics_put_sample(out, name, "",
				   workers_restart_count(m->workers));
}

/* Counts airlock requests by state from the store. */
static void render_airlock_requests(FILE *out, const char *name,
				    struct master *m)
{
	sqlite3_stmt *st =
	    m->store ? store_prepare(m->store,
				     "SELECT state, count(*) FROM "
				     "airlock_requests GROUP BY state ORDER "
				     "BY state")
		     : NULL;
	int rc;

	if (st == NULL)
		return;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(st, 0);
		char *labels = metrics_format_labels(
		    "state", state ? state : "", NULL, NULL);
		if (labels)
			metrics_put_sample(
			    out, name, labels,
			    (uint64_t)sqlite3_column_int64(st, 1));
		free(labels);
	}
	if (rc != SQLITE_DONE)
		store_log_step_error(m->store, st);
	sqlite3_reset(st);
}

/* Each metric trellisd renders from its state, by name. */
static const struct {
	const char *name;
	void (*render)(FILE *out, const char *name, struct master *m);
} state_metrics[] = {
    {"trellis_sessions_active", render_sessions_active},
    {"trellis_audit_records", render_audit_records},
    {"trellis_worker_restarts_total", render_worker_restarts},
    {"trellis_airlock_requests", render_airlock_requests},
};

static void render_state(FILE *out, const char *name, void *ctx)
{
	for (size_t i = 0; i < sizeof(state_metrics) / sizeof(state_metrics[0]);
	     i++)
		if (strcmp(state_metrics[i].name, name) == 0)
			state_metrics[i].render(out, name, ctx);
}

char *metrics_render_master(struct master *m)
{
	return metrics_render(render_state, m);
}
