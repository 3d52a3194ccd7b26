/* Policy file keys, defaults and the checks that span several keys. */
#include "policy/policy.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"

static const char *check_project_id(const char *value)
{
	size_t n = strlen(value);
	if (n > POLICY_ID_MAX)
		return "an id has at most 63 characters";
	for (size_t i = 0; i < n; i++) {
		char c = value[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  (i > 0 && c == '-');
		if (!ok)
			return "use lower-case letters, digits and '-', "
			       "starting with a letter or digit";
	}
	return NULL;
}

static const char *check_image_name(const char *value)
{
	size_t n = strlen(value);
	if (n > POLICY_ID_MAX)
		return "a name has at most 63 characters";
	for (size_t i = 0; i < n; i++) {
		char c = value[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  (i > 0 && (c == '-' || c == '.' || c == '_'));
		if (!ok)
			return "use lower-case letters, digits, '-', '.' and "
			       "'_', starting with a letter or digit";
	}
	return NULL;
}

static const char *check_user_name(const char *value)
{
	size_t n = strlen(value);
	if (n > 64)
		return "a user name has at most 64 characters";
	for (size_t i = 0; i < n; i++) {
		char c = value[i];
		bool ok = isalnum((unsigned char)c) || c == '_' ||
			  (i > 0 && (c == '.' || c == '-'));
		if (!ok)
			return "use letters, digits, '.', '-' and '_', "
			       "starting with a letter, digit or '_'";
	}
	return NULL;
}

static const char *check_dn(const char *value)
{
	char normal[POLICY_DN_MAX];
	if (policy_dn_normalize(value, normal, sizeof(normal)) < 0)
		return "expected a group DN such as "
		       "cn=researchers,ou=groups,dc=example,dc=org";
	return NULL;
}

static const char *check_absolute_path(const char *value)
{
	if (value[0] != '/')
		return "use an absolute path (starting with /)";
	for (const char *p = value; (p = strstr(p, "/..")); p += 3)
		if (p[3] == '/' || p[3] == '\0')
			return "a path may not contain '..' components";
	return NULL;
}

static const char *check_mount_point(const char *value)
{
	const char *problem = check_absolute_path(value);
	if (problem)
		return problem;
	if (strcmp(value, "/") == 0)
		return "data cannot be mounted on /: use a directory such as "
		       "/data";
	return NULL;
}

static const char *check_extension(const char *value)
{
	size_t n = strlen(value);
	if (n > 16)
		return "a file type has at most 16 characters";
	for (size_t i = 0; i < n; i++) {
		char c = value[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return "write a file type as a lower-case extension "
			       "without the dot, such as csv";
	}
	return NULL;
}

static const char *const driver_names[] = {"ns", "vm", NULL};
static const char *const switch_names[] = {"required", "off", NULL};
static const char *const clipboard_mode_names[] = {"off", "text", NULL};

#define KiB	  (1ull << 10)
#define MiB	  (1ull << 20)
#define GiB	  (1ull << 30)
#define TiB	  (1ull << 40)
#define MINUTE_MS (60ll * 1000)
#define HOUR_MS	  (60 * MINUTE_MS)
#define DAY_MS	  (24 * HOUR_MS)

static const struct yaml_field principal_fields[] = {
    {.key = "groups",
     .type = YAML_FIELD_STRING_LIST,
     .offset = offsetof(struct policy_principals, groups),
     .max = 256,
     .check = check_dn},
    {.key = "users",
     .type = YAML_FIELD_STRING_LIST,
     .offset = offsetof(struct policy_principals, users),
     .max = 10000,
     .check = check_user_name},
    {0},
};

#define IMG(member) offsetof(struct policy_image, member)

static const struct yaml_field image_fields[] = {
    {.key = "name",
     .type = YAML_FIELD_STRING,
     .offset = IMG(name),
     .required = true,
     .check = check_image_name,
     .has_mark = true,
     .mark_offset = IMG(name_mark)},
    {.key = "driver",
     .type = YAML_FIELD_ENUM,
     .offset = IMG(driver),
     .names = driver_names,
     .default_uint = POLICY_DRIVER_NS},
    {.key = "location",
     .type = YAML_FIELD_STRING,
     .offset = IMG(location),
     .required = true,
     .check = check_absolute_path},
    {.key = "description",
     .type = YAML_FIELD_STRING,
     .offset = IMG(description),
     .default_string = ""},
    {0},
};

#define MNT(member) offsetof(struct policy_mount, member)

static const struct yaml_field mount_fields[] = {
    {.key = "host_path",
     .type = YAML_FIELD_STRING,
     .offset = MNT(host_path),
     .required = true,
     .check = check_absolute_path},
    {.key = "mount_point",
     .type = YAML_FIELD_STRING,
     .offset = MNT(mount_point),
     .required = true,
     .check = check_mount_point},
    {0},
};

#define PRJ(member) offsetof(struct policy_project, member)

static const struct yaml_field resource_fields[] = {
    {.key = "cpus",
     .type = YAML_FIELD_UINT32,
     .offset = PRJ(cpus),
     .min = 1,
     .max = 256,
     .default_uint = 2},
    {.key = "memory",
     .type = YAML_FIELD_SIZE,
     .offset = PRJ(memory_bytes),
     .min = 64 * MiB,
     .max = 4 * TiB,
     .default_uint = 4 * GiB},
    {.key = "disk_quota",
     .type = YAML_FIELD_SIZE,
     .offset = PRJ(disk_quota_bytes),
     .min = 1 * MiB,
     .max = 1024 * TiB,
     .default_uint = 10 * GiB},
    {0},
};

static const struct yaml_field session_fields[] = {
    {.key = "idle_timeout",
     .type = YAML_FIELD_DURATION,
     .offset = PRJ(idle_timeout_ms),
     .min = MINUTE_MS,
     .max = 7 * DAY_MS,
     .default_uint = 30 * MINUTE_MS},
    {.key = "max_duration",
     .type = YAML_FIELD_DURATION,
     .offset = PRJ(max_duration_ms),
     .min = MINUTE_MS,
     .max = 30 * DAY_MS,
     .default_uint = 8 * HOUR_MS},
    {.key = "one_per_user",
     .type = YAML_FIELD_BOOL,
     .offset = PRJ(one_session_per_user),
     .default_uint = true},
    {0},
};

static const struct yaml_field access_fields[] = {
    {.key = "browser",
     .type = YAML_FIELD_BOOL,
     .offset = PRJ(access_browser),
     .default_uint = true},
    {.key = "rdp",
     .type = YAML_FIELD_BOOL,
     .offset = PRJ(access_rdp),
     .default_uint = false},
    {0},
};

static const struct yaml_field recording_fields[] = {
    {.key = "mode",
     .type = YAML_FIELD_ENUM,
     .offset = PRJ(recording),
     .names = switch_names,
     .default_uint = POLICY_REQUIRED},
    {.key = "retention_days",
     .type = YAML_FIELD_UINT32,
     .offset = PRJ(recording_retention_days),
     .min = 1,
     .max = 3650,
     .default_uint = 90},
    {0},
};

#define CLIP(member) offsetof(struct policy_clipboard, member)

static const struct yaml_field clipboard_direction_fields[] = {
    {.key = "mode",
     .type = YAML_FIELD_ENUM,
     .offset = CLIP(mode),
     .required = true,
     .names = clipboard_mode_names},
    {.key = "max_bytes",
     .type = YAML_FIELD_SIZE,
     .offset = CLIP(max_bytes),
     .min = 1,
     .max = 16 * MiB},
    {0},
};

/* A direction is "off", or a mapping with mode and max_bytes. */
static bool parse_clipboard(struct yaml_walk *walk, yaml_node_t *node,
			    const char *key_path, void *field)
{
	struct policy_clipboard *clipboard = field;
	const char *text = yaml_node_scalar(node);
	if (text) {
		if (!yaml_walk_enter(walk, node, key_path))
			return false;
		if (strcmp(text, "off") == 0) {
			clipboard->mode = POLICY_CLIPBOARD_OFF;
			clipboard->max_bytes = 0;
			return true;
		}
		yaml_walk_error(walk, node, key_path,
				"invalid value \"%s\": write off, or a mapping "
				"such as {mode: text, max_bytes: 4KiB}",
				text);
		return false;
	}

	if (!yaml_walk_mapping(walk, node, key_path, clipboard_direction_fields,
			       clipboard))
		return false;
	if (clipboard->mode == POLICY_CLIPBOARD_TEXT &&
	    clipboard->max_bytes == 0) {
		yaml_walk_error(walk, node, key_path,
				"mode text needs max_bytes, the largest "
				"transfer allowed");
		return false;
	}
	if (clipboard->mode == POLICY_CLIPBOARD_OFF &&
	    clipboard->max_bytes != 0) {
		yaml_walk_error(walk, node, key_path,
				"max_bytes applies only to mode text: remove "
				"it or set mode: text");
		return false;
	}
	return true;
}

static const struct yaml_field clipboard_fields[] = {
    {.key = "to_session",
     .type = YAML_FIELD_CUSTOM,
     .offset = PRJ(clipboard_to_session),
     .parse = parse_clipboard},
    {.key = "from_session",
     .type = YAML_FIELD_CUSTOM,
     .offset = PRJ(clipboard_from_session),
     .parse = parse_clipboard},
    {0},
};

#define SDC(member) offsetof(struct policy_disclosure, member)

static const struct yaml_field dominance_fields[] = {
    {.key = "n",
     .type = YAML_FIELD_UINT32,
     .offset = SDC(dominance_n),
     .min = 1,
     .max = 10,
     .default_uint = 2},
    {.key = "k",
     .type = YAML_FIELD_DOUBLE,
     .offset = SDC(dominance_k),
     .min_double = 0.01,
     .max_double = 1.0,
     .default_double = 0.90},
    {0},
};

static const struct yaml_field disclosure_fields[] = {
    {.key = "min_cell_count",
     .type = YAML_FIELD_UINT32,
     .offset = SDC(min_cell_count),
     .min = 1,
     .max = 1000000,
     .default_uint = 10},
    {.key = "dominance",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = dominance_fields},
    {.key = "p_ratio",
     .type = YAML_FIELD_DOUBLE,
     .offset = SDC(p_ratio),
     .min_double = 0.0,
     .max_double = 1.0,
     .default_double = 0.10},
    {.key = "zeros_disclosive",
     .type = YAML_FIELD_BOOL,
     .offset = SDC(zeros_disclosive),
     .default_uint = true},
    {0},
};

#define AIR(member) offsetof(struct policy_airlock, member)

/* Export and import differ only in the default number of approvals. */
#define AIRLOCK_DIRECTION_FIELDS(default_approvals)                            \
	{.key = "approvals",                                                   \
	 .type = YAML_FIELD_UINT32,                                            \
	 .offset = AIR(approvals),                                             \
	 .min = 1,                                                             \
	 .max = 10,                                                            \
	 .default_uint = (default_approvals)},                                 \
	    {.key = "max_file_size",                                           \
	     .type = YAML_FIELD_SIZE,                                          \
	     .offset = AIR(max_file_size_bytes),                               \
	     .min = 1,                                                         \
	     .max = 1024 * GiB,                                                \
	     .default_uint = 100 * MiB},                                       \
	    {.key = "max_files",                                               \
	     .type = YAML_FIELD_UINT32,                                        \
	     .offset = AIR(max_files),                                         \
	     .min = 1,                                                         \
	     .max = 10000,                                                     \
	     .default_uint = 20},                                              \
	    {.key = "allowed_types",                                           \
	     .type = YAML_FIELD_STRING_LIST,                                   \
	     .offset = AIR(allowed_types),                                     \
	     .max = 128,                                                       \
	     .check = check_extension},                                        \
	    {.key = "disclosure_control",                                      \
	     .type = YAML_FIELD_MAPPING,                                       \
	     .offset = AIR(disclosure),                                        \
	     .fields = disclosure_fields},                                     \
	    {.key = "dicom_check",                                             \
	     .type = YAML_FIELD_BOOL,                                          \
	     .offset = AIR(dicom_check),                                       \
	     .default_uint = true},                                            \
	    {.key = "malware_scan_required",                                   \
	     .type = YAML_FIELD_BOOL,                                          \
	     .offset = AIR(malware_scan_required),                             \
	     .default_uint = false},                                           \
	    {.key = "download_link_lifetime",                                  \
	     .type = YAML_FIELD_DURATION,                                      \
	     .offset = AIR(download_link_lifetime_ms),                         \
	     .min = MINUTE_MS,                                                 \
	     .max = 30 * DAY_MS,                                               \
	     .default_uint = 24 * HOUR_MS},                                    \
	{                                                                      \
		0                                                              \
	}

static const struct yaml_field airlock_export_fields[] = {
    AIRLOCK_DIRECTION_FIELDS(2),
};

static const struct yaml_field airlock_import_fields[] = {
    AIRLOCK_DIRECTION_FIELDS(1),
};

static const struct yaml_field airlock_fields[] = {
    {.key = "export",
     .type = YAML_FIELD_MAPPING,
     .offset = PRJ(airlock_export),
     .fields = airlock_export_fields},
    {.key = "import",
     .type = YAML_FIELD_MAPPING,
     .offset = PRJ(airlock_import),
     .fields = airlock_import_fields},
    {0},
};

static const struct yaml_field project_fields[] = {
    {.key = "id",
     .type = YAML_FIELD_STRING,
     .offset = PRJ(id),
     .required = true,
     .check = check_project_id,
     .has_mark = true,
     .mark_offset = PRJ(id_mark)},
    {.key = "title",
     .type = YAML_FIELD_STRING,
     .offset = PRJ(title),
     .required = true},
    {.key = "members",
     .type = YAML_FIELD_MAPPING,
     .offset = PRJ(members),
     .fields = principal_fields},
    {.key = "output_checkers",
     .type = YAML_FIELD_MAPPING,
     .offset = PRJ(output_checkers),
     .fields = principal_fields},
    {.key = "image",
     .type = YAML_FIELD_STRING,
     .offset = PRJ(image_name),
     .required = true,
     .check = check_image_name,
     .has_mark = true,
     .mark_offset = PRJ(image_mark)},
    {.key = "resources",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = resource_fields},
    {.key = "data",
     .type = YAML_FIELD_LIST,
     .offset = PRJ(mounts),
     .max = 32,
     .fields = mount_fields,
     .item_size = sizeof(struct policy_mount),
     .count_offset = PRJ(mount_count),
     .item_has_mark = true,
     .item_mark_offset = MNT(mark)},
    {.key = "session",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = session_fields},
    {.key = "access",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = access_fields},
    {.key = "recording",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = recording_fields},
    {.key = "mfa",
     .type = YAML_FIELD_ENUM,
     .offset = PRJ(mfa),
     .names = switch_names,
     .default_uint = POLICY_REQUIRED},
    {.key = "clipboard",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = clipboard_fields},
    {.key = "airlock",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = airlock_fields},
    {0},
};

#define POL(member) offsetof(struct policy, member)
#define LOGIN(member) offsetof(struct policy, login.member)
#define SECOND_MS     1000ll

static const struct yaml_field login_fields[] = {
    {.key = "max_failures",
     .type = YAML_FIELD_UINT32,
     .offset = LOGIN(max_failures),
     .min = 1,
     .max = 1000,
     .default_uint = 5},
    {.key = "address_max_failures",
     .type = YAML_FIELD_UINT32,
     .offset = LOGIN(address_max_failures),
     .min = 1,
     .max = 100000,
     .default_uint = 50},
    {.key = "window",
     .type = YAML_FIELD_DURATION,
     .offset = LOGIN(window_ms),
     .min = SECOND_MS,
     .max = 7 * DAY_MS,
     .default_uint = 15 * MINUTE_MS},
    {.key = "base_delay",
     .type = YAML_FIELD_DURATION,
     .offset = LOGIN(base_delay_ms),
     .min = 0,
     .max = HOUR_MS,
     .default_uint = SECOND_MS},
    {.key = "max_delay",
     .type = YAML_FIELD_DURATION,
     .offset = LOGIN(max_delay_ms),
     .min = 0,
     .max = DAY_MS,
     .default_uint = 60 * SECOND_MS},
    {.key = "lockout_duration",
     .type = YAML_FIELD_DURATION,
     .offset = LOGIN(lockout_duration_ms),
     .min = SECOND_MS,
     .max = 30 * DAY_MS,
     .default_uint = 15 * MINUTE_MS},
    {.key = "session_idle_timeout",
     .type = YAML_FIELD_DURATION,
     .offset = LOGIN(session_idle_timeout_ms),
     .min = MINUTE_MS,
     .max = DAY_MS,
     .default_uint = 30 * MINUTE_MS},
    {.key = "session_max_duration",
     .type = YAML_FIELD_DURATION,
     .offset = LOGIN(session_max_duration_ms),
     .min = MINUTE_MS,
     .max = 7 * DAY_MS,
     .default_uint = 12 * HOUR_MS},
    {0},
};

static const struct yaml_field role_fields[] = {
    {.key = "stewards",
     .type = YAML_FIELD_MAPPING,
     .offset = POL(stewards),
     .fields = principal_fields},
    {.key = "output_checkers",
     .type = YAML_FIELD_MAPPING,
     .offset = POL(global_checkers),
     .fields = principal_fields},
    {0},
};

static const struct yaml_field policy_fields[] = {
    {.key = "version",
     .type = YAML_FIELD_UINT32,
     .offset = POL(version),
     .required = true,
     .min = POLICY_VERSION,
     .max = POLICY_VERSION},
    {.key = "roles",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = role_fields},
    {.key = "login",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = login_fields},
    {.key = "images",
     .type = YAML_FIELD_LIST,
     .offset = POL(images),
     .max = 256,
     .fields = image_fields,
     .item_size = sizeof(struct policy_image),
     .count_offset = POL(image_count),
     .item_has_mark = true,
     .item_mark_offset = IMG(mark)},
    {.key = "projects",
     .type = YAML_FIELD_LIST,
     .offset = POL(projects),
     .max = 1024,
     .fields = project_fields,
     .item_size = sizeof(struct policy_project),
     .count_offset = POL(project_count),
     .item_has_mark = true,
     .item_mark_offset = PRJ(mark)},
    {0},
};

static void check_unique_images(struct yaml_walk *walk,
				const struct policy *policy)
{
	for (size_t i = 0; i < policy->image_count; i++) {
		const struct policy_image *image = &policy->images[i];
		for (size_t j = 0; image->name && j < i; j++) {
			const struct policy_image *first = &policy->images[j];
			if (!first->name || strcmp(first->name, image->name))
				continue;
			char path[YAML_PATH_MAX];
			snprintf(path, sizeof(path), "images[%zu].name", i);
			yaml_walk_error_at(walk, image->name_mark, path,
					   "duplicate image name \"%s\" (first "
					   "at line %u): names must be unique",
					   image->name, first->name_mark.line);
			break;
		}
	}
}

static void check_mounts(struct yaml_walk *walk,
			 const struct policy_project *project, size_t index)
{
	for (size_t i = 0; i < project->mount_count; i++) {
		const struct policy_mount *mount = &project->mounts[i];
		for (size_t j = 0; mount->mount_point && j < i; j++) {
			const struct policy_mount *first = &project->mounts[j];
			if (!first->mount_point ||
			    strcmp(first->mount_point, mount->mount_point))
				continue;
			char path[YAML_PATH_MAX];
			snprintf(path, sizeof(path),
				 "projects[%zu].data[%zu].mount_point", index,
				 i);
			yaml_walk_error_at(walk, mount->mark, path,
					   "mount point %s is used twice "
					   "(first at line %u)",
					   mount->mount_point,
					   first->mark.line);
			break;
		}
	}
}

/* Checks what no single key can: unique ids, image references and mount
 * points. Also resolves each project's image. */
static void check_projects(struct yaml_walk *walk, struct policy *policy)
{
	for (size_t i = 0; i < policy->project_count; i++) {
		struct policy_project *project = &policy->projects[i];
		char path[YAML_PATH_MAX];

		for (size_t j = 0; project->id && j < i; j++) {
			const struct policy_project *first =
			    &policy->projects[j];
			if (!first->id || strcmp(first->id, project->id))
				continue;
			snprintf(path, sizeof(path), "projects[%zu].id", i);
			yaml_walk_error_at(walk, project->id_mark, path,
					   "duplicate project id \"%s\" (first "
					   "at line %u): ids must be unique",
					   project->id, first->id_mark.line);
			break;
		}

		if (project->image_name) {
			project->image =
			    policy_find_image(policy, project->image_name);
			if (!project->image) {
				snprintf(path, sizeof(path),
					 "projects[%zu].image", i);
				yaml_walk_error_at(
				    walk, project->image_mark, path,
				    "image \"%s\" is not defined: add it "
				    "under images or fix the name",
				    project->image_name);
			}
		}
		check_mounts(walk, project, i);
	}
}

static void normalize_groups(struct yaml_string_list *groups)
{
	for (size_t i = 0; i < groups->count; i++) {
		char normal[POLICY_DN_MAX];
		/* Every item passed check_dn during the walk. */
		if (policy_dn_normalize(groups->items[i], normal,
					sizeof(normal)) == 0)
			strcpy(groups->items[i], normal);
	}
}

static void normalize_all_groups(struct policy *policy)
{
	normalize_groups(&policy->stewards.groups);
	normalize_groups(&policy->global_checkers.groups);
	for (size_t i = 0; i < policy->project_count; i++) {
		normalize_groups(&policy->projects[i].members.groups);
		normalize_groups(&policy->projects[i].output_checkers.groups);
	}
}

static int hash_bytes(const unsigned char *bytes, size_t size,
		      char hex[POLICY_SHA256_HEX_LEN + 1])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int length = 0;
	if (!EVP_Digest(bytes, size, digest, &length, EVP_sha256(), NULL) ||
	    length * 2 != POLICY_SHA256_HEX_LEN)
		return -1;
	for (unsigned int i = 0; i < length; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	return 0;
}

DEFINE_AUTO_CLEANUP(yaml_doc, struct yaml_doc, yaml_doc_free)
DEFINE_AUTO_CLEANUP(policy, struct policy, policy_free)

int policy_load(const char *path, struct policy **out, struct diag_list *diags)
{
	autoptr(yaml_doc) struct yaml_doc *doc = NULL;
	if (yaml_doc_load(path, &doc, diags) < 0)
		return -1;

	autoptr(policy) struct policy *policy = calloc(1, sizeof(*policy));
	if (!policy || !(policy->path = strdup(path))) {
		diag_add(diags, path, 0, 0, NULL, "out of memory");
		return -1;
	}
	if (hash_bytes(doc->bytes, doc->size, policy->sha256_hex) < 0) {
		diag_add(diags, path, 0, 0, NULL, "computing SHA-256 failed");
		return -1;
	}

	yaml_node_t *root = yaml_doc_root(doc);
	if (!root) {
		diag_add(diags, path, 0, 0, NULL,
			 "file is empty: a policy needs at least version: 1");
		return -1;
	}

	struct yaml_walk walk;
	if (yaml_walk_init(&walk, doc, diags, policy) < 0)
		return -1;
	yaml_walk_mapping(&walk, root, "", policy_fields, policy);
	check_unique_images(&walk, policy);
	check_projects(&walk, policy);
	size_t errors = walk.error_count;
	yaml_walk_finish(&walk);
	if (errors > 0)
		return -1;

	normalize_all_groups(policy);
	*out = steal_pointer(&policy);
	return 0;
}

void policy_free(struct policy *policy)
{
	if (!policy)
		return;
	yaml_fields_free(policy_fields, policy);
	free(policy->path);
	free(policy);
}

const char *policy_sha256_hex(const struct policy *policy)
{
	return policy->sha256_hex;
}

const struct policy_project *policy_find_project(const struct policy *policy,
						 const char *id)
{
	for (size_t i = 0; id && i < policy->project_count; i++)
		if (policy->projects[i].id &&
		    strcmp(policy->projects[i].id, id) == 0)
			return &policy->projects[i];
	return NULL;
}

const struct policy_image *policy_find_image(const struct policy *policy,
					     const char *name)
{
	for (size_t i = 0; name && i < policy->image_count; i++)
		if (policy->images[i].name &&
		    strcmp(policy->images[i].name, name) == 0)
			return &policy->images[i];
	return NULL;
}

const struct policy_clipboard *
policy_project_clipboard(const struct policy_project *project, bool to_session)
{
	return to_session ? &project->clipboard_to_session
			  : &project->clipboard_from_session;
}

const struct policy_airlock *
policy_project_airlock(const struct policy_project *project,
		       enum policy_direction direction)
{
	return direction == POLICY_EXPORT ? &project->airlock_export
					  : &project->airlock_import;
}
