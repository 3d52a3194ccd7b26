// The desktop page: noVNC's RFB client over the session's WebSocket, the
// connection state, the reason a desktop closed, and the clipboard panel.
import RFB from '/novnc/core/rfb.js';
import { ApiError, apiGet, apiPost } from './api.js';
import { goToLogin, logout, requireLogin, showStatus } from './common.js';

// Close codes the server sends when it ends a desktop connection, with
// the reason it gives and what the user can do next.
const CLOSE_REASONS = {
	4000: ['session ended', 'Start a new session from the projects page.'],
	4001: ['idle timeout', 'Start the session again from the projects page.'],
	4002: ['maximum session duration reached',
		'Start a new session from the projects page.'],
	4003: ['logged out', 'Log in again to continue.'],
	4004: ['taken over by another window',
		'Use the other window, or reconnect here to take the desktop back.'],
	4005: ['stopped by a steward', 'Ask your steward why.'],
	4006: ['session failed', 'Start the session again; tell your steward if it keeps failing.'],
};

// How long the page waits after logout for the server to close the
// desktop with its reason before it closes the connection itself.
const LOGOUT_CLOSE_WAIT_MS = 5000;

const params = new URLSearchParams(location.search);
const sessionId = params.get('session') ?? '';
const projectId = params.get('project') ?? '';
const screen = document.getElementById('screen');
const connection = document.getElementById('connection');
const status = document.getElementById('status');
const reconnectButton = document.getElementById('reconnect');
const logoutButton = document.getElementById('logout');
const copiedText = document.getElementById('copied-text');
let rfb = null;
let lastClose = null;
let loggedOut = false;

function setConnection(state, text) {
	connection.dataset.state = state;
	connection.textContent = text;
}

// Explains why the desktop closed, from the WebSocket close event.
async function describeClose(close) {
	const known = close && CLOSE_REASONS[close.code];
	if (known)
		return [`The desktop closed: ${known[0]}.`, known[1]];
	if (loggedOut)
		return ['The desktop closed: logged out.', 'Log in again to continue.'];
	try {
		const result = await apiGet(`/api/sessions/${encodeURIComponent(sessionId)}`);
		const session = result.session ?? {};
		if (session.state && session.state !== 'running')
			return [`The desktop closed: the session is ${session.state}` +
				(session.reason ? ` (${session.reason})` : '') + '.',
				'Go back to the projects page to start it again.'];
	} catch (error) {
		if (error instanceof ApiError && error.status === 401)
			return ['The desktop closed because your login has ended.',
				'Log in again to continue.'];
		if (error instanceof ApiError && error.status === 404)
			return ['The desktop closed: this session does not exist or is not yours.',
				'Go back to the projects page.'];
	}
	const code = close ? ` (WebSocket close code ${close.code}` +
		(close.reason ? `: ${close.reason}` : '') + ')' : '';
	return [`The connection to the desktop was lost${code}.`,
		'Check your network connection and reconnect.'];
}

async function onDisconnect() {
	const close = lastClose;
	screen.dataset.closeCode = close ? String(close.code) : '';
	setConnection('closed', 'Disconnected');
	const [reason, hint] = await describeClose(close);
	showStatus(status, `${reason} ${hint}`, close && close.code === 4003 ? 'info' : 'error');
	reconnectButton.hidden = loggedOut;
	rfb = null;
}

// Asks the master to grant this login one connection to the session's
// desktop, then opens the WebSocket. The grant is bound to the session
// cookie, which the browser sends with the upgrade, and works only once.
async function connect() {
	showStatus(status, '');
	reconnectButton.hidden = true;
	lastClose = null;
	delete screen.dataset.closeCode;
	setConnection('connecting', 'Connecting…');

	let grant;
	try {
		grant = await apiPost(`/api/sessions/${encodeURIComponent(sessionId)}/desktop`, {});
	} catch (error) {
		setConnection('closed', 'Not connected');
		showStatus(status, `Opening the desktop failed: ${error.message}`, 'error');
		reconnectButton.hidden = error instanceof ApiError && error.status === 401;
		if (error instanceof ApiError && error.status === 401)
			goToLogin('login_required');
		return;
	}
	if (typeof grant.path !== 'string' || !grant.path.startsWith('/api/sessions/')) {
		setConnection('closed', 'Not connected');
		showStatus(status, 'The server returned no desktop address. Reload the page.', 'error');
		return;
	}

	const socket = new WebSocket(`wss://${location.host}${grant.path}`, ['binary']);
	// Registered before noVNC attaches its own handler, so the close code
	// is known when noVNC reports the disconnect.
	socket.addEventListener('close', (event) => {
		lastClose = { code: event.code, reason: event.reason };
	});

	rfb = new RFB(screen, socket, {});
	rfb.scaleViewport = true;
	rfb.addEventListener('connect', () => {
		setConnection('connected', 'Connected');
		rfb.focus();
	});
	rfb.addEventListener('disconnect', onDisconnect);
	rfb.addEventListener('securityfailure', (event) => {
		showStatus(status, 'The desktop rejected the connection: ' +
			`${event.detail.reason || 'security negotiation failed'}.`, 'error');
	});
	rfb.addEventListener('credentialsrequired', () => {
		showStatus(status, 'The desktop asked for a password, which Trellis ' +
			'desktops never do. Tell your steward.', 'error');
		rfb.disconnect();
	});
	rfb.addEventListener('desktopname', (event) => {
		document.title = `${event.detail.name} · Trellis`;
	});
	rfb.addEventListener('clipboard', (event) => {
		copiedText.value = event.detail.text;
	});
}

document.getElementById('paste-form').addEventListener('submit', (event) => {
	event.preventDefault();
	const text = document.getElementById('paste-text').value;
	if (!rfb || connection.dataset.state !== 'connected') {
		showStatus(status, 'Connect to the desktop before you paste.', 'error');
		return;
	}
	rfb.clipboardPasteFrom(text);
	showStatus(status, 'Clipboard text sent. The project policy decides whether ' +
		'the session receives it.', 'info');
	rfb.focus();
});

reconnectButton.addEventListener('click', connect);

// After logout the server closes the desktop with code 4003, and the page
// waits for that so it can show the server's reason.
logoutButton.addEventListener('click', async () => {
	logoutButton.disabled = true;
	try {
		await logout();
	} catch (error) {
		showStatus(status, `Logging out failed: ${error.message}`, 'error');
		logoutButton.disabled = false;
		return;
	}
	loggedOut = true;
	reconnectButton.hidden = true;
	const back = document.getElementById('back');
	back.textContent = 'Log in again';
	back.href = 'index.html?reason=logged_out';
	if (rfb) {
		const waiting = rfb;
		setTimeout(() => {
			if (rfb === waiting)
				waiting.disconnect();
		}, LOGOUT_CLOSE_WAIT_MS);
	} else if (!screen.dataset.closeCode) {
		// No desktop was open, so no close reason reports the logout.
		showStatus(status, 'You have logged out.', 'info');
	}
});

async function start() {
	if (!/^[A-Za-z0-9_-]{1,128}$/.test(sessionId)) {
		setConnection('closed', 'Not connected');
		showStatus(status, 'This page needs a session. Open desktops from ' +
			'the projects page.', 'error');
		return;
	}
	document.getElementById('title').textContent = projectId ? `Project ${projectId}` : '';
	try {
		await requireLogin();
	} catch (error) {
		setConnection('closed', 'Not connected');
		showStatus(status, error.message, 'error');
		return;
	}
	connect();
}

start();
