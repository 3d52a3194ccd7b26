/* The members of the groups that a policy names as output checkers, read
 * from the directory, so that mail about new work reaches checkers who
 * never used the portal (docs/airlock.md, "Notifications").
 *
 * At start and then every AIRLOCK_DIRECTORY_REFRESH_MS, a file job lists
 * each checkers' group with its own directory handle, off the master's
 * loop. The loop then replaces the stored members of every group that was
 * listed. A group whose lookup failed keeps its last members. */
#include <stdlib.h>
#include <string.h>

#include "broker/airlock_private.h"
#include "broker/auth/ldap_login.h"
#include "broker/login.h"
#include "lib/event.h"
#include "lib/log.h"

struct directory_job {
	struct airlock_job job; /* first */
	struct auth_ldap *ldap;
	json_t *groups;	 /* array of group DNs to list */
	json_t *members; /* object: group DN -> array of members */
};

static int directory_work(struct airlock_job *job)
{
	struct directory_job *d = (struct directory_job *)job;
	size_t i;
	json_t *dn;

	json_array_foreach(d->groups, i, dn)
	{
		json_t *members = NULL;
		if (auth_ldap_group_members(d->ldap, json_string_value(dn),
					    &members) == AUTH_OK)
			json_object_set_new(d->members, json_string_value(dn),
					    members);
	}
	return 0;
}

static int store_group(struct store *store, const char *dn, json_t *members,
		       int64_t now_ms)
{
	sqlite3_stmt *st = store_prepare(
	    store, "DELETE FROM airlock_directory_members WHERE group_dn = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, dn, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;

	size_t i;
	json_t *member;
	json_array_foreach(members, i, member)
	{
		st = store_prepare(
		    store, "INSERT OR REPLACE INTO airlock_directory_members "
			   "(group_dn, username, email, refreshed_ms) VALUES "
			   "(?, ?, ?, ?)");
		if (st == NULL)
			return -1;
		const char *email =
		    json_string_value(json_object_get(member, "email"));
		sqlite3_bind_text(st, 1, dn, -1, SQLITE_STATIC);
		sqlite3_bind_text(
		    st, 2,
		    json_string_value(json_object_get(member, "username")), -1,
		    SQLITE_STATIC);
		if (email)
			sqlite3_bind_text(st, 3, email, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 3);
		sqlite3_bind_int64(st, 4, now_ms);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
			store_log_step_error(store, st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

static void directory_done(struct airlock_job *job)
{
	struct directory_job *d = (struct directory_job *)job;
	struct airlock_service *svc = job->svc;
	struct store *store = svc->m->store;
	int64_t now_ms = time_wall_ms();
	const char *dn;
	json_t *members;
	size_t found = 0;

	svc->directory_busy = false;
	if (store_begin(store) < 0)
		goto out;
	int rc = 0;
	json_object_foreach(d->members, dn, members)
	{
		found += json_array_size(members);
		if (rc == 0)
			rc = store_group(store, dn, members, now_ms);
	}
	if (rc == 0)
		rc = store_commit(store);
	else
		store_rollback(store);
	if (rc < 0)
		log_error("airlock_checkers_refresh_failed", "error=%s",
			  "storing the group members failed");
	else
		log_info("airlock_checkers_refreshed",
			 "groups=%zu listed=%zu members=%zu",
			 json_array_size(d->groups),
			 json_object_size(d->members), found);
out:
	json_decref(d->groups);
	json_decref(d->members);
	free(d);
}

/* The DNs of every group that the policy names as output checkers. */
static json_t *checker_groups(const struct policy *policy)
{
	json_t *groups = json_array();
	const struct yaml_string_list *global = &policy->global_checkers.groups;

	for (size_t i = 0; groups && i < global->count; i++)
		json_array_append_new(groups, json_string(global->items[i]));
	for (size_t p = 0; groups && p < policy->project_count; p++) {
		const struct yaml_string_list *list =
		    &policy->projects[p].output_checkers.groups;
		for (size_t i = 0; i < list->count; i++)
			json_array_append_new(groups,
					      json_string(list->items[i]));
	}
	return groups;
}

static void refresh(struct airlock_service *svc)
{
	if (svc->directory == NULL || svc->directory_busy)
		return;
	struct directory_job *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return;
	d->ldap = svc->directory;
	d->groups = checker_groups(svc->m->policy);
	d->members = json_object();
	d->job.work = directory_work;
	d->job.done = directory_done;
	if (d->groups == NULL || d->members == NULL ||
	    json_array_size(d->groups) == 0 ||
	    airlock_job_start(svc, &d->job) < 0) {
		/* No group to list, or every job slot is taken: the next
		 * timer tries again. */
		json_decref(d->groups);
		json_decref(d->members);
		free(d);
		return;
	}
	svc->directory_busy = true;
}

void airlock_checkers_refresh(struct airlock_service *svc)
{
	refresh(svc);
}

static void on_refresh_timer(struct event_loop *loop, void *arg)
{
	struct airlock_service *svc = arg;

	svc->directory_timer = event_add_timer(
	    loop, AIRLOCK_DIRECTORY_REFRESH_MS, on_refresh_timer, svc);
	refresh(svc);
}

int airlock_directory_start(struct airlock_service *svc)
{
	if (login_directory_open_ldap(svc->m->config, &svc->directory) < 0)
		return -1;
	if (svc->directory == NULL)
		return 0;
	svc->directory_timer =
	    event_add_timer(svc->m->loop, 0, on_refresh_timer, svc);
	return 0;
}

void airlock_directory_stop(struct airlock_service *svc)
{
	if (svc->directory_timer)
		event_cancel_timer(svc->m->loop, svc->directory_timer);
	svc->directory_timer = 0;
	/* The jobs have stopped, so no thread uses the handle. */
	if (svc->directory)
		auth_ldap_close(svc->directory);
	svc->directory = NULL;
}
