/* Findings of one check run and the verdict message built from them. */
#include "airlock/airlock.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/ipc.h"

/* Room left in an IPC frame for the verdict. */
#define AIRLOCK_VERDICT_MAX (IPC_MAX_PAYLOAD - 1024)

/* Length of the valid UTF-8 sequence at S (at most LEN bytes), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t len)
{
	size_t need;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		need = 2;
		cp = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		need = 3;
		cp = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		need = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return need;
}

void airlock_text_clean(char *out, size_t out_size, const char *in)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t len = strlen(in);
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < out_size;) {
		size_t n = utf8_sequence(s + i, len - i);
		if (n == 0 || (n == 1 && s[i] < 0x20)) {
			out[o++] = '?';
			i++;
			continue;
		}
		if (o + n >= out_size)
			break;
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
}

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
	char raw[512];
	char reason[512];
	va_list ap;

	va_start(ap, reason_format);
	vsnprintf(raw, sizeof(raw), reason_format, ap);
	va_end(ap);
	/* Reasons quote file and entry names, which may be any bytes. */
	airlock_text_clean(reason, sizeof(reason), raw);

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
	char name[AIRLOCK_NAME_SHOWN_MAX];
	char shown[AIRLOCK_NAME_SHOWN_MAX];

	report->flagged_cells_total++;
	if (json_array_size(report->flagged_cells) >= AIRLOCK_LIST_MAX)
		return;

	airlock_text_clean(name, sizeof(name), column_name);
	airlock_text_clean(shown, sizeof(shown), value);
	json_array_append_new(report->flagged_cells,
			      json_pack("{s:I, s:I, s:s, s:s, s:s}", "row",
					(json_int_t)row, "column",
					(json_int_t)column, "column_name", name,
					"value", shown, "rule", rule));
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

	json_t *body = json_pack(
	    "{s:s, s:O, s:{s:s, s:s}, s:O, s:I, s:O, s:I}", "verdict",
	    airlock_result_name(verdict), "findings", report->findings, "type",
	    "mime", report->mime, "description", report->description,
	    "archive_entries", report->archive_entries, "archive_entries_total",
	    (json_int_t)report->archive_entries_total, "flagged_cells",
	    report->flagged_cells, "flagged_cells_total",
	    (json_int_t)report->flagged_cells_total);

	/* The lists are for the reviewer, and the totals and findings stay
	 * exact, so the lists go first when the verdict would not fit in
	 * one IPC frame. */
	if (json_dumpb(body, NULL, 0, JSON_COMPACT) > AIRLOCK_VERDICT_MAX) {
		json_object_set_new(body, "archive_entries", json_array());
		json_object_set_new(body, "flagged_cells", json_array());
		json_object_set_new(body, "lists_dropped", json_true());
	}
	return body;
}
