// DCMTK parsing for the DICOM check, behind a C interface. No C++
// exception and no DCMTK type crosses into the C code.
#include "dcmtk/config/osconfig.h"

#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "dcmtk/dcmdata/dcstack.h"
#include "dcmtk/oflog/oflog.h"

#include <cstdio>
#include <cstring>

#include "airlock/dicom_shim.h"

static const size_t VALUE_MAX = 64;

int airlock_dicom_shim_init(char *err, size_t err_size)
{
	try {
		// DCMTK logs parse warnings to stdout by default; the checker
		// reports problems in its verdict instead.
		OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
		if (!dcmDataDict.isDictionaryLoaded()) {
			snprintf(
			    err, err_size,
			    "the DICOM data dictionary could not be loaded "
			    "(install the Debian package libdcmtk17 or set "
			    "DCMDICTPATH)");
			return -1;
		}
	} catch (...) {
		snprintf(err, err_size, "DCMTK failed to start");
		return -1;
	}
	return 0;
}

static void visit_element(DcmObject *obj, airlock_dicom_visit_fn visit,
			  void *arg)
{
	const DcmTag &tag = obj->getTag();
	char value[VALUE_MAX + 1] = "";
	int empty;

	if (obj->ident() == EVR_SQ) {
		empty = static_cast<DcmSequenceOfItems *>(obj)->card() == 0;
	} else {
		DcmElement *element = static_cast<DcmElement *>(obj);
		empty = element->getLength() == 0;
		char *text = NULL;
		if (!empty && obj->isaString() &&
		    element->getString(text).good() && text != NULL)
			snprintf(value, sizeof(value), "%.*s",
				 static_cast<int>(VALUE_MAX), text);
	}
	visit(arg, tag.getGroup(), tag.getElement(), empty, value);
}

int airlock_dicom_shim_walk(const void *data, size_t len,
			    airlock_dicom_visit_fn visit, void *arg, char *err,
			    size_t err_size)
{
	try {
		DcmInputBufferStream in;
		DcmFileFormat file;

		in.setBuffer(data, static_cast<offile_off_t>(len));
		in.setEos();
		file.transferInit();
		OFCondition cond = file.read(in);
		file.transferEnd();
		if (cond.bad()) {
			snprintf(err, err_size, "%s", cond.text());
			return -1;
		}

		DcmDataset *dataset = file.getDataset();
		DcmStack stack;
		while (dataset->nextObject(stack, OFTrue).good()) {
			DcmObject *obj = stack.top();
			if (obj->ident() == EVR_item)
				continue;
			visit_element(obj, visit, arg);
		}
	} catch (const std::exception &e) {
		snprintf(err, err_size, "DCMTK failed: %s", e.what());
		return -1;
	} catch (...) {
		snprintf(err, err_size, "DCMTK failed");
		return -1;
	}
	return 0;
}
