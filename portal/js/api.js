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

// RETRY_AFTER is the Retry-After header's value, or null.
function errorMessage(method, path, status, retryAfter, body) {
	if (body && typeof body.error === 'string' && body.error !== '') {
		if (status === 429 && retryAfter)
			return `${body.error} Try again in ${retryAfter} seconds.`;
		return body.error;
	}
	if (status === 401)
		return 'You are not logged in. Log in again.';
	if (status === 413)
		return `${method} ${path} failed: the file is larger than the project allows.`;
	return `${method} ${path} failed with HTTP status ${status}.`;
}

function csrfToken() {
	return sessionStorage.getItem(CSRF_STORAGE_KEY);
}

// Loads the current login's CSRF token with GET /api/me. Returns true when
// it changed, as after a new login in another tab, so that a call rejected
// for its token may be sent again.
async function refreshCsrfToken() {
	const before = csrfToken();
	try {
		const response = await fetch('/api/me', {
			headers: { Accept: 'application/json' },
			credentials: 'same-origin', cache: 'no-store',
		});
		if (!response.ok)
			return false;
		storeCsrfToken((await response.json()).csrf_token);
	} catch (error) {
		return false;
	}
	return csrfToken() !== before;
}

async function call(method, path, body, retried = false) {
	const headers = { Accept: 'application/json' };
	const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };

	if (method !== 'GET') {
		headers['Content-Type'] = 'application/json';
		const token = csrfToken();
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
	if (!response.ok) {
		if (method !== 'GET' && response.status === 403 && !retried &&
		    await refreshCsrfToken())
			return call(method, path, body, true);
		throw new ApiError(response.status,
			errorMessage(method, path, response.status,
				response.headers.get('Retry-After'), data), data);
	}
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

// Sends BLOB as the raw body of a POST to PATH, with the CSRF token, and
// returns the JSON reply. XMLHttpRequest is used instead of fetch because
// only it reports upload progress. ON_PROGRESS, when given, receives the
// bytes sent so far and the total. Throws ApiError like the JSON calls,
// and sends the file again once when its CSRF token was stale.
export async function apiUpload(path, blob, onProgress) {
	try {
		return await uploadOnce(path, blob, onProgress);
	} catch (error) {
		if (error instanceof ApiError && error.status === 403 &&
		    await refreshCsrfToken())
			return uploadOnce(path, blob, onProgress);
		throw error;
	}
}

function uploadOnce(path, blob, onProgress) {
	return new Promise((resolve, reject) => {
		const request = new XMLHttpRequest();
		request.open('POST', path);
		request.setRequestHeader('Accept', 'application/json');
		request.setRequestHeader('Content-Type', 'application/octet-stream');
		const token = csrfToken();
		if (token)
			request.setRequestHeader('X-CSRF-Token', token);
		if (onProgress)
			request.upload.addEventListener('progress', (event) => {
				onProgress(event.loaded, event.lengthComputable ? event.total : blob.size);
			});

		request.addEventListener('error', () => {
			// The server replies 413 before it reads the body of a file
			// that is too large, and then the browser may report only a
			// failed request.
			reject(new ApiError(0, 'The upload stopped before the server replied. ' +
				'The file may be larger than the project allows, or the connection failed.'));
		});
		request.addEventListener('abort', () => {
			reject(new ApiError(0, 'The upload was cancelled.'));
		});
		request.addEventListener('load', () => {
			let data = null;
			try {
				data = JSON.parse(request.responseText);
			} catch (error) {
				data = null;
			}
			if (request.status < 200 || request.status > 299) {
				reject(new ApiError(request.status,
					errorMessage('POST', path, request.status,
						request.getResponseHeader('Retry-After'), data), data));
				return;
			}
			if (data === null || typeof data !== 'object') {
				reject(new ApiError(request.status,
					`POST ${path} returned no JSON object.`));
				return;
			}
			storeCsrfToken(data.csrf_token);
			resolve(data);
		});
		request.send(blob);
	});
}

// Fetches the bytes at PATH, but stops reading after MAX_BYTES. Returns
// {bytes: Uint8Array, truncated: bool}. Throws ApiError for an error
// status, with the server's message when the reply is JSON.
export async function apiGetBytes(path, maxBytes) {
	let response;
	try {
		response = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
	} catch (error) {
		throw new ApiError(0, 'The Trellis server could not be reached. ' +
			'Check your network connection and try again.');
	}
	if (!response.ok) {
		let data = null;
		try {
			data = await response.json();
		} catch (error) {
			data = null;
		}
		throw new ApiError(response.status,
			errorMessage('GET', path, response.status,
				response.headers.get('Retry-After'), data), data);
	}

	const chunks = [];
	let length = 0;
	let truncated = false;
	const reader = response.body.getReader();
	for (;;) {
		const { done, value } = await reader.read();
		if (done)
			break;
		chunks.push(value);
		length += value.length;
		if (length > maxBytes) {
			truncated = true;
			await reader.cancel();
			break;
		}
	}

	const bytes = new Uint8Array(Math.min(length, maxBytes));
	let offset = 0;
	for (const chunk of chunks) {
		const part = chunk.subarray(0, bytes.length - offset);
		bytes.set(part, offset);
		offset += part.length;
		if (offset === bytes.length)
			break;
	}
	return { bytes, truncated };
}
