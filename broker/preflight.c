#include "broker/preflight.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker/admin_server.h"
#include "lib/log.h"
#include "policy/policy.h"

static int problem(const char *check, const char *path, const char *error,
		   const char *hint)
{
	log_error("preflight_failed", "check=%s path=%s error=%s hint=%s",
		  check, path, error, hint);
	return 1;
}

static int check_policy(const struct trellis_config *config)
{
	struct policy *policy = NULL;
	struct diag_list diags;
	int problems = 0;

	diag_list_init(&diags);
	if (policy_load(config->policy, &policy, &diags) < 0) {
		for (size_t i = 0; i < diags.count; i++) {
			const struct diag *d = &diags.items[i];
			log_error("policy_invalid",
				  "file=%s line=%u column=%u key=%s error=%s",
				  d->file ? d->file : config->policy, d->line,
				  d->column, d->key_path ? d->key_path : "",
				  d->message);
		}
		problems = problem("policy", config->policy, "invalid policy",
				   "run trellis-admin policy check FILE");
	}
	policy_free(policy);
	diag_list_clear(&diags);
	return problems;
}

static int check_web_user(const struct trellis_config *config)
{
	struct passwd *pw = getpwnam(config->web_user);
	char hint[160];

	snprintf(hint, sizeof(hint),
		 "create it with useradd --system %s, or set web.user",
		 config->web_user);
	if (pw == NULL)
		return problem("web.user", config->web_user, "no such user",
			       hint);
	if (pw->pw_uid == 0)
		return problem("web.user", config->web_user,
			       "the web front must not run as root",
			       "set web.user to an unprivileged system user");
	return 0;
}

static int check_executable(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (access(path, X_OK) < 0)
		return problem("workers.directory", path, strerror(errno),
			       "install Trellis or set workers.directory");
	return 0;
}

static int check_directory(const char *check, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return problem(check, path, strerror(errno),
			       "create it or correct the path");
	if (!S_ISDIR(st.st_mode))
		return problem(check, path, "not a directory",
			       "correct the path");
	return 0;
}

static int check_admin_socket(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(addr.sun_path))
		return problem("admin.socket", path,
			       "path too long for a unix socket",
			       "use a path of at most 107 bytes");
	strcpy(addr.sun_path, path);
	if (admin_socket_in_use(&addr))
		return problem("admin.socket", path,
			       "another trellisd is listening there",
			       "stop it or set another admin.socket");
	return 0;
}

static int check_listen(const struct trellis_config *config)
{
	for (size_t i = 0; i < config->listen_count; i++)
		for (size_t j = 0; j < i; j++)
			if (config->listen[i].port == config->listen[j].port &&
			    strcmp(config->listen[i].host,
				   config->listen[j].host) == 0)
				return problem("web.listen",
					       config->listen[i].host,
					       "address and port listed twice",
					       "list each address once");
	return 0;
}

/* An existing PATH must be owned by root and closed to other users: to
 * group and others entirely for secrets, or only for writing. */
static int check_private(const char *check, const char *path,
			 mode_t forbidden_bits, bool want_directory)
{
	struct stat st;
	char hint[256];

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0
				       : problem(check, path, strerror(errno),
						 "check the path");
	if (S_ISLNK(st.st_mode))
		return problem(check, path, "is a symbolic link",
			       "point the configuration at the real path");
	if (want_directory ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return problem(check, path,
			       want_directory ? "not a directory"
					      : "not a regular file",
			       "correct the path");
	snprintf(hint, sizeof(hint), "chown root %s && chmod %s %s", path,
		 want_directory ? "0700" : "0600", path);
	if (st.st_uid != geteuid())
		return problem(check, path, "not owned by the trellisd user",
			       hint);
	if (st.st_mode & forbidden_bits)
		return problem(check, path, "open to other users", hint);
	return 0;
}

int preflight_check(const struct trellis_config *config)
{
	char generated_key[4096];
	int problems = 0;

	problems += check_policy(config);
	problems += check_web_user(config);
	problems += check_executable(config->workers_dir, "trellis-web");
	problems += check_directory("web.static_dir", config->static_dir);
	problems += check_admin_socket(config->admin_socket);
	problems += check_listen(config);

	problems += check_private("state_dir", config->state_dir, 022, true);
	problems += check_private("database", config->database, 077, false);
	if (config->tls_key) {
		problems +=
		    check_private("web.tls_key", config->tls_key, 077, false);
	} else {
		snprintf(generated_key, sizeof(generated_key), "%s/tls/key.pem",
			 config->state_dir);
		problems +=
		    check_private("web.tls_key", generated_key, 077, false);
	}
	return problems;
}
