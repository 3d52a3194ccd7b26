#include "session/session_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "session/session_id.h"

/* v1 controllers in the order of session_cgroup.dirs. */
static const char *const v1_controllers[SESSION_CGROUP_MAX_DIRS] = {
    "memory", "pids", "cpu"};

/* The directories of the caller's own groups, one per controller in v1. */
struct cgroup_base {
	enum session_cgroup_version version;
	size_t count;
	char *dirs[SESSION_CGROUP_MAX_DIRS];
};

static void base_free(struct cgroup_base *base)
{
	for (size_t i = 0; i < base->count; i++)
		free(base->dirs[i]);
	base->count = 0;
}

static bool word_in_list(const char *list, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == len && strncmp(p, word, len) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* Finds in /proc/self/cgroup the path of the caller's group for CONTROLLER
 * (v1) or the unified hierarchy (CONTROLLER NULL). */
static char *own_cgroup_path(const char *controller)
{
	autofclose FILE *f = fopen("/proc/self/cgroup", "re");
	if (f == NULL)
		return NULL;

	autofree char *line = NULL;
	size_t size = 0;
	while (getline(&line, &size, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		char *first = strchr(line, ':');
		char *second = first ? strchr(first + 1, ':') : NULL;
		if (second == NULL)
			continue;
		*second = '\0';
		const char *controllers = first + 1;
		const char *path = second + 1;

		if (controller == NULL ? controllers[0] == '\0'
				       : word_in_list(controllers, controller))
			return strdup(path);
	}
	return NULL;
}

/* Finds in /proc/self/mountinfo the mount of the v1 hierarchy of
 * CONTROLLER, or of cgroup2 when CONTROLLER is NULL, and builds the
 * directory of the caller's group in it. */
static char *own_cgroup_dir(const char *controller)
{
	autofree char *own = own_cgroup_path(controller);
	if (own == NULL)
		return NULL;

	autofclose FILE *f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		return NULL;

	autofree char *line = NULL;
	size_t size = 0;
	while (getline(&line, &size, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		/* id parent dev root mountpoint options [tags] - fstype
		 * source superoptions */
		char *fields[5] = {0};
		char *save = NULL;
		char *token = strtok_r(line, " ", &save);
		for (int i = 0; i < 5 && token; i++) {
			fields[i] = token;
			token = strtok_r(NULL, " ", &save);
		}
		while (token && strcmp(token, "-") != 0)
			token = strtok_r(NULL, " ", &save);
		char *fstype = token ? strtok_r(NULL, " ", &save) : NULL;
		char *source = fstype ? strtok_r(NULL, " ", &save) : NULL;
		char *options = source ? strtok_r(NULL, " ", &save) : NULL;
		if (options == NULL || fields[4] == NULL)
			continue;

		bool match = controller == NULL
				 ? strcmp(fstype, "cgroup2") == 0
				 : strcmp(fstype, "cgroup") == 0 &&
				       word_in_list(options, controller);
		if (!match)
			continue;

		/* The group path is relative to the mount's root. */
		const char *root = fields[3];
		const char *relative = own;
		size_t root_len = strlen(root);
		if (strcmp(root, "/") != 0) {
			if (strncmp(own, root, root_len) != 0)
				continue;
			relative = own + root_len;
		}
		if (strcmp(relative, "/") == 0)
			relative = "";

		char *dir = NULL;
		if (asprintf(&dir, "%s%s", fields[4], relative) < 0)
			return NULL;
		return dir;
	}
	return NULL;
}

static int detect_base(struct cgroup_base *base)
{
	*base = (struct cgroup_base){0};

	autofree char *memory = own_cgroup_dir("memory");
	if (memory != NULL) {
		base->version = SESSION_CGROUP_V1;
		base->dirs[0] = steal_pointer(&memory);
		base->count = 1;
		for (size_t i = 1; i < SESSION_CGROUP_MAX_DIRS; i++) {
			base->dirs[i] = own_cgroup_dir(v1_controllers[i]);
			if (base->dirs[i] == NULL) {
				log_error("session_cgroup_missing",
					  "controller=%s hint=%s",
					  v1_controllers[i],
					  "mount the cgroup v1 controller");
				base_free(base);
				return -1;
			}
			base->count++;
		}
		return 0;
	}

	char *unified = own_cgroup_dir(NULL);
	if (unified == NULL) {
		log_error("session_cgroup_missing", "controller=%s hint=%s",
			  "memory",
			  "mount cgroup2 or the cgroup v1 memory controller");
		return -1;
	}
	base->version = SESSION_CGROUP_V2;
	base->dirs[0] = unified;
	base->count = 1;
	return 0;
}

static int write_file(const char *dir, const char *name, const char *value)
{
	autofree char *path = NULL;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -1;

	autoclose int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, strlen(value)) < 0) {
		log_error("session_cgroup_write_failed",
			  "path=%s value=%s error=%s", path, value,
			  strerror(errno));
		return -1;
	}
	return 0;
}

static bool file_exists(const char *dir, const char *name)
{
	autofree char *path = NULL;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return false;
	return access(path, F_OK) == 0;
}

static int apply_v1_limits(const struct session_cgroup *group,
			   const struct session_cgroup_limits *limits)
{
	char value[32];

	if (limits->memory_bytes > 0) {
		snprintf(value, sizeof(value), "%" PRIu64,
			 limits->memory_bytes);
		if (write_file(group->dirs[0], "memory.limit_in_bytes", value) <
		    0)
			return -1;
		/* Without this the session could swap past its limit. */
		if (file_exists(group->dirs[0],
				"memory.memsw.limit_in_bytes") &&
		    write_file(group->dirs[0], "memory.memsw.limit_in_bytes",
			       value) < 0)
			return -1;
	}
	if (limits->pids_max > 0) {
		snprintf(value, sizeof(value), "%" PRIu64, limits->pids_max);
		if (write_file(group->dirs[1], "pids.max", value) < 0)
			return -1;
	}
	if (limits->cpu_millis > 0) {
		/* quota per 100 ms period: 1000 millis = 100000 us */
		snprintf(value, sizeof(value), "%" PRIu64,
			 (uint64_t)limits->cpu_millis * 100);
		if (write_file(group->dirs[2], "cpu.cfs_period_us", "100000") <
			0 ||
		    write_file(group->dirs[2], "cpu.cfs_quota_us", value) < 0)
			return -1;
	}
	return 0;
}

static int apply_v2_limits(const struct session_cgroup *group,
			   const struct session_cgroup_limits *limits)
{
	char value[48];
	const char *dir = group->dirs[0];

	if (limits->memory_bytes > 0) {
		snprintf(value, sizeof(value), "%" PRIu64,
			 limits->memory_bytes);
		if (write_file(dir, "memory.max", value) < 0)
			return -1;
		if (file_exists(dir, "memory.swap.max") &&
		    write_file(dir, "memory.swap.max", "0") < 0)
			return -1;
	}
	if (limits->pids_max > 0) {
		snprintf(value, sizeof(value), "%" PRIu64, limits->pids_max);
		if (write_file(dir, "pids.max", value) < 0)
			return -1;
	}
	if (limits->cpu_millis > 0) {
		snprintf(value, sizeof(value), "%" PRIu64 " 100000",
			 (uint64_t)limits->cpu_millis * 100);
		if (write_file(dir, "cpu.max", value) < 0)
			return -1;
	}
	return 0;
}

static int fill_group(const struct cgroup_base *base, const char *id,
		      struct session_cgroup *out)
{
	*out = (struct session_cgroup){.version = base->version};

	for (size_t i = 0; i < base->count; i++) {
		if (asprintf(&out->dirs[i], "%s/" SESSION_CGROUP_PREFIX "%s",
			     base->dirs[i], id) < 0) {
			out->dirs[i] = NULL;
			session_cgroup_free(out);
			return -1;
		}
		out->count++;
		if (asprintf(&out->procs_files[i], "%s/cgroup.procs",
			     out->dirs[i]) < 0) {
			out->procs_files[i] = NULL;
			session_cgroup_free(out);
			return -1;
		}
	}
	return 0;
}

static void remove_dirs(const struct session_cgroup *group)
{
	for (size_t i = 0; i < group->count; i++)
		if (rmdir(group->dirs[i]) < 0 && errno != ENOENT)
			log_warn("session_cgroup_rmdir_failed",
				 "path=%s error=%s", group->dirs[i],
				 strerror(errno));
}

int session_cgroup_create(const char *id,
			  const struct session_cgroup_limits *limits,
			  struct session_cgroup *out)
{
	if (!session_id_valid(id)) {
		log_error("session_cgroup_id_invalid", "id=%s", id ? id : "");
		return -1;
	}

	struct cgroup_base base;
	if (detect_base(&base) < 0)
		return -1;

	struct session_cgroup group;
	int rc = fill_group(&base, id, &group);
	if (rc == 0 && base.version == SESSION_CGROUP_V2 &&
	    write_file(base.dirs[0], "cgroup.subtree_control",
		       "+memory +pids +cpu") < 0) {
		log_error("session_cgroup_delegate_failed", "path=%s hint=%s",
			  base.dirs[0],
			  "run trellisd in a delegated cgroup without other "
			  "processes in it (systemd Delegate=yes)");
		session_cgroup_free(&group);
		rc = -1;
	}
	base_free(&base);
	if (rc < 0)
		return -1;

	for (size_t i = 0; i < group.count; i++) {
		if (mkdir(group.dirs[i], 0755) < 0) {
			log_error("session_cgroup_mkdir_failed",
				  "path=%s error=%s hint=%s", group.dirs[i],
				  strerror(errno),
				  errno == EEXIST
				      ? "a session with this id is still "
					"running or was not cleaned up"
				      : "check that trellisd runs as root");
			/* Only the directories made here are removed. */
			for (size_t j = 0; j < i; j++)
				rmdir(group.dirs[j]);
			session_cgroup_free(&group);
			return -1;
		}
	}

	rc = group.version == SESSION_CGROUP_V1
		 ? apply_v1_limits(&group, limits)
		 : apply_v2_limits(&group, limits);
	if (rc < 0) {
		remove_dirs(&group);
		session_cgroup_free(&group);
		return -1;
	}

	log_info("session_cgroup_created",
		 "id=%s version=%d dir=%s memory_bytes=%" PRIu64
		 " pids_max=%" PRIu64 " cpu_millis=%u",
		 id, (int)group.version, group.dirs[0], limits->memory_bytes,
		 limits->pids_max, limits->cpu_millis);
	*out = group;
	return 0;
}

int session_cgroup_open(const char *id, struct session_cgroup *out)
{
	if (!session_id_valid(id))
		return -1;

	struct cgroup_base base;
	if (detect_base(&base) < 0)
		return -1;
	int rc = fill_group(&base, id, out);
	base_free(&base);
	if (rc < 0)
		return -1;

	for (size_t i = 0; i < out->count; i++)
		if (access(out->dirs[i], F_OK) == 0)
			return 0;
	session_cgroup_free(out);
	return -1;
}

int session_cgroup_join_self(const struct session_cgroup *group)
{
	for (size_t i = 0; i < group->count; i++) {
		int fd = open(group->procs_files[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		/* "0" names the writing process in both hierarchies. */
		ssize_t n = write(fd, "0", 1);
		int saved_errno = errno;
		close(fd);
		if (n != 1) {
			errno = saved_errno;
			return -1;
		}
	}
	return 0;
}

static bool pid_listed(const pid_t *pids, size_t count, pid_t pid)
{
	for (size_t i = 0; i < count; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

int session_cgroup_read_pids(const struct session_cgroup *group, pid_t **pids,
			     size_t *count)
{
	autofree pid_t *list = NULL;
	size_t n = 0, capacity = 0;

	for (size_t i = 0; i < group->count; i++) {
		autofclose FILE *f = fopen(group->procs_files[i], "re");
		if (f == NULL) {
			if (errno == ENOENT)
				continue;
			log_error("session_cgroup_read_failed",
				  "path=%s error=%s", group->procs_files[i],
				  strerror(errno));
			return -1;
		}

		long value;
		while (fscanf(f, "%ld", &value) == 1) {
			pid_t pid = (pid_t)value;
			if (value <= 0 || pid_listed(list, n, pid))
				continue;
			if (n == capacity) {
				capacity = capacity ? capacity * 2 : 16;
				pid_t *grown =
				    reallocarray(list, capacity, sizeof(*list));
				if (grown == NULL)
					return -1;
				list = grown;
			}
			list[n++] = pid;
		}
	}

	*pids = steal_pointer(&list);
	*count = n;
	return 0;
}

size_t session_cgroup_signal(const struct session_cgroup *group, int signal)
{
	autofree pid_t *pids = NULL;
	size_t count = 0, signalled = 0;

	if (session_cgroup_read_pids(group, &pids, &count) < 0)
		return 0;
	for (size_t i = 0; i < count; i++)
		if (kill(pids[i], signal) == 0)
			signalled++;
	return signalled;
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keeps a fork bomb from outrunning the kill loop. */
static void stop_forks(const struct session_cgroup *group)
{
	if (group->version == SESSION_CGROUP_V2) {
		if (file_exists(group->dirs[0], "cgroup.kill"))
			write_file(group->dirs[0], "cgroup.kill", "1");
		if (file_exists(group->dirs[0], "pids.max"))
			write_file(group->dirs[0], "pids.max", "0");
		return;
	}
	if (access(group->dirs[1], F_OK) == 0)
		write_file(group->dirs[1], "pids.max", "0");
}

int session_cgroup_destroy(const struct session_cgroup *group,
			   int64_t timeout_ms)
{
	int64_t deadline_ms = monotonic_ms() + timeout_ms;
	size_t remaining = 0;

	stop_forks(group);
	for (;;) {
		autofree pid_t *pids = NULL;
		if (session_cgroup_read_pids(group, &pids, &remaining) < 0)
			return -1;
		for (size_t i = 0; i < remaining; i++)
			kill(pids[i], SIGKILL);

		if (remaining == 0) {
			bool removed = true;
			for (size_t i = 0; i < group->count; i++)
				if (rmdir(group->dirs[i]) < 0 &&
				    errno != ENOENT)
					removed = false;
			if (removed)
				return 0;
		}
		if (monotonic_ms() >= deadline_ms)
			break;
		usleep(10 * 1000);
	}

	log_error("session_cgroup_destroy_failed",
		  "dir=%s remaining_pids=%zu hint=%s", group->dirs[0],
		  remaining,
		  "a process may be stuck in the kernel (state D); retry "
		  "later");
	return -1;
}

static bool id_listed(char **ids, size_t count, const char *id)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(ids[i], id) == 0)
			return true;
	return false;
}

int session_cgroup_list_ids(char ***out_ids, size_t *out_count)
{
	struct cgroup_base base;
	if (detect_base(&base) < 0)
		return -1;

	char **ids = calloc(1, sizeof(*ids));
	size_t count = 0;
	int rc = ids ? 0 : -1;
	size_t prefix_len = strlen(SESSION_CGROUP_PREFIX);

	for (size_t i = 0; rc == 0 && i < base.count; i++) {
		DIR *dir = opendir(base.dirs[i]);
		if (dir == NULL) {
			log_error("session_cgroup_list_failed",
				  "path=%s error=%s", base.dirs[i],
				  strerror(errno));
			rc = -1;
			break;
		}
		struct dirent *entry;
		while (rc == 0 && (entry = readdir(dir)) != NULL) {
			const char *name = entry->d_name;
			if (strncmp(name, SESSION_CGROUP_PREFIX, prefix_len) !=
				0 ||
			    !session_id_valid(name + prefix_len) ||
			    id_listed(ids, count, name + prefix_len))
				continue;
			char **grown =
			    reallocarray(ids, count + 2, sizeof(*ids));
			if (grown == NULL) {
				rc = -1;
				break;
			}
			ids = grown;
			ids[count] = strdup(name + prefix_len);
			if (ids[count] == NULL) {
				rc = -1;
				break;
			}
			ids[++count] = NULL;
		}
		closedir(dir);
	}
	base_free(&base);

	if (rc < 0) {
		session_cgroup_free_ids(ids);
		return -1;
	}
	*out_ids = ids;
	*out_count = count;
	return 0;
}

void session_cgroup_free_ids(char **ids)
{
	if (ids == NULL)
		return;
	for (char **p = ids; *p; p++)
		free(*p);
	free(ids);
}

void session_cgroup_free(struct session_cgroup *group)
{
	for (size_t i = 0; i < group->count; i++) {
		free(group->dirs[i]);
		free(group->procs_files[i]);
		group->dirs[i] = NULL;
		group->procs_files[i] = NULL;
	}
	group->count = 0;
}
