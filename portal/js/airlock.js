// The airlock page. The query string selects the view:
//   airlock.html                        own requests, review queue, notifications
//   airlock.html?project=ID             the same, with ID chosen for a new request
//   airlock.html?project=ID&new=export  new export from the outbox of project ID
//   airlock.html?project=ID&new=import  new import into project ID
//   airlock.html?request=ID             one request: files, findings, votes
import { ApiError, apiGet, apiPost } from './api.js';
import { requireLogin, showStatus, wireLogoutButton } from './common.js';
import { PENDING_STATES, el, formatTime, requestUrl, stateLabel } from './airlock-format.js';
import { RequestPage } from './airlock-request.js';
import { exportForm, importForm } from './airlock-submit.js';

const OVERVIEW_REFRESH_MS = 15000;
const PENDING_REFRESH_MS = 2000;

const params = new URLSearchParams(location.search);
const status = document.getElementById('status');
let overviewTimer = null;

function showView(id) {
	for (const view of document.querySelectorAll('.view'))
		view.hidden = view.id !== id;
}

function memberProjects(me) {
	return (me.projects ?? []).filter((project) =>
		Array.isArray(project.roles) && project.roles.includes('member'));
}

// Labels a request with its first file, so that rows are distinguishable.
function filesLabel(request) {
	if (!request.first_file)
		return '';
	const others = (request.file_count ?? 1) - 1;
	return others > 0 ? `${request.first_file} and ${others} more` : request.first_file;
}

function requestRow(request, showRequester) {
	const link = el('a', { href: requestUrl(request.id), 'aria-label': `Open request ${request.id}` }, request.id);
	const cells = [
		el('td', {}, link),
		el('td', { className: 'files' }, filesLabel(request)),
		el('td', {}, request.project),
		el('td', {}, request.direction),
	];
	if (showRequester)
		cells.push(el('td', {}, request.requester));
	cells.push(
		el('td', {}, el('span', { className: 'badge state', dataset: { state: request.state } },
			stateLabel(request.state))),
		el('td', { className: 'reason' }, request.reason ?? ''),
		el('td', {}, formatTime(request.updated_ms)));
	return el('tr', { dataset: { request: request.id, state: request.state } }, ...cells);
}

function fillTable(table, empty, requests, showRequester) {
	table.tBodies[0].replaceChildren(...requests.map((request) => requestRow(request, showRequester)));
	table.hidden = requests.length === 0;
	empty.hidden = requests.length > 0;
}

function notificationItem(note) {
	return el('li', { dataset: { request: note.request } },
		el('a', { href: requestUrl(note.request) }, note.subject || `Request ${note.request}`),
		` — ${stateLabel(note.request_state)}, ${formatTime(note.created_ms)}`,
		note.mail === 'sent' ? '' : el('span', { className: 'hint' }, ` (mail ${note.mail})`));
}

async function refreshOverview(me) {
	clearTimeout(overviewTimer);
	let pending = false;
	try {
		const result = await apiGet('/api/airlock');
		const mine = Array.isArray(result.requests) ? result.requests : [];
		const queue = Array.isArray(result.review_queue) ? result.review_queue : [];
		const notes = Array.isArray(result.notifications) ? result.notifications : [];
		fillTable(document.getElementById('my-requests'), document.getElementById('my-requests-empty'), mine, false);
		fillTable(document.getElementById('review-queue'), document.getElementById('review-queue-empty'), queue, true);
		document.getElementById('notifications').replaceChildren(...notes.map(notificationItem));
		document.getElementById('notifications-section').hidden = notes.length === 0;
		const checker = (me.projects ?? []).some((project) => (project.roles ?? []).includes('checker'));
		document.getElementById('review-section').hidden = !checker && queue.length === 0;
		pending = mine.some((request) => PENDING_STATES.has(request.state));
	} catch (error) {
		if (error instanceof ApiError && error.status === 401) {
			location.reload();
			return;
		}
		showStatus(status, `Loading the airlock requests failed: ${error.message}`, 'error');
	}
	overviewTimer = setTimeout(() => refreshOverview(me), pending ? PENDING_REFRESH_MS : OVERVIEW_REFRESH_MS);
}

function startOverview(me) {
	showView('overview-view');
	const select = document.getElementById('new-project');
	const projects = memberProjects(me);
	select.replaceChildren(...projects.map((project) =>
		el('option', { value: project.id, selected: project.id === params.get('project') },
			project.title && project.title !== project.id ? `${project.title} (${project.id})` : project.id)));
	document.getElementById('new-request').hidden = projects.length === 0;
	refreshOverview(me);
}

// Shows the export or import form for the project in the query string.
function startNewRequest(me, direction) {
	const projectId = params.get('project') ?? '';
	const project = memberProjects(me).find((item) => item.id === projectId);
	showView('new-view');
	const heading = document.getElementById('new-heading');
	const holder = document.getElementById('new-form');
	if (!project) {
		heading.textContent = 'New airlock request';
		showStatus(status, `You are not a member of project "${projectId}", so you cannot start a request there.`, 'error');
		return;
	}

	const title = project.title || project.id;
	heading.textContent = direction === 'import' ? `Import files into ${title}` : `Export files from ${title}`;
	document.title = `${direction === 'import' ? 'New import' : 'New export'} · Trellis`;
	const submit = async (files) => {
		const result = await apiPost('/api/airlock/requests', { project: project.id, direction, files });
		location.assign(requestUrl(result.request.id));
	};
	const options = {
		project: project.id, initial: [], status, submit,
		submitLabel: direction === 'import' ? 'Upload and submit import' : 'Submit export',
	};
	holder.replaceChildren(direction === 'import' ? importForm(options) : exportForm(options));
}

async function start() {
	wireLogoutButton(document.getElementById('logout'), status);
	let me;
	try {
		me = await requireLogin();
		document.getElementById('user').textContent = `Logged in as ${me.user}`;
	} catch (error) {
		showStatus(status, error.message, 'error');
		return;
	}

	const requestId = params.get('request');
	const direction = params.get('new');
	if (requestId) {
		showView('request-view');
		await new RequestPage(document.getElementById('request-view'), me, status).load(requestId);
	} else if (direction === 'export' || direction === 'import') {
		startNewRequest(me, direction);
	} else {
		startOverview(me);
	}
}

start();
