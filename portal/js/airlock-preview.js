// Views of one quarantined airlock file for its reviewers: tables with the
// cells that the disclosure checks flagged, images, text, archive listings
// and DICOM findings. The bytes come from
// GET /api/airlock/requests/ID/files/SHA256, which only reviewers may read.
// Nothing from the file is ever parsed as HTML: text goes into text nodes,
// and only PNG, JPEG, GIF and WebP are shown as images, so an SVG cannot
// run script.
import { ApiError, apiGetBytes } from './api.js';
import { el, extensionOf, formatBytes } from './airlock-format.js';

// Maximum number of data rows shown below a table's header row.
export const TABLE_MAX_ROWS = 500;
// Bytes read for a table preview. A longer file shows the rows that fit.
const TABLE_MAX_BYTES = 4 * 1024 * 1024;
const TEXT_MAX_BYTES = 64 * 1024;
// Images larger than this get a note instead of a preview.
const IMAGE_MAX_BYTES = 32 * 1024 * 1024;

const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
const TEXT_TYPES = new Set([
	'application/json', 'application/xml', 'image/svg+xml', 'application/x-ndjson',
]);

// Descriptions of the disclosure rules, for the legend and the titles of
// flagged cells.
export const RULE_DESCRIPTIONS = {
	min_cell_count: 'count below the minimum cell count',
	zero: 'zero count, which the policy treats as disclosive',
	dominance: 'the largest contributors dominate the cell total',
	p_ratio: 'the second largest contributor could estimate the largest',
};

// Parses delimited text as RFC 4180 does: a field that starts with a
// quote runs to the closing quote and may contain delimiters, line breaks and
// doubled quotes, and records end with LF or CRLF. Stops after
// MAX_RECORDS records. Returns {records, more}, where MORE is true when
// text remained after the last record returned.
export function parseDelimited(text, delimiter, maxRecords) {
	const records = [];
	let record = [];
	let field = '';
	let quoted = false;
	let fieldStarted = false;
	let i = 0;

	while (i < text.length) {
		const c = text[i];
		if (quoted) {
			if (c === '"' && text[i + 1] === '"') {
				field += '"';
				i += 2;
			} else if (c === '"') {
				quoted = false;
				i++;
			} else {
				field += c;
				i++;
			}
			continue;
		}

		if (c === '"' && !fieldStarted) {
			quoted = true;
			fieldStarted = true;
			i++;
		} else if (c === delimiter) {
			record.push(field);
			field = '';
			fieldStarted = false;
			i++;
		} else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
			record.push(field);
			records.push(record);
			record = [];
			field = '';
			fieldStarted = false;
			i += c === '\r' ? 2 : 1;
			if (records.length >= maxRecords)
				return { records, more: i < text.length };
		} else {
			field += c;
			fieldStarted = true;
			i++;
		}
	}

	if (fieldStarted || record.length > 0) {
		record.push(field);
		records.push(record);
	}
	return { records, more: false };
}

// Maps "row:column" to the flagged_cells entries of that cell. One cell
// may break several rules, such as dominance and p_ratio.
function flaggedByCell(flaggedCells) {
	const byCell = new Map();
	for (const cell of flaggedCells) {
		const key = `${cell.row}:${cell.column}`;
		if (!byCell.has(key))
			byCell.set(key, []);
		byCell.get(key).push(cell);
	}
	return byCell;
}

function ruleText(rule) {
	return RULE_DESCRIPTIONS[rule] ? `${rule}: ${RULE_DESCRIPTIONS[rule]}` : rule;
}

function markFlagged(cell, flags) {
	const rules = [...new Set(flags.map((flag) => flag.rule))];
	cell.classList.add('flagged', ...rules.map((rule) => `flagged-${rule}`));
	cell.dataset.rule = rules.join(' ');
	cell.setAttribute('data-testid', 'flagged-cell');
	cell.title = `Flagged by ${rules.map(ruleText).join('; ')}`;
	// The title is not read by every screen reader, so the rule is also in
	// the cell's text for them.
	cell.append(el('span', { className: 'visually-hidden' }, ` (flagged: ${rules.join(', ')})`));
}

function ruleLegend(flaggedCells) {
	const rules = [...new Set(flaggedCells.map((cell) => cell.rule))];
	if (rules.length === 0)
		return null;
	const legend = el('ul', { className: 'legend', 'aria-label': 'Legend of flagged cells', 'data-testid': 'flag-legend' });
	for (const rule of rules) {
		legend.append(el('li', {},
			el('span', { className: `swatch flagged flagged-${rule}`, 'aria-hidden': 'true' }),
			` ${ruleText(rule)}`));
	}
	return legend;
}

// Builds the table of RECORDS and marks the flagged cells. Record 0 is the
// header, which is row 1 in the checker's numbering.
function recordTable(name, records, flaggedCells) {
	const byCell = flaggedByCell(flaggedCells);
	const width = records.reduce((max, record) => Math.max(max, record.length), 0);
	const table = el('table', { className: 'csv-preview', 'data-testid': 'csv-preview' });
	table.append(el('caption', { className: 'visually-hidden' }, `Content of ${name}`));

	const numbers = el('tr', { className: 'column-numbers' }, el('th', { scope: 'col' }, 'Row'));
	for (let column = 1; column <= width; column++)
		numbers.append(el('th', { scope: 'col' }, String(column)));
	const head = el('thead', {}, numbers);
	const body = el('tbody');
	table.append(head, body);

	records.forEach((record, index) => {
		const row = index + 1;
		const header = row === 1;
		const line = el('tr', { dataset: { row: String(row) } },
			el('th', { scope: 'row', className: 'row-number' }, String(row)));
		for (let column = 1; column <= width; column++) {
			const text = column <= record.length ? record[column - 1] : '';
			const cell = el(header ? 'th' : 'td', {
				dataset: { row: String(row), column: String(column) },
			}, text);
			if (header)
				cell.scope = 'col';
			const flags = byCell.get(`${row}:${column}`);
			if (flags)
				markFlagged(cell, flags);
			line.append(cell);
		}
		(header ? head : body).append(line);
	});
	return table;
}

export function flaggedList(verdict) {
	const cells = verdict.flagged_cells;
	const table = el('table', { className: 'listing', 'data-testid': 'flagged-list' },
		el('caption', {}, 'Flagged cells'),
		el('thead', {}, el('tr', {},
			...['Row', 'Column', 'Column name', 'Value', 'Rule'].map((text) =>
				el('th', { scope: 'col' }, text)))));
	const body = el('tbody');
	for (const cell of cells) {
		body.append(el('tr', { dataset: { row: String(cell.row), column: String(cell.column) } },
			el('td', {}, String(cell.row)), el('td', {}, String(cell.column)),
			el('td', {}, cell.column_name ?? ''), el('td', {}, cell.value ?? ''),
			el('td', { title: RULE_DESCRIPTIONS[cell.rule] ?? '' }, cell.rule ?? '')));
	}
	table.append(body);
	const total = verdict.flagged_cells_total ?? cells.length;
	const note = total > cells.length
		? el('p', { className: 'hint' }, `The checker flagged ${total} cells and lists the first ${cells.length}.`)
		: null;
	return [table, note];
}

function isTable(file, verdict) {
	const extension = extensionOf(file.path);
	const mime = verdict?.type?.mime ?? '';
	// The content type decides first, so a zip named results.csv is not shown
	// as a table.
	if (mime !== '' && !mime.startsWith('text/'))
		return false;
	return extension === 'csv' || extension === 'tsv' || mime === 'text/csv' ||
		mime === 'text/tab-separated-values';
}

function isText(verdict) {
	const mime = verdict?.type?.mime ?? '';
	return mime.startsWith('text/') || TEXT_TYPES.has(mime);
}

function fileBytesPath(requestId, file) {
	return `/api/airlock/requests/${encodeURIComponent(requestId)}/files/${encodeURIComponent(file.sha256)}`;
}

function decode(bytes) {
	return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}

async function tableView(requestId, file, verdict) {
	const { bytes, truncated } = await apiGetBytes(fileBytesPath(requestId, file), TABLE_MAX_BYTES);
	const delimiter = extensionOf(file.path) === 'tsv' ||
		verdict?.type?.mime === 'text/tab-separated-values' ? '\t' : ',';
	let { records, more } = parseDelimited(decode(bytes), delimiter, TABLE_MAX_ROWS + 1);
	// The last record of a cut-off read may be incomplete.
	if (truncated && !more && records.length > 1)
		records = records.slice(0, -1);
	const flagged = Array.isArray(verdict?.flagged_cells) ? verdict.flagged_cells : [];

	const parts = [];
	const legend = ruleLegend(flagged);
	if (legend)
		parts.push(legend);
	const scroll = el('div', {
		className: 'table-scroll', tabIndex: 0, role: 'region',
		'aria-label': `Table ${file.path}`,
	}, recordTable(file.path, records, flagged));
	parts.push(scroll);
	if (more || truncated) {
		parts.push(el('p', { className: 'hint', 'data-testid': 'preview-cut' },
			`Showing the header and the first ${Math.max(records.length - 1, 0)} data rows. ` +
			'The file has more.'));
	}
	const shownRows = records.length;
	const hidden = flagged.filter((cell) => cell.row > shownRows).length;
	if (hidden > 0)
		parts.push(el('p', { className: 'hint' },
			`${hidden} flagged cells are in rows beyond those shown. The list below contains them.`));
	if (flagged.length > 0)
		parts.push(...flaggedList(verdict).filter(Boolean));
	return parts;
}

async function textView(requestId, file) {
	const { bytes, truncated } = await apiGetBytes(fileBytesPath(requestId, file), TEXT_MAX_BYTES);
	const parts = [el('pre', {
		className: 'text-preview', tabIndex: 0, 'data-testid': 'text-preview',
		'aria-label': `Text of ${file.path}`,
	}, decode(bytes))];
	if (truncated)
		parts.push(el('p', { className: 'hint', 'data-testid': 'preview-cut' },
			`Showing the first ${formatBytes(TEXT_MAX_BYTES)} of ${formatBytes(file.size_bytes)}.`));
	return parts;
}

// Object URLs of the images shown, revoked when the page is left.
const imageUrls = new Set();

export function releaseImages() {
	for (const url of imageUrls)
		URL.revokeObjectURL(url);
	imageUrls.clear();
}

async function imageView(requestId, file, mime) {
	if (file.size_bytes > IMAGE_MAX_BYTES)
		return [el('p', { className: 'hint' },
			`The image is ${formatBytes(file.size_bytes)}, more than the ` +
			`${formatBytes(IMAGE_MAX_BYTES)} shown here.`)];
	const { bytes } = await apiGetBytes(fileBytesPath(requestId, file), IMAGE_MAX_BYTES);
	const url = URL.createObjectURL(new Blob([bytes], { type: mime }));
	imageUrls.add(url);
	return [el('img', {
		className: 'image-preview', src: url, alt: `Content of ${file.path}`,
		'data-testid': 'image-preview',
	})];
}

export function archiveView(verdict) {
	const entries = Array.isArray(verdict?.archive_entries) ? verdict.archive_entries : [];
	if (entries.length === 0)
		return [];
	const body = el('tbody');
	for (const entry of entries)
		body.append(el('tr', {}, el('td', {}, entry.name ?? ''),
			el('td', {}, formatBytes(entry.size)), el('td', {}, entry.mime ?? '')));
	const table = el('table', { className: 'listing', 'data-testid': 'archive-entries' },
		el('caption', {}, 'Archive entries'),
		el('thead', {}, el('tr', {},
			...['Name', 'Size', 'Type'].map((text) => el('th', { scope: 'col' }, text)))),
		body);
	const total = verdict.archive_entries_total ?? entries.length;
	const note = total > entries.length
		? el('p', { className: 'hint' }, `The archive has ${total} entries, and the first ${entries.length} are listed.`)
		: null;
	return [table, note].filter(Boolean);
}

export function dicomView(verdict) {
	const findings = Array.isArray(verdict?.findings) ? verdict.findings : [];
	const finding = findings.find((item) => item.check === 'dicom');
	if (!finding)
		return [];
	const details = finding.details ?? {};
	const section = el('div', { className: 'dicom', 'data-testid': 'dicom-findings', dataset: { result: finding.result ?? '' } },
		el('h4', {}, 'DICOM header'));
	const attributes = Array.isArray(details.identifying_attributes) ? details.identifying_attributes : [];
	if (attributes.length > 0) {
		const body = el('tbody');
		for (const attribute of attributes)
			body.append(el('tr', {}, el('td', {}, attribute.tag ?? ''), el('td', {}, attribute.name ?? '')));
		section.append(el('table', { className: 'listing' },
			el('caption', {}, 'Attributes that identify a patient and have values'),
			el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Tag'), el('th', { scope: 'col' }, 'Attribute'))),
			body));
	}
	const facts = [];
	if (typeof details.private_attributes === 'number')
		facts.push(details.private_attributes === 0 ? 'no private attributes'
			: `${details.private_attributes} private attributes`);
	if (details.burned_in_annotation === true)
		facts.push('burned-in annotations in the pixel data');
	if (facts.length > 0)
		section.append(el('p', {}, `The file has ${facts.join(' and ')}.`));
	return [section];
}

// Builds the view of FILE's content. Returns the nodes to show, or a note
// when the type has no view here. Throws ApiError when the bytes cannot
// be read.
export async function contentView(requestId, file) {
	const verdict = file.verdict;
	const mime = verdict?.type?.mime ?? '';
	if (IMAGE_TYPES.has(mime))
		return imageView(requestId, file, mime);
	if (isTable(file, verdict))
		return tableView(requestId, file, verdict);
	if (isText(verdict))
		return textView(requestId, file);
	if (mime === '')
		return [el('p', { className: 'hint' },
			'The checker gave no type for this file, so it is not shown here.')];
	return [el('p', { className: 'hint' },
		`Files of type ${mime} are not shown here. The findings above describe them.`)];
}

// Loads the content view of FILE into CONTAINER, with a note while it
// loads and an error when it fails.
export async function showContent(container, requestId, file) {
	container.replaceChildren(el('p', { className: 'hint' }, 'Loading the content…'));
	try {
		container.replaceChildren(...await contentView(requestId, file));
	} catch (error) {
		const text = error instanceof ApiError && error.status === 403
			? 'You may not read this file: only the project\'s output checkers can.'
			: `Loading the content failed: ${error.message}`;
		container.replaceChildren(el('p', { className: 'status', dataset: { kind: 'error' } }, text));
	}
}
