// The projects page: each project the user may open, its session state and
// the buttons that start, resume or stop the session.
import { ApiError, apiGet, apiPost } from './api.js';
import { requireLogin, showStatus, wireLogoutButton } from './common.js';

// Refresh intervals: fast while a session is starting or stopping, slow
// otherwise so that a session ended elsewhere shows up too.
const BUSY_REFRESH_MS = 1000;
const IDLE_REFRESH_MS = 15000;
const BUSY_STATES = new Set(['starting', 'stopping']);

const STATE_LABELS = {
	starting: 'Starting…',
	running: 'Running',
	stopping: 'Stopping…',
	stopped: 'Stopped',
	ended: 'Ended',
	failed: 'Failed',
};

const status = document.getElementById('status');
const list = document.getElementById('projects');
const empty = document.getElementById('empty');
let refreshTimer = null;
// The project whose session this tab started and should open once running.
let openWhenRunning = null;

function desktopUrl(project, session) {
	const url = new URL('desktop.html', location.href);
	url.searchParams.set('session', session.id);
	url.searchParams.set('project', project.id);
	return url.href;
}

function button(label, onClick, kind = '') {
	const element = document.createElement('button');
	element.type = 'button';
	element.textContent = label;
	if (kind)
		element.className = kind;
	element.addEventListener('click', onClick);
	return element;
}

async function act(work) {
	try {
		await work();
	} catch (error) {
		if (error instanceof ApiError && error.status === 401)
			location.reload();
		showStatus(status, error.message, 'error');
	}
	await refresh();
}

function startSession(project) {
	return act(async () => {
		showStatus(status, `Starting a desktop for ${project.title}…`);
		const result = await apiPost('/api/sessions', { project: project.id });
		openWhenRunning = project.id;
		if (result.session && result.session.state === 'running')
			location.assign(desktopUrl(project, result.session));
	});
}

function stopSession(project) {
	return act(async () => {
		await apiPost(`/api/sessions/${encodeURIComponent(project.session.id)}/stop`, {});
		showStatus(status, `The session of ${project.title} is stopping.`);
	});
}

function sessionText(session) {
	if (!session)
		return 'No session';
	let text = STATE_LABELS[session.state] ?? session.state;
	if (session.reason)
		text += ` (${session.reason})`;
	if (session.state === 'running' && session.started_ms)
		text += `, since ${new Date(session.started_ms).toLocaleTimeString()}`;
	return text;
}

function renderProject(project) {
	const item = document.createElement('li');
	item.className = 'project';
	item.dataset.project = project.id;

	const title = document.createElement('h2');
	title.textContent = project.title || project.id;
	const details = document.createElement('p');
	details.className = 'details';
	details.textContent = `Project ${project.id}` +
		(project.image ? `, image ${project.image}` : '');
	const state = document.createElement('p');
	state.className = 'session-state';
	state.dataset.state = project.session ? project.session.state : 'none';
	state.textContent = `Session: ${sessionText(project.session)}`;
	const actions = document.createElement('div');
	actions.className = 'actions';
	item.append(title, details, state, actions);

	const access = Array.isArray(project.access) ? project.access : [];
	const session = project.session;
	const active = session && !['stopped', 'ended', 'failed'].includes(session.state);
	if (!access.includes('browser')) {
		const note = document.createElement('p');
		note.textContent = access.includes('rdp')
			? 'This project opens only in an RDP client.'
			: 'This project has no desktop access.';
		actions.append(note);
	} else if (!active) {
		actions.append(button('Start desktop', () => startSession(project)));
	} else if (session.state === 'running') {
		actions.append(button('Resume desktop', () => location.assign(desktopUrl(project, session))));
	}
	if (active && session.state !== 'stopping')
		actions.append(button('Stop session', () => stopSession(project), 'secondary'));

	const airlock = document.createElement('a');
	airlock.className = 'button secondary';
	airlock.href = `airlock.html?project=${encodeURIComponent(project.id)}`;
	airlock.textContent = 'Airlock';
	airlock.setAttribute('aria-label', `Airlock of ${project.title || project.id}`);
	actions.append(airlock);
	return item;
}

async function refresh() {
	clearTimeout(refreshTimer);
	let busy = false;
	try {
		const result = await apiGet('/api/projects');
		const projects = Array.isArray(result.projects) ? result.projects : [];
		list.replaceChildren(...projects.map(renderProject));
		empty.hidden = projects.length > 0;
		busy = projects.some((p) => p.session && BUSY_STATES.has(p.session.state));

		const opened = projects.find((p) => p.id === openWhenRunning);
		if (opened && opened.session && opened.session.state === 'running') {
			location.assign(desktopUrl(opened, opened.session));
			return;
		}
		if (opened && (!opened.session || !BUSY_STATES.has(opened.session.state))) {
			openWhenRunning = null;
			showStatus(status, `The desktop of ${opened.title} did not start: ` +
				`${sessionText(opened.session)}.`, 'error');
		}
	} catch (error) {
		if (error instanceof ApiError && error.status === 401) {
			location.reload();
			return;
		}
		showStatus(status, `Loading your projects failed: ${error.message}`, 'error');
	}
	refreshTimer = setTimeout(refresh, busy ? BUSY_REFRESH_MS : IDLE_REFRESH_MS);
}

async function start() {
	wireLogoutButton(document.getElementById('logout'), status);
	try {
		const me = await requireLogin();
		document.getElementById('user').textContent = `Logged in as ${me.user}`;
	} catch (error) {
		showStatus(status, error.message, 'error');
		return;
	}
	await refresh();
}

start();
