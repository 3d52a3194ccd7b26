/* Review: output checkers vote per file, and the votes decide the request.
 *
 * A reviewer has submitted once they voted on every file of the current
 * round. A submitted reviewer with a "reject" vote rejects the request, one
 * with a "changes" vote sends it back to the requester, and the request is
 * approved when as many submitted reviewers as the policy requires voted
 * "approve" on every file. Votes are final. The vote and the decision are
 * one BEGIN IMMEDIATE transaction, so two reviewers voting at the same
 * moment see each other's vote in order and reach one outcome. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/airlock_private.h"
#include "lib/cleanup.h"
#include "lib/log.h"

static const char *const vote_names[] = {
    [AIRLOCK_VOTE_APPROVE] = "approve",
    [AIRLOCK_VOTE_CHANGES] = "changes",
    [AIRLOCK_VOTE_REJECT] = "reject",
};

int airlock_vote_from_name(const char *name, enum airlock_vote *out)
{
	for (size_t i = 0; name && i < sizeof(vote_names) / sizeof(*vote_names);
	     i++) {
		if (strcmp(vote_names[i], name) == 0) {
			*out = (enum airlock_vote)i;
			return 0;
		}
	}
	return -1;
}

static int64_t count_files(struct store *store, const char *id)
{
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT count(*) FROM airlock_files WHERE request_id = ?");
	int64_t count = -1;
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		count = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return count;
}

/* Returns 1 when request ID has a file SHA256, 0 when not, -1 on error. */
static int has_file(struct store *store, const char *id, const char *sha256)
{
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT 1 FROM airlock_files WHERE request_id = ? AND "
		   "sha256 = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sha256, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int insert_vote(struct store *store, const struct airlock_request *r,
		       const char *reviewer, const char *sha256,
		       enum airlock_vote vote, const char *comment)
{
	sqlite3_stmt *st = store_prepare(
	    store, "INSERT INTO airlock_votes (request_id, round, reviewer, "
		   "sha256, vote, comment, created_ms) VALUES (?, ?, ?, ?, ?, "
		   "?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->round);
	sqlite3_bind_text(st, 3, reviewer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, vote_names[vote], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, comment, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, time_wall_ms());
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_CONSTRAINT)
		return 1;
	if (rc != SQLITE_DONE) {
		store_log_step_error(store, st);
		return -1;
	}
	return 0;
}

/* Applies the rules of the file comment to the votes of R's round. Sets
 * *TO and REASON and returns true when the votes decide the request. */
static bool decide(struct store *store, const struct airlock_request *r,
		   uint32_t approvals_required, enum airlock_state *to,
		   char *reason, size_t reason_size)
{
	int64_t files = count_files(store, r->id);
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT reviewer, count(*), sum(vote = 'approve'), "
		   "sum(vote = 'changes'), sum(vote = 'reject') FROM "
		   "airlock_votes WHERE request_id = ? AND round = ? GROUP BY "
		   "reviewer ORDER BY min(created_ms)");
	uint32_t approving = 0;
	bool rejected = false, changes = false;

	if (st == NULL || files <= 0)
		return false;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->round);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *reviewer = (const char *)sqlite3_column_text(st, 0);
		if (sqlite3_column_int64(st, 1) < files)
			continue;
		if (sqlite3_column_int64(st, 4) > 0 && !rejected) {
			rejected = true;
			snprintf(reason, reason_size,
				 "rejected by output checker %s", reviewer);
		} else if (sqlite3_column_int64(st, 3) > 0 && !changes &&
			   !rejected) {
			changes = true;
			snprintf(reason, reason_size,
				 "output checker %s requested changes",
				 reviewer);
		} else if (sqlite3_column_int64(st, 2) == files) {
			approving++;
		}
	}
	sqlite3_reset(st);

	if (rejected)
		*to = AIRLOCK_REJECTED;
	else if (changes)
		*to = AIRLOCK_CHANGES_REQUESTED;
	else if (approving >= approvals_required) {
		*to = AIRLOCK_APPROVED;
		snprintf(reason, reason_size,
			 "approved by %u independent output checkers",
			 approving);
	} else
		return false;
	return true;
}

int airlock_vote(struct airlock_service *svc, const char *id,
		 const struct policy_subject *subject, const char *actor,
		 const char *sha256, enum airlock_vote vote,
		 const char *comment, enum airlock_state *state_out,
		 int *status, char *error, size_t error_size)
{
	struct store *store = svc->m->store;
	struct airlock_request r = {0};
	struct policy_decision decision;
	enum airlock_state to;
	char reason[AIRLOCK_REASON_MAX];

	*status = 500;
	snprintf(error, error_size, "the airlock store failed; try again");
	if (store_begin(store) < 0)
		return -1;

	int found = airlock_request_load(svc, id, &r);
	if (found <= 0) {
		if (found == 0) {
			*status = 404;
			snprintf(error, error_size, "request %s not found", id);
		}
		goto rollback;
	}
	if (!airlock_decide(svc, actor, subject, POLICY_ACTION_AIRLOCK_REVIEW,
			    &r, &decision)) {
		*status = 403;
		snprintf(error, error_size, "permission denied: %s",
			 decision.reason);
		goto rollback;
	}
	if (r.state != AIRLOCK_IN_REVIEW) {
		*status = 409;
		snprintf(error, error_size,
			 "request %s is %s; votes are taken only in review",
			 id, airlock_state_name(r.state));
		goto rollback;
	}
	int file = has_file(store, id, sha256);
	if (file <= 0) {
		if (file == 0) {
			*status = 404;
			snprintf(error, error_size,
				 "request %s has no file with SHA-256 %s", id,
				 sha256);
		}
		goto rollback;
	}

	int inserted = insert_vote(store, &r, subject->user, sha256, vote,
				   comment);
	if (inserted != 0) {
		if (inserted == 1) {
			*status = 409;
			snprintf(error, error_size,
				 "%s already voted on this file; votes are "
				 "final",
				 subject->user);
		}
		goto rollback;
	}
	json_t *details = json_pack("{s:s, s:s, s:I, s:s}", "sha256", sha256,
				    "vote", vote_names[vote], "round",
				    (json_int_t)r.round, "comment", comment);
	int64_t seq = audit_append(svc->m->audit, actor, "airlock.vote", id,
				   "success", details);
	json_decref(details);
	if (seq < 0)
		goto rollback;

	const struct policy_project *project =
	    policy_find_project(svc->m->policy, r.project);
	uint32_t required =
	    project ? policy_project_airlock(project, r.direction)->approvals
		    : UINT32_MAX;
	*state_out = AIRLOCK_IN_REVIEW;
	if (decide(store, &r, required, &to, reason, sizeof(reason))) {
		if (airlock_transition(svc, id, AIRLOCK_IN_REVIEW, to, actor,
				       reason, NULL) != 0)
			goto rollback;
		*state_out = to;
	}
	if (store_commit(store) < 0)
		goto out;

	log_info("airlock_vote", "request=%s reviewer=%s sha256=%s vote=%s "
				 "state=%s",
		 id, subject->user, sha256, vote_names[vote],
		 airlock_state_name(*state_out));
	airlock_request_clear(&r);
	if (*state_out == AIRLOCK_APPROVED)
		airlock_release(svc, id);
	return 0;

rollback:
	store_rollback(store);
out:
	airlock_request_clear(&r);
	return -1;
}

json_t *airlock_votes_json(struct airlock_service *svc,
			   const struct airlock_request *r, const char *viewer)
{
	struct store *store = svc->m->store;
	int64_t files = count_files(store, r->id);
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT reviewer, sha256, vote, comment, created_ms, "
		   "(SELECT count(*) FROM airlock_votes AS mine WHERE "
		   "mine.request_id = v.request_id AND mine.round = v.round "
		   "AND mine.reviewer = v.reviewer) FROM airlock_votes AS v "
		   "WHERE request_id = ? AND round = ? ORDER BY created_ms");
	json_t *all = json_array(), *mine = json_array(),
	       *done = json_array();
	int64_t viewer_votes = 0;

	if (st == NULL || !all || !mine || !done)
		goto fail;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->round);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *reviewer = (const char *)sqlite3_column_text(st, 0);
		json_t *vote = json_pack(
		    "{s:s, s:s, s:s, s:s, s:I}", "reviewer", reviewer,
		    "sha256", sqlite3_column_text(st, 1), "vote",
		    sqlite3_column_text(st, 2), "comment",
		    sqlite3_column_text(st, 3), "created_ms",
		    (json_int_t)sqlite3_column_int64(st, 4));
		bool own = viewer && strcmp(viewer, reviewer) == 0;
		if (own) {
			viewer_votes++;
			json_array_append(mine, vote);
		}
		if (sqlite3_column_int64(st, 5) >= files) {
			bool listed = false;
			size_t i;
			json_t *name;
			json_array_foreach(done, i, name) listed |=
			    strcmp(json_string_value(name), reviewer) == 0;
			if (!listed)
				json_array_append_new(done,
						      json_string(reviewer));
		}
		json_array_append_new(all, vote);
	}
	sqlite3_reset(st);

	/* Blind review: while the request is in review, a reviewer sees
	 * the others' votes only after submitting their own on every
	 * file, and the requester sees none. */
	bool hidden = viewer != NULL && r->state == AIRLOCK_IN_REVIEW &&
		      viewer_votes < files;
	json_t *body = json_pack("{s:b, s:o, s:o, s:I}", "hidden", hidden,
				 "mine", mine, "submitted_reviewers", done,
				 "round", (json_int_t)r->round);
	if (hidden) {
		json_decref(all);
		json_object_set_new(body, "all", json_null());
	} else {
		json_object_set_new(body, "all", all);
	}
	return body;

fail:
	json_decref(all);
	json_decref(mine);
	json_decref(done);
	return NULL;
}
