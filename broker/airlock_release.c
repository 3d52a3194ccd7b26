/* Release: an approved export becomes downloadable by its requester
 * through single-use links that expire after the policy's
 * download_link_lifetime, and an approved import is copied into the
 * requester's inbox. Only the SHA-256 of a link's token is stored.
 * A link works only while its request is released, so rejecting or
 * revoking a request stops every link issued before. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/airlock_private.h"
#include "lib/cleanup.h"
#include "lib/hex.h"
#include "lib/log.h"

/* Delivery of an approved import: each quarantined file is copied into
 * the requester's inbox under its name, owned by the inbox's owner and
 * read-only. A name already taken gets " (2)", " (3)" ... before its
 * extension, so nothing in the inbox is ever replaced. */
struct delivery_file {
	int fd; /* the quarantined file */
	char sha256[AIRLOCK_SHA256_HEX_LEN + 1];
	char name[256];
	char delivered[272]; /* the name it got in the inbox */
};

struct delivery_job {
	struct airlock_job job; /* first */
	char id[AIRLOCK_ID_HEX_LEN + 1];
	int inbox_fd;
	uid_t uid;
	gid_t gid;
	struct delivery_file *files;
	size_t count;
	char error[AIRLOCK_REASON_MAX];
	bool stopped; /* a stop of trellisd cut the delivery short */
};

static void delivery_free(struct delivery_job *d)
{
	for (size_t i = 0; i < d->count; i++)
		if (d->files[i].fd >= 0)
			close(d->files[i].fd);
	if (d->inbox_fd >= 0)
		close(d->inbox_fd);
	free(d->files);
	free(d);
}

/* Writes NAME with " (N)" before its extension into OUT. The part before
 * the extension is shortened when the result would pass NAME_MAX bytes,
 * which the file system refuses. */
static void numbered_name(const char *name, unsigned n, char *out, size_t size)
{
	char suffix[16];
	size_t len = strlen(name);
	const char *dot = strrchr(name, '.');

	if (n == 1) {
		snprintf(out, size, "%s", name);
		return;
	}
	size_t suffix_len =
	    (size_t)snprintf(suffix, sizeof(suffix), " (%u)", n);
	if (dot == NULL || dot == name ||
	    (size_t)(name + len - dot) + suffix_len >= NAME_MAX)
		dot = name + len;
	size_t stem = (size_t)(dot - name);
	size_t room = NAME_MAX - suffix_len - (len - stem);
	if (stem > room) {
		stem = room;
		/* A cut inside a UTF-8 character would leave invalid bytes. */
		while (stem > 0 && ((unsigned char)name[stem] & 0xc0) == 0x80)
			stem--;
	}
	snprintf(out, size, "%.*s%s%s", (int)stem, name, suffix, dot);
}

/* Copies F into a hidden temporary file of the inbox, checking that the
 * bytes still have their hash, then names it. */
static int deliver_file(struct delivery_job *d, struct delivery_file *f)
{
	char tmp_name[48];
	char random[17];
	unsigned char digest[32];
	char hex[AIRLOCK_SHA256_HEX_LEN + 1];
	uint64_t size = 0;
	int rc = -1;

	if (hex_random(random, 8) < 0)
		return -1;
	snprintf(tmp_name, sizeof(tmp_name), ".trellis-import-%s", random);
	int out =
	    openat(d->inbox_fd, tmp_name,
		   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0440);
	if (out < 0) {
		snprintf(d->error, sizeof(d->error),
			 "creating a file in the inbox failed: %s",
			 strerror(errno));
		goto out;
	}
	int copied =
	    airlock_copy_and_hash(&d->job, 0, f->fd, out, UINT64_MAX, digest,
				  &size, d->error, sizeof(d->error));
	if (copied < 0) {
		d->stopped = copied == -2;
		goto out;
	}
	hex_encode(digest, sizeof(digest), hex);
	if (strcmp(hex, f->sha256) != 0) {
		snprintf(d->error, sizeof(d->error),
			 "quarantined %s no longer has its SHA-256; tell a "
			 "steward",
			 f->name);
		goto out;
	}
	/* trellisd's umask would take the group's read bit. */
	if (fchown(out, d->uid, d->gid) < 0 || fchmod(out, 0440) < 0 ||
	    fsync(out) < 0) {
		snprintf(d->error, sizeof(d->error),
			 "finishing %s in the inbox failed: %s", f->name,
			 strerror(errno));
		goto out;
	}
	for (unsigned n = 1; n <= 100; n++) {
		numbered_name(f->name, n, f->delivered, sizeof(f->delivered));
		if (renameat2(d->inbox_fd, tmp_name, d->inbox_fd, f->delivered,
			      RENAME_NOREPLACE) == 0) {
			rc = 0;
			break;
		}
		if (errno != EEXIST) {
			snprintf(d->error, sizeof(d->error),
				 "naming %s in the inbox failed: %s", f->name,
				 strerror(errno));
			break;
		}
	}
	if (rc < 0 && d->error[0] == '\0')
		snprintf(d->error, sizeof(d->error),
			 "the inbox has 100 files named like %s already",
			 f->name);
out:
	if (out >= 0)
		close(out);
	if (rc < 0)
		unlinkat(d->inbox_fd, tmp_name, 0);
	return rc;
}

static int delivery_work(struct airlock_job *job)
{
	struct delivery_job *d = (struct delivery_job *)job;

	for (size_t i = 0; i < d->count; i++)
		if (deliver_file(d, &d->files[i]) < 0)
			return -1;
	fsync(d->inbox_fd);
	return 0;
}

static void delivery_done(struct airlock_job *job)
{
	struct delivery_job *d = (struct delivery_job *)job;
	struct airlock_service *svc = job->svc;
	char reason[AIRLOCK_REASON_MAX];

	/* A stop is not the request's fault, and the next start delivers
	 * it again. */
	if (job->status < 0 && d->stopped) {
		log_warn("airlock_delivery_interrupted", "request=%s error=%s",
			 d->id, d->error);
		delivery_free(d);
		return;
	}
	if (job->status < 0) {
		log_error("airlock_delivery_failed", "request=%s error=%s",
			  d->id, d->error);
		airlock_transition(svc, d->id, AIRLOCK_APPROVED, AIRLOCK_FAILED,
				   "trellisd", d->error, NULL);
		delivery_free(d);
		return;
	}
	json_t *names = json_array();
	size_t used = 0;
	used += (size_t)snprintf(reason, sizeof(reason),
				 "copied into the inbox as ");
	for (size_t i = 0; i < d->count; i++) {
		json_array_append_new(
		    names, json_pack("{s:s, s:s}", "sha256", d->files[i].sha256,
				     "name", d->files[i].delivered));
		if (used < sizeof(reason))
			used += (size_t)snprintf(
			    reason + used, sizeof(reason) - used, "%s%s",
			    i ? ", " : "", d->files[i].delivered);
	}
	json_t *details = json_pack("{s:o}", "delivered", names);
	airlock_transition(svc, d->id, AIRLOCK_APPROVED, AIRLOCK_RELEASED,
			   "trellisd", reason, details);
	json_decref(details);
	log_info("airlock_delivered", "request=%s files=%zu", d->id, d->count);
	delivery_free(d);
}

/* Starts copying the files of approved import R into its requester's
 * inbox. Returns 0, -2 when every job slot is taken, or -1 with ERROR. */
static int start_delivery(struct airlock_service *svc,
			  const struct airlock_request *r, char *error,
			  size_t error_size)
{
	struct delivery_job *d = calloc(1, sizeof(*d));
	struct stat st;

	if (d == NULL) {
		snprintf(error, error_size, "out of memory");
		return -1;
	}
	memcpy(d->id, r->id, sizeof(d->id));
	d->inbox_fd =
	    airlock_workspace_folder(svc->m->config->sessions_workspace_root,
				     r->project, r->requester, "inbox");
	if (d->inbox_fd < 0 || fstat(d->inbox_fd, &st) < 0) {
		snprintf(error, error_size,
			 "the inbox of %s in project %s is missing",
			 r->requester, r->project);
		delivery_free(d);
		return -1;
	}
	d->uid = st.st_uid;
	d->gid = st.st_gid;

	sqlite3_stmt *q = store_prepare(
	    svc->m->store, "SELECT sha256, name FROM airlock_files WHERE "
			   "request_id = ? ORDER BY position");
	if (q == NULL) {
		snprintf(error, error_size, "the airlock store failed");
		delivery_free(d);
		return -1;
	}
	sqlite3_bind_text(q, 1, r->id, -1, SQLITE_STATIC);
	while (sqlite3_step(q) == SQLITE_ROW) {
		struct delivery_file *grown =
		    reallocarray(d->files, d->count + 1, sizeof(*d->files));
		if (grown == NULL)
			break;
		d->files = grown;
		struct delivery_file *f = &d->files[d->count++];
		memset(f, 0, sizeof(*f));
		snprintf(f->sha256, sizeof(f->sha256), "%s",
			 sqlite3_column_text(q, 0));
		snprintf(f->name, sizeof(f->name), "%s",
			 sqlite3_column_text(q, 1));
		f->fd = airlock_quarantine_open(svc, f->sha256);
		if (f->fd < 0) {
			snprintf(error, error_size,
				 "quarantined %s is missing; tell a steward",
				 f->name);
			break;
		}
	}
	sqlite3_reset(q);
	if (d->count == 0 || d->files[d->count - 1].fd < 0) {
		if (d->count == 0)
			snprintf(error, error_size, "the request has no files");
		delivery_free(d);
		return -1;
	}
	d->job.work = delivery_work;
	d->job.done = delivery_done;
	if (airlock_job_start(svc, &d->job) < 0) {
		delivery_free(d);
		return -2;
	}
	return 0;
}

/* Keeps ID for the next free job slot. */
static void delivery_wait(struct airlock_service *svc, const char *id)
{
	if (svc->waiting_deliveries == NULL)
		svc->waiting_deliveries = json_array();
	if (svc->waiting_deliveries == NULL ||
	    json_array_append_new(svc->waiting_deliveries, json_string(id)) <
		0) {
		log_error("airlock_delivery_failed", "request=%s error=%s", id,
			  "out of memory; trellisd delivers it at its next "
			  "start");
		return;
	}
	log_info("airlock_delivery_waiting", "request=%s waiting=%zu", id,
		 json_array_size(svc->waiting_deliveries));
}

void airlock_deliveries_resume(struct airlock_service *svc)
{
	char id[AIRLOCK_ID_HEX_LEN + 1];
	/* Each is tried once: one that finds the table full again goes
	 * back to the end, and one withdrawn meanwhile is dropped. */
	size_t count = json_array_size(svc->waiting_deliveries);

	for (size_t i = 0; i < count; i++) {
		snprintf(id, sizeof(id), "%s",
			 json_string_value(
			     json_array_get(svc->waiting_deliveries, 0)));
		json_array_remove(svc->waiting_deliveries, 0);
		airlock_release(svc, id);
	}
}

void airlock_release(struct airlock_service *svc, const char *id)
{
	struct airlock_request r;
	char error[AIRLOCK_REASON_MAX];

	if (airlock_request_load(svc, id, &r) <= 0)
		return;
	if (r.state != AIRLOCK_APPROVED) {
		airlock_request_clear(&r);
		return;
	}
	if (r.direction == POLICY_EXPORT) {
		airlock_transition(
		    svc, id, AIRLOCK_APPROVED, AIRLOCK_RELEASED, "trellisd",
		    "the requester may download the files", NULL);
	} else {
		int rc = start_delivery(svc, &r, error, sizeof(error));
		/* A full job table is not the request's fault: it stays
		 * approved until a job ends. */
		if (rc == -2)
			delivery_wait(svc, id);
		if (rc == -1) {
			log_error("airlock_delivery_failed",
				  "request=%s error=%s", id, error);
			airlock_transition(svc, id, AIRLOCK_APPROVED,
					   AIRLOCK_FAILED, "trellisd", error,
					   NULL);
		}
	}
	airlock_request_clear(&r);
}

static void token_hash_hex(const char *token, char out[65])
{
	unsigned char digest[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)token, strlen(token), digest);
	hex_encode(digest, sizeof(digest), out);
}

static int new_token(char token[AIRLOCK_TOKEN_LEN + 1])
{
	unsigned char bytes[AIRLOCK_TOKEN_BYTES];
	unsigned char encoded[4 * ((AIRLOCK_TOKEN_BYTES + 2) / 3) + 1];

	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
		return -1;
	EVP_EncodeBlock(encoded, bytes, sizeof(bytes));
	explicit_bzero(bytes, sizeof(bytes));
	/* base64 to base64url, without the padding. */
	for (size_t i = 0; i < AIRLOCK_TOKEN_LEN; i++)
		token[i] = encoded[i] == '+'   ? '-'
			   : encoded[i] == '/' ? '_'
					       : (char)encoded[i];
	token[AIRLOCK_TOKEN_LEN] = '\0';
	explicit_bzero(encoded, sizeof(encoded));
	return 0;
}

/* The answer for a link or download on a request in STATE, or 0 when the
 * state allows downloads. */
static int download_status(enum airlock_state state, char *error,
			   size_t error_size, const char *id)
{
	if (state == AIRLOCK_RELEASED)
		return 0;
	snprintf(error, error_size,
		 "request %s is %s; its files cannot be "
		 "downloaded",
		 id, airlock_state_name(state));
	return state == AIRLOCK_REJECTED || state == AIRLOCK_REVOKED ||
		       state == AIRLOCK_WITHDRAWN || state == AIRLOCK_BLOCKED ||
		       state == AIRLOCK_FAILED
		   ? 403
		   : 409;
}

int airlock_link_create(struct airlock_service *svc,
			const struct airlock_request *r, const char *sha256,
			const char *actor, char token[AIRLOCK_TOKEN_LEN + 1],
			int64_t *expires_ms, int *status, char *error,
			size_t error_size)
{
	struct store *store = svc->m->store;
	char hash[65];

	*status = download_status(r->state, error, error_size, r->id);
	if (*status != 0)
		return -1;
	const struct policy_project *project =
	    policy_find_project(svc->m->policy, r->project);
	if (project == NULL) {
		*status = 403;
		snprintf(error, error_size, "project %s is not in the policy",
			 r->project);
		return -1;
	}
	int64_t now_ms = time_wall_ms();
	*expires_ms = now_ms + policy_project_airlock(project, r->direction)
				   ->download_link_lifetime_ms;
	if (new_token(token) < 0)
		goto fail;
	token_hash_hex(token, hash);

	if (store_begin(store) < 0)
		goto fail;
	sqlite3_stmt *st = store_prepare(
	    store, "INSERT INTO airlock_links (token_hash, request_id, sha256, "
		   "created_by, created_ms, expires_ms) SELECT ?, request_id, "
		   "sha256, ?, ?, ? FROM airlock_files WHERE request_id = ? "
		   "AND sha256 = ?");
	if (st == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	sqlite3_bind_int64(st, 4, *expires_ms);
	sqlite3_bind_text(st, 5, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, sha256, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store_log_step_error(store, st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto rollback;
	if (sqlite3_changes(store_db(store)) == 0) {
		store_rollback(store);
		*status = 404;
		snprintf(error, error_size,
			 "request %s has no file with SHA-256 %s", r->id,
			 sha256);
		return -1;
	}
	json_t *details = json_pack("{s:s, s:I}", "sha256", sha256,
				    "expires_ms", (json_int_t)*expires_ms);
	int64_t seq = audit_append(svc->m->audit, actor, "airlock.link", r->id,
				   "success", details);
	json_decref(details);
	if (seq < 0)
		goto rollback;
	if (store_commit(store) < 0)
		goto fail;
	return 0;

rollback:
	store_rollback(store);
fail:
	explicit_bzero(token, AIRLOCK_TOKEN_LEN + 1);
	*status = 500;
	snprintf(error, error_size, "creating the link failed; try again");
	return -1;
}

int airlock_link_use(struct airlock_service *svc, const char *token,
		     const struct policy_subject *subject, const char *actor,
		     char **file_name, int *status, char *error,
		     size_t error_size)
{
	struct store *store = svc->m->store;
	struct airlock_request r = {0};
	struct policy_decision decision;
	char hash[65], id[AIRLOCK_ID_HEX_LEN + 1] = "";
	char sha256[AIRLOCK_SHA256_HEX_LEN + 1] = "";
	int64_t expires_ms = 0;
	bool used = false;
	int fd = -1;

	*status = 500;
	snprintf(error, error_size, "the airlock store failed; try again");
	token_hash_hex(token, hash);
	if (store_begin(store) < 0)
		return -1;

	sqlite3_stmt *st = store_prepare(
	    store, "SELECT request_id, sha256, expires_ms, used_ms IS NOT "
		   "NULL FROM airlock_links WHERE token_hash = ?");
	if (st == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(id, sizeof(id), "%s", sqlite3_column_text(st, 0));
		snprintf(sha256, sizeof(sha256), "%s",
			 sqlite3_column_text(st, 1));
		expires_ms = sqlite3_column_int64(st, 2);
		used = sqlite3_column_int(st, 3) != 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		*status = rc == SQLITE_DONE ? 404 : 500;
		if (rc == SQLITE_DONE)
			snprintf(error, error_size, "no such download link");
		goto rollback;
	}
	if (airlock_request_load(svc, id, &r) <= 0)
		goto rollback;

	*status = download_status(r.state, error, error_size, id);
	if (*status != 0)
		goto rollback;
	*status = 403;
	if (!airlock_decide(svc, actor, subject, POLICY_ACTION_AIRLOCK_DOWNLOAD,
			    &r, &decision)) {
		snprintf(error, error_size, "permission denied: %s",
			 decision.reason);
		goto rollback;
	}
	if (used) {
		snprintf(error, error_size,
			 "this download link was used "
			 "already; ask for a new one");
		goto rollback;
	}
	if (expires_ms <= time_wall_ms()) {
		snprintf(error, error_size,
			 "this download link expired; ask "
			 "for a new one");
		goto rollback;
	}

	*status = 500;
	fd = airlock_quarantine_open(svc, sha256);
	st = store_prepare(store, "UPDATE airlock_links SET used_ms = ? "
				  "WHERE token_hash = ?");
	if (fd < 0 || st == NULL)
		goto rollback;
	sqlite3_bind_int64(st, 1, time_wall_ms());
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	json_t *details = json_pack("{s:s}", "sha256", sha256);
	int64_t seq = rc == SQLITE_DONE ? audit_append(svc->m->audit, actor,
						       "airlock.download", id,
						       "success", details)
					: -1;
	json_decref(details);
	if (seq < 0)
		goto rollback;
	if (store_commit(store) < 0)
		goto close;

	st = store_prepare(store, "SELECT name FROM airlock_files WHERE "
				  "request_id = ? AND sha256 = ?");
	if (st) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, sha256, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			*file_name =
			    strdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
	airlock_request_clear(&r);
	*status = 200;
	return fd;

rollback:
	store_rollback(store);
close:
	if (fd >= 0)
		close(fd);
	airlock_request_clear(&r);
	return -1;
}

int airlock_revoke(struct airlock_service *svc, const char *id,
		   const struct policy_subject *subject, const char *actor,
		   const char *reason, int *status, char *error,
		   size_t error_size)
{
	struct airlock_request r;
	struct policy_decision decision;

	int found = airlock_request_load(svc, id, &r);
	if (found <= 0) {
		*status = found == 0 ? 404 : 500;
		snprintf(error, error_size,
			 found == 0 ? "request %s not found"
				    : "reading request %s failed",
			 id);
		return -1;
	}
	if (!airlock_decide(svc, actor, subject, POLICY_ACTION_AIRLOCK_REVOKE,
			    &r, &decision)) {
		*status = 403;
		snprintf(error, error_size, "permission denied: %s",
			 decision.reason);
		airlock_request_clear(&r);
		return -1;
	}
	int rc = airlock_transition(svc, id, r.state, AIRLOCK_REVOKED, actor,
				    reason, NULL);
	if (rc != 0) {
		*status = rc == 1 ? 409 : 500;
		snprintf(error, error_size,
			 "request %s is %s; only approved or released "
			 "requests can be revoked",
			 id, airlock_state_name(r.state));
		airlock_request_clear(&r);
		return -1;
	}
	airlock_request_clear(&r);
	return 0;
}
