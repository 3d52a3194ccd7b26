/* QR code rendering for TOTP enrolment, as SVG. */
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>

#include "broker/auth/totp.h"
#include "lib/cleanup.h"

DEFINE_AUTO_CLEANUP(qrcode, QRcode, QRcode_free)

/* Width of the light border (quiet zone) around the code, in modules.
 * Scanners need it to find the code's edges. */
#define QUIET_ZONE 4

char *auth_totp_qr_svg(const char *text)
{
	autoptr(qrcode) QRcode *qr =
	    QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (!qr)
		return NULL;

	char *svg = NULL;
	size_t svg_len = 0;
	FILE *out = open_memstream(&svg, &svg_len);
	if (!out)
		return NULL;

	int size = qr->width + 2 * QUIET_ZONE;
	fprintf(out,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d "
		"%d\" shape-rendering=\"crispEdges\">"
		"<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
		"<path fill=\"#000\" d=\"",
		size, size, size, size);

	/* One rectangle per horizontal run of dark modules keeps the path
	 * short. Bit 0 of each byte is the module's colour. */
	for (int y = 0; y < qr->width; y++) {
		const unsigned char *row = qr->data + (size_t)y * qr->width;
		for (int x = 0; x < qr->width;) {
			if (!(row[x] & 1)) {
				x++;
				continue;
			}
			int run = 1;
			while (x + run < qr->width && (row[x + run] & 1))
				run++;
			fprintf(out, "M%d %dh%dv1h-%dz", x + QUIET_ZONE,
				y + QUIET_ZONE, run, run);
			x += run;
		}
	}
	fputs("\"/></svg>\n", out);

	if (fclose(out) != 0) {
		free(svg);
		return NULL;
	}
	return svg;
}
