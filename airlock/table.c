/* Statistical disclosure control of CSV and TSV tables.
 *
 * The first record is the header. A column named <name>_contributor_<i>,
 * next to a column named <name>, contains one contribution to the magnitude
 * cell in <name> of the same row; such a <name> column is a magnitude
 * column, checked with the dominance (n,k) and p-ratio rules. Every other
 * column whose data cells are all non-negative integers (or empty, or a
 * suppression marker such as "<10" or "*") is a count column, checked for
 * small counts and zeros, unless its header ends in "_label".
 * docs/airlock-checks.md gives the full convention. */
#include "airlock/airlock.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/csv.h"
#include "lib/cleanup.h"

#define TABLE_MAX_RECORD_BYTES (1024 * 1024)
#define TABLE_MAX_FIELDS       4096
#define TABLE_VALUE_MAX	       64
#define CONTRIBUTOR_MARK       "_contributor_"
#define LABEL_SUFFIX	       "_label"

enum column_kind {
	COLUMN_COUNT,
	COLUMN_LABEL,
	COLUMN_MAGNITUDE,
	COLUMN_CONTRIBUTOR,
};

struct column {
	char *name;
	enum column_kind kind;
	size_t magnitude; /* a contributor's magnitude column */
	bool has_integer; /* at least one data cell is an integer */
};

enum { RULE_MIN_COUNT, RULE_ZERO, RULE_DOMINANCE, RULE_P_RATIO, RULE_COUNT };

struct table {
	struct column *columns;
	size_t column_count;
	uint64_t data_rows;
	uint64_t count_cells;
	uint64_t magnitude_cells;
	uint64_t rows_too_wide;
	uint64_t first_bad_contribution_row;
	uint64_t rule_counts[RULE_COUNT]; /* by rule, see the enum */
};

static const char *const rule_names[] = {"min_cell_count", "zero", "dominance",
					 "p_ratio"};

static void trim(const char *s, const char **start, size_t *len)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	*start = s;
	*len = n;
}

/* Parses a non-negative integer of at most 18 digits. */
static bool parse_count(const char *cell, int64_t *out)
{
	const char *s;
	size_t len;
	int64_t value = 0;

	trim(cell, &s, &len);
	if (len == 0 || len > 18)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		value = value * 10 + (s[i] - '0');
	}
	*out = value;
	return true;
}

static bool parse_number(const char *cell, double *out)
{
	const char *s;
	size_t len;
	char copy[TABLE_VALUE_MAX];
	char *end;

	trim(cell, &s, &len);
	if (len == 0 || len >= sizeof(copy))
		return false;
	memcpy(copy, s, len);
	copy[len] = '\0';
	double value = strtod(copy, &end);
	if (*end != '\0' || !isfinite(value))
		return false;
	*out = value;
	return true;
}

/* Empty cells and the usual markers of a suppressed or missing value. */
static bool is_blank_or_marker(const char *cell)
{
	static const char *const markers[] = {
	    "",	 "*", "-",  ".",   "..",  "x",		"X",
	    "c", "C", "NA", "N/A", "n/a", "suppressed",
	};
	const char *s;
	size_t len;

	trim(cell, &s, &len);
	for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
		if (strlen(markers[i]) == len &&
		    strncmp(s, markers[i], len) == 0)
			return true;
	if (len >= 2 && s[0] == '<') {
		for (size_t i = 1; i < len; i++)
			if (!isdigit((unsigned char)s[i]) && s[i] != ' ')
				return false;
		return true;
	}
	return false;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s);
	size_t m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Finds the magnitude column of a "<name>_contributor_<i>" header. */
static bool find_magnitude(const struct table *t, size_t index,
			   size_t *magnitude)
{
	const char *name = t->columns[index].name;
	const char *mark = strstr(name, CONTRIBUTOR_MARK);

	if (mark == NULL || mark == name)
		return false;
	const char *digits = mark + strlen(CONTRIBUTOR_MARK);
	if (*digits == '\0' || strspn(digits, "0123456789") != strlen(digits))
		return false;

	size_t base_len = (size_t)(mark - name);
	for (size_t i = 0; i < t->column_count; i++) {
		if (i != index && strlen(t->columns[i].name) == base_len &&
		    strncmp(t->columns[i].name, name, base_len) == 0) {
			*magnitude = i;
			return true;
		}
	}
	return false;
}

static int read_header(struct table *t, struct airlock_csv *csv)
{
	if (airlock_csv_next(csv) != 1)
		return -1;

	t->column_count = csv->field_count;
	t->columns = calloc(t->column_count, sizeof(*t->columns));
	if (t->columns == NULL)
		return -1;
	for (size_t i = 0; i < t->column_count; i++) {
		const char *s;
		size_t len;
		trim(airlock_csv_field(csv, i), &s, &len);
		t->columns[i].name = strndup(s, len);
		if (t->columns[i].name == NULL)
			return -1;
		t->columns[i].kind = COLUMN_COUNT;
	}

	for (size_t i = 0; i < t->column_count; i++) {
		size_t magnitude;
		if (find_magnitude(t, i, &magnitude)) {
			t->columns[i].kind = COLUMN_CONTRIBUTOR;
			t->columns[i].magnitude = magnitude;
			t->columns[magnitude].kind = COLUMN_MAGNITUDE;
		}
	}
	for (size_t i = 0; i < t->column_count; i++)
		if (t->columns[i].kind == COLUMN_COUNT &&
		    ends_with(t->columns[i].name, LABEL_SUFFIX))
			t->columns[i].kind = COLUMN_LABEL;
	return 0;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->column_count; i++)
		free(t->columns[i].name);
	free(t->columns);
}

/* Pass 1: a column stays a count column only if every data cell is a
 * count, blank or a suppression marker. */
static int classify_columns(struct table *t, struct airlock_csv *csv)
{
	int rc;

	while ((rc = airlock_csv_next(csv)) == 1) {
		if (csv->field_count == 1 && airlock_csv_field(csv, 0)[0] == 0)
			continue; /* a blank line */
		t->data_rows++;
		if (csv->field_count > t->column_count)
			t->rows_too_wide++;
		for (size_t i = 0; i < t->column_count && i < csv->field_count;
		     i++) {
			struct column *col = &t->columns[i];
			const char *cell = airlock_csv_field(csv, i);
			int64_t value;
			if (col->kind != COLUMN_COUNT)
				continue;
			if (parse_count(cell, &value))
				col->has_integer = true;
			else if (!is_blank_or_marker(cell))
				col->kind = COLUMN_LABEL;
		}
	}

	for (size_t i = 0; i < t->column_count; i++)
		if (t->columns[i].kind == COLUMN_COUNT &&
		    !t->columns[i].has_integer)
			t->columns[i].kind = COLUMN_LABEL;
	return rc;
}

static void flag(struct table *t, struct airlock_report *report, uint64_t row,
		 size_t column, const char *value, int rule)
{
	char shown[TABLE_VALUE_MAX];

	snprintf(shown, sizeof(shown), "%s", value);
	t->rule_counts[rule]++;
	airlock_report_flag_cell(report, row, column + 1,
				 t->columns[column].name, shown,
				 rule_names[rule]);
}

static void check_count_cell(struct table *t,
			     const struct airlock_sdc_rules *sdc,
			     struct airlock_report *report, uint64_t row,
			     size_t column, const char *cell)
{
	int64_t value;

	if (!parse_count(cell, &value))
		return;
	t->count_cells++;
	if (value == 0) {
		if (sdc->zeros_disclosive)
			flag(t, report, row, column, cell, RULE_ZERO);
		return;
	}
	if (value < sdc->min_cell_count)
		flag(t, report, row, column, cell, RULE_MIN_COUNT);
}

static int compare_descending(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return (x < y) - (x > y);
}

/* Applies the dominance and p-ratio rules to the magnitude cell in COLUMN,
 * whose contributions are in the same row's contributor columns. */
static void check_magnitude_cell(struct table *t,
				 const struct airlock_sdc_rules *sdc,
				 struct airlock_report *report,
				 struct airlock_csv *csv, uint64_t row,
				 size_t column, double *values)
{
	const char *cell = airlock_csv_field(csv, column);
	double total;
	size_t count = 0;
	double sum = 0;

	if (!parse_number(cell, &total))
		return; /* blank or suppressed */

	for (size_t i = 0; i < t->column_count && i < csv->field_count; i++) {
		const char *c = airlock_csv_field(csv, i);
		double v;
		if (t->columns[i].kind != COLUMN_CONTRIBUTOR ||
		    t->columns[i].magnitude != column || is_blank_or_marker(c))
			continue;
		if (!parse_number(c, &v) || v < 0) {
			if (t->first_bad_contribution_row == 0)
				t->first_bad_contribution_row = row;
			return;
		}
		values[count++] = v;
		sum += v;
	}
	t->magnitude_cells++;
	if (count == 0 || total <= 0)
		return;
	if (sum > total * (1 + 1e-9)) {
		if (t->first_bad_contribution_row == 0)
			t->first_bad_contribution_row = row;
		return;
	}

	qsort(values, count, sizeof(double), compare_descending);
	double top = 0;
	for (size_t i = 0; i < count && i < (size_t)sdc->dominance_n; i++)
		top += values[i];
	if (top > sdc->dominance_k * total)
		flag(t, report, row, column, cell, RULE_DOMINANCE);

	/* The second largest contributor can estimate the largest to within
	 * the remainder, so the remainder must be at least p_ratio of the
	 * largest. */
	double second = count > 1 ? values[1] : 0;
	double remainder = total - values[0] - second;
	if (remainder < sdc->p_ratio * values[0])
		flag(t, report, row, column, cell, RULE_P_RATIO);
}

/* Writes the rules that flagged cells, with their counts, such as "2
 * below the minimum count of 10, 1 zero". Rules that flagged nothing are
 * left out. */
static void describe_flags(const struct table *t,
			   const struct airlock_sdc_rules *sdc, char *out,
			   size_t size)
{
	size_t used = 0;
	char part[96];

	out[0] = '\0';
	for (int rule = 0; rule < RULE_COUNT; rule++) {
		unsigned long long n = t->rule_counts[rule];
		if (n == 0)
			continue;
		switch (rule) {
		case RULE_MIN_COUNT:
			snprintf(part, sizeof(part),
				 "%llu below the minimum count of %lld", n,
				 (long long)sdc->min_cell_count);
			break;
		case RULE_ZERO:
			snprintf(part, sizeof(part), "%llu %s", n,
				 n == 1 ? "zero" : "zeros");
			break;
		case RULE_DOMINANCE:
			snprintf(part, sizeof(part),
				 "%llu dominated by %d contributors over "
				 "%.0f%%",
				 n, sdc->dominance_n, sdc->dominance_k * 100);
			break;
		default:
			snprintf(part, sizeof(part),
				 "%llu under the p-ratio of %.0f%%", n,
				 sdc->p_ratio * 100);
			break;
		}
		used += (size_t)snprintf(out + used, size - used, "%s%s",
					 used ? ", " : "", part);
		if (used >= size)
			return;
	}
}

/* Pass 2: applies the rules to every cell of the classified columns. */
static int check_cells(struct table *t, const struct airlock_sdc_rules *sdc,
		       struct airlock_report *report, struct airlock_csv *csv)
{
	autofree double *values = calloc(t->column_count + 1, sizeof(double));
	int rc;

	if (values == NULL)
		return -1;
	while ((rc = airlock_csv_next(csv)) == 1) {
		uint64_t row = csv->records; /* the header is row 1 */
		if (csv->field_count == 1 && airlock_csv_field(csv, 0)[0] == 0)
			continue;
		for (size_t i = 0; i < t->column_count && i < csv->field_count;
		     i++) {
			if (t->columns[i].kind == COLUMN_COUNT)
				check_count_cell(t, sdc, report, row, i,
						 airlock_csv_field(csv, i));
			else if (t->columns[i].kind == COLUMN_MAGNITUDE)
				check_magnitude_cell(t, sdc, report, csv, row,
						     i, values);
		}
	}
	return rc;
}

static json_t *column_names(const struct table *t, enum column_kind kind)
{
	json_t *names = json_array();

	for (size_t i = 0; i < t->column_count; i++)
		if (t->columns[i].kind == kind)
			json_array_append_new(names,
					      json_string(t->columns[i].name));
	return names;
}

static void report_table(const struct table *t, struct airlock_check *check)
{
	struct airlock_report *report = &check->report;
	const struct airlock_sdc_rules *sdc = &check->cfg->rules.sdc;
	json_t *details = json_pack(
	    "{s:I, s:o, s:o, s:I, s:I, s:{s:I, s:I, s:I, s:I}}", "data_rows",
	    (json_int_t)t->data_rows, "count_columns",
	    column_names(t, COLUMN_COUNT), "magnitude_columns",
	    column_names(t, COLUMN_MAGNITUDE), "count_cells",
	    (json_int_t)t->count_cells, "magnitude_cells",
	    (json_int_t)t->magnitude_cells, "flagged", "min_cell_count",
	    (json_int_t)t->rule_counts[RULE_MIN_COUNT], "zero",
	    (json_int_t)t->rule_counts[RULE_ZERO], "dominance",
	    (json_int_t)t->rule_counts[RULE_DOMINANCE], "p_ratio",
	    (json_int_t)t->rule_counts[RULE_P_RATIO]);
	uint64_t flagged =
	    t->rule_counts[RULE_MIN_COUNT] + t->rule_counts[RULE_ZERO] +
	    t->rule_counts[RULE_DOMINANCE] + t->rule_counts[RULE_P_RATIO];

	if (flagged > 0) {
		char rules[256];
		describe_flags(t, sdc, rules, sizeof(rules));
		airlock_report_add(report, "table", AIRLOCK_FAIL, details,
				   "%llu %s disclosure control: %s; suppress "
				   "or combine %s",
				   (unsigned long long)flagged,
				   flagged == 1 ? "cell breaks" : "cells break",
				   rules, flagged == 1 ? "it" : "them");
		return;
	}
	if (t->first_bad_contribution_row != 0) {
		airlock_report_add(
		    report, "table", AIRLOCK_REVIEW, details,
		    "row %llu has a contribution that is not a non-negative "
		    "number, or contributions above the cell total, so the "
		    "dominance rules could not be applied",
		    (unsigned long long)t->first_bad_contribution_row);
		return;
	}
	if (t->rows_too_wide > 0) {
		airlock_report_add(report, "table", AIRLOCK_REVIEW, details,
				   "%llu rows have more fields than the "
				   "header, and their extra fields were not "
				   "checked",
				   (unsigned long long)t->rows_too_wide);
		return;
	}
	if (t->count_cells == 0 && t->magnitude_cells == 0) {
		airlock_report_add(report, "table", AIRLOCK_PASS, details,
				   "the table has no count or magnitude "
				   "cells to check");
		return;
	}
	airlock_report_add(report, "table", AIRLOCK_PASS, details,
			   "%llu count cells and %llu magnitude cells meet "
			   "the disclosure rules",
			   (unsigned long long)t->count_cells,
			   (unsigned long long)t->magnitude_cells);
}

static int run_pass(struct airlock_check *check, char delimiter,
		    struct table *t, int pass, char *err, size_t err_size)
{
	struct airlock_csv csv;
	int rc = airlock_csv_init(&csv, check->fd, check->size, delimiter,
				  TABLE_MAX_RECORD_BYTES, TABLE_MAX_FIELDS);

	if (rc == 0 && pass == 1)
		rc = read_header(t, &csv) < 0 ? -1 : classify_columns(t, &csv);
	else if (rc == 0)
		rc = airlock_csv_next(&csv) == 1
			 ? check_cells(t, &check->cfg->rules.sdc,
				       &check->report, &csv)
			 : -1;
	if (rc < 0)
		snprintf(err, err_size, "%s",
			 csv.error[0] ? csv.error : "the header is missing");
	airlock_csv_free(&csv);
	return rc;
}

void airlock_check_table(struct airlock_check *check)
{
	char delimiter = strcmp(check->extension, "tsv") == 0 ? '\t' : ',';
	struct table t = {0};
	char err[256];

	if (run_pass(check, delimiter, &t, 1, err, sizeof(err)) < 0 ||
	    run_pass(check, delimiter, &t, 2, err, sizeof(err)) < 0) {
		airlock_report_add(&check->report, "table", AIRLOCK_REVIEW,
				   NULL,
				   "the table could not be read as %s (%s), "
				   "so disclosure control was not checked",
				   delimiter == '\t' ? "TSV" : "CSV", err);
		table_free(&t);
		return;
	}
	report_table(&t, check);
	table_free(&t);
}
