/* `trellis-admin policy check`: the policy loader run offline. */
#include "admin/cmd_policy.h"

#include <jansson.h>
#include <stdio.h>

#include "lib/diag.h"
#include "policy/policy.h"

static json_t *diags_to_json(const struct diag_list *diags)
{
	json_t *errors = json_array();
	for (size_t i = 0; errors && i < diags->count; i++) {
		const struct diag *d = &diags->items[i];
		json_array_append_new(
		    errors,
		    json_pack("{s:s, s:I, s:I, s:s, s:s}", "file", d->file,
			      "line", (json_int_t)d->line, "column",
			      (json_int_t)d->column, "key_path", d->key_path,
			      "message", d->message));
	}
	return errors;
}

static json_t *names_to_json(const struct policy *policy, bool projects)
{
	json_t *names = json_array();
	size_t count = projects ? policy->project_count : policy->image_count;
	for (size_t i = 0; names && i < count; i++)
		json_array_append_new(
		    names, json_string(projects ? policy->projects[i].id
						: policy->images[i].name));
	return names;
}

static json_t *principals_summary(const struct policy_principals *principals)
{
	return json_pack("{s:I, s:I}", "groups",
			 (json_int_t)principals->groups.count, "users",
			 (json_int_t)principals->users.count);
}

static void print_json(json_t *result)
{
	if (!result) {
		fprintf(stdout, "{\"valid\": false, \"errors\": "
				"[{\"message\": \"out of memory\"}]}\n");
		return;
	}
	json_dumpf(result, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', stdout);
	json_decref(result);
}

static void print_summary(const struct policy *policy)
{
	size_t checker_projects = 0;
	for (size_t i = 0; i < policy->project_count; i++) {
		const struct policy_principals *c =
		    &policy->projects[i].output_checkers;
		if (c->groups.count + c->users.count > 0)
			checker_projects++;
	}

	printf("%s: valid policy, sha256 %s\n", policy->path,
	       policy_sha256_hex(policy));
	printf("projects: %zu\n", policy->project_count);
	for (size_t i = 0; i < policy->project_count; i++) {
		const struct policy_project *p = &policy->projects[i];
		printf("  %s (image %s): %zu member groups, %zu users\n", p->id,
		       p->image_name, p->members.groups.count,
		       p->members.users.count);
	}
	printf("images: %zu\n", policy->image_count);
	for (size_t i = 0; i < policy->image_count; i++)
		printf("  %s (%s)\n", policy->images[i].name,
		       policy->images[i].driver == POLICY_DRIVER_VM ? "vm"
								    : "ns");
	printf("roles: stewards %zu groups and %zu users; output checkers "
	       "%zu groups and %zu users for all projects, own checkers in "
	       "%zu projects\n",
	       policy->stewards.groups.count, policy->stewards.users.count,
	       policy->global_checkers.groups.count,
	       policy->global_checkers.users.count, checker_projects);
}

int admin_policy_check(const char *path, bool json_output)
{
	struct diag_list diags;
	struct policy *policy = NULL;

	diag_list_init(&diags);
	int loaded = policy_load(path, &policy, &diags);

	if (loaded < 0) {
		if (json_output) {
			print_json(json_pack("{s:s, s:b, s:o}", "file", path,
					     "valid", 0, "errors",
					     diags_to_json(&diags)));
		} else {
			diag_list_print(&diags, stdout);
			printf("%s: invalid policy, %zu error%s\n", path,
			       diags.count, diags.count == 1 ? "" : "s");
		}
		diag_list_clear(&diags);
		fflush(stdout);
		return 1;
	}

	if (json_output)
		print_json(json_pack(
		    "{s:s, s:b, s:s, s:o, s:o, s:{s:o, s:o}}", "file", path,
		    "valid", 1, "sha256", policy_sha256_hex(policy), "projects",
		    names_to_json(policy, true), "images",
		    names_to_json(policy, false), "roles", "stewards",
		    principals_summary(&policy->stewards), "output_checkers",
		    principals_summary(&policy->global_checkers)));
	else
		print_summary(policy);

	policy_free(policy);
	diag_list_clear(&diags);
	fflush(stdout);
	return 0;
}
