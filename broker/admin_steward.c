#include "broker/admin_steward.h"

#include <stdio.h>
#include <string.h>

#include "broker/master.h"
#include "broker/sessions.h"

/* Collects audit records into a page until it reaches its record or byte
 * limit. */
struct audit_page {
	json_t *records;
	size_t bytes;
	size_t max_records;
	int64_t last_seq;
	bool full;
};

static int add_to_page(json_t *record, void *arg)
{
	struct audit_page *page = arg;
	size_t size = json_dumpb(record, NULL, 0, JSON_COMPACT);

	if (json_array_size(page->records) >= page->max_records ||
	    page->bytes + size > ADMIN_AUDIT_PAGE_BYTES) {
		json_decref(record);
		page->full = true;
		return 1;
	}
	page->bytes += size;
	page->last_seq = json_integer_value(json_object_get(record, "seq"));
	json_array_append_new(page->records, record);
	return 0;
}

/* Reads optional integer KEY of ARGS into *OUT (unchanged when absent).
 * Returns -1 with ERROR when it is present but not an integer >= MIN. */
static int integer_arg(json_t *args, const char *key, json_int_t min,
		       int64_t *out, char *error, size_t error_size)
{
	json_t *value = json_object_get(args, key);

	if (value == NULL)
		return 0;
	if (!json_is_integer(value) || json_integer_value(value) < min) {
		snprintf(error, error_size,
			 "invalid argument %s: expected an integer >= %lld",
			 key, (long long)min);
		return -1;
	}
	*out = json_integer_value(value);
	return 0;
}

static int read_page(struct master *m, const struct audit_query *q,
		     struct audit_page *page, json_t **result, char *error,
		     size_t error_size)
{
	page->records = json_array();
	if (page->records == NULL ||
	    audit_read(m->store, q, add_to_page, page) < 0) {
		json_decref(page->records);
		snprintf(error, error_size,
			 "reading the audit log failed: see the trellisd log "
			 "for the database error");
		return -1;
	}
	*result =
	    json_pack("{s:o, s:I, s:b}", "records", page->records, "last_seq",
		      (json_int_t)page->last_seq, "more", page->full);
	return *result ? 0 : -1;
}

int admin_audit_tail(struct master *m, const struct admin_caller *caller,
		     json_t *args, json_t **result, char *error,
		     size_t error_size)
{
	int64_t lines = 20;
	int64_t after_seq = -1;
	struct audit_query q = {0};
	struct audit_page page = {.max_records = ADMIN_AUDIT_PAGE_RECORDS};

	if (integer_arg(args, "lines", 1, &lines, error, error_size) < 0 ||
	    integer_arg(args, "after_seq", 0, &after_seq, error, error_size) <
		0)
		return -1;
	if (lines > ADMIN_AUDIT_PAGE_RECORDS) {
		snprintf(error, error_size,
			 "invalid argument lines: at most %d records at once "
			 "(use audit export for more)",
			 ADMIN_AUDIT_PAGE_RECORDS);
		return -1;
	}

	if (after_seq >= 0)
		q.from_seq = after_seq + 1;
	else
		q.last = lines;
	page.last_seq = after_seq > 0 ? after_seq : 0;
	return read_page(m, &q, &page, result, error, error_size);
}

int admin_audit_export(struct master *m, const struct admin_caller *caller,
		       json_t *args, json_t **result, char *error,
		       size_t error_size)
{
	int64_t from_ms = -1, to_ms = -1, after_seq = 0;
	struct audit_page page = {.max_records = ADMIN_AUDIT_PAGE_RECORDS};

	if (integer_arg(args, "from_ms", 0, &from_ms, error, error_size) < 0 ||
	    integer_arg(args, "to_ms", 0, &to_ms, error, error_size) < 0 ||
	    integer_arg(args, "after_seq", 0, &after_seq, error, error_size) <
		0)
		return -1;
	if (from_ms < 0 || to_ms < 0 || to_ms < from_ms) {
		snprintf(error, error_size,
			 "audit export needs from_ms and to_ms with from_ms "
			 "<= to_ms");
		return -1;
	}

	/* audit_query treats 0 as no bound, so the epoch itself becomes 1
	 * ms: no record is that old. */
	struct audit_query q = {.from_seq = after_seq + 1,
				.from_time_ms = from_ms ? from_ms : 1,
				.to_time_ms = to_ms ? to_ms : 1};
	page.last_seq = after_seq;
	return read_page(m, &q, &page, result, error, error_size);
}

static json_t *principals_json(const struct policy_principals *p)
{
	json_t *groups = json_array();
	json_t *users = json_array();

	for (size_t i = 0; i < p->groups.count; i++)
		json_array_append_new(groups, json_string(p->groups.items[i]));
	for (size_t i = 0; i < p->users.count; i++)
		json_array_append_new(users, json_string(p->users.items[i]));
	return json_pack("{s:o, s:o}", "groups", groups, "users", users);
}

/* Returns the active sessions of PROJECT as a new array. */
static json_t *project_sessions(struct master *m, const char *project)
{
	json_t *all =
	    m->sessions ? sessions_list_json(m->sessions, false) : NULL;
	json_t *mine = json_array();
	size_t i;
	json_t *session;

	json_array_foreach(all, i, session)
	{
		const char *p =
		    json_string_value(json_object_get(session, "project"));
		if (p && strcmp(p, project) == 0)
			json_array_append(mine, session);
	}
	json_decref(all);
	return mine;
}

int admin_projects_list(struct master *m, const struct admin_caller *caller,
			json_t *args, json_t **result, char *error,
			size_t error_size)
{
	json_t *projects = json_array();

	for (size_t i = 0; m->policy && i < m->policy->project_count; i++) {
		const struct policy_project *p = &m->policy->projects[i];
		json_t *sessions = project_sessions(m, p->id);
		json_array_append_new(
		    projects,
		    json_pack(
			"{s:s, s:s?, s:s, s:s, s:o, s:o, s:b, s:I, s:I}", "id",
			p->id, "title", p->title, "image", p->image_name,
			"driver",
			p->image && p->image->driver == POLICY_DRIVER_VM ? "vm"
									 : "ns",
			"members", principals_json(&p->members),
			"output_checkers", principals_json(&p->output_checkers),
			"recording", p->recording == POLICY_REQUIRED,
			"recording_retention_days",
			(json_int_t)p->recording_retention_days,
			"active_sessions",
			(json_int_t)json_array_size(sessions)));
		json_decref(sessions);
	}
	*result = json_pack("{s:o}", "projects", projects);
	if (*result == NULL) {
		snprintf(error, error_size, "building the project list failed");
		return -1;
	}
	return 0;
}

int admin_projects_show(struct master *m, const struct admin_caller *caller,
			json_t *args, json_t **result, char *error,
			size_t error_size)
{
	const char *id = json_string_value(json_object_get(args, "id"));
	json_t *policy = NULL;
	json_t *found = NULL;
	size_t i;
	json_t *project;

	if (id == NULL) {
		snprintf(error, error_size, "missing argument: id");
		return -1;
	}
	if (m->policy)
		policy = policy_to_json(m->policy);
	json_array_foreach(json_object_get(policy, "projects"), i, project)
	{
		const char *pid =
		    json_string_value(json_object_get(project, "id"));
		if (pid && strcmp(pid, id) == 0) {
			found = json_incref(project);
			break;
		}
	}
	json_decref(policy);
	if (found == NULL) {
		snprintf(error, error_size,
			 "project %s not found in the policy in force (see "
			 "trellis-admin projects list)",
			 id);
		return -1;
	}
	*result = json_pack("{s:o, s:o}", "project", found, "active_sessions",
			    project_sessions(m, id));
	return *result ? 0 : -1;
}
