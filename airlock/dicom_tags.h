/* The DICOM attributes that identify a patient. */
#ifndef TRELLIS_AIRLOCK_DICOM_TAGS_H
#define TRELLIS_AIRLOCK_DICOM_TAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct airlock_dicom_tag {
	uint16_t group;
	uint16_t element; /* 0xFFFF: every element of the group */
	const char *name;
	bool flagged; /* false for UIDs, which de-identification replaces */
};

extern const struct airlock_dicom_tag airlock_dicom_tags[];
extern const size_t airlock_dicom_tag_count;

const struct airlock_dicom_tag *airlock_dicom_tag_find(uint16_t group,
						       uint16_t element);

#endif
