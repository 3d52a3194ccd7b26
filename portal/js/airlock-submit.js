// The forms that start an airlock request: an export picks files from the
// caller's outbox, an import uploads files from this computer. The same
// forms resubmit a request after its reviewers asked for changes.
import { apiGet, apiUpload } from './api.js';
import { showStatus } from './common.js';
import { el, failureText, formatBytes, formatTime } from './airlock-format.js';

// The server accepts descriptions and disclosure controls of 1 to 4096
// bytes. maxlength counts UTF-16 units, so the server may still reject a
// text of many multi-byte characters, with a message.
const DESCRIPTION_MAX = 4096;

function describedField(id, labelText, value, required, hint) {
	const input = el('textarea', {
		id, rows: 2, maxLength: DESCRIPTION_MAX, required, value: value ?? '',
	});
	const parts = [el('label', { htmlFor: id }, labelText), input];
	if (hint)
		parts.push(el('span', { className: 'hint' }, hint));
	return { input, parts };
}

// Clears the error of an earlier attempt when the browser's check of
// required fields stops a submission, because the submit handler does not
// run then.
function clearStatusWhenInvalid(form, status) {
	form.addEventListener('invalid', () => {
		if (status.dataset.kind === 'error')
			showStatus(status, '');
	}, true);
}

// The export form. OPTIONS: project, initial (files of the request being
// resubmitted, or []), submitLabel, status (the page's status element) and
// submit, an async function that receives the file entries
// [{path, description, disclosure_controls}].
export function exportForm(options) {
	const form = el('form', { id: 'export-form', className: 'airlock-form' });
	const list = el('div', { id: 'outbox-files', className: 'file-choices', 'data-testid': 'outbox-files' });
	const reload = el('button', { type: 'button', className: 'secondary', id: 'outbox-reload' }, 'Reload the outbox');
	const submit = el('button', { type: 'submit', id: 'export-submit' }, options.submitLabel);
	const note = el('p', { className: 'hint', id: 'outbox-note' });
	const initial = new Map((options.initial ?? []).map((file) => [file.path, file]));
	let rows = [];

	form.append(
		el('fieldset', {},
			el('legend', {}, 'Files from your outbox'),
			el('p', { className: 'hint' },
				'Save the files in /workspace/outbox in your desktop session, then reload this list.'),
			list, note, reload),
		submit);

	function renderRow(file, index) {
		const previous = initial.get(file.path);
		const checkbox = el('input', {
			type: 'checkbox', id: `export-file-${index}`, name: 'export-file',
			value: file.path, checked: Boolean(previous),
		});
		const description = describedField(`export-description-${index}`,
			`Description of ${file.path}`, previous?.description, false,
			'What the file is and what it is for.');
		const controls = describedField(`export-controls-${index}`,
			`Disclosure controls applied to ${file.path}`, previous?.disclosure_controls, false,
			'For example: counts below 10 suppressed, ages in 5-year bands.');
		const details = el('div', { className: 'file-details' }, ...description.parts, ...controls.parts);
		const item = el('div', { className: 'file-choice', dataset: { path: file.path } },
			el('div', { className: 'file-choice-head' },
				checkbox,
				el('label', { htmlFor: checkbox.id }, file.path),
				el('span', { className: 'hint' },
					`${formatBytes(file.size_bytes)}, changed ${formatTime(file.modified_ms)}`)),
			details);

		const sync = () => {
			details.hidden = !checkbox.checked;
			description.input.required = checkbox.checked;
			controls.input.required = checkbox.checked;
		};
		checkbox.addEventListener('change', sync);
		sync();
		return { file, checkbox, description: description.input, controls: controls.input, item };
	}

	async function load() {
		reload.disabled = true;
		note.textContent = 'Loading the outbox…';
		try {
			const result = await apiGet(`/api/airlock/outbox?project=${encodeURIComponent(options.project)}`);
			if (!Array.isArray(result.files))
				throw new Error('the server returned no list of files');
			const files = [...result.files].sort((a, b) => a.path.localeCompare(b.path));
			// Keep what the user already typed across a reload.
			for (const row of rows) {
				if (row.checkbox.checked)
					initial.set(row.file.path, {
						path: row.file.path,
						description: row.description.value,
						disclosure_controls: row.controls.value,
					});
				else
					initial.delete(row.file.path);
			}
			rows = files.map(renderRow);
			list.replaceChildren(...rows.map((row) => row.item));
			note.textContent = files.length === 0
				? 'Your outbox is empty.'
				: result.truncated ? `The outbox has more files than the ${files.length} listed.` : '';
			const missing = [...initial.keys()].filter((path) => !files.some((file) => file.path === path));
			if (missing.length > 0)
				note.textContent += ` Not in the outbox any more: ${missing.join(', ')}.`;
		} catch (error) {
			note.textContent = `Loading the outbox failed: ${error.message}`;
		}
		reload.disabled = false;
	}

	reload.addEventListener('click', load);
	clearStatusWhenInvalid(form, options.status);
	form.addEventListener('submit', async (event) => {
		event.preventDefault();
		const chosen = rows.filter((row) => row.checkbox.checked);
		if (chosen.length === 0) {
			showStatus(options.status, 'Choose at least one file from your outbox.', 'error');
			return;
		}
		const entries = chosen.map((row) => ({
			path: row.file.path,
			description: row.description.value.trim(),
			disclosure_controls: row.controls.value.trim(),
		}));
		const blank = entries.find((entry) => entry.description === '' || entry.disclosure_controls === '');
		if (blank) {
			showStatus(options.status, `Describe ${blank.path} and the disclosure controls applied to it.`, 'error');
			return;
		}
		submit.disabled = true;
		showStatus(options.status, 'Submitting…');
		try {
			await options.submit(entries);
		} catch (error) {
			showStatus(options.status, `Submitting failed: ${failureText(error)}`, 'error');
		}
		submit.disabled = false;
	});

	load();
	return form;
}

// The import form. OPTIONS as for exportForm, but submit receives
// [{upload, name, description}] after every file is uploaded.
export function importForm(options) {
	const form = el('form', { id: 'import-form', className: 'airlock-form' });
	const picker = el('input', { type: 'file', id: 'import-files', multiple: true });
	const list = el('div', { id: 'import-list', className: 'file-choices', 'data-testid': 'import-list' });
	const submit = el('button', { type: 'submit', id: 'import-submit' }, options.submitLabel);
	let rows = [];

	form.append(
		el('fieldset', {},
			el('legend', {}, 'Files from this computer'),
			el('label', { htmlFor: picker.id }, 'Files to import'),
			picker,
			el('p', { className: 'hint' },
				'Approved files are copied into /workspace/inbox of your desktop session.'),
			list),
		submit);

	picker.addEventListener('change', () => {
		rows = [...picker.files].map((file, index) => {
			const description = describedField(`import-description-${index}`,
				`Description of ${file.name}`, '', true,
				'What the file is and why the project needs it.');
			const progress = el('progress', {
				max: file.size || 1, value: 0, 'aria-label': `Upload of ${file.name}`,
			});
			const state = el('span', {
				className: 'upload-state', 'data-testid': 'upload-status',
				dataset: { state: 'waiting' },
			}, 'Not uploaded yet');
			const item = el('div', { className: 'file-choice', dataset: { name: file.name } },
				el('div', { className: 'file-choice-head' },
					el('strong', {}, file.name),
					el('span', { className: 'hint' }, formatBytes(file.size))),
				el('div', { className: 'file-details' }, ...description.parts,
					el('div', { className: 'upload-line' }, progress, state)));
			return { file, description: description.input, progress, state, item, upload: null };
		});
		list.replaceChildren(...rows.map((row) => row.item));
	});

	clearStatusWhenInvalid(form, options.status);

	function setState(row, state, text) {
		row.state.dataset.state = state;
		row.state.textContent = text;
	}

	async function upload(row) {
		const path = `/api/airlock/uploads?project=${encodeURIComponent(options.project)}` +
			`&name=${encodeURIComponent(row.file.name)}`;
		setState(row, 'uploading', 'Uploading…');
		try {
			const result = await apiUpload(path, row.file, (sent, total) => {
				row.progress.max = total || 1;
				row.progress.value = sent;
				const percent = total > 0 ? Math.floor((sent * 100) / total) : 100;
				setState(row, 'uploading', `Uploading… ${percent}%`);
			});
			if (!result.upload || typeof result.upload.id !== 'string')
				throw new Error('the server returned no upload id');
			row.upload = result.upload;
			row.progress.value = row.progress.max;
			setState(row, 'uploaded', `Uploaded, SHA-256 ${result.upload.sha256 ?? ''}`);
		} catch (error) {
			setState(row, 'failed', `Upload failed: ${failureText(error)}`);
			throw new Error(`${row.file.name}: ${failureText(error)}`);
		}
	}

	form.addEventListener('submit', async (event) => {
		event.preventDefault();
		if (rows.length === 0) {
			showStatus(options.status, 'Choose at least one file to import.', 'error');
			return;
		}
		const blank = rows.find((row) => row.description.value.trim() === '');
		if (blank) {
			showStatus(options.status, `Describe ${blank.file.name}.`, 'error');
			return;
		}
		submit.disabled = true;
		picker.disabled = true;
		try {
			// Files go one at a time, so a large file does not share the
			// connection with the others. A file uploaded before a failure
			// is not uploaded again.
			for (const row of rows) {
				if (!row.upload) {
					showStatus(options.status, `Uploading ${row.file.name}…`);
					await upload(row);
				}
			}
			showStatus(options.status, 'Submitting…');
			await options.submit(rows.map((row) => ({
				upload: row.upload.id,
				name: row.file.name,
				description: row.description.value.trim(),
			})));
		} catch (error) {
			showStatus(options.status, `Submitting failed: ${failureText(error)}`, 'error');
		}
		submit.disabled = false;
		picker.disabled = false;
	});
	return form;
}
