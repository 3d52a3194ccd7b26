/* Workspaces: the persistent folders of one user in one project.
 *
 * Layout on the host, beneath the configured root:
 *
 *   ROOT/PROJECT/           root:root 0711
 *   ROOT/PROJECT/USER/      root:root 0711
 *       home/               UID:GID   0700  read-write inside the sandbox
 *       outbox/             UID:GID   0700  read-write inside
 *       inbox/              UID:GID   0700  mounted read-only inside
 *
 * UID and GID are the host credentials the sandbox runs as; inside its user
 * namespace they map to the user's own uid and gid, so the folders appear
 * owned by the user. The directories above them allow traversal (0711)
 * because bubblewrap resolves the bind-mount sources as that host uid.
 *
 * Creation walks the tree with openat(O_NOFOLLOW | O_DIRECTORY), so a
 * symbolic link anywhere below ROOT is rejected rather than followed, and an
 * existing folder with the wrong type or owner is an error, never chowned. */
#ifndef TRELLIS_SESSION_WORKSPACE_H
#define TRELLIS_SESSION_WORKSPACE_H

#include <sys/types.h>

struct workspace_config {
	const char *root;    /* absolute path, must exist, trusted */
	const char *project; /* id, [a-z0-9-]{1,64} */
	const char *user;    /* id, [a-z0-9-]{1,64} */
	uid_t uid;	     /* host uid that owns home, outbox, inbox */
	gid_t gid;
};

struct workspace {
	char *home;
	char *outbox;
	char *inbox;
};

/* Creates the missing folders of the workspace and checks the existing
 * ones, then fills OUT with their absolute paths. Returns 0, or -1 after
 * logging which folder failed and why; OUT is then untouched. */
int workspace_prepare(const struct workspace_config *config,
		      struct workspace *out);

void workspace_free(struct workspace *workspace);

#endif
