/* A C interface to the DCMTK calls the DICOM check needs (DCMTK is C++). */
#ifndef TRELLIS_AIRLOCK_DICOM_SHIM_H
#define TRELLIS_AIRLOCK_DICOM_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called once per attribute of the data set, attributes inside sequence
 * items included. EMPTY is nonzero for a zero-length value or a sequence
 * without items. VALUE contains the start of a string value (at most 64
 * bytes), or is empty. */
typedef void (*airlock_dicom_visit_fn)(void *arg, uint16_t group,
				       uint16_t element, int empty,
				       const char *value);

/* Loads the data dictionary from disk. Call it before the seccomp filter,
 * which forbids opening files. Returns 0, or -1 with ERR set. */
int airlock_dicom_shim_init(char *err, size_t err_size);

/* Parses the DICOM file in DATA (with or without the 128-byte preamble) and
 * calls VISIT for each attribute. Returns 0, or -1 with ERR set when the
 * bytes are not a readable DICOM file. */
int airlock_dicom_shim_walk(const void *data, size_t len,
			    airlock_dicom_visit_fn visit, void *arg, char *err,
			    size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
