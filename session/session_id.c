#include "session/session_id.h"

#include <string.h>

bool session_id_valid(const char *id)
{
	if (id == NULL)
		return false;

	size_t len = strlen(id);
	if (len == 0 || len > SESSION_ID_MAX_LEN)
		return false;

	for (size_t i = 0; i < len; i++) {
		char c = id[i];
		bool allowed = (c >= 'a' && c <= 'z') ||
			       (c >= '0' && c <= '9') || c == '-';
		if (!allowed)
			return false;
	}
	return true;
}
