/* The detailed help of each trellis-admin command, printed by
 * `trellis-admin COMMAND --help`. Kept in one table so that it can be
 * checked against docs/trellis-admin.1 in one place. */
#include <stdio.h>
#include <string.h>

#include "admin/cmd_steward.h"

struct command_help {
	const char *group;
	const char *verb;
	const char *text;
};

#define JSON_OPTION "  -j, --json         print JSON instead of a table\n"

static const struct command_help helps[] = {
    {"status", NULL,
     "Usage: trellis-admin status [--json]\n"
     "Show the version, uptime, database, audit log length and the\n"
     "workers of trellisd.\n\n" JSON_OPTION},
    {"audit", "verify",
     "Usage: trellis-admin audit verify [--json]\n"
     "Check the audit log's hash chain and signed checkpoints. Exits\n"
     "with 1 and names the first bad record when the log is not "
     "intact.\n\n" JSON_OPTION},
    {"audit", "tail",
     "Usage: trellis-admin audit tail [-n COUNT] [--follow] [--json]\n"
     "Print the newest audit records, oldest first.\n\n"
     "  -n, --lines COUNT  number of records, 1 to 1000 (default 20)\n"
     "  -f, --follow       keep printing new records, polling once a\n"
     "                     second, until interrupted\n"
     "  -j, --json         print one JSON object per record and line\n"},
    {"audit", "export",
     "Usage: trellis-admin audit export --from TIME --to TIME\n"
     "Write the audit records with FROM <= time <= TO to standard output\n"
     "as JSON lines (one record per line, with seq, time_ms, actor,\n"
     "action, object, outcome, details, prev_hash and hash), oldest\n"
     "first. The count goes to standard error.\n\n"
     "  --from TIME        first time, UTC: 2026-12-01T00:00:00Z, or a\n"
     "                     date, 2026-12-01, meaning its midnight\n"
     "  --to TIME          last time, UTC, in the same form\n"},
    {"policy", "check",
     "Usage: trellis-admin policy check FILE [--json]\n"
     "Validate a policy file without a running trellisd; every problem\n"
     "is printed with its line and column.\n\n" JSON_OPTION},
    {"policy", "show",
     "Usage: trellis-admin policy show [--json]\n"
     "Print the policy in force, every default filled in, with its path\n"
     "and SHA-256.\n\n" JSON_OPTION},
    {"policy", "reload",
     "Usage: trellis-admin policy reload [--json]\n"
     "Load the policy file again. An invalid file changes nothing and\n"
     "the command exits with 1 and lists the problems.\n\n" JSON_OPTION},
    {"users", "list",
     "Usage: trellis-admin users list [--json]\n"
     "List portal users with their MFA and lockout state and last\n"
     "login (UTC).\n\n" JSON_OPTION},
    {"users", "show",
     "Usage: trellis-admin users show USER [--json]\n"
     "Show one user: directory entry, MFA, failed attempts, "
     "lockout.\n\n" JSON_OPTION},
    {"users", "unlock",
     "Usage: trellis-admin users unlock USER [--json]\n"
     "Clear a user's failed logins and lockout.\n\n" JSON_OPTION},
    {"users", "reset-mfa",
     "Usage: trellis-admin users reset-mfa USER [--json]\n"
     "Remove a user's TOTP secret and end their web sessions; they enrol\n"
     "again at the next login.\n\n" JSON_OPTION},
    {"sessions", "list",
     "Usage: trellis-admin sessions list [--all] [--json]\n"
     "List active desktop sessions, or with --all every session on\n"
     "record.\n\n"
     "  --all              include stopped and failed sessions\n" JSON_OPTION},
    {"sessions", "show",
     "Usage: trellis-admin sessions show ID\n"
     "Show a session with its live details (always JSON).\n"},
    {"sessions", "start",
     "Usage: trellis-admin sessions start --user NAME --project ID "
     "[--json]\n"
     "Start a user's session on their behalf; the audit log names you.\n\n"
     "  --user NAME        the user who owns the session\n"
     "  --project ID       a project of the policy\n" JSON_OPTION},
    {"sessions", "stop",
     "Usage: trellis-admin sessions stop ID [--reason TEXT] [--json]\n"
     "End a session. The user's viewer shows the reason.\n\n"
     "  --reason TEXT      why the session ends, shown to the user and\n"
     "                     audited (default: \"stopped by steward "
     "NAME\")\n" JSON_OPTION},
    {"airlock", "list",
     "Usage: trellis-admin airlock list [STATE] [--json]\n"
     "List airlock requests, newest first. STATE limits the list to one\n"
     "state: draft, submitted, checking, in_review, changes_requested,\n"
     "approved, released, rejected, blocked, revoked, withdrawn or\n"
     "failed.\n\n" JSON_OPTION},
    {"airlock", "show",
     "Usage: trellis-admin airlock show ID [--json]\n"
     "Show one request with its files, the automatic findings and every\n"
     "vote.\n\n" JSON_OPTION},
    {"airlock", "vote",
     "Usage: trellis-admin airlock vote ID SHA256 approve|changes|reject "
     "[COMMENT] [--json]\n"
     "Vote on one file of a request, named by its SHA-256 in hex, as an\n"
     "output checker of the project; the requester may not vote.\n\n"
     JSON_OPTION},
    {"airlock", "revoke",
     "Usage: trellis-admin airlock revoke ID REASON [--json]\n"
     "Revoke an approved or released request; its download links stop\n"
     "working. REASON is audited.\n\n" JSON_OPTION},
    {"projects", "list",
     "Usage: trellis-admin projects list [--json]\n"
     "List the projects of the policy in force with image, driver,\n"
     "number of member groups and users, active sessions and recording\n"
     "retention in days.\n\n" JSON_OPTION},
    {"projects", "show",
     "Usage: trellis-admin projects show ID [--json]\n"
     "Show one project's effective policy and its active "
     "sessions.\n\n" JSON_OPTION},
    {"recordings", "list",
     "Usage: trellis-admin recordings list [--json]\n"
     "List the session recordings on record with their session, user,\n"
     "project, start time (UTC), size in bytes and expiry "
     "(UTC).\n\n" JSON_OPTION},
    {"recordings", "show",
     "Usage: trellis-admin recordings show ID [--json]\n"
     "Show one recording, by session id: its file, size, frame size,\n"
     "duration and whether the hub ended it cleanly.\n\n" JSON_OPTION},
    {"recordings", "render",
     "Usage: trellis-admin recordings render ID --at TIME --output FILE\n"
     "       trellis-admin recordings render ID --every STEP --output DIR\n"
     "Write the desktop of a recorded session as PNG images. trellisd\n"
     "passes the open file; this command parses it with bounds checks.\n"
     "A truncated or damaged file renders up to the damage and the\n"
     "command names the offset where it stopped.\n\n"
     "  --at TIME          offset from the start of the recording:\n"
     "                     HH:MM:SS, or a number with unit ms, s, m or h\n"
     "  --every STEP       write one image per STEP (same units), named\n"
     "                     frame-HHMMSS.png, from the start to the end\n"
     "  -o, --output PATH  the PNG file for --at, the existing directory\n"
     "                     for --every\n" JSON_OPTION},
};

bool admin_print_command_help(const char *group, const char *verb)
{
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
		const struct command_help *h = &helps[i];
		if (strcmp(h->group, group) != 0)
			continue;
		if ((h->verb == NULL) != (verb == NULL))
			continue;
		if (verb && strcmp(h->verb, verb) != 0)
			continue;
		fputs(h->text, stdout);
		printf("\nGlobal options: -s, --socket PATH; -t, --timeout "
		       "SECONDS. Exit status: 0 done, 1 failed or denied, 2 "
		       "usage error.\n");
		return true;
	}
	return false;
}
