#include "lib/spawn.h"

#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

void spawn_drop_and_exec(const char *path, uid_t uid, gid_t gid,
			 int death_signal, char *const envp[])
{
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		_exit(126);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(126);
	if (prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0) < 0)
		_exit(126);

	/* An ignored signal stays ignored across exec (the master ignores
	 * SIGPIPE), so each process starts from the defaults and sets its
	 * own. */
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	char *const argv[] = {(char *)path, NULL};
	execve(path, argv, envp);
	_exit(127);
}
