// End-to-end test of the portal in Debian's chromium, driven by
// playwright-core: TOTP enrolment and login, a desktop over noVNC, typing
// into the session, the clipboard policy, logout and stopping the session,
// then an export and an import through the airlock, reviewed by two output
// checkers in the same browser.
//
// tests/integration/browser.test starts slapd and trellisd and sets:
//   TRELLIS_E2E_URL         portal origin, such as https://localhost:8443
//   TRELLIS_E2E_CERT        the server certificate (PEM), pinned by its key
//   TRELLIS_E2E_USER        directory user, TRELLIS_E2E_PASSWORD its password
//   TRELLIS_E2E_PROJECT     project id whose policy has clipboard to_session off
//   TRELLIS_E2E_PASTE_PROJECT  project id whose policy allows text into the session
//   TRELLIS_E2E_WORKSPACES  the sessions' workspace_root on this host
//   TRELLIS_E2E_CHECKERS    the project's two output checkers, as
//                           user:password,user:password
//   TRELLIS_E2E_ARTIFACTS   folder for screenshots
// Run it with `node --test --test-reporter=tap e2e.mjs`.
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

function required(name) {
	const value = process.env[name];
	if (!value)
		throw new Error(`${name} is not set; run this through tests/integration/browser.test`);
	return value;
}

const baseUrl = required('TRELLIS_E2E_URL');
const certificatePath = required('TRELLIS_E2E_CERT');
const username = required('TRELLIS_E2E_USER');
const password = required('TRELLIS_E2E_PASSWORD');
const projectId = required('TRELLIS_E2E_PROJECT');
const pasteProjectId = required('TRELLIS_E2E_PASTE_PROJECT');
const workspaces = required('TRELLIS_E2E_WORKSPACES');
const checkers = required('TRELLIS_E2E_CHECKERS').split(',').map((pair) => {
	const [user, secret] = pair.split(':');
	return { user, password: secret };
});
const artifacts = required('TRELLIS_E2E_ARTIFACTS');

// Position inside the session's terminal, in desktop pixels: the host
// image's xterm opens at +40+40 with 100x30 characters of the 6x13 "fixed"
// font, so this point is well inside it.
const TERMINAL_POINT = { x: 200, y: 120 };
const TOTP_PERIOD_S = 30;

// Computes an RFC 6238 TOTP code (HMAC-SHA1, 6 digits) for a base32 secret.
function totpCode(secretBase32, timeMs) {
	const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
	const clean = secretBase32.replace(/[\s=]/g, '').toUpperCase();
	let bits = '';
	for (const char of clean) {
		const value = alphabet.indexOf(char);
		if (value < 0)
			throw new Error(`invalid base32 character ${char} in the TOTP secret`);
		bits += value.toString(2).padStart(5, '0');
	}
	const key = Buffer.alloc(Math.floor(bits.length / 8));
	for (let i = 0; i < key.length; i++)
		key[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);

	const counter = Buffer.alloc(8);
	counter.writeBigUInt64BE(BigInt(Math.floor(timeMs / 1000 / TOTP_PERIOD_S)));
	const digest = createHmac('sha1', key).update(counter).digest();
	const offset = digest[digest.length - 1] & 0x0f;
	const number = digest.readUInt32BE(offset) & 0x7fffffff;
	return String(number % 1000000).padStart(6, '0');
}

// Waits until the TOTP time step after the one of LAST_MS starts, because
// the server accepts each code only once.
async function nextTotpStep(lastMs) {
	const stepMs = TOTP_PERIOD_S * 1000;
	const nextMs = (Math.floor(lastMs / stepMs) + 1) * stepMs;
	const waitMs = nextMs - Date.now();
	if (waitMs > 0)
		await new Promise((resolve) => setTimeout(resolve, waitMs + 200));
}

// The base64 SHA-256 of the certificate's public key, for chromium's
// --ignore-certificate-errors-spki-list: chromium then accepts this one
// self-signed key and no other invalid certificate.
function spkiHash(pemPath) {
	const certificate = new X509Certificate(readFileSync(pemPath));
	const spki = certificate.publicKey.export({ type: 'spki', format: 'der' });
	return createHash('sha256').update(spki).digest('base64');
}

function findInWorkspaces(fileName) {
	const found = [];
	for (const project of readdirSync(workspaces)) {
		for (const user of readdirSync(join(workspaces, project))) {
			const home = join(workspaces, project, user, 'home');
			try {
				if (readdirSync(home).includes(fileName))
					found.push(join(home, fileName));
			} catch (error) {
				if (error.code !== 'ENOENT' && error.code !== 'ENOTDIR')
					throw error;
			}
		}
	}
	return found;
}

async function waitForFile(fileName, timeoutMs) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const found = findInWorkspaces(fileName);
		if (found.length > 0)
			return found;
		if (Date.now() > deadline)
			return [];
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
}

// Reads back a file the session wrote, once it has content ending in a
// newline (the shell may create it before it writes).
async function readSessionFile(fileName, timeoutMs) {
	const found = await waitForFile(fileName, timeoutMs);
	assert.equal(found.length, 1, `${fileName} should appear in exactly one workspace home`);
	const deadline = Date.now() + timeoutMs;
	let text = readFileSync(found[0], 'utf8');
	while (!text.endsWith('\n') && Date.now() < deadline) {
		await new Promise((resolve) => setTimeout(resolve, 250));
		text = readFileSync(found[0], 'utf8');
	}
	return { path: found[0], text };
}

let context;
let page;
let userDataDir;
let totpSecret = '';
let lastCodeMs = 0;
const cspViolations = [];
const pageErrors = [];

before(async () => {
	mkdirSync(artifacts, { recursive: true });
	userDataDir = mkdtempSync(join(tmpdir(), 'trellis-chromium-'));
	context = await chromium.launchPersistentContext(userDataDir, {
		executablePath: '/usr/bin/chromium',
		headless: true,
		viewport: { width: 1400, height: 900 },
		args: [
			'--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update',
			'--disable-sync',
			`--ignore-certificate-errors-spki-list=${spkiHash(certificatePath)}`,
		],
	});
	page = context.pages()[0] ?? await context.newPage();
	page.on('console', (message) => {
		if (/Content.Security.Policy/i.test(message.text()))
			cspViolations.push(message.text());
	});
	page.on('pageerror', (error) => pageErrors.push(error.message));
});

after(async () => {
	if (page)
		await page.screenshot({ path: join(artifacts, 'browser-last-page.png') }).catch(() => {});
	if (context)
		await context.close();
	if (userDataDir)
		rmSync(userDataDir, { recursive: true, force: true });
});

// Steps depend on the ones before them, so after a failure the rest are
// skipped instead of failing for the same cause.
let failedStep = null;
function step(name, body) {
	test(name, async (t) => {
		if (failedStep) {
			t.skip(`skipped because "${failedStep}" failed`);
			return;
		}
		try {
			await body(t);
		} catch (error) {
			failedStep = name;
			throw error;
		}
	});
}

async function statusText() {
	return (await page.locator('#status').textContent()) ?? '';
}

async function logInWithPassword(user = username, secret = password) {
	await page.goto(new URL('/', baseUrl).href);
	await page.getByLabel('Username').fill(user);
	await page.getByLabel('Password').fill(secret);
	await page.getByRole('button', { name: 'Log in' }).click();
}

step('login page has CSP and no inline code', async () => {
	const response = await page.goto(new URL('/', baseUrl).href);
	assert.equal(response.status(), 200);
	const csp = response.headers()['content-security-policy'] ?? '';
	assert.match(csp, /default-src 'self'/);
	assert.match(csp, /frame-ancestors 'none'/);
	assert.doesNotMatch(csp, /unsafe-inline/);
	assert.equal(await page.locator('script:not([src])').count(), 0);
	assert.equal(await page.locator('[style]').count(), 0);
});

step('wrong password shows an error', async () => {
	await page.goto(new URL('/', baseUrl).href);
	await page.getByLabel('Username').fill(username);
	await page.getByLabel('Password').fill(`${password}-wrong`);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.locator('#status[data-kind="error"]').waitFor({ timeout: 10000 });
	assert.notEqual((await statusText()).trim(), '');
	assert.ok(await page.locator('#password-form').isVisible());
	// The server delays the next attempt after a failure.
	await page.waitForTimeout(2500);
});

step('password leads to TOTP enrolment', async () => {
	await logInWithPassword();
	await page.locator('#enrol').waitFor({ state: 'visible', timeout: 15000 });
	totpSecret = ((await page.locator('#enrol-secret').textContent()) ?? '').replace(/\s+/g, '');
	assert.match(totpSecret, /^[A-Z2-7]{16,}=*$/);
	const qr = page.locator('#enrol-qr');
	await qr.waitFor({ state: 'visible' });
	const qrWidth = await qr.evaluate((image) =>
		image.complete ? image.naturalWidth : new Promise((resolve) => {
			image.addEventListener('load', () => resolve(image.naturalWidth));
			image.addEventListener('error', () => resolve(0));
		}));
	assert.ok(qrWidth > 0, 'the QR code image should load (CSP img-src must allow blob:)');
});

step('enrolment code completes login', async () => {
	assert.ok(totpSecret, 'needs the secret from the enrolment step');
	lastCodeMs = Date.now();
	await page.getByLabel('Code shown by the app').fill(totpCode(totpSecret, lastCodeMs));
	await page.getByRole('button', { name: 'Confirm and log in' }).click();
	await page.waitForURL(/\/projects\.html/, { timeout: 15000 });
	await page.locator(`li[data-project="${projectId}"]`).waitFor({ timeout: 15000 });
	assert.match(await page.locator('#user').textContent(), new RegExp(username));
});

step('start desktop opens noVNC', async () => {
	const project = page.locator(`li[data-project="${projectId}"]`);
	await project.getByRole('button', { name: 'Start desktop' }).click();
	await page.waitForURL(/\/desktop\.html\?/, { timeout: 60000 });
	await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 30000 });
	await page.locator('#screen canvas').waitFor();
});

// Counts the pixels that differ from the first one, so a uniform (blank
// or not yet drawn) framebuffer counts 0.
function canvasVariety() {
	return page.locator('#screen canvas').evaluate((canvas) => {
		if (canvas.width === 0 || canvas.height === 0)
			return { width: 0, height: 0, differing: 0 };
		const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
		let differing = 0;
		for (let i = 4; i < data.length; i += 4 * 7) {
			if (data[i] !== data[0] || data[i + 1] !== data[1] || data[i + 2] !== data[2])
				differing++;
		}
		return { width: canvas.width, height: canvas.height, differing };
	});
}

// Waits until the canvas shows a picture and returns its size and variety.
async function waitForPicture(timeoutMs) {
	const deadline = Date.now() + timeoutMs;
	let variety;
	do {
		variety = await canvasVariety();
		if (variety.differing > 1000)
			break;
		await page.waitForTimeout(500);
	} while (Date.now() < deadline);
	return variety;
}

step('desktop canvas shows a picture', async () => {
	const variety = await waitForPicture(30000);
	assert.ok(variety.width >= 640, `framebuffer width ${variety.width}`);
	assert.ok(variety.differing > 1000,
		`only ${variety.differing} sampled pixels differ from the first one`);
});

// Clicks into the terminal (twm focuses the window under the pointer) and
// types COMMAND followed by Enter.
async function typeInTerminal(command) {
	const canvas = page.locator('#screen canvas');
	const box = await canvas.boundingBox();
	const size = await canvas.evaluate((element) => ({ width: element.width, height: element.height }));
	const scale = box.width / size.width;
	await page.mouse.move(box.x + TERMINAL_POINT.x * scale, box.y + TERMINAL_POINT.y * scale);
	await page.mouse.click(box.x + TERMINAL_POINT.x * scale, box.y + TERMINAL_POINT.y * scale);
	await page.waitForTimeout(300);
	await page.keyboard.type(command, { delay: 15 });
	await page.keyboard.press('Enter');
}

step('typed command writes a file in home', async () => {
	const marker = `typed-${randomBytes(6).toString('hex')}`;
	await typeInTerminal(`echo ${marker} > ~/e2e-typed.txt`);
	const { path, text } = await readSessionFile('e2e-typed.txt', 20000);
	assert.equal(text, `${marker}\n`, `contents of ${path}`);
	await page.screenshot({ path: join(artifacts, 'browser-desktop.png') });
});

// Two tables for the airlock, written from inside the desktop: one clean,
// and one with a count of 3, below the policy's minimum cell count.
const exportTable = 'site,count\nleeds,40\nyork,55\n';
const smallTable = 'site,count\nleeds,40\nyork,3\n';

async function waitForOutboxFile(fileName, contents, timeoutMs) {
	const path = join(workspaces, projectId, username, 'outbox', fileName);
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		let text = '';
		try {
			text = readFileSync(path, 'utf8');
		} catch (error) {
			if (error.code !== 'ENOENT')
				throw error;
		}
		if (text === contents)
			return;
		if (Date.now() > deadline)
			assert.equal(text, contents, `contents of ${path}`);
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
}

step('typed commands write tables into the outbox', async () => {
	await typeInTerminal("printf 'site,count\\nleeds,40\\nyork,55\\n' > /workspace/outbox/e2e-export.csv");
	await typeInTerminal("printf 'site,count\\nleeds,40\\nyork,3\\n' > /workspace/outbox/e2e-small.csv");
	await waitForOutboxFile('e2e-export.csv', exportTable, 20000);
	await waitForOutboxFile('e2e-small.csv', smallTable, 20000);
});

step('paste into session blocked by policy', async () => {
	// The session's own clipboard contains a sentinel first, so the check
	// below tells "paste dropped" apart from "xclip failed".
	const sentinel = `sentinel-${randomBytes(6).toString('hex')}`;
	const pasted = `pasted-${randomBytes(6).toString('hex')}`;
	await typeInTerminal(`echo -n ${sentinel} | xclip -selection clipboard`);
	await page.waitForTimeout(1000);

	await page.getByLabel('Text to paste into the session').fill(pasted);
	await page.getByRole('button', { name: 'Send to session' }).click();
	await page.waitForTimeout(1500);

	await typeInTerminal('{ xclip -o -selection clipboard; echo; ' +
		'xclip -o -selection primary; echo; } > ~/e2e-clip.txt 2>/dev/null');
	const { text } = await readSessionFile('e2e-clip.txt', 20000);
	assert.ok(text.includes(sentinel), `the session clipboard should still hold the sentinel, got ${JSON.stringify(text)}`);
	assert.ok(!text.includes(pasted), 'text pasted from the browser reached the session');
});

step('logout closes desktop as logged out', async () => {
	await page.getByRole('button', { name: 'Log out' }).click();
	await page.locator('#connection[data-state="closed"]').waitFor({ timeout: 15000 });
	await page.waitForFunction(() => document.getElementById('status').textContent !== '');
	assert.equal(await page.locator('#screen').getAttribute('data-close-code'), '4003');
	assert.match(await statusText(), /^The desktop closed: logged out\./);
	await page.screenshot({ path: join(artifacts, 'browser-logged-out.png') });

	const me = await page.evaluate(async () => (await fetch('/api/me')).status);
	assert.equal(me, 401);
});

// Logs the researcher in again with the code of the next TOTP step.
async function logInWithTotp() {
	await nextTotpStep(lastCodeMs);
	await logInWithPassword();
	await page.locator('#totp-form').waitFor({ state: 'visible', timeout: 15000 });
	lastCodeMs = Date.now();
	await page.getByLabel('Authentication code').fill(totpCode(totpSecret, lastCodeMs));
	await page.getByRole('button', { name: 'Verify' }).click();
	await page.waitForURL(/\/projects\.html/, { timeout: 15000 });
}

step('TOTP login shows running session', async () => {
	assert.ok(totpSecret, 'needs the secret from the enrolment step');
	await logInWithTotp();
	const project = page.locator(`li[data-project="${projectId}"]`);
	await project.locator('.session-state[data-state="running"]').waitFor({ timeout: 15000 });
	assert.ok(await project.getByRole('button', { name: 'Resume desktop' }).isVisible());
});

step('stop button ends the session', async () => {
	const project = page.locator(`li[data-project="${projectId}"]`);
	await project.getByRole('button', { name: 'Stop session' }).click();
	await project.getByRole('button', { name: 'Start desktop' }).waitFor({ timeout: 30000 });
});

// The control for the blocked paste above: with to_session text, the same
// panel and xclip do see the pasted text.
step('paste into session allowed by policy', async () => {
	const project = page.locator(`li[data-project="${pasteProjectId}"]`);
	await project.getByRole('button', { name: 'Start desktop' }).click();
	await page.waitForURL(/\/desktop\.html\?/, { timeout: 60000 });
	await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 30000 });
	const variety = await waitForPicture(30000);
	assert.ok(variety.differing > 1000, 'the second desktop shows no picture');

	const pasted = `allowed-${randomBytes(6).toString('hex')}`;
	await page.getByLabel('Text to paste into the session').fill(pasted);
	await page.getByRole('button', { name: 'Send to session' }).click();
	await page.waitForTimeout(1500);
	await typeInTerminal('{ xclip -o -selection clipboard; echo; } > ~/e2e-clip-allowed.txt 2>/dev/null');
	const { text } = await readSessionFile('e2e-clip-allowed.txt', 20000);
	assert.equal(text, `${pasted}\n`);
});

// The airlock. The requests made by the researcher are reviewed by the two
// output checkers, each logging in to the same browser in turn.
const importTable = 'code,label\n1,first\n2,second\n';
const requests = {};
const totpSecrets = {};
const lastCodes = {};

// Reloads the request page until its state is one of STATES.
async function waitForRequestState(id, states, timeoutMs) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		await page.goto(new URL(`/airlock.html?request=${id}`, baseUrl).href);
		const view = page.locator(`#request-view[data-request-id="${id}"]`);
		await view.waitFor({ timeout: 15000 });
		const state = await view.getAttribute('data-state');
		if (states.includes(state))
			return state;
		if (Date.now() > deadline)
			assert.fail(`request ${id} is ${state}, expected one of ${states.join(', ')}`);
		await page.waitForTimeout(1000);
	}
}

// The id of the request page the browser shows after a submission.
async function submittedRequestId() {
	await page.waitForURL(/airlock\.html\?request=[0-9a-f]{16}/, { timeout: 60000 });
	return new URL(page.url()).searchParams.get('request');
}

async function submitExport(fileName) {
	await page.goto(new URL(`/airlock.html?project=${projectId}&new=export`, baseUrl).href);
	await page.getByLabel(fileName, { exact: true }).check({ timeout: 15000 });
	await page.getByLabel(`Description of ${fileName}`).fill('site counts for the paper');
	await page.getByLabel(`Disclosure controls applied to ${fileName}`).fill('counts below 10 suppressed');
	await page.locator('#export-submit').click();
	return submittedRequestId();
}

// Logs USER in with the password and TOTP, enrolling on the first login.
async function logInAs(user, secret) {
	await logInWithPassword(user, secret);
	const enrol = page.locator('#enrol');
	await page.locator('#enrol:visible, #totp-form:visible').first()
		.waitFor({ timeout: 15000 });
	if (await enrol.isVisible()) {
		totpSecrets[user] = ((await page.locator('#enrol-secret').textContent()) ?? '').replace(/\s+/g, '');
		lastCodes[user] = Date.now();
		await page.getByLabel('Code shown by the app').fill(totpCode(totpSecrets[user], lastCodes[user]));
		await page.getByRole('button', { name: 'Confirm and log in' }).click();
	} else {
		await nextTotpStep(lastCodes[user] ?? 0);
		lastCodes[user] = Date.now();
		await page.getByLabel('Authentication code').fill(totpCode(totpSecrets[user], lastCodes[user]));
		await page.getByRole('button', { name: 'Verify' }).click();
	}
	await page.waitForURL(/\/projects\.html/, { timeout: 15000 });
}

async function logOut() {
	await page.getByRole('button', { name: 'Log out' }).click();
	await page.waitForURL((url) => !/projects|airlock/.test(url.pathname), { timeout: 15000 });
}

async function vote(id, fileName, choice, comment) {
	await page.goto(new URL(`/airlock.html?request=${id}`, baseUrl).href);
	const file = page.locator(`article[data-testid="airlock-file"][data-path="${fileName}"]`);
	const form = file.locator('form[data-testid="vote-form"]');
	await form.waitFor({ timeout: 15000 });
	await form.getByLabel(choice, { exact: true }).check();
	await form.getByLabel('Comment for the requester').fill(comment);
	await form.getByRole('button', { name: 'Submit vote' }).click();
	await file.locator('[data-testid="my-vote"]').waitFor({ timeout: 15000 });
}

step('researcher exports an outbox table', async () => {
	// The projects page links to each project's airlock.
	await page.goto(new URL('/projects.html', baseUrl).href);
	await page.getByRole('link', { name: /^Airlock of / }).first().click();
	await page.waitForURL(/airlock\.html\?project=/, { timeout: 15000 });
	requests.export = await submitExport('e2e-export.csv');
	assert.equal(await waitForRequestState(requests.export, ['in_review'], 60000), 'in_review');
});

step('table with a small cell is blocked', async () => {
	requests.small = await submitExport('e2e-small.csv');
	assert.equal(await waitForRequestState(requests.small, ['blocked'], 60000), 'blocked');
	assert.match(await page.locator('#request-reason').textContent(), /e2e-small\.csv/);
	// The requester gets no content view, only the cells to fix and the next step.
	await page.locator('#blocked-next-step').waitFor({ timeout: 15000 });
	const listed = page.locator('[data-testid="flagged-list"] tr[data-row="3"][data-column="2"]');
	assert.equal(await listed.count(), 1);
});

step('researcher uploads an import', async () => {
	await page.goto(new URL(`/airlock.html?project=${projectId}&new=import`, baseUrl).href);
	await page.locator('#import-files').setInputFiles({
		name: 'e2e-import.csv', mimeType: 'text/csv', buffer: Buffer.from(importTable),
	});
	await page.getByLabel('Description of e2e-import.csv').fill('code list for the analysis');
	await page.locator('#import-submit').click();
	requests.import = await submittedRequestId();
	assert.equal(await waitForRequestState(requests.import, ['in_review'], 60000), 'in_review');
	await page.screenshot({ path: join(artifacts, 'browser-airlock-request.png') });
});

step('first checker sees the flagged cell', async () => {
	await logOut();
	await logInAs(checkers[0].user, checkers[0].password);
	await page.goto(new URL('/airlock.html', baseUrl).href);
	await page.locator(`#review-queue tr[data-request="${requests.export}"]`).waitFor({ timeout: 15000 });
	await page.goto(new URL(`/airlock.html?request=${requests.small}`, baseUrl).href);
	const flagged = page.locator('[data-testid="csv-preview"] [data-testid="flagged-cell"]');
	await flagged.first().waitFor({ timeout: 15000 });
	assert.equal(await flagged.count(), 1);
	// The cell reads its value, then the rule for screen readers.
	assert.match((await flagged.textContent()).trim(), /^3\b.*min_cell_count/);
	assert.equal(await flagged.getAttribute('data-row'), '3');
	assert.equal(await flagged.getAttribute('data-column'), '2');
	await page.screenshot({ path: join(artifacts, 'browser-airlock-flagged.png') });
});

step('first checker approves both requests', async () => {
	await vote(requests.export, 'e2e-export.csv', 'Approve', 'counts are large enough');
	// One approval of two: the export stays in review.
	assert.equal(await waitForRequestState(requests.export, ['in_review'], 5000), 'in_review');
	await vote(requests.import, 'e2e-import.csv', 'Approve', 'reference data');
	assert.equal(await waitForRequestState(requests.import, ['released'], 30000), 'released');
	const inbox = join(workspaces, projectId, username, 'inbox', 'e2e-import.csv');
	assert.equal(readFileSync(inbox, 'utf8'), importTable);
});

step('second checker releases the export', async () => {
	await logOut();
	await logInAs(checkers[1].user, checkers[1].password);
	// The first checker's vote stays hidden until this one votes.
	await page.goto(new URL(`/airlock.html?request=${requests.export}`, baseUrl).href);
	await page.locator('#votes-summary[data-hidden="true"]').waitFor({ timeout: 15000 });
	await vote(requests.export, 'e2e-export.csv', 'Approve', 'agreed');
	assert.equal(await waitForRequestState(requests.export, ['released'], 15000), 'released');
});

step('researcher downloads the released export', async () => {
	await logOut();
	await logInWithTotp();
	await page.goto(new URL(`/airlock.html?request=${requests.export}`, baseUrl).href);
	const [download] = await Promise.all([
		page.waitForEvent('download', { timeout: 15000 }),
		page.locator('[data-testid="download"]').first().click(),
	]);
	const saved = join(userDataDir, 'e2e-download.csv');
	await download.saveAs(saved);
	assert.equal(readFileSync(saved, 'utf8'), exportTable);
});

test('no CSP violations or page errors', () => {
	assert.deepEqual(cspViolations, []);
	assert.deepEqual(pageErrors, []);
});
