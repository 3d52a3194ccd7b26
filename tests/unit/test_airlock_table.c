/* Disclosure control rules of the airlock's table check, on real files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "airlock/airlock.h"

#define RULES_JSON(n, k, zeros)                                                \
	"{\"file_name\": \"t.csv\", \"size_bytes\": 0, \"direction\": "        \
	"\"export\", \"rules\": {\"max_file_size\": 1000000, "                 \
	"\"allowed_types\": [\"csv\", \"tsv\"], \"disclosure_control\": "      \
	"{\"min_cell_count\": 10, \"dominance\": {\"n\": " n ", \"k\": " k     \
	"}, \"p_ratio\": 0.10, \"zeros_disclosive\": " zeros "}, "             \
	"\"dicom_check\": "                                                    \
	"true, \"malware_scan_required\": false}}"

struct table_run {
	struct airlock_config cfg;
	struct airlock_check check;
	int fd;
};

static void run_rules(struct table_run *run, const char *extension,
		      const char *text, const char *json)
{
	char err[256];

	json_t *body = json_loads(json, 0, NULL);
	assert_non_null(body);
	assert_int_equal(
	    airlock_config_parse(body, &run->cfg, err, sizeof(err)), 0);
	json_decref(body);

	run->fd = memfd_create("table", 0);
	assert_true(run->fd >= 0);
	assert_int_equal(write(run->fd, text, strlen(text)),
			 (ssize_t)strlen(text));

	memset(&run->check, 0, sizeof(run->check));
	run->check.cfg = &run->cfg;
	run->check.fd = run->fd;
	run->check.size = strlen(text);
	run->check.clamd_fd = -1;
	snprintf(run->check.extension, sizeof(run->check.extension), "%s",
		 extension);
	airlock_report_init(&run->check.report);
	airlock_check_table(&run->check);
}

static void run_table(struct table_run *run, const char *text)
{
	run_rules(run, "csv", text, RULES_JSON("2", "0.90", "true"));
}

static void finish(struct table_run *run)
{
	airlock_report_clear(&run->check.report);
	airlock_config_clear(&run->cfg);
	close(run->fd);
}

static const char *table_result(const struct table_run *run)
{
	json_t *finding = json_array_get(run->check.report.findings, 0);

	assert_int_equal(json_array_size(run->check.report.findings), 1);
	return json_string_value(json_object_get(finding, "result"));
}

static const char *table_reason(const struct table_run *run)
{
	json_t *finding = json_array_get(run->check.report.findings, 0);

	return json_string_value(json_object_get(finding, "reason"));
}

static json_t *flagged(const struct table_run *run, size_t index)
{
	return json_array_get(run->check.report.flagged_cells, index);
}

static json_int_t cell_int(json_t *cell, const char *key)
{
	return json_integer_value(json_object_get(cell, key));
}

static const char *cell_str(json_t *cell, const char *key)
{
	return json_string_value(json_object_get(cell, key));
}

static void table_counts_pass(void **state)
{
	struct table_run run;

	run_table(&run, "region,count\nnorth,25\nsouth,12\n");
	assert_string_equal(table_result(&run), "pass");
	assert_int_equal(run.check.report.flagged_cells_total, 0);
	finish(&run);
}

static void table_small_count_fails(void **state)
{
	struct table_run run;

	run_table(&run, "region,count\nnorth,25\nsouth,3\neast,12\n");
	assert_string_equal(table_result(&run), "fail");
	assert_int_equal(run.check.report.flagged_cells_total, 1);
	json_t *cell = flagged(&run, 0);
	assert_int_equal(cell_int(cell, "row"), 3);
	assert_int_equal(cell_int(cell, "column"), 2);
	assert_string_equal(cell_str(cell, "column_name"), "count");
	assert_string_equal(cell_str(cell, "value"), "3");
	assert_string_equal(cell_str(cell, "rule"), "min_cell_count");
	finish(&run);
}

static void table_zero_when_disclosive(void **state)
{
	struct table_run run;

	run_table(&run, "region,count\nnorth,25\nsouth,0\n");
	assert_string_equal(table_result(&run), "fail");
	assert_string_equal(cell_str(flagged(&run, 0), "rule"), "zero");
	finish(&run);
}

static void table_zero_when_not_disclosive(void **state)
{
	struct table_run run;

	run_rules(&run, "csv", "region,count\nnorth,25\nsouth,0\n",
		  RULES_JSON("2", "0.90", "false"));
	assert_string_equal(table_result(&run), "pass");
	assert_int_equal(run.check.report.flagged_cells_total, 0);
	finish(&run);
}

/* Text columns and columns named *_label are not counts. */
static void table_label_columns(void **state)
{
	struct table_run run;

	run_table(&run, "name,age_label,count\n\"Smith, J\",5,40\nLee,7,11\n");
	assert_string_equal(table_result(&run), "pass");
	finish(&run);
}

/* Without the _label suffix, an integer column is a count column. */
static void table_integer_column_is_count(void **state)
{
	struct table_run run;

	run_table(&run, "age,count\n5,40\n70,11\n");
	assert_string_equal(table_result(&run), "fail");
	assert_int_equal(cell_int(flagged(&run, 0), "column"), 1);
	finish(&run);
}

/* A suppression marker keeps the column a count column. */
static void table_suppressed_cells(void **state)
{
	struct table_run run;

	run_table(&run, "region,count\nnorth,<10\nsouth,*\neast,4\n");
	assert_string_equal(table_result(&run), "fail");
	assert_int_equal(run.check.report.flagged_cells_total, 1);
	assert_int_equal(cell_int(flagged(&run, 0), "row"), 4);
	finish(&run);
}

static void table_tsv(void **state)
{
	struct table_run run;

	run_rules(&run, "tsv", "region\tcount\nnorth\t2\n",
		  RULES_JSON("2", "0.90", "true"));
	assert_string_equal(table_result(&run), "fail");
	assert_int_equal(cell_int(flagged(&run, 0), "column"), 2);
	finish(&run);
}

static void table_dominance(void **state)
{
	struct table_run run;

	run_table(&run, "region,turnover,turnover_contributor_1,"
			"turnover_contributor_2,turnover_contributor_3\n"
			"north,1000,400,350,250\n"
			"south,1000,950,30,20\n");
	assert_string_equal(table_result(&run), "fail");
	assert_int_equal(run.check.report.flagged_cells_total, 2);
	json_t *first = flagged(&run, 0);
	assert_int_equal(cell_int(first, "row"), 3);
	assert_int_equal(cell_int(first, "column"), 2);
	assert_string_equal(cell_str(first, "rule"), "dominance");
	assert_string_equal(cell_str(flagged(&run, 1), "rule"), "p_ratio");
	finish(&run);
}

/* With n=1, a cell can pass dominance and still fail the p-ratio: the
 * second largest contributor learns the largest to within 40/500. */
static void table_p_ratio_only(void **state)
{
	struct table_run run;

	run_rules(&run, "csv",
		  "g,sales,sales_contributor_1,sales_contributor_2,"
		  "sales_contributor_3\n"
		  "a,1000,500,460,40\n"
		  "b,1000,500,400,100\n",
		  RULES_JSON("1", "0.90", "true"));
	assert_string_equal(table_result(&run), "fail");
	assert_int_equal(run.check.report.flagged_cells_total, 1);
	assert_string_equal(cell_str(flagged(&run, 0), "rule"), "p_ratio");
	assert_int_equal(cell_int(flagged(&run, 0), "row"), 2);
	finish(&run);
}

/* A single contributor is always disclosive. */
static void table_single_contributor(void **state)
{
	struct table_run run;

	run_table(&run, "g,sales,sales_contributor_1,sales_contributor_2\n"
			"a,700,700,\n");
	assert_string_equal(table_result(&run), "fail");
	assert_int_equal(run.check.report.flagged_cells_total, 2);
	finish(&run);
}

static void table_bad_contribution(void **state)
{
	struct table_run run;

	run_table(&run, "g,sales,sales_contributor_1,sales_contributor_2\n"
			"a,700,300,-5\n");
	assert_string_equal(table_result(&run), "review");
	assert_non_null(strstr(table_reason(&run), "row 2"));
	finish(&run);
}

static void table_contributions_over_total(void **state)
{
	struct table_run run;

	run_table(&run, "g,sales,sales_contributor_1,sales_contributor_2\n"
			"a,700,600,500\n");
	assert_string_equal(table_result(&run), "review");
	finish(&run);
}

static void table_malformed_is_review(void **state)
{
	struct table_run run;

	run_table(&run, "region,count\n\"north,25\n");
	assert_string_equal(table_result(&run), "review");
	assert_non_null(strstr(table_reason(&run), "not closed"));
	finish(&run);
}

static void table_ragged_row_is_review(void **state)
{
	struct table_run run;

	run_table(&run, "region,count\nnorth,25,3\n");
	assert_string_equal(table_result(&run), "review");
	finish(&run);
}

static void table_header_only(void **state)
{
	struct table_run run;

	run_table(&run, "region,count\n");
	assert_string_equal(table_result(&run), "pass");
	finish(&run);
}

static void table_flagged_list_capped(void **state)
{
	size_t rows = AIRLOCK_LIST_MAX + 50;
	char *text = malloc(rows * 8 + 16);
	size_t len = (size_t)sprintf(text, "count\n");
	struct table_run run;

	for (size_t i = 0; i < rows; i++)
		len += (size_t)sprintf(text + len, "1\n");
	run_table(&run, text);
	assert_int_equal(run.check.report.flagged_cells_total, rows);
	assert_int_equal(json_array_size(run.check.report.flagged_cells),
			 AIRLOCK_LIST_MAX);
	finish(&run);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(table_counts_pass),
	    cmocka_unit_test(table_small_count_fails),
	    cmocka_unit_test(table_zero_when_disclosive),
	    cmocka_unit_test(table_zero_when_not_disclosive),
	    cmocka_unit_test(table_label_columns),
	    cmocka_unit_test(table_integer_column_is_count),
	    cmocka_unit_test(table_suppressed_cells),
	    cmocka_unit_test(table_tsv),
	    cmocka_unit_test(table_dominance),
	    cmocka_unit_test(table_p_ratio_only),
	    cmocka_unit_test(table_single_contributor),
	    cmocka_unit_test(table_bad_contribution),
	    cmocka_unit_test(table_contributions_over_total),
	    cmocka_unit_test(table_malformed_is_review),
	    cmocka_unit_test(table_ragged_row_is_review),
	    cmocka_unit_test(table_header_only),
	    cmocka_unit_test(table_flagged_list_capped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
