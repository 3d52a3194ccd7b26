/* Findings of one check run and the verdict message built from them. */
#include "airlock/airlock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *airlock_result_name(enum airlock_result result)
{
	switch (result) {
	case AIRLOCK_PASS:
		return "pass";
	case AIRLOCK_REVIEW:
		return "review";
	case AIRLOCK_FAIL:
		return "fail";
	}
	return "fail";
}

void airlock_report_init(struct airlock_report *report)
{
	memset(report, 0, sizeof(*report));
	report->findings = json_array();
	report->archive_entries = json_array();
	report->flagged_cells = json_array();
	report->worst = AIRLOCK_PASS;
}

void airlock_report_clear(struct airlock_report *report)
{
	json_decref(report->findings);
	json_decref(report->archive_entries);
	json_decref(report->flagged_cells);
	memset(report, 0, sizeof(*report));
}

void airlock_report_add(struct airlock_report *report, const char *check,
			enum airlock_result result, json_t *details,
			const char *reason_format, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, reason_format);
	vsnprintf(reason, sizeof(reason), reason_format, ap);
	va_end(ap);

	if (details == NULL)
		details = json_object();
	json_array_append_new(report->findings,
			      json_pack("{s:s, s:s, s:s, s:o}", "check", check,
					"result", airlock_result_name(result),
					"reason", reason, "details", details));
	if (result > report->worst)
		report->worst = result;
}

void airlock_report_flag_cell(struct airlock_report *report, uint64_t row,
			      uint64_t column, const char *column_name,
			      const char *value, const char *rule)
{
	report->flagged_cells_total++;
	if (json_array_size(report->flagged_cells) >= AIRLOCK_LIST_MAX)
		return;

	json_array_append_new(
	    report->flagged_cells,
	    json_pack("{s:I, s:I, s:s, s:s, s:s}", "row", (json_int_t)row,
		      "column", (json_int_t)column, "column_name", column_name,
		      "value", value, "rule", rule));
}

void airlock_report_add_entry(struct airlock_report *report, json_t *entry)
{
	report->archive_entries_total++;
	if (json_array_size(report->archive_entries) >= AIRLOCK_LIST_MAX) {
		json_decref(entry);
		return;
	}
	json_array_append_new(report->archive_entries, entry);
}

json_t *airlock_report_verdict(const struct airlock_report *report)
{
	enum airlock_result verdict = report->worst;

	/* A run without findings checked nothing, which never passes. */
	if (json_array_size(report->findings) == 0)
		verdict = AIRLOCK_FAIL;

	return json_pack(
	    "{s:s, s:O, s:{s:s, s:s}, s:O, s:I, s:O, s:I}", "verdict",
	    airlock_result_name(verdict), "findings", report->findings, "type",
	    "mime", report->mime, "description", report->description,
	    "archive_entries", report->archive_entries, "archive_entries_total",
	    (json_int_t)report->archive_entries_total, "flagged_cells",
	    report->flagged_cells, "flagged_cells_total",
	    (json_int_t)report->flagged_cells_total);
}
