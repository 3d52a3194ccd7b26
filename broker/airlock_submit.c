/* Getting files into the airlock from the portal:
 *
 *   GET  /api/airlock/outbox?project=P      the caller's outbox files
 *   POST /api/airlock/uploads?project=P     one file of an import, streamed
 *   POST /api/airlock/requests              a new export or import
 *   POST /api/airlock/requests/ID/resubmit  new files after changes
 *
 * Every file is copied into quarantine before a request names it. The
 * copies run as airlock jobs, off the master's loop, and the reply waits
 * for them.
 *
 * An upload is streamed. trellis-web forwards the call with the body's
 * length and does not read the body yet. The master decides the call,
 * makes a pipe and replies "continue" with its write end, and trellis-web
 * writes the body into it. A job reads the other end into quarantine,
 * hashing as it goes and stopping at the policy's size limit. Then the
 * master replies with the upload's id. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/airlock_web.h"
#include "lib/hex.h"
#include "lib/cleanup.h"
#include "lib/event.h"
#include "lib/ipc.h"
#include "lib/log.h"

/* An upload not named by a request within this time is removed. */
#define UPLOAD_LIFETIME_MS (24 * 3600 * 1000LL)
/* Outbox listing bounds. */
#define OUTBOX_LIST_MAX	 1000
#define OUTBOX_DEPTH_MAX 8
#define FILE_NAME_MAX	 255

/* The project named by ?project=, or NULL after replying 400. */
static const char *query_project(struct call *c, char *out, size_t size)
{
	if (!airlock_query_value(c->query, "project", out, size) ||
	    out[0] == '\0') {
		airlock_call_error(c, 400, "name the project: ?project=ID");
		return NULL;
	}
	return out;
}

/* Decides that the caller may submit COUNT files for PROJECT in
 * DIRECTION. Returns the project's airlock rules, or NULL after replying
 * 403. */
static const struct policy_airlock *may_submit(struct call *c,
					       const char *project,
					       enum policy_direction direction,
					       size_t count)
{
	struct policy_decision decision;
	struct policy_resource resource = {.project = project,
					   .direction = direction,
					   .file_count = (uint32_t)count};
	char message[POLICY_REASON_MAX + 32];

	if (!master_policy_decide(c->svc->m, c->actor, &c->subject,
				  POLICY_ACTION_AIRLOCK_SUBMIT, &resource,
				  &decision)) {
		snprintf(message, sizeof(message), "permission denied: %s",
			 decision.reason);
		airlock_call_error(c, 403, message);
		return NULL;
	}
	return policy_project_airlock(
	    policy_find_project(c->svc->m->policy, project), direction);
}

/* A file name for an inbox: 1 to 255 bytes, not "." or "..", without
 * '/', '\' or control characters. */
static bool file_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > FILE_NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f ||
		    name[i] == '/' || name[i] == '\\')
			return false;
	/* Direction marks (U+200E, U+200F, U+202A to U+202E, U+2066 to
	 * U+2069) can make "x<U+202E>vsc.exe" show as "xexe.csv". */
	for (size_t i = 0; i + 2 < len; i++) {
		unsigned char lead = (unsigned char)name[i];
		unsigned char mid = (unsigned char)name[i + 1];
		unsigned char last = (unsigned char)name[i + 2];
		if (lead != 0xe2)
			continue;
		if (mid == 0x80 && (last == 0x8e || last == 0x8f ||
				    (last >= 0xaa && last <= 0xae)))
			return false;
		if (mid == 0x81 && last >= 0xa6 && last <= 0xa9)
			return false;
	}
	return true;
}

/* The HTTP status for a failed copy: 413 over the size limit, 503 when
 * trellisd stops (the client may try again), 400 otherwise. */
static int copy_error_status(const char *error)
{
	if (strstr(error, "than the limit"))
		return 413;
	if (strstr(error, "trellisd is stopping"))
		return 503;
	return 400;
}

/* The reply when a file job cannot start: RC from airlock_job_start. */
static const char *busy_message(int rc)
{
	return rc == -2 ? "you have too many uploads or copies running; "
			  "wait for them to finish"
			: "too many uploads and copies are running; try "
			  "again in a minute";
}

/* A copy of the parts of a call that a reply after a job needs. */
struct pending_call {
	struct airlock_service *svc;
	uint32_t id;
	char path[64];
	char actor[96];
	char user[128];
	char login[LOGIN_SESSION_ID_HEX_LEN + 1]; /* the caller's login */
};

static void pending_call_init(struct pending_call *p, const struct call *c)
{
	p->svc = c->svc;
	p->id = c->id;
	snprintf(p->path, sizeof(p->path), "%s", c->path);
	snprintf(p->actor, sizeof(p->actor), "%s", c->actor);
	snprintf(p->user, sizeof(p->user), "%s", c->who.username);
	snprintf(p->login, sizeof(p->login), "%s", c->who.session_id);
}

/* A call to reply through, for code that runs after a job. */
static struct call pending_as_call(struct pending_call *p)
{
	return (struct call){.svc = p->svc,
			     .id = p->id,
			     .path = p->path,
			     .who = {.username = p->user},
			     .subject = {.user = p->user}};
}

/* Outbox listing */

struct outbox_walk {
	json_t *files;
	bool truncated;
	char path[AIRLOCK_PATH_MAX];
};

/* Lists the regular files below DIR_FD, whose path from the outbox is
 * WALK->path (LEN bytes). Symbolic links and special files are left out,
 * and no link is followed. Takes DIR_FD. */
static void walk_outbox(struct outbox_walk *walk, int dir_fd, size_t len,
			int depth)
{
	DIR *dir = fdopendir(dir_fd);
	struct dirent *entry;

	if (dir == NULL) {
		close(dir_fd);
		return;
	}
	while ((entry = readdir(dir)) != NULL) {
		struct stat st;
		const char *name = entry->d_name;
		size_t name_len = strlen(name);

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (json_array_size(walk->files) >= OUTBOX_LIST_MAX) {
			walk->truncated = true;
			break;
		}
		if (len + name_len + 2 > sizeof(walk->path) ||
		    fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (len)
			walk->path[len] = '/';
		memcpy(walk->path + len + (len ? 1 : 0), name, name_len + 1);
		size_t sub_len = len + (len ? 1 : 0) + name_len;
		if (S_ISREG(st.st_mode)) {
			json_t *path = json_stringn(walk->path, sub_len);
			/* A name that is not UTF-8 cannot be sent as JSON. */
			if (path)
				json_array_append_new(
				    walk->files,
				    json_pack(
					"{s:o, s:I, s:I}", "path", path,
					"size_bytes", (json_int_t)st.st_size,
					"modified_ms",
					(json_int_t)st.st_mtim.tv_sec * 1000 +
					    st.st_mtim.tv_nsec / 1000000));
		} else if (S_ISDIR(st.st_mode) && depth < OUTBOX_DEPTH_MAX) {
			int sub = openat(dirfd(dir), name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
			if (sub >= 0)
				walk_outbox(walk, sub, sub_len, depth + 1);
		}
		walk->path[len] = '\0';
	}
	closedir(dir);
}

void airlock_op_outbox(struct call *c)
{
	char project[80];

	if (!query_project(c, project, sizeof(project)) ||
	    !may_submit(c, project, POLICY_EXPORT, 1))
		return;
	int fd =
	    airlock_workspace_folder(c->svc->m->config->sessions_workspace_root,
				     project, c->who.username, "outbox");
	if (fd < 0) {
		airlock_call_error(c, 404,
				   "your outbox in this project does not exist "
				   "yet; start a desktop of the project once");
		return;
	}
	struct outbox_walk walk = {.files = json_array()};
	if (walk.files == NULL) {
		close(fd);
		airlock_call_error(c, 500, "out of memory");
		return;
	}
	walk_outbox(&walk, fd, 0, 0);
	airlock_call_json(c, 200,
			  json_pack("{s:s, s:o, s:b}", "project", project,
				    "files", walk.files, "truncated",
				    walk.truncated));
}

/* Uploads */

struct upload_job {
	struct airlock_copy_job copy; /* first: the job */
	struct pending_call call;
	char project[80];
};

/* Whether the quarantined file SHA256 was written after CREATED_MS. A
 * copy of the same content that is still in a job, or that the caller
 * has not stored yet, renames a new file onto that name. */
static bool quarantined_since(struct airlock_service *svc, const char *sha256,
			      int64_t created_ms)
{
	struct stat st;

	if (fstatat(svc->quarantine_fd, sha256, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	return (int64_t)st.st_mtim.tv_sec * 1000 +
		   st.st_mtim.tv_nsec / 1000000 >
	       created_ms;
}

/* Removes the quarantined file SHA256 when no request or upload names it
 * and nothing wrote it after SINCE_MS (see quarantined_since). */
static void remove_unused_bytes(struct airlock_service *svc, const char *sha256,
				int64_t since_ms)
{
	sqlite3_stmt *used = store_prepare(
	    svc->m->store,
	    "SELECT (SELECT count(*) FROM airlock_files WHERE sha256 = ?1) + "
	    "(SELECT count(*) FROM airlock_previous_files WHERE sha256 = "
	    "?1) + (SELECT count(*) FROM airlock_uploads WHERE sha256 = ?1)");

	if (used == NULL)
		return;
	sqlite3_bind_text(used, 1, sha256, -1, SQLITE_STATIC);
	bool unused = sqlite3_step(used) == SQLITE_ROW &&
		      sqlite3_column_int64(used, 0) == 0;
	sqlite3_reset(used);
	if (unused && airlock_sha256_valid(sha256) &&
	    !quarantined_since(svc, sha256, since_ms))
		unlinkat(svc->quarantine_fd, sha256, 0);
}

/* Removes expired uploads, and their quarantined bytes when nothing else
 * names them. */
static void expire_uploads(struct airlock_service *svc, int64_t now_ms)
{
	struct store *store = svc->m->store;
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT id, sha256, created_ms FROM airlock_uploads WHERE "
		   "expires_ms < ? LIMIT 100");
	json_t *expired = json_array();

	if (st == NULL || expired == NULL) {
		json_decref(expired);
		return;
	}
	sqlite3_bind_int64(st, 1, now_ms);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(
		    expired,
		    json_pack("[s, s, I]", sqlite3_column_text(st, 0),
			      sqlite3_column_text(st, 1),
			      (json_int_t)sqlite3_column_int64(st, 2)));
	sqlite3_reset(st);

	size_t i;
	json_t *row;
	json_array_foreach(expired, i, row)
	{
		const char *id = json_string_value(json_array_get(row, 0));
		const char *sha256 = json_string_value(json_array_get(row, 1));
		int64_t created_ms = json_integer_value(json_array_get(row, 2));
		sqlite3_stmt *del = store_prepare(
		    store, "DELETE FROM airlock_uploads WHERE id = ?");
		if (del == NULL)
			break;
		sqlite3_bind_text(del, 1, id, -1, SQLITE_STATIC);
		sqlite3_step(del);
		sqlite3_reset(del);
		remove_unused_bytes(svc, sha256, created_ms);
		log_info("airlock_upload_expired", "upload=%s sha256=%s", id,
			 sha256);
	}
	json_decref(expired);
}

static int insert_upload(struct airlock_service *svc, const char *id,
			 const struct upload_job *job, int64_t now_ms)
{
	sqlite3_stmt *st = store_prepare(
	    svc->m->store,
	    "INSERT INTO airlock_uploads (id, project, owner, name, sha256, "
	    "size_bytes, created_ms, expires_ms) VALUES (?, ?, ?, '', ?, ?, "
	    "?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, job->project, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, job->call.user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, job->copy.sources[0].sha256, -1,
			  SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)job->copy.sources[0].size);
	sqlite3_bind_int64(st, 6, now_ms);
	sqlite3_bind_int64(st, 7, now_ms + UPLOAD_LIFETIME_MS);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store_log_step_error(svc->m->store, st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void upload_done(struct airlock_job *base)
{
	struct upload_job *job = (struct upload_job *)base;
	struct call c = pending_as_call(&job->call);
	struct airlock_service *svc = job->call.svc;
	char id[AIRLOCK_ID_HEX_LEN + 1];
	int64_t now_ms = time_wall_ms();

	if (base->status < 0) {
		log_warn("airlock_upload_failed", "user=%s project=%s error=%s",
			 job->call.user, job->project, job->copy.error);
		json_t *details =
		    json_pack("{s:s, s:s}", "project", job->project, "error",
			      job->copy.error);
		audit_append(svc->m->audit, job->call.actor, "airlock.uploaded",
			     job->project, "failure", details);
		json_decref(details);
		airlock_call_error(&c, copy_error_status(job->copy.error),
				   job->copy.error);
		goto out;
	}

	/* A logout during a long upload ends its right to the bytes too. */
	if (!login_session_active(svc->m->login, job->call.login)) {
		log_warn("airlock_upload_failed", "user=%s project=%s error=%s",
			 job->call.user, job->project,
			 "the login ended during the upload");
		remove_unused_bytes(svc, job->copy.sources[0].sha256, now_ms);
		airlock_call_error(&c, 401,
				   "your login ended during the "
				   "upload; log in and upload the "
				   "file again");
		goto out;
	}
	expire_uploads(svc, now_ms);
	json_t *details =
	    json_pack("{s:s, s:s, s:I}", "project", job->project, "sha256",
		      job->copy.sources[0].sha256, "size_bytes",
		      (json_int_t)job->copy.sources[0].size);
	int rc = hex_random(id, AIRLOCK_ID_HEX_LEN / 2) < 0 ||
			 store_begin(svc->m->store) < 0
		     ? -1
		     : 0;
	if (rc == 0) {
		rc = insert_upload(svc, id, job, now_ms);
		if (rc == 0)
			json_object_set_new(details, "upload", json_string(id));
		if (rc == 0 && audit_append(svc->m->audit, job->call.actor,
					    "airlock.uploaded", job->project,
					    "success", details) < 0)
			rc = -1;
		if (rc == 0)
			rc = store_commit(svc->m->store);
		else
			store_rollback(svc->m->store);
	}
	json_decref(details);
	if (rc < 0) {
		airlock_call_error(&c, 500,
				   "the airlock store failed; try again");
		goto out;
	}
	log_info("airlock_uploaded",
		 "upload=%s user=%s project=%s sha256=%s size=%llu", id,
		 job->call.user, job->project, job->copy.sources[0].sha256,
		 (unsigned long long)job->copy.sources[0].size);
	airlock_call_json(
	    &c, 201,
	    json_pack("{s:{s:s, s:s, s:I, s:I}}", "upload", "id", id, "sha256",
		      job->copy.sources[0].sha256, "size_bytes",
		      (json_int_t)job->copy.sources[0].size, "expires_ms",
		      (json_int_t)(now_ms + UPLOAD_LIFETIME_MS)));
out:
	airlock_copy_job_free(&job->copy);
}

void airlock_op_upload(struct call *c)
{
	char project[80];
	char message[160];
	json_t *length_json = json_object_get(c->request, "upload_length");
	int pipe_fds[2];

	if (!query_project(c, project, sizeof(project)))
		return;
	if (!json_is_integer(length_json) ||
	    json_integer_value(length_json) < 0) {
		airlock_call_error(c, 400,
				   "an upload needs a body with a "
				   "Content-Length");
		return;
	}
	uint64_t length = (uint64_t)json_integer_value(length_json);
	const struct policy_airlock *rules =
	    may_submit(c, project, POLICY_IMPORT, 1);
	if (rules == NULL)
		return;
	if (length > rules->max_file_size_bytes) {
		snprintf(message, sizeof(message),
			 "the file has %llu bytes, more than the limit of "
			 "%llu bytes",
			 (unsigned long long)length,
			 (unsigned long long)rules->max_file_size_bytes);
		airlock_call_refused(c, project, message);
		airlock_call_error(c, 413, message);
		return;
	}

	struct upload_job *job = calloc(1, sizeof(*job));
	struct airlock_copy_source *source = calloc(1, sizeof(*source));
	if (job == NULL || source == NULL || pipe2(pipe_fds, O_CLOEXEC) < 0) {
		free(job);
		free(source);
		airlock_call_error(c, 500, "out of memory");
		return;
	}
	/* A larger pipe means fewer wake-ups per megabyte. */
	fcntl(pipe_fds[1], F_SETPIPE_SZ, 1024 * 1024);
	job->copy.job.work = airlock_copy_work;
	job->copy.job.done = upload_done;
	job->copy.quarantine_fd = c->svc->quarantine_fd;
	job->copy.sources = source;
	job->copy.count = 1;
	job->copy.idle_timeout_ms = AIRLOCK_UPLOAD_IDLE_MS;
	*source = (struct airlock_copy_source){
	    .fd = pipe_fds[0],
	    .max_bytes = rules->max_file_size_bytes,
	    .expected_bytes = length,
	};
	snprintf(job->project, sizeof(job->project), "%s", project);
	pending_call_init(&job->call, c);

	snprintf(job->copy.job.owner, sizeof(job->copy.job.owner), "%s",
		 c->who.username);
	int started = airlock_job_start(c->svc, &job->copy.job);
	if (started < 0) {
		close(pipe_fds[1]);
		airlock_copy_job_free(&job->copy);
		log_warn("airlock_upload_refused",
			 "user=%s project=%s reason=%s", c->who.username,
			 project, started == -2 ? "own_jobs" : "all_jobs");
		airlock_call_error(c, 503, busy_message(started));
		return;
	}
	json_t *reply = json_pack("{s:i, s:b}", "status", 100, "continue", 1);
	if (reply == NULL ||
	    workers_send_web_fds(c->svc->m->workers, IPC_WEB_REPLY, c->id,
				 reply, &pipe_fds[1], 1) < 0)
		log_warn("airlock_reply_failed", "request=%u path=%s", c->id,
			 c->path);
	json_decref(reply);
	/* trellis-web has the only write end now, so the job reads the end
	 * of the body when trellis-web closes it. */
	close(pipe_fds[1]);
}

/* Submissions */

/* One file of a submission. */
struct submitted_file {
	char *name; /* the path in the outbox, or an import's file name */
	char *description;
	char *controls;
	char upload[AIRLOCK_ID_HEX_LEN + 1]; /* imports */
	char sha256[AIRLOCK_SHA256_HEX_LEN + 1];
	uint64_t size;
};

struct submission {
	struct airlock_copy_job copy; /* first: the job of an export */
	struct pending_call call;
	char project[80];
	enum policy_direction direction;
	char resubmit_id[AIRLOCK_ID_HEX_LEN + 1]; /* "" for a new request */
	struct submitted_file *files;
	size_t count;
};

static void submission_free(struct submission *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->count && s->files; i++) {
		free(s->files[i].name);
		free(s->files[i].description);
		free(s->files[i].controls);
	}
	free(s->files);
	airlock_copy_job_free(&s->copy);
}

/* Reads the files of a submission body into S. Replies 400 and returns
 * false on the first invalid entry. */
static bool parse_files(struct call *c, json_t *list, struct submission *s)
{
	static const char *const export_keys[] = {"path", "description",
						  "disclosure_controls", NULL};
	static const char *const import_keys[] = {
	    "upload", "name", "description", "disclosure_controls", NULL};
	bool import = s->direction == POLICY_IMPORT;

	s->count = json_array_size(list);
	if (!json_is_array(list) || s->count == 0) {
		airlock_call_error(c, 400, "files must be a non-empty array");
		return false;
	}
	s->files = calloc(s->count, sizeof(*s->files));
	if (s->files == NULL) {
		airlock_call_error(c, 500, "out of memory");
		return false;
	}
	for (size_t i = 0; i < s->count; i++) {
		struct submitted_file *f = &s->files[i];
		json_t *item = json_array_get(list, i);
		if (!airlock_call_keys_valid(
			c, item, import ? import_keys : export_keys))
			return false;
		const char *name =
		    import
			? airlock_call_string(c, item, "name", 1, FILE_NAME_MAX)
			: airlock_call_string(c, item, "path", 1,
					      AIRLOCK_PATH_MAX - 1);
		const char *description =
		    name ? airlock_call_string(c, item, "description", 1,
					       AIRLOCK_DESCRIPTION_MAX)
			 : NULL;
		if (description == NULL)
			return false;
		const char *controls = "";
		if (!import || json_object_get(item, "disclosure_controls")) {
			controls = airlock_call_string(
			    c, item, "disclosure_controls", import ? 0 : 1,
			    AIRLOCK_DESCRIPTION_MAX);
			if (controls == NULL)
				return false;
		}
		if (import) {
			const char *upload = airlock_call_string(
			    c, item, "upload", AIRLOCK_ID_HEX_LEN,
			    AIRLOCK_ID_HEX_LEN);
			if (upload == NULL)
				return false;
			if (!airlock_id_valid(upload) ||
			    !file_name_valid(name)) {
				airlock_call_error(
				    c, 400,
				    "upload must be an upload id and name a "
				    "file name without '/', '\\' or control "
				    "characters");
				return false;
			}
			memcpy(f->upload, upload, sizeof(f->upload));
		}
		f->name = strdup(name);
		f->description = strdup(description);
		f->controls = strdup(controls);
		if (!f->name || !f->description || !f->controls) {
			airlock_call_error(c, 500, "out of memory");
			return false;
		}
	}
	return true;
}

/* Finds the quarantined bytes of each upload that S names. They must be
 * the caller's, for the same project, and not expired. */
static bool find_uploads(struct call *c, struct submission *s,
			 const struct policy_airlock *rules)
{
	char message[200];
	sqlite3_stmt *st = store_prepare(
	    c->svc->m->store,
	    "SELECT sha256, size_bytes FROM airlock_uploads WHERE id = ? AND "
	    "owner = ? AND project = ? AND expires_ms >= ?");

	if (st == NULL) {
		airlock_call_error(c, 500,
				   "the airlock store failed; try "
				   "again");
		return false;
	}
	for (size_t i = 0; i < s->count; i++) {
		struct submitted_file *f = &s->files[i];
		bool found = false;
		sqlite3_bind_text(st, 1, f->upload, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, s->call.user, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, s->project, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, time_wall_ms());
		if (sqlite3_step(st) == SQLITE_ROW) {
			snprintf(f->sha256, sizeof(f->sha256), "%s",
				 sqlite3_column_text(st, 0));
			f->size = (uint64_t)sqlite3_column_int64(st, 1);
			found = true;
		}
		sqlite3_reset(st);
		if (!found) {
			snprintf(message, sizeof(message),
				 "upload %s is unknown or expired; upload %s "
				 "again",
				 f->upload, f->name);
			airlock_call_error(c, 400, message);
			return false;
		}
		if (f->size > rules->max_file_size_bytes) {
			snprintf(
			    message, sizeof(message),
			    "%s has %llu bytes, above the limit of %llu "
			    "bytes",
			    f->name, (unsigned long long)f->size,
			    (unsigned long long)rules->max_file_size_bytes);
			airlock_call_error(c, 413, message);
			return false;
		}
	}
	return true;
}

static int step_done(struct store *store, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store_log_step_error(store, st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int insert_files(struct store *store, const char *id,
			const struct submission *s, json_t *listed)
{
	for (size_t i = 0; i < s->count; i++) {
		const struct submitted_file *f = &s->files[i];
		sqlite3_stmt *st = store_prepare(
		    store, "INSERT INTO airlock_files (request_id, position, "
			   "name, sha256, size_bytes, description, "
			   "disclosure_controls) VALUES (?, ?, ?, ?, ?, ?, ?)");
		if (st == NULL)
			return -1;
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)i);
		sqlite3_bind_text(st, 3, f->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, f->sha256, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)f->size);
		sqlite3_bind_text(st, 6, f->description, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, f->controls, -1, SQLITE_STATIC);
		if (step_done(store, st) < 0)
			return -1;
		json_array_append_new(
		    listed,
		    json_pack("{s:s, s:s, s:I}", "path", f->name, "sha256",
			      f->sha256, "size_bytes", (json_int_t)f->size));
		if (s->direction != POLICY_IMPORT)
			continue;
		/* A request owns the bytes now; the upload is used up. */
		st = store_prepare(store,
				   "DELETE FROM airlock_uploads WHERE id = ?");
		if (st == NULL)
			return -1;
		sqlite3_bind_text(st, 1, f->upload, -1, SQLITE_STATIC);
		if (step_done(store, st) < 0)
			return -1;
	}
	return 0;
}

static int insert_request(struct airlock_service *svc, const char *id,
			  const struct submission *s)
{
	struct store *store = svc->m->store;
	int64_t now_ms = time_wall_ms();
	sqlite3_stmt *st = store_prepare(
	    store, "INSERT INTO airlock_requests (id, project, direction, "
		   "requester, state, created_ms, updated_ms) VALUES (?, ?, "
		   "?, ?, 'submitted', ?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->project, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, airlock_direction_name(s->direction), -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 4, s->call.user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now_ms);
	sqlite3_bind_int64(st, 6, now_ms);
	if (step_done(store, st) < 0)
		return -1;

	json_t *listed = json_array();
	if (listed == NULL || insert_files(store, id, s, listed) < 0) {
		json_decref(listed);
		return -1;
	}
	json_t *details =
	    json_pack("{s:s, s:s, s:s, s:s, s:o}", "project", s->project,
		      "direction", airlock_direction_name(s->direction), "from",
		      "draft", "to", "submitted", "files", listed);
	int64_t seq = audit_append(svc->m->audit, s->call.actor,
				   "airlock.submitted", id, "success", details);
	json_decref(details);
	return seq < 0 ? -1 : 0;
}

/* Keeps the files of the round that ends, then puts S's files in their
 * place and moves the request back to submitted for a new round. Returns
 * 0, 1 when the request is no longer waiting for changes, or -1. */
static int replace_files(struct airlock_service *svc, const char *id,
			 const struct submission *s)
{
	struct store *store = svc->m->store;
	sqlite3_stmt *st = store_prepare(
	    store,
	    "INSERT INTO airlock_previous_files (request_id, round, position, "
	    "name, sha256, size_bytes, description, disclosure_controls, "
	    "check_result, check_reason, verdict) SELECT f.request_id, "
	    "r.round, f.position, f.name, f.sha256, f.size_bytes, "
	    "f.description, f.disclosure_controls, f.check_result, "
	    "f.check_reason, f.verdict FROM airlock_files AS f JOIN "
	    "airlock_requests AS r ON r.id = f.request_id WHERE f.request_id "
	    "= ?1 AND r.state = 'changes_requested' AND r.requester = ?2");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->call.user, -1, SQLITE_STATIC);
	if (step_done(store, st) < 0)
		return -1;
	st = store_prepare(store,
			   "DELETE FROM airlock_files WHERE request_id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (step_done(store, st) < 0)
		return -1;

	json_t *listed = json_array();
	if (listed == NULL || insert_files(store, id, s, listed) < 0) {
		json_decref(listed);
		return -1;
	}
	json_t *details = json_pack("{s:o}", "files", listed);
	int rc = airlock_transition(svc, id, AIRLOCK_CHANGES_REQUESTED,
				    AIRLOCK_SUBMITTED, s->call.actor,
				    "resubmitted with changes", details);
	json_decref(details);
	return rc;
}

/* Stores the submission whose files are all in quarantine, starts its
 * checks and replies. Frees S. */
static void finish_submission(struct submission *s)
{
	struct call c = pending_as_call(&s->call);
	struct airlock_service *svc = s->call.svc;
	struct store *store = svc->m->store;
	char id[AIRLOCK_ID_HEX_LEN + 1];
	char message[2 * AIRLOCK_PATH_MAX + 64];
	bool resubmit = s->resubmit_id[0] != '\0';

	for (size_t i = 0; i < s->count; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(s->files[j].sha256, s->files[i].sha256))
				continue;
			snprintf(message, sizeof(message),
				 "%s and %s have the same content; submit it "
				 "once",
				 s->files[j].name, s->files[i].name);
			airlock_call_error(&c, 400, message);
			goto out;
		}
	}

	if (resubmit)
		memcpy(id, s->resubmit_id, sizeof(id));
	if ((!resubmit && hex_random(id, AIRLOCK_ID_HEX_LEN / 2) < 0) ||
	    store_begin(store) < 0) {
		airlock_call_error(&c, 500,
				   "the airlock store failed; try again");
		goto out;
	}
	int rc =
	    resubmit ? replace_files(svc, id, s) : insert_request(svc, id, s);
	if (rc != 0) {
		store_rollback(store);
		airlock_call_error(&c, rc == 1 ? 409 : 500,
				   rc == 1 ? "the request no longer waits for "
					     "changes"
					   : "the airlock store failed; try "
					     "again");
		goto out;
	}
	if (store_commit(store) < 0) {
		airlock_call_error(&c, 500,
				   "the airlock store failed; try again");
		goto out;
	}
	log_info("airlock_submitted",
		 "request=%s project=%s direction=%s user=%s files=%zu "
		 "resubmitted=%s",
		 id, s->project, airlock_direction_name(s->direction),
		 s->call.user, s->count, resubmit ? "yes" : "no");

	airlock_checks_start(svc, id);
	airlock_call_json(
	    &c, resubmit ? 200 : 201,
	    json_pack("{s:o}", "request",
		      airlock_request_json(svc, id, s->call.user)));
out:
	submission_free(s);
}

static void export_copied(struct airlock_job *job)
{
	struct submission *s = (struct submission *)job;

	if (job->status < 0) {
		struct call c = pending_as_call(&s->call);
		char message[sizeof(s->copy.error) + AIRLOCK_PATH_MAX + 8];
		snprintf(message, sizeof(message), "%s: %s",
			 s->files[s->copy.failed].name, s->copy.error);
		log_error("airlock_quarantine_failed",
			  "project=%s user=%s path=%s error=%s", s->project,
			  s->call.user, s->files[s->copy.failed].name,
			  s->copy.error);
		airlock_call_refused(&c, s->project, message);
		airlock_call_error(&c, copy_error_status(s->copy.error),
				   message);
		submission_free(s);
		return;
	}
	for (size_t i = 0; i < s->count; i++) {
		struct airlock_copy_source *source = &s->copy.sources[i];
		memcpy(s->files[i].sha256, source->sha256,
		       sizeof(s->files[i].sha256));
		s->files[i].size = source->size;
		log_info("airlock_quarantined",
			 "project=%s user=%s path=%s sha256=%s size=%llu",
			 s->project, s->call.user, s->files[i].name,
			 source->sha256, (unsigned long long)source->size);
	}
	finish_submission(s);
}

/* Opens the outbox files of export S and copies them into quarantine in
 * a job, which finishes the submission. */
static void start_export_copies(struct call *c, struct submission *s,
				const struct policy_airlock *rules)
{
	char error[AIRLOCK_REASON_MAX + AIRLOCK_PATH_MAX];

	s->copy.sources = calloc(s->count, sizeof(*s->copy.sources));
	if (s->copy.sources == NULL) {
		airlock_call_error(c, 500, "out of memory");
		submission_free(s);
		return;
	}
	s->copy.count = s->count;
	for (size_t i = 0; i < s->count; i++)
		s->copy.sources[i].fd = -1;
	/* The files are opened now, so a missing one is reported before any
	 * copy starts. */
	for (size_t i = 0; i < s->count; i++) {
		int fd = airlock_outbox_open(
		    c->svc, s->project, s->call.user, s->files[i].name,
		    rules->max_file_size_bytes, error, sizeof(error));
		if (fd < 0) {
			airlock_call_refused(c, s->project, error);
			airlock_call_error(
			    c, strstr(error, "above the limit") ? 413 : 400,
			    error);
			submission_free(s);
			return;
		}
		s->copy.sources[i] = (struct airlock_copy_source){
		    .fd = fd,
		    .max_bytes = rules->max_file_size_bytes,
		    .expected_bytes = UINT64_MAX,
		};
	}
	s->copy.job.work = airlock_copy_work;
	s->copy.job.done = export_copied;
	s->copy.quarantine_fd = c->svc->quarantine_fd;
	s->copy.idle_timeout_ms = AIRLOCK_UPLOAD_IDLE_MS;
	snprintf(s->copy.job.owner, sizeof(s->copy.job.owner), "%s",
		 s->call.user);
	int started = airlock_job_start(c->svc, &s->copy.job);
	if (started < 0) {
		log_warn("airlock_submit_refused",
			 "user=%s project=%s reason=%s", s->call.user,
			 s->project, started == -2 ? "own_jobs" : "all_jobs");
		airlock_call_error(c, 503, busy_message(started));
		submission_free(s);
	}
}

/* Checks the files of S, then copies or finds them and finishes. Takes
 * S. */
static void submit_files(struct call *c, struct submission *s, json_t *list)
{
	if (!parse_files(c, list, s)) {
		submission_free(s);
		return;
	}
	const struct policy_airlock *rules =
	    may_submit(c, s->project, s->direction, s->count);
	if (rules == NULL) {
		submission_free(s);
		return;
	}
	if (s->direction == POLICY_EXPORT) {
		start_export_copies(c, s, rules);
		return;
	}
	int inbox =
	    airlock_workspace_folder(c->svc->m->config->sessions_workspace_root,
				     s->project, s->call.user, "inbox");
	if (inbox < 0) {
		airlock_call_error(c, 400,
				   "your inbox in this project does not exist "
				   "yet; start a desktop of the project once");
		submission_free(s);
		return;
	}
	close(inbox);
	if (!find_uploads(c, s, rules)) {
		submission_free(s);
		return;
	}
	finish_submission(s);
}

static struct submission *submission_new(struct call *c, const char *project,
					 enum policy_direction direction)
{
	struct submission *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		airlock_call_error(c, 500, "out of memory");
		return NULL;
	}
	pending_call_init(&s->call, c);
	snprintf(s->project, sizeof(s->project), "%s", project);
	s->direction = direction;
	return s;
}

void airlock_op_submit(struct call *c)
{
	static const char *const keys[] = {"project", "direction", "files",
					   NULL};

	if (!airlock_call_keys_valid(c, c->body, keys))
		return;
	const char *project = airlock_call_string(c, c->body, "project", 1, 64);
	const char *direction =
	    project ? airlock_call_string(c, c->body, "direction", 1, 16)
		    : NULL;
	if (!direction)
		return;
	if (strcmp(direction, "export") != 0 &&
	    strcmp(direction, "import") != 0) {
		airlock_call_error(
		    c, 400, "direction must be \"export\" or \"import\"");
		return;
	}
	struct submission *s = submission_new(
	    c, project,
	    strcmp(direction, "import") == 0 ? POLICY_IMPORT : POLICY_EXPORT);
	if (s)
		submit_files(c, s, json_object_get(c->body, "files"));
}

void airlock_op_resubmit(struct call *c, const char *id)
{
	static const char *const keys[] = {"files", NULL};
	struct airlock_request r;
	char message[160];

	if (!airlock_call_keys_valid(c, c->body, keys) ||
	    !airlock_call_load(c, id, POLICY_ACTION_AIRLOCK_WITHDRAW, &r))
		return;
	if (r.state != AIRLOCK_CHANGES_REQUESTED) {
		snprintf(message, sizeof(message),
			 "request %s is %s; only a request with changes "
			 "requested can be resubmitted",
			 id, airlock_state_name(r.state));
		airlock_request_clear(&r);
		airlock_call_error(c, 409, message);
		return;
	}
	struct submission *s = submission_new(c, r.project, r.direction);
	airlock_request_clear(&r);
	if (s == NULL)
		return;
	memcpy(s->resubmit_id, id, sizeof(s->resubmit_id));
	submit_files(c, s, json_object_get(c->body, "files"));
}
