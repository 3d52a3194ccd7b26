#include "session/session_ns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "session/sandbox.h"

/* How long cleanup waits for killed processes to disappear. */
#define CLEANUP_TIMEOUT_MS 5000
#define RUN_DIR_MODE	   0711
#define SESSION_DIR_MODE   0700

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Creates RUN_DIR (root, 0711) if missing and refuses one that is a
 * symbolic link or owned by another user, since session directories are
 * created inside it. */
static int prepare_run_dir(const char *run_dir)
{
	if (mkdir(run_dir, RUN_DIR_MODE) < 0 && errno != EEXIST) {
		log_error("session_run_dir_failed", "path=%s error=%s", run_dir,
			  strerror(errno));
		return -1;
	}

	struct stat st;
	if (lstat(run_dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & 022) != 0) {
		log_error("session_run_dir_invalid", "path=%s hint=%s", run_dir,
			  "it must be a directory owned by root and writable "
			  "only by root");
		return -1;
	}
	return 0;
}

/* Creates RUN_DIR/ID owned by the sandbox's host uid, mode 0700. */
static int create_session_dir(const struct ns_session_config *c,
			      const char *path)
{
	autoclose int run_fd =
	    open(c->run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (run_fd < 0 || mkdirat(run_fd, c->id, SESSION_DIR_MODE) < 0) {
		log_error("session_dir_failed", "path=%s error=%s hint=%s",
			  path, strerror(errno),
			  errno == EEXIST ? "a session with this id exists; "
					    "clean it up first"
					  : "check the run directory");
		return -1;
	}

	autoclose int fd = openat(
	    run_fd, c->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchown(fd, c->host_uid, c->host_gid) < 0 ||
	    fchmod(fd, SESSION_DIR_MODE) < 0) {
		log_error("session_dir_failed", "path=%s error=%s", path,
			  strerror(errno));
		unlinkat(run_fd, c->id, AT_REMOVEDIR);
		return -1;
	}
	return 0;
}

/* Removes everything beneath DIR_FD without following symbolic links: the
 * sandbox can write arbitrary entries into its socket directory. */
static int remove_tree_at(int dir_fd, int depth)
{
	autoclose int fd = dup(dir_fd);
	if (fd < 0)
		return -1;
	DIR *dir = fdopendir(fd);
	if (dir == NULL)
		return -1;
	fd = -1;

	int rc = 0;
	struct dirent *entry;
	while ((entry = readdir(dir)) != NULL) {
		const char *name = entry->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (unlinkat(dirfd(dir), name, 0) == 0 || errno == ENOENT)
			continue;
		if (errno != EISDIR || depth > 32) {
			rc = -1;
			continue;
		}
		int child =
		    openat(dirfd(dir), name,
			   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (child < 0 || remove_tree_at(child, depth + 1) < 0)
			rc = -1;
		if (child >= 0)
			close(child);
		if (unlinkat(dirfd(dir), name, AT_REMOVEDIR) < 0)
			rc = -1;
	}
	closedir(dir);
	return rc;
}

static int remove_session_dir(const char *run_dir, const char *id)
{
	autoclose int run_fd =
	    open(run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (run_fd < 0)
		return errno == ENOENT ? 0 : -1;

	autoclose int fd =
	    openat(run_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (remove_tree_at(fd, 0) < 0 ||
	    unlinkat(run_fd, id, AT_REMOVEDIR) < 0) {
		log_error("session_dir_remove_failed", "path=%s/%s error=%s",
			  run_dir, id, strerror(errno));
		return -1;
	}
	return 0;
}

static struct ns_session *session_new(const char *run_dir, const char *id)
{
	struct ns_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;

	snprintf(s->id, sizeof(s->id), "%s", id);
	s->pid = -1;
	if (asprintf(&s->dir, "%s/%s", run_dir, id) < 0) {
		s->dir = NULL;
		ns_session_free(s);
		return NULL;
	}
	if (asprintf(&s->socket_path, "%s/%s", s->dir, SANDBOX_SOCKET_NAME) <
	    0) {
		s->socket_path = NULL;
		ns_session_free(s);
		return NULL;
	}
	return s;
}

int ns_session_start(const struct ns_session_config *config,
		     struct ns_session **out)
{
	if (sandbox_config_check(config) < 0 ||
	    prepare_run_dir(config->run_dir) < 0)
		return -1;

	struct ns_session *s = session_new(config->run_dir, config->id);
	if (s == NULL)
		return -1;
	if (strlen(s->socket_path) >=
	    sizeof(((struct sockaddr_un *)0)->sun_path)) {
		log_error("session_socket_path_invalid", "path=%s hint=%s",
			  s->socket_path, "use a shorter run directory");
		ns_session_free(s);
		return -1;
	}

	s->started_ms = monotonic_ms();
	if (create_session_dir(config, s->dir) < 0) {
		ns_session_free(s);
		return -1;
	}
	if (session_cgroup_create(config->id, &config->limits, &s->cgroup) <
	    0) {
		remove_session_dir(config->run_dir, config->id);
		ns_session_free(s);
		return -1;
	}

	char **command = sandbox_desktop_command(config);
	if (command != NULL)
		s->pid =
		    sandbox_spawn(config, s->dir, &s->cgroup, command, false);
	sandbox_strv_free(command);
	if (s->pid < 0) {
		session_cgroup_destroy(&s->cgroup, CLEANUP_TIMEOUT_MS);
		remove_session_dir(config->run_dir, config->id);
		ns_session_free(s);
		return -1;
	}

	log_info("session_started",
		 "id=%s user=%s pid=%d socket=%s cgroup=%s host_uid=%u", s->id,
		 config->user, (int)s->pid, s->socket_path, s->cgroup.dirs[0],
		 (unsigned)config->host_uid);
	*out = s;
	return 0;
}

/* Collects the sandbox's exit status if it is our child and has exited. */
static void reap(struct ns_session *s)
{
	if (s->reaped || s->pid <= 0)
		return;

	int status;
	pid_t rc = waitpid(s->pid, &status, WNOHANG);
	if (rc == s->pid) {
		s->reaped = true;
		s->exit_status = status;
		log_info("session_sandbox_exited", "id=%s pid=%d status=%d",
			 s->id, (int)s->pid, status);
	} else if (rc < 0 && errno == ECHILD) {
		/* Adopted: another process was its parent. */
		s->reaped = kill(s->pid, 0) < 0 && errno == ESRCH;
	}
}

bool ns_session_alive(struct ns_session *s)
{
	reap(s);

	autofree pid_t *pids = NULL;
	size_t count = 0;
	if (session_cgroup_read_pids(&s->cgroup, &pids, &count) < 0)
		return !s->reaped;
	return count > 0;
}

static int connect_socket(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);

	autoclose int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return -1;
	return steal_fd(&fd);
}

int ns_session_ready(struct ns_session *s, int timeout_ms)
{
	autoclose int fd = connect_socket(s->socket_path);
	if (fd < 0)
		return ns_session_alive(s) ? 0 : -1;

	/* "RFB 003.008\n": the server speaks first. */
	char version[12];
	size_t got = 0;
	int64_t deadline_ms = monotonic_ms() + timeout_ms;
	while (got < sizeof(version)) {
		int64_t left_ms = deadline_ms - monotonic_ms();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (left_ms <= 0 || poll(&pfd, 1, (int)left_ms) <= 0)
			return 0;
		ssize_t n = read(fd, version + got, sizeof(version) - got);
		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	if (memcmp(version, "RFB 003.", 8) != 0) {
		log_warn("session_rfb_version_invalid", "id=%s", s->id);
		return 0;
	}
	return 1;
}

int ns_session_connect(const struct ns_session *s)
{
	int fd = connect_socket(s->socket_path);
	if (fd < 0)
		log_error("session_connect_failed", "id=%s socket=%s error=%s",
			  s->id, s->socket_path, strerror(errno));
	return fd;
}

void ns_session_terminate(struct ns_session *s)
{
	size_t signalled = session_cgroup_signal(&s->cgroup, SIGTERM);
	log_info("session_terminating", "id=%s processes=%zu", s->id,
		 signalled);
}

int ns_session_cleanup(struct ns_session *s)
{
	int rc = 0;

	if (session_cgroup_destroy(&s->cgroup, CLEANUP_TIMEOUT_MS) < 0)
		rc = -1;
	reap(s);

	/* The socket directory's parent is the run directory. */
	autofree char *run_dir = strdup(s->dir);
	char *slash = run_dir ? strrchr(run_dir, '/') : NULL;
	if (slash == NULL)
		return -1;
	*slash = '\0';
	if (remove_session_dir(run_dir[0] ? run_dir : "/", s->id) < 0)
		rc = -1;

	log_info("session_cleaned", "id=%s result=%s", s->id,
		 rc == 0 ? "ok" : "incomplete");
	return rc;
}

int ns_session_stop(struct ns_session *s, int64_t grace_ms)
{
	int64_t deadline_ms = monotonic_ms() + grace_ms;

	ns_session_terminate(s);
	while (ns_session_alive(s) && monotonic_ms() < deadline_ms)
		usleep(20 * 1000);
	return ns_session_cleanup(s);
}

/* The sandbox's outermost process is the one whose parent is outside the
 * cgroup. */
static pid_t find_outer_pid(const pid_t *pids, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pids[i]);
		autofclose FILE *f = fopen(path, "re");
		if (f == NULL)
			continue;
		char line[512];
		if (fgets(line, sizeof(line), f) == NULL)
			continue;
		/* The command name may contain spaces; fields resume after
		 * its closing parenthesis. */
		char *end = strrchr(line, ')');
		int ppid;
		if (end == NULL || sscanf(end + 1, " %*c %d", &ppid) != 1)
			continue;
		bool inside = false;
		for (size_t j = 0; j < count; j++)
			if (pids[j] == ppid)
				inside = true;
		if (!inside)
			return pids[i];
	}
	return -1;
}

int ns_session_adopt(const char *run_dir, const char *id,
		     struct ns_session **out)
{
	if (!session_id_valid(id))
		return -1;

	struct ns_session *s = session_new(run_dir, id);
	if (s == NULL)
		return -1;
	/* Without a cgroup only the socket directory is left, and
	 * ns_session_cleanup removes it. */
	if (session_cgroup_open(id, &s->cgroup) < 0)
		s->cgroup = (struct session_cgroup){0};

	autofree pid_t *pids = NULL;
	size_t count = 0;
	if (s->cgroup.count > 0 &&
	    session_cgroup_read_pids(&s->cgroup, &pids, &count) == 0)
		s->pid = find_outer_pid(pids, count);
	s->reaped = s->pid < 0;
	s->started_ms = monotonic_ms();

	log_info("session_adopted", "id=%s pid=%d processes=%zu", id,
		 (int)s->pid, count);
	*out = s;
	return 0;
}

static struct ns_leftover *find_or_add(struct ns_leftover **list, size_t *count,
				       const char *id)
{
	for (size_t i = 0; i < *count; i++)
		if (strcmp((*list)[i].id, id) == 0)
			return &(*list)[i];

	struct ns_leftover *grown =
	    reallocarray(*list, *count + 1, sizeof(**list));
	if (grown == NULL)
		return NULL;
	*list = grown;
	struct ns_leftover *entry = &grown[(*count)++];
	*entry = (struct ns_leftover){0};
	snprintf(entry->id, sizeof(entry->id), "%s", id);
	return entry;
}

int ns_session_list_leftovers(const char *run_dir, struct ns_leftover **out,
			      size_t *out_count)
{
	struct ns_leftover *list = NULL;
	size_t count = 0;
	char **ids = NULL;
	size_t id_count = 0;

	if (session_cgroup_list_ids(&ids, &id_count) < 0)
		return -1;
	for (size_t i = 0; i < id_count; i++) {
		struct ns_leftover *entry = find_or_add(&list, &count, ids[i]);
		struct session_cgroup group;
		if (entry == NULL)
			break;
		entry->has_cgroup = true;
		if (session_cgroup_open(ids[i], &group) == 0) {
			autofree pid_t *pids = NULL;
			if (session_cgroup_read_pids(&group, &pids,
						     &entry->pid_count) < 0)
				entry->pid_count = 0;
			session_cgroup_free(&group);
		}
	}
	session_cgroup_free_ids(ids);

	DIR *dir = opendir(run_dir);
	struct dirent *d;
	while (dir && (d = readdir(dir)) != NULL) {
		if (!session_id_valid(d->d_name))
			continue;
		struct ns_leftover *entry =
		    find_or_add(&list, &count, d->d_name);
		if (entry != NULL)
			entry->has_dir = true;
	}
	if (dir)
		closedir(dir);

	*out = list;
	*out_count = count;
	return 0;
}

pid_t ns_session_exec(const struct ns_session_config *config,
		      const struct ns_session *join, char *const argv[])
{
	if (sandbox_config_check(config) < 0)
		return -1;
	return sandbox_spawn(config, NULL, join ? &join->cgroup : NULL, argv,
			     true);
}

void ns_session_free(struct ns_session *s)
{
	if (s == NULL)
		return;
	session_cgroup_free(&s->cgroup);
	free(s->dir);
	free(s->socket_path);
	free(s);
}
