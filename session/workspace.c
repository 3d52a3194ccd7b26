#include "session/workspace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "session/session_id.h"

#define WORKSPACE_PARENT_MODE 0711
#define WORKSPACE_FOLDER_MODE 0700

/* Opens NAME beneath DIR_FD as a directory without following a symbolic
 * link, creating it with MODE and owner UID:GID when it is missing. An
 * existing directory must already have that owner. Returns the descriptor or
 * -1 after logging. */
static int open_or_create_dir(int dir_fd, const char *parent_path,
			      const char *name, mode_t mode, uid_t uid,
			      gid_t gid)
{
	bool created = false;

	if (mkdirat(dir_fd, name, mode) == 0)
		created = true;
	else if (errno != EEXIST) {
		log_error("workspace_mkdir_failed", "path=%s/%s error=%s",
			  parent_path, name, strerror(errno));
		return -1;
	}

	autoclose int fd = openat(
	    dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		log_error("workspace_open_failed",
			  "path=%s/%s error=%s hint=%s", parent_path, name,
			  strerror(errno),
			  "remove the symbolic link or file in its place");
		return -1;
	}

	if (created) {
		/* mkdirat applied the umask, and the new directory belongs to
		 * the caller, so both are set on the opened descriptor. */
		if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0) {
			log_error("workspace_chown_failed",
				  "path=%s/%s error=%s", parent_path, name,
				  strerror(errno));
			return -1;
		}
		return steal_fd(&fd);
	}

	struct stat st;
	if (fstat(fd, &st) < 0) {
		log_error("workspace_stat_failed", "path=%s/%s error=%s",
			  parent_path, name, strerror(errno));
		return -1;
	}
	if (st.st_uid != uid || st.st_gid != gid) {
		log_error(
		    "workspace_owner_invalid",
		    "path=%s/%s uid=%u gid=%u expected_uid=%u "
		    "expected_gid=%u hint=%s",
		    parent_path, name, (unsigned)st.st_uid, (unsigned)st.st_gid,
		    (unsigned)uid, (unsigned)gid,
		    "fix the owner by hand after checking why it differs");
		return -1;
	}
	if ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0) {
		log_error("workspace_chmod_failed", "path=%s/%s error=%s",
			  parent_path, name, strerror(errno));
		return -1;
	}
	return steal_fd(&fd);
}

static char *join_path(const char *a, const char *b, const char *c)
{
	char *path = NULL;

	if (c == NULL) {
		if (asprintf(&path, "%s/%s", a, b) < 0)
			return NULL;
	} else if (asprintf(&path, "%s/%s/%s", a, b, c) < 0) {
		return NULL;
	}
	return path;
}

int workspace_prepare(const struct workspace_config *config,
		      struct workspace *out)
{
	if (!session_id_valid(config->project) ||
	    !session_id_valid(config->user)) {
		log_error("workspace_id_invalid", "project=%s user=%s hint=%s",
			  config->project ? config->project : "",
			  config->user ? config->user : "",
			  "ids must match [a-z0-9-]{1,64}");
		return -1;
	}
	if (config->root == NULL || config->root[0] != '/') {
		log_error("workspace_root_invalid", "root=%s hint=%s",
			  config->root ? config->root : "",
			  "set an absolute workspace root");
		return -1;
	}

	autoclose int root_fd =
	    open(config->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		log_error("workspace_root_open_failed", "root=%s error=%s",
			  config->root, strerror(errno));
		return -1;
	}

	autofree char *project_path =
	    join_path(config->root, config->project, NULL);
	autofree char *user_path =
	    join_path(config->root, config->project, config->user);
	if (project_path == NULL || user_path == NULL)
		return -1;

	autoclose int project_fd =
	    open_or_create_dir(root_fd, config->root, config->project,
			       WORKSPACE_PARENT_MODE, 0, 0);
	if (project_fd < 0)
		return -1;
	autoclose int user_fd =
	    open_or_create_dir(project_fd, project_path, config->user,
			       WORKSPACE_PARENT_MODE, 0, 0);
	if (user_fd < 0)
		return -1;

	static const char *const folders[] = {"home", "outbox", "inbox"};
	for (size_t i = 0; i < sizeof(folders) / sizeof(folders[0]); i++) {
		autoclose int fd = open_or_create_dir(
		    user_fd, user_path, folders[i], WORKSPACE_FOLDER_MODE,
		    config->uid, config->gid);
		if (fd < 0)
			return -1;
	}

	autofree char *home = join_path(user_path, "home", NULL);
	autofree char *outbox = join_path(user_path, "outbox", NULL);
	autofree char *inbox = join_path(user_path, "inbox", NULL);
	if (home == NULL || outbox == NULL || inbox == NULL)
		return -1;

	out->home = steal_pointer(&home);
	out->outbox = steal_pointer(&outbox);
	out->inbox = steal_pointer(&inbox);
	log_info("workspace_prepared", "project=%s user=%s path=%s",
		 config->project, config->user, user_path);
	return 0;
}

void workspace_free(struct workspace *workspace)
{
	free(workspace->home);
	free(workspace->outbox);
	free(workspace->inbox);
	workspace->home = NULL;
	workspace->outbox = NULL;
	workspace->inbox = NULL;
}
