// Labels, number and time formats, and a DOM builder that the airlock
// pages share. Every text goes into the page as a text node, never as
// HTML, because file names, descriptions and comments come from users.

export const STATE_LABELS = {
	draft: 'Draft',
	submitted: 'Submitted',
	checking: 'Checking',
	in_review: 'In review',
	changes_requested: 'Changes requested',
	approved: 'Approved',
	released: 'Released',
	rejected: 'Rejected',
	blocked: 'Blocked',
	withdrawn: 'Withdrawn',
	failed: 'Failed',
	revoked: 'Revoked',
};

// States the requester may still withdraw from. The server's table of
// transitions allows withdrawal from these and no others.
export const WITHDRAWABLE_STATES = new Set([
	'draft', 'submitted', 'checking', 'in_review', 'changes_requested', 'approved',
]);

// States that the server leaves by itself (checks finish, an approved
// export is released), so the pages load them again until they change.
export const PENDING_STATES = new Set(['submitted', 'checking', 'approved']);

export const VOTE_LABELS = {
	approve: 'Approve',
	changes: 'Request changes',
	reject: 'Reject',
};

export const RESULT_LABELS = {
	pass: 'Pass',
	review: 'Review',
	fail: 'Fail',
	pending: 'Not finished',
};

export function stateLabel(state) {
	return STATE_LABELS[state] ?? state;
}

// Formats a byte count with binary units, such as "1.5 MiB".
export function formatBytes(bytes) {
	if (typeof bytes !== 'number' || !Number.isFinite(bytes))
		return 'unknown size';
	const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
	let value = bytes;
	let unit = 0;
	while (value >= 1024 && unit < units.length - 1) {
		value /= 1024;
		unit++;
	}
	if (unit === 0)
		return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`;
	return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatTime(timeMs) {
	if (typeof timeMs !== 'number' || timeMs <= 0)
		return '';
	return new Date(timeMs).toLocaleString();
}

// Creates element TAG. ATTRIBUTES sets properties (className, id, type,
// textContent...) except for "dataset" (an object of data-* values) and
// names with a dash, which become attributes (aria-label, data-testid).
// CHILDREN are nodes or strings, and strings become text nodes.
export function el(tag, attributes = {}, ...children) {
	const element = document.createElement(tag);
	for (const [name, value] of Object.entries(attributes)) {
		if (value === undefined || value === null)
			continue;
		if (name === 'dataset')
			Object.assign(element.dataset, value);
		else if (name.includes('-'))
			element.setAttribute(name, String(value));
		else
			element[name] = value;
	}
	for (const child of children) {
		if (child === null || child === undefined || child === false)
			continue;
		element.append(typeof child === 'string' ? document.createTextNode(child) : child);
	}
	return element;
}

// Builds a <dl> of [term, description] pairs, where a description may be
// a node. Pairs with an empty description are left out.
export function definitionList(pairs, className = 'facts') {
	const list = el('dl', { className });
	for (const [term, description] of pairs) {
		if (description === '' || description === null || description === undefined)
			continue;
		list.append(el('dt', {}, term), el('dd', {}, description));
	}
	return list;
}

export function requestUrl(id) {
	const url = new URL('airlock.html', location.href);
	url.search = '';
	url.searchParams.set('request', id);
	return url.href;
}

// The last part of a slash-separated path.
export function baseName(path) {
	const index = path.lastIndexOf('/');
	return index >= 0 ? path.slice(index + 1) : path;
}

// The extension of NAME in lower case, as the checker derives it: the
// text after the last dot.
export function extensionOf(name) {
	const base = baseName(name);
	const index = base.lastIndexOf('.');
	return index > 0 ? base.slice(index + 1).toLowerCase() : '';
}

// Returns the message of a failed call for the airlock forms. A 401 means
// that the login ended, by a logout in another tab or a timeout.
export function failureText(error) {
	if (error && error.status === 401)
		return 'your login has ended. Log in again in another tab, then ' +
			'try again here: this page keeps what you entered.';
	return error.message;
}
