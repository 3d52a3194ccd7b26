// Calls to the Trellis portal API. Every call is same-origin JSON; every
// POST carries the session's CSRF token, which the login responses and
// GET /api/me return and this module keeps in sessionStorage (per tab,
// gone when the tab closes).

const CSRF_STORAGE_KEY = 'trellis.csrf_token';

export class ApiError extends Error {
	constructor(status, message, body) {
		super(message);
		this.name = 'ApiError';
		this.status = status;
		this.body = body;
	}
}

export function storeCsrfToken(token) {
	if (typeof token === 'string' && token !== '')
		sessionStorage.setItem(CSRF_STORAGE_KEY, token);
}

export function clearCsrfToken() {
	sessionStorage.removeItem(CSRF_STORAGE_KEY);
}

function errorMessage(method, path, response, body) {
	if (body && typeof body.error === 'string' && body.error !== '') {
		const retry = response.headers.get('Retry-After');
		if (response.status === 429 && retry)
			return `${body.error} Try again in ${retry} seconds.`;
		return body.error;
	}
	if (response.status === 401)
		return 'You are not logged in. Log in again.';
	return `${method} ${path} failed with HTTP status ${response.status}.`;
}

async function call(method, path, body) {
	const headers = { Accept: 'application/json' };
	const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };

	if (method !== 'GET') {
		headers['Content-Type'] = 'application/json';
		const token = sessionStorage.getItem(CSRF_STORAGE_KEY);
		if (token)
			headers['X-CSRF-Token'] = token;
		init.body = JSON.stringify(body ?? {});
	}

	let response;
	try {
		response = await fetch(path, init);
	} catch (error) {
		throw new ApiError(0, 'The Trellis server could not be reached. ' +
			'Check your network connection and try again.');
	}

	let data = null;
	try {
		data = await response.json();
	} catch (error) {
		data = null;
	}
	if (!response.ok)
		throw new ApiError(response.status,
			errorMessage(method, path, response, data), data);
	if (data === null || typeof data !== 'object')
		throw new ApiError(response.status,
			`${method} ${path} returned no JSON object.`);
	storeCsrfToken(data.csrf_token);
	return data;
}

export function apiGet(path) {
	return call('GET', path);
}

export function apiPost(path, body) {
	return call('POST', path, body);
}
