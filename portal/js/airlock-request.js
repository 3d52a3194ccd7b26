// One airlock request: its state, files, automatic findings and votes.
// Here the requester withdraws, resubmits after a request for changes and
// downloads a released export, and an output checker reads each file and
// votes on it.
import { ApiError, apiGet, apiPost } from './api.js';
import { showStatus } from './common.js';
import {
	PENDING_STATES, RESULT_LABELS, VOTE_LABELS, WITHDRAWABLE_STATES,
	definitionList, el, failureText, formatBytes, formatTime, stateLabel,
} from './airlock-format.js';
import { archiveView, dicomView, flaggedList, releaseImages, showContent } from './airlock-preview.js';
import { exportForm, importForm } from './airlock-submit.js';

// How often a request in a state that the server leaves by itself, such as
// checking, is loaded again.
const PENDING_REFRESH_MS = 2000;

function requestPath(id, tail = '') {
	return `/api/airlock/requests/${encodeURIComponent(id)}${tail}`;
}

function resultBadge(result, text) {
	return el('span', { className: 'badge', dataset: { result: result ?? 'none' } },
		text ?? RESULT_LABELS[result] ?? result ?? 'Not checked');
}

function stateBadge(state) {
	return el('span', { className: 'badge state', dataset: { state } }, stateLabel(state));
}

// Formats a value of a finding's details: numbers and strings as they
// are, lists and objects of them as "a, b" and "key value, ...", anything
// deeper as compact JSON.
function detailText(value) {
	if (value === null || value === undefined)
		return '';
	if (typeof value !== 'object')
		return String(value);
	const flat = (item) => item === null || typeof item !== 'object';
	if (Array.isArray(value) && value.every(flat))
		return value.join(', ');
	if (!Array.isArray(value) && Object.values(value).every(flat))
		return Object.entries(value).map(([key, item]) => `${key} ${item}`).join(', ');
	const text = JSON.stringify(value);
	return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

function findingsTable(findings) {
	const body = el('tbody');
	for (const finding of findings) {
		// The DICOM view below the table lists the identifying attributes.
		const shown = Object.entries(finding.details && typeof finding.details === 'object' ? finding.details : {})
			.filter(([key]) => !(finding.check === 'dicom' && key === 'identifying_attributes'));
		const details = definitionList(shown.map(([key, value]) => [key, detailText(value)]), 'finding-details');
		body.append(el('tr', { dataset: { check: finding.check ?? '', result: finding.result ?? '' } },
			el('td', {}, finding.check ?? ''),
			el('td', {}, resultBadge(finding.result)),
			el('td', {}, finding.reason ?? ''),
			el('td', {}, details)));
	}
	return el('table', { className: 'listing findings', 'data-testid': 'findings' },
		el('caption', {}, 'Automatic check findings'),
		el('thead', {}, el('tr', {},
			...['Check', 'Result', 'Reason', 'Details'].map((text) => el('th', { scope: 'col' }, text)))),
		body);
}

function voteLine(vote, showReviewer) {
	const parts = [];
	if (showReviewer)
		parts.push(el('strong', {}, vote.reviewer), ': ');
	parts.push(el('span', { className: 'vote', dataset: { vote: vote.vote } }, VOTE_LABELS[vote.vote] ?? vote.vote));
	if (vote.comment)
		parts.push(' — ', el('q', {}, vote.comment));
	if (vote.created_ms)
		parts.push(el('span', { className: 'hint' }, ` (${formatTime(vote.created_ms)})`));
	return el('li', { dataset: { reviewer: vote.reviewer ?? '', vote: vote.vote } }, ...parts);
}

export class RequestPage {
	// CONTAINER receives the page. ME is the reply of GET /api/me, and
	// STATUS is the page's status element.
	constructor(container, me, status) {
		this.container = container;
		this.me = me;
		this.status = status;
		this.request = null;
		this.refreshTimer = null;
		this.resubmitOpen = false;
		this.contentCache = new Map();
		addEventListener('pagehide', releaseImages);
	}

	projectRoles(project) {
		const entry = (this.me.projects ?? []).find((item) => item.id === project);
		return entry && Array.isArray(entry.roles) ? entry.roles : [];
	}

	isRequester() {
		return this.request.requester === this.me.user;
	}

	// Reviewers are the project's output checkers, never the requester.
	isReviewer() {
		return !this.isRequester() && this.projectRoles(this.request.project).includes('checker');
	}

	mayRevoke() {
		return !this.isRequester() && (this.projectRoles(this.request.project).includes('checker') ||
			(this.me.roles ?? []).includes('steward'));
	}

	async load(id) {
		clearTimeout(this.refreshTimer);
		try {
			const result = await apiGet(requestPath(id));
			this.show(result.request);
		} catch (error) {
			if (error instanceof ApiError && error.status === 401) {
				location.reload();
				return;
			}
			showStatus(this.status, `Loading request ${id} failed: ${error.message}`, 'error');
			return;
		}
		if (PENDING_STATES.has(this.request.state))
			this.refreshTimer = setTimeout(() => this.load(id), PENDING_REFRESH_MS);
	}

	// Runs WORK, an async call that returns {request}, and shows the new
	// state or the error.
	async act(work, doneText) {
		try {
			const result = await work();
			if (result && result.request)
				this.show(result.request);
			if (doneText)
				showStatus(this.status, doneText, 'success');
		} catch (error) {
			showStatus(this.status, failureText(error), 'error');
			if (error.status !== 401)
				await this.load(this.request.id);
		}
	}

	show(request) {
		const previousState = this.request?.state;
		this.request = request;
		if (previousState && previousState !== request.state)
			this.resubmitOpen = false;
		document.title = `Airlock request ${request.id} · Trellis`;
		this.container.dataset.requestId = request.id;
		this.container.dataset.state = request.state;

		const direction = request.direction === 'import' ? 'Import' : 'Export';
		const parts = [
			el('p', {}, el('a', { href: 'airlock.html' }, '← All airlock requests')),
			el('h1', {}, `${direction} request ${request.id}`),
			el('p', { className: 'request-state' },
				'State: ', el('span', { id: 'request-state', dataset: { state: request.state } },
					stateBadge(request.state))),
		];
		if (request.reason)
			parts.push(el('p', { id: 'request-reason', className: 'reason' }, request.reason));
		parts.push(definitionList([
			['Project', request.project],
			['Direction', request.direction],
			['Requester', request.requester],
			['Round', String(request.round ?? 1)],
			['Approvals required', String(request.approvals_required ?? '')],
			['Submitted', formatTime(request.created_ms)],
			['Last change', formatTime(request.updated_ms)],
		]));
		parts.push(...this.actions());
		parts.push(this.votesSummary());
		if (this.isRequester() && request.state === 'changes_requested')
			parts.push(this.changesSection());
		if (this.isRequester() && request.state === 'blocked')
			parts.push(el('p', { id: 'blocked-next-step', className: 'hint' },
				request.direction === 'export'
					? 'The automatic checks blocked this request, so no reviewer sees it. ' +
					  'Change the file in your outbox as the findings below say, then start a new export.'
					: 'The automatic checks blocked this request, so no reviewer sees it. ' +
					  'Change the file as the findings below say, then start a new import.'));

		const files = Array.isArray(request.files) ? request.files : [];
		parts.push(el('h2', {}, files.length === 1 ? 'File' : `Files (${files.length})`));
		files.forEach((file, index) => parts.push(this.fileSection(file, index)));
		const rounds = Array.isArray(request.previous_rounds) ? request.previous_rounds : [];
		if (rounds.length > 0)
			parts.push(this.previousRounds(rounds));
		this.container.replaceChildren(...parts);

		if (this.isReviewer())
			this.loadContents(files);
	}

	// Loads the content views. The quarantined bytes of a file never
	// change, so each view is built once per page and moved into the page
	// again when it is rebuilt after a vote.
	loadContents(files) {
		files.forEach((file, index) => {
			const target = this.container.querySelector(`#content-${index}`);
			if (!target)
				return;
			const cached = this.contentCache.get(file.sha256);
			if (cached) {
				cached.id = target.id;
				target.replaceWith(cached);
				return;
			}
			this.contentCache.set(file.sha256, target);
			showContent(target, this.request.id, file);
		});
	}

	actions() {
		const request = this.request;
		const parts = [];
		if (this.isRequester() && WITHDRAWABLE_STATES.has(request.state)) {
			const withdraw = el('button', { type: 'button', id: 'withdraw', className: 'secondary' }, 'Withdraw request');
			const confirm = el('button', { type: 'button', id: 'withdraw-confirm' }, 'Yes, withdraw it');
			const keep = el('button', { type: 'button', className: 'secondary' }, 'Keep it');
			const question = el('span', { className: 'confirm', hidden: true },
				'Withdraw this request? This cannot be undone. ', confirm, keep);
			withdraw.addEventListener('click', () => {
				withdraw.hidden = true;
				question.hidden = false;
				confirm.focus();
			});
			keep.addEventListener('click', () => {
				question.hidden = true;
				withdraw.hidden = false;
			});
			confirm.addEventListener('click', () => {
				confirm.disabled = true;
				this.act(() => apiPost(requestPath(request.id, '/withdraw'), {}), 'The request is withdrawn.');
			});
			parts.push(el('div', { className: 'actions' }, withdraw, question));
		}
		if (this.mayRevoke() && ['approved', 'released'].includes(request.state)) {
			const reason = el('input', { type: 'text', id: 'revoke-reason', required: true, maxLength: 400 });
			const form = el('form', { id: 'revoke-form', className: 'inline-form' },
				el('label', { htmlFor: reason.id }, 'Reason for revoking the release'), reason,
				el('button', { type: 'submit', className: 'secondary' }, 'Revoke'));
			form.addEventListener('submit', (event) => {
				event.preventDefault();
				this.act(() => apiPost(requestPath(request.id, '/revoke'), { reason: reason.value.trim() }),
					'The release is revoked, and its download links no longer work.');
			});
			parts.push(form);
		}
		return parts;
	}

	votesSummary() {
		const votes = this.request.votes ?? {};
		const submitted = Array.isArray(votes.submitted_reviewers) ? votes.submitted_reviewers : [];
		const summary = el('section', { id: 'votes-summary', className: 'votes-summary', 'aria-labelledby': 'votes-heading', dataset: { hidden: String(Boolean(votes.hidden)) } },
			el('h2', { id: 'votes-heading' }, 'Review'));
		summary.append(el('p', { id: 'submitted-reviewers' }, submitted.length > 0
			? `Reviewers who voted on every file: ${submitted.join(', ')}.`
			: 'No reviewer has voted on every file yet.'));
		if (votes.hidden) {
			summary.append(el('p', { id: 'blind-review', className: 'hint' }, this.isReviewer()
				? 'Blind review: the other reviewers\' votes stay hidden until you have voted on every file.'
				: 'Blind review: the votes are shown once the review is decided.'));
		}
		return summary;
	}

	// The comments of the reviewers who asked for changes, and the form
	// that submits the corrected files again.
	changesSection() {
		const request = this.request;
		const votes = Array.isArray(request.votes?.all) ? request.votes.all : [];
		const names = new Map((request.files ?? []).map((file) => [file.sha256, file.path]));
		const list = el('ul', { id: 'change-comments', className: 'votes' });
		for (const vote of votes.filter((item) => item.vote !== 'approve')) {
			const line = voteLine(vote, true);
			line.prepend(el('span', { className: 'file-name' }, `${names.get(vote.sha256) ?? vote.sha256}: `));
			list.append(line);
		}
		const section = el('section', { id: 'changes', className: 'changes', 'aria-labelledby': 'changes-heading' },
			el('h2', { id: 'changes-heading' }, 'Changes requested'),
			el('p', {}, 'The reviewers asked for changes. Correct the files, then resubmit the request.'),
			list);

		const open = el('button', { type: 'button', id: 'resubmit-open' }, 'Resubmit with changes');
		const holder = el('div', { id: 'resubmit' });
		const showForm = () => {
			this.resubmitOpen = true;
			open.hidden = true;
			const submit = (files) => this.act(
				() => apiPost(requestPath(request.id, '/resubmit'), { files }),
				'The request is submitted again.');
			const options = {
				project: request.project, initial: request.files ?? [], status: this.status,
				submitLabel: 'Resubmit', submit,
			};
			holder.replaceChildren(request.direction === 'import' ? importForm(options) : exportForm(options));
		};
		open.addEventListener('click', showForm);
		section.append(open, holder);
		if (this.resubmitOpen)
			showForm();
		return section;
	}

	fileSection(file, index) {
		const request = this.request;
		const verdict = file.verdict && typeof file.verdict === 'object' ? file.verdict : null;
		const headingId = `file-heading-${index}`;
		const section = el('article', {
			className: 'airlock-file', 'aria-labelledby': headingId, 'data-testid': 'airlock-file',
			dataset: { sha256: file.sha256, path: file.path },
		}, el('h3', { id: headingId }, file.path));

		const type = verdict?.type ? `${verdict.type.mime ?? ''}${verdict.type.description ? ` (${verdict.type.description})` : ''}` : '';
		section.append(definitionList([
			['Size', file.size_bytes >= 1024
				? `${formatBytes(file.size_bytes)} (${file.size_bytes} bytes)`
				: formatBytes(file.size_bytes)],
			['SHA-256', el('code', { className: 'sha256' }, file.sha256)],
			['Type', type],
			['Description', file.description],
			['Disclosure controls', file.disclosure_controls],
			['Automatic check', el('span', { className: 'check-result', dataset: { result: file.check ?? 'pending' } },
				resultBadge(file.check, file.check ? undefined : 'Not finished'),
				file.check_reason ? ` ${file.check_reason}` : '')],
		]));

		if (verdict) {
			if (Array.isArray(verdict.findings) && verdict.findings.length > 0)
				section.append(findingsTable(verdict.findings));
			if (verdict.lists_dropped)
				section.append(el('p', { className: 'hint' },
					'The lists of flagged cells and archive entries were too long to keep, but the totals above still count them.'));
			section.append(...archiveView(verdict), ...dicomView(verdict));
			// Reviewers find the cells marked in the content table below.
			// The requester gets no content view here, so the list is shown.
			if (!this.isReviewer() && Array.isArray(verdict.flagged_cells) &&
			    verdict.flagged_cells.length > 0)
				section.append(...flaggedList(verdict).filter(Boolean));
		}

		if (this.isReviewer()) {
			section.append(el('h4', {}, 'Content'),
				el('div', { id: `content-${index}`, className: 'content-view', 'data-testid': 'content-view' }));
		}

		if (this.isRequester() && request.state === 'released' && request.direction === 'export') {
			const download = el('button', {
				type: 'button', className: 'download', 'data-testid': 'download',
				'aria-label': `Download ${file.path}`,
			}, 'Download');
			download.addEventListener('click', () => this.download(file, download));
			section.append(el('div', { className: 'actions' }, download));
		}

		if (this.isRequester() && request.state === 'released' && request.direction === 'import') {
			section.append(el('p', { className: 'hint', 'data-testid': 'delivered' },
				'Delivered into /workspace/inbox of your desktop sessions in this project.'));
		}

		section.append(...this.fileVotes(file, index));
		return section;
	}

	async download(file, button) {
		button.disabled = true;
		try {
			const result = await apiPost(requestPath(this.request.id, '/download-link'),
				{ file_sha256: file.sha256 });
			// The link works once. Its reply is an attachment, so the page
			// stays where it is.
			location.assign(result.url);
			showStatus(this.status, `Downloading ${file.path}.`, 'success');
		} catch (error) {
			showStatus(this.status, `Download of ${file.path} failed: ${error.message}`, 'error');
		}
		button.disabled = false;
	}

	fileVotes(file, index) {
		const votes = this.request.votes ?? {};
		const parts = [];
		const mine = (votes.mine ?? []).find((vote) => vote.sha256 === file.sha256);
		if (mine) {
			parts.push(el('p', { className: 'my-vote', 'data-testid': 'my-vote', dataset: { vote: mine.vote } },
				'Your vote: ', VOTE_LABELS[mine.vote] ?? mine.vote,
				mine.comment ? ` — ${mine.comment}` : ''));
		} else if (this.isReviewer() && this.request.state === 'in_review') {
			parts.push(this.voteForm(file, index));
		}

		if (Array.isArray(votes.all)) {
			const others = votes.all.filter((vote) => vote.sha256 === file.sha256);
			if (others.length > 0)
				parts.push(el('h4', {}, 'Votes'),
					el('ul', { className: 'votes', 'data-testid': 'file-votes' },
						...others.map((vote) => voteLine(vote, true))));
		}
		return parts;
	}

	voteForm(file, index) {
		const name = `vote-${index}`;
		const comment = el('textarea', { id: `vote-comment-${index}`, rows: 2, maxLength: 4096 });
		const choices = Object.entries(VOTE_LABELS).map(([value, label]) => {
			const input = el('input', { type: 'radio', name, value, id: `${name}-${value}`, required: true });
			return el('span', { className: 'choice' }, input, el('label', { htmlFor: input.id }, label));
		});
		const submit = el('button', { type: 'submit', 'data-testid': 'vote-submit' }, 'Submit vote');
		const form = el('form', {
			className: 'vote-form', 'data-testid': 'vote-form', dataset: { sha256: file.sha256 },
			'aria-label': `Vote on ${file.path}`,
		},
		el('fieldset', {},
			el('legend', {}, `Your vote on ${file.path}`),
			el('div', { className: 'choices' }, ...choices),
			el('label', { htmlFor: comment.id }, 'Comment for the requester'),
			comment,
			el('span', { className: 'hint' }, 'Required when you request changes or reject. Votes are final.')),
		submit);

		form.addEventListener('change', () => {
			const vote = form.elements[name].value;
			comment.required = vote === 'changes' || vote === 'reject';
		});
		form.addEventListener('submit', async (event) => {
			event.preventDefault();
			const vote = form.elements[name].value;
			if (!vote) {
				showStatus(this.status, `Choose a vote for ${file.path}.`, 'error');
				return;
			}
			if (vote !== 'approve' && comment.value.trim() === '') {
				showStatus(this.status, 'Write a comment for the requester when you request changes or reject.', 'error');
				comment.focus();
				return;
			}
			submit.disabled = true;
			await this.act(() => apiPost(requestPath(this.request.id, '/votes'), {
				file_sha256: file.sha256, vote, comment: comment.value.trim(),
			}), `Your vote on ${file.path} is recorded.`);
			submit.disabled = false;
		});
		return form;
	}

	previousRounds(rounds) {
		const section = el('section', { id: 'previous-rounds', 'aria-labelledby': 'rounds-heading' },
			el('h2', { id: 'rounds-heading' }, 'Earlier rounds'));
		const latest = Math.max(...rounds.map((round) => round.round));
		for (const round of rounds) {
			const names = new Map((round.files ?? []).map((file) => [file.sha256, file.path]));
			const files = el('ul', {}, ...(round.files ?? []).map((file) =>
				el('li', {}, el('strong', {}, file.path), ` ${formatBytes(file.size_bytes)}, `,
					el('code', { className: 'sha256' }, file.sha256),
					file.check ? ' ' : '', file.check ? resultBadge(file.check) : '')));
			const votes = el('ul', { className: 'votes' }, ...(round.votes ?? []).map((vote) => {
				const line = voteLine(vote, true);
				line.prepend(el('span', { className: 'file-name' }, `${names.get(vote.sha256) ?? vote.sha256}: `));
				return line;
			}));
			// The latest earlier round is open, because its comments led to this one.
			section.append(el('details', { dataset: { round: String(round.round) }, open: round.round === latest },
				el('summary', {}, `Round ${round.round}`),
				el('h3', {}, 'Files'), files,
				el('h3', {}, 'Votes'), votes));
		}
		return section;
	}
}
