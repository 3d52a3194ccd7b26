/* session-tool: drives the ns session driver from the command line for the
 * integration tests, the way trellisd calls it.
 *
 *   session-tool [OPTIONS] start      start, wait for RFB, print key=value
 *   session-tool [OPTIONS] exec CMD.. run CMD in a sandbox like the session's
 *   session-tool [OPTIONS] stop       adopt the session ID and stop it
 *   session-tool [OPTIONS] leftovers  print one leftover session per line */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "session/session_ns.h"
#include "session/workspace.h"

#define MAX_DATA_MOUNTS 8

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: session-tool --id ID --user USER --project PROJECT\n"
		"  --host-uid UID --host-gid GID --workspace-root DIR\n"
		"  --run-dir DIR --desktop FILE [--image-root DIR]\n"
		"  [--uid UID] [--gid GID] [--data NAME=DIR]...\n"
		"  [--memory BYTES] [--pids N] [--cpu MILLIS]\n"
		"  [--clipboard-in] [--clipboard-out] [--join]\n"
		"  start | exec CMD... | stop | leftovers\n");
	exit(2);
}

static int run_start(const struct ns_session_config *config)
{
	struct ns_session *session;
	int64_t begin_ms = monotonic_ms();

	if (ns_session_start(config, &session) < 0)
		return 1;
	int64_t forked_ms = monotonic_ms();

	int ready = 0;
	while (ready == 0 && monotonic_ms() - begin_ms < 20000) {
		ready = ns_session_ready(session, 200);
		if (ready == 0)
			usleep(20 * 1000);
	}
	int64_t ready_ms = monotonic_ms();

	printf("pid=%d\nsocket=%s\n", (int)session->pid, session->socket_path);
	for (size_t i = 0; i < session->cgroup.count; i++)
		printf("cgroup=%s\n", session->cgroup.dirs[i]);
	printf("fork_ms=%" PRId64 "\nready_ms=%" PRId64 "\nready=%d\n",
	       forked_ms - begin_ms, ready_ms - begin_ms, ready);
	ns_session_free(session);
	return ready == 1 ? 0 : 1;
}

static int run_exec(const struct ns_session_config *config, bool join,
		    char *const argv[])
{
	struct ns_session *session = NULL;

	if (join && ns_session_adopt(config->run_dir, config->id, &session) < 0)
		return 1;
	pid_t pid = ns_session_exec(config, session, argv);
	ns_session_free(session);
	if (pid < 0)
		return 1;

	int status;
	if (waitpid(pid, &status, 0) < 0)
		return 1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

static int run_stop(const struct ns_session_config *config)
{
	struct ns_session *session;

	if (ns_session_adopt(config->run_dir, config->id, &session) < 0)
		return 1;
	int64_t begin_ms = monotonic_ms();
	int rc = ns_session_stop(session, 3000);
	printf("stop_ms=%" PRId64 "\n", monotonic_ms() - begin_ms);
	ns_session_free(session);
	return rc == 0 ? 0 : 1;
}

static int run_leftovers(const struct ns_session_config *config)
{
	struct ns_leftover *list;
	size_t count;

	if (ns_session_list_leftovers(config->run_dir, &list, &count) < 0)
		return 1;
	for (size_t i = 0; i < count; i++)
		printf("id=%s pids=%zu cgroup=%d dir=%d\n", list[i].id,
		       list[i].pid_count, list[i].has_cgroup, list[i].has_dir);
	free(list);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"id", required_argument, NULL, 'i'},
	    {"user", required_argument, NULL, 'u'},
	    {"project", required_argument, NULL, 'p'},
	    {"uid", required_argument, NULL, 'U'},
	    {"gid", required_argument, NULL, 'G'},
	    {"host-uid", required_argument, NULL, 'H'},
	    {"host-gid", required_argument, NULL, 'g'},
	    {"workspace-root", required_argument, NULL, 'w'},
	    {"run-dir", required_argument, NULL, 'r'},
	    {"desktop", required_argument, NULL, 'd'},
	    {"image-root", required_argument, NULL, 'I'},
	    {"data", required_argument, NULL, 'D'},
	    {"memory", required_argument, NULL, 'm'},
	    {"pids", required_argument, NULL, 'P'},
	    {"cpu", required_argument, NULL, 'c'},
	    {"clipboard-in", no_argument, NULL, 'a'},
	    {"clipboard-out", no_argument, NULL, 'b'},
	    {"join", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	struct ns_session_config config = {
	    .uid = 1000, .gid = 1000, .image_root = "/", .output_fd = 2};
	struct ns_data_mount mounts[MAX_DATA_MOUNTS];
	const char *project = NULL, *workspace_root = NULL;
	bool join = false;
	int opt;

	log_init("session-tool", LOG_LEVEL_INFO);
	while ((opt = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		switch (opt) {
		case 'i':
			config.id = optarg;
			break;
		case 'u':
			config.user = optarg;
			break;
		case 'p':
			project = optarg;
			break;
		case 'U':
			config.uid = (uid_t)strtoul(optarg, NULL, 10);
			break;
		case 'G':
			config.gid = (gid_t)strtoul(optarg, NULL, 10);
			break;
		case 'H':
			config.host_uid = (uid_t)strtoul(optarg, NULL, 10);
			break;
		case 'g':
			config.host_gid = (gid_t)strtoul(optarg, NULL, 10);
			break;
		case 'w':
			workspace_root = optarg;
			break;
		case 'r':
			config.run_dir = optarg;
			break;
		case 'd':
			config.desktop_path = optarg;
			break;
		case 'I':
			config.image_root = optarg;
			break;
		case 'D': {
			char *eq = strchr(optarg, '=');
			if (eq == NULL ||
			    config.data_mount_count == MAX_DATA_MOUNTS)
				usage();
			*eq = '\0';
			mounts[config.data_mount_count++] =
			    (struct ns_data_mount){optarg, eq + 1};
			break;
		}
		case 'm':
			config.limits.memory_bytes = strtoull(optarg, NULL, 10);
			break;
		case 'P':
			config.limits.pids_max = strtoull(optarg, NULL, 10);
			break;
		case 'c':
			config.limits.cpu_millis =
			    (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'a':
			config.clipboard.to_desktop = true;
			break;
		case 'b':
			config.clipboard.from_desktop = true;
			break;
		case 'j':
			join = true;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc || config.run_dir == NULL)
		usage();
	config.data_mounts = mounts;
	const char *command = argv[optind];

	if (strcmp(command, "leftovers") == 0)
		return run_leftovers(&config);
	if (strcmp(command, "stop") == 0)
		return run_stop(&config);

	struct workspace workspace = {0};
	struct workspace_config wc = {.root = workspace_root,
				      .project = project,
				      .user = config.user,
				      .uid = config.host_uid,
				      .gid = config.host_gid};
	if (workspace_prepare(&wc, &workspace) < 0)
		return 1;
	config.workspace = &workspace;

	int rc;
	if (strcmp(command, "start") == 0)
		rc = run_start(&config);
	else if (strcmp(command, "exec") == 0 && optind + 1 < argc) {
		/* The command's output is what the test reads. */
		config.output_fd = 1;
		rc = run_exec(&config, join, &argv[optind + 1]);
	} else
		usage();
	workspace_free(&workspace);
	return rc;
}
