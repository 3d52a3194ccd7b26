/* The session life cycle: open, start, watch, stop, recover. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/master.h"
#include "broker/metrics.h"
#include "broker/sessions_private.h"
#include "broker/sessions_web.h"
#include "lib/hex.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "session/session_id.h"

/* The uid and gid of the user inside the sandbox's user namespace. */
#define SESSION_INSIDE_UID 1000
#define SESSION_STOP_POLL_MS 100

static void session_free(struct session *s)
{
	struct event_loop *loop = s->mgr->master->loop;

	if (s->phase_timer)
		event_cancel_timer(loop, s->phase_timer);
	if (s->duration_timer)
		event_cancel_timer(loop, s->duration_timer);
	if (s->watch_timer)
		event_cancel_timer(loop, s->watch_timer);
	if (s->hub)
		sessions_hub_stop(s, "session ended");
	if (s->backend_fd >= 0)
		close(s->backend_fd);
	if (s->recording_fd >= 0)
		close(s->recording_fd);
	ns_session_free(s->ns);
	workspace_free(&s->workspace);
	json_decref(s->hub_stats);
	free(s->recording_path);
	free(s->user);
	free(s->project);
	free(s);
}

static struct session *session_new(struct session_manager *mgr,
				   const char *id, const char *user,
				   const char *project)
{
	struct session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->mgr = mgr;
	s->hub_pid = -1;
	s->backend_fd = -1;
	s->recording_fd = -1;
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->user = strdup(user);
	s->project = strdup(project);
	s->phase_monotonic_ms = time_monotonic_ms();
	if (s->user == NULL || s->project == NULL) {
		session_free(s);
		return NULL;
	}
	return s;
}

/* Creates directory PATH with exactly MODE, which trellisd's umask would
 * narrow. An existing directory is left as it is. Returns 0 or -1 with
 * errno set. */
static int make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0)
		return errno == EEXIST ? 0 : -1;
	return chmod(path, mode);
}

static void list_add(struct session *s)
{
	s->next = s->mgr->sessions;
	s->mgr->sessions = s;
}

static void list_remove(struct session *s)
{
	for (struct session **p = &s->mgr->sessions; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			return;
		}
	}
}

struct session *sessions_find(struct session_manager *mgr, const char *id)
{
	for (struct session *s = mgr->sessions; s; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

struct session_manager *sessions_new(struct master *m)
{
	struct session_manager *mgr = calloc(1, sizeof(*mgr));
	if (mgr)
		mgr->master = m;
	return mgr;
}

void sessions_free(struct session_manager *mgr)
{
	if (mgr == NULL)
		return;
	while (mgr->sessions) {
		struct session *s = mgr->sessions;
		mgr->sessions = s->next;
		session_free(s);
	}
	free(mgr);
}

/* Copies the limits of PROJECT that a session keeps for its lifetime. */
static void limits_from_policy(const struct policy_project *project,
			       struct session_limits *out)
{
	*out = (struct session_limits){
	    .idle_timeout_ms = project->idle_timeout_ms,
	    .max_duration_ms = project->max_duration_ms,
	    .recording_required = project->recording == POLICY_REQUIRED,
	    .clipboard_to_session = project->clipboard_to_session.mode ==
				    POLICY_CLIPBOARD_TEXT,
	    .clipboard_to_session_bytes =
		project->clipboard_to_session.max_bytes,
	    .clipboard_from_session = project->clipboard_from_session.mode ==
				      POLICY_CLIPBOARD_TEXT,
	    .clipboard_from_session_bytes =
		project->clipboard_from_session.max_bytes,
	};
}

static int random_id(char out[SESSION_ID_HEX_LEN + 1])
{
	return hex_random(out, SESSION_ID_HEX_LEN / 2);
}

/* Ends S after stopping: removes what is left of the sandbox, records the
 * final state and frees S. */
static void finish(struct session *s)
{
	enum session_state final =
	    s->end_failed ? SESSION_FAILED : SESSION_STOPPED;
	char reason[SESSION_REASON_MAX];
	json_t *details = json_object();

	snprintf(reason, sizeof(reason), "%s", s->reason);
	if (s->ns && ns_session_cleanup(s->ns) < 0)
		json_object_set_new(details, "cleanup",
				    json_string("incomplete, see the trellisd "
						"log for what remains"));
	if (s->hub)
		sessions_hub_stop(s, reason);
	sessions_store_set_state(s, final, reason, "trellisd",
				 final == SESSION_FAILED ? "session.failed"
							 : "session.stopped",
				 final == SESSION_FAILED ? "failure"
							 : "success",
				 details);
	json_decref(details);
	if (final == SESSION_FAILED)
		metrics_inc("trellis_session_failures_total", "project",
			    s->project);
	list_remove(s);
	session_free(s);
}

static void stop_poll(struct event_loop *loop, void *arg)
{
	struct session *s = arg;
	int64_t waited_ms = time_monotonic_ms() - s->phase_monotonic_ms;

	s->phase_timer = 0;
	if (s->ns && ns_session_alive(s->ns) &&
	    waited_ms < SESSION_STOP_GRACE_MS) {
		s->phase_timer =
		    event_add_timer(loop, SESSION_STOP_POLL_MS, stop_poll, s);
		return;
	}
	finish(s);
}

void sessions_begin_stop(struct session *s, const char *reason, bool failed,
			 const char *actor)
{
	struct event_loop *loop = s->mgr->master->loop;

	if (s->state == SESSION_STOPPING)
		return;
	if (s->phase_timer)
		event_cancel_timer(loop, s->phase_timer);
	if (s->duration_timer)
		event_cancel_timer(loop, s->duration_timer);
	if (s->watch_timer)
		event_cancel_timer(loop, s->watch_timer);
	s->phase_timer = s->duration_timer = s->watch_timer = 0;

	s->end_failed = failed;
	sessions_store_set_state(s, SESSION_STOPPING, reason, actor,
				 "session.stop", "success", NULL);
	s->phase_monotonic_ms = time_monotonic_ms();

	/* The web front learns the close code before the hub's sockets
	 * close. */
	sessions_web_session_stopping(s, failed, actor);
	/* The hub sends the reason to the viewers before the desktop goes. */
	if (s->hub)
		sessions_hub_stop(s, reason);
	if (s->ns == NULL) {
		finish(s);
		return;
	}
	ns_session_terminate(s->ns);
	s->phase_timer =
	    event_add_timer(loop, SESSION_STOP_POLL_MS, stop_poll, s);
}

/* Fails S while it starts (or when it cannot start at all). */
static void fail_start(struct session *s, const char *reason)
{
	log_error("session_start_failed", "session=%s user=%s project=%s "
					  "reason=%s",
		  s->id, s->user, s->project, reason);
	sessions_begin_stop(s, reason, true, "trellisd");
}

static void duration_reached(struct event_loop *loop, void *arg)
{
	struct session *s = arg;
	char reason[SESSION_REASON_MAX];

	s->duration_timer = 0;
	snprintf(reason, sizeof(reason),
		 "the session reached the maximum duration of %lld minutes "
		 "set for project %s",
		 (long long)(s->limits.max_duration_ms / 60000), s->project);
	s->web_close_code = SESSIONS_WEB_CLOSE_MAX_DURATION;
	sessions_begin_stop(s, reason, false, "trellisd");
}

/* Catches desktops that die without a SIGCHLD to this process: those an
 * earlier trellisd started. */
static void watch(struct event_loop *loop, void *arg)
{
	struct session *s = arg;

	s->watch_timer = 0;
	if (!ns_session_alive(s->ns)) {
		sessions_begin_stop(s, "the desktop's processes are gone",
				    true, "trellisd");
		return;
	}
	s->watch_timer =
	    event_add_timer(loop, SESSION_WATCH_INTERVAL_MS, watch, s);
}

static void arm_running_timers(struct session *s)
{
	struct event_loop *loop = s->mgr->master->loop;

	if (s->limits.max_duration_ms > 0 && s->duration_timer == 0) {
		int64_t ran_ms = time_wall_ms() - s->started_wall_ms;
		int64_t left_ms = s->limits.max_duration_ms - ran_ms;
		s->duration_timer = event_add_timer(
		    loop, left_ms > 0 ? left_ms : 0, duration_reached, s);
	}
	if (s->watch_timer == 0)
		s->watch_timer = event_add_timer(
		    loop, SESSION_WATCH_INTERVAL_MS, watch, s);
}

static void hub_start_timeout(struct event_loop *loop, void *arg)
{
	struct session *s = arg;

	s->phase_timer = 0;
	fail_start(s, "the desktop hub did not report ready within 30 "
		      "seconds");
}

void sessions_hub_ready(struct session *s, json_t *body)
{
	struct event_loop *loop = s->mgr->master->loop;

	if (s->phase_timer)
		event_cancel_timer(loop, s->phase_timer);
	s->phase_timer = 0;
	s->hub_ready = true;

	json_t *details = json_pack(
	    "{s:O, s:O, s:b, s:I}", "width",
	    json_object_get(body, "width") ?: json_null(), "height",
	    json_object_get(body, "height") ?: json_null(), "recording",
	    json_is_true(json_object_get(body, "recording")), "startup_ms",
	    (json_int_t)(time_monotonic_ms() - s->phase_monotonic_ms));
	if (s->adopted) {
		/* The row is already running, and the audit record notes
		 * that a new hub serves it. */
		sessions_store_set_state(s, SESSION_RUNNING, "", "trellisd",
					 "session.adopt", "success", details);
	} else {
		sessions_store_set_state(s, SESSION_RUNNING, "", "trellisd",
					 "session.running", "success",
					 details);
	}
	json_decref(details);
	arm_running_timers(s);
}

/* Hands the desktop to a new hub. Returns 0 or -1 after failing S. */
static int start_hub(struct session *s)
{
	char error[512];

	s->backend_fd = ns_session_connect(s->ns);
	if (s->backend_fd < 0) {
		fail_start(s, "connecting to the desktop's socket failed");
		return -1;
	}
	if (sessions_hub_spawn(s, error, sizeof(error)) < 0) {
		fail_start(s, error);
		return -1;
	}
	s->phase_monotonic_ms = time_monotonic_ms();
	s->phase_timer = event_add_timer(s->mgr->master->loop,
					 SESSION_START_TIMEOUT_MS,
					 hub_start_timeout, s);
	return 0;
}

static void ready_poll(struct event_loop *loop, void *arg)
{
	struct session *s = arg;
	int64_t waited_ms = time_monotonic_ms() - s->phase_monotonic_ms;

	s->phase_timer = 0;
	int ready = ns_session_ready(s->ns, 20);
	if (ready < 0) {
		fail_start(s, "the desktop exited while starting (its output "
			      "is in the trellisd log)");
		return;
	}
	if (ready == 0 && waited_ms >= SESSION_START_TIMEOUT_MS) {
		fail_start(s, "the desktop did not answer on its socket within "
			      "30 seconds");
		return;
	}
	if (ready == 0) {
		s->phase_timer = event_add_timer(loop, SESSION_READY_POLL_MS,
						 ready_poll, s);
		return;
	}
	log_info("session_desktop_ready", "session=%s ready_ms=%lld", s->id,
		 (long long)waited_ms);
	start_hub(s);
}

/* Creates the directory for recordings (mode 0700, root) if missing and
 * opens a new recording file of S in it. Returns 0 or -1 with REASON. */
static int open_recording(struct session *s, char *reason, size_t size)
{
	const char *dir = s->mgr->master->config->sessions_recording_dir;
	struct stat st;

	if (make_dir(dir, 0700) < 0) {
		snprintf(reason, size,
			 "the project requires a recording, but creating the "
			 "recording directory %s failed: %s",
			 dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(reason, size,
			 "the project requires a recording, but %s is not a "
			 "directory",
			 dir);
		return -1;
	}
	if (asprintf(&s->recording_path, "%s/%s-%" PRId64 ".trec", dir, s->id,
		     time_wall_ms()) < 0) {
		s->recording_path = NULL;
		snprintf(reason, size, "out of memory");
		return -1;
	}
	s->recording_fd = open(s->recording_path,
			       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
				   O_NOFOLLOW,
			       0600);
	if (s->recording_fd < 0) {
		snprintf(reason, size,
			 "the project requires a recording, but creating %s "
			 "failed: %s",
			 s->recording_path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Turns a policy mount point into the name the ns driver mounts at
 * /data/NAME: the last component of the mount point, or of the host path
 * when the mount point is /data itself. */
static const char *data_mount_name(const struct policy_mount *mount)
{
	const char *name = strrchr(mount->mount_point, '/');
	name = name ? name + 1 : mount->mount_point;
	if (strcmp(mount->mount_point, "/data") == 0) {
		name = strrchr(mount->host_path, '/');
		name = name ? name + 1 : mount->host_path;
	}
	return name;
}

/* Prepares the workspace and forks the sandbox of S. Returns 0, or -1
 * with REASON. */
static int start_desktop(struct session *s,
			 const struct policy_project *project, char *reason,
			 size_t size)
{
	const struct trellis_config *config = s->mgr->master->config;
	struct ns_data_mount mounts[32];
	size_t mount_count = 0;
	autofree char *desktop = NULL;

	struct workspace_config wc = {.root = config->sessions_workspace_root,
				      .project = s->project,
				      .user = s->user,
				      .uid = s->host_uid,
				      .gid = s->host_uid};
	/* Sandboxes resolve their bind mounts as their host uid, so the
	 * root lets every uid through (see session/workspace.h). */
	if (make_dir(wc.root, 0711) < 0) {
		snprintf(reason, size, "creating the workspace root %s failed: "
				       "%s",
			 wc.root, strerror(errno));
		return -1;
	}
	if (workspace_prepare(&wc, &s->workspace) < 0) {
		snprintf(reason, size,
			 "preparing the workspace failed (the trellisd log "
			 "names the folder)");
		return -1;
	}

	for (size_t i = 0; i < project->mount_count && i < 32; i++) {
		const char *name = data_mount_name(&project->mounts[i]);
		if (!session_id_valid(name)) {
			snprintf(reason, size,
				 "data mount %s of project %s needs a name of "
				 "lower-case letters, digits and '-'",
				 project->mounts[i].mount_point, project->id);
			return -1;
		}
		mounts[mount_count++] = (struct ns_data_mount){
		    .name = name, .path = project->mounts[i].host_path};
	}

	autofree char *script = NULL;
	if (asprintf(&script, "%s/%s/desktop", config->sessions_images_dir,
		     project->image->name) < 0) {
		script = NULL;
		snprintf(reason, size, "out of memory");
		return -1;
	}
	/* The driver takes only canonical paths, without "..". */
	desktop = realpath(script, NULL);
	if (desktop == NULL) {
		snprintf(reason, size,
			 "image %s has no desktop start script at %s: %s "
			 "(check sessions.images_dir)",
			 project->image->name, script, strerror(errno));
		return -1;
	}
	struct ns_session_config nc = {
	    .id = s->id,
	    .user = s->user,
	    .uid = SESSION_INSIDE_UID,
	    .gid = SESSION_INSIDE_UID,
	    .host_uid = s->host_uid,
	    .host_gid = s->host_uid,
	    .image_root = project->image->location,
	    .desktop_path = desktop,
	    .run_dir = config->sessions_run_dir,
	    .workspace = &s->workspace,
	    .data_mounts = mounts,
	    .data_mount_count = mount_count,
	    .limits = {.memory_bytes = project->memory_bytes,
		       .pids_max = config->sessions_pids_max,
		       .cpu_millis = project->cpus * 1000},
	    .clipboard = {.to_desktop = s->limits.clipboard_to_session,
			  .from_desktop = s->limits.clipboard_from_session,
			  .max_bytes =
			      s->limits.clipboard_to_session_bytes >
				      s->limits.clipboard_from_session_bytes
				  ? s->limits.clipboard_to_session_bytes
				  : s->limits.clipboard_from_session_bytes},
	    .output_fd = STDERR_FILENO,
	};
	if (ns_session_start(&nc, &s->ns) < 0) {
		snprintf(reason, size,
			 "starting the sandbox failed (the trellisd log has "
			 "the step and error)");
		return -1;
	}
	return 0;
}

/* Checks what the policy and configuration must provide before a session
 * of USER in PROJECT_ID can start. Returns the project, or NULL with
 * ERROR. */
static const struct policy_project *
check_startable(struct master *m, const char *user, const char *project_id,
		char *error, size_t error_size)
{
	const struct policy_project *project =
	    policy_find_project(m->policy, project_id);

	if (!session_id_valid(user)) {
		snprintf(error, error_size,
			 "user name %s cannot own a session: session users "
			 "need names of 1 to 64 lower-case letters, digits "
			 "and '-'",
			 user);
		return NULL;
	}
	if (project == NULL || project->image == NULL) {
		snprintf(error, error_size,
			 "project %s is not in the policy or has no image",
			 project_id);
		return NULL;
	}
	if (project->image->driver != POLICY_DRIVER_NS) {
		snprintf(error, error_size,
			 "project %s uses image %s with driver vm, which this "
			 "trellisd cannot start yet",
			 project->id, project->image->name);
		return NULL;
	}
	return project;
}

/* Returns the active session of USER in PROJECT from memory. */
static struct session *find_active(struct session_manager *mgr,
				   const char *user, const char *project)
{
	for (struct session *s = mgr->sessions; s; s = s->next)
		if (strcmp(s->user, user) == 0 &&
		    strcmp(s->project, project) == 0)
			return s;
	return NULL;
}

int sessions_open(struct session_manager *mgr,
		  const struct policy_subject *subject, const char *project_id,
		  const char *actor, char id_out[SESSION_ID_HEX_LEN + 1],
		  bool *created, char *error, size_t error_size)
{
	struct master *m = mgr->master;
	struct policy_decision decision;
	struct policy_resource resource = {.project = project_id};
	char id[SESSION_ID_HEX_LEN + 1];
	char reason[SESSION_REASON_MAX + 256];

	*created = false;
	if (!master_policy_decide(m, actor, subject, POLICY_ACTION_SESSION_OPEN,
				  &resource, &decision)) {
		snprintf(error, error_size,
			 "permission denied by policy rule %s: %s",
			 decision.rule, decision.reason);
		return -1;
	}
	const struct policy_project *project =
	    check_startable(m, subject->user, project_id, error, error_size);
	if (project == NULL)
		return -1;

	struct session *existing = find_active(mgr, subject->user, project_id);
	if (existing && existing->state == SESSION_STOPPING) {
		snprintf(error, error_size,
			 "session %s of user %s in project %s is stopping; "
			 "try again in a few seconds",
			 existing->id, subject->user, project_id);
		return -1;
	}
	if (existing) {
		snprintf(id_out, SESSION_ID_HEX_LEN + 1, "%s", existing->id);
		return 0;
	}

	uid_t host_uid;
	if (sessions_store_host_uid(mgr, subject->user, &host_uid, error,
				    error_size) < 0)
		return -1;
	if (random_id(id) < 0) {
		snprintf(error, error_size, "reading random bytes failed: %s",
			 strerror(errno));
		return -1;
	}

	struct session *s = session_new(mgr, id, subject->user, project_id);
	if (s == NULL) {
		snprintf(error, error_size, "out of memory");
		return -1;
	}
	s->host_uid = host_uid;
	s->created_wall_ms = time_wall_ms();
	limits_from_policy(project, &s->limits);

	bool recording_ok = !s->limits.recording_required ||
			    open_recording(s, reason, sizeof(reason)) == 0;

	json_t *details = json_pack(
	    "{s:s, s:s, s:s, s:s, s:I, s:b, s:I, s:I}", "user", s->user,
	    "project", s->project, "image", project->image->name, "rule",
	    decision.rule, "host_uid", (json_int_t)host_uid, "recording",
	    s->limits.recording_required, "idle_timeout_ms",
	    (json_int_t)s->limits.idle_timeout_ms, "max_duration_ms",
	    (json_int_t)s->limits.max_duration_ms);
	int stored = sessions_store_insert(s, actor, details);
	json_decref(details);
	if (stored < 0) {
		snprintf(error, error_size,
			 "recording the new session failed: see the trellisd "
			 "log for the database error");
		if (s->recording_path && s->recording_fd >= 0)
			unlink(s->recording_path);
		session_free(s);
		return -1;
	}
	list_add(s);
	snprintf(id_out, SESSION_ID_HEX_LEN + 1, "%s", id);
	*created = true;

	if (!recording_ok ||
	    start_desktop(s, project, reason, sizeof(reason)) < 0) {
		snprintf(error, error_size, "session %s failed to start: %s",
			 id, reason);
		fail_start(s, reason);
		return -1;
	}
	s->phase_monotonic_ms = time_monotonic_ms();
	s->phase_timer =
	    event_add_timer(m->loop, SESSION_READY_POLL_MS, ready_poll, s);
	return 0;
}

int sessions_stop(struct session_manager *mgr, const char *id,
		  const char *reason, const char *actor, char *error,
		  size_t error_size)
{
	struct session *s = sessions_find(mgr, id);

	if (s == NULL) {
		json_t *row = sessions_store_get(mgr, id);
		snprintf(error, error_size,
			 row ? "session %s has already ended"
			     : "session %s not found (see trellis-admin "
			       "sessions list)",
			 id);
		json_decref(row);
		return -1;
	}
	if (s->state == SESSION_STOPPING) {
		snprintf(error, error_size, "session %s is already stopping",
			 id);
		return -1;
	}
	sessions_begin_stop(s, reason, false, actor);
	return 0;
}

static void describe_status(int status, char *out, size_t size)
{
	if (WIFEXITED(status))
		snprintf(out, size, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, size, "signal %s",
			 sigabbrev_np(WTERMSIG(status)) ?: "unknown");
	else
		snprintf(out, size, "wait status %d", status);
}

bool sessions_child_exited(struct session_manager *mgr, pid_t pid,
			   int status)
{
	char how[64];
	char reason[SESSION_REASON_MAX];

	if (mgr == NULL)
		return false;
	describe_status(status, how, sizeof(how));
	for (struct session *s = mgr->sessions; s; s = s->next) {
		if (s->ns && s->ns->pid == pid) {
			s->ns->reaped = true;
			s->ns->exit_status = status;
			log_info("session_sandbox_exited",
				 "session=%s pid=%d status=%s", s->id,
				 (int)pid, how);
			if (s->state == SESSION_STOPPING)
				return true;
			snprintf(reason, sizeof(reason),
				 "the desktop exited (%s)", how);
			sessions_begin_stop(s, reason, true, "trellisd");
			return true;
		}
		if (s->hub_pid == pid) {
			s->hub_pid = -1;
			log_info("session_hub_exited",
				 "session=%s pid=%d status=%s", s->id,
				 (int)pid, how);
			/* While the channel is open, its closing ends the
			 * session after the hub's last message, which names
			 * a better reason than the exit status. */
			if (s->state == SESSION_STOPPING || s->hub != NULL)
				return true;
			snprintf(reason, sizeof(reason),
				 "the desktop hub exited (%s)", how);
			sessions_begin_stop(s, reason, true, "trellisd");
			return true;
		}
	}
	return false;
}

/* Recovery at start */

/* Adopts the running desktop of ROW and gives it a new hub. Returns 0, or
 * -1 when it could not be adopted (the caller cleans it up). */
static int adopt(struct session_manager *mgr, json_t *row)
{
	struct master *m = mgr->master;
	const char *id = json_string_value(json_object_get(row, "id"));
	const char *user = json_string_value(json_object_get(row, "user"));
	const char *project_id =
	    json_string_value(json_object_get(row, "project"));
	const struct policy_project *project =
	    policy_find_project(m->policy, project_id);
	char reason[SESSION_REASON_MAX + 256];

	if (project == NULL) {
		log_warn("session_adopt_failed", "session=%s reason=%s", id,
			 "its project is no longer in the policy");
		return -1;
	}
	struct session *s = session_new(mgr, id, user, project_id);
	if (s == NULL)
		return -1;
	s->adopted = true;
	s->state = SESSION_RUNNING;
	s->host_uid =
	    (uid_t)json_integer_value(json_object_get(row, "host_uid"));
	s->created_wall_ms = json_integer_value(json_object_get(row,
								"created_ms"));
	s->started_wall_ms = json_integer_value(json_object_get(row,
								"started_ms"));
	/* NOTE: the limits come from the policy in force now, which may
	 * differ from the one the session started under. */
	limits_from_policy(project, &s->limits);

	if (ns_session_adopt(m->config->sessions_run_dir, id, &s->ns) < 0) {
		session_free(s);
		return -1;
	}
	list_add(s);
	if (s->limits.recording_required &&
	    open_recording(s, reason, sizeof(reason)) < 0) {
		fail_start(s, reason);
		return 0;
	}
	start_hub(s);
	return 0;
}

/* Removes whatever is left of session ID under the run directory. */
static void clean_leftover(struct session_manager *mgr, const char *id)
{
	struct ns_session *ns = NULL;

	if (ns_session_adopt(mgr->master->config->sessions_run_dir, id, &ns) <
	    0)
		return;
	ns_session_terminate(ns);
	ns_session_cleanup(ns);
	ns_session_free(ns);
}

struct recovery {
	struct ns_leftover *leftovers;
	size_t count;
	size_t adopted;
	size_t cleaned;
};

static struct ns_leftover *find_leftover(struct recovery *r, const char *id)
{
	for (size_t i = 0; i < r->count; i++)
		if (strcmp(r->leftovers[i].id, id) == 0)
			return &r->leftovers[i];
	return NULL;
}

static void recover_row(struct session_manager *mgr, json_t *row, void *arg)
{
	struct recovery *r = arg;
	const char *id = json_string_value(json_object_get(row, "id"));
	const char *state = json_string_value(json_object_get(row, "state"));
	struct ns_leftover *leftover = find_leftover(r, id);
	bool alive = leftover && leftover->pid_count > 0;

	if (leftover)
		leftover->id[0] = '\0'; /* handled */
	if (alive && strcmp(state, "running") == 0 && adopt(mgr, row) == 0) {
		r->adopted++;
		return;
	}

	if (leftover)
		clean_leftover(mgr, id);
	r->cleaned++;
	if (strcmp(state, "stopping") == 0)
		sessions_store_mark_ended(mgr, id, SESSION_STOPPED,
					  "trellisd restarted while the "
					  "session was stopping");
	else
		sessions_store_mark_ended(mgr, id, SESSION_FAILED,
					  alive ? "trellisd restarted and could "
						  "not adopt the desktop"
						: "trellisd restarted and the "
						  "desktop was gone");
}

int sessions_recover(struct session_manager *mgr)
{
	const char *run_dir = mgr->master->config->sessions_run_dir;
	struct recovery r = {0};

	/* Each desktop's socket folder inside is 0700 and owned by its host
	 * uid, which must pass through this one. */
	if (make_dir(run_dir, 0711) < 0)
		log_warn("session_run_dir_failed", "path=%s error=%s", run_dir,
			 strerror(errno));
	if (ns_session_list_leftovers(run_dir, &r.leftovers, &r.count) < 0)
		r.count = 0;

	int rc = sessions_store_each_active(mgr, recover_row, &r);

	/* Leftovers the store does not know are removed only when their
	 * socket folder is in this run directory. A cgroup alone may belong
	 * to another trellisd on the host, because cgroup v1 hierarchies
	 * where this process sits at the root are shared with it. */
	for (size_t i = 0; i < r.count; i++) {
		const struct ns_leftover *l = &r.leftovers[i];
		if (l->id[0] == '\0')
			continue;
		if (!l->has_dir) {
			log_warn("session_leftover_ignored",
				 "session=%s pids=%zu reason=%s", l->id,
				 l->pid_count,
				 "a cgroup without a socket folder in this run "
				 "directory");
			continue;
		}
		log_warn("session_leftover_removed", "session=%s pids=%zu",
			 l->id, l->pid_count);
		clean_leftover(mgr, l->id);
		r.cleaned++;
	}
	free(r.leftovers);
	log_info("sessions_recovered", "adopted=%zu cleaned=%zu", r.adopted,
		 r.cleaned);
	return rc;
}

void sessions_shutdown(struct session_manager *mgr)
{
	mgr->shutting_down = true;
	struct session *s = mgr->sessions;
	while (s) {
		struct session *next = s->next;
		if (s->state == SESSION_RUNNING) {
			/* The desktop keeps running for the next trellisd. */
			if (s->hub)
				sessions_hub_stop(s, "trellisd is restarting");
			list_remove(s);
			session_free(s);
		} else if (s->state == SESSION_STARTING) {
			sessions_begin_stop(s, "trellisd stopped while the "
					       "session was starting",
					    true, "trellisd");
		}
		s = next;
	}
	/* What still stops is finished now, without waiting for timers. */
	while (mgr->sessions) {
		s = mgr->sessions;
		if (s->ns)
			ns_session_terminate(s->ns);
		finish(s);
	}
}
