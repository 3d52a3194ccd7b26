/* The policy: projects, images and roles from one YAML file, validated
 * strictly and kept immutable once loaded. Default deny: whatever the file
 * does not grant is refused by policy_decide (see policy/decide.h).
 *
 * docs/policy.md describes every key; policy/example-policy.yaml shows them.
 * The master keeps one struct policy at a time and swaps the pointer on
 * reload. A policy that failed to load never replaces the one in force. */
#ifndef TRELLIS_POLICY_H
#define TRELLIS_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/diag.h"
#include "lib/yaml_doc.h"

#define POLICY_VERSION	      1
#define POLICY_SHA256_HEX_LEN 64
#define POLICY_ID_MAX	      63
#define POLICY_DN_MAX	      1024

enum policy_driver {
	POLICY_DRIVER_NS,
	POLICY_DRIVER_VM,
};

enum policy_clipboard_mode {
	POLICY_CLIPBOARD_OFF,
	POLICY_CLIPBOARD_TEXT,
};

enum policy_switch {
	POLICY_REQUIRED,
	POLICY_OFF,
};

enum policy_direction {
	POLICY_EXPORT,
	POLICY_IMPORT,
};

/* Directory groups (normalised DNs) and user names. */
struct policy_principals {
	struct yaml_string_list groups;
	struct yaml_string_list users;
};

struct policy_image {
	char *name;
	enum policy_driver driver;
	char *location;	   /* ns: root directory; vm: disk image file */
	char *description; /* the tools inside, for the portal */
	struct yaml_mark mark;
	struct yaml_mark name_mark;
};

/* Project data, always mounted read-only. */
struct policy_mount {
	char *host_path;
	char *mount_point;
	struct yaml_mark mark;
};

struct policy_clipboard {
	enum policy_clipboard_mode mode;
	uint64_t max_bytes; /* per transfer; 0 when mode is off */
};

/* Statistical disclosure control of tables leaving through the airlock. */
struct policy_disclosure {
	uint32_t min_cell_count;
	uint32_t dominance_n; /* the n largest contributors ... */
	double dominance_k;   /* ... may hold at most this share of a cell */
	double p_ratio;
	bool zeros_disclosive;
};

struct policy_airlock {
	uint32_t approvals;
	uint64_t max_file_size_bytes;
	uint32_t max_files;
	struct yaml_string_list allowed_types; /* lower-case extensions */
	struct policy_disclosure disclosure;
	bool dicom_check;
	bool malware_scan_required;
	int64_t download_link_lifetime_ms;
};

struct policy_project {
	char *id;
	char *title;
	struct policy_principals members;
	struct policy_principals output_checkers;
	char *image_name;
	const struct policy_image *image; /* resolved after the walk */

	uint32_t cpus;
	uint64_t memory_bytes;
	uint64_t disk_quota_bytes;

	struct policy_mount *mounts;
	size_t mount_count;

	int64_t idle_timeout_ms;
	int64_t max_duration_ms;
	bool one_session_per_user;

	bool access_browser;
	bool access_rdp;

	enum policy_switch recording;
	uint32_t recording_retention_days;
	enum policy_switch mfa;

	struct policy_clipboard clipboard_to_session;
	struct policy_clipboard clipboard_from_session;

	struct policy_airlock airlock_export;
	struct policy_airlock airlock_import;

	struct yaml_mark mark;
	struct yaml_mark id_mark;
	struct yaml_mark image_mark;
};

/* Portal login limits: lockout of accounts and source addresses after
 * failed passwords or codes, and the lifetime of web sessions. */
struct policy_login {
	uint32_t max_failures;	       /* per account, within window_ms */
	uint32_t address_max_failures; /* per source address */
	int64_t window_ms;
	int64_t base_delay_ms; /* wait after the first failure, doubling */
	int64_t max_delay_ms;
	int64_t lockout_duration_ms;
	int64_t session_idle_timeout_ms;
	int64_t session_max_duration_ms;
};

struct policy {
	char *path;
	char sha256_hex[POLICY_SHA256_HEX_LEN + 1]; /* of the bytes parsed */
	uint32_t version;

	struct policy_principals stewards;
	struct policy_principals global_checkers; /* check every project */
	struct policy_login login;

	struct policy_image *images;
	size_t image_count;
	struct policy_project *projects;
	size_t project_count;
};

/* Reads, validates and returns the policy at PATH. On any error returns -1
 * with every problem in DIAGS and leaves *OUT untouched. */
int policy_load(const char *path, struct policy **out, struct diag_list *diags);
void policy_free(struct policy *policy);
const char *policy_sha256_hex(const struct policy *policy);

/* The effective policy, every default filled in, in the file's key names.
 * Sizes and durations are written with units, so the result loads again as
 * a policy file. */
json_t *policy_to_json(const struct policy *policy);

const struct policy_project *policy_find_project(const struct policy *policy,
						 const char *id);
const struct policy_image *policy_find_image(const struct policy *policy,
					     const char *name);
const struct policy_clipboard *
policy_project_clipboard(const struct policy_project *project, bool to_session);
const struct policy_airlock *
policy_project_airlock(const struct policy_project *project,
		       enum policy_direction direction);

/* Writes the normalised form of DN into OUT: attribute names and values
 * lower-cased, spaces around '=' and ',' removed, escapes kept. Returns -1
 * when DN is not a DN (no '=', an empty part) or does not fit. */
int policy_dn_normalize(const char *dn, char *out, size_t size);

#endif
