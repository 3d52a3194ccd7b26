// Helpers every portal page shares: the login check, the logout button
// and the status line.
import { ApiError, apiGet, apiPost, clearCsrfToken } from './api.js';

// Shows TEXT in the status element ELEMENT. KIND is "info", "error" or
// "success" and selects the colour through the data-kind attribute.
export function showStatus(element, text, kind = 'info') {
	element.textContent = text;
	element.dataset.kind = kind;
	element.hidden = text === '';
}

export function goToLogin(reason) {
	const url = new URL('index.html', location.href);
	if (reason)
		url.searchParams.set('reason', reason);
	location.assign(url.href);
}

// Loads GET /api/me, or goes to the login page when there is no complete
// login. Returns the user description.
export async function requireLogin() {
	try {
		return await apiGet('/api/me');
	} catch (error) {
		if (error instanceof ApiError && error.status === 401) {
			goToLogin('login_required');
			return new Promise(() => {});
		}
		throw error;
	}
}

// Ends the portal session. The cookie is cleared by the server, the CSRF
// token here. Throws ApiError when the request failed. A 401 means the
// session had already ended, which counts as success.
export async function logout() {
	try {
		await apiPost('/api/logout', {});
	} catch (error) {
		if (!(error instanceof ApiError) || error.status !== 401)
			throw error;
	}
	clearCsrfToken();
}

// Wires BUTTON to log out. ON_DONE runs after a successful logout, and
// without it the page goes to the login page.
export function wireLogoutButton(button, statusElement, onDone) {
	button.addEventListener('click', async () => {
		button.disabled = true;
		try {
			await logout();
		} catch (error) {
			showStatus(statusElement, `Logging out failed: ${error.message}`,
				'error');
			button.disabled = false;
			return;
		}
		if (onDone)
			onDone();
		else
			goToLogin('logged_out');
	});
}
