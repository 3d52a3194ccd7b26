/* DICOM check: flags attributes that identify a patient (the PS3.15 Annex E
 * basic profile list in dicom_tags.c), private attributes and burned-in
 * annotations. The verdict names the attributes but never contains their
 * values, which are the identifying data. */
#include "airlock/airlock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "airlock/dicom_shim.h"
#include "airlock/dicom_tags.h"

struct dicom_scan {
	json_t *identifying; /* [{"tag", "name"}], each tag once */
	bool seen[512];	     /* by index into airlock_dicom_tags */
	uint64_t private_attributes;
	bool burned_in_annotation;
};

static void visit(void *arg, uint16_t group, uint16_t element, int empty,
		  const char *value)
{
	struct dicom_scan *scan = arg;
	char tag[16];

	if (group == 0x0028 && element == 0x0301 &&
	    strncasecmp(value, "YES", 3) == 0)
		scan->burned_in_annotation = true;
	/* Odd groups above 0x0008 are private. 0x0001-0x0007 are reserved. */
	if ((group & 1) && group > 0x0008)
		scan->private_attributes++;

	const struct airlock_dicom_tag *t =
	    airlock_dicom_tag_find(group, element);
	if (t == NULL || !t->flagged || empty)
		return;
	size_t index = (size_t)(t - airlock_dicom_tags);
	if (index >= sizeof(scan->seen) || scan->seen[index])
		return;
	scan->seen[index] = true;
	snprintf(tag, sizeof(tag), "(%04X,%04X)", t->group, t->element);
	json_array_append_new(
	    scan->identifying,
	    json_pack("{s:s, s:s}", "tag", tag, "name", t->name));
}

int airlock_dicom_init(char *err, size_t err_size)
{
	return airlock_dicom_shim_init(err, err_size);
}

static void report_scan(struct airlock_check *check, struct dicom_scan *scan)
{
	size_t found = json_array_size(scan->identifying);
	json_t *details = json_pack(
	    "{s:O, s:I, s:b}", "identifying_attributes", scan->identifying,
	    "private_attributes", (json_int_t)scan->private_attributes,
	    "burned_in_annotation", scan->burned_in_annotation);

	if (found > 0) {
		const char *first = json_string_value(json_object_get(
		    json_array_get(scan->identifying, 0), "name"));
		airlock_report_add(&check->report, "dicom", AIRLOCK_FAIL,
				   details,
				   "%zu attributes that identify a patient "
				   "have values, starting with %s; "
				   "de-identify the file and submit it again",
				   found, first);
	} else if (scan->private_attributes > 0 || scan->burned_in_annotation) {
		airlock_report_add(&check->report, "dicom", AIRLOCK_REVIEW,
				   details,
				   "no identifying attributes have values, but "
				   "the file has %llu private attributes%s; "
				   "review them by hand",
				   (unsigned long long)scan->private_attributes,
				   scan->burned_in_annotation
				       ? " and burned-in annotations in the "
					 "pixel data"
				       : "");
	} else {
		airlock_report_add(&check->report, "dicom", AIRLOCK_PASS,
				   details,
				   "none of the %zu attributes that identify "
				   "a patient have values",
				   airlock_dicom_tag_count);
	}
}

void airlock_check_dicom(struct airlock_check *check)
{
	struct dicom_scan scan = {.identifying = json_array()};
	char err[256];

	if (check->size == 0 || check->size > SIZE_MAX) {
		airlock_report_add(
		    &check->report, "dicom", AIRLOCK_FAIL, NULL,
		    "the DICOM file is empty or too large to map");
		json_decref(scan.identifying);
		return;
	}
	void *data = mmap(NULL, (size_t)check->size, PROT_READ, MAP_PRIVATE,
			  check->fd, 0);
	if (data == MAP_FAILED) {
		airlock_report_add(&check->report, "dicom", AIRLOCK_FAIL, NULL,
				   "the DICOM file could not be mapped: %s",
				   strerror(errno));
		json_decref(scan.identifying);
		return;
	}

	if (airlock_dicom_shim_walk(data, (size_t)check->size, visit, &scan,
				    err, sizeof(err)) < 0)
		airlock_report_add(
		    &check->report, "dicom", AIRLOCK_FAIL, NULL,
		    "the file could not be read as DICOM (%s), so "
		    "its attributes could not be checked",
		    err);
	else
		report_scan(check, &scan);

	munmap(data, (size_t)check->size);
	json_decref(scan.identifying);
}
