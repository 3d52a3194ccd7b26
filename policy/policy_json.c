/* The effective policy as JSON, for `trellis-admin policy show`. Keys match
 * the file's, so the output loads again as a policy file. */
#include "policy/policy.h"

static json_t *string_list_to_json(const struct yaml_string_list *list)
{
	json_t *array = json_array();
	for (size_t i = 0; array && i < list->count; i++)
		json_array_append_new(array, json_string(list->items[i]));
	return array;
}

static json_t *principals_to_json(const struct policy_principals *principals)
{
	return json_pack("{s:o, s:o}", "groups",
			 string_list_to_json(&principals->groups), "users",
			 string_list_to_json(&principals->users));
}

static json_t *size_to_json(uint64_t bytes)
{
	char text[32];
	yaml_format_size(bytes, text, sizeof(text));
	return json_string(text);
}

static json_t *duration_to_json(int64_t ms)
{
	char text[32];
	yaml_format_duration(ms, text, sizeof(text));
	return json_string(text);
}

static const char *switch_name(enum policy_switch value)
{
	return value == POLICY_REQUIRED ? "required" : "off";
}

static json_t *clipboard_to_json(const struct policy_clipboard *clipboard)
{
	if (clipboard->mode == POLICY_CLIPBOARD_OFF)
		return json_string("off");
	return json_pack("{s:s, s:o}", "mode", "text", "max_bytes",
			 size_to_json(clipboard->max_bytes));
}

static json_t *airlock_to_json(const struct policy_airlock *airlock)
{
	const struct policy_disclosure *sdc = &airlock->disclosure;
	return json_pack(
	    "{s:I, s:o, s:I, s:o, s:{s:I, s:{s:I, s:f}, s:f, s:b}, s:b, "
	    "s:b, s:o}",
	    "approvals", (json_int_t)airlock->approvals, "max_file_size",
	    size_to_json(airlock->max_file_size_bytes), "max_files",
	    (json_int_t)airlock->max_files, "allowed_types",
	    string_list_to_json(&airlock->allowed_types), "disclosure_control",
	    "min_cell_count", (json_int_t)sdc->min_cell_count, "dominance", "n",
	    (json_int_t)sdc->dominance_n, "k", sdc->dominance_k, "p_ratio",
	    sdc->p_ratio, "zeros_disclosive", sdc->zeros_disclosive,
	    "dicom_check", airlock->dicom_check, "malware_scan_required",
	    airlock->malware_scan_required, "download_link_lifetime",
	    duration_to_json(airlock->download_link_lifetime_ms));
}

static json_t *mounts_to_json(const struct policy_project *project)
{
	json_t *array = json_array();
	for (size_t i = 0; array && i < project->mount_count; i++)
		json_array_append_new(
		    array,
		    json_pack("{s:s, s:s}", "host_path",
			      project->mounts[i].host_path, "mount_point",
			      project->mounts[i].mount_point));
	return array;
}

static json_t *project_to_json(const struct policy_project *p)
{
	return json_pack(
	    "{s:s, s:s, s:o, s:o, s:s, s:{s:I, s:o, s:o}, s:o, "
	    "s:{s:o, s:o, s:b}, s:{s:b, s:b}, s:{s:s, s:I}, s:s, "
	    "s:{s:o, s:o}, s:{s:o, s:o}}",
	    "id", p->id, "title", p->title, "members",
	    principals_to_json(&p->members), "output_checkers",
	    principals_to_json(&p->output_checkers), "image", p->image_name,
	    "resources", "cpus", (json_int_t)p->cpus, "memory",
	    size_to_json(p->memory_bytes), "disk_quota",
	    size_to_json(p->disk_quota_bytes), "data", mounts_to_json(p),
	    "session", "idle_timeout", duration_to_json(p->idle_timeout_ms),
	    "max_duration", duration_to_json(p->max_duration_ms),
	    "one_per_user", p->one_session_per_user, "access", "browser",
	    p->access_browser, "rdp", p->access_rdp, "recording", "mode",
	    switch_name(p->recording), "retention_days",
	    (json_int_t)p->recording_retention_days, "mfa", switch_name(p->mfa),
	    "clipboard", "to_session",
	    clipboard_to_json(&p->clipboard_to_session), "from_session",
	    clipboard_to_json(&p->clipboard_from_session), "airlock", "export",
	    airlock_to_json(&p->airlock_export), "import",
	    airlock_to_json(&p->airlock_import));
}

static json_t *image_to_json(const struct policy_image *image)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "name", image->name, "driver",
			 image->driver == POLICY_DRIVER_VM ? "vm" : "ns",
			 "location", image->location, "description",
			 image->description);
}

static json_t *login_to_json(const struct policy_login *login)
{
	return json_pack(
	    "{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "max_failures",
	    (json_int_t)login->max_failures, "address_max_failures",
	    (json_int_t)login->address_max_failures, "window",
	    duration_to_json(login->window_ms), "base_delay",
	    duration_to_json(login->base_delay_ms), "max_delay",
	    duration_to_json(login->max_delay_ms), "lockout_duration",
	    duration_to_json(login->lockout_duration_ms),
	    "session_idle_timeout",
	    duration_to_json(login->session_idle_timeout_ms),
	    "session_max_duration",
	    duration_to_json(login->session_max_duration_ms));
}

json_t *policy_to_json(const struct policy *policy)
{
	json_t *images = json_array();
	json_t *projects = json_array();
	int failed = !images || !projects;
	for (size_t i = 0; !failed && i < policy->image_count; i++)
		failed = json_array_append_new(
		    images, image_to_json(&policy->images[i]));
	for (size_t i = 0; !failed && i < policy->project_count; i++)
		failed = json_array_append_new(
		    projects, project_to_json(&policy->projects[i]));
	if (failed) {
		json_decref(images);
		json_decref(projects);
		return NULL;
	}

	/* json_pack steals the o references, also when it fails. */
	return json_pack("{s:I, s:{s:o, s:o}, s:o, s:o, s:o}", "version",
			 (json_int_t)policy->version, "roles", "stewards",
			 principals_to_json(&policy->stewards),
			 "output_checkers",
			 principals_to_json(&policy->global_checkers), "login",
			 login_to_json(&policy->login), "images", images,
			 "projects", projects);
}
